import warnings

import keras
import numpy as np
import pytest

from keras_ctxmem.zoo import MultimodalFusionClassifier
from tests.helpers import assert_allclose, assert_keras_file_round_trip, pad_right

FUSIONS = ["concat", "gated", "film", "cross_attention"]
SMALL = {
    "vocabulary_size": 32,
    "image_shape": (16, 16, 3),
    "embedding_dim": 16,
    "hidden_dim": 16,
    "patch_size": 4,
    "num_heads": 2,
}


def _model(fusion, **overrides):
    return MultimodalFusionClassifier(**{**SMALL, "fusion": fusion, **overrides})


def _inputs(batch=3, length=6, seed=0, image_shape=(16, 16, 3)):
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(1, 32, size=(batch, length)).astype("int32")
    lengths = rng.integers(1, length + 1, size=batch)
    token_ids[np.arange(length)[None, :] >= lengths[:, None]] = 0
    image = rng.uniform(size=(batch, *image_shape)).astype("float32")
    return {"token_ids": token_ids, "image": image}


def _perturb_film(model):
    """FiLM starts as the identity (the image is ignored): move it off that."""
    if model.fusion == "film":
        film = model.get_layer("fusion")
        rng = np.random.default_rng(0)
        film.set_weights(
            [w + rng.normal(scale=0.1, size=w.shape) for w in film.get_weights()]
        )


def _xor_task(n, seed):
    """Label = (the text holds token 5) XOR (the image is bright)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 9, size=n)
    token_ids = rng.integers(6, 32, size=(n, 8)).astype("int32")
    has_five = rng.integers(0, 2, size=n).astype(bool)
    where = rng.integers(0, lengths)
    token_ids[has_five, where[has_five]] = 5
    token_ids[np.arange(8)[None, :] >= lengths[:, None]] = 0
    bright = rng.integers(0, 2, size=n).astype(bool)
    low = np.where(bright, 0.55, 0.0)[:, None, None, None]
    image = (low + 0.45 * rng.uniform(size=(n, 16, 16, 3))).astype("float32")
    labels = (has_five ^ bright).astype("int32")
    return {"token_ids": token_ids, "image": image}, labels


@pytest.mark.parametrize("fusion", FUSIONS)
def test_output_shape_dtype_and_padding_invariance(fusion):
    model = _model(fusion, num_classes=3)
    _perturb_film(model)
    inputs = _inputs()
    logits = model.predict(
        {**inputs, "token_ids": pad_right(inputs["token_ids"], 10)}, verbose=0
    )
    assert logits.shape == (3, 3)
    assert logits.dtype == np.float32
    padded = model.predict(
        {**inputs, "token_ids": pad_right(inputs["token_ids"], 50)}, verbose=0
    )
    assert_allclose(padded, logits, atol=1e-5, rtol=1e-5)
    # Both modalities reach the logits.
    other_image = {**inputs, "image": inputs["image"][::-1]}
    assert not np.allclose(model.predict(other_image, verbose=0), logits)
    other_text = {**inputs, "token_ids": inputs["token_ids"][::-1]}
    assert not np.allclose(model.predict(other_text, verbose=0), logits)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_keras_file_and_preset_directory_round_trip(fusion, tmp_path):
    model = _model(fusion)
    inputs = _inputs()
    _perturb_film(model)
    restored = assert_keras_file_round_trip(model, inputs, tmp_path)
    assert isinstance(restored, MultimodalFusionClassifier)
    assert restored.get_config() == model.get_config()

    model.save_to_preset(str(tmp_path / "preset"))
    loaded = MultimodalFusionClassifier.from_preset(str(tmp_path / "preset"))
    assert loaded.fusion == fusion
    assert_allclose(loaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0))


def test_named_presets_and_unknown_fusion():
    assert set(MultimodalFusionClassifier.presets) == {
        "multimodal_tiny",
        "multimodal_small",
        "multimodal_base",
    }
    model = MultimodalFusionClassifier.from_preset(
        "multimodal_tiny", fusion="gated", num_classes=3
    )
    assert model.fusion == "gated" and model.vocabulary_size == 1000
    logits = model.predict(_inputs(batch=2, image_shape=(32, 32, 3)), verbose=0)
    assert logits.shape == (2, 3)
    with pytest.raises(ValueError, match="cross_attention"):
        MultimodalFusionClassifier.from_preset("multimodal_tiny", fusion="sum")
    with pytest.raises(ValueError, match="patch_size"):
        _model("concat", image_shape=(18, 16, 3))


def test_attention_weights():
    model = _model("cross_attention")
    inputs = _inputs(length=7)
    scores = model.attention_weights(inputs)
    assert scores.shape == (3, 2, 7, 16)  # (batch, heads, time, patches)
    # Rows of real tokens sum to one over the patches; padded rows are zero.
    real = (inputs["token_ids"] != 0)[:, None, :].astype("float32")
    np.testing.assert_allclose(
        scores.sum(axis=-1), np.broadcast_to(real, (3, 2, 7)), atol=1e-5
    )
    with pytest.raises(ValueError, match="cross_attention"):
        _model("concat").attention_weights(inputs)


@pytest.mark.parametrize("fusion", ["concat", "cross_attention"])
def test_learns_a_task_that_needs_both_modalities(fusion):
    # Neither modality alone beats chance, so the loss plateaus near log(2) until
    # the model combines them (epoch 3-5 of 8 in trials over several seeds).
    x, y = _xor_task(768, seed=0)
    x_test, y_test = _xor_task(256, seed=1)
    model = _model(fusion, dropout=0.0)
    model.compile()  # defaults: AdamW, cross-entropy, accuracy, jit_compile=True
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.9


@pytest.mark.parametrize(
    "policy",
    [pytest.param("mixed_float16", marks=pytest.mark.slow), "mixed_bfloat16"],
)
def test_mixed_precision_fit_step(policy):
    keras.config.set_dtype_policy(policy)
    model = _model("cross_attention")
    assert model.get_layer("fusion").compute_dtype == policy.split("_")[1]
    x, y = _xor_task(8, seed=0)
    model.compile()
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    logits = keras.ops.convert_to_numpy(model(x, training=False))
    assert logits.dtype == np.float32 and np.all(np.isfinite(logits))


@pytest.mark.parametrize("fusion", ["concat", "gated", "film", "cross_attention"])
def test_building_leaves_no_layer_unbuilt(fusion):
    # `concat` and `gated` used to create a pooling layer they never call, and
    # Keras warned about unbuilt state each time one was built.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model = MultimodalFusionClassifier.from_preset(
            "multimodal_tiny", vocabulary_size=50, fusion=fusion
        )
    assert all(layer.built for layer in model._flatten_layers(include_self=False))
