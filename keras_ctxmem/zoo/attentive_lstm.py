"""`AttentiveLSTMClassifier`: an `LSTMBackbone`'s states pooled by additive attention.

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
from keras_ctxmem.layers.masks import padding_mask_from
from keras_ctxmem.zoo.lstm import LSTMTask
from keras_ctxmem.zoo.zoo_model import check_sizes


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class AttentiveLSTMClassifier(LSTMTask):
    """An `LSTMBackbone`'s states, attention pooling over time, then logits.

    A `keras_hub.models.Task` on the same backbone as `LSTMClassifier`, which
    is keras-hub's `TextClassifier` for that backbone: load these presets with
    `AttentiveLSTMClassifier.from_preset` or `load_preset` (keras-hub's
    `TextClassifier.from_preset` would put a new `LSTMClassifier` head on the
    backbone); `keras_hub.models.Backbone.from_preset` loads the backbone.

    Args:
        backbone: an `LSTMBackbone`; or, without one, its arguments
            (`vocabulary_size`, `embedding_dim`, `hidden_dim`, `num_layers`,
            `bidirectional`, `embedding_dropout`, `use_cudnn`) as keywords.
        attention_dim: width of the additive attention's hidden layer.
        num_classes: number of classes (at least 2).
        dropout: dropout before the output layer (and on the LSTM inputs of a
            backbone built from arguments).

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.zoo import AttentiveLSTMClassifier, LSTMBackbone
    backbone = LSTMBackbone(vocabulary_size=50, embedding_dim=8, hidden_dim=8)
    model = AttentiveLSTMClassifier(backbone, attention_dim=8, num_classes=2)
    weights = model.attention_weights(np.array([[4, 7, 0]]))  # (1, 3)
    ```
    """

    preset_family = "attentive_lstm"

    def __init__(
        self,
        backbone=None,
        attention_dim=64,
        num_classes=2,
        dropout=0.1,
        dtype=None,
        **kwargs,
    ):
        check_sizes(attention_dim=attention_dim)
        backbone = self.backbone_from_arguments(backbone, kwargs, dropout, dtype)
        # === Layers ===
        self.backbone = backbone
        self.attention_pooling = AttentionPooling(
            attention_dim, dtype=dtype, name="attention_pooling"
        )
        self.head = LogitsHead(num_classes, dropout, dtype=dtype, name="head")

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        states = backbone(token_ids)
        pooled, scores = self.attention_pooling(
            states, mask=padding_mask_from(token_ids), return_attention_scores=True
        )
        logits = self.head(pooled)
        super().__init__(inputs=token_ids, outputs=logits, dtype=dtype, **kwargs)
        self._attention_model = keras.Model(token_ids, scores)

        # === Config ===
        self.attention_dim = attention_dim
        self.num_classes = num_classes
        self.dropout = dropout

    def attention_weights(self, token_ids):
        """Attention over time steps, `(batch, time)`; zeros at padding."""
        return keras.ops.convert_to_numpy(self._attention_model(token_ids))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "attention_dim": self.attention_dim,
                "num_classes": self.num_classes,
                "dropout": self.dropout,
            }
        )
        return config
