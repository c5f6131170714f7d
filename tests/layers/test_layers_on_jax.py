"""Runs every layer under the JAX backend, in a subprocess."""

from tests.helpers import run_under_jax

SCRIPT = r"""
import os

import keras
import numpy as np

assert keras.backend.backend() == "jax", keras.backend.backend()

from keras_ctxmem.layers import (
    AttentionPooling,
    ConcatFusion,
    ContextMemory,
    ContextMemoryCell,
    CrossModalAttention,
    FiLM,
    GatedMultimodalUnit,
    PhiloxDropout,
)

rng = np.random.default_rng(0)
token_ids = np.array([[3, 1, 4, 0, 0, 0], [1, 5, 9, 2, 6, 0]], "int32")
image = rng.normal(size=(2, 4, 12)).astype("float32")
image_vector = rng.normal(size=(2, 12)).astype("float32")
labels = np.array([0.0, 1.0], "float32")

tokens_in = keras.Input((6,), dtype="int32", name="tokens")
patches_in = keras.Input((4, 12), name="patches")
vector_in = keras.Input((12,), name="image_vector")
embedded = keras.layers.Embedding(10, 8, mask_zero=True)(tokens_in)


def heads():
    x = FiLM()([embedded, vector_in])
    x = CrossModalAttention(2, 4)(x, patches_in)
    yield "film+cross_attention+pooling", AttentionPooling(8)(x)
    memory = ContextMemory(8, return_sequences=True)(embedded)
    yield "context_memory", ContextMemory(8)(memory)
    yield "rnn(cell)", keras.layers.RNN(ContextMemoryCell(8))(embedded)
    pooled = AttentionPooling(8)(embedded)
    yield "concat", ConcatFusion()([pooled, vector_in])
    yield "gmu+dropout", PhiloxDropout(0.1)(GatedMultimodalUnit(8)([pooled, vector_in]))


inputs = [tokens_in, patches_in, vector_in]
data = [token_ids, image, image_vector]
names, outputs = [], []
for name, features in heads():
    names.append(name)
    outputs.append(keras.layers.Dense(1, activation="sigmoid")(features))
# One multi-output model, so JAX compiles once for all the layers.
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss=["binary_crossentropy"] * len(outputs))
predictions = model.predict(data, verbose=0)
for name, prediction in zip(names, predictions):
    assert prediction.shape == (2, 1), (name, prediction.shape)
    assert np.all(np.isfinite(prediction)), name
weights_before = [np.array(w) for w in model.trainable_weights]
losses = model.train_on_batch(data, [labels] * len(outputs))
assert np.all(np.isfinite(losses)), losses
changed = [
    not np.allclose(before, np.array(after))
    for before, after in zip(weights_before, model.trainable_weights)
]
assert all(changed), [w.path for w, c in zip(model.trainable_weights, changed) if not c]
print("train ok", losses)

# Right-padding leaves the masked layers' outputs unchanged on JAX too.
padded = np.concatenate([token_ids, np.zeros((2, 3), "int32")], axis=1)
embedding = keras.layers.Embedding(10, 8, mask_zero=True)
for layer in (AttentionPooling(8), ContextMemory(8)):
    short = keras.ops.convert_to_numpy(layer(embedding(token_ids)))
    long = keras.ops.convert_to_numpy(layer(embedding(padded)))
    np.testing.assert_allclose(long, short, atol=1e-5)
print("ALL OK")
"""


def test_layers_train_on_jax():
    assert "ALL OK" in run_under_jax(SCRIPT)
