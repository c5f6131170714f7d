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


def marker_task(num_examples, max_length=12, vocabulary_size=50, seed=0):
    """Right-padded sequences of random length; label 1 when token 1 occurs.

    Learnable in a few seconds by every sequence classifier in the zoo.
    """
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(2, vocabulary_size, size=(num_examples, max_length))
    lengths = rng.integers(3, max_length + 1, size=num_examples)
    labels = rng.integers(0, 2, size=num_examples)
    for row in range(num_examples):
        if labels[row]:
            token_ids[row, rng.integers(0, lengths[row])] = 1
        token_ids[row, lengths[row] :] = 0
    return token_ids.astype("int32"), labels.astype("int32")


def run_under_jax(script, *args):
    """Runs `script` (with `args` in `sys.argv`) in a fresh Python with
    `KERAS_BACKEND=jax`; returns stdout.

    Keras fixes its backend at import, so another backend needs another process.
    """
    import importlib.util
    import subprocess
    import sys

    import pytest

    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH")) if p
        ),
    }
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"JAX subprocess failed:\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result.stdout
