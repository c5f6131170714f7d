"""Training defaults: AdamW with warm-up and decay, precision policies, callbacks.

Example:
```python
import keras
from keras_ctxmem.training import default_optimizer
optimizer = default_optimizer(learning_rate=1e-3, total_steps=500)
```
"""

import keras

PRECISION_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16", "bfloat16")


def warmup_cosine_schedule(learning_rate, total_steps, warmup_fraction=0.1):
    """Linear warm-up to `learning_rate`, then cosine decay to zero."""
    if total_steps < 1:
        raise ValueError(f"`total_steps` must be at least 1. Received: {total_steps}")
    warmup_steps = int(total_steps * warmup_fraction)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup_steps else learning_rate,
        decay_steps=max(total_steps - warmup_steps, 1),
        warmup_target=learning_rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class WarmupInverseSqrtDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `learning_rate`, then decay as 1/sqrt(step).

    The decay needs no total step count, so it suits `fit` calls of any length.
    """

    def __init__(self, learning_rate, warmup_steps=100):
        self.learning_rate = learning_rate
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = keras.ops.cast(step, "float32") + 1.0
        warmup = keras.ops.cast(self.warmup_steps, "float32")
        scale = keras.ops.minimum(step / warmup, keras.ops.sqrt(warmup / step))
        return self.learning_rate * scale

    def get_config(self):
        return {"learning_rate": self.learning_rate, "warmup_steps": self.warmup_steps}


def default_optimizer(
    learning_rate=1e-3,
    total_steps=None,
    warmup_fraction=0.1,
    weight_decay=0.01,
    clipnorm=1.0,
    **kwargs,
):
    """AdamW with warm-up, then decay.

    With `total_steps` the decay is cosine to zero at the last step; without,
    it is 1/sqrt(step) after 100 warm-up steps. Extra keyword arguments (e.g.
    `gradient_accumulation_steps`) go to `keras.optimizers.AdamW`.
    """
    if total_steps is None:
        learning_rate = WarmupInverseSqrtDecay(learning_rate)
    else:
        learning_rate = warmup_cosine_schedule(
            learning_rate, total_steps, warmup_fraction
        )
    return keras.optimizers.AdamW(
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        clipnorm=clipnorm,
        **kwargs,
    )


def set_precision(policy):
    """Sets the global Keras dtype policy by name, checking it first."""
    if policy not in PRECISION_POLICIES:
        raise ValueError(
            f"Unknown precision policy '{policy}'. "
            f"Choose one of: {', '.join(PRECISION_POLICIES)}."
        )
    keras.config.set_dtype_policy(policy)


def default_callbacks(log_dir=None, checkpoint_path=None):
    """Progress-friendly callbacks: TensorBoard logs and best-weights checkpoints."""
    callbacks = [keras.callbacks.TerminateOnNaN()]
    if log_dir is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=log_dir))
    if checkpoint_path is not None:
        callbacks.append(
            keras.callbacks.ModelCheckpoint(
                checkpoint_path, save_weights_only=True, save_best_only=False
            )
        )
    return callbacks
