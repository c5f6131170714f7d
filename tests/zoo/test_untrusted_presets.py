"""Presets come from anywhere: bad ones fail early, clearly, and run no code."""

import contextlib
import json
import os

import numpy as np
import pytest
from keras.src.saving import saving_lib

from keras_ctxmem.preset_files import write_checksums
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


# The file a task preset is built from (keras-hub's layout): the task's
# configuration, the backbone's nested in it. `config.json` (the backbone's
# alone) is what keras-hub's `Backbone.from_preset` reads.
MODEL_CONFIG = "task.json"


def edit_config(directory, edit):
    """Applies `edit` to the serialized task in `task.json`."""
    path = os.path.join(directory, MODEL_CONFIG)
    with open(path) as f:
        config = json.load(f)
    edit(config)
    with open(path, "w") as f:
        json.dump(config, f)


def edit_backbone_config(directory, edit):
    """Applies `edit` to the serialized backbone inside `task.json`."""
    edit_config(directory, lambda task: edit(task["config"]["backbone"]))


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
    edit_backbone_config(preset_dir, lambda c: c["config"].update({field: value}))
    write_checksums(preset_dir)  # an attacker's checksums match the files
    with pytest.raises(ValueError, match=message):
        LSTMClassifier.from_preset(preset_dir)


@pytest.mark.parametrize(
    "overrides,message",
    [
        (
            {"vocabulary_size": 10**12},
            "`backbone.config.vocabulary_size` is 1,000,000,000,000",
        ),
        ({"hidden_dim": -(10**9)}, "`backbone.config.hidden_dim` is 1,000,000,000"),
        (
            {"vocabulary_size": 4_000_000, "embedding_dim": 4_000_000},
            "passes 1,073,741,824 elements",
        ),
    ],
)
def test_sizes_no_model_uses_are_refused_before_allocating(
    preset_dir, overrides, message
):
    edit_backbone_config(preset_dir, lambda c: c["config"].update(overrides))
    # Refused while reading the configuration: a 10**12-row embedding would
    # otherwise be allocated before any constructor check could run.
    assert_refused(preset_dir, message)


def test_config_that_is_not_json_is_named(preset_dir):
    with open(os.path.join(preset_dir, MODEL_CONFIG), "w") as f:
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


@pytest.mark.parametrize(
    "registered_name", [["a", "list"], "keras_ctxmem>TokenAccuracy"]
)
def test_a_registered_name_that_is_no_model_is_refused(preset_dir, registered_name):
    edit_config(preset_dir, lambda c: c.update({"registered_name": registered_name}))
    with pytest.raises(ValueError, match="not a keras_ctxmem model"):
        load_preset(preset_dir)
    with pytest.raises(ValueError, match="cannot load"):
        LSTMClassifier.from_preset(preset_dir)


def test_truncated_weights_give_a_clear_error(preset_dir):
    path = os.path.join(preset_dir, "model.weights.h5")
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        LSTMClassifier.from_preset(preset_dir)


def test_weights_of_another_shape_give_a_clear_error(preset_dir):
    edit_backbone_config(preset_dir, lambda c: c["config"].update({"hidden_dim": 32}))
    write_checksums(preset_dir)
    with pytest.raises(ValueError, match="does not match the configuration"):
        LSTMClassifier.from_preset(preset_dir)


def test_sizes_that_contradict_the_backbone_are_named(preset_dir):
    with pytest.raises(ValueError, match="The backbone has `hidden_dim=16`"):
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

    monkeypatch.setattr(saving_lib, "save_weights_only", crash)
    with pytest.raises(OSError, match="disk full"):
        model.save_to_preset(preset_dir)
    assert_allclose(load_preset(preset_dir).predict(TOKENS, verbose=0), before)
    assert os.listdir(os.path.dirname(preset_dir)) == ["preset"]


# === An attacker's preset: it tries to make us read files outside it ===

SECRET = "TOPSECRET-do-not-print"


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text(f"{SECRET}\n[PAD]\n[UNK]\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def text_preset(tmp_path):
    from keras_ctxmem.preprocessing import TextPreprocessor

    preprocessor = TextPreprocessor(
        vocabulary=["[PAD]", "[UNK]", "a", "film"], sequence_length=4
    )
    directory = str(tmp_path / "text_preset")
    LSTMClassifier.from_preset("lstm_tiny", preprocessor=preprocessor).save_to_preset(
        directory
    )
    return directory


def assert_refused(directory, message, secret_text=SECRET):
    # An attacker ships checksums that match the files: the checks behind the
    # checksums must hold on their own.
    with contextlib.suppress(ValueError):
        write_checksums(directory)
    with pytest.raises(ValueError, match=message) as error:
        load_preset(directory)
    assert secret_text not in str(error.value)


def replace_with_link(path, target):
    os.remove(path)
    os.symlink(target, path)


def test_weights_linked_outside_the_preset_are_refused(preset_dir, tmp_path):
    outside = str(tmp_path / "elsewhere.weights.h5")
    weights = os.path.join(preset_dir, "model.weights.h5")
    os.replace(weights, outside)  # valid weights, but not the preset's own
    os.symlink(outside, weights)
    assert_refused(preset_dir, "leads outside the preset directory")


def test_a_link_inside_the_preset_is_fine(preset_dir):
    weights = os.path.join(preset_dir, "model.weights.h5")
    os.replace(weights, os.path.join(preset_dir, "weights.h5"))
    os.symlink("weights.h5", weights)
    load_preset(preset_dir)


def test_vocabulary_linked_outside_is_refused(text_preset, secret):
    vocabulary = os.path.join(text_preset, "assets", "tokenizer", "vocabulary.txt")
    replace_with_link(vocabulary, secret)
    assert_refused(text_preset, "leads outside the preset directory")


def test_a_linked_tokenizer_folder_is_refused(text_preset, tmp_path, secret):
    outside = tmp_path / "outside_assets"
    outside.mkdir()
    os.symlink(secret, outside / "vocabulary.txt")
    assets = os.path.join(text_preset, "assets", "tokenizer")
    import shutil

    shutil.rmtree(assets)
    os.symlink(str(outside), assets)
    assert_refused(text_preset, "leads outside the preset directory")


@pytest.mark.parametrize("file_name", [MODEL_CONFIG, "config.json", "model.weights.h5"])
def test_a_fifo_is_refused_without_blocking(preset_dir, file_name):
    path = os.path.join(preset_dir, file_name)
    os.remove(path)
    os.mkfifo(path)  # reading it would wait forever
    assert_refused(preset_dir, "not a regular file")


@pytest.mark.parametrize("file_name", [MODEL_CONFIG, "config.json", "model.weights.h5"])
def test_dev_zero_is_refused(preset_dir, file_name):
    replace_with_link(os.path.join(preset_dir, file_name), "/dev/zero")
    assert_refused(preset_dir, "leads outside the preset directory")


@pytest.mark.parametrize(
    "vocabulary", ["SECRET", "../../secret.txt", "assets/../../secret.txt"]
)
def test_a_vocabulary_path_in_the_config_is_refused(text_preset, secret, vocabulary):
    vocabulary = secret if vocabulary == "SECRET" else vocabulary
    edit_config(
        text_preset,
        lambda c: c["config"]["preprocessor"]["config"]["tokenizer"]["config"].update(
            {"vocabulary": vocabulary}
        ),
    )
    assert_refused(
        text_preset, "`config.preprocessor.config.tokenizer.config.vocabulary` names a"
    )


@pytest.mark.parametrize("value", ["/etc/passwd", "../../etc/passwd", "a/../../b"])
def test_any_absolute_or_parent_path_in_the_config_is_refused(preset_dir, value):
    edit_config(preset_dir, lambda c: c["config"].update({"label_names": [value, "b"]}))
    assert_refused(preset_dir, r"`config.label_names\[0\]` names a file")


def test_a_huge_config_is_refused_unread(preset_dir):
    with open(os.path.join(preset_dir, MODEL_CONFIG), "w") as f:
        f.truncate(17 * 2**20)  # sparse: no disk used
    assert_refused(preset_dir, "larger than 16 MiB")


def test_invalid_json_is_not_quoted(preset_dir):
    with open(os.path.join(preset_dir, MODEL_CONFIG), "w") as f:
        f.write('{"registered_name": ' + SECRET)
    assert_refused(preset_dir, "not valid JSON")


def test_a_vocabulary_that_is_not_one_is_not_quoted(text_preset):
    vocabulary = os.path.join(text_preset, "assets", "tokenizer", "vocabulary.txt")
    with open(vocabulary, "w") as f:
        f.write(f"{SECRET}\n[PAD]\n")
    assert_refused(text_preset, "must start with")


def add_to_weights(directory, edit):
    import h5py

    with h5py.File(os.path.join(directory, "model.weights.h5"), "a") as f:
        edit(f)


def test_an_hdf5_external_link_is_refused(preset_dir, tmp_path):
    import h5py

    outside = str(tmp_path / "outside.h5")
    with h5py.File(outside, "w") as f:
        f["data"] = np.arange(4.0)
    add_to_weights(
        preset_dir,
        lambda f: f.__setitem__("stolen", h5py.ExternalLink(outside, "data")),
    )
    assert_refused(preset_dir, "HDF5 external link")


def test_an_hdf5_dataset_stored_in_another_file_is_refused(preset_dir, secret):
    add_to_weights(
        preset_dir,
        lambda f: f.require_group("layers").create_dataset(
            "stolen", shape=(8,), dtype="u1", external=[(secret, 0, 8)]
        ),
    )
    assert_refused(preset_dir, "HDF5 external or virtual dataset")


def test_a_trained_preset_name_is_checked_the_same_way(tmp_path, monkeypatch):
    root = tmp_path / "presets"
    directory = str(root / "evil")
    LSTMClassifier.from_preset("lstm_tiny").save_to_preset(directory)
    replace_with_link(os.path.join(directory, "model.weights.h5"), "/dev/zero")
    monkeypatch.setenv("KERAS_CTXMEM_PRESETS", str(root))
    with pytest.raises(ValueError, match="leads outside the preset directory"):
        LSTMClassifier.from_preset("evil")
