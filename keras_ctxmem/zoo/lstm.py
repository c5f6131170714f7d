"""`LSTMClassifier`: the Embedding + (Bi)LSTM baseline.

Example:
```python
import numpy as np
from keras_ctxmem.zoo import create_model
model = create_model("lstm_tiny", num_classes=2)  # an LSTMClassifier
logits = model.predict(np.array([[5, 9, 3, 0, 0]]))
```
"""

import keras

from keras_ctxmem.layers import MaskedMaxPooling, MaskedMeanPooling
from keras_ctxmem.layers.heads import LogitsHead
from keras_ctxmem.zoo.lstm_masked_lm import LSTMMaskedLM
from keras_ctxmem.zoo.recurrent import final_lstm, lstm_stack
from keras_ctxmem.zoo.zoo_model import (
    ZooModel,
    check_rate,
    check_sizes,
    load_preset_preprocessor,
)

POOLINGS = ("last", "max", "mean")


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class LSTMClassifier(ZooModel):
    """Embedding, `num_layers` (Bi)LSTM layers, pooling over time, then logits.

    Token id 0 is padding and is masked, so padding never changes the result.
    `from_preset` also starts from a pre-trained `LSTMMaskedLM` preset (or
    `from_encoder` from the model): its embedding and LSTM weights, a new head.

    Args:
        vocabulary_size: number of token ids, padding id 0 included.
        embedding_dim: width of the token embedding.
        hidden_dim: units per LSTM direction.
        num_layers: stacked LSTM layers.
        bidirectional: read the sequence both ways.
        num_classes: number of classes (at least 2).
        dropout: dropout on LSTM inputs and before the output layer.
        pooling: `"last"`, the final state (of each direction); `"max"` or
            `"mean"` over the unmasked time steps of the last layer's states.
        embedding_dropout: dropout on the token embeddings.
        use_cudnn: `False` (default) keeps the model XLA-compilable; `"auto"` uses
            cuDNN on a GPU (then compile with `jit_compile=False`). See
            `keras_ctxmem.zoo.recurrent`.
    """

    preset_family = "lstm"

    def __init__(
        self,
        vocabulary_size,
        embedding_dim=64,
        hidden_dim=64,
        num_layers=1,
        bidirectional=True,
        num_classes=2,
        dropout=0.1,
        pooling="last",
        embedding_dropout=0.0,
        use_cudnn=False,
        dtype=None,
        **kwargs,
    ):
        if pooling not in POOLINGS:
            raise ValueError(
                f"`pooling` must be one of {POOLINGS}. Received: {pooling!r}"
            )
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
        num_sequence_layers = num_layers - 1 if pooling == "last" else num_layers
        self.lstm_layers = lstm_stack(
            hidden_dim,
            num_sequence_layers,
            bidirectional,
            dropout,
            use_cudnn,
            dtype,
            "lstm",
        )
        if pooling == "last":
            self.pooling_layer = final_lstm(
                hidden_dim, bidirectional, dropout, use_cudnn, dtype, "final_lstm"
            )
        elif pooling == "max":
            self.pooling_layer = MaskedMaxPooling(dtype=dtype, name="max_pooling")
        else:
            self.pooling_layer = MaskedMeanPooling(dtype=dtype, name="mean_pooling")
        self.head = LogitsHead(num_classes, dropout, dtype=dtype, name="head")

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        x = self.embedding(token_ids)
        if embedding_dropout:
            x = self.embedding_dropout_layer(x)
        for lstm in self.lstm_layers:
            x = lstm(x)
        logits = self.head(self.pooling_layer(x))
        super().__init__(inputs=token_ids, outputs=logits, dtype=dtype, **kwargs)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.num_classes = num_classes
        self.dropout = dropout
        self.pooling = pooling
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
                "num_classes": self.num_classes,
                "dropout": self.dropout,
                "pooling": self.pooling,
                "embedding_dropout": self.embedding_dropout,
                "use_cudnn": self.use_cudnn,
            }
        )
        return config

    def encoder_layers(self):
        """The embedding and the LSTM layers, in order (with `pooling="last"`,
        the final LSTM too): the layers an `LSTMMaskedLM` pre-trains."""
        layers = [self.embedding, *self.lstm_layers]
        return layers + [self.pooling_layer] if self.pooling == "last" else layers

    @classmethod
    def from_encoder(cls, masked_lm, **overrides):
        """A classifier whose embedding and LSTM layers start from the weights
        of a pre-trained `LSTMMaskedLM` (a copy), with a new head.

        The encoder's sizes are kept; its preprocessor, dropout rates and
        `use_cudnn` are the defaults, which `overrides` may change.
        """
        config = masked_lm.encoder_config()
        for name, value in config.items():
            if overrides.get(name, value) != value:
                raise ValueError(
                    f"The pre-trained encoder has `{name}={value}`; a classifier "
                    f"built from it cannot have {overrides[name]!r}."
                )
        defaults = {
            "dropout": masked_lm.dropout,
            "embedding_dropout": masked_lm.embedding_dropout,
            "use_cudnn": masked_lm.use_cudnn,
            "preprocessor": masked_lm.preprocessor,
        }
        model = cls(**{**defaults, **overrides, **config})
        for target, source in zip(
            model.encoder_layers(), masked_lm.encoder_layers(), strict=True
        ):
            target.set_weights(source.get_weights())
        return model

    @classmethod
    def _from_other_preset_class(
        cls, directory, saved_cls, serialized, load_weights, overrides
    ):
        if saved_cls is not None and issubclass(saved_cls, LSTMMaskedLM):
            masked_lm = LSTMMaskedLM.from_preset(
                directory, load_weights, preprocessor=None
            )
            if "preprocessor" not in overrides:
                overrides["preprocessor"] = load_preset_preprocessor(directory)
            return cls.from_encoder(masked_lm, **overrides)
        return super()._from_other_preset_class(
            directory, saved_cls, serialized, load_weights, overrides
        )
