"""`PhiloxDropout`: Keras `Dropout` that stays fast under XLA on TensorFlow.

On the TensorFlow backend `keras.layers.Dropout` draws its mask with
`tf.random.stateless_uniform(alg="auto_select")`. Under `jit_compile=True`
XLA:CPU fuses that algorithm's seed scrambling into the per-element loop, so
every element redoes it: a dropout over a `(32, 2, 256, 256)` attention matrix
takes about 1 s instead of 10 ms (`benchmarks/RESULTS.md`). Naming the Philox
algorithm keeps the key derivation outside the loop. The masks differ from
Keras' (another random stream); the distribution and the scaling are the same.
"""

import keras


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class PhiloxDropout(keras.layers.Dropout):
    """`keras.layers.Dropout` drawing its mask with the Philox algorithm.

    Same arguments, weights and outputs in inference as `keras.layers.Dropout`.
    On backends other than TensorFlow it is exactly `keras.layers.Dropout`.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.layers import PhiloxDropout
    x = np.ones((2, 1000), "float32")
    y = PhiloxDropout(0.25, seed=1)(x, training=True)  # 0 or 1 / 0.75
    ```
    """

    def call(self, inputs, training=False):
        if not (training and self.rate > 0) or keras.backend.backend() != "tensorflow":
            return super().call(inputs, training=training)
        import tensorflow as tf

        seed = self.seed_generator.next()
        seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), "int32")
        noise_shape = tf.shape(inputs)
        if self.noise_shape is not None:
            noise_shape = [
                noise_shape[i] if size is None else size
                for i, size in enumerate(self.noise_shape)
            ]
        keep = tf.random.stateless_uniform(noise_shape, seed, alg="philox") >= (
            self.rate
        )
        return tf.where(keep, inputs / (1 - self.rate), tf.zeros_like(inputs))


def use_philox_dropout(layer):
    """Turns every plain `keras.layers.Dropout` inside `layer` into `PhiloxDropout`.

    Reaches the dropouts that other layers create for themselves (the attention
    dropout of `MultiHeadAttention`, those of keras-hub's `TransformerEncoder`),
    so call it on a built model. Weights, configs and inference outputs do not
    change. Every zoo model does this when it is created; call it on your own
    models that use our layers (or any Keras model) before `fit` with XLA.
    Returns the number of layers changed.

    Example:
    ```python
    import keras
    from keras_ctxmem.layers import use_philox_dropout
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dropout(0.1)(inputs))
    use_philox_dropout(model)  # 1
    ```
    """
    changed = 0
    for sublayer in layer._flatten_layers(include_self=True, recursive=True):
        if type(sublayer) is keras.layers.Dropout:
            sublayer.__class__ = PhiloxDropout
            changed += 1
    return changed


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class TokenDropout(keras.layers.Layer):
    """In training, replaces each token id by `unknown_id` with probability `rate`.

    Padding (id 0) is kept. Word dropout teaches the model the unknown-word
    embedding it meets on new text (Lample et al. 2016).

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.layers import TokenDropout
    TokenDropout(0.5, seed=1)(np.array([[5, 6, 7, 0]]), training=True)  # some 1s
    ```
    """

    def __init__(self, rate, unknown_id=1, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"`rate` must be in [0, 1). Received: {rate!r}")
        self.rate = rate
        self.unknown_id = unknown_id
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def call(self, token_ids, training=False):
        if not (training and self.rate > 0):
            return token_ids
        noise = keras.random.uniform(
            keras.ops.shape(token_ids), seed=self.seed_generator
        )
        dropped = keras.ops.logical_and(noise < self.rate, token_ids != 0)
        return keras.ops.where(dropped, self.unknown_id, token_ids)

    def compute_output_spec(self, token_ids, training=False):
        return keras.KerasTensor(token_ids.shape, dtype=token_ids.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"rate": self.rate, "unknown_id": self.unknown_id, "seed": self.seed}
        )
        return config
