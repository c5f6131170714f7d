import keras
import numpy as np
import pytest

from keras_ctxmem.layers import ContextMemory, ContextMemoryCell
from tests.helpers import (
    assert_allclose,
    assert_config_round_trip,
    assert_keras_file_round_trip,
    pad_right,
)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _sequences(batch=3, time=5, features=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, time, features)).astype("float32")


def test_cell_matches_numpy_reference():
    x = _sequences()
    cell = ContextMemoryCell(6, bias_initializer="random_normal")
    rnn = keras.layers.RNN(cell, return_sequences=True)
    outputs = keras.ops.convert_to_numpy(rnn(x))
    kernel, recurrent_kernel, bias = (
        keras.ops.convert_to_numpy(w) for w in cell.weights
    )
    assert kernel.shape == (4, 6) and recurrent_kernel.shape == (6, 6)
    assert np.any(bias != 0)
    memory = np.zeros((3, 6), "float32")
    for t in range(x.shape[1]):
        memory = _sigmoid(x[:, t] @ kernel + memory @ recurrent_kernel + bias)
        np.testing.assert_allclose(outputs[:, t], memory, atol=1e-5)


def test_cell_single_step_api():
    cell = ContextMemoryCell(6, activation="tanh", use_bias=False)
    assert cell.state_size == 6 and cell.output_size == 6
    x = _sequences()[:, 0]
    states = cell.get_initial_state(batch_size=3)
    output, new_states = cell(x, states)
    assert tuple(output.shape) == (3, 6)
    assert_allclose(new_states[0], output)
    kernel = keras.ops.convert_to_numpy(cell.kernel)
    assert cell.bias is None
    assert_allclose(output, np.tanh(x @ kernel))


def test_context_memory_shapes_and_mask_propagation():
    token_ids = pad_right([[3, 1, 4], [1, 5, 9]], 6)
    embedded = keras.layers.Embedding(10, 4, mask_zero=True)(token_ids)
    final = ContextMemory(8)(embedded)
    assert tuple(final.shape) == (2, 8)
    sequences = ContextMemory(8, return_sequences=True)(embedded)
    assert tuple(sequences.shape) == (2, 6, 8)
    mask = keras.ops.convert_to_numpy(sequences._keras_mask)
    np.testing.assert_array_equal(mask, token_ids != 0)


def test_context_memory_equals_rnn_of_cell():
    x = _sequences()
    layer = ContextMemory(6)
    rnn = keras.layers.RNN(ContextMemoryCell(6))
    rnn.build(x.shape)
    layer.build(x.shape)
    rnn.set_weights(layer.get_weights())
    assert_allclose(layer(x), rnn(x))


def test_right_padding_does_not_change_final_state():
    x = _sequences(time=4)
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], bool)
    layer = ContextMemory(8)
    expected = layer(x, mask=mask)
    # The padded steps hold large values that would change the state.
    x_padded = np.concatenate([x, np.full((3, 3, 4), 5.0, "float32")], axis=1)
    mask_padded = np.concatenate([mask, np.zeros((3, 3), bool)], axis=1)
    assert_allclose(layer(x_padded, mask=mask_padded), expected)
    # Each row equals the unmasked run over its real steps only.
    for row, length in enumerate(mask.sum(axis=1)):
        assert_allclose(layer(x[row : row + 1, :length])[0], expected[row])


def test_right_padding_with_embedding_mask():
    token_ids = np.array([[3, 1, 4, 1], [5, 9, 2, 6]])
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True)(inputs)
    model = keras.Model(inputs, ContextMemory(8)(x))
    assert_allclose(model(pad_right(token_ids, 9)), model(token_ids))


def test_config_round_trip():
    x = _sequences()
    layer = ContextMemory(
        8,
        return_sequences=True,
        activation="tanh",
        recurrent_initializer="glorot_uniform",
        go_backwards=True,
        name="memory",
    )
    assert_config_round_trip(layer, x)
    config = layer.get_config()
    assert "cell" not in config
    assert config["units"] == 8 and config["activation"] == "tanh"
    assert config["go_backwards"] is True

    cell = ContextMemoryCell(5, use_bias=False)
    restored = ContextMemoryCell.from_config(cell.get_config())
    assert restored.get_config() == cell.get_config()


def test_keras_file_round_trip(tmp_path):
    token_ids = pad_right([[3, 1, 4, 0, 0], [1, 5, 9, 2, 6]], 6)
    inputs = keras.Input((6,), dtype="int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True)(inputs)
    x = ContextMemory(8, return_sequences=True)(x)
    a = ContextMemory(8)(x)
    b = keras.layers.RNN(ContextMemoryCell(8))(x)
    model = keras.Model(inputs, keras.layers.Concatenate()([a, b]))
    assert_keras_file_round_trip(model, token_ids, tmp_path)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    keras.config.set_dtype_policy(policy)
    token_ids = pad_right([[3, 1, 4, 0, 0], [1, 5, 9, 2, 6]], 7)
    x = keras.layers.Embedding(10, 4, mask_zero=True)(token_ids)
    layer = ContextMemory(8, return_sequences=True)
    outputs = layer(x)
    assert layer.cell.compute_dtype == policy.split("_")[1]
    assert layer.cell.kernel.dtype == "float32"
    assert keras.backend.standardize_dtype(outputs.dtype) == policy.split("_")[1]
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(outputs)))
