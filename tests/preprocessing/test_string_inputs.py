"""Task models built with a preprocessor take raw strings, keras-hub style."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ctxmem.preprocessing import TextPreprocessor
from keras_ctxmem.zoo import LSTMClassifier, TransformerClassifier
from tests.helpers import assert_allclose

POSITIVE = ["a charming film", "warm and charming", "a lovely warm story"]
NEGATIVE = ["a dull film", "cold and dull", "a boring cold story"]
TEXTS = (POSITIVE + NEGATIVE) * 20
LABELS = np.array(([1] * 3 + [0] * 3) * 20)


@pytest.fixture
def preprocessor():
    return TextPreprocessor.from_corpus(TEXTS, vocabulary_size=100, sequence_length=10)


@pytest.mark.parametrize(
    "cls,preset",
    [
        (TransformerClassifier, "transformer_tiny"),
        (LSTMClassifier, "lstm_tiny"),
    ],
)
def test_fit_evaluate_predict_on_strings(cls, preset, preprocessor):
    model = cls.from_preset(
        preset, preprocessor=preprocessor, label_names=["neg", "pos"]
    )
    assert model.count_params() > 0
    model.compile()
    history = model.fit(
        TEXTS,
        LABELS,
        batch_size=12,
        epochs=8,
        validation_data=(TEXTS[:6], LABELS[:6]),
        verbose=0,
    )
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.evaluate(TEXTS, LABELS, verbose=0)[1] > 0.9
    dataset = tf.data.Dataset.from_tensor_slices((TEXTS, LABELS)).batch(8)
    assert model.evaluate(dataset, verbose=0)[1] > 0.9
    predictions = model.predict(["a charming film", "a dull film"], verbose=0)
    assert predictions.argmax(-1).tolist() == [1, 0]
    # Strings and the token ids they become give the same answer.
    token_ids = model.preprocessor(["a charming film", "a dull film"])
    assert_allclose(model.predict(token_ids, verbose=0), predictions)


def test_vocabulary_size_comes_from_the_preprocessor(preprocessor):
    model = TransformerClassifier.from_preset(
        "transformer_tiny", preprocessor=preprocessor
    )
    assert model.backbone.vocabulary_size == preprocessor.vocabulary_size


def test_preset_directory_keeps_vocabulary_and_label_names(tmp_path, preprocessor):
    model = TransformerClassifier.from_preset(
        "transformer_tiny", preprocessor=preprocessor, label_names=["neg", "pos"]
    )
    expected = model.predict(["a charming film"], verbose=0)
    model.save_to_preset(str(tmp_path))
    assert (tmp_path / "assets" / "tokenizer" / "vocabulary.txt").exists()
    restored = TransformerClassifier.from_preset(str(tmp_path))
    assert restored.label_names == ["neg", "pos"]
    assert restored.preprocessor.vocabulary == preprocessor.vocabulary
    assert_allclose(restored.predict(["a charming film"], verbose=0), expected)


def test_keras_file_keeps_the_preprocessor(tmp_path, preprocessor):
    model = LSTMClassifier.from_preset("lstm_tiny", preprocessor=preprocessor)
    expected = model.predict(["a charming film"], verbose=0)
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    assert_allclose(restored.predict(["a charming film"], verbose=0), expected)


def test_empty_text_gives_a_defined_output(preprocessor):
    model = TransformerClassifier.from_preset(
        "transformer_tiny", preprocessor=preprocessor
    )
    assert np.isfinite(model.predict(["", "a film"], verbose=0)).all()


def test_strings_without_preprocessor_or_by_direct_call_are_refused(preprocessor):
    bare = TransformerClassifier.from_preset("transformer_tiny")
    with pytest.raises(ValueError, match="no preprocessor"):
        bare.predict(["a film"], verbose=0)
    model = TransformerClassifier.from_preset(
        "transformer_tiny", preprocessor=preprocessor
    )
    with pytest.raises(ValueError, match="does not preprocess strings"):
        model(["a film"])
