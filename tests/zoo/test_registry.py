import warnings

import numpy as np
import pytest

from keras_ctxmem import zoo
from keras_ctxmem.zoo import (
    MemoryTransformer,
    TransformerClassifier,
    TransformerTokenClassifier,
    create_model,
    list_models,
    list_presets,
    load_preset,
    model_builder,
)

TOKENS = np.array([[5, 9, 3, 7, 0, 0], [4, 4, 8, 0, 0, 0]])


def test_list_models_takes_wildcards_and_the_trained_flag():
    sizes = {f"memory_transformer_{s}" for s in ("tiny", "small", "base")}
    assert sizes <= set(list_models("memory_transformer_*"))
    memory = list_models("memory_*")
    assert memory == sorted(memory)
    assert all(name.startswith("memory_") for name in memory)
    assert "memory_network_tiny" in memory and "lstm_tiny" not in memory
    trained = set(list_models(trained=True))
    architectures = set(list_models(trained=False))
    assert trained == set(list_presets(trained=True))
    assert architectures == set(list_presets(trained=False))
    assert not trained & architectures
    assert set(list_models()) == trained | architectures
    assert "transformer_small" in architectures
    assert set(list_models("*_tiny", family="lstm")) == {"lstm_tiny"}


def test_every_architecture_has_a_builder_of_its_family():
    for name in list_models(trained=False):
        builder = model_builder(name)
        assert builder.preset_family == zoo.presets.get_preset(name)["family"], name
        assert getattr(zoo, builder.__name__) is builder
    assert model_builder("transformer_small") is TransformerClassifier
    assert model_builder("memory_transformer_tiny") is MemoryTransformer


def test_create_model_builds_architectures_with_overrides():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecation on the new path
        model = create_model("transformer_tiny", vocabulary_size=77, num_classes=5)
        tagger = create_model(
            "transformer_tiny",
            model_class=TransformerTokenClassifier,
            vocabulary_size=77,
            num_classes=3,
        )
    assert type(model) is TransformerClassifier
    assert model.backbone.vocabulary_size == 77 and model.num_classes == 5
    assert type(tagger) is TransformerTokenClassifier
    assert tagger.predict(TOKENS, verbose=0).shape == (2, 6, 3)


def test_create_model_names_what_went_wrong():
    with pytest.raises(ValueError, match="Did you mean 'transformer_small'"):
        create_model("transformer_smal")
    with pytest.raises(ValueError, match="'lstm' architecture"):
        create_model("lstm_tiny", model_class=TransformerClassifier)
    trained = list_models(trained=True)
    if trained:
        with pytest.raises(ValueError, match="is a trained preset.*load_preset"):
            create_model(trained[0])


def _without_names(config):
    """A configuration without its layers' generated names (`lstm_backbone_1`)."""
    if isinstance(config, dict):
        return {k: _without_names(v) for k, v in config.items() if k != "name"}
    return config


def test_from_preset_of_an_architecture_warns_and_still_builds():
    with pytest.warns(DeprecationWarning, match=r"create_model\('lstm_tiny'"):
        model = zoo.LSTMClassifier.from_preset("lstm_tiny", vocabulary_size=50)
    expected = create_model("lstm_tiny", vocabulary_size=50).get_config()
    assert _without_names(model.get_config()) == _without_names(expected)
    # Another class of the family: the message names it.
    with pytest.warns(DeprecationWarning, match="model_class=TransformerTokenClass"):
        TransformerTokenClassifier.from_preset("transformer_tiny", num_classes=3)


def test_trained_names_and_directories_load_silently(tmp_path):
    model = create_model("lstm_tiny", vocabulary_size=50, num_classes=3)
    model.save_to_preset(tmp_path / "mine")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        restored = zoo.LSTMClassifier.from_preset(str(tmp_path / "mine"))
        for name in list_models("copy_memory_transformer_tiny", trained=True):
            load_preset(name)
            MemoryTransformer.from_preset(name)
    np.testing.assert_allclose(
        restored.predict(TOKENS, verbose=0), model.predict(TOKENS, verbose=0)
    )
