"""Layers that fuse a text representation with an image representation."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class ConcatFusion(keras.layers.Layer):
    """Fuses `[text, image]` vectors by concatenating their last axes.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.layers import ConcatFusion

    text = np.ones((2, 4), "float32")
    image = np.ones((2, 6), "float32")
    ConcatFusion()([text, image]).shape  # (2, 10)
    ```
    """

    def call(self, inputs):
        return ops.concatenate(list(inputs), axis=-1)

    def compute_output_shape(self, input_shape):
        sizes = [shape[-1] for shape in input_shape]
        total = None if any(size is None for size in sizes) else sum(sizes)
        return tuple(input_shape[0][:-1]) + (total,)


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class GatedMultimodalUnit(keras.layers.Layer):
    """Gated Multimodal Unit (Arevalo et al., 2017) for two vectors.

    `h = z * tanh(W_t x_t) + (1 - z) * tanh(W_v x_v)` with the gate
    `z = sigmoid(W_z [x_t; x_v])`. The projections have no biases, as in the
    paper.

    Args:
        units: int. Size of the fused vector `h`.
        **kwargs: other arguments of `keras.layers.Layer`.

    Call arguments:
        inputs: list `[x_t, x_v]` of shapes `(batch, d_t)` and `(batch, d_v)`.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.layers import GatedMultimodalUnit

    text = np.ones((2, 4), "float32")
    image = np.ones((2, 6), "float32")
    GatedMultimodalUnit(8)([text, image]).shape  # (2, 8)
    ```
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.text_dense = keras.layers.Dense(
            units, use_bias=False, dtype=self.dtype_policy, name="text_dense"
        )
        self.image_dense = keras.layers.Dense(
            units, use_bias=False, dtype=self.dtype_policy, name="image_dense"
        )
        self.gate_dense = keras.layers.Dense(
            units, use_bias=False, dtype=self.dtype_policy, name="gate_dense"
        )

    def build(self, input_shape):
        text_shape, image_shape = input_shape
        self.text_dense.build(text_shape)
        self.image_dense.build(image_shape)
        self.gate_dense.build(
            tuple(text_shape[:-1]) + (text_shape[-1] + image_shape[-1],)
        )
        self.built = True

    def call(self, inputs):
        x_t, x_v = inputs
        h_t = ops.tanh(self.text_dense(x_t))
        h_v = ops.tanh(self.image_dense(x_v))
        z = ops.sigmoid(self.gate_dense(ops.concatenate([x_t, x_v], axis=-1)))
        return z * h_t + (1.0 - z) * h_v

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class FiLM(keras.layers.Layer):
    """Feature-wise linear modulation (Perez et al., 2018).

    `output = gamma(c) * features + beta(c)`, where `gamma(c) = 1 + W_g c +
    b_g` and `beta(c) = W_b c + b_b` are sized to the last axis of
    `features` and start at zero, so the layer starts as the identity.
    For sequence features `(batch, time, d)` the modulation is broadcast
    over time and the mask of `features` is passed through.

    Call arguments:
        inputs: list `[features, conditioning]`, `features` of shape
            `(batch, d)` or `(batch, time, d)`, `conditioning` of shape
            `(batch, c)`.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.layers import FiLM

    features = np.ones((2, 5, 8), "float32")
    image = np.ones((2, 3), "float32")
    FiLM()([features, image]).shape  # (2, 5, 8)
    ```
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.gamma_dense = None
        self.beta_dense = None

    def build(self, input_shape):
        features_shape, conditioning_shape = input_shape
        dim = features_shape[-1]
        self.gamma_dense = keras.layers.Dense(
            dim,
            kernel_initializer="zeros",
            bias_initializer="zeros",
            dtype=self.dtype_policy,
            name="gamma_dense",
        )
        self.beta_dense = keras.layers.Dense(
            dim,
            kernel_initializer="zeros",
            bias_initializer="zeros",
            dtype=self.dtype_policy,
            name="beta_dense",
        )
        self.gamma_dense.build(conditioning_shape)
        self.beta_dense.build(conditioning_shape)
        self.built = True

    def call(self, inputs, mask=None):
        features, conditioning = inputs
        gamma = 1.0 + self.gamma_dense(conditioning)
        beta = self.beta_dense(conditioning)
        for _ in range(len(features.shape) - len(gamma.shape)):
            gamma = ops.expand_dims(gamma, axis=1)
            beta = ops.expand_dims(beta, axis=1)
        return gamma * features + beta

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            return mask[0]
        return mask

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class CrossModalAttention(keras.layers.Layer):
    """Text queries attend over image patches, with a residual and LayerNorm.

    `output = LayerNorm(text + MultiHeadAttention(query=text, value=image,
    key=image))`; the attention projects back to the text feature size.
    Padded (masked) text positions do not change the outputs at the real
    positions, and the output keeps the mask of `text`.

    Args:
        num_heads: int. Number of attention heads.
        key_dim: int. Size of each head's queries and keys.
        dropout: float. Dropout rate on the attention weights.
        **kwargs: other arguments of `keras.layers.Layer`.

    Call arguments:
        text: float tensor `(batch, t, d)`.
        image: float tensor of patches `(batch, p, d_img)`.
        text_mask: optional boolean `(batch, t)`; taken from the Keras mask
            of `text` when not passed.
        return_attention_scores: bool. If `True`, also return the attention
            weights, `(batch, num_heads, t, p)`.
        training: bool, whether dropout is active.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.layers import CrossModalAttention

    text = np.ones((2, 5, 8), "float32")
    patches = np.ones((2, 9, 12), "float32")
    out, scores = CrossModalAttention(2, 4)(
        text, patches, return_attention_scores=True
    )
    out.shape, scores.shape  # (2, 5, 8), (2, 2, 5, 9)
    ```
    """

    def __init__(self, num_heads, key_dim, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.dropout = dropout
        self.supports_masking = True
        self.attention = None
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=1e-6, dtype=self.dtype_policy, name="layer_norm"
        )

    def build(self, text_shape, image_shape):
        self.attention = keras.layers.MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=self.key_dim,
            dropout=self.dropout,
            output_shape=text_shape[-1],
            dtype=self.dtype_policy,
            name="attention",
        )
        self.attention.build(
            query_shape=text_shape, value_shape=image_shape, key_shape=image_shape
        )
        self.layer_norm.build(text_shape)
        self.built = True

    def call(
        self,
        text,
        image,
        text_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        attention_mask = None
        if text_mask is not None:
            # `MultiHeadAttention` only reads `query_mask` from the Keras mask
            # of the query, so an explicit mask goes in as `attention_mask`.
            text_mask = ops.cast(text_mask, "bool")
            patches = ops.ones(ops.shape(image)[:2], dtype="bool")
            attention_mask = ops.logical_and(
                ops.expand_dims(text_mask, axis=-1), ops.expand_dims(patches, axis=1)
            )
        attended = self.attention(
            query=text,
            value=image,
            key=image,
            attention_mask=attention_mask,
            return_attention_scores=return_attention_scores,
            training=training,
        )
        if return_attention_scores:
            attended, scores = attended
        outputs = self.layer_norm(text + attended)
        if return_attention_scores:
            return outputs, scores
        return outputs

    def compute_mask(self, text, previous_mask=None):
        return previous_mask

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "dropout": self.dropout,
            }
        )
        return config
