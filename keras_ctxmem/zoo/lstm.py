"""`LSTMClassifier`: the Embedding + (Bi)LSTM baseline, a head on an `LSTMBackbone`.

Example:
```python
import numpy as np
from keras_ctxmem.zoo import create_model
model = create_model("lstm_tiny", num_classes=2)  # an LSTMClassifier
logits = model.predict(np.array([[5, 9, 3, 0, 0]]))
```
"""

import keras
import keras_hub

from keras_ctxmem.layers import MaskedMaxPooling, MaskedMeanPooling
from keras_ctxmem.layers.heads import LogitsHead
from keras_ctxmem.layers.masks import padding_mask_from
from keras_ctxmem.preprocessing import TextPreprocessor
from keras_ctxmem.zoo.lstm_backbone import LSTMBackbone
from keras_ctxmem.zoo.lstm_masked_lm import ENCODER_ARGS, LSTMMaskedLM
from keras_ctxmem.zoo.zoo_model import (
    ZooModel,
    load_preset_preprocessor,
    load_weights_only,
)

POOLINGS = ("last", "max", "mean")
# What a task takes instead of `backbone` (the constructor before the backbone):
# the `LSTMBackbone` arguments but `dropout`, which the head shares.
BACKBONE_ARGS = (*ENCODER_ARGS, "embedding_dropout", "use_cudnn")


class LSTMTask(ZooModel, keras_hub.models.Task):
    """A head on an `LSTMBackbone`; builds from backbone and masked-LM presets.

    A `keras_hub.models.Task`: its presets are in keras-hub's layout, which
    keras-hub's `from_preset` reads, and it is compiled when built (with the
    zoo's `compile()` defaults), as keras-hub's tasks are. Instead of a
    `backbone`, the backbone's arguments (`vocabulary_size=...`,
    `hidden_dim=...`) build one.
    """

    preset_family = "lstm"
    backbone_cls = LSTMBackbone
    preprocessor_cls = TextPreprocessor

    @staticmethod
    def backbone_from_arguments(backbone, arguments, dropout, dtype):
        """`backbone`, or without one an `LSTMBackbone` built from the
        `BACKBONE_ARGS` in `arguments` (taken out of it) and `dropout`."""
        given = {
            name: arguments.pop(name) for name in BACKBONE_ARGS if name in arguments
        }
        if backbone is None:
            if "vocabulary_size" not in given:
                raise ValueError(
                    "An LSTM task needs a `backbone` (an `LSTMBackbone`) or the "
                    "arguments to build one (`vocabulary_size=...`)."
                )
            return LSTMBackbone(dropout=dropout, dtype=dtype, **given)
        if not isinstance(backbone, LSTMBackbone):
            raise ValueError(
                "`backbone` must be an `LSTMBackbone`; its sizes are keyword "
                f"arguments (`vocabulary_size=...`). Received: {backbone!r}"
            )
        for name, value in given.items():
            if getattr(backbone, name) != value:
                raise ValueError(
                    f"The backbone has `{name}={getattr(backbone, name)!r}`; the "
                    f"task was given `{name}={value!r}`."
                )
        return backbone

    @classmethod
    def from_encoder(cls, masked_lm, **overrides):
        """A task whose embedding and LSTM layers start from the weights of a
        pre-trained `LSTMMaskedLM` (a copy), with a new head.

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

    def encoder_layers(self):
        """The embedding and the LSTM layers, in order: the layers an
        `LSTMMaskedLM` pre-trains (`from_encoder`)."""
        return [self.backbone.embedding, *self.backbone.lstm_layers]

    @classmethod
    def _from_other_preset_class(
        cls, directory, saved_cls, serialized, load_weights, overrides
    ):
        if saved_cls is not None and issubclass(
            saved_cls, (LSTMBackbone, LSTMMaskedLM)
        ):
            if "preprocessor" not in overrides:
                overrides["preprocessor"] = load_preset_preprocessor(directory)
            if issubclass(saved_cls, LSTMMaskedLM):
                masked_lm = LSTMMaskedLM.from_preset(
                    directory, load_weights, preprocessor=None
                )
                return cls.from_encoder(masked_lm, **overrides)
            backbone = LSTMBackbone.from_preset(
                directory, load_weights, preprocessor=None
            )
            return cls(backbone=backbone, **overrides)
        return super()._from_other_preset_class(
            directory, saved_cls, serialized, load_weights, overrides
        )

    def load_task_weights(self, filepath):
        """Loads `task.weights.h5` (what keras-hub's loader calls)."""
        load_weights_only(self, filepath, list(self.backbone._flatten_layers()))

    def load_preset_weights(self, filepath):
        """Loads the `model.weights.h5` of a 0.1 preset: the whole task, saved
        before it had a backbone. Its layers sit at the paths they have in the
        backbone's weights file and in the task's."""
        load_weights_only(self.backbone, filepath)
        self.load_task_weights(filepath)

    def get_config(self):
        config = super().get_config()
        config["backbone"] = keras.saving.serialize_keras_object(self.backbone)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "backbone" in config:  # A 0.1 configuration has the sizes instead.
            config["backbone"] = keras.saving.deserialize_keras_object(
                config["backbone"]
            )
        return super().from_config(config)


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class LSTMClassifier(LSTMTask, keras_hub.models.TextClassifier):
    """An `LSTMBackbone`'s states pooled over time, then logits.

    Token id 0 is padding and is masked, so padding never changes the result.
    `from_preset` also starts from a pre-trained `LSTMMaskedLM` preset (or
    `from_encoder` from the model): its embedding and LSTM weights, a new head.
    A `keras_hub.models.TextClassifier`: `keras_hub.models.TextClassifier.
    from_preset(directory)` loads what `save_to_preset(directory)` wrote.

    Args:
        backbone: an `LSTMBackbone`; or, without one, its arguments
            (`vocabulary_size`, `embedding_dim`, `hidden_dim`, `num_layers`,
            `bidirectional`, `embedding_dropout`, `use_cudnn`) as keywords.
        num_classes: number of classes (at least 2).
        dropout: dropout before the output layer (and on the LSTM inputs of a
            backbone built from arguments).
        pooling: `"last"`, the final state (of each direction); `"max"` or
            `"mean"` over the unmasked time steps of the backbone's states.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.zoo import LSTMBackbone, LSTMClassifier
    backbone = LSTMBackbone(vocabulary_size=50, embedding_dim=8, hidden_dim=8)
    model = LSTMClassifier(backbone, num_classes=3, pooling="max")
    model.fit(np.array([[4, 7, 0], [9, 2, 5]]), np.array([0, 2]), verbose=0)
    ```
    """

    def __init__(
        self,
        backbone=None,
        num_classes=2,
        dropout=0.1,
        pooling="last",
        dtype=None,
        **kwargs,
    ):
        if pooling not in POOLINGS:
            raise ValueError(
                f"`pooling` must be one of {POOLINGS}. Received: {pooling!r}"
            )
        backbone = self.backbone_from_arguments(backbone, kwargs, dropout, dtype)
        # === Layers ===
        self.backbone = backbone
        if pooling == "max":
            self.pooling_layer = MaskedMaxPooling(dtype=dtype, name="max_pooling")
        elif pooling == "mean":
            self.pooling_layer = MaskedMeanPooling(dtype=dtype, name="mean_pooling")
        self.head = LogitsHead(num_classes, dropout, dtype=dtype, name="head")

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        states = backbone(token_ids)
        padding_mask = padding_mask_from(token_ids)
        if pooling == "last":
            pooled = backbone.final_states(states, padding_mask)
        else:
            pooled = self.pooling_layer(states, mask=padding_mask)
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
