"""`CRF`: a linear-chain conditional random field over per-token tag scores.

The layer holds the tag transition scores. Called on emissions (per-token tag
scores) it returns them unchanged, so a model can output emissions; the
training loss is `-crf.log_likelihood(emissions, tags, mask)` (the forward
algorithm) and tags come from `crf.viterbi_decode(emissions, mask)`. Only
`keras.ops` is used, so it runs on TensorFlow and JAX. Masks are right-padded
prefixes (True at real tokens); padding never changes a result.

Example:
```python
import numpy as np
from keras_ctxmem.layers import CRF
crf = CRF(num_tags=3)
emissions = np.random.rand(2, 4, 3).astype("float32")
mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], bool)
crf(emissions)  # builds the layer; returns the emissions
log_likelihood = crf.log_likelihood(emissions, np.zeros((2, 4), "int32"), mask)
tags = crf.viterbi_decode(emissions, mask)  # (2, 4) int32, 0 on padding
```
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class CRF(keras.layers.Layer):
    """Linear-chain CRF: transition, start and end scores for `num_tags` tags.

    Args:
        num_tags: number of tags.

    The score of a tag path `y` is `start[y_0] + sum_t emissions[t, y_t] +
    sum_t transitions[y_{t-1}, y_t] + end[y_last]`.
    """

    def __init__(self, num_tags, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_tags, int) or num_tags < 2:
            raise ValueError(
                f"`num_tags` must be an integer of at least 2. Received: {num_tags}"
            )
        self.num_tags = num_tags
        self.supports_masking = True

    def build(self, input_shape=None):
        initializer = keras.initializers.RandomUniform(-0.1, 0.1)
        self.transitions = self.add_weight(
            name="transitions",
            shape=(self.num_tags, self.num_tags),
            initializer=initializer,
        )
        self.start_transitions = self.add_weight(
            name="start_transitions", shape=(self.num_tags,), initializer=initializer
        )
        self.end_transitions = self.add_weight(
            name="end_transitions", shape=(self.num_tags,), initializer=initializer
        )

    def call(self, emissions):
        return ops.cast(emissions, "float32")

    def compute_output_spec(self, emissions):
        return keras.KerasTensor(emissions.shape, dtype="float32")

    def _inputs(self, emissions, mask):
        emissions = ops.cast(emissions, "float32")
        if mask is None:
            mask = ops.ones(ops.shape(emissions)[:2], dtype="bool")
        return emissions, ops.cast(mask, "bool")

    def _parameters(self):
        return (
            ops.cast(self.transitions, "float32"),
            ops.cast(self.start_transitions, "float32"),
            ops.cast(self.end_transitions, "float32"),
        )

    def log_likelihood(self, emissions, tags, mask=None):
        """`log p(tags | emissions)` per sequence, `(batch,)`.

        Args:
            emissions: `(batch, time, num_tags)` tag scores.
            tags: `(batch, time)` int tag ids; values at padding are ignored
                (may be -1).
            mask: `(batch, time)`, True at real tokens (a prefix of each row).
        """
        emissions, mask = self._inputs(emissions, mask)
        transitions, start, end = self._parameters()
        tags = ops.cast(ops.where(mask, tags, 0), "int32")
        maskf = ops.cast(mask, "float32")
        one_hot = ops.one_hot(tags, self.num_tags, dtype="float32")

        # Score of the given path.
        emitted = ops.sum(ops.sum(emissions * one_hot, axis=-1) * maskf, axis=1)
        # one_hot[t-1]^T transitions one_hot[t], counted where step t is real.
        steps = ops.einsum(
            "bti,ij,btj->bt", one_hot[:, :-1], transitions, one_hot[:, 1:]
        )
        transitioned = ops.sum(steps * maskf[:, 1:], axis=1)
        length = ops.sum(ops.cast(mask, "int32"), axis=1)
        last = ops.take_along_axis(tags, ops.maximum(length - 1, 0)[:, None], axis=1)
        last_one_hot = ops.one_hot(last[:, 0], self.num_tags, dtype="float32")
        score = (
            ops.sum(one_hot[:, 0] * start, axis=-1)
            + emitted
            + transitioned
            + ops.sum(last_one_hot * end, axis=-1)
        )
        return score - self._log_partition(emissions, mask)

    def _log_partition(self, emissions, mask):
        """The forward algorithm: log of the sum of all paths' exp(score)."""
        transitions, start, end = self._parameters()
        alpha = start + emissions[:, 0]

        def step(alpha, inputs):
            emission, real = _split_steps(inputs)
            scores = alpha[:, :, None] + transitions[None] + emission[:, None, :]
            next_alpha = ops.logsumexp(scores, axis=1)
            return ops.where(real[:, None], next_alpha, alpha), None

        alpha = _final_carry(step, alpha, _time_major_steps(emissions, mask))
        return ops.logsumexp(alpha + end, axis=-1)

    def viterbi_decode(self, emissions, mask=None):
        """The highest-scoring tag path, `(batch, time)` int32, 0 at padding.

        Compiled (`jax.jit` / `tf.function`) on JAX and TensorFlow: called
        eagerly, op-by-op scans would be slow."""
        emissions, mask = self._inputs(emissions, mask)
        return _compiled_viterbi()(emissions, mask, *self._parameters())

    def get_config(self):
        config = super().get_config()
        config["num_tags"] = self.num_tags
        return config


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class CRFLoss(keras.losses.Loss):
    """Mean negative log-likelihood of the gold tags under a `CRF` layer.

    `y_true` holds tag ids, -1 at padding (the mask); `y_pred` the emissions.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.layers import CRF, CRFLoss
    crf = CRF(3)
    emissions = crf(np.random.rand(1, 3, 3).astype("float32"))
    CRFLoss(crf)(np.array([[0, 2, -1]]), emissions)
    ```
    """

    def __init__(self, crf, name="crf_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.crf = crf

    def __call__(self, y_true, y_pred, sample_weight=None):
        # A new tensor: the per-token Keras mask the emissions carry must not
        # weight this per-sequence loss (the -1 labels mark padding).
        return super().__call__(y_true, ops.multiply(y_pred, 1.0), sample_weight)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        if len(y_true.shape) == len(y_pred.shape):
            y_true = ops.squeeze(y_true, axis=-1)
        mask = ops.not_equal(y_true, -1)
        return -self.crf.log_likelihood(y_pred, y_true, mask)

    def get_config(self):
        # The layer is not serialized: a tagger rebuilds its loss in `compile`.
        return super().get_config()


def _time_major_steps(emissions, mask):
    """Steps 1.. as one time-major tensor `(time - 1, batch, tags + 1)`, the
    mask as the last channel: Keras' TensorFlow `scan` cannot take several
    inputs of unknown length."""
    steps = ops.concatenate(
        [emissions[:, 1:], ops.cast(mask[:, 1:, None], emissions.dtype)], axis=-1
    )
    return ops.transpose(steps, (1, 0, 2))


def _final_carry(step, init, steps):
    """`ops.scan(step, init, steps)[0]`. On TensorFlow `tf.foldl`: its loop
    has a maximum number of iterations, which XLA needs to differentiate it
    (`jit_compile=True` training); Keras' TensorFlow `scan` sets none."""
    if keras.backend.backend() != "tensorflow":
        return ops.scan(step, init, steps)[0]
    import tensorflow as tf

    return tf.foldl(lambda carry, x: step(carry, x)[0], steps, initializer=init)


def _split_steps(inputs):
    return inputs[:, :-1], inputs[:, -1] > 0.5


def viterbi_decode(emissions, mask, transitions, start, end):
    """Viterbi over float32 `emissions` `(batch, time, tags)` with a bool `mask`
    and the CRF's parameters; see `CRF.viterbi_decode`."""
    score = start + emissions[:, 0]
    # 0, 1, ..., tags - 1, from a tensor: retraced graphs may not know the size.
    identity = ops.cumsum(ops.ones_like(start, dtype="int32")) - 1

    def forward(score, inputs):
        emission, real = _split_steps(inputs)
        scores = score[:, :, None] + transitions[None]
        best_previous = ops.cast(ops.argmax(scores, axis=1), "int32")
        next_score = ops.max(scores, axis=1) + emission
        # Padding keeps the score and points each tag back to itself.
        real = real[:, None]
        # Float backpointers: TensorFlow's scan gives outputs the inputs' dtype.
        pointers = ops.where(real, best_previous, identity[None])
        return ops.where(real, next_score, score), ops.cast(pointers, "float32")

    steps = _time_major_steps(emissions, mask)
    score, backpointers = ops.scan(forward, score, steps)
    last_tag = ops.cast(ops.argmax(score + end, axis=-1), "float32")

    def backward(tag, pointers):
        tag = ops.cast(tag, "int32")[:, None]
        previous = ops.take_along_axis(pointers, tag, axis=1)[:, 0]
        return previous, previous

    _, earlier = ops.scan(backward, last_tag, backpointers, reverse=True)
    # earlier[t] is the tag at step t (scan outputs keep their positions).
    path = ops.concatenate([ops.transpose(earlier, (1, 0)), last_tag[:, None]], axis=1)
    return ops.where(mask, ops.cast(path, "int32"), 0)


_COMPILED = {}


def _compiled_viterbi():
    backend = keras.backend.backend()
    if backend not in _COMPILED:
        if backend == "jax":
            import jax

            _COMPILED[backend] = jax.jit(viterbi_decode)
        elif backend == "tensorflow":
            import tensorflow as tf

            _COMPILED[backend] = tf.function(viterbi_decode, reduce_retracing=True)
        else:
            _COMPILED[backend] = viterbi_decode
    return _COMPILED[backend]
