import numpy as np
import pytest

from keras_ctxmem.metrics import (
    classification_report,
    entity_chunks,
    entity_f1,
    format_qa_table,
    format_report,
    qa_accuracy_table,
)


def test_classification_report_worked_by_hand():
    report = classification_report(
        [0, 1, 1, 2, 2, 2], [0, 1, 2, 2, 2, 0], ["neg", "neu", "pos"]
    )
    neg, neu, pos = (report["per_class"][n] for n in ("neg", "neu", "pos"))
    assert neg == pytest.approx(
        {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    )
    assert neu == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    )
    assert pos == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3}
    )
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["macro_avg"]["precision"] == pytest.approx((0.5 + 1 + 2 / 3) / 3)
    assert report["weighted_avg"]["recall"] == pytest.approx((1 + 1 + 2) / 6)
    assert report["support"] == 6
    text = format_report(report)
    assert "weighted avg" in text and "0.667" in text


def test_classification_report_names_absent_classes_and_defaults_to_ids():
    report = classification_report([0, 0], [0, 0], ["a", "b"])
    assert report["per_class"]["b"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
    }
    assert report["macro_avg"]["f1"] == pytest.approx(0.5)
    assert list(classification_report([3, 1], [1, 1])["per_class"]) == ["1", "3"]


def test_entity_chunks_follow_conlleval_rules():
    # An I- after O starts a chunk (IOB1), B- splits same-type neighbours.
    assert entity_chunks(["O", "I-PER", "I-PER", "B-PER", "O"]) == [
        (1, 3, "PER"),
        (3, 4, "PER"),
    ]
    # A type change mid-chunk ends one chunk and starts another.
    assert entity_chunks(["B-PER", "I-LOC", "I-LOC"]) == [
        (0, 1, "PER"),
        (1, 3, "LOC"),
    ]
    # Single-token B- chunks; a chunk open at the end is closed.
    assert entity_chunks(["B-LOC", "B-LOC", "O", "I-ORG"]) == [
        (0, 1, "LOC"),
        (1, 2, "LOC"),
        (3, 4, "ORG"),
    ]
    with pytest.raises(ValueError, match="X-PER"):
        entity_chunks(["X-PER"])


def test_entity_f1_worked_by_hand():
    true = [
        ["B-PER", "I-PER", "O", "B-LOC"],
        ["I-ORG", "I-ORG", "B-ORG", "O"],  # IOB1: two ORG chunks
        ["B-MISC", "I-MISC"],
    ]
    pred = [
        ["B-PER", "I-LOC", "O", "B-LOC"],  # PER cut short by a type change
        ["B-ORG", "I-ORG", "I-ORG", "O"],  # one ORG chunk over both
        ["O", "I-MISC"],  # starts one token late
    ]
    scores = entity_f1(true, pred)
    assert (scores["num_true"], scores["num_pred"], scores["num_correct"]) == (5, 5, 1)
    assert scores["precision"] == scores["recall"] == 0.2
    assert scores["f1"] == pytest.approx(0.2)
    per_type = {
        t: (s["num_true"], s["num_pred"], s["num_correct"])
        for t, s in scores["per_type"].items()
    }
    assert per_type == {
        "LOC": (1, 2, 1),
        "MISC": (1, 1, 0),
        "ORG": (2, 1, 0),
        "PER": (1, 1, 0),
    }


def test_entity_f1_sentence_boundaries_end_chunks():
    # Across a boundary, "B-PER" then "I-PER" are two chunks, not one.
    true = [["O", "B-PER"], ["I-PER", "O"]]
    pred = [["O", "B-PER"], ["B-PER", "O"]]
    scores = entity_f1(true, pred)
    assert (scores["num_true"], scores["num_correct"]) == (2, 2)
    assert scores["f1"] == 1.0


def test_entity_f1_iob1_and_bio_spellings_agree_and_empty_is_zero():
    iob1 = [["I-PER", "I-PER", "B-PER", "O", "I-LOC"]]
    bio = [["B-PER", "I-PER", "B-PER", "O", "B-LOC"]]
    assert entity_f1(iob1, bio)["f1"] == 1.0
    nothing = entity_f1([["O", "B-PER"]], [["O", "O"]])
    assert (nothing["precision"], nothing["recall"], nothing["f1"]) == (0, 0, 0)
    with pytest.raises(ValueError, match="sentence 0"):
        entity_f1([["O"]], [["O", "O"]])


def test_qa_accuracy_table_counts_failed_tasks():
    task_ids = np.array([1] * 20 + [2] * 10 + [3] * 4)
    y_true = np.zeros(34, "int32")
    y_pred = y_true.copy()
    y_pred[0] = 1  # task 1: 5% error, not failed
    y_pred[20:22] = 1  # task 2: 20% error
    table = qa_accuracy_table(task_ids, y_true, y_pred)
    assert table["per_task"][1] == {
        "accuracy": 0.95,
        "error": 0.05,
        "num_examples": 20,
    }
    assert table["per_task"][2]["error"] == pytest.approx(0.2)
    assert table["num_failed"] == 1 and table["failed_tasks"] == [2]
    assert table["mean_error"] == pytest.approx((0.05 + 0.2 + 0) / 3)
    text = format_qa_table(table)
    assert "failed" in text and "mean error: 8.3%" in text
