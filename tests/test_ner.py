import json
import os

import numpy as np
import pytest

from keras_ctxmem import cli
from keras_ctxmem.data.readers import read_conll
from keras_ctxmem.metrics import entity_f1
from keras_ctxmem.ner import (
    build_tagger,
    evaluate_conll,
    looks_like_conll,
    tag_sentences,
    train_conll,
)
from keras_ctxmem.zoo import load_preset

PEOPLE = ["Peter", "Anna", "Maria", "John", "Chen", "Olga"]
SURNAMES = ["Blackburn", "Smith", "Novak", "Garcia", "Ito"]
PLACES = ["Germany", "Paris", "Kenya", "Brazil", "Oslo", "Lima"]
WORDS = ["the", "said", "on", "visited", "in", "a", "report", "today", "and", "."]


def _sentence(rng):
    words, tags = [], []
    for _ in range(rng.integers(3, 9)):
        kind = rng.integers(0, 4)
        if kind == 0:
            words += [str(rng.choice(PEOPLE)), str(rng.choice(SURNAMES))]
            tags += ["I-PER", "I-PER"]
        elif kind == 1:
            words.append(str(rng.choice(PLACES)))
            tags.append("I-LOC")
        else:
            words.append(str(rng.choice(WORDS)))
            tags.append("O")
    return words, tags


def write_conll(path, num_sentences, seed):
    """A 4-column IOB1 file of a trivial task: names are PER, places LOC."""
    rng = np.random.default_rng(seed)
    lines = ["-DOCSTART- -X- -X- O", ""]
    for _ in range(num_sentences):
        words, tags = _sentence(rng)
        lines += [f"{w} NN I-NP {t}" for w, t in zip(words, tags, strict=True)]
        lines.append("")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def conll_files(tmp_path):
    return (
        write_conll(tmp_path / "train.txt", 40, seed=0),
        write_conll(tmp_path / "dev.txt", 20, seed=1),
    )


def test_looks_like_conll(tmp_path, conll_files):
    assert looks_like_conll(conll_files[0])
    plain = tmp_path / "two_columns.txt"
    plain.write_text("EU B-ORG\nrejects O\n\nPeter B-PER\n")
    assert looks_like_conll(str(plain))
    tsv = tmp_path / "texts.tsv"
    tsv.write_text("a charming film\tpos\na dull film\tneg\n")
    assert not looks_like_conll(str(tsv))
    tagged_text = tmp_path / "odd.tsv"
    tagged_text.write_text("not a tagged line\tO\n")
    assert not looks_like_conll(str(tagged_text))


@pytest.mark.slow
def test_lstm_tagger_learns_and_round_trips(tmp_path):
    train_path = write_conll(tmp_path / "train.txt", 256, seed=0)
    dev_path = write_conll(tmp_path / "dev.txt", 40, seed=1)
    results = train_conll(
        "lstm_tagger_tiny",
        train_path,
        dev_path,
        str(tmp_path / "run"),
        epochs=8,
        batch_size=16,
        learning_rate=0.01,
    )
    assert results["entity_f1"] > 0.9, results["history"]
    assert set(results["per_type"]) == {"LOC", "PER"}

    model = load_preset(str(tmp_path / "run" / "preset"))
    assert model.preprocessor.vocabulary_size > 20  # the vocabularies came back
    evaluation = evaluate_conll(model, dev_path)
    assert evaluation["entity_f1"] == pytest.approx(results["entity_f1"])
    dev = read_conll(dev_path)
    direct = entity_f1(dev.tags, tag_sentences(model, dev.sentences))
    assert evaluation["entity_f1"] == direct["f1"]
    assert evaluation["per_type"] == direct["per_type"]


def test_lstm_tagger_padding_never_changes_tags(conll_files):
    train = read_conll(conll_files[0])
    model = build_tagger("lstm_tagger_tiny", train)
    sentence = [["Peter", "Smith", "visited", "Oslo"]]
    inputs = model.preprocessor(sentence)
    padded = {
        k: np.pad(v, [(0, 0), (0, 9)] + [(0, 0)] * (v.ndim - 2))
        for k, v in inputs.items()
    }
    short = model.predict_on_batch(inputs)
    long = model.predict_on_batch(padded)
    np.testing.assert_allclose(short, long[:, :4], atol=1e-5)
    assert model.predict_tags(padded)[0, :4].tolist() == (
        model.predict_tags(inputs)[0].tolist()
    )
    assert model.predict_tags(padded)[0, 4:].tolist() == [0] * 9


def test_vocabulary_size_is_honoured(conll_files):
    from keras_ctxmem.preprocessing.words import WordTaggingPreprocessor

    train = read_conll(conll_files[0])
    pre = WordTaggingPreprocessor.from_sentences(train.sentences, vocabulary_size=10)
    assert pre.vocabulary_size == 10
    batch = pre([["Germany", "1996", "zzzunseen"]])
    assert batch["word_ids"][0, 2] == 1  # unknown
    assert pre.vocabulary[batch["word_ids"][0, 0]] in ("germany", "[UNK]")
    assert batch["case_ids"][0].tolist() == [5, 1, 3]  # title, number, lower
    assert batch["char_ids"].shape == (1, 3, pre.max_word_length)


def test_cli_trains_and_evaluates_conll(tmp_path, conll_files):
    train_path, dev_path = conll_files
    out = str(tmp_path / "cli_run")
    assert (
        cli.main(
            [
                "train",
                "lstm_tagger_tiny",
                "--data",
                train_path,
                "--validation",
                dev_path,
                "--epochs",
                "1",
                "--out",
                out,
            ]
        )
        == 0
    )
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    assert len(results["history"]) == 1
    assert results["entity_f1"] == max(r["entity_f1"] for r in results["history"])

    eval_dir = str(tmp_path / "evaluation")
    assert cli.main(["evaluate", out, "--data", dev_path, "--out", eval_dir]) == 0
    with open(os.path.join(eval_dir, "evaluation.json")) as f:
        evaluation = json.load(f)
    model = load_preset(os.path.join(out, "preset"))
    dev = read_conll(dev_path)
    direct = entity_f1(dev.tags, tag_sentences(model, dev.sentences))
    assert evaluation["entity_f1"] == direct["f1"]
    assert evaluation["entity_f1"] == pytest.approx(results["entity_f1"])
    assert "FB1" in evaluation["table"]


def test_cli_tagging_needs_validation(conll_files, capsys):
    args = ["train", "lstm_tagger_tiny", "--data", conll_files[0], "--out", "x"]
    assert cli.main(args) == 2
    assert "--validation" in capsys.readouterr().err


def test_transformer_tagger_sequence_length_cuts_no_word(conll_files):
    train = read_conll(conll_files[0])
    model = build_tagger("transformer_tiny", train, vocabulary_size=200)
    assert model.preprocessor.lowercase is False
    sentences = [["Peter", "Blackburn", "visited", "Oslo"] * 3]
    tags = tag_sentences(model, sentences)
    assert len(tags[0]) == 12


SHIPPED = os.path.join(
    os.path.dirname(os.path.dirname(__file__)),
    "keras_ctxmem",
    "presets",
    "conll2003_ner",
)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(SHIPPED), reason="no shipped NER preset")
def test_shipped_preset_tags_real_sentences():
    model = load_preset(SHIPPED)
    tags = tag_sentences(
        model,
        [
            ["Germany", "beat", "Brazil", "2-1", "in", "Berlin", "on", "Sunday", "."],
            ["Prime", "Minister", "Tony", "Blair", "said", "on", "Monday", "."],
            ["Shares", "of", "Microsoft", "Corp", "rose", "3", "percent", "."],
        ],
    )
    assert tags[0][0] == "B-LOC" and tags[0][5] == "B-LOC"
    assert tags[1][2:4] == ["B-PER", "I-PER"]
    assert tags[2][2:4] == ["B-ORG", "I-ORG"]
