"""Seeded synthetic context-memory tasks: the built-in data that needs no download.

Token ids: 0 is padding, keys come first in the vocabulary, then values. Labels
are value indices in `[0, num_values)`.

- `membership_recall` (the default task of `ctxmem train`): a context of distinct
  tokens, then a query; the label is 1 when the query occurred in the context.
  One attention layer matches the query against every token; an LSTM must hold
  the whole set in its state and stays near chance.
- `associative_recall`: `num_pairs` key-value pairs, then one key asked again;
  the label is its value. A sequence classification task.
- `multi_query_associative_recall` (MQAR, Zoology; Arora et al. 2023): the pairs,
  then keys asked again at random later positions; the label at each asked
  position is the key's value, -1 elsewhere. A token classification task.
- `copy_task` and `selective_copy` (Mamba; Gu & Dao 2023, Figure 2): symbols
  in a context of blanks, then one marker per symbol; at the markers the
  labels are the symbols in order, -1 elsewhere. The copy task spaces them
  evenly, selective copying at random positions. Token classification tasks.
- `adding_problem` (LSTM; Hochreiter & Schmidhuber 1997, experiment 4): a
  sequence of (value, marker) pairs; the target is a regression on the two
  marked values, judged by `adding_problem_accuracy`.

Example:
```python
from keras_ctxmem.data.synthetic import associative_recall
token_ids, labels = associative_recall(1000, num_pairs=8, seed=0)
```
"""

import dataclasses

import numpy as np


def _keys_and_values(rng, num_examples, num_pairs, num_keys, num_values):
    if num_pairs > num_keys:
        raise ValueError(
            f"`num_pairs` ({num_pairs}) cannot exceed `num_keys` ({num_keys}): "
            "keys must be distinct within a sequence."
        )
    keys = np.argsort(rng.random((num_examples, num_keys)), axis=1)[:, :num_pairs]
    values = rng.integers(0, num_values, size=(num_examples, num_pairs))
    return keys, values


def membership_recall(num_examples, context_length=32, vocabulary_size=100, seed=0):
    """`context_length` distinct tokens, then a query token; label: was it there?

    Returns `(token_ids, labels)` of shapes `(num_examples, context_length + 1)`
    and `(num_examples,)`; half the labels are 1. Token ids are in
    `[1, vocabulary_size)`.
    """
    if context_length + 1 >= vocabulary_size:
        raise ValueError(
            f"`vocabulary_size` ({vocabulary_size}) must exceed `context_length` + 1 "
            f"({context_length + 1}): the context holds distinct tokens."
        )
    rng = np.random.default_rng(seed)
    shuffled = 1 + np.argsort(rng.random((num_examples, vocabulary_size - 1)), axis=1)
    token_ids = shuffled[:, : context_length + 1].astype("int32")
    labels = rng.integers(0, 2, size=num_examples).astype("int32")
    rows = np.arange(num_examples)
    seen = token_ids[rows, rng.integers(0, context_length, size=num_examples)]
    token_ids[:, -1] = np.where(labels == 1, seen, token_ids[:, -1])
    return token_ids, labels


def associative_recall(num_examples, num_pairs=8, num_keys=32, num_values=32, seed=0):
    """Pairs `k1 v1 ... kN vN` then one key `kq`; the label is `vq`'s index.

    Returns `(token_ids, labels)`: int32 arrays of shapes
    `(num_examples, 2 * num_pairs + 1)` and `(num_examples,)`. The vocabulary
    size is `1 + num_keys + num_values`.
    """
    rng = np.random.default_rng(seed)
    keys, values = _keys_and_values(rng, num_examples, num_pairs, num_keys, num_values)
    token_ids = np.zeros((num_examples, 2 * num_pairs + 1), "int32")
    token_ids[:, 0:-1:2] = 1 + keys
    token_ids[:, 1:-1:2] = 1 + num_keys + values
    asked = rng.integers(0, num_pairs, size=num_examples)
    rows = np.arange(num_examples)
    token_ids[:, -1] = 1 + keys[rows, asked]
    return token_ids, values[rows, asked].astype("int32")


def multi_query_associative_recall(
    num_examples,
    sequence_length=64,
    num_pairs=8,
    num_keys=32,
    num_values=32,
    seed=0,
):
    """Zoology's MQAR: pairs first, then every key asked once at a later position.

    Positions after the pairs hold a noise token (id `1 + num_keys + num_values`)
    except where a key is asked. Returns `(token_ids, labels)`, both
    `(num_examples, sequence_length)`; labels are -1 except where a key is asked.
    """
    if 2 * num_pairs + num_pairs > sequence_length:
        raise ValueError(
            f"`sequence_length` ({sequence_length}) must hold {num_pairs} pairs and "
            f"{num_pairs} queries: at least {3 * num_pairs}."
        )
    rng = np.random.default_rng(seed)
    keys, values = _keys_and_values(rng, num_examples, num_pairs, num_keys, num_values)
    noise_id = 1 + num_keys + num_values
    token_ids = np.full((num_examples, sequence_length), noise_id, "int32")
    labels = np.full((num_examples, sequence_length), -1, "int32")
    token_ids[:, 0 : 2 * num_pairs : 2] = 1 + keys
    token_ids[:, 1 : 2 * num_pairs : 2] = 1 + num_keys + values
    free = sequence_length - 2 * num_pairs
    for row in range(num_examples):
        positions = 2 * num_pairs + rng.choice(free, size=num_pairs, replace=False)
        order = rng.permutation(num_pairs)
        token_ids[row, positions] = 1 + keys[row, order]
        labels[row, positions] = values[row, order]
    return token_ids, labels


def vocabulary_size_for(num_keys=32, num_values=32):
    """Token ids used by these tasks: padding, keys, values and the noise token."""
    return num_keys + num_values + 2


@dataclasses.dataclass
class SyntheticTask:
    """A built-in task ready to train on: arrays, sizes and model settings."""

    description: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    vocabulary_size: int
    num_classes: int
    model_overrides: dict


def membership_task(num_train=20000, num_val=2000, seed=0):
    """`membership_recall` split into training and validation data."""
    x_train, y_train = membership_recall(num_train, seed=seed)
    x_val, y_val = membership_recall(num_val, seed=seed + 1)
    return SyntheticTask(
        description="did the last token occur among the 32 before it? (chance: 50%)",
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        vocabulary_size=100,
        num_classes=2,
        model_overrides={"transformer": {"pooling": "last", "dropout": 0.0}},
    )


def recall_task(num_train=20000, num_val=2000, seed=0):
    """`associative_recall` (8 pairs) split into training and validation data."""
    x_train, y_train = associative_recall(num_train, seed=seed)
    x_val, y_val = associative_recall(num_val, seed=seed + 1)
    return SyntheticTask(
        description="the value paired with the last key, among 8 pairs (chance: 3%)",
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        vocabulary_size=vocabulary_size_for(),
        num_classes=32,
        model_overrides={"transformer": {"pooling": "last", "dropout": 0.0}},
    )


def _copy_sequences(rng, positions, context_length, num_symbols):
    """Symbols at `positions` of a blank context, then one marker per symbol."""
    num_examples, num_tokens = positions.shape
    blank_id, marker_id = num_symbols + 1, num_symbols + 2
    symbols = rng.integers(0, num_symbols, size=(num_examples, num_tokens))
    token_ids = np.full((num_examples, context_length + num_tokens), blank_id, "int32")
    np.put_along_axis(token_ids, positions, 1 + symbols, axis=1)
    token_ids[:, context_length:] = marker_id
    labels = np.full(token_ids.shape, -1, "int32")
    labels[:, context_length:] = symbols
    return token_ids, labels


def copy_task(num_examples, num_tokens=8, delay=16, num_symbols=8, seed=0):
    """`num_tokens` symbols, `delay` blanks, then `num_tokens` markers.

    Token ids: 0 padding (unused), symbols `[1, num_symbols]`, blank
    `num_symbols + 1`, marker `num_symbols + 2`; the vocabulary size is
    `num_symbols + 3`. Returns `(token_ids, labels)`, both int32 of shape
    `(num_examples, 2 * num_tokens + delay)`; at the markers the labels are the
    symbols in order (`token id - 1`), -1 elsewhere. A longer `delay` asks for
    a longer memory; more `num_tokens` for a larger one.
    """
    rng = np.random.default_rng(seed)
    positions = np.broadcast_to(np.arange(num_tokens), (num_examples, num_tokens))
    return _copy_sequences(rng, positions, num_tokens + delay, num_symbols)


def selective_copy(
    num_examples, sequence_length=32, num_tokens=8, num_symbols=8, seed=0
):
    """`num_tokens` symbols at random positions among `sequence_length` (the
    others blank), then `num_tokens` markers: copy the symbols, skip the blanks.

    Same token ids and labels as `copy_task`; shapes
    `(num_examples, sequence_length + num_tokens)`.
    """
    if num_tokens > sequence_length:
        raise ValueError(
            f"`num_tokens` ({num_tokens}) cannot exceed `sequence_length` "
            f"({sequence_length}): each symbol takes a position."
        )
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((num_examples, sequence_length)), axis=1)
    positions = np.sort(order[:, :num_tokens], axis=1)
    return _copy_sequences(rng, positions, sequence_length, num_symbols)


def adding_problem(num_examples, sequence_length=100, seed=0):
    """The adding problem as defined by Hochreiter & Schmidhuber (1997).

    Each step is a pair: a value drawn from [-1, 1] and a marker. One of the
    first ten pairs is marked 1 (its value X1), then one of the first
    `sequence_length // 2 - 1` still unmarked pairs (X2); the other markers are
    0 except the first and last pair's, -1. A value marked at the first pair is
    set to 0. The target is `0.5 + (X1 + X2) / 4`, in [0, 1]. Unlike the paper,
    every sequence has the same length (the paper draws T to T + T/10).

    Returns `(inputs, targets)`: float32 of shapes
    `(num_examples, sequence_length, 2)` and `(num_examples,)`.
    """
    if sequence_length < 10:
        raise ValueError(
            f"`sequence_length` ({sequence_length}) must be at least 10: the "
            "first marked pair is one of the first ten."
        )
    rng = np.random.default_rng(seed)
    values = rng.uniform(-1.0, 1.0, size=(num_examples, sequence_length))
    markers = np.zeros((num_examples, sequence_length))
    markers[:, 0] = markers[:, -1] = -1.0
    rows = np.arange(num_examples)
    first = rng.integers(0, 10, size=num_examples)
    rank = rng.integers(0, sequence_length // 2 - 1, size=num_examples)
    second = rank + (rank >= first)  # the rank-th pair that is not `first`
    markers[rows, first] = markers[rows, second] = 1.0
    values[:, 0] = np.where(markers[:, 0] == 1.0, 0.0, values[:, 0])
    targets = 0.5 + (values[rows, first] + values[rows, second]) / 4.0
    inputs = np.stack([values, markers], axis=-1)
    return inputs.astype("float32"), targets.astype("float32")


def adding_problem_accuracy(y_true, y_pred):
    """The fraction of sequences processed correctly: absolute error below 0.04
    (Hochreiter & Schmidhuber 1997)."""
    y_true = np.asarray(y_true, "float64").reshape(-1)
    y_pred = np.asarray(y_pred, "float64").reshape(-1)
    return float(np.mean(np.abs(y_true - y_pred) < 0.04))


TASKS = {"membership": membership_task, "recall": recall_task}
