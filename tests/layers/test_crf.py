import itertools

import keras
import numpy as np
import pytest

from keras_ctxmem.layers import CRF, CRFLoss
from tests.helpers import run_under_jax

NUM_TAGS = 3


def _crf_and_inputs(seed=0):
    rng = np.random.default_rng(seed)
    crf = CRF(NUM_TAGS)
    crf.build()
    crf.transitions.assign(rng.normal(size=(NUM_TAGS, NUM_TAGS)).astype("float32"))
    crf.start_transitions.assign(rng.normal(size=NUM_TAGS).astype("float32"))
    crf.end_transitions.assign(rng.normal(size=NUM_TAGS).astype("float32"))
    emissions = rng.normal(size=(2, 4, NUM_TAGS)).astype("float32")
    lengths = [4, 2]
    return crf, emissions, lengths


def _path_score(crf, emissions, path):
    transitions = keras.ops.convert_to_numpy(crf.transitions)
    start = keras.ops.convert_to_numpy(crf.start_transitions)
    end = keras.ops.convert_to_numpy(crf.end_transitions)
    score = start[path[0]] + end[path[-1]]
    score += sum(emissions[t, tag] for t, tag in enumerate(path))
    score += sum(transitions[a, b] for a, b in zip(path[:-1], path[1:], strict=True))
    return score


def _all_paths(length):
    return [list(p) for p in itertools.product(range(NUM_TAGS), repeat=length)]


def test_log_likelihood_equals_brute_force():
    crf, emissions, lengths = _crf_and_inputs()
    mask = np.arange(4)[None] < np.array(lengths)[:, None]
    tags = np.array([[0, 2, 1, 1], [2, 1, -1, -1]], "int32")
    result = keras.ops.convert_to_numpy(crf.log_likelihood(emissions, tags, mask))
    for row, length in enumerate(lengths):
        scores = [_path_score(crf, emissions[row], p) for p in _all_paths(length)]
        log_z = np.log(np.sum(np.exp(scores)))
        gold = _path_score(crf, emissions[row], list(tags[row, :length]))
        np.testing.assert_allclose(result[row], gold - log_z, rtol=1e-5, atol=1e-5)


def test_viterbi_equals_brute_force():
    for seed in range(5):
        crf, emissions, lengths = _crf_and_inputs(seed)
        mask = np.arange(4)[None] < np.array(lengths)[:, None]
        decoded = keras.ops.convert_to_numpy(crf.viterbi_decode(emissions, mask))
        for row, length in enumerate(lengths):
            best = max(
                _all_paths(length), key=lambda p: _path_score(crf, emissions[row], p)
            )
            assert decoded[row, :length].tolist() == best
            assert decoded[row, length:].tolist() == [0] * (4 - length)


def test_padding_never_changes_a_result():
    crf, emissions, _ = _crf_and_inputs()
    tags = np.array([[0, 2, 1, 1]], "int32")
    short = emissions[:1]
    padded = np.concatenate([short, np.full((1, 5, NUM_TAGS), 9.0, "float32")], 1)
    padded_tags = np.concatenate([tags, np.full((1, 5), -1, "int32")], 1)
    padded_mask = np.arange(9)[None] < 4
    ll_short = crf.log_likelihood(short, tags)
    ll_padded = crf.log_likelihood(padded, padded_tags, padded_mask)
    np.testing.assert_allclose(ll_short, ll_padded, rtol=1e-6)
    path_short = keras.ops.convert_to_numpy(crf.viterbi_decode(short))
    path_padded = keras.ops.convert_to_numpy(crf.viterbi_decode(padded, padded_mask))
    assert path_padded[0, :4].tolist() == path_short[0].tolist()


def test_loss_uses_minus_one_as_padding_and_learns():
    crf = CRF(NUM_TAGS)
    inputs = keras.Input((None, NUM_TAGS))
    model = keras.Model(inputs, crf(keras.layers.Dense(NUM_TAGS)(inputs)))
    model.compile(keras.optimizers.Adam(0.1), loss=CRFLoss(crf))
    x = np.eye(NUM_TAGS, dtype="float32")[None].repeat(8, 0)
    y = np.tile(np.array([[0, 1, 2]], "int32"), (8, 1))
    y[4:, 2] = -1  # padding: left out of the loss
    first = model.evaluate(x, y, verbose=0)
    # 30 steps: 30 copies in order, one batch each (as 30 epochs, less overhead).
    x30, y30 = np.tile(x, (30, 1, 1)), np.tile(y, (30, 1))
    model.fit(x30, y30, batch_size=8, shuffle=False, verbose=0)
    assert model.evaluate(x, y, verbose=0) < first / 2
    decoded = crf.viterbi_decode(model.predict(x, verbose=0))
    assert keras.ops.convert_to_numpy(decoded)[0].tolist() == [0, 1, 2]


def test_bad_num_tags():
    with pytest.raises(ValueError, match="num_tags"):
        CRF(1)


def test_crf_on_jax():
    output = run_under_jax(
        r"""
import keras, numpy as np
from keras_ctxmem.layers import CRF
crf = CRF(3)
crf.build()
x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
ll = crf.log_likelihood(x, np.zeros((2, 5), "int32"), mask)
tags = crf.viterbi_decode(x, mask)
print("OK", np.asarray(ll).shape, np.asarray(tags)[0, 3:].tolist())
"""
    )
    assert "OK (2,) [0, 0]" in output
