"""tf.distribute training and runs that survive being killed.

Each check runs in fresh processes: a TF runtime's devices and cluster are fixed
when it starts. Multi-worker training is in `test_multi_worker.py`.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TRAIN_SCRIPT = r"""
import json, os, signal, sys
import numpy as np
import tensorflow as tf

args = json.loads(sys.argv[1])
if args.get("logical_cpus"):
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * args["logical_cpus"]
    )
import keras
from keras_ctxmem.training import train
from keras_ctxmem.zoo import LSTMClassifier

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.integers(1, 30, size=(256, 12)).astype("int32")
y = (x == 7).any(axis=1).astype("int32")


class KillMidEpoch(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == args["kill_at_epoch"] and batch == 3:
            os.kill(os.getpid(), signal.SIGKILL)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch


callbacks = [KillMidEpoch()] if args.get("kill_at_epoch") is not None else []
model, history = train(
    lambda: LSTMClassifier.from_preset(
        "lstm_tiny", vocabulary_size=30, dropout=0.0, bidirectional=False
    ),
    x, y, epochs=args["epochs"], batch_size=32, strategy=args["strategy"],
    backup_dir=args.get("backup_dir"), callbacks=callbacks, shuffle=False, verbose=0,
)
print(json.dumps({
    "loss": history.history["loss"],
    "steps": int(model.optimizer.iterations.numpy()),
    "replicas": model.distribute_strategy.num_replicas_in_sync,
    "predictions": model.predict(x[:8], verbose=0).tolist(),
}))
"""


def run_training(args, env=None, check=True):
    result = subprocess.run(
        [sys.executable, "-c", TRAIN_SCRIPT, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout.strip().splitlines()[-1])
    return result


def test_mirrored_strategy_over_two_logical_cpus_trains():
    result = run_training({"strategy": "mirrored", "epochs": 3, "logical_cpus": 2})
    assert result["replicas"] == 2
    assert result["loss"][-1] < result["loss"][0]
    assert result["steps"] == 3 * 8


def test_killed_run_resumes_to_the_same_model(tmp_path):
    uninterrupted = run_training({"strategy": "default", "epochs": 4})
    backup = str(tmp_path / "backup")
    killed = run_training(
        {"strategy": "default", "epochs": 4, "backup_dir": backup, "kill_at_epoch": 2},
        check=False,
    )
    assert killed.returncode == -9  # SIGKILL, mid-epoch
    assert os.listdir(backup)
    resumed = run_training({"strategy": "default", "epochs": 4, "backup_dir": backup})
    assert resumed["steps"] == uninterrupted["steps"] == 4 * 8
    np.testing.assert_allclose(
        resumed["predictions"], uninterrupted["predictions"], atol=1e-4
    )
    assert len(resumed["loss"]) == 2  # only the epochs it had left


def test_nan_loss_stops_with_a_clear_error():
    import keras

    from keras_ctxmem.training import NaNLossError, train
    from keras_ctxmem.zoo import LSTMClassifier

    x = np.random.default_rng(0).integers(1, 30, size=(64, 8)).astype("int32")
    y = np.zeros(64, "int32")
    with pytest.raises(NaNLossError, match="epoch 1, batch 2"):
        train(
            lambda: LSTMClassifier.from_preset("lstm_tiny", vocabulary_size=30),
            x,
            y,
            optimizer=keras.optimizers.SGD(learning_rate=float("nan")),
            verbose=0,
            epochs=2,
        )
