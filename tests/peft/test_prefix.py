import keras
import numpy as np

from keras_ctxmem import peft
from keras_ctxmem.zoo import TransformerClassifier
from tests.helpers import assert_allclose, marker_task, pad_right

PREFIX = 3


def prefixed(base_preset):
    model = TransformerClassifier.from_preset(base_preset, num_classes=2, dropout=0.0)
    peft.enable_prefix(model, prefix_length=PREFIX)
    return model


def attention_weights(model, x, padding_mask):
    block = model.backbone.encoder_blocks[0]
    mask = np.broadcast_to(padding_mask[:, None, :], (len(x), 6, 6))  # keys
    _, scores = block._self_attention_layer(
        query=x, value=x, attention_mask=mask, return_attention_scores=True
    )
    return keras.ops.convert_to_numpy(scores)


def test_the_prefix_only_takes_attention_weight_at_initialisation(base_preset):
    base = TransformerClassifier.from_preset(base_preset, num_classes=2, dropout=0.0)
    model = prefixed(base_preset)
    x = np.random.default_rng(0).normal(size=(2, 6, 32)).astype("float32")
    padding_mask = np.array([[True] * 6, [True] * 4 + [False] * 2])
    plain = attention_weights(base, x, padding_mask)  # (batch, heads, 6, 6)
    scores = attention_weights(model, x, padding_mask)  # (batch, heads, 6, 3 + 6)
    assert scores.shape == (*plain.shape[:3], PREFIX + 6)
    on_prefix = scores[..., :PREFIX].sum(-1)
    assert (on_prefix > 0.05).all()  # always attended, padded rows included
    np.testing.assert_array_equal(scores[1, :, :, PREFIX + 4 :], 0)  # padding
    # The tokens keep their relative weights; the values start at zero.
    renormalised = scores[..., PREFIX:] / (1 - on_prefix[..., None])
    assert_allclose(renormalised, plain, atol=1e-5)
    layer = model.backbone.encoder_blocks[0]._self_attention_layer
    assert not layer.prefix_value.numpy().any()


def test_padding_changes_nothing_and_only_the_prefix_and_head_train(base_preset):
    model = prefixed(base_preset)
    rng = np.random.default_rng(0)
    for layer in peft.prefix_layers(model).values():  # as if trained
        layer.prefix_value.assign(rng.normal(size=layer.prefix_value.shape))
        layer.prefix_key.assign(rng.normal(size=layer.prefix_key.shape))
    x = np.array([[5, 9, 3, 7, 0, 0], [4, 4, 8, 2, 6, 11]], "int32")
    assert_allclose(
        model.predict(pad_right(x, 20), verbose=0), model.predict(x, verbose=0)
    )

    heads, head_dim, layers = 2, 16, 2
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert trainable == layers * 2 * PREFIX * heads * head_dim + (32 * 2 + 2)


def test_loss_falls_on_a_learnable_task(base_preset):
    x, y = marker_task(128, vocabulary_size=50)
    model = prefixed(base_preset)
    frozen = [v.numpy().copy() for v in model.backbone.non_trainable_weights]
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(x, y, epochs=5, batch_size=32, verbose=0).history["loss"]
    assert history[-1] < 0.8 * history[0], history
    for value, variable in zip(
        frozen, model.backbone.non_trainable_weights, strict=True
    ):
        np.testing.assert_array_equal(value, variable.numpy())
