"""Hub handles go through keras-hub's loader, checked; keras-hub uploads our presets.

No network: keras-hub's `get_file` is pointed at local folders laid out like a
Hugging Face cache (a snapshot of symbolic links), and its upload clients are
replaced by recorders.
"""

import json
import os
import types

import keras_hub
import numpy as np
import pytest
from keras_hub.src.utils import preset_utils

from keras_ctxmem import cli
from keras_ctxmem.preprocessing import TextPreprocessor
from keras_ctxmem.preset_files import UnsafePresetError
from keras_ctxmem.zoo import (
    LSTMClassifier,
    TransformerClassifier,
    create_model,
    load_preset,
)
from keras_ctxmem.zoo.hub import is_handle, upload_preset
from tests.helpers import assert_allclose

FIXTURE = os.path.join(
    os.path.dirname(os.path.dirname(__file__)),
    "fixtures",
    "transformer_classifier_v0_1",
)
TOKENS = np.array([[5, 9, 3, 7, 0, 0], [4, 4, 8, 1, 2, 0]], "int32")
TEXTS = ["a charming film", "a dull film"]
VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "charming"]
VOCABULARY += ["film", "dull", "and", "warm"]


class FakeHub:
    """keras-hub's `get_file` for some handles, each served from a folder."""

    def __init__(self, monkeypatch, cache):
        self.repos, self.requests, self.cache = {}, [], str(cache)
        original = preset_utils.get_file

        def get_file(preset, path):
            if preset not in self.repos:
                return original(preset, path)
            self.requests.append(path)
            source = os.path.join(self.repos[preset], path)
            if not os.path.isfile(source):
                raise FileNotFoundError(f"`{path}` doesn't exist in `{preset}`.")
            # Like huggingface_hub: a link in a snapshot folder to a blob.
            link = os.path.join(self.cache, preset.replace("://", "_"), path)
            os.makedirs(os.path.dirname(link), exist_ok=True)
            if not os.path.lexists(link):
                os.symlink(os.path.abspath(source), link)
            return link

        monkeypatch.setattr(preset_utils, "get_file", get_file)

    def add(self, handle, directory):
        self.repos[handle] = str(directory)
        return handle


@pytest.fixture
def hub(monkeypatch, tmp_path):
    return FakeHub(monkeypatch, tmp_path / "cache")


@pytest.fixture
def classifier(tmp_path):
    preprocessor = TextPreprocessor(vocabulary=VOCABULARY, sequence_length=8)
    model = create_model("transformer_tiny", num_classes=3, preprocessor=preprocessor)
    model.save_to_preset(tmp_path / "classifier")
    return model, str(tmp_path / "classifier")


def test_handles_are_told_from_paths_and_names():
    assert is_handle("hf://owner/name") and is_handle("kaggle://o/m/keras/v")
    assert not is_handle("transformer_tiny") and not is_handle("runs/x/preset")
    assert not is_handle(None)


def test_from_preset_downloads_a_handle_through_keras_hub(hub, classifier):
    model, directory = classifier
    handle = hub.add("hf://me/tiny_classifier", directory)
    expected = model.predict(TOKENS, verbose=0)
    for loaded in (
        TransformerClassifier.from_preset(handle),
        load_preset(handle),
        keras_hub.models.TextClassifier.from_preset(handle),
    ):
        assert type(loaded) is TransformerClassifier
        assert_allclose(loaded.predict(TOKENS, verbose=0), expected)
        assert_allclose(
            loaded.predict(TEXTS, verbose=0), model.predict(TEXTS, verbose=0)
        )
    assert "assets/tokenizer/vocabulary.txt" in hub.requests
    assert "task.weights.h5" in hub.requests


def test_ctxmem_predicts_with_a_handle(hub, classifier, capsys):
    _, directory = classifier
    handle = hub.add("hf://me/tiny_classifier", directory)
    assert cli.main(["predict", handle, "a charming film"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("\ta charming film")


def test_a_kaggle_handle_to_a_version_0_1_preset(hub, tmp_path):
    model = LSTMClassifier.from_preset("lstm_tiny", vocabulary_size=30)
    model.save_to_preset(tmp_path / "lstm")
    handle = hub.add("kaggle://me/lstm/keras/tiny", tmp_path / "lstm")
    loaded = LSTMClassifier.from_preset(handle)
    assert_allclose(loaded.predict(TOKENS, verbose=0), model.predict(TOKENS))
    fixture = TransformerClassifier.from_preset(hub.add("hf://me/fixture", FIXTURE))
    local = TransformerClassifier.from_preset(FIXTURE)
    assert_allclose(fixture.predict(TOKENS, verbose=0), local.predict(TOKENS))


def test_a_changed_file_on_the_hub_is_refused(hub, classifier):
    _, directory = classifier
    with open(os.path.join(directory, "assets/tokenizer/vocabulary.txt"), "a") as f:
        f.write("extra\n")
    handle = hub.add("hf://me/changed", directory)
    message = "hf://me/changed/assets/tokenizer/vocabulary.txt does not match"
    with pytest.raises(ValueError, match=message):
        TransformerClassifier.from_preset(handle)


def test_a_listed_path_outside_the_preset_is_never_requested(hub, classifier):
    _, directory = classifier
    path = os.path.join(directory, "metadata.json")
    with open(path) as f:
        metadata = json.load(f)
    metadata["sha256"]["../../outside.txt"] = "0" * 64
    with open(path, "w") as f:
        json.dump(metadata, f)
    with pytest.raises(UnsafePresetError, match="without '..'"):
        TransformerClassifier.from_preset(hub.add("hf://me/escape", directory))
    assert not any(".." in request for request in hub.requests)


def test_a_handle_without_a_preset_is_named(hub, tmp_path):
    handle = hub.add("hf://me/empty", tmp_path)
    with pytest.raises(ValueError, match="'hf://me/empty' is not a preset"):
        load_preset(handle)


def test_a_file_on_the_hub_that_is_not_regular_is_refused(hub, classifier):
    _, directory = classifier
    os.remove(os.path.join(directory, "task.weights.h5"))
    os.mkfifo(os.path.join(directory, "task.weights.h5"))
    hub.repos["hf://me/fifo"] = directory
    original = preset_utils.get_file

    def get_file(preset, path):  # the FIFO is served as it is
        if path == "task.weights.h5":
            return os.path.join(directory, path)
        return original(preset, path)

    preset_utils.get_file = get_file
    try:
        with pytest.raises(UnsafePresetError, match="not a regular file"):
            TransformerClassifier.from_preset("hf://me/fifo")
    finally:
        preset_utils.get_file = original


def test_paths_and_names_do_not_go_to_the_hub(monkeypatch, classifier):
    def no_download(preset, path):
        raise AssertionError(f"downloaded {path} of {preset}")

    monkeypatch.setattr(preset_utils, "get_file", no_download)
    model, directory = classifier
    loaded = TransformerClassifier.from_preset(directory)
    assert_allclose(loaded.predict(TOKENS, verbose=0), model.predict(TOKENS))
    assert type(load_preset("sst2_sentiment")) is LSTMClassifier
    with pytest.warns(DeprecationWarning, match="create_model"):
        TransformerClassifier.from_preset("transformer_tiny", vocabulary_size=20)


@pytest.fixture
def uploads(monkeypatch):
    """keras-hub's Hugging Face and Kaggle clients, recording what is sent."""
    sent = []

    def upload_folder(repo_id, folder_path):
        sent.append((f"hf://{repo_id}", sorted(os.listdir(folder_path))))

    fake_hf = types.SimpleNamespace(
        create_repo=lambda repo_id, exist_ok: types.SimpleNamespace(repo_id=repo_id),
        file_exists=lambda repo_id, filename: False,
        upload_folder=upload_folder,
    )
    fake_kaggle = types.SimpleNamespace(
        model_upload=lambda handle, folder: sent.append(
            (f"kaggle://{handle}", sorted(os.listdir(folder)))
        )
    )
    monkeypatch.setattr(preset_utils, "huggingface_hub", fake_hf)
    monkeypatch.setattr(preset_utils, "kagglehub", fake_kaggle)
    return sent


def test_keras_hub_uploads_zoo_presets(uploads, classifier):
    _, directory = classifier
    keras_hub.upload_preset("hf://me/tiny_classifier", directory)
    keras_hub.upload_preset("kaggle://me/fixture/keras/v0_1", FIXTURE)
    upload_preset("kaggle://me/sst2/keras/sentiment", "sst2_sentiment")
    (hf_uri, hf_files), (kaggle_uri, _), (name_uri, name_files) = uploads
    assert hf_uri == "hf://me/tiny_classifier"
    # keras-hub wrote a model card for the upload, then removed it.
    assert "README.md" in hf_files and "task.json" in hf_files
    assert "README.md" not in os.listdir(directory)
    assert kaggle_uri == "kaggle://me/fixture/keras/v0_1"
    assert name_uri == "kaggle://me/sst2/keras/sentiment"
    assert "model.weights.h5" in name_files


def test_upload_preset_refuses_a_changed_preset(uploads, classifier):
    _, directory = classifier
    with open(os.path.join(directory, "task.weights.h5"), "ab") as f:
        f.write(b"\0")
    with pytest.raises(ValueError, match="task.weights.h5 does not match"):
        upload_preset("hf://me/changed", directory)
    assert uploads == []
