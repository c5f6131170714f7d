"""Zoo presets and keras-hub's loader; presets saved by version 0.1 load."""

import json
import os

import keras
import keras_hub
import numpy as np

from keras_ctxmem.zoo import (
    TransformerBackbone,
    TransformerClassifier,
    create_model,
    load_preset,
)
from tests.helpers import assert_allclose

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures")
TOKENS = np.array([[5, 9, 3, 7, 0, 0], [4, 4, 8, 1, 2, 0]], "int32")


def test_a_preset_saved_by_version_0_1_loads():
    directory = os.path.join(FIXTURES, "transformer_classifier_v0_1")
    with open(directory + ".expected.json") as f:
        expected = json.load(f)
    token_ids = np.array(expected["token_ids"], "int32")
    for model in (TransformerClassifier.from_preset(directory), load_preset(directory)):
        assert type(model) is TransformerClassifier
        logits = np.array(expected["logits"], "float32")
        assert_allclose(model.predict(token_ids, verbose=0), logits)


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
