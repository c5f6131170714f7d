"""Zoo presets and keras-hub's loader; presets saved by version 0.1 load."""

import json
import os

import keras
import keras_hub
import numpy as np
import pytest

import keras_ctxmem
from keras_ctxmem.preprocessing import TextPreprocessor, TextTokenizer
from keras_ctxmem.zoo import (
    LSTMClassifier,
    TransformerBackbone,
    TransformerClassifier,
    TransformerMaskedLM,
    create_model,
    load_preset,
)
from tests.helpers import assert_allclose

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures")
TOKENS = np.array([[5, 9, 3, 7, 0, 0], [4, 4, 8, 1, 2, 0]], "int32")
TEXTS = ["a charming film", "a dull film", "charming and warm", "dull and cold"]
SHIPPED = os.path.join(os.path.dirname(keras_ctxmem.__file__), "presets")


VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "charming"]
VOCABULARY += ["film", "dull", "and", "warm", "cold"]


def tiny_preprocessor():
    return TextPreprocessor(vocabulary=VOCABULARY, sequence_length=8)


@pytest.fixture
def classifier_preset(tmp_path):
    """A zoo classifier with a vocabulary, and the preset it saved."""
    model = create_model(
        "transformer_tiny",
        num_classes=3,
        preprocessor=tiny_preprocessor(),
        label_names=["a", "b", "c"],
    )
    directory = str(tmp_path / "classifier")
    model.save_to_preset(directory)
    return model, directory


def test_a_zoo_classifier_preset_is_in_keras_hubs_layout(classifier_preset):
    model, directory = classifier_preset
    assert isinstance(model, keras_hub.models.TextClassifier)
    assert sorted(os.listdir(directory)) == [
        "assets",
        "config.json",
        "metadata.json",
        "model.weights.h5",
        "preprocessor.json",
        "task.json",
        "task.weights.h5",
        "tokenizer.json",
    ]
    with open(os.path.join(directory, "config.json")) as f:
        assert json.load(f)["registered_name"] == "keras_ctxmem>TransformerBackbone"
    with open(os.path.join(directory, "metadata.json")) as f:
        checksums = json.load(f)["sha256"]
    # Every file but the two hand-editable JSON files is checksummed.
    assert sorted(checksums) == [
        "assets/tokenizer/vocabulary.txt",
        "model.weights.h5",
        "preprocessor.json",
        "task.json",
        "task.weights.h5",
        "tokenizer.json",
    ]


def test_keras_hub_loads_a_zoo_classifier_preset(classifier_preset):
    model, directory = classifier_preset
    expected = model.predict(TOKENS, verbose=0)
    # keras-hub's Task machinery, from its base class and from ours (whose
    # `from_preset` is the zoo's; `Task.from_preset` itself refuses the base
    # class `Task` for every preset, keras-hub's own included).
    hub_task_from_preset = keras_hub.models.Task.from_preset.__func__
    for loaded in (
        keras_hub.models.TextClassifier.from_preset(directory),
        hub_task_from_preset(TransformerClassifier, directory),
        TransformerClassifier.from_preset(directory),
        load_preset(directory),
    ):
        assert type(loaded) is TransformerClassifier
        assert_allclose(loaded.predict(TOKENS, verbose=0), expected)
        assert loaded.label_names == ["a", "b", "c"]
        # The vocabulary came along: raw strings give the same logits.
        assert_allclose(
            loaded.predict(TEXTS, verbose=0), model.predict(TEXTS, verbose=0)
        )
    backbone = keras_hub.models.Backbone.from_preset(directory)
    assert type(backbone) is TransformerBackbone
    assert_allclose(
        backbone.predict(TOKENS, verbose=0), model.backbone.predict(TOKENS, verbose=0)
    )
    again = TransformerBackbone.from_preset(directory)
    assert_allclose(again.predict(TOKENS, verbose=0), backbone.predict(TOKENS))


def ids_of(layer, texts=TEXTS):
    return keras.ops.convert_to_numpy(layer(texts))


def test_keras_hub_loads_the_tokenizer_and_preprocessor_of_a_preset(
    classifier_preset,
):
    model, directory = classifier_preset
    expected = ids_of(model.preprocessor)
    # keras-hub finds the class by the backbone (`TransformerTokenizer`) and
    # builds what `tokenizer.json` holds.
    for tokenizer in (
        keras_hub.tokenizers.Tokenizer.from_preset(directory),
        TextTokenizer.from_preset(directory),
    ):
        assert type(tokenizer) is TextTokenizer
        assert tokenizer.get_vocabulary() == VOCABULARY
        np.testing.assert_array_equal(ids_of(tokenizer), expected)
    preprocessor = TextPreprocessor.from_preset(directory)
    assert type(preprocessor) is TextPreprocessor
    np.testing.assert_array_equal(ids_of(preprocessor), expected)


def test_keras_hub_loads_the_tokenizer_of_an_lstm_preset(tmp_path):
    model = create_model("lstm_tiny", preprocessor=tiny_preprocessor())
    model.save_to_preset(tmp_path)
    expected = ids_of(model.preprocessor)
    for layer in (
        keras_hub.tokenizers.Tokenizer.from_preset(str(tmp_path)),  # LSTMTokenizer
        TextTokenizer.from_preset(str(tmp_path)),
        TextPreprocessor.from_preset(str(tmp_path)),
    ):
        np.testing.assert_array_equal(ids_of(layer), expected)
    assert_allclose(
        load_preset(str(tmp_path)).predict(TEXTS, verbose=0),
        model.predict(TEXTS, verbose=0),
    )


def test_a_classifier_keras_hub_loaded_fits_without_compile(classifier_preset):
    _, directory = classifier_preset
    classifier = keras_hub.models.TextClassifier.from_preset(directory)
    # Compiled when built, as keras-hub's tasks are, with the zoo's defaults.
    assert isinstance(classifier.optimizer, keras.optimizers.AdamW)
    history = classifier.fit(TEXTS, np.array([0, 1, 2, 0]), epochs=1, verbose=0)
    assert "accuracy" in history.history


def test_keras_hub_new_head_keeps_the_backbone(classifier_preset):
    model, directory = classifier_preset
    # What failed before ("Unrecognized keyword arguments"): keras-hub's loader
    # builds a new head when `num_classes` is given.
    loaded = keras_hub.models.TextClassifier.from_preset(directory, num_classes=2)
    assert loaded.num_classes == 2
    assert loaded.predict(TOKENS, verbose=0).shape == (2, 2)
    assert_allclose(
        loaded.backbone.predict(TOKENS, verbose=0),
        model.backbone.predict(TOKENS, verbose=0),
    )


def test_keras_hub_builds_a_classifier_from_a_masked_lm_preset(tmp_path):
    masked_lm = create_model(
        "transformer_tiny",
        model_class=TransformerMaskedLM,
        preprocessor=tiny_preprocessor(),
    )
    masked_lm.save_to_preset(tmp_path)
    # keras-hub's own fallback: backbone from config.json, preprocessor from
    # preprocessor.json, a new head.
    classifier = keras_hub.models.TextClassifier.from_preset(
        str(tmp_path), num_classes=2
    )
    assert type(classifier) is TransformerClassifier
    assert classifier.predict(TEXTS, verbose=0).shape == (4, 2)
    assert_allclose(
        classifier.backbone.predict(TOKENS, verbose=0),
        masked_lm.backbone.predict(TOKENS, verbose=0),
    )


def test_a_changed_task_file_is_refused(classifier_preset):
    _, directory = classifier_preset
    path = os.path.join(directory, "task.json")
    with open(path) as f:
        task = json.load(f)
    task["config"]["pooling"] = "last"
    with open(path, "w") as f:
        json.dump(task, f)
    with pytest.raises(ValueError, match="task.json does not match its SHA-256"):
        TransformerClassifier.from_preset(directory)


def test_a_shipped_trained_preset_still_loads():
    directory = os.path.join(SHIPPED, "sst2_sentiment")
    model = load_preset(directory)
    assert type(model) is LSTMClassifier
    assert model.predict_labels(["a charming , moving film"])["label"][0] in (
        "positive",
        "negative",
    )
    # Saved before `preprocessor.json`: its preprocessor still loads alone.
    texts = ["a charming , moving film", "dull"]
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(TextPreprocessor.from_preset(directory)(texts)),
        keras.ops.convert_to_numpy(model.preprocessor(texts)),
    )


def test_a_preset_saved_by_version_0_1_loads():
    directory = os.path.join(FIXTURES, "transformer_classifier_v0_1")
    with open(directory + ".expected.json") as f:
        expected = json.load(f)
    token_ids = np.array(expected["token_ids"], "int32")
    for model in (TransformerClassifier.from_preset(directory), load_preset(directory)):
        assert type(model) is TransformerClassifier
        logits = np.array(expected["logits"], "float32")
        assert_allclose(model.predict(token_ids, verbose=0), logits)


def test_a_text_preset_saved_by_version_0_1_loads_and_upgrades(tmp_path):
    # Saved by 0.1 with a vocabulary and checksums: the task in config.json.
    directory = os.path.join(FIXTURES, "transformer_classifier_text_v0_1")
    with open(directory + ".expected.json") as f:
        expected = json.load(f)
    token_ids = np.array(expected["token_ids"], "int32")
    logits = np.array(expected["logits"], "float32")
    text_logits = np.array(expected["text_logits"], "float32")
    for model in (TransformerClassifier.from_preset(directory), load_preset(directory)):
        assert type(model) is TransformerClassifier
        assert model.label_names == ["negative", "positive"]
        assert_allclose(model.predict(token_ids, verbose=0), logits)
        assert_allclose(model.predict(expected["texts"], verbose=0), text_logits)
    # Its preprocessor alone, from the model's configuration.
    preprocessor = TextPreprocessor.from_preset(directory)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(preprocessor(expected["texts"])),
        keras.ops.convert_to_numpy(model.preprocessor(expected["texts"])),
    )
    # Saved again, it is in keras-hub's layout and keras-hub loads it.
    model.save_to_preset(tmp_path / "upgraded")
    upgraded = keras_hub.models.TextClassifier.from_preset(str(tmp_path / "upgraded"))
    assert_allclose(upgraded.predict(token_ids, verbose=0), logits)
    assert_allclose(upgraded.predict(expected["texts"], verbose=0), text_logits)
    tokenizer = keras_hub.tokenizers.Tokenizer.from_preset(str(tmp_path / "upgraded"))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(tokenizer(expected["texts"])),
        keras.ops.convert_to_numpy(model.preprocessor(expected["texts"])),
    )


def test_keras_hub_loads_a_zoo_backbone_preset(tmp_path):
    backbone = create_model(
        "transformer_tiny", model_class=TransformerBackbone, vocabulary_size=50
    )
    assert isinstance(backbone, keras_hub.models.Backbone)
    backbone.save_to_preset(tmp_path)
    loaded = keras_hub.models.Backbone.from_preset(str(tmp_path))
    assert type(loaded) is TransformerBackbone
    assert_allclose(loaded.predict(TOKENS, verbose=0), backbone.predict(TOKENS))
    # And keras-hub's own saver writes a preset the zoo loads.
    keras_hub.models.Backbone.save_to_preset(backbone, str(tmp_path / "hub"))
    again = TransformerBackbone.from_preset(str(tmp_path / "hub"))
    assert_allclose(again.predict(TOKENS, verbose=0), backbone.predict(TOKENS))


def test_a_zoo_backbone_is_still_a_zoo_model():
    backbone = create_model(
        "transformer_tiny", model_class=TransformerBackbone, vocabulary_size=50
    )
    restored = TransformerBackbone.from_config(backbone.get_config())
    assert restored.get_config() == backbone.get_config()
    assert keras.ops.convert_to_numpy(backbone(TOKENS)).shape == (2, 6, 32)
