"""Memory around a keras-hub encoder: RMT (Bulatov et al. 2022) on BERT & co.

`KerasHubMemoryTransformer` extends a keras-hub encoder backbone
(`keras_hub.models.BertBackbone`, `RobertaBackbone`, `DistilBertBackbone` and
their subclasses, e.g. `XLMRobertaBackbone`) to sequences of any length, as
the RMT paper did with BERT. The tokens are cut into segments of
`segment_length`; each segment is embedded by the backbone's own layers (token,
position and, for BERT, segment-type embeddings, then its embedding layer
norm) with `num_memory_tokens` memory vectors in front of it (read) and after
it (write), and goes through the backbone's transformer layers; the outputs at
the write positions are the memory of the next segment. The first memory is
learned. Gradients flow through the memory (optionally cut every
`bptt_segments` segments). A window spans `2 * num_memory_tokens +
segment_length` positions, which must fit the backbone's
`max_sequence_length`.

`recurrence="cache"` uses Transformer-XL's recurrence instead (Dai et al.
2019): no memory tokens; each transformer layer also attends to the states its
input had in the previous segment, gradient stopped. The backbone's positions
are absolute, so the cache and the segment share positions `0 ..
segment_length - 1` (Transformer-XL's relative positions would tell them
apart): prefer the memory tokens for a pretrained BERT.

Inputs are keras-hub's: `{"token_ids", "padding_mask"}` `(batch, time)`, any
`time`. Padding (the mask, whatever the pad id: RoBERTa's is 1) never changes
the outputs at real tokens, and a segment without real tokens leaves the memory
as it was. The backbone's dropout is off inside the recurrence (random ops in
the loop would need their seeds threaded through it): `dropout` applies to the
token embeddings and before the head instead.

Example (downloads BERT; offline, build `BertBackbone(...)` from a config):
```python
import keras_hub
from keras_ctxmem.zoo import MemoryTransformer
backbone = keras_hub.models.BertBackbone.from_preset("bert_base_en")
model = MemoryTransformer.from_keras_hub(
    backbone, num_memory_tokens=10, segment_length=492, task="sequence"
)
preprocessor = keras_hub.models.BertTextClassifierPreprocessor.from_preset(
    "bert_base_en", sequence_length=4096
)
inputs = preprocessor(["a very long document ..."])
logits = model({k: inputs[k] for k in ("token_ids", "padding_mask")})
```
"""

import keras
import keras_hub
from keras import ops

from keras_ctxmem.layers.encoder_blocks import feed_forward_rows
from keras_ctxmem.layers.heads import LogitsHead
from keras_ctxmem.layers.masks import last_token
from keras_ctxmem.layers.recurrent_memory import RECURRENCES, scan_segments
from keras_ctxmem.zoo.memory_transformer import TASKS, TokenOrSequenceTask
from keras_ctxmem.zoo.zoo_model import ZooModel, check_rate, check_sizes

SUPPORTED_BACKBONES = (
    keras_hub.models.BertBackbone,
    keras_hub.models.RobertaBackbone,
    keras_hub.models.DistilBertBackbone,
)


def check_keras_hub_encoder(backbone):
    """Raises a ValueError unless `backbone` is a keras-hub encoder that the
    memory can be put around (see `SUPPORTED_BACKBONES`)."""
    if not isinstance(backbone, SUPPORTED_BACKBONES):
        names = ", ".join(cls.__name__ for cls in SUPPORTED_BACKBONES)
        raise ValueError(
            "Memory tokens can be put around these keras-hub encoders and their "
            f"subclasses: {names}. Received: {type(backbone).__name__}."
        )


def encoder_layer_step(layer, x, padding_mask, context=None, context_mask=None):
    """`layer(x, padding_mask=padding_mask)` for a keras-hub `TransformerEncoder`
    in inference mode, with an optional `context` `(batch, context_time, dim)`
    attended to in front of `x` (Transformer-XL's cache, with `context_mask`).

    Built from the layer's own sublayers, its feed-forward on rows
    (`feed_forward_rows`) so that XLA compiles it inside the segment loop.
    """
    normalize_first = layer.normalize_first
    residual = x
    if normalize_first:
        x = layer._self_attention_layer_norm(x)
    keys, key_mask = x, ops.cast(padding_mask, "bool")
    if context is not None:
        if normalize_first:
            context = layer._self_attention_layer_norm(context)
        keys = ops.concatenate([context, x], axis=1)
        key_mask = ops.concatenate([ops.cast(context_mask, "bool"), key_mask], 1)
    x = layer._self_attention_layer(
        query=x, value=keys, attention_mask=key_mask[:, None, :], training=False
    )
    x = x + residual
    if not normalize_first:
        x = layer._self_attention_layer_norm(x)
    residual = x
    if normalize_first:
        x = layer._feedforward_layer_norm(x)
    x = residual + feed_forward_rows(
        x, layer._feedforward_intermediate_dense, layer._feedforward_output_dense
    )
    if not normalize_first:
        x = layer._feedforward_layer_norm(x)
    return x


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class KerasHubMemoryCell(keras.layers.Layer):
    """One RMT step on a keras-hub encoder, an RNN cell over the segments.

    Input: one segment, flattened, `(batch, segment_length * (hidden_dim + 1))`:
    the token embeddings and, as the last feature, the padding mask. States: the
    memory `(batch, num_memory_tokens * hidden_dim)` and the segment index
    modulo `bptt_segments` `(batch, 1)`; with `recurrence="cache"` the cache of
    every layer's input `(batch, num_layers * segment_length * hidden_dim)` and
    its mask `(batch, segment_length)`. Output: the segment's features,
    flattened. Arguments as for `KerasHubMemoryTransformer`; the backbone's
    layers are used, not copied.
    """

    def __init__(
        self,
        backbone,
        segment_length,
        num_memory_tokens,
        bptt_segments=None,
        recurrence="memory_tokens",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(backbone, dict):
            backbone = keras.saving.deserialize_keras_object(backbone)
        check_keras_hub_encoder(backbone)
        self.backbone = backbone
        self.segment_length = segment_length
        self.num_memory_tokens = num_memory_tokens
        self.bptt_segments = bptt_segments
        self.recurrence = recurrence
        hidden_dim = backbone.hidden_dim
        if recurrence == "cache":
            num_layers = len(backbone.transformer_layers)
            self.state_size = [num_layers * segment_length * hidden_dim, segment_length]
        else:
            self.state_size = [num_memory_tokens * hidden_dim, 1]
        self.output_size = segment_length * hidden_dim

    def build(self, input_shape=None):
        if self.recurrence == "memory_tokens":
            self.memory = self.add_weight(
                shape=(self.num_memory_tokens, self.backbone.hidden_dim),
                initializer=keras.initializers.RandomNormal(stddev=0.02),
                name="memory",
            )

    def initial_states(self, batch_size):
        """The states of the first segment: the learned memory and the
        segment index (-1); or an empty cache."""
        if self.recurrence == "cache":
            return [
                ops.zeros((batch_size, size), dtype=self.compute_dtype)
                for size in self.state_size
            ]
        memory = ops.reshape(ops.cast(self.memory, self.compute_dtype), (1, -1))
        memory = ops.broadcast_to(memory, (batch_size, ops.shape(memory)[1]))
        return [memory, -ops.ones((batch_size, 1), dtype=self.compute_dtype)]

    def embed_window(self, window):
        """The backbone's embeddings of a window of vectors: positions (and
        BERT's segment type 0) added, then the embedding layer norm."""
        backbone = self.backbone
        if isinstance(backbone, keras_hub.models.BertBackbone):
            segment_ids = ops.zeros_like(window[..., 0], dtype="int32")
            window = backbone.embeddings_add(
                (
                    window + self.positions(backbone.position_embedding, window),
                    backbone.segment_embedding(segment_ids),
                )
            )
        else:
            position_embedding = backbone.embeddings.position_embedding
            window = window + self.positions(position_embedding, window)
        return backbone.embeddings_layer_norm(window)

    def positions(self, position_embedding, window):
        """The first `window` positions of a keras-hub `PositionEmbedding`,
        `(length, hidden_dim)`, added by broadcasting: the layer's own call
        broadcasts them to the batch with `broadcast_to`, whose gradient XLA
        cannot compile inside the segment loop when the batch size is unknown
        (a partial last batch)."""
        length = window.shape[1]
        table = position_embedding.position_embeddings[:length]
        return ops.cast(table, self.compute_dtype)

    def call(self, inputs, states):
        length, hidden_dim = self.segment_length, self.backbone.hidden_dim
        inputs = ops.reshape(inputs, (-1, length, hidden_dim + 1))
        segment, token_mask = inputs[..., :-1], inputs[..., -1] > 0
        if self.recurrence == "cache":
            return self._call_with_cache(segment, token_mask, states)
        num_memory = self.num_memory_tokens
        old_memory = ops.reshape(states[0], (-1, num_memory, hidden_dim))
        phase = states[1]
        if self.bptt_segments is not None:
            cut = (phase == 0)[:, :, None]
            old_memory = ops.where(cut, ops.stop_gradient(old_memory), old_memory)
            phase = ops.mod(ops.maximum(phase, 0) + 1, self.bptt_segments)
        x = self.embed_window(ops.concatenate([old_memory, segment, old_memory], 1))
        memory_mask = ops.ones_like(old_memory[..., 0], dtype="bool")
        mask = ops.concatenate([memory_mask, token_mask, memory_mask], axis=1)
        for layer in self.backbone.transformer_layers:
            x = encoder_layer_step(layer, x, mask)
        has_tokens = ops.any(token_mask, axis=1)[:, None, None]
        new_memory = ops.where(has_tokens, x[:, num_memory + length :], old_memory)
        outputs = ops.reshape(
            x[:, num_memory : num_memory + length], (-1, length * hidden_dim)
        )
        new_memory = ops.reshape(new_memory, (-1, num_memory * hidden_dim))
        return outputs, [new_memory, phase]

    def _call_with_cache(self, segment, token_mask, states):
        length, hidden_dim = self.segment_length, self.backbone.hidden_dim
        layers = self.backbone.transformer_layers
        cache = ops.reshape(states[0], (-1, len(layers), length, hidden_dim))
        cache_mask = states[1] > 0
        x = self.embed_window(segment)
        layer_inputs = []
        for i, layer in enumerate(layers):
            layer_inputs.append(ops.stop_gradient(x))
            x = encoder_layer_step(layer, x, token_mask, cache[:, i], cache_mask)
        # A segment without real tokens leaves the cache as it was.
        has_tokens = ops.any(token_mask, axis=1)
        new_cache = ops.where(
            has_tokens[:, None, None, None], ops.stack(layer_inputs, axis=1), cache
        )
        new_mask = ops.where(
            has_tokens[:, None], ops.cast(token_mask, states[1].dtype), states[1]
        )
        outputs = ops.reshape(x, (-1, length * hidden_dim))
        return outputs, [ops.reshape(new_cache, ops.shape(states[0])), new_mask]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": keras.saving.serialize_keras_object(self.backbone),
                "segment_length": self.segment_length,
                "num_memory_tokens": self.num_memory_tokens,
                "bptt_segments": self.bptt_segments,
                "recurrence": self.recurrence,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class KerasHubMemoryEncoder(keras.layers.Layer):
    """Runs a `KerasHubMemoryCell` over the segments of a sequence.

    `call(embedded, padding_mask)`: the backbone's token embeddings
    `(batch, time, hidden_dim)` and the padding mask `(batch, time)`; returns
    the features `(batch, time, hidden_dim)`. Arguments as for the cell.
    """

    def __init__(
        self,
        backbone,
        segment_length,
        num_memory_tokens,
        bptt_segments=None,
        recurrence="memory_tokens",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.cell = KerasHubMemoryCell(
            backbone,
            segment_length=segment_length,
            num_memory_tokens=num_memory_tokens,
            bptt_segments=bptt_segments,
            recurrence=recurrence,
            dtype=self.dtype_policy,
            name="keras_hub_memory_cell",
        )
        self.segments = keras.layers.RNN(
            self.cell, return_sequences=True, dtype=self.dtype_policy, name="rnn"
        )

    def build(self, embedded_shape, padding_mask_shape=None):
        self.cell.build()
        width = self.cell.segment_length * (embedded_shape[-1] + 1)
        self.segments.build((None, None, width))

    def call(self, embedded, padding_mask):
        return scan_segments(
            self.segments, embedded, padding_mask, self.cell.segment_length
        )

    def compute_output_shape(self, embedded_shape, padding_mask_shape=None):
        return tuple(embedded_shape)

    def get_config(self):
        config = super().get_config()
        cell_config = self.cell.get_config()
        config.update(
            {
                key: cell_config[key]
                for key in (
                    "backbone",
                    "segment_length",
                    "num_memory_tokens",
                    "bptt_segments",
                    "recurrence",
                )
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class KerasHubMemoryTransformer(TokenOrSequenceTask, ZooModel):
    """A keras-hub encoder extended to any length with memory (RMT), plus a head.

    Args:
        backbone: a keras-hub `BertBackbone`, `RobertaBackbone` or
            `DistilBertBackbone` (or a subclass), pretrained or not; its layers
            and weights become this model's.
        segment_length: tokens per segment; default: as many as fit the
            backbone's `max_sequence_length` next to the memory.
        num_memory_tokens: memory vectors read before and written after each
            segment.
        num_classes: number of classes (at least 2).
        task: `"sequence"` (default; logits of the last real token, which has
            read the memory of all earlier segments) or `"token"` (logits per
            position; labels of -1 are ignored by the default loss).
        dropout: dropout on the token embeddings and before the head.
        bptt_segments: stop the memory's gradient every `bptt_segments`
            segments; `None` (default) backpropagates through all of them.
        recurrence: `"memory_tokens"` (default, RMT) or `"cache"`
            (Transformer-XL; `num_memory_tokens` and `bptt_segments` unused).

    `MemoryTransformer.from_keras_hub(backbone, ...)` builds the same model.

    Example:
    ```python
    import keras_hub
    import numpy as np
    from keras_ctxmem.zoo import KerasHubMemoryTransformer
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=32,
    )
    model = KerasHubMemoryTransformer(backbone, segment_length=8, num_memory_tokens=2)
    token_ids = np.random.randint(1, 50, (2, 100))  # 13 segments of 8
    logits = model({"token_ids": token_ids, "padding_mask": token_ids > 0})
    ```
    """

    preset_family = "keras_hub_memory"

    def __init__(
        self,
        backbone,
        segment_length=None,
        num_memory_tokens=8,
        num_classes=2,
        task="sequence",
        dropout=0.0,
        bptt_segments=None,
        recurrence="memory_tokens",
        dtype=None,
        **kwargs,
    ):
        if isinstance(backbone, dict):
            backbone = keras.saving.deserialize_keras_object(backbone)
        check_keras_hub_encoder(backbone)
        if recurrence not in RECURRENCES:
            raise ValueError(
                f"`recurrence` must be one of {RECURRENCES}. Received: {recurrence!r}"
            )
        check_sizes(num_memory_tokens=num_memory_tokens)
        window_extra = 2 * num_memory_tokens if recurrence == "memory_tokens" else 0
        max_length = backbone.max_sequence_length
        if segment_length is None:
            segment_length = max_length - window_extra
        check_sizes(segment_length=segment_length)
        if segment_length + window_extra > max_length:
            raise ValueError(
                f"A window of `segment_length` ({segment_length}) tokens and "
                f"{window_extra} memory positions is longer than the backbone's "
                f"`max_sequence_length` ({max_length})."
            )
        if bptt_segments is not None:
            check_sizes(bptt_segments=bptt_segments)
        check_rate("dropout", dropout)
        if task not in TASKS:
            raise ValueError(f"`task` must be one of {TASKS}. Received: {task!r}")
        # === Layers ===
        self.backbone = backbone
        self.embedding_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embedding_dropout"
        )
        self.encoder = KerasHubMemoryEncoder(
            backbone,
            segment_length=segment_length,
            num_memory_tokens=num_memory_tokens,
            bptt_segments=bptt_segments,
            recurrence=recurrence,
            dtype=dtype,
            name="keras_hub_memory_encoder",
        )
        self.head = LogitsHead(num_classes, dropout, dtype=dtype, name="head")

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input(shape=(None,), dtype="bool", name="padding_mask")
        embedded = self.embedding_dropout(backbone.token_embedding(token_ids))
        sequence = self.encoder(embedded, padding_mask)
        if task == "sequence":
            sequence = last_token(sequence, padding_mask)
        logits = self.head(sequence)
        super().__init__(
            inputs={"token_ids": token_ids, "padding_mask": padding_mask},
            outputs=logits,
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.segment_length = segment_length
        self.num_memory_tokens = num_memory_tokens
        self.num_classes = num_classes
        self.task = task
        self.dropout = dropout
        self.bptt_segments = bptt_segments
        self.recurrence = recurrence

    def token_id_limits(self):
        # Any length: the backbone's `max_sequence_length` bounds a window only.
        return {"token_ids": (self.backbone.vocabulary_size, None)}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": keras.saving.serialize_keras_object(self.backbone),
                "segment_length": self.segment_length,
                "num_memory_tokens": self.num_memory_tokens,
                "num_classes": self.num_classes,
                "task": self.task,
                "dropout": self.dropout,
                "bptt_segments": self.bptt_segments,
                "recurrence": self.recurrence,
            }
        )
        return config
