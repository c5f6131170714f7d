"""The contract all three methods share: one call, only new weights and head
train, a file of new weights + head by layer path that rebuilds the model."""

import keras
import numpy as np
import pytest

from keras_ctxmem import peft
from keras_ctxmem.zoo import (
    MemoryTransformer,
    TransformerClassifier,
    TransformerMaskedLM,
    TransformerTokenClassifier,
)
from tests.helpers import assert_allclose, marker_task, run_under_jax

METHODS = {
    "lora": lambda model: peft.enable_lora(model, rank=2),
    "adapters": lambda model: peft.enable_adapters(model, bottleneck_dim=4),
    "prefix": lambda model: peft.enable_prefix(model, prefix_length=3),
}


def classifier(base_preset, method):
    model = TransformerClassifier.from_preset(base_preset, num_classes=2, dropout=0.0)
    METHODS[method](model)
    return model


@pytest.mark.parametrize("method", METHODS)
def test_trained_model_round_trips_with_its_head(base_preset, tmp_path, method):
    x, y = marker_task(64, vocabulary_size=50)
    model = classifier(base_preset, method)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(x, y, epochs=2, verbose=0)
    path = tmp_path / f"task.{method}.npz"
    peft.save_peft_weights(model, path)
    keys = set(np.load(path).keys())
    assert {"head/logits/kernel", "head/logits/bias"} <= keys
    assert all(k.startswith(("backbone/", "head/", "__peft__")) for k in keys)

    # Built after other models (other automatic names): paths still match.
    TransformerClassifier.from_preset(base_preset, num_classes=2)
    fresh = classifier(base_preset, method)
    before = fresh.predict(x, verbose=0)
    metadata = peft.load_peft_weights(fresh, path)
    assert metadata["method"] == method
    after = fresh.predict(x, verbose=0)
    np.testing.assert_array_equal(after, model.predict(x, verbose=0))
    assert np.abs(after - before).max() > 1e-3  # the head came with the file


def test_files_of_another_method_or_size_are_refused(base_preset, tmp_path):
    path = tmp_path / "task.adapters.npz"
    peft.save_peft_weights(classifier(base_preset, "adapters"), path)
    with pytest.raises(ValueError, match="holds adapters .* prefix enabled"):
        peft.load_peft_weights(classifier(base_preset, "prefix"), path)
    with pytest.raises(ValueError, match="not prefix weights"):
        peft.load_prefix_weights(classifier(base_preset, "adapters"), path)
    smaller = TransformerClassifier.from_preset(base_preset, num_classes=2)
    peft.enable_adapters(smaller, bottleneck_dim=2)
    with pytest.raises(ValueError, match="other shapes.*'bottleneck_dim': 4"):
        peft.load_adapter_weights(smaller, path)
    three_classes = TransformerClassifier.from_preset(base_preset, num_classes=3)
    peft.enable_adapters(three_classes, bottleneck_dim=4)
    with pytest.raises(ValueError, match="head/logits/kernel: saved"):
        peft.load_adapter_weights(three_classes, path)
    plain = TransformerClassifier.from_preset(base_preset, num_classes=2)
    with pytest.raises(ValueError, match="no method enabled: call `enable_adapters"):
        peft.load_peft_weights(plain, path)
    with pytest.raises(ValueError, match="enable_"):
        peft.save_peft_weights(plain, path)
    with pytest.raises(ValueError, match="already enabled"):
        peft.enable_lora(classifier(base_preset, "prefix"))
    np.savez(tmp_path / "other.npz", head=np.zeros(2))
    with pytest.raises(ValueError, match="not a parameter-efficient weights file"):
        peft.load_peft_weights(
            classifier(base_preset, "prefix"), tmp_path / "other.npz"
        )


@pytest.mark.parametrize("method", METHODS)
def test_every_transformer_task_takes_each_method(base_preset, method):
    tagger = TransformerTokenClassifier.from_preset(base_preset, num_classes=3)
    masked_lm = TransformerMaskedLM.from_preset(base_preset)
    memory = MemoryTransformer.from_preset(
        "memory_transformer_tiny", vocabulary_size=20, num_classes=3
    )
    for model in (tagger, masked_lm, memory):
        METHODS[method](model)
        head = {id(v) for v in peft.head_weights(model).values()}
        new = {id(v) for v in peft.enabled_method(model)[2].values()}
        trainable = {id(v) for v in model.trainable_weights}
        assert head and new and trainable == head | new, type(model).__name__
    x = np.array([[3, 1, 4, 1, 5, 9, 2, 6, 0, 0]] * 4, "int32")
    memory.compile(optimizer=keras.optimizers.Adam(1e-2))
    frozen = [v.numpy().copy() for v in memory.non_trainable_weights]
    memory.fit(x, np.where(x > 0, x % 3, -1), epochs=1, verbose=0)
    for value, variable in zip(frozen, memory.non_trainable_weights, strict=True):
        np.testing.assert_array_equal(value, variable.numpy())


def test_an_adapted_model_exports_with_its_outputs(tmp_path):
    import tensorflow as tf

    from keras_ctxmem.export import export_saved_model
    from keras_ctxmem.preprocessing import TextPreprocessor

    texts = ["a charming film", "a dull film", "charming and warm", "cold and dull"]
    pre = TextPreprocessor.from_corpus(texts * 5, vocabulary_size=60, sequence_length=8)
    model = TransformerClassifier.from_preset("transformer_tiny", preprocessor=pre)
    peft.enable_prefix(model, prefix_length=3)
    for variable in model.trainable_weights:  # as if trained
        variable.assign(np.random.default_rng(0).normal(size=variable.shape) * 0.5)
    served = tf.saved_model.load(export_saved_model(model, str(tmp_path / "serving")))
    probabilities = served.signatures["serving_default"](text=tf.constant(texts))
    expected = keras.ops.softmax(model.predict(pre(texts), verbose=0))
    assert_allclose(probabilities["probabilities"], expected, atol=1e-5)


JAX_SCRIPT = r"""
import keras, numpy as np
assert keras.backend.backend() == "jax"
from keras_ctxmem import peft
from keras_ctxmem.zoo import TransformerClassifier
from tests.helpers import marker_task
base, out = BASE, OUT
x, y = marker_task(64, vocabulary_size=50)
for method in ("adapters", "prefix"):
    model = TransformerClassifier.from_preset(base, num_classes=2, dropout=0.0)
    getattr(peft, f"enable_{method}")(model)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(x, y, epochs=3, verbose=0).history["loss"]
    assert history[-1] < history[0], (method, history)
    peft.save_peft_weights(model, f"{out}/{method}.npz")
    np.save(f"{out}/{method}.npy", model.predict(x, verbose=0))
print("ALL OK")
"""


def test_trained_on_jax_loads_on_tensorflow(base_preset, tmp_path):
    script = JAX_SCRIPT.replace("BASE", repr(base_preset))
    assert "ALL OK" in run_under_jax(script.replace("OUT", repr(str(tmp_path))))
    x, _ = marker_task(64, vocabulary_size=50)
    for method in ("adapters", "prefix"):
        fresh = TransformerClassifier.from_preset(base_preset, num_classes=2)
        getattr(peft, f"enable_{method}")(fresh)
        peft.load_peft_weights(fresh, tmp_path / f"{method}.npz")
        expected = np.load(tmp_path / f"{method}.npy")
        assert_allclose(fresh.predict(x, verbose=0), expected, atol=1e-5)
