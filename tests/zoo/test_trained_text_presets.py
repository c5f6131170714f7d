"""The shipped text classifiers label obvious real sentences, from raw strings."""

import json
import os

import numpy as np
import pytest

import keras_ctxmem
from keras_ctxmem import cli
from keras_ctxmem.zoo import load_preset

PRESETS = os.path.join(os.path.dirname(keras_ctxmem.__file__), "presets")


def labels(name, texts):
    model = load_preset(os.path.join(PRESETS, name))
    logits = model.predict(np.array(texts, dtype=object), verbose=0)
    return [model.label_names[i] for i in logits.argmax(-1)]


def test_sst2_sentiment_labels_obvious_sentences():
    texts = [
        "a charming, moving film",
        "dull and lifeless",
        "one of the best films of the year , funny and warm",
        "a tedious , boring mess",
    ]
    assert labels("sst2_sentiment", texts) == [
        "positive",
        "negative",
        "positive",
        "negative",
    ]


def test_ag_news_topic_labels_obvious_sentences():
    texts = [
        "The Yankees beat the Red Sox 5-3 as Jeter hit a home run in the ninth inning.",
        "Shares of the company fell after it reported lower quarterly profit and "
        "cut its sales forecast.",
        "Microsoft released a new version of its Windows operating system and "
        "software for servers.",
        "Rebels attacked a government building in Baghdad, killing 12 people, "
        "officials said.",
    ]
    assert labels("ag_news_topic", texts) == ["Sports", "Business", "Sci/Tech", "World"]


def test_evaluate_reads_an_ag_news_csv_for_the_shipped_preset(tmp_path):
    data = tmp_path / "test.csv"
    data.write_text(
        '"2","Phelps Wins","Michael Phelps won the 200m butterfly final at the '
        'Olympics on Tuesday, his fourth gold medal in Athens."\n'
        '"3","Stocks","Oil prices rose and stocks fell on Wall Street as '
        'investors worried about corporate earnings."\n',
        encoding="utf-8",
    )
    out = tmp_path / "eval"
    preset = os.path.join(PRESETS, "ag_news_topic")
    assert cli.main(["evaluate", preset, "--data", str(data), "--out", str(out)]) == 0
    with open(out / "evaluation.json") as f:
        assert json.load(f)["accuracy"] == pytest.approx(1.0)
