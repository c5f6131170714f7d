"""A labelled file split for training and a classifier's evaluation, as the
CLI does them, from Python."""

import os

import numpy as np
import pytest

from keras_ctxmem.text_classification import (
    evaluate_text_classifier,
    prepare_text_classification,
)
from keras_ctxmem.zoo import create_model


@pytest.fixture
def labelled_file(tmp_path):
    rows = [f"good film number {i}\tpos" for i in range(30)]
    rows += [f"bad film number {i}\tneg" for i in range(30)]
    rows.append("zyzzyva\tneg")  # one word in one text only
    path = tmp_path / "reviews.tsv"
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def test_the_split_is_seeded_and_the_vocabulary_sees_training_texts_only(
    labelled_file,
):
    data = prepare_text_classification(labelled_file, validation_split=0.2, seed=3)
    assert len(data.y_val) == 12 and len(data.y_train) == 49
    again = prepare_text_classification(labelled_file, validation_split=0.2, seed=3)
    np.testing.assert_array_equal(again.x_val, data.x_val)
    assert sorted(data.label_names) == ["neg", "pos"]
    in_vocabulary = "zyzzyva" in data.preprocessor.vocabulary
    assert in_vocabulary == ("zyzzyva" in data.x_train)
    limited = prepare_text_classification(labelled_file, max_examples=20)
    assert len(limited.y_train) + len(limited.y_val) == 20


def test_the_evaluation_counts_what_the_model_predicts(labelled_file, tmp_path):
    data = prepare_text_classification(labelled_file, validation_split=0.3)
    model = create_model("lstm_tiny", **data.model_args)
    out_dir = str(tmp_path / "evaluation")
    report = evaluate_text_classifier(model, data.x_val, data.y_val, out_dir)
    predicted = model.predict(data.x_val, verbose=0).argmax(-1)
    assert report["accuracy"] == pytest.approx(np.mean(predicted == data.y_val))
    assert os.path.isfile(os.path.join(out_dir, "confusion_matrix.png"))


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises((OSError, ValueError), match="nowhere.tsv"):
        prepare_text_classification(str(tmp_path / "nowhere.tsv"))
