"""`MemoryTransformer`: the Recurrent Memory Transformer (RMT; Bulatov et al. 2022).

The token ids `(batch, time)` (0 = padding) are split into segments of
`segment_length` tokens (the last one padded inside the model). Each segment is
read by the same encoder blocks (a `keras.layers.RNN` over the segments)
together with `num_memory_tokens` memory vectors placed in front of it; the
encoder outputs at the memory positions are the memory of the next segment
(RMT's "write"). Attention only ever spans one
window of `num_memory_tokens + segment_length` positions, so the weights and the
memory per step do not depend on the sequence length. Gradients flow through the
memory from segment to segment (backpropagation through time), optionally cut
every `bptt_segments` segments.

A segment without any real token leaves the memory unchanged, and the padding
mask inside a segment comes from token id 0 (memory positions are never
masked): right padding never changes the outputs at real positions.

Outputs: `task="token"` gives float32 logits per position,
`(batch, time, num_classes)` (labels of -1 are ignored by the default loss and
accuracy); `task="sequence"` gives `(batch, num_classes)` from the last real
token.

Example:
```python
import numpy as np
from keras_ctxmem.zoo import create_model
model = create_model("memory_transformer_tiny", vocabulary_size=20, num_classes=5)
logits = model.predict(np.array([[3, 1, 4, 1, 5, 9, 2, 6, 0, 0]]))  # (1, 10, 5)
```
"""

import keras
import keras_hub
from keras import ops

from keras_ctxmem.zoo.heads import LogitsHead
from keras_ctxmem.zoo.transformer import TokenAccuracy, last_token, padding_mask_from
from keras_ctxmem.zoo.zoo_model import ZooModel, check_rate, check_sizes

TASKS = ("token", "sequence")
POSITION_ENCODINGS = ("rotary", "learned")
RECURRENCES = ("memory_tokens", "cache")


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


def scan_segments(recurrence, embedded, padding_mask, segment_length):
    """Runs `recurrence` (a `keras.layers.RNN` over a memory cell) over the
    segments of `embedded` `(batch, time, dim)`; returns `(batch, time, dim)`.

    `time` is padded up to a multiple of `segment_length` and cut back after;
    `padding_mask` `(batch, time)` (True at real tokens) rides along as the last
    feature of each token, as the cells expect. The cell's `initial_states`
    start the recurrence.
    """
    hidden_dim = embedded.shape[-1]
    batch, time = ops.shape(embedded)[0], ops.shape(embedded)[1]
    padding = (segment_length - time % segment_length) % segment_length
    token_mask = ops.cast(padding_mask, embedded.dtype)
    steps = ops.concatenate([embedded, token_mask[..., None]], axis=-1)
    steps = ops.pad(steps, [[0, 0], [0, padding], [0, 0]])
    steps = ops.reshape(steps, (batch, -1, segment_length * (hidden_dim + 1)))
    initial_state = recurrence.cell.initial_states(batch)
    outputs = recurrence(steps, initial_state=initial_state)
    return ops.reshape(outputs, (batch, -1, hidden_dim))[:, :time]


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
    from keras_ctxmem.zoo.memory_transformer import RotaryMultiHeadAttention
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
    from keras_ctxmem.zoo.memory_transformer import RotaryEncoderBlock
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
    from keras_ctxmem.zoo.memory_transformer import TransformerEncoder
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


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class RecurrentMemoryCell(keras.layers.Layer):
    """One RMT step: reads a segment with the memory, writes the next memory.

    An RNN cell (for `keras.layers.RNN`): the input is one segment, flattened,
    `(batch, segment_length * (hidden_dim + 1))`: the token embeddings and, as
    the last feature, the padding mask (1 at real tokens). The states are the
    memory, flattened, `(batch, num_memory_tokens * hidden_dim)`, and the
    segment index modulo `bptt_segments` (-1 at the first segment), `(batch, 1)`.
    The output is the segment's features, flattened,
    `(batch, segment_length * hidden_dim)`.

    The window `[memory; segment]` goes through pre-norm encoder blocks and a
    final layer norm; the normalised outputs at the memory positions are the
    next memory, unless the segment has no real token (then the memory is
    kept). Positions, by `position_encoding`: `"rotary"` rotates queries and
    keys inside attention (`RotaryEncoderBlock`), so attention sees distances
    within the window; `"learned"` adds a learned embedding of the
    `num_memory_tokens + segment_length` positions to the window before
    pre-norm `TransformerEncoder` blocks (keras-hub's; the only choice before
    rotary positions were added; kept to load models saved then). The blocks have no
    dropout (random ops inside the recurrence would need their seeds threaded
    through it): apply dropout before and after the recurrence instead.

    `recurrence="cache"` replaces the memory tokens by Transformer-XL's
    segment-level recurrence (Dai et al. 2019): each block also attends to the
    states its input had in the previous segment, cached with their gradient
    stopped (rotary positions only). The states are then that cache,
    `(batch, num_layers * segment_length * hidden_dim)`, and its padding mask,
    `(batch, segment_length)`: a fixed size, whatever the sequence length.
    """

    def __init__(
        self,
        segment_length,
        num_memory_tokens,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        bptt_segments=None,
        position_encoding="rotary",
        recurrence="memory_tokens",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.segment_length = segment_length
        self.num_memory_tokens = num_memory_tokens
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.bptt_segments = bptt_segments
        self.position_encoding = position_encoding
        self.recurrence = recurrence
        if recurrence == "cache":
            self.state_size = [num_layers * segment_length * hidden_dim, segment_length]
        else:
            self.state_size = [num_memory_tokens * hidden_dim, 1]
        self.output_size = segment_length * hidden_dim
        if position_encoding == "rotary":
            self.encoder_blocks = [
                RotaryEncoderBlock(
                    num_heads=num_heads,
                    intermediate_dim=intermediate_dim,
                    dtype=self.dtype_policy,
                    name=f"encoder_block_{i}",
                )
                for i in range(num_layers)
            ]
        else:
            self.encoder_blocks = [
                TransformerEncoder(
                    intermediate_dim=intermediate_dim,
                    num_heads=num_heads,
                    dtype=self.dtype_policy,
                    name=f"encoder_block_{i}",
                )
                for i in range(num_layers)
            ]
        self.final_norm = keras.layers.LayerNormalization(
            epsilon=1e-5, dtype=self.dtype_policy, name="final_norm"
        )

    def build(self, input_shape=None):
        if self.recurrence == "cache":
            for block in self.encoder_blocks:
                block.build((None, self.segment_length, self.hidden_dim))
            self.final_norm.build((None, self.segment_length, self.hidden_dim))
            return
        window = self.num_memory_tokens + self.segment_length
        self.memory = self.add_weight(
            shape=(self.num_memory_tokens, self.hidden_dim),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="memory",
        )
        if self.position_encoding == "learned":
            self.position_embedding = self.add_weight(
                shape=(window, self.hidden_dim),
                initializer=keras.initializers.RandomNormal(stddev=0.02),
                name="position_embedding",
            )
        for block in self.encoder_blocks:
            block.build((None, window, self.hidden_dim))
        self.final_norm.build((None, window, self.hidden_dim))

    def initial_states(self, batch_size):
        """The states of the first segment: the learned memory, flattened per
        example, and the segment index (-1); or an empty cache."""
        if self.recurrence == "cache":
            return [
                ops.zeros((batch_size, size), dtype=self.compute_dtype)
                for size in self.state_size
            ]
        memory = ops.reshape(ops.cast(self.memory, self.compute_dtype), (1, -1))
        memory = ops.broadcast_to(memory, (batch_size, ops.shape(memory)[1]))
        return [memory, -ops.ones((batch_size, 1), dtype=self.compute_dtype)]

    def call(self, inputs, states, training=None):
        if self.recurrence == "cache":
            return self._call_with_cache(inputs, states)
        num_memory, hidden_dim = self.num_memory_tokens, self.hidden_dim
        old_memory = ops.reshape(states[0], (-1, num_memory, hidden_dim))
        # The segment index modulo `bptt_segments`, -1 at the first segment:
        # it stays small, so it is exact in float16 and bfloat16 too.
        phase = states[1]
        inputs = ops.reshape(inputs, (-1, self.segment_length, hidden_dim + 1))
        segment, token_mask = inputs[..., :-1], inputs[..., -1] > 0
        if self.bptt_segments is not None:
            cut = (phase == 0)[:, :, None]
            old_memory = ops.where(cut, ops.stop_gradient(old_memory), old_memory)
            phase = ops.mod(ops.maximum(phase, 0) + 1, self.bptt_segments)
        window = ops.concatenate([old_memory, segment], axis=1)
        if self.position_encoding == "learned":
            window += ops.cast(self.position_embedding, self.compute_dtype)
        memory_mask = ops.ones_like(old_memory[..., 0], dtype="bool")
        mask = ops.concatenate([memory_mask, token_mask], axis=1)
        for block in self.encoder_blocks:
            window = block(window, padding_mask=mask)
        window = self.final_norm(window)
        has_tokens = ops.any(token_mask, axis=1)[:, None, None]
        new_memory = ops.where(has_tokens, window[:, :num_memory], old_memory)
        outputs = ops.reshape(window[:, num_memory:], (-1, self.output_size))
        new_states = [ops.reshape(new_memory, (-1, num_memory * hidden_dim))]
        return outputs, new_states + [phase]

    def _call_with_cache(self, inputs, states):
        length, hidden_dim = self.segment_length, self.hidden_dim
        cache = ops.reshape(states[0], (-1, self.num_layers, length, hidden_dim))
        cache_mask = states[1] > 0
        inputs = ops.reshape(inputs, (-1, length, hidden_dim + 1))
        x, token_mask = inputs[..., :-1], inputs[..., -1] > 0
        layer_inputs = []
        for i, block in enumerate(self.encoder_blocks):
            layer_inputs.append(ops.stop_gradient(x))
            x = block(
                x, padding_mask=token_mask, context=cache[:, i], context_mask=cache_mask
            )
        outputs = ops.reshape(self.final_norm(x), (-1, self.output_size))
        # A segment without real tokens leaves the cache as it was.
        has_tokens = ops.any(token_mask, axis=1)
        new_cache = ops.where(
            has_tokens[:, None, None, None], ops.stack(layer_inputs, axis=1), cache
        )
        new_mask = ops.where(
            has_tokens[:, None], ops.cast(token_mask, states[1].dtype), states[1]
        )
        return outputs, [ops.reshape(new_cache, ops.shape(states[0])), new_mask]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "segment_length": self.segment_length,
                "num_memory_tokens": self.num_memory_tokens,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "bptt_segments": self.bptt_segments,
                "position_encoding": self.position_encoding,
                "recurrence": self.recurrence,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class RecurrentMemoryEncoder(keras.layers.Layer):
    """Runs a `RecurrentMemoryCell` over the segments of a sequence.

    `call(embedded, token_ids)`: token embeddings `(batch, time, hidden_dim)` and
    their ids `(batch, time)` (0 = padding); returns features
    `(batch, time, hidden_dim)`. `time` is padded up to a multiple of
    `segment_length`, the segments are scanned by `keras.layers.RNN` (a
    `tf.while_loop` that XLA compiles and differentiates on TensorFlow,
    `jax.lax.scan` on JAX), and the padding is cut off again. Arguments as for
    `RecurrentMemoryCell`.
    """

    def __init__(
        self,
        segment_length,
        num_memory_tokens,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        bptt_segments=None,
        position_encoding="rotary",
        recurrence="memory_tokens",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.cell = RecurrentMemoryCell(
            segment_length=segment_length,
            num_memory_tokens=num_memory_tokens,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            bptt_segments=bptt_segments,
            position_encoding=position_encoding,
            recurrence=recurrence,
            dtype=self.dtype_policy,
            name="recurrent_memory_cell",
        )
        self.recurrence = keras.layers.RNN(
            self.cell, return_sequences=True, dtype=self.dtype_policy, name="rnn"
        )
        self.segment_length = segment_length
        self.hidden_dim = hidden_dim

    def build(self, embedded_shape, token_ids_shape=None):
        self.cell.build()
        self.recurrence.build((None, None, self.segment_length * (self.hidden_dim + 1)))

    def call(self, embedded, token_ids):
        return scan_segments(
            self.recurrence, embedded, padding_mask_from(token_ids), self.segment_length
        )

    def compute_output_shape(self, embedded_shape, token_ids_shape=None):
        return tuple(embedded_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                key: getattr(self.cell, key)
                for key in (
                    "segment_length",
                    "num_memory_tokens",
                    "num_layers",
                    "num_heads",
                    "hidden_dim",
                    "intermediate_dim",
                    "bptt_segments",
                    "position_encoding",
                    "recurrence",
                )
            }
        )
        return config


class TokenOrSequenceTask:
    """Loss and metrics of a model whose `task` is `"token"` (a class per
    token, -1 ignored) or `"sequence"` (the `ZooModel` defaults)."""

    def default_loss(self):
        if self.task == "token":
            return keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, ignore_class=-1
            )
        return super().default_loss()

    def default_metrics(self):
        if self.task == "token":
            return [TokenAccuracy(name="accuracy")]
        return super().default_metrics()


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class MemoryTransformer(TokenOrSequenceTask, ZooModel):
    """Recurrent Memory Transformer for token or sequence classification.

    Args:
        vocabulary_size: number of token ids, padding id 0 included.
        segment_length: tokens per segment; attention spans one segment plus
            the memory.
        num_memory_tokens: memory vectors carried from segment to segment.
        num_layers: encoder blocks.
        num_heads: attention heads per block.
        hidden_dim: width of the features.
        intermediate_dim: width of each block's feed-forward layer.
        num_classes: number of classes (at least 2).
        task: `"token"` (logits per position) or `"sequence"` (logits of the
            last real token).
        dropout: dropout on the token embeddings and before the output layer
            (the blocks themselves have none, see `RecurrentMemoryEncoder`).
        bptt_segments: stop the memory's gradient every `bptt_segments`
            segments; `None` (default) backpropagates through all of them.
        position_encoding: `"rotary"` (default; rotary positions on queries
            and keys inside the window) or `"learned"` (a learned embedding of
            the window's positions; configurations saved without this argument
            load as `"learned"`, the only choice when they were saved).
        recurrence: `"memory_tokens"` (default: RMT, memory tokens carried
            from segment to segment) or `"cache"` (Transformer-XL: each block
            also attends to the previous segment's states, gradient stopped;
            `num_memory_tokens` and `bptt_segments` are then unused, and
            positions must be rotary).

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.zoo import create_model
    model = create_model(
        "memory_transformer_tiny", vocabulary_size=50, task="sequence"
    )
    model.compile()  # AdamW, cross-entropy, accuracy, XLA where it is faster
    model.fit(np.array([[4, 7, 0], [9, 2, 5]]), np.array([0, 1]), verbose=0)
    ```
    """

    preset_family = "memory_transformer"

    def __init__(
        self,
        vocabulary_size,
        segment_length=32,
        num_memory_tokens=8,
        num_layers=2,
        num_heads=4,
        hidden_dim=64,
        intermediate_dim=128,
        num_classes=2,
        task="token",
        dropout=0.0,
        bptt_segments=None,
        position_encoding="rotary",
        recurrence="memory_tokens",
        dtype=None,
        **kwargs,
    ):
        check_sizes(
            vocabulary_size=vocabulary_size,
            segment_length=segment_length,
            num_memory_tokens=num_memory_tokens,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
        )
        if bptt_segments is not None:
            check_sizes(bptt_segments=bptt_segments)
        check_rate("dropout", dropout)
        if hidden_dim % num_heads:
            raise ValueError(
                f"`hidden_dim` ({hidden_dim}) must be divisible by `num_heads` "
                f"({num_heads})."
            )
        if task not in TASKS:
            raise ValueError(f"`task` must be one of {TASKS}. Received: {task!r}")
        if position_encoding not in POSITION_ENCODINGS:
            raise ValueError(
                f"`position_encoding` must be one of {POSITION_ENCODINGS}. "
                f"Received: {position_encoding!r}"
            )
        if recurrence not in RECURRENCES:
            raise ValueError(
                f"`recurrence` must be one of {RECURRENCES}. Received: {recurrence!r}"
            )
        if recurrence == "cache" and position_encoding != "rotary":
            raise ValueError(
                "`recurrence='cache'` (Transformer-XL) needs rotary positions: "
                "learned ones cover only one window."
            )
        # === Layers ===
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size, hidden_dim, dtype=dtype, name="token_embedding"
        )
        self.embedding_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embedding_dropout"
        )
        self.encoder = RecurrentMemoryEncoder(
            segment_length=segment_length,
            num_memory_tokens=num_memory_tokens,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            bptt_segments=bptt_segments,
            position_encoding=position_encoding,
            recurrence=recurrence,
            dtype=dtype,
            name="recurrent_memory_encoder",
        )
        self.head = LogitsHead(num_classes, dropout, dtype=dtype, name="head")

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        embedded = self.embedding_dropout(self.token_embedding(token_ids))
        sequence = self.encoder(embedded, token_ids)
        if task == "sequence":
            sequence = last_token(sequence, padding_mask_from(token_ids))
        logits = self.head(sequence)
        super().__init__(inputs=token_ids, outputs=logits, dtype=dtype, **kwargs)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.segment_length = segment_length
        self.num_memory_tokens = num_memory_tokens
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.num_classes = num_classes
        self.task = task
        self.dropout = dropout
        self.bptt_segments = bptt_segments
        self.position_encoding = position_encoding
        self.recurrence = recurrence

    @classmethod
    def from_keras_hub(cls, backbone, **kwargs):
        """The memory around a keras-hub encoder instead of the zoo's blocks.

        Returns a `KerasHubMemoryTransformer` (see
        `keras_ctxmem.zoo.keras_hub_memory`): `backbone` is a keras-hub
        `BertBackbone`, `RobertaBackbone` or `DistilBertBackbone`; keyword
        arguments are that class's (`segment_length`, `num_memory_tokens`,
        `num_classes`, `task`, `recurrence`, ...).

        Example:
        ```python
        import keras_hub
        from keras_ctxmem.zoo import MemoryTransformer
        backbone = keras_hub.models.BertBackbone.from_preset("bert_base_en")
        model = MemoryTransformer.from_keras_hub(backbone, num_memory_tokens=10)
        ```
        """
        from keras_ctxmem.zoo.keras_hub_memory import KerasHubMemoryTransformer

        return KerasHubMemoryTransformer(backbone, **kwargs)

    @classmethod
    def from_config(cls, config):
        # Saved before `position_encoding` existed: learned positions then.
        return super().from_config({"position_encoding": "learned", **config})

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "segment_length": self.segment_length,
                "num_memory_tokens": self.num_memory_tokens,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "num_classes": self.num_classes,
                "task": self.task,
                "dropout": self.dropout,
                "bptt_segments": self.bptt_segments,
                "position_encoding": self.position_encoding,
                "recurrence": self.recurrence,
            }
        )
        return config
