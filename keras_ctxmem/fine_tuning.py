"""Fine-tuning a pre-trained backbone: the recipe as three small pieces.

- `fine_tuning_optimizer`: AdamW with linear warm-up then linear decay to zero
  (BERT's schedule), and optional gradient accumulation;
- `freeze_backbone`: keep the embeddings and the lower blocks (or LSTM layers)
  fixed;
- `fine_tune`: compile and fit with early stopping on the validation loss,
  restoring the best weights.

Example:
```python
from keras_ctxmem.fine_tuning import fine_tune
from keras_ctxmem.zoo import TransformerClassifier
model = TransformerClassifier.from_preset("runs/pretrained", num_classes=2)
fine_tune(model, train_texts, train_labels, validation_data=(val_texts, val_labels))
```
"""

import math

import keras
import tensorflow as tf

from keras_ctxmem.zoo.zoo_model import check_sizes


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class LinearWarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly to `learning_rate` over `warmup_steps`, then falls
    linearly to zero at `total_steps`."""

    def __init__(self, learning_rate, total_steps, warmup_steps):
        if not 0 <= warmup_steps < total_steps:
            raise ValueError(
                f"`warmup_steps` ({warmup_steps}) must be in [0, total_steps) "
                f"with total_steps={total_steps}."
            )
        self.learning_rate = learning_rate
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warmup = keras.ops.cast(max(self.warmup_steps, 1), "float32")
        decay = keras.ops.cast(self.total_steps - self.warmup_steps, "float32")
        rise = (step + 1.0) / warmup
        fall = keras.ops.maximum(
            (self.total_steps - step) / decay, keras.ops.cast(0.0, "float32")
        )
        return self.learning_rate * keras.ops.minimum(rise, fall)

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
        }


def fine_tuning_optimizer(
    total_steps,
    learning_rate=1e-4,
    warmup_fraction=0.1,
    weight_decay=0.01,
    gradient_accumulation_steps=None,
):
    """AdamW with linear warm-up and linear decay over `total_steps` optimizer
    steps; layer norms and biases are not decayed.

    With `gradient_accumulation_steps=k`, Keras averages the gradients of `k`
    batches before each update (a batch `k` times larger in the same memory);
    `total_steps` then counts updates, i.e. batches / k.
    """
    check_sizes(total_steps=total_steps)
    optimizer = keras.optimizers.AdamW(
        learning_rate=LinearWarmupLinearDecay(
            learning_rate, total_steps, int(total_steps * warmup_fraction)
        ),
        weight_decay=weight_decay,
        clipnorm=1.0,
        gradient_accumulation_steps=gradient_accumulation_steps,
    )
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def freeze_backbone(model, trainable_blocks=0):
    """Freezes a task's backbone but its last `trainable_blocks` encoder blocks
    (a Transformer's) or LSTM layers (an LSTM's); `0`: only the head trains.
    Compile after freezing.

    Returns the model.
    """
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        raise ValueError(
            f"{type(model).__name__} has no `backbone` to freeze: freezing "
            "applies to Transformer and LSTM tasks."
        )
    blocks = getattr(backbone, "encoder_blocks", None)
    if blocks is None:
        blocks = backbone.lstm_layers
    if not 0 <= trainable_blocks <= len(blocks):
        raise ValueError(
            f"`trainable_blocks` must be in [0, {len(blocks)}]. "
            f"Received: {trainable_blocks}"
        )
    backbone.trainable = True
    for layer in backbone.layers:
        layer.trainable = False
    for block in blocks[len(blocks) - trainable_blocks :]:
        block.trainable = True
    if trainable_blocks and hasattr(backbone, "final_norm"):
        backbone.final_norm.trainable = True
    return model


def fine_tune(
    model,
    x,
    y=None,
    validation_data=None,
    epochs=3,
    batch_size=32,
    learning_rate=1e-4,
    patience=1,
    gradient_accumulation_steps=None,
    callbacks=(),
    **fit_kwargs,
):
    """Compiles `model` with `fine_tuning_optimizer` and fits it, stopping when
    the validation loss stops improving and keeping the best weights.

    `x` is anything `model.fit` takes: raw strings when the model has a
    preprocessor, token ids, or a batched `tf.data.Dataset`.

    Returns the `History`.
    """
    steps_per_epoch = _steps_per_epoch(x, batch_size)
    accumulation = gradient_accumulation_steps or 1
    total_steps = max(1, math.ceil(steps_per_epoch * epochs / accumulation))
    model.compile(
        optimizer=fine_tuning_optimizer(
            total_steps,
            learning_rate,
            gradient_accumulation_steps=gradient_accumulation_steps,
        )
    )
    callbacks = list(callbacks)
    if validation_data is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True
            )
        )
    return model.fit(
        x,
        y,
        batch_size=None if isinstance(x, tf.data.Dataset) else batch_size,
        validation_data=validation_data,
        epochs=epochs,
        callbacks=callbacks,
        **fit_kwargs,
    )


def _steps_per_epoch(x, batch_size):
    if isinstance(x, tf.data.Dataset):
        steps = int(x.cardinality())
        if steps < 1:
            raise ValueError(
                "Cannot tell the number of batches of this dataset (infinite or "
                "unknown cardinality): call `fine_tuning_optimizer(total_steps)` "
                "and `model.fit` yourself."
            )
        return steps
    first = next(iter(x.values())) if isinstance(x, dict) else x
    return math.ceil(len(first) / batch_size)
