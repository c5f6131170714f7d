"""Every zoo model passes the conformance checks of `tests/conformance.py`:
variable lengths, padding invariance, preset round trips (the zoo's loader and
keras-hub's), mixed precision, an XLA epoch with a partial last batch; and on
the JAX backend, in one subprocess."""

import inspect
import json

import pytest

from keras_ctxmem import zoo
from keras_ctxmem.registry import _PRESETS
from keras_ctxmem.zoo.zoo_model import ZooModel
from tests.conformance import CASES, CHECKS, run_family_test
from tests.helpers import run_under_jax

# XLA compiles a training step in 10-30 s of a loaded CPU: the default run keeps
# the cases it caught failing (their loops over segments or time steps:
# MemoryTransformer, the keras-hub memory, the tagger's CRF); `-m slow` runs them
# all.
XLA_BY_DEFAULT = {
    "keras_hub_memory",
    "lstm_tagger",
    "memory_transformer_sequence",
    "memory_transformer_token",
}


def test_every_registered_family_and_zoo_model_has_a_case():
    families = {entry["family"] for entry in _PRESETS.values()}
    covered = {case.family for case in CASES.values()}
    assert families <= covered, f"families without a case: {families - covered}"
    classes = {
        cls
        for cls in vars(zoo).values()
        if inspect.isclass(cls) and issubclass(cls, ZooModel)
    }
    covered = {case.model_class for case in CASES.values()}
    missing = sorted(cls.__name__ for cls in classes - covered)
    assert not missing, f"zoo models without a conformance case: {missing}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_conformance(name, tmp_path):
    run_family_test(CASES[name], str(tmp_path), [c for c in CHECKS if c != "xla"])


@pytest.mark.parametrize(
    "name",
    [
        name if name in XLA_BY_DEFAULT else pytest.param(name, marks=pytest.mark.slow)
        for name in sorted(CASES)
        if CASES[name].no_fit is None
    ],
)
def test_one_epoch_under_xla_with_a_partial_last_batch(name, tmp_path):
    run_family_test(CASES[name], str(tmp_path), ["xla"])


# On JAX every call of a new shape compiles (about 25 s a case on a loaded
# 2-core machine): the default run covers what the JAX test this one replaced
# covered (the backbone, and four models trained a step), with their lengths
# and padding; `-m slow` runs every check of every case.
JAX_BY_DEFAULT = {
    "attentive_lstm",
    "lstm",
    "transformer",
    "transformer_backbone",
    "transformer_token",
}
JAX_FIT_BY_DEFAULT = {"attentive_lstm", "lstm", "transformer", "transformer_token"}

SCRIPT = r"""
import json
import sys
import tempfile

import keras

assert keras.backend.backend() == "jax", keras.backend.backend()
from tests.conformance import CASES, run_family_test

plan = json.loads(sys.argv[1])
with tempfile.TemporaryDirectory() as directory:
    for name, case in CASES.items():
        if not plan[name]:
            continue
        skipped = run_family_test(case, directory, plan[name])
        print("ok", name, plan[name], skipped)
print("ALL OK")
"""


def _jax_checks(name, every_check):
    if every_check:
        return list(CHECKS)
    if name not in JAX_BY_DEFAULT:
        return []
    return ["variable_lengths", "padding"] + ["xla"] * (name in JAX_FIT_BY_DEFAULT)


@pytest.mark.parametrize(
    "every_check", [False, pytest.param(True, marks=pytest.mark.slow)]
)
def test_every_case_on_jax(every_check):
    """The cases in one `KERAS_BACKEND=jax` process."""
    plan = {name: _jax_checks(name, every_check) for name in CASES}
    assert "ALL OK" in run_under_jax(SCRIPT, json.dumps(plan))
