import keras
import numpy as np
import pytest

from keras_ctxmem.layers import AttentionPooling
from tests.helpers import (
    assert_allclose,
    assert_config_round_trip,
    assert_keras_file_round_trip,
)


def _inputs(batch=3, time=6, features=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, time, features)).astype("float32")
    mask = np.ones((batch, time), bool)
    mask[0, 4:] = False
    mask[1, 2:] = False
    return x, mask


def test_output_and_score_shapes():
    x, mask = _inputs()
    layer = AttentionPooling(8)
    pooled, scores = layer(x, mask=mask, return_attention_scores=True)
    assert tuple(pooled.shape) == (3, 4)
    assert tuple(scores.shape) == (3, 6)
    assert tuple(layer(x).shape) == (3, 4)
    assert layer.compute_output_shape((None, 6, 4)) == (None, 4)


def test_scores_sum_to_one_and_are_zero_at_masked_steps():
    x, mask = _inputs()
    pooled, scores = AttentionPooling(8)(x, mask=mask, return_attention_scores=True)
    scores = keras.ops.convert_to_numpy(scores)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-6)
    assert np.all(scores[~mask] == 0.0)
    assert np.all(scores[mask] > 0.0)
    # The output is the score-weighted sum of the inputs.
    assert_allclose(pooled, np.einsum("bt,btf->bf", scores, x))


def test_keras_mask_is_used_and_not_propagated():
    token_ids = np.array([[5, 2, 7, 0, 0], [1, 1, 1, 1, 1]])
    embedded = keras.layers.Embedding(10, 4, mask_zero=True)(token_ids)
    layer = AttentionPooling(8)
    pooled, scores = layer(embedded, return_attention_scores=True)
    scores = keras.ops.convert_to_numpy(scores)
    np.testing.assert_array_equal(scores[0, 3:], 0.0)
    assert getattr(pooled, "_keras_mask", None) is None
    assert layer.compute_mask(embedded, token_ids != 0) is None


def test_right_padding_does_not_change_output():
    x, mask = _inputs()
    layer = AttentionPooling(8)
    expected = layer(x, mask=mask)
    x_padded = np.concatenate([x, np.full((3, 3, 4), 7.0, "float32")], axis=1)
    mask_padded = np.concatenate([mask, np.zeros((3, 3), bool)], axis=1)
    assert_allclose(layer(x_padded, mask=mask_padded), expected)


def test_fully_masked_row_is_finite_zero():
    x, mask = _inputs()
    mask[2] = False
    pooled = keras.ops.convert_to_numpy(AttentionPooling(8)(x, mask=mask))
    assert np.all(np.isfinite(pooled))
    np.testing.assert_array_equal(pooled[2], 0.0)


def test_config_round_trip():
    x, _ = _inputs()
    assert_config_round_trip(AttentionPooling(8, name="pool"), x)
    assert AttentionPooling(8).get_config()["units"] == 8


def test_keras_file_round_trip(tmp_path):
    token_ids = np.array([[5, 2, 7, 0, 0], [1, 3, 1, 4, 1]])
    inputs = keras.Input((5,), dtype="int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True)(inputs)
    pooled, scores = AttentionPooling(8)(x, return_attention_scores=True)
    model = keras.Model(inputs, [keras.layers.Dense(2)(pooled), scores])
    assert tuple(scores.shape) == (None, 5)
    restored = assert_keras_file_round_trip(model, token_ids, tmp_path)
    assert any(isinstance(layer, AttentionPooling) for layer in restored.layers)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    keras.config.set_dtype_policy(policy)
    x, mask = _inputs()
    x = x * 100.0  # large activations must not overflow the masked softmax
    layer = AttentionPooling(8)
    pooled, scores = layer(x, mask=mask, return_attention_scores=True)
    compute_dtype = policy.split("_")[1]
    assert keras.backend.standardize_dtype(pooled.dtype) == compute_dtype
    assert keras.backend.standardize_dtype(scores.dtype) == compute_dtype
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(pooled)))
    scores = keras.ops.convert_to_numpy(keras.ops.cast(scores, "float32"))
    assert np.all(scores[~mask] == 0.0)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=2e-2)


def test_learns_to_find_the_marker_step():
    """The label is the sign of channel 1 at the step flagged in channel 0."""
    rng = np.random.default_rng(0)
    n, time = 512, 12
    x = rng.normal(size=(n, time, 3)).astype("float32")
    x[:, :, 0] = 0.0
    marker = rng.integers(0, time, size=n)
    x[np.arange(n), marker, 0] = 1.0
    y = (x[np.arange(n), marker, 1] > 0).astype("float32")

    inputs = keras.Input((time, 3))
    pooled = AttentionPooling(16)(inputs)
    outputs = keras.layers.Dense(1, activation="sigmoid")(pooled)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(0.02),
        loss="binary_crossentropy",
        metrics=["accuracy"],
        jit_compile=True,
    )
    history = model.fit(x, y, batch_size=64, epochs=25, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert history.history["accuracy"][-1] > 0.9
