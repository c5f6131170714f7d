import json
import os

import keras
import numpy as np
import pytest

from keras_ctxmem.data.synthetic import associative_recall, copy_task
from keras_ctxmem.layers.encoder_blocks import RotaryEncoderBlock
from keras_ctxmem.zoo import MemoryTransformer, TransformerClassifier
from tests.helpers import (
    assert_allclose,
    assert_keras_file_round_trip,
    pad_right,
    run_under_jax,
)

# Segments of 4 tokens: TOKENS spans 1, 2 and 3 segments.
TINY = {"vocabulary_size": 50, "segment_length": 4, "num_memory_tokens": 2}
TOKENS = np.array(
    [[5, 9, 3, 7, 2, 8, 1, 4, 6, 0], [4, 4, 8, 0, 0, 0, 0, 0, 0, 0]], "int32"
)


def tiny(**overrides):
    return MemoryTransformer.from_preset(
        "memory_transformer_tiny", **{**TINY, **overrides}
    )


@pytest.mark.parametrize("length", [3, 4, 10, 17])
def test_token_task_shapes(length):
    model = tiny(num_classes=5)
    token_ids = np.random.default_rng(0).integers(1, 50, (2, length)).astype("int32")
    logits = keras.ops.convert_to_numpy(model(token_ids))
    assert logits.shape == (2, length, 5)
    assert logits.dtype == np.float32


def test_sequence_task_shape_and_last_token():
    model = tiny(num_classes=3, task="sequence")
    before = keras.ops.convert_to_numpy(model(TOKENS))
    assert before.shape == (2, 3)
    changed = TOKENS.copy()
    changed[1, 2] = 9  # the last real token of row 1
    after = keras.ops.convert_to_numpy(model(changed))
    assert_allclose(after[0], before[0])
    assert np.abs(after[1] - before[1]).max() > 1e-4


@pytest.mark.parametrize(
    "position_encoding, recurrence",
    [("rotary", "memory_tokens"), ("learned", "memory_tokens"), ("rotary", "cache")],
)
@pytest.mark.parametrize("task", ["token", "sequence"])
def test_right_padding_to_more_segments_changes_nothing(
    task, position_encoding, recurrence
):
    model = tiny(
        num_classes=3,
        task=task,
        position_encoding=position_encoding,
        recurrence=recurrence,
    )
    short = keras.ops.convert_to_numpy(model(TOKENS))
    long = keras.ops.convert_to_numpy(model(pad_right(TOKENS, 23)))
    if task == "token":
        real = TOKENS != 0
        np.testing.assert_allclose(long[:, :10][real], short[real], atol=1e-5)
    else:
        np.testing.assert_allclose(long, short, atol=1e-5)


def test_earlier_segments_reach_later_ones_through_the_memory():
    model = tiny(num_classes=3)
    before = keras.ops.convert_to_numpy(model(TOKENS))
    changed = TOKENS.copy()
    changed[0, 0] = 11  # first segment of row 0
    after = keras.ops.convert_to_numpy(model(changed))
    assert np.abs(after[0, 8] - before[0, 8]).max() > 1e-5  # its third segment
    assert_allclose(after[1], before[1])


@pytest.mark.parametrize("position_encoding", ["rotary", "learned"])
def test_memory_and_weights_do_not_grow_with_the_sequence(position_encoding):
    model = tiny(num_classes=3, segment_length=16, position_encoding=position_encoding)
    count = model.count_params()
    cell = model.encoder.cell
    if position_encoding == "learned":
        assert tuple(cell.position_embedding.shape) == (2 + 16, 32)  # memory + segment
    else:
        assert not hasattr(cell, "position_embedding")
    assert cell.state_size == [2 * 32, 1]
    rng = np.random.default_rng(0)
    for length in (16, 1024):
        token_ids = rng.integers(1, 50, (2, length)).astype("int32")
        logits = keras.ops.convert_to_numpy(model(token_ids))
        assert logits.shape == (2, length, 3) and np.isfinite(logits).all()
    assert model.count_params() == count


@pytest.mark.parametrize(
    "bptt_segments, reaches", [(None, True), (1, False), (2, False), (3, True)]
)
def test_bptt_segments_cuts_the_gradient(bptt_segments, reaches):
    import tensorflow as tf

    model = tiny(num_classes=3, bptt_segments=bptt_segments)
    embedded = model.token_embedding(TOKENS[:1])
    with tf.GradientTape() as tape:
        tape.watch(embedded)
        features = model.encoder(embedded, TOKENS[:1])
        loss = tf.reduce_sum(features[:, 8])  # a token of the third segment
    gradient = tape.gradient(loss, embedded).numpy()
    assert (np.abs(gradient[0, :4]).max() > 0) == reaches  # the first segment


def test_rotary_attention_sees_distances_not_positions():
    # Masked positions in front shift the real ones: with rotary positions the
    # outputs at the real positions stay the same (learned absolute positions
    # would change them).
    block = RotaryEncoderBlock(num_heads=2, intermediate_dim=16)
    x = np.random.default_rng(0).normal(size=(1, 5, 8)).astype("float32")
    shifted = np.concatenate([np.ones((1, 3, 8), "float32"), x], axis=1)
    mask = np.array([[0, 0, 0, 1, 1, 1, 1, 1]], bool)
    outputs = keras.ops.convert_to_numpy(block(x))
    shifted_outputs = keras.ops.convert_to_numpy(block(shifted, padding_mask=mask))
    np.testing.assert_allclose(shifted_outputs[:, 3:], outputs, atol=1e-5)
    # Not because attention ignores positions: reversing the order matters.
    reversed_outputs = keras.ops.convert_to_numpy(block(x[:, ::-1]))
    assert not np.allclose(reversed_outputs[:, ::-1], outputs, atol=1e-4)


def test_position_encoding_round_trips_and_old_configs_load_as_learned():
    for position_encoding in ("rotary", "learned"):
        model = tiny(num_classes=3, position_encoding=position_encoding)
        config = model.get_config()
        assert config["position_encoding"] == position_encoding
        assert MemoryTransformer.from_config(config).get_config() == config
    # A configuration saved before `position_encoding` existed (the last
    # model above is the learned one).
    del config["position_encoding"]
    restored = MemoryTransformer.from_config(config)
    assert restored.position_encoding == "learned"
    restored.set_weights(model.get_weights())
    assert_allclose(
        keras.ops.convert_to_numpy(restored(TOKENS)),
        keras.ops.convert_to_numpy(model(TOKENS)),
    )


def test_invalid_arguments_are_named():
    with pytest.raises(ValueError, match="task"):
        tiny(task="tagging")
    with pytest.raises(ValueError, match="position_encoding"):
        tiny(position_encoding="sinusoidal")
    with pytest.raises(ValueError, match="segment_length"):
        tiny(segment_length=0)
    with pytest.raises(ValueError, match="bptt_segments"):
        tiny(bptt_segments=0)


def recall_across_segments(num_examples, seed, segment_length=8):
    """Two key-value pairs in segment 1, noise in segment 2, the key at the end."""
    pairs, labels = associative_recall(
        num_examples, num_pairs=2, num_keys=4, num_values=4, seed=seed
    )
    token_ids = np.full((num_examples, 3 * segment_length), 9, "int32")  # noise
    token_ids[:, :4] = pairs[:, :4]
    token_ids[:, -1] = pairs[:, -1]
    return token_ids, labels


def test_memory_carries_the_answer_across_segments():
    x, y = recall_across_segments(2048, seed=0)
    x_val, y_val = recall_across_segments(512, seed=1)
    keras.utils.set_random_seed(0)
    memory = MemoryTransformer(
        vocabulary_size=10,
        segment_length=8,
        num_memory_tokens=4,
        num_layers=1,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        num_classes=4,
        task="sequence",
    )
    # Without XLA: it compiles faster (the XLA path is tested below).
    memory.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    losses = memory.fit(x, y, batch_size=64, epochs=3, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    _, memory_accuracy = memory.evaluate(x_val, y_val, verbose=0)
    # The same steps for a transformer that sees only the last segment.
    last_segment = TransformerClassifier.from_preset(
        "transformer_tiny",
        vocabulary_size=10,
        max_sequence_length=8,
        num_classes=4,
        pooling="last",
        dropout=0.0,
    )
    last_segment.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    last_segment.fit(x[:, -8:], y, batch_size=64, epochs=3, verbose=0)
    _, last_segment_accuracy = last_segment.evaluate(x_val[:, -8:], y_val, verbose=0)
    assert last_segment_accuracy < 0.35  # chance: 0.25
    assert memory_accuracy > last_segment_accuracy + 0.2


def test_memory_copies_across_segments():
    # Two symbols in segment 1, blanks in segment 2, the markers in segment 3:
    # the last segment holds nothing of the answer, so without memory any model
    # stays at chance (0.25).
    x, y = copy_task(2048, num_tokens=2, delay=8, num_symbols=4, seed=0)
    x_val, y_val = copy_task(512, num_tokens=2, delay=8, num_symbols=4, seed=1)
    keras.utils.set_random_seed(0)
    model = MemoryTransformer(
        vocabulary_size=7,
        segment_length=4,
        num_memory_tokens=2,
        num_layers=1,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        num_classes=4,
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    model.fit(x, y, batch_size=64, epochs=3, verbose=0)
    _, accuracy = model.evaluate(x_val, y_val, verbose=0)
    assert accuracy > 0.45


def test_token_task_learns_with_default_compile():
    x, y = copy_task(64, num_tokens=4, delay=4, num_symbols=4)  # 12 tokens
    model = MemoryTransformer.from_preset(
        "memory_transformer_tiny", vocabulary_size=7, num_classes=4, segment_length=4
    )
    model.compile(jit_compile=True)
    assert model.jit_compile is True
    history = model.fit(x, y, batch_size=32, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    assert "accuracy" in history.history


def test_keras_file_round_trip(tmp_path):
    model = tiny(num_classes=3, bptt_segments=2)
    restored = assert_keras_file_round_trip(model, TOKENS, tmp_path)
    assert isinstance(restored, MemoryTransformer)
    assert restored.get_config() == model.get_config()


def test_save_to_preset_round_trip(tmp_path):
    model = tiny(num_classes=3, task="sequence")
    expected = keras.ops.convert_to_numpy(model(TOKENS))
    model.save_to_preset(tmp_path)
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert metadata["parameter_count"] == model.count_params()
    assert sorted(os.listdir(tmp_path)) == [
        "config.json",
        "metadata.json",
        "model.weights.h5",
    ]
    restored = MemoryTransformer.from_preset(str(tmp_path))
    assert type(restored) is MemoryTransformer and restored.task == "sequence"
    assert_allclose(keras.ops.convert_to_numpy(restored(TOKENS)), expected)


def test_named_presets():
    assert set(MemoryTransformer.presets) == {
        "copy_memory_transformer_tiny",  # trained, shipped with the package
        "memory_transformer_tiny",
        "memory_transformer_small",
        "memory_transformer_base",
    }
    model = MemoryTransformer.from_preset("memory_transformer_tiny", vocabulary_size=77)
    assert model.vocabulary_size == 77 and model.hidden_dim == 32
    assert model.segment_length == 16 and model.num_memory_tokens == 4


def test_mixed_bfloat16_step_is_finite():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = tiny(num_classes=3)
        assert model.encoder.cell.encoder_blocks[0].compute_dtype == "bfloat16"
        model.compile(jit_compile=False)
        labels = np.where(TOKENS > 0, TOKENS % 3, -1)
        loss = model.train_on_batch(TOKENS, labels)[0]
        assert np.isfinite(loss)
        assert keras.ops.convert_to_numpy(model(TOKENS)).dtype == np.float32
    finally:
        keras.config.set_dtype_policy("float32")


JAX_SCRIPT = r"""
import keras
import numpy as np

assert keras.backend.backend() == "jax", keras.backend.backend()
from keras_ctxmem.zoo import MemoryTransformer

token_ids = np.array([[3, 1, 4, 1, 5, 9, 0], [2, 6, 5, 0, 0, 0, 0]], "int32")
padded = np.pad(token_ids, ((0, 0), (0, 9)))
config = dict(vocabulary_size=10, num_classes=3, segment_length=4, num_memory_tokens=2)
model = MemoryTransformer.from_preset("memory_transformer_tiny", **config)
model.compile()
before = [w.numpy().copy() for w in model.trainable_weights]
labels = np.where(token_ids > 0, token_ids % 3, -1)
loss = model.train_on_batch(token_ids, labels)[0]
assert np.isfinite(loss), loss
changed = [
    not np.allclose(b, w.numpy()) for b, w in zip(before, model.trainable_weights)
]
assert all(changed), changed
short = keras.ops.convert_to_numpy(model(token_ids))
long = keras.ops.convert_to_numpy(model(padded))
real = token_ids > 0
np.testing.assert_allclose(long[:, :7][real], short[real], atol=1e-5)

sequence = MemoryTransformer.from_preset(
    "memory_transformer_tiny", task="sequence", **config
)
logits = keras.ops.convert_to_numpy(sequence(padded))
assert logits.shape == (2, 3) and np.isfinite(logits).all()
print("ALL OK")
"""


@pytest.mark.slow  # a JAX subprocess; the shared JAX checks run in CI
def test_forward_and_training_step_on_jax():
    assert "ALL OK" in run_under_jax(JAX_SCRIPT)


def test_transformer_xl_cache_reaches_the_next_segment_only_without_gradient():
    import tensorflow as tf

    model = tiny(num_classes=3, recurrence="cache")
    cell = model.encoder.cell
    assert not hasattr(cell, "memory")  # no memory tokens
    assert cell.state_size == [1 * 4 * 32, 4]  # one block's cache of a segment
    before = keras.ops.convert_to_numpy(model(TOKENS))
    changed = TOKENS.copy()
    changed[0, 0] = 11  # first segment of row 0
    after = keras.ops.convert_to_numpy(model(changed))
    assert np.abs(after[0, 4] - before[0, 4]).max() > 1e-5  # the next segment
    assert_allclose(after[1], before[1])

    embedded = model.token_embedding(TOKENS[:1])
    with tf.GradientTape() as tape:
        tape.watch(embedded)
        features = model.encoder(embedded, TOKENS[:1])
        loss = tf.reduce_sum(features[:, 4])  # a token of the second segment
    gradient = tape.gradient(loss, embedded).numpy()
    assert np.abs(gradient[0, 4:8]).max() > 0  # its own segment
    assert np.abs(gradient[0, :4]).max() == 0  # the cache is gradient-stopped


def test_transformer_xl_state_is_bounded_and_arguments_checked():
    model = tiny(num_classes=3, recurrence="cache")
    count = model.count_params()
    token_ids = np.random.default_rng(0).integers(1, 50, (2, 1024)).astype("int32")
    assert np.isfinite(keras.ops.convert_to_numpy(model(token_ids))).all()
    assert model.count_params() == count
    config = model.get_config()
    assert MemoryTransformer.from_config(config).recurrence == "cache"
    with pytest.raises(ValueError, match="rotary"):
        tiny(recurrence="cache", position_encoding="learned")
    with pytest.raises(ValueError, match="recurrence"):
        tiny(recurrence="lstm")


def test_shipped_copy_preset_copies_across_nine_segments():
    from keras_ctxmem.zoo import load_preset

    model = load_preset("copy_memory_transformer_tiny")
    x, y = copy_task(16, num_tokens=4, delay=9 * 8 - 8, num_symbols=8, seed=123)
    assert x.shape[1] == 9 * model.segment_length
    copied = model.predict(x, verbose=0).argmax(-1)
    np.testing.assert_array_equal(copied[y >= 0], y[y >= 0])
