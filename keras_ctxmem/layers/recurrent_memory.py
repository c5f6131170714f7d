"""The recurrent memory of the memory transformers: a cell reading one segment
with its memory (RMT memory tokens or a Transformer-XL cache) and the encoder
that scans a sequence segment by segment."""

import keras
from keras import ops

from keras_ctxmem.layers.encoder_blocks import RotaryEncoderBlock, TransformerEncoder
from keras_ctxmem.layers.masks import padding_mask_from

POSITION_ENCODINGS = ("rotary", "learned")
RECURRENCES = ("memory_tokens", "cache")


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
