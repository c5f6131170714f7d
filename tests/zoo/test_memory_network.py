import os

import keras
import numpy as np
import pytest

from keras_ctxmem.layers.memn2n import (
    MemoryAges,
    MemoryAttention,
    position_encoding_weights,
)
from keras_ctxmem.zoo import MemoryNetwork
from keras_ctxmem.zoo.memory_network import LinearStart
from tests.helpers import assert_allclose, assert_keras_file_round_trip, run_under_jax

PEOPLE = ["mary", "john", "sandra", "daniel"]
PLACES = ["kitchen", "garden", "office", "bathroom", "hallway", "bedroom"]
WORDS = ["<pad>", *PEOPLE, "went", "to", "the", *PLACES, "where", "is"]
WORD_ID = {word: i for i, word in enumerate(WORDS)}
VOCABULARY_SIZE = len(WORDS)


def where_is_stories(num_stories, seed=0, max_memories=6):
    """bAbI-1-like stories: "mary went to the kitchen", ... "where is mary".

    The asked person moves twice, to two different places, among 0-4 moves of
    other people; the answer is the second place. A model that cannot tell which
    of the two moves is the more recent gets half of them right.
    """
    rng = np.random.default_rng(seed)
    story = np.zeros((num_stories, max_memories, 5), "int32")
    question = np.zeros((num_stories, 3), "int32")
    answer = np.zeros((num_stories,), "int32")
    for n in range(num_stories):
        person, *others = rng.permutation(PEOPLE)
        first, last = rng.choice(PLACES, size=2, replace=False)
        statements = [
            (rng.choice(others), rng.choice(PLACES))
            for _ in range(rng.integers(0, max_memories - 1))
        ]
        slots = sorted(rng.choice(len(statements) + 2, size=2, replace=False))
        for slot, place in zip(slots, (first, last), strict=True):
            statements.insert(slot, (person, place))
        for i, (who, where) in enumerate(statements):
            story[n, i] = [WORD_ID[w] for w in (who, "went", "to", "the", where)]
        question[n] = [WORD_ID["where"], WORD_ID["is"], WORD_ID[person]]
        answer[n] = WORD_ID[last]
    return {"story": story, "question": question}, answer


def pad(inputs, memories, words):
    """Adds empty memory slots and padding words (zeros) at the end."""
    story, question = inputs["story"], inputs["question"]
    return {
        "story": np.pad(
            story,
            ((0, 0), (0, memories - story.shape[1]), (0, words - story.shape[2])),
        ),
        "question": np.pad(question, ((0, 0), (0, words - question.shape[1]))),
    }


INPUTS = where_is_stories(3, seed=5)[0]


def build(**overrides):
    return MemoryNetwork.from_preset(
        "memory_network_tiny", vocabulary_size=VOCABULARY_SIZE, **overrides
    )


@pytest.mark.parametrize("weight_tying", ["adjacent", "layerwise"])
def test_shapes_attention_and_padding_invariance(weight_tying):
    model = build(weight_tying=weight_tying)
    logits = model.predict(INPUTS, verbose=0)
    assert logits.shape == (3, VOCABULARY_SIZE)
    assert logits.dtype == np.float32

    padded = pad(INPUTS, memories=11, words=9)
    weights = model.attention_weights(padded)
    assert weights.shape == (3, 3, 11)
    real = (padded["story"] != 0).any(axis=-1)[:, None, :]
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-5)
    assert np.all(weights[np.broadcast_to(~real, weights.shape)] == 0)
    # Position and temporal encoding are on: both read the masks, not the shape.
    assert model.position_encoding and model.temporal_encoding
    assert_allclose(model.predict(padded, verbose=0), logits)
    assert_allclose(weights[..., :6], model.attention_weights(INPUTS))


def test_position_encoding_matches_the_paper():
    dim, width = 5, 9
    token_ids = np.zeros((3, width), "int32")
    for row, length in enumerate((1, 3, 7)):
        token_ids[row, :length] = np.arange(2, length + 2)
    weights = keras.ops.convert_to_numpy(position_encoding_weights(token_ids, dim))
    assert weights.shape == (3, width, dim)
    k = np.arange(1, dim + 1) / dim
    for row, length in enumerate((1, 3, 7)):
        for j in range(1, length + 1):
            expected = (1 - j / length) - k * (1 - 2 * j / length)
            np.testing.assert_allclose(weights[row, j - 1], expected, atol=1e-6)
        assert np.all(weights[row, length:] == 0)


def test_memory_order_only_matters_with_temporal_encoding():
    permuted = {
        "story": INPUTS["story"][:, [2, 0, 1, 3, 4, 5]],
        "question": INPUTS["question"],
    }
    without = build(temporal_encoding=False)
    assert_allclose(
        without.predict(permuted, verbose=0), without.predict(INPUTS, verbose=0)
    )
    with_te = build()
    difference = with_te.predict(permuted, verbose=0) - with_te.predict(
        INPUTS, verbose=0
    )
    assert np.abs(difference).max() > 1e-4


def test_linear_start_flag_removes_the_softmax():
    rng = np.random.default_rng(0)
    query = rng.normal(size=(2, 4)).astype("float32")
    keys = rng.normal(size=(2, 5, 4)).astype("float32")
    values = rng.normal(size=(2, 5, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1]], bool)
    layer = MemoryAttention()
    scores = np.einsum("bd,bmd->bm", query, keys)
    softmax = np.where(mask, np.exp(scores), 0)
    softmax /= softmax.sum(-1, keepdims=True)
    for flag, expected in ((0.0, softmax), (1.0, scores * mask)):
        if layer.built:
            layer.linear_start.assign(flag)
        output, weights = layer(query, keys, values, mask)
        if not flag:
            assert not layer.linear_start.trainable
            assert float(layer.linear_start) == 0.0
        assert_allclose(weights, expected)
        assert_allclose(output, np.einsum("bm,bmd->bd", expected, values))

    # The whole model: still padding-invariant during a linear start.
    model = build()
    model.memory_attention.linear_start.assign(1.0)
    padded = pad(INPUTS, memories=11, words=9)
    assert_allclose(model.predict(padded, verbose=0), model.predict(INPUTS, verbose=0))
    assert np.abs(model.attention_weights(INPUTS).sum(-1) - 1).max() > 1e-3


def test_linear_start_callback_flips_the_compiled_step_at_its_epoch():
    inputs, answers = where_is_stories(64)
    model = build()
    # A zero learning rate keeps the weights, so the loss only changes with the
    # flag: equal within the linear epochs, then a different value.
    model.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=True)
    assert model.jit_compile is True
    flags = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: flags.append(
            float(model.memory_attention.linear_start)
        )
    )
    history = model.fit(
        inputs,
        answers,
        batch_size=64,
        epochs=4,
        callbacks=[LinearStart(epochs=2), record],
        verbose=0,
    )
    assert flags == [1.0, 1.0, 0.0, 0.0]
    loss = history.history["loss"]
    assert loss[0] == pytest.approx(loss[1]) and loss[2] == pytest.approx(loss[3])
    assert abs(loss[1] - loss[2]) > 1e-4
    callback = LinearStart(epochs=1)
    callback.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    with pytest.raises(ValueError, match="MemoryAttention"):
        callback.on_train_begin()


def test_random_noise_only_in_training():
    mask = np.zeros((200, 8), bool)
    mask[:, :6] = True
    mask[:, 2] = False  # an empty slot inside the story
    plain = keras.ops.convert_to_numpy(MemoryAges()(mask))
    np.testing.assert_array_equal(plain[0], [4, 3, 0, 2, 1, 0, 0, 0])
    ages = MemoryAges(random_noise=0.1, seed=3)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(ages(mask)), plain)
    noisy = keras.ops.convert_to_numpy(ages(mask, training=True))
    assert np.all(noisy[~mask] == 0)
    real = noisy[:, [0, 1, 3, 4, 5]]
    assert np.all(np.diff(real, axis=-1) < 0)  # older memories stay older
    assert np.all(noisy >= plain)
    inserted = real[:, 0] - plain[:, 0]  # empty memories after the first one
    assert 0.05 < inserted.mean() / 5 < 0.15  # about 10% of 5 memories

    model = build(random_noise=0.5)
    assert model.get_config()["random_noise"] == 0.5
    logits = model.predict(INPUTS, verbose=0)
    assert_allclose(model(INPUTS, training=False), logits)
    assert_allclose(model.predict(pad(INPUTS, memories=11, words=9), verbose=0), logits)
    assert np.abs(model(INPUTS, training=True) - logits).max() > 1e-4
    with pytest.raises(ValueError, match="temporal_encoding"):
        build(random_noise=0.1, temporal_encoding=False)
    with pytest.raises(ValueError, match="random_noise"):
        build(random_noise=1.5)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="weight_tying"):
        build(weight_tying="none")
    with pytest.raises(ValueError, match="num_hops"):
        build(num_hops=0)


def test_keras_file_round_trip(tmp_path):
    model = build(weight_tying="adjacent")
    restored = assert_keras_file_round_trip(model, INPUTS, tmp_path)
    assert isinstance(restored, MemoryNetwork)
    assert_allclose(restored.attention_weights(INPUTS), model.attention_weights(INPUTS))


def test_preset_round_trip_and_overrides(tmp_path):
    model = build(weight_tying="layerwise", embedding_dim=8)
    directory = os.path.join(tmp_path, "preset")
    model.save_to_preset(directory)
    restored = MemoryNetwork.from_preset(directory)
    assert restored.get_config() == model.get_config()
    assert_allclose(
        restored.predict(INPUTS, verbose=0), model.predict(INPUTS, verbose=0)
    )

    two_hops = MemoryNetwork.from_preset(
        "memory_network_tiny", vocabulary_size=VOCABULARY_SIZE, num_hops=2
    )
    assert two_hops.attention_weights(INPUTS).shape == (3, 2, 6)
    assert set(MemoryNetwork.presets) == {
        "babi_memory_network_joint",  # trained, shipped with the package
        "babi_memory_network_10k",
        "memory_network_tiny",
        "memory_network_small",
        "memory_network_base",
    }


def fit_and_score(model, epochs=8):
    inputs, answers = where_is_stories(2000, seed=0)
    model.compile(jit_compile=True)
    assert model.jit_compile is True
    model.fit(inputs, answers, batch_size=32, epochs=epochs, verbose=0)
    test_inputs, test_answers = where_is_stories(500, seed=1)
    return model.evaluate(test_inputs, test_answers, verbose=0)[1]


def test_learns_the_latest_move_and_needs_temporal_encoding():
    accuracy = fit_and_score(build())
    assert accuracy > 0.9
    # The design test: without TE the memories are a set, so no model can tell
    # which of the asked person's two moves came last: it scores about 0.5.
    without_te = fit_and_score(build(num_hops=1, temporal_encoding=False))
    assert without_te < 0.65
    assert accuracy - without_te > 0.3


def test_layerwise_tying_learns():
    assert fit_and_score(build(weight_tying="layerwise")) > 0.9


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_fit(policy):
    keras.config.set_dtype_policy(policy)
    inputs, answers = where_is_stories(64)
    model = build()
    model.compile()
    history = model.fit(inputs, answers, batch_size=32, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert model.predict(inputs, verbose=0).dtype == np.float32


JAX_SCRIPT = r"""
import keras
import numpy as np

assert keras.backend.backend() == "jax", keras.backend.backend()
from keras_ctxmem.zoo import MemoryNetwork

story = np.array(
    [[[1, 5, 6, 7, 9], [2, 5, 6, 7, 10], [1, 5, 6, 7, 11], [0, 0, 0, 0, 0]],
     [[3, 5, 6, 7, 12], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]],
    "int32",
)
inputs = {"story": story, "question": np.array([[15, 16, 1], [15, 16, 3]], "int32")}
padded = {
    "story": np.pad(story, ((0, 0), (0, 3), (0, 2))),
    "question": np.pad(inputs["question"], ((0, 0), (0, 4))),
}
answers = np.array([11, 12], "int32")
for tying in ("adjacent", "layerwise"):
    model = MemoryNetwork.from_preset(
        "memory_network_tiny", vocabulary_size=17, weight_tying=tying
    )
    logits = model.predict(inputs, verbose=0)
    assert logits.shape == (2, 17) and logits.dtype == np.float32
    np.testing.assert_allclose(model.predict(padded, verbose=0), logits, atol=1e-5)
    weights = model.attention_weights(padded)
    assert weights.shape == (2, 3, 7)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    model.compile()
    before = [w.numpy().copy() for w in model.trainable_weights]
    loss = model.train_on_batch(inputs, answers)[0]
    assert np.isfinite(loss), (tying, loss)
    changed = [
        not np.allclose(b, w.numpy()) for b, w in zip(before, model.trainable_weights)
    ]
    assert any(changed), tying
    print("ok", tying)
print("ALL OK")
"""


@pytest.mark.slow  # a JAX subprocess; the shared JAX checks run in CI
def test_forward_and_train_step_on_jax():
    assert "ALL OK" in run_under_jax(JAX_SCRIPT)


def test_linear_start_until_the_validation_loss_stops_falling():
    model = build()

    def drive(start, losses):
        """The flag in each epoch when `fit` logs these validation losses."""
        start.set_model(model)
        start.on_train_begin()
        flags = []
        for epoch, loss in enumerate(losses):
            start.on_epoch_begin(epoch)
            flags.append(float(model.memory_attention.linear_start))
            start.on_epoch_end(epoch, {"loss": 1.0, "val_loss": loss})
        return flags

    start = LinearStart(monitor="val_loss")
    # Linear while the loss falls (3.0, 2.0); 2.5 does not improve, so the
    # softmax is back from the next epoch on, for good.
    assert drive(start, [3.0, 2.0, 2.5, 1.0, 0.5]) == [1, 1, 1, 0, 0]
    assert start.stopped_epoch == 3
    capped = LinearStart(monitor="val_loss", max_epochs=2)
    assert drive(capped, [3.0, 2.0, 1.0, 0.5]) == [1, 1, 0, 0]
    fixed = LinearStart(epochs=1)
    assert drive(fixed, [3.0, 2.0, 1.0]) == [1, 0, 0]

    start.on_train_begin()
    with pytest.raises(ValueError, match="validation_data"):
        start.on_epoch_end(0, {"loss": 1.0})
    with pytest.raises(ValueError, match="either"):
        LinearStart()


def test_vocabulary_is_kept_and_checked():
    words = ["", "mary", "went", "kitchen"]
    model = MemoryNetwork(vocabulary_size=4, embedding_dim=4, vocabulary=words)
    assert MemoryNetwork.from_config(model.get_config()).vocabulary == words
    with pytest.raises(ValueError, match="padding"):
        MemoryNetwork(vocabulary_size=4, vocabulary=["mary", "", "went", "kitchen"])
    with pytest.raises(ValueError, match="4"):
        MemoryNetwork(vocabulary_size=4, vocabulary=words[:3])


def test_empty_slots_attend_as_in_the_papers_fixed_size_memory():
    rng = np.random.default_rng(0)
    query = rng.normal(size=(2, 4)).astype("float32")
    keys = rng.normal(size=(2, 3, 4)).astype("float32")
    values = rng.normal(size=(2, 3, 4)).astype("float32")
    mask = np.array([[True, True, False], [True, True, True]])
    output, weights = MemoryAttention(memory_size=5)(query, keys, values, mask)
    # The paper's code: 5 slots, the empty ones score 0 and read nothing.
    scores = np.einsum("bd,bmd->bm", query, keys)
    expected = np.zeros((2, 3))
    for b in range(2):
        real = np.exp(scores[b][mask[b]])
        expected[b, mask[b]] = real / (real.sum() + (5 - mask[b].sum()))
    assert_allclose(weights, expected)
    assert_allclose(output, np.einsum("bm,bmd->bd", expected, values))

    model = build(empty_slots_attend=True, max_memories=8)
    assert_allclose(
        model.predict(pad(INPUTS, memories=11, words=9), verbose=0),
        model.predict(INPUTS, verbose=0),
    )
    assert np.all(model.attention_weights(INPUTS).sum(-1) < 1)
    assert MemoryNetwork.from_config(model.get_config()).empty_slots_attend
