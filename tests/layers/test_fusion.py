import keras
import numpy as np
import pytest

from keras_ctxmem.layers import (
    AttentionPooling,
    ConcatFusion,
    CrossModalAttention,
    FiLM,
    GatedMultimodalUnit,
)
from tests.helpers import (
    assert_allclose,
    assert_config_round_trip,
    assert_keras_file_round_trip,
    pad_right,
)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _vectors(batch=3, text_dim=4, image_dim=6, seed=0):
    rng = np.random.default_rng(seed)
    text = rng.normal(size=(batch, text_dim)).astype("float32")
    image = rng.normal(size=(batch, image_dim)).astype("float32")
    return text, image


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


# ConcatFusion


def test_concat_fusion():
    text, image = _vectors()
    layer = ConcatFusion()
    outputs = layer([text, image])
    assert_allclose(outputs, np.concatenate([text, image], axis=-1))
    assert layer.compute_output_shape([(None, 4), (None, 6)]) == (None, 10)
    assert_config_round_trip(ConcatFusion(name="concat"), [text, image])


# GatedMultimodalUnit


def test_gmu_matches_numpy_reference():
    text, image = _vectors()
    layer = GatedMultimodalUnit(5)
    outputs = layer([text, image])
    assert tuple(outputs.shape) == (3, 5)
    w_t = _numpy(layer.text_dense.kernel)
    w_v = _numpy(layer.image_dense.kernel)
    w_z = _numpy(layer.gate_dense.kernel)
    assert w_z.shape == (10, 5)
    z = _sigmoid(np.concatenate([text, image], axis=-1) @ w_z)
    expected = z * np.tanh(text @ w_t) + (1 - z) * np.tanh(image @ w_v)
    assert_allclose(outputs, expected)
    assert layer.compute_output_shape([(None, 4), (None, 6)]) == (None, 5)


def test_gmu_config_and_keras_file_round_trip(tmp_path):
    text, image = _vectors()
    assert_config_round_trip(GatedMultimodalUnit(5, name="gmu"), [text, image])
    text_in, image_in = keras.Input((4,)), keras.Input((6,))
    fused = GatedMultimodalUnit(5)([text_in, image_in])
    model = keras.Model([text_in, image_in], keras.layers.Dense(2)(fused))
    assert_keras_file_round_trip(model, [text, image], tmp_path)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_gmu_and_concat_mixed_precision(policy):
    keras.config.set_dtype_policy(policy)
    text, image = _vectors()
    compute_dtype = policy.split("_")[1]
    for layer in (GatedMultimodalUnit(5), ConcatFusion()):
        outputs = layer([text * 100.0, image])
        assert keras.backend.standardize_dtype(outputs.dtype) == compute_dtype
        assert np.all(np.isfinite(_numpy(keras.ops.cast(outputs, "float32"))))


# FiLM


def test_film_starts_as_identity_and_passes_mask():
    token_ids = pad_right([[3, 1, 4], [1, 5, 9]], 5)
    features = keras.layers.Embedding(10, 4, mask_zero=True)(token_ids)
    _, conditioning = _vectors(batch=2)
    outputs = FiLM()([features, conditioning])
    assert tuple(outputs.shape) == (2, 5, 4)
    assert_allclose(outputs, features)
    np.testing.assert_array_equal(_numpy(outputs._keras_mask), token_ids != 0)
    # Vector features have no mask to pass on.
    text, image = _vectors()
    vector_outputs = FiLM()([text, image])
    assert_allclose(vector_outputs, text)
    assert getattr(vector_outputs, "_keras_mask", None) is None


@pytest.mark.parametrize("sequence", [False, True])
def test_film_matches_numpy_reference(sequence):
    rng = np.random.default_rng(1)
    shape = (3, 7, 4) if sequence else (3, 4)
    features = rng.normal(size=shape).astype("float32")
    conditioning = rng.normal(size=(3, 6)).astype("float32")
    layer = FiLM()
    layer.build([features.shape, conditioning.shape])
    layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    w_g, b_g, w_b, b_b = layer.get_weights()
    gamma = 1.0 + conditioning @ w_g + b_g
    beta = conditioning @ w_b + b_b
    if sequence:
        gamma, beta = gamma[:, None], beta[:, None]
    assert_allclose(layer([features, conditioning]), gamma * features + beta)
    assert layer.compute_output_shape([shape, (3, 6)]) == shape


def test_film_config_and_keras_file_round_trip(tmp_path):
    text, image = _vectors()
    assert_config_round_trip(FiLM(name="film"), [text, image])
    token_ids = pad_right([[3, 1, 4], [1, 5, 9]], 5)
    tokens_in, image_in = keras.Input((5,), dtype="int32"), keras.Input((6,))
    x = keras.layers.Embedding(10, 4, mask_zero=True)(tokens_in)
    x = FiLM()([x, image_in])
    model = keras.Model([tokens_in, image_in], AttentionPooling(4)(x))
    # Perturb FiLM's zero-initialised weights so the check is not trivial.
    film = next(layer for layer in model.layers if isinstance(layer, FiLM))
    film.set_weights([w + 0.1 for w in film.get_weights()])
    assert_keras_file_round_trip(model, [token_ids, image[:2]], tmp_path)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_film_mixed_precision(policy):
    keras.config.set_dtype_policy(policy)
    token_ids = pad_right([[3, 1, 4], [1, 5, 9]], 5)
    features = keras.layers.Embedding(10, 4, mask_zero=True)(token_ids)
    _, conditioning = _vectors(batch=2)
    outputs = FiLM()([features, conditioning])
    assert keras.backend.standardize_dtype(outputs.dtype) == policy.split("_")[1]
    assert np.all(np.isfinite(_numpy(keras.ops.cast(outputs, "float32"))))
    assert outputs._keras_mask is not None


# CrossModalAttention


def _text_and_patches(batch=2, time=5, dim=8, patches=9, patch_dim=12, seed=0):
    rng = np.random.default_rng(seed)
    text = rng.normal(size=(batch, time, dim)).astype("float32")
    image = rng.normal(size=(batch, patches, patch_dim)).astype("float32")
    return text, image


def test_cross_modal_attention_shapes_and_scores():
    text, image = _text_and_patches()
    layer = CrossModalAttention(num_heads=2, key_dim=4)
    outputs, scores = layer(text, image, return_attention_scores=True)
    assert tuple(outputs.shape) == (2, 5, 8)
    assert tuple(scores.shape) == (2, 2, 5, 9)
    np.testing.assert_allclose(_numpy(scores).sum(axis=-1), 1.0, atol=1e-5)
    assert tuple(layer(text, image).shape) == (2, 5, 8)
    # The output is layer-normalised over the features.
    np.testing.assert_allclose(_numpy(outputs).mean(axis=-1), 0.0, atol=1e-5)


def test_cross_modal_attention_is_residual_layer_norm_of_mha():
    text, image = _text_and_patches()
    layer = CrossModalAttention(num_heads=2, key_dim=4)
    outputs = layer(text, image)
    attended = layer.attention(query=text, value=image, key=image)
    assert_allclose(outputs, layer.layer_norm(text + attended))


def test_cross_modal_attention_right_padding_and_mask_propagation():
    token_ids = pad_right([[3, 1, 4], [1, 5, 9]], 4)
    _, image = _text_and_patches()
    embedding = keras.layers.Embedding(10, 8, mask_zero=True)
    layer = CrossModalAttention(num_heads=2, key_dim=4)
    outputs = layer(embedding(token_ids), image)
    np.testing.assert_array_equal(_numpy(outputs._keras_mask), token_ids != 0)
    padded = layer(embedding(pad_right(token_ids, 9)), image)
    assert tuple(padded.shape) == (2, 9, 8)
    assert_allclose(padded[:, :3], outputs[:, :3])
    np.testing.assert_array_equal(
        _numpy(padded._keras_mask), pad_right(token_ids, 9) != 0
    )
    # An explicit text_mask gives the same outputs as the Keras mask.
    explicit = layer(embedding.call(token_ids), image, text_mask=token_ids != 0)
    assert_allclose(explicit, outputs)


def test_cross_modal_attention_config_round_trip():
    text, image = _text_and_patches()
    layer = CrossModalAttention(num_heads=2, key_dim=4, dropout=0.1, name="xattn")
    expected = layer(text, image)
    config = layer.get_config()
    assert config["num_heads"] == 2 and config["key_dim"] == 4
    assert config["dropout"] == 0.1
    restored = CrossModalAttention.from_config(config)
    restored(text, image)
    restored.set_weights(layer.get_weights())
    assert restored.get_config() == config
    assert_allclose(restored(text, image), expected)


def test_cross_modal_attention_keras_file_round_trip(tmp_path):
    token_ids = pad_right([[3, 1, 4], [1, 5, 9]], 5)
    _, image = _text_and_patches()
    tokens_in, image_in = keras.Input((5,), dtype="int32"), keras.Input((9, 12))
    x = keras.layers.Embedding(10, 8, mask_zero=True)(tokens_in)
    x, scores = CrossModalAttention(2, 4)(x, image_in, return_attention_scores=True)
    assert tuple(scores.shape) == (None, 2, 5, 9)
    model = keras.Model([tokens_in, image_in], [AttentionPooling(4)(x), scores])
    assert_keras_file_round_trip(model, [token_ids, image], tmp_path)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_cross_modal_attention_mixed_precision(policy):
    keras.config.set_dtype_policy(policy)
    token_ids = pad_right([[3, 1, 4], [1, 5, 9]], 5)
    text = keras.layers.Embedding(10, 8, mask_zero=True)(token_ids)
    _, image = _text_and_patches()
    layer = CrossModalAttention(2, 4)
    outputs, scores = layer(text, image * 100.0, return_attention_scores=True)
    compute_dtype = policy.split("_")[1]
    assert keras.backend.standardize_dtype(outputs.dtype) == compute_dtype
    for x in (outputs, scores):
        assert np.all(np.isfinite(_numpy(keras.ops.cast(x, "float32"))))
    np.testing.assert_array_equal(_numpy(outputs._keras_mask), token_ids != 0)
