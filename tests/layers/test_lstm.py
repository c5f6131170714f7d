"""`ProjectedLSTM` is Keras' LSTM with the input projection out of the loop:
the same outputs, gradients and weights, masks and both directions."""

import keras
import numpy as np
import pytest

from keras_ctxmem.layers import ProjectedLSTM


def _inputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 7, 5)).astype("float32")
    mask = np.ones((3, 7), bool)
    mask[1, 4:] = False
    mask[2, 1:] = False
    return x, mask


def _pair(**kwargs):
    reference = keras.layers.LSTM(6, **kwargs)
    projected = ProjectedLSTM(6, **kwargs)
    x, _ = _inputs()
    reference(x), projected(x)
    projected.set_weights(reference.get_weights())
    return reference, projected


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_outputs_equal_keras_lstm_with_a_mask(return_sequences, go_backwards):
    reference, projected = _pair(
        return_sequences=return_sequences, go_backwards=go_backwards
    )
    x, mask = _inputs()
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(projected(x, mask=mask)),
        keras.ops.convert_to_numpy(reference(x, mask=mask)),
        atol=1e-6,
    )


def test_padding_never_changes_the_final_state():
    _, projected = _pair()
    x, mask = _inputs()
    noisy = np.where(mask[..., None], x, 100.0).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(projected(noisy, mask=mask)),
        keras.ops.convert_to_numpy(projected(x, mask=mask)),
        atol=1e-6,
    )


def test_gradients_equal_keras_lstm():
    import tensorflow as tf

    reference, projected = _pair(return_sequences=True)
    x, mask = _inputs()
    gradients = []
    for layer in (reference, projected):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, mask=mask) ** 2)
        gradients.append(tape.gradient(loss, layer.trainable_variables))
    for expected, got in zip(*gradients, strict=True):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5)


def test_input_dropout_equals_keras_lstm_with_the_same_seed():
    # One input mask per sequence, for every step, drawn as Keras draws it.
    reference, projected = _pair(dropout=0.5, return_sequences=True, seed=3)
    x, mask = _inputs()
    dropped = keras.ops.convert_to_numpy(projected(x, mask=mask, training=True))
    np.testing.assert_allclose(
        dropped,
        keras.ops.convert_to_numpy(reference(x, mask=mask, training=True)),
        atol=1e-6,
    )
    assert not np.allclose(dropped, keras.ops.convert_to_numpy(projected(x, mask=mask)))


def test_a_keras_lstm_checkpoint_loads(tmp_path):
    inputs = keras.Input((7, 5))
    reference = keras.Model(
        inputs, keras.layers.Bidirectional(keras.layers.LSTM(6), name="bi")(inputs)
    )
    path = str(tmp_path / "lstm.weights.h5")
    reference.save_weights(path)
    projected = keras.Model(
        inputs, keras.layers.Bidirectional(ProjectedLSTM(6), name="bi")(inputs)
    )
    projected.load_weights(path)
    x, _ = _inputs()
    np.testing.assert_allclose(projected(x), reference(x), atol=1e-6)


def test_the_zoo_projects_inputs_from_256_units_on():
    from keras_ctxmem.zoo.recurrent import PROJECTED_MIN_UNITS, lstm_stack

    def built(units):
        return type(lstm_stack(units, 1, False, 0.0, False, None, "lstm")[0])

    assert built(PROJECTED_MIN_UNITS) is ProjectedLSTM
    assert built(PROJECTED_MIN_UNITS // 2) is keras.layers.LSTM
