import json
import os

import numpy as np
import pytest

from keras_ctxmem.zoo import (
    AttentiveLSTMClassifier,
    LSTMClassifier,
    TransformerBackbone,
    TransformerClassifier,
    TransformerTokenClassifier,
    create_model,
    list_presets,
    model_builder,
)
from tests.helpers import assert_allclose

TOKENS = np.array([[5, 9, 3, 7, 0, 0], [4, 4, 8, 0, 0, 0]])
FAMILIES = ("transformer", "lstm", "attentive_lstm")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def test_every_family_has_tiny_small_base():
    names = set(list_presets())
    for family in FAMILIES:
        assert {f"{family}_{size}" for size in ("tiny", "small", "base")} <= names


def test_class_presets_list_only_their_family():
    configurations = {
        name for name in LSTMClassifier.presets if name in list_presets(trained=False)
    }
    assert configurations == {"lstm_tiny", "lstm_small", "lstm_base"}
    assert {f"transformer_{size}" for size in ("tiny", "small", "base")} <= set(
        TransformerBackbone.presets
    ) & set(TransformerClassifier.presets)


@pytest.mark.parametrize("name", sorted(list_presets()))
def test_every_preset_has_a_model_card(name):
    assert os.path.exists(os.path.join(REPO, "zoo", f"{name}.md")), name


def test_unknown_preset_lists_the_known_names():
    with pytest.raises(ValueError) as error:
        LSTMClassifier.from_preset("lstm_huge")
    assert "lstm_tiny" in str(error.value) and "lstm_base" in str(error.value)


def test_preset_of_another_family_is_refused():
    with pytest.raises(ValueError, match="Unknown preset 'lstm_tiny'"):
        TransformerClassifier.from_preset("lstm_tiny")


def test_overrides_reach_the_config():
    model = TransformerClassifier.from_preset(
        "transformer_tiny", vocabulary_size=77, num_classes=5, dropout=0.2
    )
    assert model.backbone.vocabulary_size == 77
    assert model.num_classes == 5 and model.dropout == 0.2


@pytest.mark.parametrize("family", FAMILIES)
def test_save_to_preset_round_trip(family, tmp_path):
    cls = model_builder(f"{family}_tiny")
    model = create_model(f"{family}_tiny", vocabulary_size=50, num_classes=3)
    expected = model.predict(TOKENS, verbose=0)
    model.save_to_preset(tmp_path)
    # Every family here is a keras-hub task: keras-hub's task files too.
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["config.json", "metadata.json", "model.weights.h5"]
        + ["task.json", "task.weights.h5"]
    )
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert metadata["parameter_count"] == model.count_params()
    restored = cls.from_preset(str(tmp_path))
    assert type(restored) is cls
    assert_allclose(restored.predict(TOKENS, verbose=0), expected)


def test_task_loads_a_backbone_preset_with_a_new_head(tmp_path):
    backbone = TransformerBackbone.from_preset("transformer_tiny", vocabulary_size=50)
    backbone.save_to_preset(tmp_path)
    for cls in (TransformerClassifier, TransformerTokenClassifier):
        task = cls.from_preset(str(tmp_path), num_classes=4)
        assert task.num_classes == 4
        for saved, loaded in zip(backbone.weights, task.backbone.weights, strict=False):
            np.testing.assert_array_equal(saved.numpy(), loaded.numpy())


def test_preset_directory_of_another_class_is_refused(tmp_path):
    LSTMClassifier.from_preset("lstm_tiny").save_to_preset(tmp_path)
    with pytest.raises(ValueError, match="holds a `LSTMClassifier`"):
        TransformerClassifier.from_preset(str(tmp_path))


def test_directory_without_config_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no config.json"):
        LSTMClassifier.from_preset(str(tmp_path))


def test_keras_file_keeps_the_compile_settings(tmp_path):
    import keras

    model = LSTMClassifier.from_preset("lstm_tiny", vocabulary_size=50)
    model.compile(optimizer=keras.optimizers.SGD(0.5), jit_compile=False)
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(restored.optimizer, keras.optimizers.SGD)
    assert restored.jit_compile is False


def save_trained(root, name, cls=LSTMClassifier, description="A tiny trained LSTM."):
    """A trained preset as other helpers ship them: with a description."""
    from keras_ctxmem.preprocessing import TextPreprocessor

    vocabulary = ["[PAD]", "[UNK]", "a", "charming", "dull", "film"]
    preprocessor = TextPreprocessor(vocabulary=vocabulary, sequence_length=6)
    model = cls.from_preset(
        f"{cls.preset_family}_tiny", preprocessor=preprocessor, label_names=["n", "p"]
    )
    directory = os.path.join(root, name)
    model.save_to_preset(directory)
    metadata_path = os.path.join(directory, "metadata.json")
    metadata = json.loads(open(metadata_path).read())
    with open(metadata_path, "w") as f:
        json.dump({**metadata, "description": description}, f)
    return model


@pytest.fixture
def trained_root(tmp_path, monkeypatch):
    root = tmp_path / "presets"
    monkeypatch.setenv("KERAS_CTXMEM_PRESETS", str(root))
    return root


def not_packaged(presets):
    """`presets` less the trained presets the package ships."""
    from keras_ctxmem.zoo.presets import PACKAGED_PRESETS, trained_presets

    packaged = trained_presets([PACKAGED_PRESETS])
    return {name: value for name, value in presets.items() if name not in packaged}


def test_a_trained_preset_is_found_by_name_and_flagged(trained_root):
    from keras_ctxmem.zoo import load_preset, preset_info

    model = save_trained(trained_root, "tiny_reviews")
    texts = ["a charming film", "a dull film"]
    expected = model.predict(texts, verbose=0)
    assert not_packaged(list_presets(trained=True)) == {
        "tiny_reviews": "A tiny trained LSTM."
    }
    assert "tiny_reviews" in list_presets() and "lstm_tiny" in list_presets()
    assert "tiny_reviews" not in list_presets(trained=False)
    assert not_packaged(list_presets("lstm", trained=True)) == {
        "tiny_reviews": "A tiny trained LSTM."
    }
    assert not_packaged(list_presets("transformer", trained=True)) == {}
    info = preset_info("tiny_reviews")
    assert info["trained"] and info["family"] == "lstm"
    assert info["class_name"] == "LSTMClassifier"
    assert not preset_info("lstm_tiny")["trained"]
    for restored in (
        load_preset("tiny_reviews"),
        LSTMClassifier.from_preset("tiny_reviews"),
    ):
        assert type(restored) is LSTMClassifier
        assert restored.label_names == ["n", "p"]
        assert restored.preprocessor.vocabulary == model.preprocessor.vocabulary
        assert_allclose(restored.predict(texts, verbose=0), expected)
    assert "tiny_reviews" in LSTMClassifier.presets
    assert "tiny_reviews" not in AttentiveLSTMClassifier.presets
    with pytest.raises(ValueError, match="holds a `LSTMClassifier`"):
        TransformerClassifier.from_preset("tiny_reviews")


def test_trained_preset_search_order_and_hidden_folders(tmp_path, monkeypatch):
    from keras_ctxmem.zoo.presets import PACKAGED_PRESETS, preset_roots, trained_presets

    first, second = tmp_path / "first", tmp_path / "second"
    save_trained(first, "shared_name", description="first")
    save_trained(second, "shared_name", description="second")
    save_trained(second, ".shared_name.staging")  # a save_to_preset in progress
    (second / "not_a_preset").mkdir()
    monkeypatch.setenv(
        "KERAS_CTXMEM_PRESETS", os.pathsep.join(map(str, (first, second)))
    )
    assert preset_roots() == [str(first), str(second), PACKAGED_PRESETS]
    assert trained_presets([second]) == {"shared_name": str(second / "shared_name")}
    assert not_packaged(list_presets(trained=True)) == {"shared_name": "first"}


def test_a_trained_preset_cannot_take_a_configuration_name(trained_root):
    save_trained(trained_root, "lstm_tiny")
    with pytest.raises(ValueError, match="named like the configuration 'lstm_tiny'"):
        list_presets()


def test_load_preset_explains_names_it_cannot_load(trained_root):
    from keras_ctxmem.zoo import load_preset

    save_trained(trained_root, "tiny_reviews")
    with pytest.raises(ValueError, match="configuration without weights"):
        load_preset("lstm_tiny")
    with pytest.raises(ValueError, match="Did you mean 'tiny_reviews'"):
        load_preset("tiny_review")


def test_packaged_presets_are_trained_and_described():
    from keras_ctxmem.zoo.presets import PACKAGED_PRESETS, trained_presets

    for name, directory in trained_presets([PACKAGED_PRESETS]).items():
        files = set(os.listdir(directory))
        assert {"config.json", "metadata.json", "model.weights.h5"} <= files, name
        metadata = json.loads(open(os.path.join(directory, "metadata.json")).read())
        assert metadata.get("description"), name
