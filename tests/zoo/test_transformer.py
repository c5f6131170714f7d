import numpy as np
import pytest

from keras_ctxmem.zoo import (
    TransformerClassifier,
    TransformerTokenClassifier,
)
from tests.helpers import (
    assert_allclose,
    assert_keras_file_round_trip,
    marker_task,
    pad_right,
)

TINY = {"vocabulary_size": 50, "max_sequence_length": 64}
TOKENS = np.array([[5, 9, 3, 7, 2, 0, 0, 0, 0, 0], [4, 4, 8, 0, 0, 0, 0, 0, 0, 0]])


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_classifier_padding_invariance(pooling):
    model = TransformerClassifier.from_preset(
        "transformer_tiny", num_classes=3, pooling=pooling, **TINY
    )
    short = model.predict(TOKENS, verbose=0)
    assert short.shape == (2, 3)
    assert short.dtype == np.float32
    assert_allclose(model.predict(pad_right(TOKENS, 50), verbose=0), short)


def test_last_pooling_reads_the_last_real_token():
    model = TransformerClassifier.from_preset(
        "transformer_tiny", pooling="last", dropout=0.0, **TINY
    )
    changed = TOKENS.copy()
    changed[1, 2] = 9  # the last real token of row 1
    before, after = model.predict(TOKENS, verbose=0), model.predict(changed, verbose=0)
    assert_allclose(after[0], before[0])
    assert np.abs(after[1] - before[1]).max() > 1e-4


def test_unknown_pooling_is_named():
    with pytest.raises(ValueError, match="pooling"):
        TransformerClassifier.from_preset("transformer_tiny", pooling="max")


def test_classifier_keras_file_round_trip(tmp_path):
    model = TransformerClassifier.from_preset("transformer_tiny", **TINY)
    restored = assert_keras_file_round_trip(model, TOKENS, tmp_path)
    assert isinstance(restored, TransformerClassifier)
    assert restored.get_config() == model.get_config()


def test_token_classifier_keras_file_round_trip(tmp_path):
    model = TransformerTokenClassifier.from_preset("transformer_tiny", **TINY)
    assert_keras_file_round_trip(model, TOKENS, tmp_path)


def test_classifier_learns_with_xla():
    token_ids, labels = marker_task(1024, vocabulary_size=50)
    model = TransformerClassifier.from_preset(
        "transformer_tiny", pooling="mean", **TINY
    )
    model.compile(jit_compile=True)
    assert model.jit_compile is True
    history = model.fit(token_ids, labels, batch_size=32, epochs=6, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    test_ids, test_labels = marker_task(256, vocabulary_size=50, seed=1)
    _, accuracy = model.evaluate(test_ids, test_labels, verbose=0)
    assert accuracy > 0.9


def test_token_classifier_ignores_labels_of_minus_one():
    rng = np.random.default_rng(0)
    token_ids = rng.integers(1, 50, size=(512, 8)).astype("int32")
    token_ids[:, 6:] = 0
    labels = (token_ids % 3).astype("int32")  # tag = token id mod 3
    labels[token_ids == 0] = -1
    model = TransformerTokenClassifier.from_preset(
        "transformer_tiny", num_classes=3, **TINY
    )
    model.compile()
    history = model.fit(token_ids, labels, batch_size=32, epochs=8, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    # The loss is the mean cross-entropy over labelled positions only.
    logits = model.predict(token_ids, verbose=0)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    real = labels != -1
    expected = -np.take_along_axis(log_probs, np.maximum(labels, 0)[..., None], -1)
    loss = model.evaluate(token_ids, labels, verbose=0)[0]
    assert loss == pytest.approx(expected[..., 0][real].mean(), rel=1e-3)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_fit(policy):
    import keras

    keras.config.set_dtype_policy(policy)
    token_ids, labels = marker_task(128, vocabulary_size=50)
    model = TransformerClassifier.from_preset("transformer_tiny", **TINY)
    assert model.backbone.encoder_blocks[0].compute_dtype == policy.split("_")[1]
    model.compile()
    history = model.fit(token_ids, labels, batch_size=32, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert model.predict(pad_right(token_ids[:4], 30), verbose=0).dtype == np.float32
