"""Raw strings into `fit`, `evaluate` and `predict`: a `tf.data` pipeline that runs
the model's preprocessor (keras-hub's habit).

Only inputs that hold strings take this path; token ids go straight to Keras.
"""

import keras
import numpy as np
import tensorflow as tf


def contains_strings(x):
    """True when any leaf of `x` holds text (str, bytes or tf.string)."""
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        spec = spec[0] if isinstance(spec, tuple) else spec
        return any(s.dtype == tf.string for s in tf.nest.flatten(spec))

    def is_text(leaf):
        if isinstance(leaf, (str, bytes)):
            return True
        if isinstance(leaf, (list, tuple)) and leaf:
            return isinstance(leaf[0], (str, bytes))
        if isinstance(leaf, np.ndarray):
            return leaf.dtype.kind in "USO"
        return isinstance(leaf, tf.Tensor) and leaf.dtype == tf.string

    leaves = x.values() if isinstance(x, dict) else [x]
    return any(is_text(leaf) for leaf in leaves)


def preprocessed_dataset(
    x, y=None, sample_weight=None, batch_size=None, shuffle=False, preprocess=None
):
    """Batches `(x, y, sample_weight)` (or maps a dataset) through `preprocess`."""
    if isinstance(x, tf.data.Dataset):
        dataset = x
    else:
        if isinstance(x, (list, tuple)):
            x = np.asarray(x, dtype=object)
        dataset = tf.data.Dataset.from_tensor_slices(
            keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
        )
        if shuffle:
            dataset = dataset.shuffle(len(x), reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size or 32)

    def apply(*element):
        features, labels, weights = keras.utils.unpack_x_y_sample_weight(
            element if len(element) > 1 else element[0]
        )
        return keras.utils.pack_x_y_sample_weight(preprocess(features), labels, weights)

    return dataset.map(apply, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE
    )
