import numpy as np
import pytest

from keras_ctxmem.data.readers import read_conll
from keras_ctxmem.metrics import entity_f1
from keras_ctxmem.preprocessing import TextPreprocessor
from keras_ctxmem.preprocessing.tagging import (
    align_word_tags,
    predict_word_tags,
    tagging_dataset,
    word_predictions,
)
from keras_ctxmem.zoo import TransformerTokenClassifier

VOCABULARY = ["[PAD]", "[UNK]", "john", "smith", "##son", "runs", "."]


def test_first_piece_is_labelled_and_the_rest_ignored():
    pre = TextPreprocessor(VOCABULARY, sequence_length=6)
    aligned = align_word_tags(
        pre,
        [["John", "Smithson", "runs"], ["runs", "Smithson", "Smithson", "."]],
        [[1, 2, 0], [0, 2, 2, 0]],
    )
    np.testing.assert_array_equal(
        aligned["token_ids"], [[2, 3, 4, 5, 0, 0], [5, 3, 4, 3, 4, 6]]
    )
    np.testing.assert_array_equal(
        aligned["labels"], [[1, 2, -1, 0, -1, -1], [0, 2, -1, 2, -1, 0]]
    )
    np.testing.assert_array_equal(
        aligned["word_positions"], [[0, 1, 3, -1], [0, 1, 3, 5]]
    )


def test_words_past_the_sequence_length_are_cut_and_read_as_o():
    pre = TextPreprocessor(VOCABULARY, sequence_length=4)
    aligned = align_word_tags(pre, [["Smithson", "John", "Smithson"]], [[2, 1, 2]])
    np.testing.assert_array_equal(aligned["labels"], [[2, -1, 1, 2]])
    np.testing.assert_array_equal(aligned["word_positions"], [[0, 2, 3]])
    aligned = align_word_tags(pre, [["Smithson", "Smithson", "John"]], [[2, 2, 1]])
    np.testing.assert_array_equal(aligned["word_positions"], [[0, 2, -1]])
    # Logits that point at the labels give the labels back, per word.
    logits = np.eye(3)[np.maximum(np.asarray(aligned["labels"]), 0)]
    assert word_predictions(logits, aligned["word_positions"], [3]) == [[2, 2, 0]]


def test_bad_words_are_named():
    pre = TextPreprocessor(VOCABULARY, sequence_length=4)
    with pytest.raises(ValueError, match="list of words"):
        align_word_tags(pre, ["John runs"])


def write_conll(path, num_sentences, seed):
    """Names (capitalised, from a list) are PER; cities are LOC."""
    rng = np.random.default_rng(seed)
    names, cities = ["Anna", "Bert", "Cleo", "Dmitri"], ["Paris", "Oslo", "Lima"]
    fillers = ["met", "in", "the", "saw", "near", "today", "and"]
    lines = []
    for _ in range(num_sentences):
        for _ in range(rng.integers(3, 8)):
            kind = rng.choice(["O", "O", "PER", "LOC"])
            if kind == "PER":
                lines += [f"{rng.choice(names)} B-PER"]
                if rng.random() < 0.5:
                    lines += ["Smithson I-PER"]
            elif kind == "LOC":
                lines += [f"{rng.choice(cities)} B-LOC"]
            else:
                lines += [f"{rng.choice(fillers)} O"]
        lines += [""]
    path.write_text("\n".join(lines))
    return str(path)


def test_ner_learns_entities_through_word_pieces(tmp_path):
    train = read_conll(write_conll(tmp_path / "train.txt", 300, seed=0))
    test = read_conll(
        write_conll(tmp_path / "test.txt", 60, seed=1), tag_names=train.tag_names
    )
    words = [" ".join(sentence) for sentence in train.sentences]
    pre = TextPreprocessor.from_corpus(words, vocabulary_size=60, sequence_length=24)
    assert any(token.startswith("##") for token in pre.vocabulary)  # real pieces
    model = TransformerTokenClassifier.from_preset(
        "transformer_tiny", num_classes=len(train.tag_names), preprocessor=pre
    )
    model.compile()
    model.fit(tagging_dataset(train, pre, batch_size=16), epochs=8, verbose=0)
    predicted = predict_word_tags(model, test.sentences, train.tag_names)
    assert [len(s) for s in predicted] == [len(s) for s in test.sentences]
    assert entity_f1(test.tags, predicted)["f1"] > 0.9
