"""Transformer encoder backbone with sequence and token classification heads.

Token ids use 0 for padding; the padding mask is derived from them, so a sequence
gives the same result however far it is right-padded.

Example:
```python
import numpy as np
from keras_ctxmem.zoo import create_model
model = create_model("transformer_tiny", num_classes=2)  # a TransformerClassifier
logits = model.predict(np.array([[5, 9, 3, 0, 0]]))
```
"""

import inspect

import keras
import keras_hub

from keras_ctxmem.layers import MaskedMeanPooling
from keras_ctxmem.layers.heads import LogitsHead
from keras_ctxmem.layers.masks import last_token, padding_mask_from
from keras_ctxmem.preprocessing import TextPreprocessor, TextTokenizer
from keras_ctxmem.zoo.zoo_model import (
    ZooModel,
    check_rate,
    check_sizes,
    load_preset_preprocessor,
    load_weights_only,
)

POOLINGS = ("mean", "last")


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class TransformerBackbone(ZooModel, keras_hub.models.Backbone):
    """Token + position embeddings followed by `num_layers` encoder blocks.

    Maps int token ids `(batch, time)` (0 = padding) to features
    `(batch, time, hidden_dim)`. A `keras_hub.models.Backbone` too: keras-hub
    loads its presets (`keras_hub.models.Backbone.from_preset(directory)`).

    Args:
        vocabulary_size: number of token ids, padding id 0 included.
        num_layers: encoder blocks.
        num_heads: attention heads per block.
        hidden_dim: width of the features.
        intermediate_dim: width of each block's feed-forward layer.
        max_sequence_length: the longest sequence the position embedding covers.
        dropout: dropout rate inside the blocks.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.zoo import TransformerBackbone, create_model
    backbone = create_model("transformer_tiny", model_class=TransformerBackbone)
    features = backbone.predict(np.array([[5, 9, 3, 0]]))  # (1, 4, 32)
    ```
    """

    preset_family = "transformer"

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        max_sequence_length=512,
        dropout=0.1,
        dtype=None,
        **kwargs,
    ):
        check_sizes(
            vocabulary_size=vocabulary_size,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            max_sequence_length=max_sequence_length,
        )
        check_rate("dropout", dropout)
        if hidden_dim % num_heads:
            raise ValueError(
                f"`hidden_dim` ({hidden_dim}) must be divisible by `num_heads` "
                f"({num_heads})."
            )
        # === Layers ===
        self.embedding = keras_hub.layers.TokenAndPositionEmbedding(
            vocabulary_size=vocabulary_size,
            sequence_length=max_sequence_length,
            embedding_dim=hidden_dim,
            dtype=dtype,
            name="token_and_position_embedding",
        )
        self.embedding_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embedding_dropout"
        )
        self.encoder_blocks = [
            keras_hub.layers.TransformerEncoder(
                intermediate_dim=intermediate_dim,
                num_heads=num_heads,
                dropout=dropout,
                activation="gelu",
                normalize_first=True,
                dtype=dtype,
                name=f"encoder_block_{i}",
            )
            for i in range(num_layers)
        ]
        self.final_norm = keras.layers.LayerNormalization(
            epsilon=1e-5, dtype=dtype, name="final_norm"
        )

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        padding_mask = padding_mask_from(token_ids)
        x = self.embedding_dropout(self.embedding(token_ids))
        for block in self.encoder_blocks:
            x = block(x, padding_mask=padding_mask)
        sequence = self.final_norm(x)
        super().__init__(inputs=token_ids, outputs=sequence, dtype=dtype, **kwargs)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.max_sequence_length = max_sequence_length
        self.dropout = dropout

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "max_sequence_length": self.max_sequence_length,
                "dropout": self.dropout,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class TransformerTokenizer(TextTokenizer):
    """The `TextTokenizer` of `TransformerBackbone` presets, for keras-hub.

    keras-hub's `Tokenizer.from_preset(directory)` picks the tokenizer class
    whose `backbone_cls` is the preset's backbone class, then loads the
    preset's `tokenizer.json` (a `TextTokenizer`): this class is what it finds.

    Example:
    ```python
    import keras_hub
    from keras_ctxmem.preprocessing import TextPreprocessor
    from keras_ctxmem.zoo import create_model
    pre = TextPreprocessor.from_corpus(["a charming film", "a dull film"], 40, 8)
    create_model("transformer_tiny", preprocessor=pre).save_to_preset("/tmp/t")
    tokenizer = keras_hub.tokenizers.Tokenizer.from_preset("/tmp/t")
    ```
    """

    backbone_cls = TransformerBackbone


class TransformerTask(ZooModel, keras_hub.models.Task):
    """A head on a `TransformerBackbone`; builds from backbone presets.

    A `keras_hub.models.Task`: its presets are in keras-hub's layout, which
    keras-hub's `from_preset` reads, and it is compiled when built (with the
    zoo's `compile()` defaults), as keras-hub's tasks are.
    """

    preset_family = "transformer"
    backbone_cls = TransformerBackbone
    preprocessor_cls = TextPreprocessor

    @classmethod
    def from_preset_config(cls, config):
        """Splits a flat configuration; shared keys (`dropout`, `dtype`) go to both."""
        backbone_args = inspect.signature(TransformerBackbone.__init__).parameters
        task_args = inspect.signature(cls.__init__).parameters
        backbone_config = {k: v for k, v in config.items() if k in backbone_args}
        task_config = {
            k: v for k, v in config.items() if k not in backbone_args or k in task_args
        }
        return cls(backbone=TransformerBackbone(**backbone_config), **task_config)

    @classmethod
    def _from_other_preset_class(
        cls, directory, saved_cls, serialized, load_weights, overrides
    ):
        if saved_cls is not None and issubclass(saved_cls, TransformerBackbone):
            backbone = TransformerBackbone.from_preset(
                directory, load_weights, preprocessor=None
            )
            vocabulary_size = overrides.pop("vocabulary_size", None)
            if vocabulary_size not in (None, backbone.vocabulary_size):
                raise ValueError(
                    f"The backbone in '{directory}' has {backbone.vocabulary_size} "
                    f"token ids; the preprocessor given has {vocabulary_size}."
                )
            if "preprocessor" not in overrides:
                overrides["preprocessor"] = load_preset_preprocessor(directory)
            return cls(backbone=backbone, **overrides)
        return super()._from_other_preset_class(
            directory, saved_cls, serialized, load_weights, overrides
        )

    def load_task_weights(self, filepath):
        """Loads `task.weights.h5` (what keras-hub's loader calls)."""
        load_weights_only(self, filepath, list(self.backbone._flatten_layers()))

    def get_config(self):
        config = super().get_config()
        config["backbone"] = keras.saving.serialize_keras_object(self.backbone)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return super().from_config(config)


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class TransformerClassifier(TransformerTask, keras_hub.models.TextClassifier):
    """Sequence classification: pooled backbone features, then logits.

    A `keras_hub.models.TextClassifier`: `keras_hub.models.TextClassifier.
    from_preset(directory)` loads what `save_to_preset(directory)` wrote.

    Args:
        backbone: a `TransformerBackbone`.
        num_classes: number of classes (at least 2).
        dropout: dropout before the output layer.
        pooling: `"mean"` over unpadded tokens, or `"last"` (the last unpadded
            token: for tasks whose question comes at the end, like recall).

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.zoo import create_model
    model = create_model("transformer_tiny", num_classes=3)
    model.compile()  # AdamW, cross-entropy, accuracy
    model.fit(np.array([[4, 7, 0], [9, 2, 5]]), np.array([0, 2]), verbose=0)
    ```
    """

    def __init__(
        self,
        backbone,
        num_classes=2,
        dropout=0.1,
        pooling="mean",
        dtype=None,
        **kwargs,
    ):
        if pooling not in POOLINGS:
            raise ValueError(
                f"`pooling` must be one of {POOLINGS}. Received: {pooling!r}"
            )
        # === Layers ===
        self.backbone = backbone
        self.mean_pooling = MaskedMeanPooling(dtype=dtype, name="masked_mean_pooling")
        self.head = LogitsHead(num_classes, dropout, dtype=dtype, name="head")

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        sequence = backbone(token_ids)
        padding_mask = padding_mask_from(token_ids)
        if pooling == "mean":
            pooled = self.mean_pooling(sequence, mask=padding_mask)
        else:
            pooled = last_token(sequence, padding_mask)
        logits = self.head(pooled)
        super().__init__(inputs=token_ids, outputs=logits, dtype=dtype, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.dropout = dropout
        self.pooling = pooling

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "dropout": self.dropout,
                "pooling": self.pooling,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class TransformerTokenClassifier(TransformerTask):
    """Per-token classification (tagging) on a `TransformerBackbone`.

    Outputs logits `(batch, time, num_classes)`. Labels of -1 (padding, word-piece
    continuations) are left out of the default loss and accuracy.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.zoo import TransformerTokenClassifier, create_model
    model = create_model(
        "transformer_tiny", model_class=TransformerTokenClassifier, num_classes=5
    )
    tags = model.predict(np.array([[4, 7, 0]])).argmax(-1)  # (1, 3)
    ```
    """

    def __init__(self, backbone, num_classes=2, dropout=0.1, dtype=None, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.head = LogitsHead(num_classes, dropout, dtype=dtype, name="head")

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        sequence = backbone(token_ids)
        logits = self.head(sequence)
        super().__init__(inputs=token_ids, outputs=logits, dtype=dtype, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.dropout = dropout

    def default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=-1
        )

    def default_metrics(self):
        return [TokenAccuracy(name="accuracy")]

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "dropout": self.dropout})
        return config


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class TokenAccuracy(keras.metrics.Mean):
    """Accuracy over the tokens whose label is not `ignore_class` (-1)."""

    def __init__(self, ignore_class=-1, name="token_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.ignore_class = ignore_class

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = keras.ops.cast(y_true, "int32")
        if len(y_true.shape) == len(y_pred.shape):
            y_true = keras.ops.squeeze(y_true, axis=-1)
        predicted = keras.ops.cast(keras.ops.argmax(y_pred, axis=-1), "int32")
        kept = keras.ops.cast(keras.ops.not_equal(y_true, self.ignore_class), "float32")
        if sample_weight is not None:
            kept = kept * keras.ops.cast(sample_weight, "float32")
        correct = keras.ops.cast(keras.ops.equal(y_true, predicted), "float32")
        super().update_state(correct, sample_weight=kept)

    def get_config(self):
        return {**super().get_config(), "ignore_class": self.ignore_class}
