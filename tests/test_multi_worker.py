"""Multi-worker training: two real worker processes on 127.0.0.1.

Each worker is a fresh process with its own `TF_CONFIG`; the reference is `fit`
in this process on the same data, initial weights and global batch.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from keras_ctxmem.training import get_strategy, train
from keras_ctxmem.zoo import LSTMClassifier

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE = np.arange(1, 25, dtype="int32").reshape(2, 12)

WORKER_SCRIPT = r"""
import json, os, signal, sys
import tensorflow as tf
from tests.test_multi_worker import PROBE, train_tiny_lstm

args = json.loads(sys.argv[1])
if args.get("kill_after_epochs"):
    save = tf.train.CheckpointManager.save

    def save_then_die(manager, *a, **kw):
        path = save(manager, *a, **kw)
        if manager.checkpoint.epoch.numpy() == args["kill_after_epochs"]:
            os.kill(os.getpid(), signal.SIGKILL)
        return path

    tf.train.CheckpointManager.save = save_then_die
model, history = train_tiny_lstm("multi_worker", args["epochs"], args.get("backup_dir"))
print(json.dumps({
    "history": history.history,
    "predictions": model.predict(PROBE, verbose=0).tolist(),
}))
"""


def train_tiny_lstm(strategy, epochs, backup_dir=None):
    """The run every process makes: same seed, data, model and global batch."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(1, 30, size=(128, 12)).astype("int32")
    y = (x == 7).any(axis=1).astype("int32")
    return train(
        lambda: LSTMClassifier.from_preset(
            "lstm_tiny", vocabulary_size=30, dropout=0.0, bidirectional=False
        ),
        x,
        y,
        epochs=epochs,
        batch_size=32,
        strategy=strategy,
        backup_dir=backup_dir,
        jit_compile=False,
        validation_data=(x[:32], y[:32]),
        shuffle=False,
        verbose=0,
    )


def free_ports(count):
    """Ports the OS picked (bound to port 0), all held until all are chosen."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run_workers(args, tmp_path, stall_seconds=300):
    """Starts two workers and waits for both, on progress rather than on the
    clock: a busy machine only makes them slower. Both are killed once each
    has printed its result (what happens after is TensorFlow's shutdown), once
    one has failed (the other would wait on a collective for ever), or once
    neither has used a CPU second in `stall_seconds`.

    Returns each worker's `(returncode, stdout, stderr)`; the return code of a
    worker killed after printing its result is reported as 0.
    """
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    processes, logs = [], []
    for index in range(2):
        tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        out = open(tmp_path / f"worker{index}.out", "w+")
        err = open(tmp_path / f"worker{index}.err", "w+")
        logs.append((out, err))
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER_SCRIPT, json.dumps(args)],
                cwd=ROOT,
                stdout=out,
                stderr=err,
                env={
                    **os.environ,
                    "TF_CONFIG": json.dumps(tf_config),
                    "TF_CPP_MIN_LOG_LEVEL": "3",
                    "TF_NUM_INTEROP_THREADS": "1",
                    "TF_NUM_INTRAOP_THREADS": "1",
                },
            )
        )
    cpu, cpu_seconds, progress_at = None, {}, time.monotonic()
    try:
        while any(p.poll() is None for p in processes):
            # A worker that failed leaves the other waiting on a collective.
            if any(p.returncode not in (None, 0, -9) for p in processes):
                break
            if all(_result_line(out.name) for out, _ in logs):
                break
            for p in processes:
                if p.poll() is None:
                    cpu_seconds[p.pid] = _cpu_seconds(p.pid)
            used = sum(cpu_seconds.values())
            if cpu is None or used > cpu + 1.0:
                cpu, progress_at = used, time.monotonic()
            elif time.monotonic() - progress_at > stall_seconds:
                break
            time.sleep(0.5)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
            p.wait()
    results = []
    for p, (out, err) in zip(processes, logs, strict=True):
        out.seek(0), err.seek(0)
        stdout = out.read()
        returncode = 0 if _result_line(out.name) else p.returncode
        results.append((returncode, stdout, err.read()))
        out.close(), err.close()
    return results


def _result_line(path):
    """The worker's JSON result, once it has printed it whole."""
    with open(path) as f:
        lines = f.read().splitlines()
    try:
        return lines and "history" in json.loads(lines[-1]) and lines[-1]
    except (TypeError, ValueError):
        return None


def _cpu_seconds(pid):
    """User + system CPU time of a live process (Linux `/proc`), 0 elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def outputs(results):
    for returncode, _, stderr in results:
        assert returncode == 0, stderr[-3000:]
    return [json.loads(stdout.strip().splitlines()[-1]) for _, stdout, _ in results]


def test_two_workers_train_as_one_process_with_the_global_batch(tmp_path):
    workers = outputs(run_workers({"epochs": 2}, tmp_path))
    model, reference = train_tiny_lstm("default", epochs=2)
    first, second = (worker["history"] for worker in workers)
    assert first == second  # every worker reduces the same losses
    np.testing.assert_allclose(first["loss"], reference.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(
        first["val_loss"], reference.history["val_loss"], rtol=1e-5
    )
    assert first["loss"][-1] < first["loss"][0]
    for worker in workers:  # the returned model carries the trained weights
        np.testing.assert_allclose(
            worker["predictions"], model.predict(PROBE, verbose=0), atol=1e-5
        )


@pytest.mark.slow  # four worker processes, two after the other
def test_killed_workers_resume_from_the_chief_checkpoint(tmp_path):
    backup = str(tmp_path / "backup")
    args = {"epochs": 3, "backup_dir": backup}
    killed = run_workers({**args, "kill_after_epochs": 2}, tmp_path)
    assert [returncode for returncode, _, _ in killed] == [-9, -9]
    workers = outputs(run_workers(args, tmp_path))
    model, reference = train_tiny_lstm("default", epochs=3)
    for worker in workers:
        assert len(worker["history"]["loss"]) == 1  # only the epoch it had left
        np.testing.assert_allclose(
            worker["history"]["loss"], reference.history["loss"][-1:], rtol=1e-5
        )
        np.testing.assert_allclose(
            worker["predictions"], model.predict(PROBE, verbose=0), atol=1e-5
        )
    assert not os.path.exists(backup)  # deleted once the run ended


@pytest.mark.parametrize(
    "tf_config, message",
    [
        (None, "TF_CONFIG environment variable, which is not set"),
        ("{cluster", "TF_CONFIG is not valid JSON"),
        ('{"task": {"type": "worker", "index": 0}}', 'no "cluster"'),
        ('{"cluster": {"worker": ["host1"]}}', '"host:port" strings'),
        ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "ps"}}', "this process"),
        (
            '{"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 1}}',
            "index must be an integer from 0 to 0",
        ),
    ],
)
def test_multi_worker_names_what_is_wrong_with_tf_config(
    tf_config, message, monkeypatch
):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ValueError, match=re.escape(message)):
        get_strategy("multi_worker")
