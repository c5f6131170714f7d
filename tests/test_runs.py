"""A run killed and started again resumes only when it is the same run, and
keeps its whole history; another run in the same --out is refused clearly."""

import json
import os

import pytest

from keras_ctxmem import cli, training
from keras_ctxmem.data import synthetic
from keras_ctxmem.data.synthetic import membership_task
from keras_ctxmem.runs import (
    RunMismatchError,
    resume_or_start,
    run_fingerprint,
)


class Killed(Exception):
    """Stands for a kill after the first epoch's backup."""


def test_fingerprints_see_arguments_and_data_content(tmp_path):
    data = tmp_path / "d.tsv"
    data.write_text("a\t1\n")
    first = run_fingerprint({"seed": 0, "lr": 1e-3, "run": print}, [str(data)])
    assert first == run_fingerprint({"lr": 1e-3, "seed": 0}, [str(data)])
    assert first != run_fingerprint({"seed": 1, "lr": 1e-3}, [str(data)])
    data.write_text("a\t0\n")  # same name and size, other content
    assert first != run_fingerprint({"seed": 0, "lr": 1e-3}, [str(data)])


def test_a_stale_state_is_refused_naming_out_and_what_differs(tmp_path):
    out, backup = str(tmp_path / "run"), str(tmp_path / "run" / "backup")
    assert resume_or_start(out, run_fingerprint({"seed": 0}), backup) == 0
    os.makedirs(backup)
    with open(os.path.join(backup, "training_metadata.json"), "w") as f:
        json.dump({"epoch": 1}, f)
    assert resume_or_start(out, run_fingerprint({"seed": 0}), backup) == 1
    with pytest.raises(RunMismatchError, match=f"--out {out} .*seed: 0 then, 1 now"):
        resume_or_start(out, run_fingerprint({"seed": 1}), backup)
    os.remove(os.path.join(out, "run.json"))  # a state from before fingerprints
    with pytest.raises(RunMismatchError, match=f"no run.json.*delete {backup}"):
        resume_or_start(out, run_fingerprint({"seed": 0}), backup)


@pytest.fixture
def small_task(monkeypatch):
    small = lambda seed=0: membership_task(num_train=128, num_val=32, seed=seed)  # noqa: E731
    monkeypatch.setitem(synthetic.TASKS, "membership", small)


def kill_after_first_epoch(monkeypatch):
    class Kill(training.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise Killed

    real = training.default_callbacks
    monkeypatch.setattr(training, "default_callbacks", lambda *a: [*real(*a), Kill()])


def test_ctxmem_train_resumes_the_same_run_and_refuses_another(
    tmp_path, capsys, monkeypatch, small_task
):
    out = str(tmp_path / "run")
    args = ["train", "lstm_tiny", "--epochs", "3", "--out", out, "--seed", "3"]
    with monkeypatch.context() as patch:
        kill_after_first_epoch(patch)
        with pytest.raises(Killed):
            cli.main(args)
    # Other settings in the same --out: refused, one line, nothing changed.
    for other in (["--seed", "4"], ["--learning-rate", "0.01"]):
        assert cli.main([*args, *other]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"--out {out}" in err and "delete" in err
    assert cli.main(args) == 0
    assert "resuming from epoch 2" in capsys.readouterr().out
    results = json.loads(open(os.path.join(out, "results.json")).read())
    assert len(results["history"]["loss"]) == 3  # epoch 1 kept across the kill
    assert len(results["history"]["val_loss"]) == 3
    # Finished: a new run with other settings starts afresh, no resume.
    assert cli.main([*args[:-2], "--seed", "5"]) == 0
    assert "resuming" not in capsys.readouterr().out
