"""Shared pieces of the LSTM models: the LSTM stack.

`use_cudnn` is the explicit answer to the LSTM/cuDNN/XLA conflict (keras #18456):
`False` (the default) runs the generic LSTM, which XLA compiles on every device
(`compile(jit_compile=True)`); `"auto"` lets Keras use cuDNN kernels on a GPU,
which XLA cannot compile, so compile those models with `jit_compile=False`.
cuDNN needs right-padded masks, which is what the zoo's data uses.

From `PROJECTED_MIN_UNITS` units on, the layers are `ProjectedLSTM`s: Keras'
LSTM with the input projection of all time steps in one product before the
loop (same weights and outputs; see `keras_ctxmem.layers.lstm`). Measured side
by side (`benchmarks/lstm_input_projection.py`, CPU, batch 32 x 128): 1.35x
(1.12x with XLA) at lstm_base's 256 units, 0.95x at lstm_small's 128, where
Keras' own loop stays.
"""

import keras

from keras_ctxmem.layers.lstm import ProjectedLSTM

PROJECTED_MIN_UNITS = 256


def lstm_stack(hidden_dim, num_layers, bidirectional, dropout, use_cudnn, dtype, name):
    """`num_layers` (Bi)LSTM layers, each returning the whole sequence."""
    layer_class = (
        ProjectedLSTM if hidden_dim >= PROJECTED_MIN_UNITS else keras.layers.LSTM
    )
    layers = []
    for i in range(num_layers):
        lstm = layer_class(
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
