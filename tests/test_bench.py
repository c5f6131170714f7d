"""`ctxmem bench` runs and reports; no timing is asserted."""

import importlib.util

import numpy as np
import pytest

from keras_ctxmem import cli

ARGS = [
    "bench",
    "--preset",
    "transformer_tiny",
    "--steps",
    "3",
    "--repeats",
    "1",
    "--sequence-length",
    "16",
    "--batch-size",
    "4",
]
HAS_TORCH = importlib.util.find_spec("torch") is not None


def test_bench_prints_a_step_time(capsys):
    assert cli.main(ARGS) == 0
    out = capsys.readouterr().out
    assert "Keras step time (median):" in out and " ms," in out
    assert "tokens/s" in out
    if HAS_TORCH:  # The PyTorch part only where PyTorch is installed.
        assert "PyTorch eager step time (median):" in out
        assert "Keras/PyTorch throughput:" in out
    else:
        assert "PyTorch is not installed" in out


def test_bench_rejects_unknown_presets(capsys):
    assert cli.main(["bench", "--preset", "transformer_huge"]) == 2
    assert "transformer_tiny" in capsys.readouterr().err


def test_bench_times_the_memory_transformer_alone(capsys):
    # Without XLA: its XLA compile is tested in tests/zoo/test_conformance.py.
    args = [*ARGS[:2], "memory_transformer_tiny", *ARGS[3:], "--no-xla"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "Keras step time (median):" in out
    assert "No PyTorch reference for the 'memory_transformer' family" in out


@pytest.mark.parametrize(
    "preset",
    ["multimodal_tiny", "memory_network_tiny", "seq2seq_transformer_tiny"],
)
def test_harness_feeds_every_family(preset):
    from keras_ctxmem.benchmarking import harness

    family, config, _ = harness.preset_config(preset, 24)
    x, y = harness.synthetic_inputs(family, config, 3, 24)
    runner = harness.KerasRunner(preset, x, y, 24, jit=False)
    assert len(runner.run(2)) == 2
    assert np.isfinite(runner.model.evaluate(x, y, verbose=0)[0])
