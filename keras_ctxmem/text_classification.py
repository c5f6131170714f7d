"""Text classification from a labelled file: split, vocabulary, evaluation.

What `ctxmem train` and `ctxmem evaluate` do with a TSV/CSV file, for Python:

- `prepare_text_classification(path, ...)`: reads the file, draws a seeded
  validation split and learns a `TextPreprocessor` on the training texts only.
- `evaluate_text_classifier(model, texts, labels, out_dir=None)`: precision,
  recall and F1 per class (`keras_ctxmem.metrics.classification_report`) and,
  with `out_dir`, the confusion matrix as `confusion_matrix.png`.

Example:
```python
from keras_ctxmem.text_classification import (
    evaluate_text_classifier,
    prepare_text_classification,
)
from keras_ctxmem.zoo import create_model
data = prepare_text_classification("tutorials/data/sentiment_sample.tsv")
model = create_model("lstm_tiny", **data.model_args)
model.fit(data.x_train, data.y_train, epochs=1, verbose=0)
report = evaluate_text_classifier(model, data.x_val, data.y_val)
report["accuracy"]
```
"""

import dataclasses
import os

import numpy as np

from keras_ctxmem.data.readers import read_text_classification
from keras_ctxmem.metrics import classification_report, confusion_matrix
from keras_ctxmem.plots import plot_confusion_matrix
from keras_ctxmem.preprocessing import TextPreprocessor


@dataclasses.dataclass
class TextClassificationData:
    """Training and validation texts of one file, and what a model needs."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    label_names: list
    preprocessor: TextPreprocessor

    @property
    def model_args(self):
        """The arguments a zoo classifier takes for this data."""
        return {
            "preprocessor": self.preprocessor,
            "num_classes": len(self.label_names),
            "label_names": self.label_names,
        }


def prepare_text_classification(
    path,
    validation_split=0.1,
    seed=0,
    max_examples=None,
    vocabulary_size=8000,
    sequence_length=128,
):
    """A labelled text file split for training, with a vocabulary learned
    from its training part.

    Args:
        path: a TSV/CSV file (`keras_ctxmem.data.readers.read_text_classification`).
        validation_split: the share of examples held out (at least one).
        seed: the seed of the shuffle that draws the split.
        max_examples: keep this many examples (after the shuffle), or all.
        vocabulary_size, sequence_length: of the `TextPreprocessor`.

    Raises `OSError` or `ValueError` naming the file when it cannot be read.
    """
    data = read_text_classification(path)
    texts, labels = data.to_arrays()
    order = np.random.default_rng(seed).permutation(len(labels))
    if max_examples:
        order = order[:max_examples]
    num_val = max(1, int(len(order) * validation_split))
    val, train = order[:num_val], order[num_val:]
    preprocessor = TextPreprocessor.from_corpus(
        list(texts[train]),
        vocabulary_size=vocabulary_size,
        sequence_length=sequence_length,
    )
    return TextClassificationData(
        x_train=texts[train],
        y_train=labels[train],
        x_val=texts[val],
        y_val=labels[val],
        label_names=data.label_names,
        preprocessor=preprocessor,
    )


def evaluate_text_classifier(model, texts, labels, out_dir=None):
    """`classification_report` of `model` on `texts`; with `out_dir`, also
    `out_dir/confusion_matrix.png`."""
    predicted = model.predict(texts, verbose=0).argmax(-1)
    num_classes = model.output.shape[-1]
    names = model.label_names or [str(i) for i in range(num_classes)]
    report = classification_report(labels, predicted, label_names=names)
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        plot_confusion_matrix(
            confusion_matrix(labels, predicted, num_classes),
            names,
            os.path.join(out_dir, "confusion_matrix.png"),
        )
    return report
