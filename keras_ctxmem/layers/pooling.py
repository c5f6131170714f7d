"""`MaskedMeanPooling` and `MaskedMaxPooling`: the mean or the maximum over the
unmasked time steps, zeros when none is left."""

import keras


class _MaskedTimePooling(keras.layers.Layer):
    """`(batch, time, features)` to `(batch, features)`; the mask stops here."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class MaskedMeanPooling(_MaskedTimePooling):
    """Mean over the unmasked steps of `(batch, time, features)`.

    Unlike `GlobalAveragePooling1D`, a fully masked row (an empty text) gives
    zeros, not NaN.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.layers import MaskedMeanPooling
    x = np.ones((2, 3, 4), "float32")
    mask = np.array([[True, True, False], [False, False, False]])
    MaskedMeanPooling()(x, mask=mask)  # [[1, 1, 1, 1], [0, 0, 0, 0]]
    ```
    """

    def call(self, inputs, mask=None):
        if mask is None:
            return keras.ops.mean(inputs, axis=1)
        weights = keras.ops.expand_dims(keras.ops.cast(mask, inputs.dtype), -1)
        total = keras.ops.sum(inputs * weights, axis=1)
        count = keras.ops.maximum(keras.ops.sum(weights, axis=1), 1.0)
        return total / count


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class MaskedMaxPooling(_MaskedTimePooling):
    """Maximum over the unmasked steps of `(batch, time, features)`.

    A fully masked row (an empty text) gives zeros.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.layers import MaskedMaxPooling
    x = np.array([[[1.0], [5.0], [9.0]]], "float32")
    MaskedMaxPooling()(x, mask=np.array([[True, True, False]]))  # [[5.0]]
    ```
    """

    def call(self, inputs, mask=None):
        if mask is None:
            return keras.ops.max(inputs, axis=1)
        mask = keras.ops.expand_dims(keras.ops.cast(mask, "bool"), -1)
        lowest = keras.ops.cast(
            -1e4 if inputs.dtype == "float16" else -1e9, inputs.dtype
        )
        pooled = keras.ops.max(keras.ops.where(mask, inputs, lowest), axis=1)
        any_step = keras.ops.any(mask, axis=1)
        return keras.ops.where(any_step, pooled, keras.ops.zeros_like(pooled))
