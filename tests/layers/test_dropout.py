import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ctxmem import zoo
from keras_ctxmem.layers import PhiloxDropout, use_philox_dropout
from keras_ctxmem.lora import named_layers
from keras_ctxmem.zoo import TransformerClassifier
from tests.helpers import assert_keras_file_round_trip


def _ones(shape=(64, 4096)):
    return np.ones(shape, "float32")


def test_identity_outside_training():
    x = np.random.default_rng(0).normal(size=(4, 16)).astype("float32")
    np.testing.assert_array_equal(PhiloxDropout(0.5)(x), x)
    np.testing.assert_array_equal(PhiloxDropout(0.5)(x, training=False), x)


def test_drops_at_the_rate_and_scales_the_rest():
    out = keras.ops.convert_to_numpy(
        PhiloxDropout(0.25, seed=3)(_ones(), training=True)
    )
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.75)}
    assert abs((out == 0).mean() - 0.25) < 0.005
    assert abs(out.mean() - 1.0) < 0.01


def test_same_under_xla_and_a_new_mask_each_call():
    layer = PhiloxDropout(0.5, seed=7)
    compiled = tf.function(lambda x: layer(x, training=True), jit_compile=True)
    first, second = (compiled(_ones((8, 512))).numpy() for _ in range(2))
    for out in (first, second):
        assert set(np.unique(out)) == {0.0, 2.0}
        assert abs((out == 0).mean() - 0.5) < 0.03
    assert (first != second).mean() > 0.3


def test_seeded_layers_repeat_their_masks():
    masks = [
        PhiloxDropout(0.5, seed=11)(_ones((4, 64)), training=True) for _ in range(2)
    ]
    np.testing.assert_array_equal(*masks)


def test_noise_shape_drops_whole_rows():
    out = keras.ops.convert_to_numpy(
        PhiloxDropout(0.5, noise_shape=(None, 1), seed=1)(
            _ones((256, 8)), training=True
        )
    )
    assert np.all(out.min(axis=1) == out.max(axis=1))
    assert 0.3 < (out[:, 0] == 0).mean() < 0.7


def test_gradient_is_the_mask_over_the_keep_rate():
    x = tf.constant(np.random.default_rng(1).uniform(1, 2, (16, 32)).astype("float32"))
    layer = PhiloxDropout(0.3, seed=5)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = layer(x, training=True)
    gradient = tape.gradient(out, x).numpy()
    np.testing.assert_allclose(gradient, (out.numpy() != 0) / 0.7, rtol=1e-6)


def test_zoo_models_carry_no_plain_dropout():
    model = TransformerClassifier.from_preset("transformer_tiny", num_classes=2)
    dropouts = {
        path: type(layer)
        for path, layer in named_layers(model)
        if isinstance(layer, keras.layers.Dropout)
    }
    # Embedding, head, and per block: attention weights, attention output, FFN.
    assert len(dropouts) == 5
    assert set(dropouts.values()) == {PhiloxDropout}
    assert any("self_attention_layer/" in path for path in dropouts)


@pytest.mark.parametrize(
    "model_cls, preset",
    [
        (zoo.LSTMClassifier, "lstm_tiny"),
        (zoo.AttentiveLSTMClassifier, "attentive_lstm_tiny"),
        (zoo.MultimodalFusionClassifier, "multimodal_tiny"),
        (zoo.MemoryNetwork, "memory_network_tiny"),
        (zoo.MemoryTransformer, "memory_transformer_tiny"),
        (zoo.Seq2Seq, "seq2seq_lstm_tiny"),
        (zoo.Seq2Seq, "seq2seq_transformer_tiny"),
    ],
)
def test_every_family_converts_its_dropouts(model_cls, preset):
    model = model_cls.from_preset(preset, dropout=0.1)
    dropouts = [
        type(layer)
        for _, layer in named_layers(model)
        if isinstance(layer, keras.layers.Dropout)
    ]
    assert dropouts and set(dropouts) == {PhiloxDropout}


def test_use_philox_dropout_on_a_keras_model(tmp_path):
    inputs = keras.Input((8,))
    x = keras.layers.Dropout(0.2)(keras.layers.Dense(8)(inputs))
    model = keras.Model(inputs, keras.layers.Dropout(0.2)(x))
    x = np.random.default_rng(2).normal(size=(3, 8)).astype("float32")
    before = model.predict(x, verbose=0)
    assert use_philox_dropout(model) == 2
    assert use_philox_dropout(model) == 0
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)
    restored = assert_keras_file_round_trip(model, x, tmp_path)
    assert [type(layer) for layer in restored.layers].count(PhiloxDropout) == 2
