"""Additive (Bahdanau-style) attention pooling over time."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class AttentionPooling(keras.layers.Layer):
    """Pools a sequence into one vector with additive attention.

    For each timestep `score_t = v^T tanh(W h_t + b)`; the weights are a
    softmax of the scores over the unmasked timesteps and the output is
    `sum_t weights_t * h_t`. Masked timesteps get a weight of exactly zero.

    Args:
        units: int. Size of the hidden projection `W h_t + b`.
        **kwargs: other arguments of `keras.layers.Layer` (`name`, `dtype`).

    Call arguments:
        inputs: float tensor of shape `(batch, time, features)`.
        mask: optional boolean tensor of shape `(batch, time)`; taken from
            the Keras mask of `inputs` when not passed.
        return_attention_scores: bool. If `True`, also return the weights,
            of shape `(batch, time)`.

    Example:
    ```python
    import numpy as np
    import keras
    from keras_ctxmem.layers import AttentionPooling

    token_ids = np.array([[5, 2, 7, 0, 0]])
    x = keras.layers.Embedding(10, 8, mask_zero=True)(token_ids)
    pooled, scores = AttentionPooling(16)(x, return_attention_scores=True)
    pooled.shape  # (1, 8)
    scores.shape  # (1, 5); scores[:, 3:] are zero
    ```
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.supports_masking = True
        self.projection = keras.layers.Dense(
            units,
            activation="tanh",
            dtype=self.dtype_policy,
            name="projection",
        )
        self.score = keras.layers.Dense(
            1,
            use_bias=False,
            dtype=self.dtype_policy,
            name="score",
        )
        # The softmax runs in float32 so masked logits stay finite under
        # float16 and the weights sum to one to float32 precision.
        self.softmax = keras.layers.Softmax(axis=-1, dtype="float32", name="softmax")

    def build(self, input_shape):
        self.projection.build(input_shape)
        self.score.build(tuple(input_shape[:-1]) + (self.units,))
        self.built = True

    def call(self, inputs, mask=None, return_attention_scores=False):
        logits = ops.squeeze(self.score(self.projection(inputs)), axis=-1)
        logits = ops.cast(logits, "float32")
        if mask is not None:
            mask = ops.cast(mask, "bool")
        weights = self.softmax(logits, mask=mask)
        if mask is not None:
            # A fully masked row would otherwise get uniform weights.
            weights = ops.where(mask, weights, ops.zeros_like(weights))
        weights = ops.cast(weights, inputs.dtype)
        pooled = ops.sum(inputs * ops.expand_dims(weights, axis=-1), axis=1)
        if return_attention_scores:
            return pooled, weights
        return pooled

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def compute_output_spec(self, inputs, mask=None, return_attention_scores=False):
        pooled = keras.KerasTensor(
            self.compute_output_shape(inputs.shape), dtype=self.compute_dtype
        )
        if return_attention_scores:
            scores = keras.KerasTensor(inputs.shape[:2], dtype=self.compute_dtype)
            return pooled, scores
        return pooled

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config
