"""Seeded synthetic context-memory tasks: the built-in data that needs no download.

Token ids: 0 is padding, keys come first in the vocabulary, then values. Labels
are value indices in `[0, num_values)`.

- `associative_recall`: `num_pairs` key-value pairs, then one key asked again;
  the label is its value. A sequence classification task.
- `multi_query_associative_recall` (MQAR, Zoology; Arora et al. 2023): the pairs,
  then keys asked again at random later positions; the label at each asked
  position is the key's value, -1 elsewhere. A token classification task.

Example:
```python
from keras_ctxmem.data.synthetic import associative_recall
token_ids, labels = associative_recall(1000, num_pairs=8, seed=0)
```
"""

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


def associative_recall(
    num_examples, num_pairs=8, num_keys=32, num_values=32, seed=0
):
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
    except where a key is asked. Returns `(token_ids, labels)`, both `(num_examples, sequence_length)`;
    labels are -1 except at positions holding an asked key.
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
