"""The context-memory recurrence `m_t = act(W_e e_t + W_m m_{t-1} + b)`."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class ContextMemoryCell(keras.layers.Layer):
    """One step of the context-memory recurrence, as a Keras RNN cell.

    `m_t = activation(e_t @ kernel + m_{t-1} @ recurrent_kernel + bias)`,
    where `e_t` is the step input and `m_{t-1}` the previous memory. Wrap it
    in `keras.layers.RNN` (or use `ContextMemory`) to run it over a sequence.

    Args:
        units: int. Size of the memory `m_t`.
        activation: activation applied to the pre-activation (default
            `"sigmoid"`).
        use_bias: bool. Whether to add the bias `b`.
        kernel_initializer: initializer of the input kernel `W_e`.
        recurrent_initializer: initializer of the recurrent kernel `W_m`.
        bias_initializer: initializer of the bias `b`.
        **kwargs: other arguments of `keras.layers.Layer`.

    Example:
    ```python
    import numpy as np
    import keras
    from keras_ctxmem.layers import ContextMemoryCell

    rnn = keras.layers.RNN(ContextMemoryCell(32))
    rnn(np.ones((2, 5, 8), "float32")).shape  # (2, 32)
    ```
    """

    def __init__(
        self,
        units,
        activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        input_dim = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(input_dim, self.units),
            initializer=self.kernel_initializer,
            name="kernel",
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units),
            initializer=self.recurrent_initializer,
            name="recurrent_kernel",
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.units,),
                initializer=self.bias_initializer,
                name="bias",
            )
        else:
            self.bias = None
        self.built = True

    def call(self, inputs, states, training=False):
        previous = states[0] if isinstance(states, (list, tuple)) else states
        x = ops.matmul(inputs, self.kernel)
        x = x + ops.matmul(previous, self.recurrent_kernel)
        if self.bias is not None:
            x = x + self.bias
        memory = self.activation(x)
        return memory, [memory]

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "recurrent_initializer": keras.initializers.serialize(
                    self.recurrent_initializer
                ),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class ContextMemory(keras.layers.RNN):
    """Runs `ContextMemoryCell` over a sequence (a `keras.layers.RNN`).

    With a mask, masked timesteps leave the memory unchanged, so extra
    right-padding does not change the final memory.

    Args:
        units: int. Size of the memory.
        return_sequences: bool. Return the memory at every step,
            `(batch, time, units)`, instead of the last one, `(batch, units)`.
        activation, use_bias, kernel_initializer, recurrent_initializer,
            bias_initializer: passed to `ContextMemoryCell`.
        **kwargs: other arguments of `keras.layers.RNN` (`return_state`,
            `go_backwards`, `stateful`, `unroll`, `zero_output_for_mask`) and
            of `keras.layers.Layer` (`name`, `dtype`).

    Example:
    ```python
    import numpy as np
    import keras
    from keras_ctxmem.layers import ContextMemory

    token_ids = np.array([[3, 1, 4, 0, 0]])
    x = keras.layers.Embedding(10, 8, mask_zero=True)(token_ids)
    ContextMemory(16)(x).shape  # (1, 16)
    ```
    """

    def __init__(
        self,
        units,
        return_sequences=False,
        activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        **kwargs,
    ):
        cell = ContextMemoryCell(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            dtype=kwargs.get("dtype", None),
            trainable=kwargs.get("trainable", True),
            name="context_memory_cell",
        )
        super().__init__(cell, return_sequences=return_sequences, **kwargs)
        self.input_spec = keras.layers.InputSpec(ndim=3)
        self.units = units
        self.activation = self.cell.activation
        self.use_bias = use_bias
        self.kernel_initializer = self.cell.kernel_initializer
        self.recurrent_initializer = self.cell.recurrent_initializer
        self.bias_initializer = self.cell.bias_initializer

    def get_config(self):
        config = super().get_config()
        del config["cell"]
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "recurrent_initializer": keras.initializers.serialize(
                    self.recurrent_initializer
                ),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)
