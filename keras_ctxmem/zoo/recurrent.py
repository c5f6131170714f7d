"""Shared pieces of the LSTM models: the LSTM stack.

`use_cudnn` is the explicit answer to the LSTM/cuDNN/XLA conflict (keras #18456):
`False` (the default) runs the generic LSTM, which XLA compiles on every device
(`compile(jit_compile=True)`); `"auto"` lets Keras use cuDNN kernels on a GPU,
which XLA cannot compile, so compile those models with `jit_compile=False`.
cuDNN needs right-padded masks, which is what the zoo's data uses.
"""

import keras


def lstm_stack(hidden_dim, num_layers, bidirectional, dropout, use_cudnn, dtype, name):
    """`num_layers` (Bi)LSTM layers, each returning the whole sequence."""
    layers = []
    for i in range(num_layers):
        lstm = keras.layers.LSTM(
            hidden_dim,
            return_sequences=True,
            dropout=dropout,
            use_cudnn=use_cudnn,
            dtype=dtype,
            name=f"{name}_{i}",
        )
        if bidirectional:
            lstm = keras.layers.Bidirectional(
                lstm, dtype=dtype, name=f"bidirectional_{name}_{i}"
            )
        layers.append(lstm)
    return layers
