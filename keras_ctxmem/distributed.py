"""Training across hosts: `MultiWorkerMirroredStrategy` with a custom loop.

Keras 3's `fit` fails under `MultiWorkerMirroredStrategy` on TensorFlow 2.21
(keras-team/keras#20585, tensorflow/tensorflow#72388), so `fit_multi_worker` runs
the loop itself: the global batch is split across the workers, each replica's loss
is averaged over the global batch, and the model's Keras optimizer sums the
replicas' gradients. Every worker runs the same program with its own `TF_CONFIG`;
`keras_ctxmem.training.train(strategy="multi_worker")` calls it.

Example (one process per host, `TF_CONFIG` set, the same command on each):
```python
import numpy as np
from keras_ctxmem.training import train
from keras_ctxmem.zoo import create_model
x, y = np.random.randint(1, 50, (64, 10)), np.random.randint(0, 2, 64)
model, history = train(
    lambda: create_model("lstm_tiny", vocabulary_size=50),
    x, y, epochs=2, strategy="multi_worker",
)
print(history.history["loss"])  # the same on every worker
```
"""

import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf

TF_CONFIG_EXAMPLE = (
    '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}'
)


def read_tf_config():
    """The `TF_CONFIG` environment variable, parsed and checked.

    Raises a `ValueError` that names what is missing or wrong: the variable, its
    JSON, the `cluster` of `"host:port"` lists, or this process's `task`.
    """
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ValueError(
            "`strategy='multi_worker'` needs the TF_CONFIG environment variable, "
            "which is not set. Set it on each host, e.g. "
            f"TF_CONFIG='{TF_CONFIG_EXAMPLE}' (index 1 on the second host)."
        )
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {raw!r}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not (
        cluster.get("worker") or cluster.get("chief")
    ):
        raise ValueError(
            f'TF_CONFIG has no "cluster" with a "worker" list: {raw!r}. '
            f"Expected e.g. {TF_CONFIG_EXAMPLE}"
        )
    for task_type, addresses in cluster.items():
        if not isinstance(addresses, list) or not all(
            isinstance(a, str) and ":" in a for a in addresses
        ):
            raise ValueError(
                f'TF_CONFIG\'s cluster "{task_type}" must be a list of '
                f'"host:port" strings. Received: {addresses!r}'
            )
    task = config.get("task")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise ValueError(
            f"TF_CONFIG's \"task\" must name this process's type, one of "
            f"{sorted(cluster)}, and its index. Received: {task!r}"
        )
    index = task.get("index")
    if not isinstance(index, int) or not 0 <= index < len(cluster[task["type"]]):
        raise ValueError(
            f"TF_CONFIG's task index must be an integer from 0 to "
            f"{len(cluster[task['type']]) - 1} (a position in cluster "
            f'"{task["type"]}"). Received: {index!r}'
        )
    return config


def is_chief(strategy):
    """True on the worker that writes: the "chief" task, else worker 0."""
    resolver = strategy.cluster_resolver
    if resolver is None or resolver.task_type in (None, "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def fit_multi_worker(
    model,
    x,
    y=None,
    epochs=1,
    batch_size=32,
    backup_dir=None,
    log_dir=None,
    validation_data=None,
    shuffle=True,
    verbose=1,
):
    """Trains a model built and compiled under `MultiWorkerMirroredStrategy`.

    Every worker reads the same data and keeps its share of each global batch
    (`AutoShardPolicy.DATA`): one step sees the same examples as one step of a
    single process with the same `batch_size`. Arrays are shuffled each epoch in
    the same seeded order on every worker (`seed=epoch`, so a resumed run sees
    the order an uninterrupted one would).

    Args:
        model: a compiled model built inside `strategy.scope()`; its loss and
            optimizer are used.
        x, y: arrays (text is preprocessed by the model), or a `tf.data.Dataset`
            of `(x, y)` batches of the global batch size.
        batch_size: the global batch size, split across the workers.
        backup_dir: resume from here: the chief writes a `tf.train.Checkpoint`
            each epoch (the others to a temporary folder, deleted at the end).
            Every worker restores from it, so it must be a folder all of them
            can read; it is deleted when the run ends, as
            `keras.callbacks.BackupAndRestore` does.
        log_dir: TensorBoard scalars `epoch_loss` (and `epoch_val_loss`) from
            the chief, as the Keras callback writes them.
        validation_data: `(x, y)` arrays; each worker computes the whole
            validation loss itself.

    Returns:
        A `keras.callbacks.History` whose `history` has `loss` (the mean over
        the epoch's examples, as `fit` reports it), and `val_loss` with
        validation data, one value per epoch run, identical on every worker.
    """
    strategy = model.distribute_strategy
    optimizer = model.optimizer
    chief = is_chief(strategy)
    loss_fn = model.loss.__class__.from_config(
        {**model.loss.get_config(), "reduction": None}
    )

    def per_example_loss(y, y_pred):
        losses = loss_fn(y, y_pred)
        return tf.reduce_mean(tf.reshape(losses, [tf.shape(losses)[0], -1]), 1)

    def replica_step(x, y):
        context = tf.distribute.get_replica_context()
        global_batch = context.all_reduce("sum", tf.shape(y)[0])
        with tf.GradientTape() as tape:
            loss = tf.nn.compute_average_loss(
                per_example_loss(y, model(x, training=True)),
                global_batch_size=global_batch,
            )
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            scaled_loss = optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, model.trainable_variables)
        # Keras sums the replicas' gradients (an all-reduce) inside `apply`,
        # after clipping each replica's share: with `clipnorm`, a step that
        # clips differs from a single process's.
        optimizer.apply(gradients, model.trainable_variables)
        return loss, global_batch

    # Not XLA-compiled: `train` turns XLA off under several replicas, as for
    # "mirrored" (a compiled step cannot span the replicas' devices).
    @tf.function
    def train_step(x, y):
        loss, global_batch = strategy.run(replica_step, args=(x, y))
        global_batch = strategy.experimental_local_results(global_batch)[0]
        return strategy.reduce("sum", loss, axis=None), global_batch

    @tf.function
    def validation_step(x, y):
        return tf.reduce_sum(per_example_loss(y, model(x, training=False)))

    with strategy.scope():
        optimizer.build(model.trainable_variables)
        epoch = tf.Variable(0, dtype="int64", trainable=False)
    if backup_dir is not None:
        checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch)
        write_dir = backup_dir if chief else tempfile.mkdtemp()
        manager = tf.train.CheckpointManager(checkpoint, write_dir, max_to_keep=1)
        latest = tf.train.latest_checkpoint(backup_dir)
        if latest:
            checkpoint.restore(latest).assert_existing_objects_matched()
    writer = tf.summary.create_file_writer(log_dir) if log_dir and chief else None

    history = keras.callbacks.History()
    history.set_model(model)
    history.on_train_begin()
    for epoch_index in range(int(epoch.numpy()), epochs):
        dataset = _epoch_dataset(model, x, y, batch_size, shuffle, seed=epoch_index)
        total, count = 0.0, 0
        for batch_x, batch_y in strategy.experimental_distribute_dataset(dataset):
            loss, global_batch = train_step(batch_x, batch_y)
            total += float(loss) * int(global_batch)
            count += int(global_batch)
        logs = {"loss": total / count}
        if validation_data is not None:
            x_val, y_val = validation_data
            logs["val_loss"] = _validation_loss(validation_step, model, x_val, y_val)
        history.on_epoch_end(epoch_index, logs)
        epoch.assign(epoch_index + 1)
        if backup_dir is not None:
            manager.save()  # on every worker: saving runs collectives
        if writer is not None:
            with writer.as_default():
                for name, value in logs.items():
                    tf.summary.scalar(f"epoch_{name}", value, step=epoch_index)
        if verbose and chief:
            summary = " - ".join(f"{name}: {value:.4f}" for name, value in logs.items())
            print(f"Epoch {epoch_index + 1}/{epochs} - {summary}", flush=True)
    if backup_dir is not None:
        shutil.rmtree(write_dir, ignore_errors=True)
    return history


def _epoch_dataset(model, x, y, batch_size, shuffle, seed):
    if isinstance(x, tf.data.Dataset):
        dataset = x
    else:
        dataset = tf.data.Dataset.from_tensor_slices((x, y))
        if shuffle:
            dataset = dataset.shuffle(len(y), seed=seed)
        dataset = dataset.batch(batch_size)
    dataset = _tokenized(model, dataset)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.with_options(options)


def _validation_loss(validation_step, model, x, y, batch_size=256):
    dataset = _tokenized(
        model, tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    )
    total = sum(float(validation_step(bx, by)) for bx, by in dataset)
    return total / len(y)


def _tokenized(model, dataset):
    """Text batches through the model's preprocessor; token ids as they are."""
    # Imported here: the zoo imports `training`, which imports this module.
    from keras_ctxmem.preprocessing.string_inputs import (
        contains_strings,
        preprocessed_dataset,
    )

    if not contains_strings(dataset):
        return dataset
    return preprocessed_dataset(dataset, preprocess=model.preprocess_features)
