"""Every zoo model runs a forward pass and a training step on the JAX backend."""

from tests.helpers import run_under_jax

SCRIPT = r"""
import keras
import numpy as np

assert keras.backend.backend() == "jax", keras.backend.backend()
from keras_ctxmem import zoo

token_ids = np.array([[3, 1, 4, 0, 0, 0], [1, 5, 9, 2, 6, 0]], "int32")
padded = np.pad(token_ids, ((0, 0), (0, 10)))
labels = np.array([0, 1], "int32")

backbone = zoo.TransformerBackbone.from_preset("transformer_tiny", vocabulary_size=10)
features = keras.ops.convert_to_numpy(backbone(token_ids))
assert features.shape == (2, 6, 32) and np.isfinite(features).all()

for cls, preset in [
    (zoo.TransformerClassifier, "transformer_tiny"),
    (zoo.LSTMClassifier, "lstm_tiny"),
    (zoo.AttentiveLSTMClassifier, "attentive_lstm_tiny"),
]:
    model = cls.from_preset(preset, vocabulary_size=10, dropout=0.0)
    model.compile()
    before = [w.numpy().copy() for w in model.trainable_weights]
    loss = model.train_on_batch(token_ids, labels)[0]
    assert np.isfinite(loss), (preset, loss)
    changed = [
        not np.allclose(b, w.numpy()) for b, w in zip(before, model.trainable_weights)
    ]
    assert any(changed), preset
    short = model.predict(token_ids, verbose=0)
    np.testing.assert_allclose(model.predict(padded, verbose=0), short, atol=1e-5)
    print("ok", preset)

tagger = zoo.TransformerTokenClassifier.from_preset(
    "transformer_tiny", vocabulary_size=10, num_classes=3
)
tagger.compile()
tags = np.where(token_ids > 0, token_ids % 3, -1)
assert np.isfinite(tagger.train_on_batch(token_ids, tags)[0])
print("ALL OK")
"""


def test_models_train_on_jax():
    assert "ALL OK" in run_under_jax(SCRIPT)
