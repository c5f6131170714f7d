"""Encoder blocks that XLA compiles inside a loop over segments.

The memory transformers read a long sequence one segment at a time inside a
`keras.layers.RNN`; these blocks run their feed-forward layers on rows
(`feed_forward_rows`) so that the loop compiles. `RotaryEncoderBlock` adds
rotary positions (RoFormer) to the attention.
"""

import keras
import keras_hub
from keras import ops


def feed_forward_rows(x, inner, outer):
    """`outer(inner(x))` on the rows of `x`, `(batch * time, hidden_dim)`.

    Inside the loop over the segments the batch size is unknown when a partial
    last batch is traced, and a `Dense` on a 3D input of unknown batch size is a
    `tf.tensordot` whose transpose XLA cannot differentiate in a `while` loop
    ("Input 1 to node ... Transpose must be a compile-time constant"). On rows
    it is a plain matrix product.
    """
    rows = outer(inner(ops.reshape(x, (-1, ops.shape(x)[-1]))))
    return ops.reshape(rows, ops.shape(x))


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class RotaryMultiHeadAttention(keras.layers.MultiHeadAttention):
    """`keras.layers.MultiHeadAttention` with rotary positions (RoFormer; Su et
    al. 2021) on the projected queries and keys.

    `keras_hub.layers.RotaryEmbedding` rotates each head's query and key by
    their positions in the sequence, so the attention scores depend on the
    distance between two positions, not on where they are. When the keys are
    longer than the queries (a cache of earlier positions in front, as in
    Transformer-XL), the queries are the last positions of the keys.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.layers.encoder_blocks import RotaryMultiHeadAttention
    attention = RotaryMultiHeadAttention(num_heads=2, key_dim=8)
    x = np.random.rand(1, 5, 16).astype("float32")
    y = attention(x, x)  # (1, 5, 16)
    ```
    """

    def __init__(self, num_heads, key_dim, max_wavelength=10000, **kwargs):
        super().__init__(num_heads, key_dim, **kwargs)
        self.max_wavelength = max_wavelength
        self.rotary_embedding = keras_hub.layers.RotaryEmbedding(
            max_wavelength=max_wavelength,
            dtype=self.dtype_policy,
            name="rotary_embedding",
        )

    def _compute_attention(self, query, key, value, *args, **kwargs):
        offset = ops.shape(key)[1] - ops.shape(query)[1]
        query = self.rotary_embedding(query, start_index=offset)
        key = self.rotary_embedding(key)
        return super()._compute_attention(query, key, value, *args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"max_wavelength": self.max_wavelength})
        return config


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class RotaryEncoderBlock(keras.layers.Layer):
    """A pre-norm Transformer encoder block with rotary self-attention.

    `x + attention(norm(x))`, then `x + feed_forward(norm(x))` (GELU), as
    `keras_hub.layers.TransformerEncoder(normalize_first=True)` but with
    `RotaryMultiHeadAttention` and no dropout. `call(inputs, padding_mask=None,
    context=None, context_mask=None)` with `padding_mask` `(batch, time)`, True
    at the positions to attend to; `context` `(batch, context_time, dim)`, if
    given, is attended to in front of the inputs (Transformer-XL's cache of the
    previous segment), with its own `context_mask`.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.layers.encoder_blocks import RotaryEncoderBlock
    block = RotaryEncoderBlock(num_heads=2, intermediate_dim=32)
    y = block(np.random.rand(1, 5, 16).astype("float32"))  # (1, 5, 16)
    ```
    """

    def __init__(self, num_heads, intermediate_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.supports_masking = True

    def build(self, inputs_shape, padding_mask_shape=None):
        hidden_dim = inputs_shape[-1]
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=1e-5, dtype=self.dtype_policy, name="attention_norm"
        )
        self.attention = RotaryMultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=hidden_dim // self.num_heads,
            dtype=self.dtype_policy,
            name="attention",
        )
        self.feed_forward_norm = keras.layers.LayerNormalization(
            epsilon=1e-5, dtype=self.dtype_policy, name="feed_forward_norm"
        )
        self.feed_forward_inner = keras.layers.Dense(
            self.intermediate_dim,
            activation="gelu",
            dtype=self.dtype_policy,
            name="feed_forward_inner",
        )
        self.feed_forward_outer = keras.layers.Dense(
            hidden_dim, dtype=self.dtype_policy, name="feed_forward_outer"
        )
        self.attention_norm.build(inputs_shape)
        self.attention.build(inputs_shape, inputs_shape)
        self.feed_forward_norm.build(inputs_shape)
        self.feed_forward_inner.build(inputs_shape)
        self.feed_forward_outer.build((*inputs_shape[:-1], self.intermediate_dim))

    def call(self, inputs, padding_mask=None, context=None, context_mask=None):
        normed = self.attention_norm(inputs)
        keys, key_mask = normed, padding_mask
        if context is not None:
            keys = ops.concatenate([self.attention_norm(context), normed], axis=1)
            if padding_mask is None:
                padding_mask = ops.ones_like(normed[..., 0], dtype="bool")
            key_mask = ops.concatenate(
                [ops.cast(context_mask, "bool"), ops.cast(padding_mask, "bool")], 1
            )
        attention_mask = None
        if key_mask is not None:
            attention_mask = ops.cast(key_mask, "bool")[:, None, :]
        x = inputs + self.attention(normed, keys, attention_mask=attention_mask)
        return x + feed_forward_rows(
            self.feed_forward_norm(x), self.feed_forward_inner, self.feed_forward_outer
        )

    def compute_output_shape(
        self,
        inputs_shape,
        padding_mask_shape=None,
        context_shape=None,
        context_mask_shape=None,
    ):
        return tuple(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"num_heads": self.num_heads, "intermediate_dim": self.intermediate_dim}
        )
        return config


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class TransformerEncoder(keras_hub.layers.TransformerEncoder):
    """`keras_hub.layers.TransformerEncoder`, pre-norm and without dropout, with
    its feed-forward layers on rows (`feed_forward_rows`), so that it compiles
    with XLA inside the loop over the segments. The blocks of
    `position_encoding="learned"`; it keeps keras-hub's class name because the
    weight files of saved models name their blocks by it
    (`encoder_blocks/transformer_encoder`). `call(inputs, padding_mask=None)`.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.layers.encoder_blocks import TransformerEncoder
    block = TransformerEncoder(intermediate_dim=32, num_heads=2)
    y = block(np.random.rand(1, 5, 16).astype("float32"))  # (1, 5, 16)
    ```
    """

    def __init__(self, intermediate_dim, num_heads, **kwargs):
        kwargs = {"activation": "gelu", "normalize_first": True, **kwargs}
        super().__init__(intermediate_dim, num_heads, **kwargs)

    def call(self, inputs, padding_mask=None):
        attention_mask = None
        if padding_mask is not None:
            attention_mask = ops.cast(padding_mask, "bool")[:, None, :]
        normed = self._self_attention_layer_norm(inputs)
        x = inputs + self._self_attention_layer(
            query=normed, value=normed, attention_mask=attention_mask
        )
        return x + feed_forward_rows(
            self._feedforward_layer_norm(x),
            self._feedforward_intermediate_dense,
            self._feedforward_output_dense,
        )
