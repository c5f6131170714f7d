"""Run directories: a killed run resumes, another run never does.

`train(..., backup_dir=...)` resumes from the state `BackupAndRestore` left.
Started again in the same directory with other arguments or other data, that
would silently mix two runs. `resume_or_start` stores a fingerprint of the run
(its arguments and the SHA-256 of its data files) in `run.json`, resumes only
the same run, and refuses another with a message naming what differs.
`EpochHistory` keeps every epoch's logs and time in a file, so the history of
a resumed run is whole.

Example:
```python
from keras_ctxmem.runs import resume_or_start, run_fingerprint
fingerprint = run_fingerprint({"seed": 0, "learning_rate": 1e-3})
finished_epochs = resume_or_start("/tmp/run", fingerprint, "/tmp/run/backup")
```
"""

import hashlib
import json
import os
import shutil
import time

import keras

RUN_FILE = "run.json"
HISTORY_FILE = "history.json"
BACKUP_STATE = "training_metadata.json"  # written by Keras' BackupAndRestore


class RunMismatchError(ValueError):
    """The directory holds an unfinished run of other arguments or data."""


def run_fingerprint(arguments, paths=()):
    """What makes a run the same run: JSON-able `arguments` (callables are
    left out) and the SHA-256 of each file (or folder's files) in `paths`."""
    kept = {
        key: value for key, value in sorted(arguments.items()) if not callable(value)
    }
    return {
        "arguments": json.loads(json.dumps(kept, default=str)),
        "data": {str(path): _digest(path) for path in paths if path},
    }


def resume_or_start(out_dir, fingerprint, backup_dir):
    """The number of epochs a resumed run has finished, or 0 for a fresh start.

    Raises `RunMismatchError` when `backup_dir` holds the state of a run whose
    fingerprint (see `run_fingerprint`) differs. A fresh start writes the
    fingerprint and clears the epoch history.
    """
    state = os.path.join(backup_dir, BACKUP_STATE)
    run_file = os.path.join(out_dir, RUN_FILE)
    if os.path.exists(state):
        saved = _read_json(run_file)
        if saved != fingerprint:
            raise RunMismatchError(
                f"--out {out_dir} holds an unfinished run with other settings "
                f"({_differences(saved, fingerprint)}); resuming it would mix the "
                f"two. Choose another --out, or delete {backup_dir} to start "
                "this run afresh there."
            )
        return int(_read_json(state).get("epoch", 0))
    if os.path.isdir(backup_dir):
        shutil.rmtree(backup_dir)  # no finished epoch: nothing to resume
    os.makedirs(out_dir, exist_ok=True)
    _write_json(run_file, fingerprint)
    history = os.path.join(out_dir, HISTORY_FILE)
    if os.path.exists(history):
        os.remove(history)
    return 0


def read_history(path):
    """`(history, seconds)`: `{metric: [value per epoch]}` and the summed
    training time of the epochs an `EpochHistory` wrote to `path`."""
    epochs = _read_json(path) or []
    history = {}
    for logs in epochs:
        for key, value in logs.items():
            if key != "seconds":
                history.setdefault(key, []).append(value)
    return history, sum(logs.get("seconds", 0) for logs in epochs)


class EpochHistory(keras.callbacks.Callback):
    """Writes each epoch's logs and seconds to a JSON file, by epoch number,
    so that a run resumed after a kill keeps the epochs before it."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        epochs = _read_json(self.path) or []
        record = {key: float(value) for key, value in (logs or {}).items()}
        record["seconds"] = round(time.time() - self._started, 2)
        epochs = epochs[:epoch] + [{}] * (epoch - len(epochs)) + [record]
        _write_json(self.path, epochs)


def _digest(path):
    digest = hashlib.sha256()
    files = [path]
    if os.path.isdir(path):
        files = sorted(
            os.path.join(parent, name)
            for parent, _, names in os.walk(path)
            for name in names
        )
    for name in files:
        if os.path.isfile(name):
            digest.update(os.path.relpath(name, path).encode())
            with open(name, "rb") as f:
                for block in iter(lambda: f.read(2**20), b""):
                    digest.update(block)
    return digest.hexdigest()


def _differences(saved, current):
    if saved is None:
        return f"it has no {RUN_FILE}"
    changed = []
    for section in ("arguments", "data"):
        old, new = saved.get(section, {}), current.get(section, {})
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                if section == "data":
                    changed.append(f"the content of {key}")
                else:
                    was, now = old.get(key), new.get(key)
                    changed.append(f"{key}: {was!r} then, {now!r} now")
    return "; ".join(changed) or "unknown"


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_json(path, content):
    temporary = f"{path}.tmp"
    with open(temporary, "w") as f:
        json.dump(content, f, indent=2)
    os.replace(temporary, path)
