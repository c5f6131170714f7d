"""A tiny 'pre-trained' backbone preset that the methods adapt."""

import keras
import pytest

from keras_ctxmem.zoo import TransformerBackbone

TINY = {"vocabulary_size": 50, "max_sequence_length": 32, "num_layers": 2}


@pytest.fixture()
def base_preset(tmp_path):
    keras.utils.set_random_seed(1)
    backbone = TransformerBackbone.from_preset("transformer_tiny", **TINY)
    backbone.save_to_preset(tmp_path / "base")
    return str(tmp_path / "base")
