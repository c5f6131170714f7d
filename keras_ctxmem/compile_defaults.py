"""What `compile()` uses when given nothing: the executor and the optimizer.

`resolve_jit_compile("auto")` picks the fastest measured executor for the
device; `default_optimizer()` is AdamW with warm-up, then decay (cosine over
`total_steps`, or 1/sqrt(step)). Models and the training loop share them.

Example:
```python
from keras_ctxmem.compile_defaults import default_optimizer, resolve_jit_compile
optimizer = default_optimizer(learning_rate=2e-3, total_steps=1000)
jit_compile = resolve_jit_compile("auto")  # False on a CPU with TensorFlow
```
"""

import keras
import tensorflow as tf


def resolve_jit_compile(jit_compile="auto"):
    """`jit_compile="auto"` made concrete: the fastest measured executor.

    XLA on the JAX backend and on TensorFlow with a GPU or TPU; TensorFlow's
    graph executor (`False`) on a CPU, where XLA measured 0.8x at 128 tokens
    and 0.25x at 4,096 (benchmarks/RESULTS.md). `True` and `False` pass.
    """
    if jit_compile != "auto":
        return jit_compile
    backend = keras.backend.backend()
    if backend == "jax":
        return True
    if backend == "tensorflow":
        return bool(
            tf.config.list_physical_devices("GPU")
            or tf.config.list_physical_devices("TPU")
        )
    return False


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
