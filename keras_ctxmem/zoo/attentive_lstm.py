"""`AttentiveLSTMClassifier`: LSTM states pooled by additive attention.

Example:
```python
import numpy as np
from keras_ctxmem.zoo import create_model
model = create_model("attentive_lstm_tiny", num_classes=2)
logits = model.predict(np.array([[5, 9, 3, 0, 0]]))
weights = model.attention_weights(np.array([[5, 9, 3, 0, 0]]))  # (1, 5)
```
"""

import keras

from keras_ctxmem.layers import AttentionPooling
from keras_ctxmem.layers.heads import LogitsHead
from keras_ctxmem.zoo.recurrent import lstm_stack
from keras_ctxmem.zoo.zoo_model import ZooModel, check_rate, check_sizes


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class AttentiveLSTMClassifier(ZooModel):
    """Embedding, (Bi)LSTM states, attention pooling over time, then logits.

    Args:
        vocabulary_size: number of token ids, padding id 0 included.
        embedding_dim: width of the token embedding.
        hidden_dim: units per LSTM direction.
        attention_dim: width of the additive attention's hidden layer.
        num_layers: stacked LSTM layers.
        bidirectional: read the sequence both ways.
        num_classes: number of classes (at least 2).
        dropout: dropout on LSTM inputs and before the output layer.
        use_cudnn: `False` (default) keeps the model XLA-compilable; see
            `keras_ctxmem.zoo.recurrent`.
    """

    preset_family = "attentive_lstm"

    def __init__(
        self,
        vocabulary_size,
        embedding_dim=64,
        hidden_dim=64,
        attention_dim=64,
        num_layers=1,
        bidirectional=True,
        num_classes=2,
        dropout=0.1,
        use_cudnn=False,
        dtype=None,
        **kwargs,
    ):
        check_sizes(
            vocabulary_size=vocabulary_size,
            embedding_dim=embedding_dim,
            hidden_dim=hidden_dim,
            attention_dim=attention_dim,
            num_layers=num_layers,
        )
        check_rate("dropout", dropout)
        # === Layers ===
        self.embedding = keras.layers.Embedding(
            vocabulary_size,
            embedding_dim,
            mask_zero=True,
            dtype=dtype,
            name="embedding",
        )
        self.lstm_layers = lstm_stack(
            hidden_dim, num_layers, bidirectional, dropout, use_cudnn, dtype, "lstm"
        )
        self.attention_pooling = AttentionPooling(
            attention_dim, dtype=dtype, name="attention_pooling"
        )
        self.head = LogitsHead(num_classes, dropout, dtype=dtype, name="head")

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        x = self.embedding(token_ids)
        for lstm in self.lstm_layers:
            x = lstm(x)
        pooled, scores = self.attention_pooling(x, return_attention_scores=True)
        logits = self.head(pooled)
        super().__init__(inputs=token_ids, outputs=logits, dtype=dtype, **kwargs)
        self._attention_model = keras.Model(token_ids, scores)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.attention_dim = attention_dim
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.num_classes = num_classes
        self.dropout = dropout
        self.use_cudnn = use_cudnn

    def attention_weights(self, token_ids):
        """Attention over time steps, `(batch, time)`; zeros at padding."""
        return keras.ops.convert_to_numpy(self._attention_model(token_ids))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "hidden_dim": self.hidden_dim,
                "attention_dim": self.attention_dim,
                "num_layers": self.num_layers,
                "bidirectional": self.bidirectional,
                "num_classes": self.num_classes,
                "dropout": self.dropout,
                "use_cudnn": self.use_cudnn,
            }
        )
        return config
