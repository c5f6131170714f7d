"""keras.distribution on the JAX backend over two (emulated) CPU devices."""

import pytest

from tests.helpers import run_under_jax

SCRIPT = r"""
import os
import keras
import numpy as np
import jax

assert len(jax.devices()) == 2, jax.devices()
from keras_ctxmem.training import set_jax_distribution
from keras_ctxmem.zoo import TransformerClassifier

x = np.random.default_rng(0).integers(1, 50, size=(8, 12)).astype("int32")
y = np.array([0, 1] * 4, "int32")


def build():
    keras.utils.set_random_seed(0)
    return TransformerClassifier.from_preset(
        "transformer_tiny", vocabulary_size=50, dropout=0.0
    )


reference = build()
expected = reference.predict(x, verbose=0)

for kind in ("data_parallel", "model_parallel"):
    set_jax_distribution(kind)
    model = build()
    model.set_weights(reference.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)
    query = next(w for w in model.weights if w.path.endswith("query/kernel"))
    spec = tuple(query.value.sharding.spec)
    if kind == "model_parallel":
        assert spec[1] == "model", spec  # heads split across the devices
    else:
        assert all(axis is None for axis in spec), spec  # replicated
    model.compile()
    losses = [float(model.train_on_batch(x, y)[0]) for _ in range(5)]
    assert np.isfinite(losses).all() and losses[-1] < losses[0], losses
    keras.distribution.set_distribution(None)
    print("ok", kind)
print("ALL OK")
"""


@pytest.mark.slow  # a JAX subprocess; the shared JAX checks run in CI
def test_data_and_model_parallel_on_two_devices(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    assert "ALL OK" in run_under_jax(SCRIPT)
