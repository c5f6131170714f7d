"""Presets come from anywhere: bad ones fail early, clearly, and run no code."""

import json
import os

import numpy as np
import pytest

from keras_ctxmem.zoo import LSTMClassifier, TransformerClassifier, load_preset
from tests.helpers import assert_allclose

TOKENS = np.array([[5, 9, 3, 0]])


@pytest.fixture
def preset_dir(tmp_path):
    directory = str(tmp_path / "preset")
    LSTMClassifier.from_preset("lstm_tiny", vocabulary_size=30).save_to_preset(
        directory
    )
    return directory


def edit_config(directory, edit):
    path = os.path.join(directory, "config.json")
    with open(path) as f:
        config = json.load(f)
    edit(config)
    with open(path, "w") as f:
        json.dump(config, f)


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("hidden_dim", -4, "`hidden_dim` must be a positive integer"),
        ("num_layers", 1.5, "`num_layers` must be a positive integer"),
        ("dropout", 1.2, r"`dropout` must be in \[0, 1\)"),
        ("hiden_dim", 8, "hiden_dim"),
    ],
)
def test_bad_config_field_is_named(preset_dir, field, value, message):
    edit_config(preset_dir, lambda c: c["config"].update({field: value}))
    with pytest.raises(ValueError, match=message):
        LSTMClassifier.from_preset(preset_dir)


def test_config_that_is_not_json_is_named(preset_dir):
    with open(os.path.join(preset_dir, "config.json"), "w") as f:
        f.write("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_preset(preset_dir)


def test_code_in_a_preset_is_refused(preset_dir):
    # A Lambda layer would run arbitrary code when loaded.
    edit_config(
        preset_dir,
        lambda c: c.update(
            {"registered_name": None, "class_name": "Lambda", "module": "keras.layers"}
        ),
    )
    with pytest.raises(ValueError, match="not a keras_ctxmem model"):
        load_preset(preset_dir)


def test_truncated_weights_give_a_clear_error(preset_dir):
    path = os.path.join(preset_dir, "model.weights.h5")
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        LSTMClassifier.from_preset(preset_dir)


def test_weights_of_another_shape_give_a_clear_error(preset_dir):
    with pytest.raises(ValueError, match="does not match the configuration"):
        LSTMClassifier.from_preset(preset_dir, hidden_dim=32)


def test_saving_over_a_preset_replaces_it_whole(preset_dir):
    model = LSTMClassifier.from_preset("lstm_tiny", vocabulary_size=30, num_classes=3)
    model.save_to_preset(preset_dir)
    assert_allclose(
        load_preset(preset_dir).predict(TOKENS, verbose=0),
        model.predict(TOKENS, verbose=0),
    )
    assert os.listdir(os.path.dirname(preset_dir)) == ["preset"]  # nothing left over


def test_a_failed_save_leaves_the_old_preset(preset_dir, monkeypatch):
    before = load_preset(preset_dir).predict(TOKENS, verbose=0)
    model = TransformerClassifier.from_preset("transformer_tiny", vocabulary_size=30)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(model, "save_weights", crash)
    with pytest.raises(OSError, match="disk full"):
        model.save_to_preset(preset_dir)
    assert_allclose(load_preset(preset_dir).predict(TOKENS, verbose=0), before)
    assert os.listdir(os.path.dirname(preset_dir)) == ["preset"]
