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

from keras_ctxmem.layers.heads import LogitsHead
from keras_ctxmem.layers.masks import last_token, padding_mask_from
from keras_ctxmem.layers.recurrent_memory import (
    POSITION_ENCODINGS,
    RECURRENCES,
    RecurrentMemoryEncoder,
)
from keras_ctxmem.zoo.transformer import TokenAccuracy
from keras_ctxmem.zoo.zoo_model import ZooModel, check_rate, check_sizes

TASKS = ("token", "sequence")


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
