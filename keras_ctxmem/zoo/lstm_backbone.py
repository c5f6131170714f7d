"""`LSTMBackbone`: the masked token embedding and (Bi)LSTM stack of the LSTM tasks.

Example:
```python
import numpy as np
from keras_ctxmem.zoo import LSTMBackbone, create_model
backbone = create_model("lstm_tiny", model_class=LSTMBackbone)
states = backbone.predict(np.array([[5, 9, 3, 0]]))  # (1, 4, 32): 2 x 16 units
```
"""

import keras
import keras_hub

from keras_ctxmem.layers.masks import last_token
from keras_ctxmem.preprocessing.text_tokenizer import TextTokenizer
from keras_ctxmem.zoo.recurrent import lstm_stack
from keras_ctxmem.zoo.zoo_model import ZooModel, check_rate, check_sizes


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class LSTMBackbone(ZooModel, keras_hub.models.Backbone):
    """Token embedding followed by `num_layers` (Bi)LSTM layers.

    Maps int token ids `(batch, time)` (0 = padding) to the last layer's states
    `(batch, time, hidden_dim)`, `2 * hidden_dim` wide when bidirectional (the
    forward states first). The embedding masks the padding and the mask flows
    through the LSTMs (and out with the states of an eager call), so padding
    never changes the states at the real tokens. A `keras_hub.models.Backbone`:
    keras-hub loads its presets (`keras_hub.models.Backbone.from_preset(dir)`).

    Args:
        vocabulary_size: number of token ids, padding id 0 included.
        embedding_dim: width of the token embedding.
        hidden_dim: units per LSTM direction.
        num_layers: stacked LSTM layers.
        bidirectional: read the sequence both ways.
        dropout: dropout on the LSTM inputs.
        embedding_dropout: dropout on the token embeddings.
        use_cudnn: `False` (default) keeps the model XLA-compilable; `"auto"` uses
            cuDNN on a GPU (then compile with `jit_compile=False`). See
            `keras_ctxmem.zoo.recurrent`.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.zoo import LSTMBackbone
    backbone = LSTMBackbone(vocabulary_size=50, embedding_dim=8, hidden_dim=8)
    states = backbone.predict(np.array([[5, 9, 3, 0, 0]]))  # (1, 5, 16)
    ```
    """

    preset_family = "lstm"

    def __init__(
        self,
        vocabulary_size,
        embedding_dim=64,
        hidden_dim=64,
        num_layers=1,
        bidirectional=True,
        dropout=0.1,
        embedding_dropout=0.0,
        use_cudnn=False,
        dtype=None,
        **kwargs,
    ):
        check_sizes(
            vocabulary_size=vocabulary_size,
            embedding_dim=embedding_dim,
            hidden_dim=hidden_dim,
            num_layers=num_layers,
        )
        check_rate("dropout", dropout)
        check_rate("embedding_dropout", embedding_dropout)
        # === Layers ===
        self.embedding = keras.layers.Embedding(
            vocabulary_size,
            embedding_dim,
            mask_zero=True,
            dtype=dtype,
            name="embedding",
        )
        self.embedding_dropout_layer = keras.layers.Dropout(
            embedding_dropout, dtype=dtype, name="embedding_dropout"
        )
        self.lstm_layers = lstm_stack(
            hidden_dim, num_layers, bidirectional, dropout, use_cudnn, dtype, "lstm"
        )

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        x = self.embedding(token_ids)
        if embedding_dropout:
            x = self.embedding_dropout_layer(x)
        for lstm in self.lstm_layers:
            x = lstm(x)
        super().__init__(inputs=token_ids, outputs=x, dtype=dtype, **kwargs)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.embedding_dropout = embedding_dropout
        self.use_cudnn = use_cudnn

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "hidden_dim": self.hidden_dim,
                "num_layers": self.num_layers,
                "bidirectional": self.bidirectional,
                "dropout": self.dropout,
                "embedding_dropout": self.embedding_dropout,
                "use_cudnn": self.use_cudnn,
            }
        )
        return config

    def final_states(self, states, padding_mask):
        """The final state of each direction from the backbone's output
        `states`: the forward state at the last real token and, when
        bidirectional, the backward state at the first one, concatenated
        `(batch, units)`. What an LSTM's final state is for right-padded rows
        (the zoo's data, and what cuDNN needs)."""
        forward = last_token(states, padding_mask)
        if not self.bidirectional:
            return forward
        return keras.ops.concatenate(
            [forward[:, : self.hidden_dim], states[:, 0, self.hidden_dim :]], axis=-1
        )


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class LSTMTokenizer(TextTokenizer):
    """The `TextTokenizer` of `LSTMBackbone` presets, for keras-hub.

    keras-hub's `Tokenizer.from_preset(directory)` picks the tokenizer class
    whose `backbone_cls` is the preset's backbone class (as for
    `TransformerTokenizer`), then loads the preset's `tokenizer.json`.

    Example:
    ```python
    import keras_hub
    from keras_ctxmem.preprocessing import TextPreprocessor
    from keras_ctxmem.zoo import create_model
    pre = TextPreprocessor.from_corpus(["a charming film", "a dull film"], 40, 8)
    create_model("lstm_tiny", preprocessor=pre).save_to_preset("/tmp/l")
    tokenizer = keras_hub.tokenizers.Tokenizer.from_preset("/tmp/l")
    ```
    """

    backbone_cls = LSTMBackbone
