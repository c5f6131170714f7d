import numpy as np
import pytest

from keras_ctxmem.data.synthetic import (
    TASKS,
    associative_recall,
    membership_recall,
    multi_query_associative_recall,
    vocabulary_size_for,
)


def test_membership_labels_say_whether_the_query_occurred():
    token_ids, labels = membership_recall(500, context_length=20, vocabulary_size=60)
    assert token_ids.shape == (500, 21) and token_ids.dtype == np.int32
    for row, label in zip(token_ids, labels, strict=False):
        context, query = row[:-1], row[-1]
        assert len(set(context)) == 20
        assert (query in context) == bool(label)
    assert 0.4 < labels.mean() < 0.6
    assert token_ids.min() >= 1 and token_ids.max() < 60


def test_associative_recall_label_is_the_paired_value():
    token_ids, labels = associative_recall(300, num_pairs=5, num_keys=10, num_values=7)
    assert token_ids.shape == (300, 11)
    for row, label in zip(token_ids, labels, strict=False):
        pairs = dict(zip(row[0:-1:2], row[1:-1:2], strict=False))
        assert len(pairs) == 5  # distinct keys
        assert pairs[row[-1]] == 1 + 10 + label
    assert labels.max() < 7


def test_mqar_labels_sit_where_keys_are_asked():
    token_ids, labels = multi_query_associative_recall(
        50, sequence_length=40, num_pairs=6, num_keys=16, num_values=16
    )
    assert token_ids.shape == labels.shape == (50, 40)
    assert token_ids.max() < vocabulary_size_for(16, 16)
    for row, row_labels in zip(token_ids, labels, strict=False):
        pairs = dict(zip(row[0:12:2], row[1:12:2], strict=False))
        asked = np.flatnonzero(row_labels >= 0)
        assert len(asked) == 6 and asked.min() >= 12
        for position in asked:
            assert pairs[row[position]] == 1 + 16 + row_labels[position]


def test_same_seed_same_data_other_seed_other_data():
    a, _ = membership_recall(10, seed=3)
    b, _ = membership_recall(10, seed=3)
    c, _ = membership_recall(10, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_impossible_settings_are_named():
    with pytest.raises(ValueError, match="num_pairs"):
        associative_recall(1, num_pairs=40, num_keys=32)
    with pytest.raises(ValueError, match="sequence_length"):
        multi_query_associative_recall(1, sequence_length=10, num_pairs=8)
    with pytest.raises(ValueError, match="vocabulary_size"):
        membership_recall(1, context_length=50, vocabulary_size=40)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_tasks_split_train_and_validation(name):
    task = TASKS[name](num_train=64, num_val=16)
    assert len(task.x_train) == 64 and len(task.x_val) == 16
    assert task.x_train.max() < task.vocabulary_size
    assert task.y_train.max() < task.num_classes
    assert not np.array_equal(task.x_train[:16], task.x_val)
