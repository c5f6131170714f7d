"""Checksums: a preset whose weights or vocabulary changed after saving is
refused, wherever the change is; one saved without checksums loads, warned."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from keras_ctxmem.preprocessing import TextPreprocessor
from keras_ctxmem.preset_files import UnsafePresetError, verify_checksums
from keras_ctxmem.zoo import LSTMClassifier, load_preset
from keras_ctxmem.zoo.presets import trained_presets


@pytest.fixture
def preset(tmp_path):
    preprocessor = TextPreprocessor.from_corpus(
        ["a good film", "a bad film"], vocabulary_size=60, sequence_length=8
    )
    model = LSTMClassifier.from_preset(
        "lstm_tiny", num_classes=2, preprocessor=preprocessor
    )
    model.save_to_preset(tmp_path / "p")
    return tmp_path / "p"


def metadata(directory):
    return json.loads((directory / "metadata.json").read_text())


def flip_one_bit(path, offset):
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x10
    path.write_bytes(bytes(data))


def test_saved_presets_list_a_sha256_per_file(preset):
    # All but config.json and metadata.json: keras-hub's task layout.
    assert set(metadata(preset)["sha256"]) == {
        "model.weights.h5",
        "task.json",
        "task.weights.h5",
        "preprocessor.json",
        "tokenizer.json",
        "assets/tokenizer/vocabulary.txt",
    }


@pytest.mark.parametrize("where", [0.5, 0.9, -1])
def test_a_bit_flipped_weights_file_is_refused(preset, where):
    weights = preset / "model.weights.h5"
    flip_one_bit(weights, int(where * weights.stat().st_size))
    for load in (load_preset, LSTMClassifier.from_preset):
        with pytest.raises(ValueError, match="model.weights.h5 does not match its SHA"):
            load(str(preset))
    # Without weights the architecture still loads.
    assert LSTMClassifier.from_preset(str(preset), load_weights=False)


def test_a_changed_vocabulary_or_a_missing_file_is_refused(preset):
    vocabulary = preset / "assets" / "tokenizer" / "vocabulary.txt"
    vocabulary.write_text(vocabulary.read_text().replace("good", "gold"))
    with pytest.raises(ValueError, match="vocabulary.txt does not match"):
        load_preset(str(preset))
    vocabulary.unlink()
    with pytest.raises(ValueError, match="vocabulary.txt is listed .* but missing"):
        load_preset(str(preset))


@pytest.mark.parametrize(
    "sha256", [{"../../etc/passwd": "00"}, {"/etc/passwd": "00"}, ["x"], {"a": 1}]
)
def test_checksum_entries_cannot_name_other_files(preset, sha256):
    meta = metadata(preset)
    meta["sha256"] = sha256
    (preset / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises((UnsafePresetError, ValueError)) as raised:
        load_preset(str(preset))
    assert "root:" not in str(raised.value)


def test_a_preset_without_checksums_loads_with_a_warning(preset):
    expected = load_preset(str(preset)).get_weights()
    meta = metadata(preset)
    del meta["sha256"]
    (preset / "metadata.json").write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="no checksums"):
        loaded = load_preset(str(preset))
    for a, b in zip(loaded.get_weights(), expected, strict=True):
        np.testing.assert_array_equal(a, b)
    os.remove(preset / "metadata.json")
    with pytest.warns(UserWarning, match="no checksums"):
        load_preset(str(preset))


def test_every_shipped_preset_has_matching_checksums():
    shipped = trained_presets()
    assert shipped
    for directory in shipped.values():
        assert "model.weights.h5" in metadata(Path(directory))["sha256"]
        verify_checksums(directory)
