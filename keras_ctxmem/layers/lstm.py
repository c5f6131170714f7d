"""`ProjectedLSTM`: Keras' LSTM with the input projection taken out of the loop.

Keras' generic LSTM (the path without cuDNN, i.e. every CPU, and XLA on every
device) multiplies each time step's input by the input kernel inside the
recurrent loop: `T` small matrix products. This layer computes `x W + b` for
all time steps in one product before the loop, which then holds only the
recurrent product `h U` and the gates, as cuDNN and PyTorch's CPU LSTM do.
Same weights, same configuration, same outputs (input dropout too: one mask
for all time steps, as in Keras), so a `keras.layers.LSTM` checkpoint loads.

Example:
```python
import numpy as np
from keras_ctxmem.layers import ProjectedLSTM
lstm = ProjectedLSTM(8, return_sequences=True)
states = lstm(np.ones((2, 5, 4), "float32"))  # (2, 5, 8)
```
"""

import keras
from keras import ops
from keras.src import backend


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class ProjectedLSTM(keras.layers.LSTM):
    """`keras.layers.LSTM` with the input projection of all steps done at once.

    Takes every argument of `keras.layers.LSTM`. With `use_cudnn` other than
    `False`, a `recurrent_dropout`, `unroll=True` or `implementation=1` it runs
    Keras' own loop, unchanged.
    """

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell
        if (
            self.use_cudnn is not False
            or cell.recurrent_dropout
            or self.unroll
            or cell.implementation == 1
        ):
            return super().inner_loop(sequences, initial_state, mask, training)
        if keras.tree.is_nested(mask):
            mask = mask[0]
        if training and 0.0 < cell.dropout < 1.0:
            # Keras' cell draws one input mask per sequence, for every step.
            dropout_mask = cell.get_dropout_mask(sequences[:, 0, :])
            sequences = sequences * ops.expand_dims(dropout_mask, 1)
        projected = ops.matmul(sequences, cell.kernel)
        if cell.use_bias:
            projected = ops.add(projected, cell.bias)

        def step(projected_input, states):
            h_tm1, c_tm1 = states
            z = ops.add(projected_input, ops.matmul(h_tm1, cell.recurrent_kernel))
            c, o = cell._compute_carry_and_output_fused(ops.split(z, 4, axis=1), c_tm1)
            h = o * cell.activation(c)
            return h, [h, c]

        return backend.rnn(
            step,
            projected,
            list(initial_state),
            go_backwards=self.go_backwards,
            mask=mask,
            unroll=False,
            input_length=sequences.shape[1],
            zero_output_for_mask=self.zero_output_for_mask,
            return_all_outputs=self.return_sequences,
        )
