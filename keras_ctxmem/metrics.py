"""Evaluation reports computed outside the training loop, on numpy labels.

- `classification_report`: per-class precision, recall, F1 and support, their
  macro and weighted averages, and accuracy; `format_report` prints it.
- `entity_f1`: entity-level precision, recall and F1 for BIO or IOB1 tags,
  counted exactly as the CoNLL `conlleval` script counts them.
- `qa_accuracy_table`: per-task accuracy and error for bAbI-style QA, the mean
  error and the number of failed tasks (error above 5%); `format_qa_table`
  prints it.

Example:
```python
from keras_ctxmem.metrics import classification_report, entity_f1, format_report

report = classification_report([0, 1, 1, 2], [0, 1, 2, 2], ["neg", "neu", "pos"])
print(format_report(report))
scores = entity_f1([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])
print(scores["f1"])  # 1.0
```
"""

import numpy as np

FAILED_TASK_ERROR = 0.05
"""A bAbI task counts as failed above this test error (Weston et al. 2015)."""


def _ratio(numerator, denominator):
    return numerator / denominator if denominator else 0.0


def _f1(precision, recall):
    return _ratio(2 * precision * recall, precision + recall)


# --------------------------------------------------------------------------
# Classification


def classification_report(y_true, y_pred, label_names=None):
    """Precision, recall, F1 and support per class, averaged two ways.

    Args:
        y_true, y_pred: integer class ids of the same length.
        label_names: names of classes `0, 1, ...`; every named class is
            reported, even without examples. By default, the classes present in
            `y_true` or `y_pred`, named `str(id)`.

    Returns:
        A dict: `per_class` (name to `precision`, `recall`, `f1`, `support`),
        `macro_avg` (unweighted mean over the classes), `weighted_avg` (weighted
        by support), `accuracy` and `support` (the number of examples). A ratio
        with a zero denominator counts as 0.
    """
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"`y_true` has {y_true.size} labels and `y_pred` {y_pred.size}"
        )
    if label_names is None:
        classes = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
        names = [str(c) for c in classes]
    else:
        classes, names = list(range(len(label_names))), list(label_names)
    per_class = {}
    for c, name in zip(classes, names, strict=True):
        true_positives = int(np.sum((y_true == c) & (y_pred == c)))
        support = int(np.sum(y_true == c))
        precision = _ratio(true_positives, int(np.sum(y_pred == c)))
        recall = _ratio(true_positives, support)
        per_class[name] = {
            "precision": precision,
            "recall": recall,
            "f1": _f1(precision, recall),
            "support": support,
        }
    total = sum(scores["support"] for scores in per_class.values())

    def average(weights):
        return {
            key: _ratio(
                sum(
                    w * s[key] for w, s in zip(weights, per_class.values(), strict=True)
                ),
                sum(weights),
            )
            for key in ("precision", "recall", "f1")
        } | {"support": total}

    return {
        "per_class": per_class,
        "macro_avg": average([1] * len(per_class)),
        "weighted_avg": average([s["support"] for s in per_class.values()]),
        "accuracy": _ratio(int(np.sum(y_true == y_pred)), y_true.size),
        "support": int(y_true.size),
    }


def format_report(report, digits=3):
    """`classification_report`'s dict as a text table."""
    rows = [(name, s) for name, s in report["per_class"].items()]
    width = max([len(name) for name, _ in rows] + [len("weighted avg")])
    header = f"{'':>{width}}  precision     recall         f1    support"
    lines = [header, ""]

    def line(name, s):
        return (
            f"{name:>{width}}  {s['precision']:>9.{digits}f}"
            f"  {s['recall']:>9.{digits}f}  {s['f1']:>9.{digits}f}  {s['support']:>9d}"
        )

    lines += [line(name, s) for name, s in rows]
    lines += [
        "",
        f"{'accuracy':>{width}}  {'':>9}  {'':>9}  {report['accuracy']:>9.{digits}f}"
        f"  {report['support']:>9d}",
        line("macro avg", report["macro_avg"]),
        line("weighted avg", report["weighted_avg"]),
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Entities (conlleval)


def _split_tag(tag):
    """`"B-PER"` gives `("B", "PER")`; `"O"` gives `("O", "")`, as conlleval."""
    prefix, dash, entity_type = tag.partition("-")
    if (not dash and tag != "O") or prefix not in ("O", "B", "I", "E", "S"):
        raise ValueError(f"tag {tag!r} is neither O nor B-X, I-X, E-X, S-X")
    return prefix, entity_type


def _chunk_ends(prev_tag, tag, prev_type, type_):
    """conlleval's `endOfChunk`: did a chunk end before the current token?"""
    return (
        prev_tag in ("E", "S")
        or (prev_tag in ("B", "I") and tag in ("B", "S", "O"))
        or (prev_tag != "O" and prev_type != type_)
    )


def _chunk_starts(prev_tag, tag, prev_type, type_):
    """conlleval's `startOfChunk`: does a chunk start at the current token?"""
    return (
        tag in ("B", "S")
        or (prev_tag in ("E", "S", "O") and tag in ("E", "I"))
        or (tag != "O" and prev_type != type_)
    )


def entity_chunks(tags):
    """The `(start, end, type)` chunks (end exclusive) conlleval finds in a
    sentence's tags. An `I-X` after `O` or another type starts a chunk, a type
    change ends one; so IOB1 and BIO tags give the same chunks."""
    chunks = []
    start = None
    prev_tag, prev_type = "O", ""
    for i, tag in enumerate([*tags, "O"]):  # the sentence boundary reads as O
        tag, type_ = _split_tag(tag)
        if start is not None and _chunk_ends(prev_tag, tag, prev_type, type_):
            chunks.append((start, i, prev_type))
            start = None
        if _chunk_starts(prev_tag, tag, prev_type, type_):
            start = i
        prev_tag, prev_type = tag, type_
    return chunks


def entity_f1(true_tags, pred_tags):
    """Entity-level scores as conlleval computes them.

    An entity counts as correct when its span and type match exactly. Chunk
    boundaries follow conlleval's rules (see `entity_chunks`); each sentence
    ends all chunks.

    Args:
        true_tags, pred_tags: lists of sentences, each a list of tag strings
            (`"O"`, `"B-PER"`, `"I-PER"`, ...), BIO or IOB1.

    Returns:
        A dict: `precision`, `recall`, `f1` (fractions, 0 when undefined),
        `num_true`, `num_pred`, `num_correct` and `per_type` (type to the same
        keys).
    """
    if len(true_tags) != len(pred_tags):
        raise ValueError(
            f"{len(true_tags)} true sentences and {len(pred_tags)} predicted"
        )
    counts = {}  # type -> [num_true, num_pred, num_correct]
    for index, (truth, prediction) in enumerate(zip(true_tags, pred_tags, strict=True)):
        if len(truth) != len(prediction):
            raise ValueError(
                f"sentence {index}: {len(truth)} true tags, {len(prediction)} predicted"
            )
        true_chunks = set(entity_chunks(truth))
        pred_chunks = set(entity_chunks(prediction))
        for chunks, slot in ((true_chunks, 0), (pred_chunks, 1)):
            for _, _, type_ in chunks:
                counts.setdefault(type_, [0, 0, 0])[slot] += 1
        for _, _, type_ in true_chunks & pred_chunks:
            counts[type_][2] += 1

    def scores(num_true, num_pred, num_correct):
        precision = _ratio(num_correct, num_pred)
        recall = _ratio(num_correct, num_true)
        return {
            "precision": precision,
            "recall": recall,
            "f1": _f1(precision, recall),
            "num_true": num_true,
            "num_pred": num_pred,
            "num_correct": num_correct,
        }

    totals = [sum(c[i] for c in counts.values()) for i in range(3)]
    return scores(*totals) | {
        "per_type": {type_: scores(*counts[type_]) for type_ in sorted(counts)}
    }


# --------------------------------------------------------------------------
# Question answering per task


def qa_accuracy_table(task_ids, y_true, y_pred):
    """Accuracy and error per task, as bAbI results are reported.

    Args:
        task_ids, y_true, y_pred: one entry per question: its task, the answer
            id and the predicted answer id.

    Returns:
        A dict: `per_task` (task id to `accuracy`, `error`, `num_examples`, in
        task order), `mean_error` (the unweighted mean over tasks),
        `num_failed` (tasks with error above `FAILED_TASK_ERROR`) and
        `failed_tasks`.
    """
    task_ids = np.asarray(task_ids).reshape(-1)
    correct = np.asarray(y_true).reshape(-1) == np.asarray(y_pred).reshape(-1)
    if task_ids.size != correct.size:
        raise ValueError(f"{task_ids.size} task ids for {correct.size} answers")
    per_task = {}
    for task in sorted(set(task_ids.tolist())):
        in_task = correct[task_ids == task]
        per_task[task] = {
            "accuracy": float(np.mean(in_task)),
            "error": float(np.mean(~in_task)),
            "num_examples": int(np.sum(task_ids == task)),
        }
    failed = [t for t, s in per_task.items() if s["error"] > FAILED_TASK_ERROR]
    return {
        "per_task": per_task,
        "mean_error": float(np.mean([s["error"] for s in per_task.values()])),
        "num_failed": len(failed),
        "failed_tasks": failed,
    }


def format_qa_table(table):
    """`qa_accuracy_table`'s dict as a text table, errors in percent."""
    lines = ["task  error %  examples", ""]
    for task, s in table["per_task"].items():
        mark = "  failed" if s["error"] > FAILED_TASK_ERROR else ""
        lines.append(
            f"{task!s:>4}  {100 * s['error']:>7.1f}  {s['num_examples']:>8d}{mark}"
        )
    lines += [
        "",
        f"mean error: {100 * table['mean_error']:.1f}%, "
        f"failed tasks (error > {100 * FAILED_TASK_ERROR:.0f}%): {table['num_failed']}",
    ]
    return "\n".join(lines)


def confusion_matrix(y_true, y_pred, num_classes):
    """`(num_classes, num_classes)` counts: row = true class, column = predicted."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(
        matrix, (np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)), 1
    )
    return matrix
