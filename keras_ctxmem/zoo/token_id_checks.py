"""Clear errors for token ids and labels that Keras would take silently or fail on.

Without these checks float ids are truncated to integers by `Embedding`, an id
past the vocabulary fails inside a TensorFlow gather on a CPU and is clamped to
the last id under XLA (a silent wrong answer), a sequence longer than a
Transformer's position table fails in a `Slice` op, and a label outside
`[0, num_classes)` makes the loss NaN, which poisons the weights. Arrays (NumPy
or tensors with values) are checked in full before Keras sees them; a
`tf.data.Dataset` by its element spec (dtype and rank) and, batch by batch as it
is read, by its values (`checked_dataset`, a few percent of the input pipeline's
time: see `benchmarks/RESULTS.md`).
"""

import re

import keras
import numpy as np
import tensorflow as tf

# Starts every message of a value check run inside tf.data, so that
# `value_check_errors` can tell it from other TensorFlow errors.
VALUE_CHECK = "Invalid input:"


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
    if isinstance(x, dict):
        for model_input in model.inputs:
            values = x.get(model_input.name)
            if "float" in keras.backend.standardize_dtype(model_input.dtype):
                check_finite(values, model_input.name)
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


def check_has_examples(x, entry):
    """Raises a ValueError when `x` holds nothing to `entry` ("predict", ...):
    None, an empty list, dict, array or dataset, or a bare string."""
    if x is None:
        raise ValueError(
            f"`{entry}` received None: give token ids, a list of texts, a dict "
            "of inputs or a `tf.data.Dataset`."
        )
    if isinstance(x, (str, bytes)):
        raise ValueError(
            f"`{entry}` received a single string: pass a list of texts, "
            f"e.g. `{entry}([text])`."
        )
    if isinstance(x, tf.data.Dataset):
        if x.cardinality() == 0:
            raise ValueError(f"`{entry}` received an empty dataset: no examples.")
        return
    leaves = list(x.values()) if isinstance(x, dict) else [x]
    for leaf in leaves or [[]]:
        if isinstance(leaf, (list, tuple)):
            leaf = np.asarray(leaf, dtype=object)
        shape = getattr(leaf, "shape", None)
        if shape is not None and None not in tuple(shape) and not np.prod(shape):
            raise ValueError(
                f"`{entry}` received no examples (inputs of shape "
                f"{tuple(shape)}): give at least one."
            )


def check_finite(values, name):
    """Raises a ValueError if the float array `values` holds a NaN or an
    infinity: the model would answer garbage with a confident class."""
    if not (isinstance(values, np.ndarray) or _checkable(values)):
        return
    if isinstance(values, tf.TensorSpec) or "float" not in str(values.dtype):
        return
    finite = np.isfinite(keras.ops.convert_to_numpy(values))
    if not finite.all():
        example = int(np.argwhere(~finite)[0][0])
        raise ValueError(
            f"`{name}` holds {int((~finite).sum())} NaN or infinite value(s), "
            f"the first in example {example}: the model has no answer for them."
        )


def check_label_values(values, num_classes, ignore_class=None):
    """Raises a ValueError unless every label is in `[0, num_classes)` (or is
    `ignore_class`): an out-of-range label makes a sparse cross-entropy NaN.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.zoo.token_id_checks import check_label_values
    check_label_values(np.array([0, 2, 1]), num_classes=3)
    ```
    """
    values = np.asarray(keras.ops.convert_to_numpy(values))
    if values.dtype.kind not in "iuf" or not values.size:
        return
    bad = _bad_labels(values, num_classes, ignore_class)
    if bad.any():
        raise ValueError(_label_message(values[bad][0], num_classes, ignore_class))


def _bad_labels(values, num_classes, ignore_class):
    """A boolean mask of the labels that are not classes (NumPy or TensorFlow)."""
    bad = (values < 0) | (values >= num_classes)
    if isinstance(values, tf.Tensor):
        if values.dtype.is_floating:
            bad = bad | (tf.floor(values) != values)
    elif values.dtype.kind == "f":
        bad = bad | (np.floor(values) != values)
    if ignore_class is not None:
        bad = bad & (values != ignore_class)
    return bad


def _label_message(label, num_classes, ignore_class):
    ignored = f" or {ignore_class} (ignored)" if ignore_class is not None else ""
    return (
        f"The labels hold {label}, but this model has {num_classes} classes: a "
        f"label must be an integer from 0 to {num_classes - 1}{ignored}. Were the "
        "labels numbered from 1, or made for another set of classes?"
    )


def check_model_labels(model, y):
    """Checks labels given as arrays against `model.label_limits()`."""
    limits = model.label_limits()
    if isinstance(y, (list, tuple)):
        y = np.asarray(y)
    if limits is not None and (isinstance(y, np.ndarray) or _checkable(y)):
        check_label_values(y, *limits)


def checked_dataset(model, dataset, labels=True):
    """`dataset` with its token ids (and integer labels) checked batch by batch.

    The checks run in the `tf.data` pipeline, outside XLA, which would clamp an
    id past the vocabulary to the last one; a failed check stops `fit`,
    `evaluate` or `predict` (see `value_check_errors`).

    Example:
    ```python
    import numpy as np
    import tensorflow as tf
    from keras_ctxmem.zoo import create_model
    from keras_ctxmem.zoo.token_id_checks import checked_dataset
    model = create_model("lstm_tiny", num_classes=2)
    data = tf.data.Dataset.from_tensor_slices((np.ones((4, 5), "int32"), [0, 1, 1, 0]))
    data = checked_dataset(model, data.batch(2))
    ```
    """
    is_tuple = isinstance(dataset.element_spec, tuple)
    if is_tuple and len(dataset.element_spec) > 3:
        return dataset  # Not `x`, `(x, y)` or `(x, y, sample_weight)`.
    label_limits = model.label_limits() if labels else None
    id_limits = model.token_id_limits()

    def check(*element):
        element = element if is_tuple else element[0]
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(element)
        x = _checked_ids(model, x, id_limits)
        if label_limits is not None and isinstance(y, tf.Tensor):
            y = _checked_labels(y, *label_limits)
        return (x, y, sample_weight)[: len(element)] if is_tuple else x

    return dataset.map(check, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _checked_ids(model, x, limits):
    inputs = {
        i.name: i
        for i in model.inputs
        if "int" in keras.backend.standardize_dtype(i.dtype)
    }
    if isinstance(x, dict):
        return {
            name: _checked_id_tensor(value, name, limits)
            if name in inputs
            else _checked_finite_tensor(value, name)
            for name, value in x.items()
        }
    if len(model.inputs) == 1 and inputs and isinstance(x, tf.Tensor):
        return _checked_id_tensor(x, model.inputs[0].name, limits)
    return x


def _checked_id_tensor(ids, name, limits):
    if not isinstance(ids, tf.Tensor) or not ids.dtype.is_integer:
        return ids
    vocabulary_size, max_length = limits.get(name, (None, None))
    smallest = tf.reduce_min(ids)
    largest = tf.reduce_max(ids)
    empty = tf.equal(tf.size(ids), 0)
    checks = [
        tf.debugging.Assert(
            empty | (smallest >= 0),
            [f"{VALUE_CHECK} `{name}` holds the negative token id", smallest],
        )
    ]
    if vocabulary_size is not None:
        checks.append(
            tf.debugging.Assert(
                empty | (largest < vocabulary_size),
                [
                    f"{VALUE_CHECK} `{name}` holds the token id",
                    largest,
                    f", but the vocabulary has {vocabulary_size} ids (0 to "
                    f"{vocabulary_size - 1}). Were the ids made with another "
                    "vocabulary?",
                ],
            )
        )
    if max_length is not None:
        length = tf.shape(ids)[-1]
        checks.append(
            tf.debugging.Assert(
                length <= max_length,
                [
                    f"{VALUE_CHECK} `{name}` holds sequences of",
                    length,
                    f"tokens, but this model takes at most {max_length}.",
                ],
            )
        )
    with tf.control_dependencies(checks):
        return tf.identity(ids)


def _checked_finite_tensor(values, name):
    if not isinstance(values, tf.Tensor) or not values.dtype.is_floating:
        return values
    check = tf.debugging.Assert(
        tf.reduce_all(tf.math.is_finite(values)),
        [
            f"{VALUE_CHECK} `{name}` holds NaN or infinite values: the model has no "
            "answer for them."
        ],
    )
    with tf.control_dependencies([check]):
        return tf.identity(values)


def _checked_labels(labels, num_classes, ignore_class):
    if not (labels.dtype.is_integer or labels.dtype.is_floating):
        return labels
    bad = _bad_labels(labels, num_classes, ignore_class)
    shown = tf.reduce_max(tf.where(bad, labels, labels.dtype.min))
    ignored = f" or {ignore_class} (ignored)" if ignore_class is not None else ""
    check = tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(bad)),
        [
            f"{VALUE_CHECK} The labels hold",
            shown,
            f", but this model has {num_classes} classes: a label must be an "
            f"integer from 0 to {num_classes - 1}{ignored}. Were the labels "
            "numbered from 1, or made for another set of classes?",
        ],
    )
    with tf.control_dependencies([check]):
        return tf.identity(labels)


def value_check_errors(run):
    """Runs `run()`, turning a failed `checked_dataset` check into a ValueError
    that holds only the check's message (not TensorFlow's graph trace)."""
    try:
        return run()
    except tf.errors.InvalidArgumentError as error:
        found = re.search(r"\[" + re.escape(VALUE_CHECK) + r"[^\n]*", error.message)
        if found is None:
            raise
        parts = re.findall(r"\[([^\[\]]*)\]", found.group(0))
        message = " ".join(p.strip() for p in parts if p.strip())
        raise ValueError(re.sub(r" ([,.])", r"\1", message)) from None


def _checkable(values):
    """NumPy arrays, specs and eager TensorFlow tensors: values we can read now."""
    if isinstance(values, (np.ndarray, tf.TensorSpec)):
        return True
    return isinstance(values, tf.Tensor) and hasattr(values, "numpy")
