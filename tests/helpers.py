"""Assertions shared by the tests, modelled on keras-hub's `TestCase`."""

import os

import keras
import numpy as np


def to_numpy(outputs):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, outputs)


def assert_allclose(actual, expected, atol=1e-5, rtol=1e-5):
    keras.tree.map_structure(
        lambda a, e: np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a),
            keras.ops.convert_to_numpy(e),
            atol=atol,
            rtol=rtol,
        ),
        actual,
        expected,
    )


def assert_config_round_trip(layer, inputs):
    """`from_config(get_config())` rebuilds a layer with equal outputs."""
    expected = layer(inputs)
    config = layer.get_config()
    restored = layer.__class__.from_config(config)
    restored(inputs)  # build
    restored.set_weights(layer.get_weights())
    assert restored.get_config() == config
    assert_allclose(restored(inputs), expected)


def assert_keras_file_round_trip(model, inputs, tmp_path):
    """A `.keras` save and load (no custom_objects) gives equal outputs."""
    expected = model.predict(inputs, verbose=0)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert_allclose(restored.predict(inputs, verbose=0), expected)
    return restored


def pad_right(token_ids, length):
    """Right-pads a 2D int array with zeros to `length` columns."""
    token_ids = np.asarray(token_ids)
    padding = np.zeros((token_ids.shape[0], length - token_ids.shape[1]), "int32")
    return np.concatenate([token_ids, padding], axis=1)
