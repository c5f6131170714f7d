"""Training: AdamW with warm-up and decay, precision, callbacks, distribution.

`train(build_model, x, ...)` builds the model inside a `tf.distribute` strategy
(`"default"`, or `"mirrored"` for the GPUs of one host) and fits it with
`BackupAndRestore`, so a run that is killed resumes from its last finished epoch.
Under `"multi_worker"` (several hosts, `TF_CONFIG`) Keras 3's `fit` does not work
(keras#20585), so it trains with the custom loop of `keras_ctxmem.distributed`.

Example:
```python
import numpy as np
from keras_ctxmem.training import train
from keras_ctxmem.zoo import create_model
x, y = np.random.randint(1, 50, (64, 10)), np.random.randint(0, 2, 64)
model, history = train(
    lambda: create_model("lstm_tiny", vocabulary_size=50),
    x, y, epochs=2, backup_dir="/tmp/backup",
)
```
"""

import warnings

import keras
import tensorflow as tf

from keras_ctxmem.compile_defaults import (  # noqa: F401 (public here too)
    WarmupInverseSqrtDecay,
    default_optimizer,
    resolve_jit_compile,
    warmup_cosine_schedule,
)
from keras_ctxmem.distributed import fit_multi_worker, read_tf_config
from keras_ctxmem.runs import EpochHistory, read_history

PRECISION_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16", "bfloat16")


def set_precision(policy):
    """Sets the global Keras dtype policy by name, checking it first."""
    if policy not in PRECISION_POLICIES:
        raise ValueError(
            f"Unknown precision policy '{policy}'. "
            f"Choose one of: {', '.join(PRECISION_POLICIES)}."
        )
    keras.config.set_dtype_policy(policy)


STRATEGIES = ("default", "mirrored", "multi_worker")


class NaNLossError(FloatingPointError):
    """Training stopped because the loss stopped being a finite number."""


class StopOnNaN(keras.callbacks.Callback):
    """Stops training at the first non-finite loss with an error that says why."""

    def __init__(self):
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not tf.math.is_finite(float(loss)):
            self.model.stop_training = True
            raise NaNLossError(
                f"The loss became {float(loss)} at epoch {self._epoch + 1}, batch "
                f"{batch + 1}. Lower the learning rate, check the inputs for NaN "
                "or out-of-range token ids, or train in float32."
            )


def default_callbacks(log_dir=None, backup_dir=None):
    """NaN guard, TensorBoard logs, and per-epoch backups to resume a killed run."""
    callbacks = [StopOnNaN()]
    if log_dir is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=log_dir))
    if backup_dir is not None:
        callbacks.append(keras.callbacks.BackupAndRestore(backup_dir))
    return callbacks


def get_strategy(name="default"):
    """A `tf.distribute` strategy by name: default, mirrored or multi_worker.

    `"multi_worker"` reads the cluster from `TF_CONFIG` and raises a
    `ValueError` naming the problem when it is missing or malformed.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        read_tf_config()  # a clear error before TensorFlow's own
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(
        f"Unknown strategy '{name}'. Choose one of: {', '.join(STRATEGIES)}."
    )


def train(
    build_model,
    x,
    y=None,
    epochs=1,
    batch_size=32,
    strategy="default",
    backup_dir=None,
    log_dir=None,
    optimizer="auto",
    jit_compile="auto",
    callbacks=(),
    history_file=None,
    **fit_kwargs,
):
    """Builds and compiles a model inside a strategy, then fits it.

    Under `MultiWorkerMirroredStrategy` the model trains with
    `keras_ctxmem.distributed.fit_multi_worker` instead of `fit`: `fit_kwargs`
    may then be `validation_data`, `shuffle` and `verbose`, and no `callbacks`.

    Args:
        build_model: a function returning an uncompiled zoo model.
        x, y: training data, as for `model.fit` (arrays or a `tf.data.Dataset`).
        batch_size: the global batch size, split across replicas.
        strategy: a name from `STRATEGIES` or a `tf.distribute.Strategy`. With
            more than one replica XLA is turned off (it cannot compile a step
            that spans devices), with a warning.
        backup_dir: where `BackupAndRestore` keeps the state of the run; a run
            restarted with the same directory resumes from its last epoch.
        optimizer: `"auto"` is AdamW with warm-up and cosine decay over the run.
        history_file: a JSON file keeping every epoch's logs and time
            (`keras_ctxmem.runs.EpochHistory`): the returned history then holds
            the epochs before a resume too, and `history.train_seconds` their
            summed time. See `keras_ctxmem.runs.resume_or_start`, which checks
            that a resumed run is the same run.

    Returns:
        `(model, history)`. Under `MultiWorkerMirroredStrategy` the model is a
        copy built outside the strategy with the trained weights, so that one
        worker can predict or save alone (the strategy's `predict` gathers from
        every worker), and is not compiled.
    """
    if isinstance(strategy, str):
        strategy = get_strategy(strategy)
    jit_compile = resolve_jit_compile(jit_compile)
    if jit_compile and strategy.num_replicas_in_sync > 1:
        # XLA cannot compile a step whose variables live on several devices
        # (tensorflow.org/xla/known_issues): Keras would fail at the first step.
        warnings.warn(
            f"Training on {strategy.num_replicas_in_sync} replicas without XLA: "
            "a jit-compiled step cannot span the replicas' devices.",
            stacklevel=2,
        )
        jit_compile = False
    with strategy.scope():
        model = build_model()
        if optimizer == "auto" and not isinstance(x, tf.data.Dataset):
            optimizer = default_optimizer(total_steps=epochs * -(-len(x) // batch_size))
        model.compile(optimizer=optimizer, jit_compile=jit_compile)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        if callbacks:
            raise ValueError(
                "Keras callbacks run inside `fit`, which multi-worker training "
                "does not use: use `backup_dir` and `log_dir`."
            )
        history = fit_multi_worker(
            model, x, y, epochs, batch_size, backup_dir, log_dir, **fit_kwargs
        )
        trained = build_model()
        trained.set_weights(model.get_weights())
        return trained, history
    if isinstance(x, tf.data.Dataset):
        batch_size = None
    if history_file is not None:
        callbacks = [*callbacks, EpochHistory(history_file)]
    history = model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        callbacks=[*default_callbacks(log_dir, backup_dir), *callbacks],
        **fit_kwargs,
    )
    if history_file is not None:
        history.history, history.train_seconds = read_history(history_file)
    return model, history


def transformer_layout_map(device_mesh):
    """Shards the zoo Transformer's weights over the mesh's "model" axis.

    Megatron-style: attention heads and feed-forward columns are split across
    devices, the token embedding along its width; everything else is replicated.
    """
    layout_map = keras.distribution.LayoutMap(device_mesh)  # keys: re.fullmatch
    layout_map[".*token_embedding/embeddings"] = (None, "model")
    layout_map[".*/(query|key|value)/kernel"] = (None, "model", None)
    layout_map[".*/attention_output/kernel"] = ("model", None, None)
    layout_map[".*/feedforward_intermediate_dense/kernel"] = (None, "model")
    layout_map[".*/feedforward_output_dense/kernel"] = ("model", None)
    return layout_map


def set_jax_distribution(kind="data_parallel", model_parallel_size=None):
    """Distributes the models built next over every device, on the JAX backend.

    Args:
        kind: `"data_parallel"` (each device a copy, the batch split) or
            `"model_parallel"` (the Transformer's weights split by
            `transformer_layout_map`, the batch split over what is left).
        model_parallel_size: devices per model copy; default all of them.

    Example (JAX backend, before building the model):
    ```python
    from keras_ctxmem.training import set_jax_distribution
    set_jax_distribution("model_parallel", model_parallel_size=8)
    ```
    """
    if keras.backend.backend() != "jax":
        raise ValueError(
            "keras.distribution runs on the JAX backend; on TensorFlow use "
            "`train(strategy=...)`."
        )
    devices = keras.distribution.list_devices()
    if kind == "data_parallel":
        distribution = keras.distribution.DataParallel(devices=devices)
    elif kind == "model_parallel":
        size = model_parallel_size or len(devices)
        if len(devices) % size:
            raise ValueError(
                f"`model_parallel_size` ({size}) must divide the number of "
                f"devices ({len(devices)})."
            )
        mesh = keras.distribution.DeviceMesh(
            (len(devices) // size, size), ("batch", "model"), devices
        )
        distribution = keras.distribution.ModelParallel(
            layout_map=transformer_layout_map(mesh), batch_dim_name="batch"
        )
    else:
        raise ValueError(
            f"Unknown kind '{kind}'. Choose 'data_parallel' or 'model_parallel'."
        )
    keras.distribution.set_distribution(distribution)
    return distribution
