"""bAbI question answering with `MemoryNetwork`: the MemN2N paper's recipe.

`train_memory_network(train, valid, recipe)` trains on `BabiData` (from
`keras_ctxmem.data.readers.read_babi`) the way Sukhbaatar et al. (2015,
section 4.2) and their code did: PE, TE, 3 hops, adjacent tying, embeddings
from N(0, 0.1), the 50 newest statements as memory, random noise (10% empty
memories), batch 32, gradient norm clipped at 40; a linear start (no memory
softmax) of 20 epochs, then the softmax put back and the schedule started
again: SGD at 0.01 halved every `halve_every` epochs; the memory softmax also
runs over the empty slots of the 50-slot memory, as in the paper's code; and
the best of `restarts` runs chosen on the validation error. Two choices are
ours, from measurements (benchmarks/RESULTS.md, "bAbI 1k"): the linear start
runs at 0.01, not the paper's 0.005, and for a fixed 20 epochs (the paper
stops it when the validation loss stops falling: `linear_start="auto"`).
`PER_TASK` is the recipe of one model per task (d = 20, 100 epochs), `JOINT`
that of one model for all 20 tasks (d = 50, 60 epochs, halved every 15). The
vocabulary comes from the training and validation data only and is kept in
the model, so `evaluate_memory_network(model, data)` and `answer_questions`
read any bAbI file (words it never saw are left out).

Example:
```python
from keras_ctxmem.babi import PER_TASK, evaluate_memory_network, train_memory_network
from keras_ctxmem.data.readers import read_babi
train = read_babi("tutorials/data/babi_qa1_sample/qa1_sample_train.txt")
valid = read_babi("tutorials/data/babi_qa1_sample/qa1_sample_valid.txt")
model, summary = train_memory_network(train, valid, PER_TASK.replace(epochs=5))
evaluate_memory_network(model, valid)["accuracy"]
```
"""

import dataclasses

import keras
import numpy as np

from keras_ctxmem.data.readers import BabiData, babi_vocabulary
from keras_ctxmem.layers.memn2n import MemoryAttention
from keras_ctxmem.metrics import qa_accuracy_table
from keras_ctxmem.zoo.memory_network import MemoryNetwork


@dataclasses.dataclass(frozen=True)
class BabiRecipe:
    """How `train_memory_network` builds and trains a `MemoryNetwork`.

    `linear_start`: `"auto"` (until the validation loss stops falling, the
    paper, at most `max_linear_start_epochs`), a number of epochs, or 0 for
    none. The linear start runs at `linear_start_learning_rate`, constant;
    then the softmax is put back and the `epochs` of the schedule run from
    `learning_rate`, halved every `halve_every` epochs, as in the paper's code.
    Rates are SGD rates on the summed loss of a batch, as in that code (Keras
    averages, so the optimizer gets them times the batch size).
    """

    embedding_dim: int = 20
    num_hops: int = 3
    max_memories: int = 50
    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 0.01
    linear_start_learning_rate: float = 0.01
    halve_every: int = 25
    clipnorm: float = 40.0
    linear_start: object = 20
    max_linear_start_epochs: int = 40
    random_noise: float = 0.1
    empty_slots_attend: bool = True
    restarts: int = 1
    seed: int = 0

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


PER_TASK = BabiRecipe()
JOINT = BabiRecipe(embedding_dim=50, epochs=60, halve_every=15)


def babi_inputs(data, model, max_sentence_length=None):
    """`({"story", "question"}, answers)` arrays of `data` in `model`'s words.

    Words the model never saw are left out; an answer it does not know gets
    -1 (always counted wrong).
    """
    arrays = data.to_arrays(
        model.vocabulary,
        model.max_memories,
        max_sentence_length,
        unknown_words="drop",
    )
    return {"story": arrays["story"], "question": arrays["question"]}, arrays["answer"]


def split_validation(data, fraction=0.1, seed=0):
    """`(train, valid)`: a seeded `fraction` of each task's questions held out
    (the official bAbI files have no validation split; the paper keeps 10%)."""
    rng = np.random.default_rng(seed)
    task_ids = np.asarray(data.task_ids)
    held_out = np.zeros(len(data), bool)
    for task in np.unique(task_ids):
        rows = np.flatnonzero(task_ids == task)
        count = max(1, int(round(fraction * len(rows))))
        held_out[rng.choice(rows, size=count, replace=False)] = True
    return _subset(data, ~held_out), _subset(data, held_out)


def _subset(data, keep):
    fields = dataclasses.fields(BabiData)
    return BabiData(
        *(
            [item for item, k in zip(getattr(data, f.name), keep, strict=True) if k]
            for f in fields
        )
    )


def _sgd(recipe, learning_rate, steps_per_epoch):
    schedule = keras.optimizers.schedules.ExponentialDecay(
        learning_rate * recipe.batch_size,
        recipe.halve_every * steps_per_epoch,
        0.5,
        staircase=True,
    )
    return keras.optimizers.SGD(
        schedule, global_clipnorm=recipe.clipnorm / recipe.batch_size
    )


def _set_linear(model, linear):
    for layer in model.layers:
        if isinstance(layer, MemoryAttention):
            layer.linear_start.assign(1.0 if linear else 0.0)


def _one_run(recipe, vocabulary, x, y, x_valid, y_valid, seed, jit_compile, verbose):
    """One training run; returns the model, the history and the epochs of the
    linear start (0 without one)."""
    keras.utils.set_random_seed(seed)
    model = MemoryNetwork(
        vocabulary_size=len(vocabulary),
        embedding_dim=recipe.embedding_dim,
        num_hops=recipe.num_hops,
        max_memories=recipe.max_memories,
        random_noise=recipe.random_noise,
        empty_slots_attend=recipe.empty_slots_attend,
        vocabulary=vocabulary,
    )
    steps_per_epoch = -(-len(y) // recipe.batch_size)
    fit = dict(
        x=x,
        y=y,
        batch_size=recipe.batch_size,
        validation_data=(x_valid, y_valid),
        verbose=verbose,
    )
    linear_epochs = 0
    if recipe.linear_start:
        # Phase 1 (LS): no memory softmax, a constant rate, for a fixed number
        # of epochs or until the validation loss stops falling.
        _set_linear(model, True)
        model.compile(
            optimizer=_sgd(
                recipe.replace(halve_every=10**6),
                recipe.linear_start_learning_rate,
                steps_per_epoch,
            ),
            jit_compile=jit_compile,
        )
        if recipe.linear_start == "auto":
            epochs = recipe.max_linear_start_epochs
            callbacks = [keras.callbacks.EarlyStopping("val_loss", patience=0)]
        else:
            epochs, callbacks = int(recipe.linear_start), []
        history = model.fit(epochs=epochs, callbacks=callbacks, **fit)
        linear_epochs = len(history.history["loss"])
        _set_linear(model, False)
    # Phase 2: the softmax back in and training recommenced, the whole
    # schedule from 0.01 (the paper's code restarts it after the linear start).
    model.compile(
        optimizer=_sgd(recipe, recipe.learning_rate, steps_per_epoch),
        jit_compile=jit_compile,
    )
    history = model.fit(epochs=recipe.epochs, **fit)
    return model, history.history, linear_epochs


def train_memory_network(
    train, valid, recipe=PER_TASK, jit_compile="auto", verbose=0, log=None
):
    """Trains `recipe.restarts` models and keeps the best on `valid`.

    Args:
        train, valid: `BabiData`; the vocabulary is built from both (never
            from test data). For one model per task, give one task's data.
        recipe: a `BabiRecipe` (`PER_TASK`, `JOINT`, or `.replace(...)`d).
        jit_compile: passed to `compile`.
        log: optionally, a function called with each run's summary dict.

    Returns:
        `(model, summary)`: the best run's model and its summary (`seed`,
        `valid_error` and `train_error` per task and mean, `linear_epochs`,
        and `runs`, the summaries of every run).
    """
    vocabulary = babi_vocabulary(train, valid)
    words = max(
        len(sentence)
        for data in (train, valid)
        for sentence in [*data.questions, *(s for t in data.stories for s in t)]
    )
    arrays = [
        d.to_arrays(vocabulary, recipe.max_memories, words) for d in (train, valid)
    ]
    x, x_valid = ({"story": a["story"], "question": a["question"]} for a in arrays)
    y, y_valid = (a["answer"] for a in arrays)
    best, runs = None, []
    for run in range(recipe.restarts):
        seed = recipe.seed + run
        model, history, linear_epochs = _one_run(
            recipe, vocabulary, x, y, x_valid, y_valid, seed, jit_compile, verbose
        )
        valid_table = evaluate_memory_network(model, valid)
        train_table = evaluate_memory_network(model, train)
        summary = {
            "run": run,
            "seed": seed,
            "linear_epochs": linear_epochs,
            "valid_mean_error": valid_table["mean_error"],
            "valid_failed": valid_table["num_failed"],
            "valid_error": _errors(valid_table),
            "train_error": _errors(train_table),
            "final_val_loss": history["val_loss"][-1],
        }
        runs.append(summary)
        if log is not None:
            log(summary)
        if best is None or summary["valid_mean_error"] < best[1]["valid_mean_error"]:
            best = (model, summary)
    model, summary = best
    return model, {**summary, "runs": runs}


def _errors(table):
    return {task: s["error"] for task, s in table["per_task"].items()}


def evaluate_memory_network(model, data, batch_size=256):
    """bAbI scores of `model` (with its `vocabulary`) on `data`.

    Returns `qa_accuracy_table`'s dict (`per_task`, `mean_error`,
    `num_failed`, `failed_tasks`) plus the overall `accuracy` and
    `num_examples`.
    """
    if model.vocabulary is None:
        raise ValueError(
            "This MemoryNetwork has no `vocabulary`: build it with "
            "`vocabulary=` (train_memory_network does) to read bAbI text."
        )
    x, y = babi_inputs(data, model)
    predicted = model.predict(x, batch_size=batch_size, verbose=0).argmax(-1)
    table = qa_accuracy_table(data.task_ids, y, predicted)
    table["accuracy"] = float(np.mean(predicted == y))
    table["num_examples"] = len(y)
    return table


def answer_questions(model, data, batch_size=256):
    """The answer word `model` gives to each question of `data`."""
    x, _ = babi_inputs(data, model)
    predicted = model.predict(x, batch_size=batch_size, verbose=0).argmax(-1)
    return [model.vocabulary[i] for i in predicted]
