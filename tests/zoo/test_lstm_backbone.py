"""`LSTMBackbone` and the LSTM tasks on it: keras-hub loads their presets, padding
leaves the states alone, and presets saved by version 0.1 (and the shipped
ones) load with the logits they had."""

import json
import os

import keras
import keras_hub
import numpy as np
import pytest

import keras_ctxmem
from keras_ctxmem.preprocessing import TextPreprocessor
from keras_ctxmem.zoo import (
    AttentiveLSTMClassifier,
    LSTMBackbone,
    LSTMClassifier,
    create_model,
    load_preset,
)
from tests.helpers import assert_allclose, pad_right

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures")
SHIPPED = os.path.join(os.path.dirname(keras_ctxmem.__file__), "presets")
TOKENS = np.array([[5, 9, 3, 7, 0, 0], [4, 4, 8, 1, 2, 0], [6, 0, 0, 0, 0, 0]], "int32")
VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "charming"]
VOCABULARY += ["film", "dull", "and", "warm", "cold"]
TEXTS = ["a charming film", "a dull film", "charming and warm", "dull and cold"]


def tiny_preprocessor():
    return TextPreprocessor(vocabulary=VOCABULARY, sequence_length=8)


def predict(model, inputs):
    return model.predict(inputs, verbose=0)


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_backbone_states_and_padding_invariance(bidirectional, num_layers):
    backbone = create_model(
        "lstm_tiny",
        model_class=LSTMBackbone,
        vocabulary_size=20,
        num_layers=num_layers,
        bidirectional=bidirectional,
    )
    assert isinstance(backbone, keras_hub.models.Backbone)
    states = predict(backbone, TOKENS)
    assert states.shape == (3, 6, 32 if bidirectional else 16)
    padded = predict(backbone, pad_right(TOKENS, 40))
    real = TOKENS != 0
    assert_allclose(padded[:, :6][real], states[real])
    # Called eagerly, the states carry the padding mask out.
    mask = backbone(TOKENS)._keras_mask
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(mask), real)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_final_states_are_the_lstm_final_states(bidirectional):
    backbone = LSTMBackbone(
        vocabulary_size=20, embedding_dim=8, hidden_dim=8, bidirectional=bidirectional
    )
    states = backbone(TOKENS)
    final = backbone.final_states(states, TOKENS != 0)
    # The same LSTM returning its final state only (what `pooling="last"` was).
    lstm = keras.layers.LSTM(8)
    if bidirectional:
        lstm = keras.layers.Bidirectional(lstm)
    embedded = backbone.embedding(TOKENS)
    lstm(embedded, mask=TOKENS != 0)
    lstm.set_weights(backbone.lstm_layers[-1].get_weights())
    assert_allclose(final, lstm(embedded, mask=TOKENS != 0))


@pytest.fixture
def classifier_preset(tmp_path):
    model = create_model(
        "lstm_tiny",
        vocabulary_size=len(VOCABULARY),
        num_classes=2,
        pooling="max",
        preprocessor=tiny_preprocessor(),
        label_names=["negative", "positive"],
    )
    directory = str(tmp_path / "classifier")
    model.save_to_preset(directory)
    return model, directory


def test_keras_hub_loads_an_lstm_classifier_preset(classifier_preset):
    model, directory = classifier_preset
    assert isinstance(model, keras_hub.models.TextClassifier)
    assert {"task.json", "task.weights.h5", "preprocessor.json"} <= set(
        os.listdir(directory)
    )
    with open(os.path.join(directory, "config.json")) as f:
        assert json.load(f)["registered_name"] == "keras_ctxmem>LSTMBackbone"
    expected = predict(model, TOKENS)
    hub_task_from_preset = keras_hub.models.Task.from_preset.__func__
    for loaded in (
        keras_hub.models.TextClassifier.from_preset(directory),
        hub_task_from_preset(LSTMClassifier, directory),
        LSTMClassifier.from_preset(directory),
        load_preset(directory),
    ):
        assert type(loaded) is LSTMClassifier
        assert loaded.pooling == "max"
        assert loaded.label_names == ["negative", "positive"]
        assert_allclose(predict(loaded, TOKENS), expected)
        assert_allclose(predict(loaded, TEXTS), predict(model, TEXTS))
    backbone = keras_hub.models.Backbone.from_preset(directory)
    assert type(backbone) is LSTMBackbone
    assert_allclose(predict(backbone, TOKENS), predict(model.backbone, TOKENS))
    assert_allclose(
        predict(LSTMBackbone.from_preset(directory), TOKENS), predict(backbone, TOKENS)
    )


def test_keras_hub_new_head_keeps_the_lstm_backbone(classifier_preset):
    model, directory = classifier_preset
    loaded = keras_hub.models.TextClassifier.from_preset(directory, num_classes=3)
    assert type(loaded) is LSTMClassifier and loaded.num_classes == 3
    assert predict(loaded, TOKENS).shape == (3, 3)
    assert_allclose(predict(loaded.backbone, TOKENS), predict(model.backbone, TOKENS))
    history = loaded.fit(TEXTS, np.array([0, 1, 2, 0]), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_tasks_build_on_an_lstm_backbone_preset(tmp_path):
    backbone = LSTMBackbone(vocabulary_size=30, embedding_dim=8, hidden_dim=8)
    backbone.save_to_preset(tmp_path / "zoo")
    # keras-hub's own saver writes a backbone preset the zoo loads too.
    keras_hub.models.Backbone.save_to_preset(backbone, str(tmp_path / "hub"))
    expected = predict(backbone, TOKENS)
    for directory in (str(tmp_path / "zoo"), str(tmp_path / "hub")):
        loaded = keras_hub.models.Backbone.from_preset(directory)
        assert type(loaded) is LSTMBackbone
        assert_allclose(predict(loaded, TOKENS), expected)
        for cls in (LSTMClassifier, AttentiveLSTMClassifier):
            task = cls.from_preset(directory, num_classes=4)
            assert type(task) is cls and predict(task, TOKENS).shape == (3, 4)
            assert_allclose(predict(task.backbone, TOKENS), expected)


def test_attentive_lstm_presets_load_as_saved(tmp_path):
    model = create_model(
        "attentive_lstm_tiny",
        vocabulary_size=len(VOCABULARY),
        num_classes=3,
        preprocessor=tiny_preprocessor(),
    )
    assert isinstance(model, keras_hub.models.Task)
    model.save_to_preset(tmp_path)
    expected = predict(model, TOKENS)
    hub_task_from_preset = keras_hub.models.Task.from_preset.__func__
    for loaded in (
        load_preset(str(tmp_path)),
        AttentiveLSTMClassifier.from_preset(str(tmp_path)),
        hub_task_from_preset(AttentiveLSTMClassifier, str(tmp_path)),
    ):
        assert type(loaded) is AttentiveLSTMClassifier
        assert_allclose(predict(loaded, TOKENS), expected)
        assert_allclose(
            loaded.attention_weights(TOKENS), model.attention_weights(TOKENS)
        )
    backbone = keras_hub.models.Backbone.from_preset(str(tmp_path))
    assert_allclose(predict(backbone, TOKENS), predict(model.backbone, TOKENS))
    # keras-hub's TextClassifier for this backbone is LSTMClassifier: a new head.
    classifier = keras_hub.models.TextClassifier.from_preset(str(tmp_path))
    assert type(classifier) is LSTMClassifier
    assert_allclose(predict(classifier.backbone, TOKENS), predict(backbone, TOKENS))


def test_the_sizes_still_build_a_classifier_without_a_backbone():
    model = LSTMClassifier(
        vocabulary_size=30, embedding_dim=8, hidden_dim=8, num_layers=2, dropout=0.2
    )
    backbone = model.backbone
    assert (backbone.vocabulary_size, backbone.num_layers) == (30, 2)
    assert backbone.dropout == 0.2 and model.dropout == 0.2
    same = LSTMClassifier(backbone, vocabulary_size=30)  # agreeing sizes: fine
    assert same.backbone is backbone
    with pytest.raises(ValueError, match="The backbone has `hidden_dim=8`"):
        LSTMClassifier(backbone, hidden_dim=16)
    with pytest.raises(ValueError, match="keyword arguments .*Received: 30"):
        LSTMClassifier(30)
    with pytest.raises(ValueError, match="`vocabulary_size=...`"):
        AttentiveLSTMClassifier()


@pytest.mark.parametrize(
    "name, cls",
    [
        ("lstm_classifier_v0_1", LSTMClassifier),
        ("attentive_lstm_classifier_v0_1", AttentiveLSTMClassifier),
    ],
)
def test_a_preset_saved_by_version_0_1_loads_and_upgrades(name, cls, tmp_path):
    # Saved by 0.1: one flat configuration and one weights file, no backbone.
    directory = os.path.join(FIXTURES, name)
    with open(directory + ".expected.json") as f:
        expected = json.load(f)
    token_ids = np.array(expected["token_ids"], "int32")
    logits = np.array(expected["logits"], "float32")
    text_logits = np.array(expected["text_logits"], "float32")
    for model in (cls.from_preset(directory), load_preset(directory)):
        assert type(model) is cls
        assert_allclose(predict(model, token_ids), logits)
        assert_allclose(predict(model, expected["texts"]), text_logits)
    if "attention_weights" in expected:
        weights = np.array(expected["attention_weights"], "float32")
        assert_allclose(model.attention_weights(token_ids), weights)
    # Saved again, it is in keras-hub's layout and keras-hub loads it.
    model.save_to_preset(tmp_path / "upgraded")
    upgraded = str(tmp_path / "upgraded")
    assert os.path.exists(os.path.join(upgraded, "task.json"))
    assert_allclose(predict(load_preset(upgraded), token_ids), logits)
    backbone = keras_hub.models.Backbone.from_preset(upgraded)
    assert_allclose(predict(backbone, token_ids), predict(model.backbone, token_ids))
    if cls is LSTMClassifier:
        hub = keras_hub.models.TextClassifier.from_preset(upgraded)
        assert_allclose(predict(hub, token_ids), logits)


def test_the_shipped_lstm_presets_keep_their_outputs():
    # Logits and masked-LM scores recorded with version 0.1's classes and files.
    with open(os.path.join(FIXTURES, "shipped_lstm_outputs.json")) as f:
        expected = json.load(f)
    texts = np.array(expected["texts"], dtype=object)
    for name in ("sst2_sentiment", "ag_news_topic"):
        directory = os.path.join(SHIPPED, name)
        # Saved again in keras-hub's layout: keras-hub loads them too.
        for model in (
            load_preset(directory),
            keras_hub.models.TextClassifier.from_preset(directory),
        ):
            assert type(model) is LSTMClassifier
            assert_allclose(predict(model, texts), np.array(expected[name]))
    masked_lm = load_preset(os.path.join(SHIPPED, "sst2_lstm_masked_lm"))
    inputs = {
        "token_ids": np.array(expected["masked_lm_token_ids"], "int32"),
        "mask_positions": np.array(expected["masked_lm_positions"], "int32"),
    }
    scores = predict(masked_lm, inputs)[:, :, :50]  # the first 50 ids'
    assert_allclose(scores, np.array(expected["sst2_lstm_masked_lm"]))
