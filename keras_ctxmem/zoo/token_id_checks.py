"""Clear errors for token ids that Keras would take silently or fail on deep inside.

Without these checks float ids are truncated to integers by `Embedding`, an id
past the vocabulary fails inside a TensorFlow gather on a CPU (and reads zeros
on a GPU), and a sequence longer than a Transformer's position table fails in a
`Slice` op. Arrays (NumPy or tensors with values) are checked in full; a
`tf.data.Dataset` by its element spec (dtype and rank).
"""

import keras
import numpy as np
import tensorflow as tf


def check_token_ids(values, name, rank, vocabulary_size=None, max_length=None):
    """Raises a `TypeError`/`ValueError` naming what is wrong with `values`.

    Args:
        values: an array of token ids, or a `tf.TensorSpec` (dtype and rank only).
        name: the model input they feed, for the message.
        rank: the number of dimensions the input takes, batch included.
        vocabulary_size: ids must be in `[0, vocabulary_size)`; None: only >= 0.
        max_length: the longest sequence (last axis) the model takes.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.zoo.token_id_checks import check_token_ids
    check_token_ids(np.array([[3, 9, 0]]), "token_ids", rank=2, vocabulary_size=10)
    ```
    """
    dtype = keras.backend.standardize_dtype(values.dtype)
    if "int" not in dtype:
        raise TypeError(
            f"`{name}` must hold integer token ids, but received {dtype} values. "
            "Pass texts as strings (the preprocessor turns them into ids) or "
            "cast ids with `.astype('int32')`."
        )
    shape = tuple(values.shape)
    if len(shape) != rank:
        raise ValueError(
            f"`{name}` must have {rank} dimensions (batch first), but received "
            f"shape {shape}."
        )
    if max_length is not None and shape[-1] is not None and shape[-1] > max_length:
        raise ValueError(
            f"`{name}` holds sequences of {shape[-1]} tokens, but this model takes "
            f"at most {max_length} (`max_sequence_length`). Truncate the ids (a "
            "`TextPreprocessor` with `sequence_length` does), or build the model "
            f"with `max_sequence_length={shape[-1]}`."
        )
    if isinstance(values, tf.TensorSpec) or not np.prod(shape):
        return
    values = keras.ops.convert_to_numpy(values)
    smallest, largest = values.min(), values.max()
    if smallest < 0:
        raise ValueError(f"`{name}` holds the negative token id {smallest}.")
    if vocabulary_size is not None and largest >= vocabulary_size:
        raise ValueError(
            f"`{name}` holds the token id {largest}, but the vocabulary has "
            f"{vocabulary_size} ids (0 to {vocabulary_size - 1}). Were the ids "
            "made with another vocabulary?"
        )


def check_model_token_ids(model, x):
    """Checks each integer input of a functional `model` found in `x`.

    `x` is what `fit`/`evaluate`/`predict` or a call receive: an array, a dict
    keyed by input name, or a `tf.data.Dataset` of `x` or `(x, y, ...)`.
    Anything else (generators, `PyDataset`s, symbolic or JAX tensors) passes
    unchecked.
    Limits come from `model.token_id_limits()`.
    """
    if isinstance(x, tf.data.Dataset):
        x = x.element_spec
        x = x[0] if isinstance(x, tuple) else x
    inputs = [
        i for i in model.inputs if "int" in keras.backend.standardize_dtype(i.dtype)
    ]
    if isinstance(x, dict):
        found = [(i, x.get(i.name)) for i in inputs]
    elif len(model.inputs) == 1 and inputs:
        found = [(inputs[0], x)]
    else:
        return
    limits = model.token_id_limits()
    for model_input, values in found:
        if not _checkable(values):
            continue
        vocabulary_size, max_length = limits.get(model_input.name, (None, None))
        check_token_ids(
            values,
            model_input.name,
            len(model_input.shape),
            vocabulary_size,
            max_length,
        )


def _checkable(values):
    """NumPy arrays, specs and eager TensorFlow tensors: values we can read now."""
    if isinstance(values, (np.ndarray, tf.TensorSpec)):
        return True
    return isinstance(values, tf.Tensor) and hasattr(values, "numpy")
