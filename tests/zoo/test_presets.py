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
    list_presets,
)
from tests.helpers import assert_allclose

TOKENS = np.array([[5, 9, 3, 7, 0, 0], [4, 4, 8, 0, 0, 0]])
FAMILIES = {
    "transformer": TransformerClassifier,
    "lstm": LSTMClassifier,
    "attentive_lstm": AttentiveLSTMClassifier,
}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def test_every_family_has_tiny_small_base():
    names = set(list_presets())
    for family in FAMILIES:
        assert {f"{family}_{size}" for size in ("tiny", "small", "base")} <= names


def test_class_presets_list_only_their_family():
    assert set(LSTMClassifier.presets) == {"lstm_tiny", "lstm_small", "lstm_base"}
    assert set(TransformerClassifier.presets) == set(TransformerBackbone.presets)


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


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_save_to_preset_round_trip(family, tmp_path):
    cls = FAMILIES[family]
    model = cls.from_preset(f"{family}_tiny", vocabulary_size=50, num_classes=3)
    expected = model.predict(TOKENS, verbose=0)
    model.save_to_preset(tmp_path)
    assert sorted(os.listdir(tmp_path)) == [
        "config.json",
        "metadata.json",
        "model.weights.h5",
    ]
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
