"""`LogitsHead`: the output layer every zoo classifier ends with."""

import keras


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class LogitsHead(keras.layers.Layer):
    """Dropout, then a dense layer to `num_classes` logits, returned in float32.

    Float32 logits keep the loss stable under mixed precision. Works on vectors
    `(batch, features)` and on sequences `(batch, time, features)`.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.layers.heads import LogitsHead
    logits = LogitsHead(num_classes=3)(np.ones((2, 8)))  # (2, 3), float32
    ```
    """

    def __init__(self, num_classes, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(
                "`num_classes` must be an integer of at least 2. "
                f"Received: {num_classes}"
            )
        self.num_classes = num_classes
        self.dropout = dropout
        self.supports_masking = True
        self._dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy)
        self._dense = keras.layers.Dense(
            num_classes, dtype=self.dtype_policy, name="logits"
        )

    def build(self, input_shape):
        self._dense.build(input_shape)

    def call(self, inputs, training=None):
        logits = self._dense(self._dropout(inputs, training=training))
        return keras.ops.cast(logits, "float32")

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.num_classes)

    def compute_output_spec(self, inputs, training=None):
        shape = self.compute_output_shape(inputs.shape)
        return keras.KerasTensor(shape, dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "dropout": self.dropout})
        return config
