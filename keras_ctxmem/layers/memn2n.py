"""The layers of the end-to-end memory network (MemN2N, Sukhbaatar et al. 2015):
position-encoded bags of words, memory ages and temporal encoding, and the
attention over the memories."""

import keras
from keras import ops

from keras_ctxmem.layers.arguments import check_rate


def position_encoding_weights(token_ids, dim):
    """The position encoding `l_kj` of MemN2N (section 4.1), `(..., words, dim)`.

    `l_kj = (1 - j/J) - (k/d) (1 - 2 j/J)` for the j-th real word (1-based) of a
    sentence of `J` real words and the embedding coordinate `k = 1..d`. Unlike
    the paper, where `J` is the (fixed) padded sentence length, `J` and `j` are
    counted on the non-padding words, so that padding a sentence with more zeros
    changes nothing. Padding words get weight 0. Float32.
    """
    mask = ops.cast(ops.not_equal(token_ids, 0), "float32")
    j = ops.cumsum(mask, axis=-1)  # position among the real words, from 1
    length = ops.maximum(ops.sum(mask, axis=-1, keepdims=True), 1.0)
    k = ops.arange(1, dim + 1, dtype="float32") / float(dim)
    ratio = ops.expand_dims(j / length, -1)
    weights = (1.0 - ratio) - k * (1.0 - 2.0 * ratio)
    return weights * ops.expand_dims(mask, -1)


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class BagOfWords(keras.layers.Layer):
    """Sums a sentence's word embeddings, weighted by the position encoding.

    `call(embedded, token_ids)`: `embedded` `(..., words, dim)` are the
    embeddings of `token_ids` `(..., words)`; returns `(..., dim)`. Padding words
    (id 0) are left out. With `position_encoding=False` it is a plain bag of
    words.
    """

    def __init__(self, position_encoding=True, **kwargs):
        super().__init__(**kwargs)
        self.position_encoding = position_encoding

    def call(self, embedded, token_ids):
        if self.position_encoding:
            weights = position_encoding_weights(token_ids, embedded.shape[-1])
        else:
            weights = ops.expand_dims(ops.not_equal(token_ids, 0), -1)
        return ops.sum(embedded * ops.cast(weights, embedded.dtype), axis=-2)

    def get_config(self):
        config = super().get_config()
        config.update({"position_encoding": self.position_encoding})
        return config


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class MemoryAges(keras.layers.Layer):
    """The age of each memory, int32 `(batch, memories)`, for `TemporalEncoding`.

    `call(memory_mask, training=None)`: `memory_mask` `(batch, memories)`, True
    at real memories, oldest first. As in the paper, time runs backwards from
    the most recent memory: the age of a real memory is the number of real
    memories after it (0 for the latest). It is counted from the mask, so empty
    slots (wherever they are) do not shift it; empty slots get 0.

    Random noise (RN, MemN2N section 4.2): in training, with `random_noise > 0`,
    an empty memory is inserted right after each real memory with probability
    `random_noise` (the paper's "10% empty memories"), which makes that memory
    and the ones before it one step older. The temporal encoding then cannot
    learn exact ages by heart. Inference is unchanged.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.layers.memn2n import MemoryAges
    mask = np.array([[True, True, False, True]])
    MemoryAges()(mask)  # [[2, 1, 0, 0]]
    MemoryAges(random_noise=0.5)(mask, training=True)  # e.g. [[4, 2, 0, 1]]
    ```
    """

    def __init__(self, random_noise=0.0, seed=None, **kwargs):
        check_rate("random_noise", random_noise)
        super().__init__(**kwargs)
        self.random_noise = random_noise
        self.seed = seed
        if random_noise > 0:
            self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, memory_mask, training=None):
        mask = ops.cast(memory_mask, "int32")
        ages = ops.sum(mask, axis=-1, keepdims=True) - ops.cumsum(mask, axis=-1)
        if training and self.random_noise > 0:
            draws = keras.random.uniform(ops.shape(mask), seed=self.seed_generator)
            inserted = ops.cast(draws < self.random_noise, "int32") * mask
            # Memory i gets older by the empty memories inserted after it, its
            # own included.
            ages += ops.sum(inserted, axis=-1, keepdims=True) - ops.cumsum(
                inserted, axis=-1
            )
            ages += inserted
        return ages * mask

    def get_config(self):
        config = super().get_config()
        config.update({"random_noise": self.random_noise, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class TemporalEncoding(keras.layers.Layer):
    """Adds a learned vector per memory age, `T[age]` (MemN2N's `T_A`, `T_C`).

    `call(memories, ages, memory_mask)`: `memories` `(batch, memories, dim)`;
    `ages` int `(batch, memories)` from `MemoryAges` (0 for the most recent
    memory); `memory_mask` `(batch, memories)`, True at real memories. Ages past
    `max_memories - 1` share the last row. Empty slots get nothing.
    """

    def __init__(self, max_memories, embeddings_initializer="random_normal", **kwargs):
        super().__init__(**kwargs)
        self.max_memories = max_memories
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)

    def build(self, memories_shape, ages_shape=None, memory_mask_shape=None):
        self.embeddings = self.add_weight(
            shape=(self.max_memories, memories_shape[-1]),
            initializer=self.embeddings_initializer,
            name="embeddings",
        )

    def call(self, memories, ages, memory_mask):
        age = ops.clip(ages, 0, self.max_memories - 1)
        encoding = ops.take(self.embeddings, age, axis=0)
        mask = ops.cast(ops.expand_dims(memory_mask, -1), memories.dtype)
        return memories + encoding * mask

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_memories": self.max_memories,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class MemoryAttention(keras.layers.Layer):
    """One MemN2N memory read: `p = softmax(m_i . u)`, `o = sum_i p_i c_i`.

    `call(query, keys, values, memory_mask)`: `query` `(batch, dim)`, `keys`
    and `values` `(batch, memories, dim)`, `memory_mask` `(batch, memories)`.
    Returns `(o, p)`: `o` `(batch, dim)` and the float32 weights `p`
    `(batch, memories)`, 0 at empty slots (all zero when a story is empty). The
    softmax runs in float32.

    With `memory_size`, the softmax also runs over the empty slots of a
    memory of that many slots, as in the MemN2N code (an empty slot scores 0
    and reads nothing): a read can then find nothing, and the weights of the
    real memories sum to less than one. The empty slots are counted, not
    read from the input, so padding still changes nothing.

    Linear start (LS, MemN2N section 4.2): while the non-trainable float32
    variable `linear_start` is 1, the softmax is left out, `p_i = m_i . u`
    (then `p` does not sum to one). The variable is read inside the compiled
    step, so the `LinearStart` callback can flip it between epochs without
    retracing; it is saved with the weights.
    """

    def __init__(self, memory_size=None, **kwargs):
        super().__init__(**kwargs)
        self.memory_size = memory_size

    def build(
        self, query_shape, keys_shape=None, values_shape=None, memory_mask_shape=None
    ):
        self.linear_start = self.add_weight(
            shape=(),
            initializer="zeros",
            dtype="float32",
            trainable=False,
            name="linear_start",
        )

    def call(self, query, keys, values, memory_mask):
        scores = ops.einsum("bd,bmd->bm", query, keys)
        scores = ops.cast(scores, "float32")
        masked = ops.where(memory_mask, scores, ops.full_like(scores, -1e9))
        if self.memory_size is not None:
            # One column for all the empty slots: log(count) * exp(0) each.
            real = ops.sum(ops.cast(memory_mask, "float32"), axis=-1, keepdims=True)
            empty = ops.maximum(float(self.memory_size) - real, 0.0)
            sink = ops.where(empty > 0, ops.log(ops.maximum(empty, 1.0)), -1e9)
            masked = ops.concatenate([masked, sink], axis=-1)
        softmax = ops.softmax(masked, axis=-1)[:, : ops.shape(scores)[1]]
        probabilities = ops.where(self.linear_start > 0.5, scores, softmax)
        probabilities = probabilities * ops.cast(memory_mask, "float32")
        output = ops.einsum("bm,bmd->bd", ops.cast(probabilities, values.dtype), values)
        return output, probabilities

    def get_config(self):
        config = super().get_config()
        config.update({"memory_size": self.memory_size})
        return config
