import keras
import numpy as np
import pytest

from keras_ctxmem import lora
from keras_ctxmem.zoo import TransformerBackbone, TransformerClassifier
from tests.helpers import assert_allclose, marker_task

TINY = {"vocabulary_size": 50, "max_sequence_length": 32, "num_layers": 2}


@pytest.fixture()
def base_preset(tmp_path):
    """A 'pre-trained' backbone: what LoRA adapts."""
    keras.utils.set_random_seed(1)
    backbone = TransformerBackbone.from_preset("transformer_tiny", **TINY)
    backbone.save_to_preset(tmp_path / "base")
    return str(tmp_path / "base")


def adapted(base_preset, rank=4, **kwargs):
    model = TransformerClassifier.from_preset(base_preset, num_classes=2, dropout=0.0)
    lora.enable_lora(model, rank=rank, **kwargs)
    return model


def test_only_adapters_and_head_train(base_preset):
    model = adapted(base_preset)
    x, y = marker_task(128, vocabulary_size=50)
    before = model.predict(x, verbose=0)
    plain = TransformerClassifier.from_preset(base_preset, num_classes=2, dropout=0.0)
    plain.head.set_weights(model.head.get_weights())
    # The adapters start at zero: enabling LoRA changes nothing.
    assert_allclose(before, plain.predict(x, verbose=0))

    trainable = {v.path.split("/")[-1] for v in model.trainable_weights}
    assert trainable == {"lora_kernel_a", "lora_kernel_b", "kernel", "bias"}
    assert all(
        "lora" in v.path or v.path.startswith("head") for v in model.trainable_weights
    ), [v.path for v in model.trainable_weights]
    assert lora.trainable_share(model) < 0.1

    frozen = [v.numpy().copy() for v in model.backbone.non_trainable_weights]
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    for value, variable in zip(
        frozen, model.backbone.non_trainable_weights, strict=True
    ):
        np.testing.assert_array_equal(value, variable.numpy())
    assert np.abs(model.predict(x, verbose=0) - before).max() > 1e-3


def test_save_and_load_by_layer_path(base_preset, tmp_path):
    model = adapted(base_preset)
    x, y = marker_task(64, vocabulary_size=50)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(x, y, epochs=2, verbose=0)
    path = tmp_path / "task.lora.npz"
    lora.save_lora_weights(model, path)
    keys = set(np.load(path).keys())
    assert "backbone/encoder_block_1/self_attention_layer/query/lora_kernel_a" in keys
    lora_keys = {k for k in keys if "lora" in k}
    assert len(lora_keys) == 2 * 2 * 2  # 2 blocks × (query, value) × (A, B)
    assert keys - lora_keys == {"head/logits/kernel", "head/logits/bias", "__peft__"}

    # Other models built first shift Keras' automatic names: paths don't care.
    TransformerClassifier.from_preset("transformer_tiny", **TINY)
    restored = adapted(base_preset)
    lora.load_lora_weights(restored, path)  # the head comes with the adapters
    assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_files_without_the_head_still_load_with_a_warning(base_preset, tmp_path):
    model = adapted(base_preset)
    for layer in lora.lora_layers(model).values():
        layer.lora_kernel_b.assign(np.ones(layer.lora_kernel_b.shape))
    path = tmp_path / "old.lora.npz"
    np.savez(
        path,
        **{
            f"{layer_path}/{name}": getattr(layer, name).numpy()
            for layer_path, layer in lora.lora_layers(model).items()
            for name in lora.LORA_VARIABLES
        },
    )
    restored = adapted(base_preset)
    with pytest.warns(UserWarning, match="the head was not restored"):
        lora.load_lora_weights(restored, path)
    restored.head.set_weights(model.head.get_weights())
    x, _ = marker_task(16, vocabulary_size=50)
    assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_mismatched_adapters_are_named(base_preset, tmp_path):
    path = tmp_path / "task.lora.npz"
    lora.save_lora_weights(adapted(base_preset), path)
    with pytest.raises(ValueError, match="key/lora_kernel_a"):
        lora.load_lora_weights(adapted(base_preset, targets=("key",)), path)
    with pytest.raises(ValueError, match="another rank"):
        lora.load_lora_weights(adapted(base_preset, rank=2), path)
    plain = TransformerClassifier.from_preset(base_preset, num_classes=2)
    with pytest.raises(ValueError, match="enable_lora"):
        lora.save_lora_weights(plain, path)
    with pytest.raises(ValueError, match="already enabled"):
        lora.enable_lora(adapted(base_preset))


def test_merge_gives_a_plain_model_with_the_same_outputs(base_preset, tmp_path):
    model = adapted(base_preset)
    x, y = marker_task(64, vocabulary_size=50)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(x, y, epochs=2, verbose=0)
    merged = lora.merge_lora(model)
    assert not lora.lora_layers(merged)
    assert merged.count_params() < model.count_params()
    assert_allclose(
        merged.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-4
    )
    merged.save_to_preset(tmp_path / "merged")
    reloaded = TransformerClassifier.from_preset(str(tmp_path / "merged"))
    assert_allclose(
        reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-4
    )
