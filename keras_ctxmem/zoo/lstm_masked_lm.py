"""`LSTMMaskedLM`: masked-language-model pre-training of the `LSTMClassifier` encoder.

The encoder is the classifier's own: a masked token embedding and a stack of
(Bi)LSTM layers. BERT's masking (`keras_ctxmem.zoo.masked_lm`): 15% of the
tokens are selected, 80% of those become `[MASK]`, 10% a random token and 10%
stay; the LSTM states at the selected positions predict the original tokens
through an output layer tied to the embedding. A bidirectional state at a
position has read that position's (masked) input, never the token it predicts.

The saved preset is what `LSTMClassifier.from_preset` starts from: the
classifier takes the embedding and LSTM weights and adds a fresh head.

Example:
```python
from keras_ctxmem.preprocessing import TextPreprocessor
from keras_ctxmem.zoo import LSTMClassifier, LSTMMaskedLM, create_model
texts = ["a charming film", "a dull film", "charming and warm"] * 20
pre = TextPreprocessor.from_corpus(texts, vocabulary_size=60, sequence_length=8)
masked_lm = create_model("lstm_tiny", model_class=LSTMMaskedLM, preprocessor=pre)
masked_lm.compile()
masked_lm.fit(texts, epochs=2, batch_size=16, verbose=0)
masked_lm.save_to_preset("/tmp/lstm_pretrained")
classifier = LSTMClassifier.from_preset(
    "/tmp/lstm_pretrained", num_classes=2, pooling="max"
)
```
"""

import keras
import keras_hub

from keras_ctxmem.zoo.masked_lm import MaskedLMTask, check_mask_rates
from keras_ctxmem.zoo.recurrent import lstm_stack
from keras_ctxmem.zoo.zoo_model import ZooModel, check_rate, check_sizes

# The configuration an encoder hands on to `LSTMClassifier`.
ENCODER_ARGS = (
    "vocabulary_size",
    "embedding_dim",
    "hidden_dim",
    "num_layers",
    "bidirectional",
)


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class LSTMMaskedLM(MaskedLMTask, ZooModel):
    """Predicts masked tokens from an Embedding + (Bi)LSTM encoder; the output
    layer shares the embedding's weights.

    Inputs are a dict: `token_ids` `(batch, time)` (already masked; 0 = padding,
    which is masked) and `mask_positions` `(batch, num_masked)`; the output is
    float32 logits `(batch, num_masked, vocabulary_size)`. With a
    `preprocessor`, `fit` and `evaluate` take raw strings and mask them.

    Args:
        vocabulary_size: number of token ids, padding id 0 included.
        embedding_dim: width of the token embedding.
        hidden_dim: units per LSTM direction.
        num_layers: stacked LSTM layers.
        bidirectional: read the sequence both ways.
        dropout: dropout on the LSTM inputs.
        embedding_dropout: dropout on the token embeddings.
        use_cudnn: as in `LSTMClassifier`.
        mask_selection_rate: share of the tokens selected for prediction.
        mask_token_rate: share of the selected tokens replaced by `[MASK]`.
        random_token_rate: share replaced by a random token (the rest are kept).
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
        mask_selection_rate=0.15,
        mask_token_rate=0.8,
        random_token_rate=0.1,
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
        check_mask_rates(mask_selection_rate, mask_token_rate, random_token_rate)
        # === Layers ===
        self.embedding = keras_hub.layers.ReversibleEmbedding(
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
        self.masked_lm_head = keras_hub.layers.MaskedLMHead(
            token_embedding=self.embedding,
            intermediate_activation="gelu",
            dtype=dtype,
            name="masked_lm_head",
        )
        self.float32_logits = keras.layers.Activation(
            "linear", dtype="float32", name="logits"
        )

        # === Functional Model ===
        inputs = {
            "token_ids": keras.Input(shape=(None,), dtype="int32", name="token_ids"),
            "mask_positions": keras.Input(
                shape=(None,), dtype="int32", name="mask_positions"
            ),
        }
        x = self.embedding(inputs["token_ids"])
        if embedding_dropout:
            x = self.embedding_dropout_layer(x)
        for lstm in self.lstm_layers:
            x = lstm(x)
        logits = self.masked_lm_head(x, mask_positions=inputs["mask_positions"])
        outputs = self.float32_logits(logits)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.embedding_dropout = embedding_dropout
        self.use_cudnn = use_cudnn
        self.mask_selection_rate = mask_selection_rate
        self.mask_token_rate = mask_token_rate
        self.random_token_rate = random_token_rate

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
                "mask_selection_rate": self.mask_selection_rate,
                "mask_token_rate": self.mask_token_rate,
                "random_token_rate": self.random_token_rate,
            }
        )
        return config

    @classmethod
    def from_preset_config(cls, config):
        # The family's configurations are classifiers': no classes here.
        config = {k: v for k, v in config.items() if k != "num_classes"}
        return cls(**config)

    def encoder_layers(self):
        """The embedding and the LSTM layers, in order: what a classifier takes."""
        return [self.embedding, *self.lstm_layers]

    def encoder_config(self):
        """The sizes a classifier needs to take this encoder's weights."""
        return {name: getattr(self, name) for name in ENCODER_ARGS}
