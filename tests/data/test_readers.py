import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ctxmem.data import readers
from keras_ctxmem.data.readers import (
    DataFormatError,
    babi_vocabulary,
    detect_scheme,
    iob1_to_bio,
    load_imdb,
    read_babi,
    read_conll,
    read_image_text_pairs,
    read_text_classification,
)
from keras_ctxmem.data.synthetic import (
    adding_problem,
    adding_problem_accuracy,
    copy_task,
    selective_copy,
)
from tests.helpers import assert_allclose


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return str(path)


def pairs(dataset):
    return [(text.decode(), int(label)) for text, label in dataset.as_numpy_iterator()]


# --------------------------------------------------------------------------
# Text classification


def test_tsv_with_a_header_and_integer_labels(tmp_path):
    path = write(tmp_path / "train.tsv", "sentence\tlabel\nfine film \t1\ndull\t0\n")
    data = read_text_classification(path)
    assert data.num_examples == 2 and data.label_names == ["0", "1"]
    assert pairs(data.dataset) == [("fine film", 1), ("dull", 0)]
    spec = data.dataset.element_spec
    assert spec[0].dtype == tf.string and spec[0].shape == ()
    assert spec[1].dtype == tf.int32 and spec[1].shape == ()
    texts, labels = data.to_arrays()
    assert texts.tolist() == ["fine film", "dull"] and texts.dtype == object
    assert labels.tolist() == [1, 0] and labels.dtype == np.int32


def test_header_detected_with_names_and_absent_without(tmp_path):
    rows = "a dog\tpets\na tree\tplants\na cat\tpets\n"
    with_header = read_text_classification(
        write(tmp_path / "h.tsv", "text\tcategory\n" + rows)
    )
    without = read_text_classification(write(tmp_path / "n.tsv", rows))
    for data in (with_header, without):
        assert data.num_examples == 3 and data.label_names == ["pets", "plants"]
        assert pairs(data.dataset)[0] == ("a dog", 0)
    forced = read_text_classification(write(tmp_path / "f.tsv", rows), header=True)
    assert forced.num_examples == 2


def test_quoted_ag_news_rows_join_title_and_description(tmp_path):
    path = write(
        tmp_path / "ag.csv",
        '"3","Wall St. Bears","Reuters - Short-sellers, ""the"" few."\n'
        '"1","Talks, again","Two\nlines."\n'
        '"3","Oil","Prices rose."\n',
    )
    data = read_text_classification(path)  # label: the column of fewest values
    explicit = read_text_classification(path, text_column=[1, 2], label_column=0)
    expected = [
        ('Wall St. Bears Reuters - Short-sellers, "the" few.', 3),
        ("Talks, again Two\nlines.", 1),
        ("Oil Prices rose.", 3),
    ]
    assert pairs(data.dataset) == pairs(explicit.dataset) == expected
    assert data.label_names == ["0", "1", "2", "3"]


def test_given_label_names_fix_the_order_and_accept_indices(tmp_path):
    path = write(tmp_path / "t.csv", "text,label\nyes,pos\nno,neg\nmeh,1\n")
    data = read_text_classification(
        path, text_column="text", label_column="label", label_names=["pos", "neg"]
    )
    assert data.label_names == ["pos", "neg"]
    assert [label for _, label in pairs(data.dataset)] == [0, 1, 1]


@pytest.mark.parametrize(
    "text, line, message, kwargs",
    [
        ("text\tlabel\na\t1\nb\n", 3, "expected 2 fields, found 1", {}),
        ("text\tlabel\na\t1\nb\t\n", 3, "empty label", {}),
        ("a\tx\nb\ty\nc\tz\n", 3, "unknown label 'z'", {"label_names": ["x", "y"]}),
        ("text\tlabel\na\t0\nb\t-1\n", 3, "negative label", {"header": True}),
        ('a,1\n"b,1\nc,2\n', 2, "", {"delimiter": ","}),
        ("\n\n", 1, "no rows", {}),
        ("text\tlabel\n", 2, "header and no rows", {"header": True}),
        ("a\t1\nb\t0\n", 1, "no column named 'body'", {"text_column": "body"}),
    ],
)
def test_malformed_text_files_name_file_and_line(tmp_path, text, line, message, kwargs):
    path = write(tmp_path / "bad.tsv", text)
    with pytest.raises(DataFormatError, match=f"bad.tsv, line {line}: .*{message}"):
        read_text_classification(path, **kwargs)


# --------------------------------------------------------------------------
# CoNLL

CONLL_4_COLUMNS = """-DOCSTART- -X- -X- O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER
Smith NNP I-NP B-PER
"""


def test_conll_4_columns_iob1_converted_to_bio(tmp_path):
    data = read_conll(write(tmp_path / "train.txt", CONLL_4_COLUMNS))
    assert data.scheme == "IOB1"
    assert data.sentences[0] == ["EU", "rejects", "German", "call"]
    assert data.tags == [
        ["B-ORG", "O", "B-MISC", "O"],
        ["B-PER", "I-PER", "B-PER"],
    ]
    assert data.tag_names == ["O", "B-MISC", "B-ORG", "B-PER", "I-PER"]
    elements = list(data.dataset.as_numpy_iterator())
    assert len(elements) == 2
    words, tags = elements[1]
    assert list(words) == [b"Peter", b"Blackburn", b"Smith"]
    assert tags.dtype == np.int32 and list(tags) == [3, 4, 3]
    assert data.dataset.element_spec[0].shape.as_list() == [None]


def test_conll_2_columns_bio_and_fixed_tag_names(tmp_path):
    text = "John B-PER\nlives O\nin O\nNew B-LOC\nYork I-LOC\n\n\nHi O\n"
    names = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    data = read_conll(write(tmp_path / "t.txt", text), scheme="BIO", tag_names=names)
    assert data.scheme == "BIO" and len(data.sentences) == 2
    assert list(next(data.dataset.as_numpy_iterator())[1]) == [3, 0, 0, 1, 2]


def test_iob1_to_bio_and_detect_scheme():
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG"]
    bio = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG"]
    assert iob1_to_bio(iob1) == bio
    assert iob1_to_bio(bio) == bio
    assert detect_scheme([iob1]) == "IOB1"
    assert detect_scheme([bio, ["O"]]) == "BIO"


@pytest.mark.parametrize(
    "text, line, message, kwargs",
    [
        (CONLL_4_COLUMNS, 3, "I-ORG starts an entity", {"scheme": "BIO"}),
        ("a O\nb\n", 2, "expected 2 fields, found 1", {}),
        ("a O\nb Q-PER\n", 2, "neither O", {}),
        ("a O\n\nb B-PER\n", 3, "unknown tag 'B-PER'", {"tag_names": ["O"]}),
        ("-DOCSTART- O\n\n", 1, "no sentences", {}),
    ],
)
def test_malformed_conll_files_name_file_and_line(
    tmp_path, text, line, message, kwargs
):
    path = write(tmp_path / "bad.conll", text)
    with pytest.raises(DataFormatError, match=f"bad.conll, line {line}: .*{message}"):
        read_conll(path, **kwargs)


# --------------------------------------------------------------------------
# bAbI

BABI = """1 Mary moved to the bathroom.
2 John went to the hallway.
3 Where is Mary? \tbathroom\t1
4 Daniel went back to the hallway.
5 Sandra moved to the garden.
6 Where is Daniel? \thallway\t4
1 John went to the kitchen.
2 Mary got the football there.
3 Where is the football? \tkitchen\t2 1
"""


def test_babi_memories_questions_and_capping(tmp_path):
    data = read_babi(write(tmp_path / "qa2_train.txt", BABI), max_memories=3)
    assert len(data) == 3 and data.task_ids == [2, 2, 2]
    assert data.stories[0] == [
        ["mary", "moved", "to", "the", "bathroom", "."],
        ["john", "went", "to", "the", "hallway", "."],
    ]
    assert data.questions[0] == ["where", "is", "mary", "?"]
    # Four statements before question 2: the newest three are kept, in order.
    assert [s[0] for s in data.stories[1]] == ["john", "daniel", "sandra"]
    # A line numbered 1 starts a new story.
    assert [s[0] for s in data.stories[2]] == ["john", "mary"]
    assert data.answers == ["bathroom", "hallway", "kitchen"]
    assert data.supporting == [[1], [4], [2, 1]]


def test_babi_to_arrays_pads_with_zeros_and_indexes_answers(tmp_path):
    data = read_babi(write(tmp_path / "qa1_train.txt", BABI))
    arrays = data.to_arrays()
    vocabulary = arrays["vocabulary"]
    assert vocabulary[0] == "" and vocabulary[1:] == sorted(vocabulary[1:])
    assert vocabulary == babi_vocabulary(data)
    assert arrays["story"].shape == (3, 4, 7) and arrays["story"].dtype == np.int32
    assert arrays["question"].shape == (3, 7)
    words = [vocabulary[i] for i in arrays["story"][0, 1] if i]
    assert words == ["john", "went", "to", "the", "hallway", "."]
    assert arrays["story"][0, 0, 6] == 0  # padding word
    assert not arrays["story"][0, 2:].any()  # padding statements
    assert [vocabulary[i] for i in arrays["answer"]] == data.answers
    small = data.to_arrays(vocabulary, max_memories=1, max_sentence_length=3)
    assert small["story"].shape == (3, 1, 3)
    assert [vocabulary[i] for i in small["story"][1, 0]] == ["sandra", "moved", "to"]
    with pytest.raises(ValueError, match="babi_vocabulary"):
        data.to_arrays(["", "mary"])


def test_babi_to_sequences_joins_story_and_question(tmp_path):
    data = read_babi(write(tmp_path / "qa1_train.txt", BABI))
    sequences = data.to_sequences()
    vocabulary = sequences["vocabulary"]
    assert vocabulary == babi_vocabulary(data)
    token_ids = sequences["token_ids"]
    assert token_ids.dtype == np.int32 and token_ids.shape == (3, 29)  # 25 + 4
    words = [vocabulary[i] for i in token_ids[0] if i]
    assert (
        words
        == (
            "mary moved to the bathroom . john went to the hallway . where is mary ?"
        ).split()
    )
    assert not token_ids[0, len(words) :].any()  # right-padded
    assert [vocabulary[i] for i in sequences["answer"]] == data.answers
    # Too long: the last tokens are kept, the question with them.
    short = data.to_sequences(vocabulary, max_length=6)["token_ids"]
    assert [vocabulary[i] for i in short[1]] == "garden . where is daniel ?".split()
    with pytest.raises(ValueError, match="babi_vocabulary"):
        data.to_sequences(["", "mary"])


def test_sequence_classifiers_answer_babi(tmp_path):
    from keras_ctxmem.zoo import (
        AttentiveLSTMClassifier,
        LSTMClassifier,
        TransformerClassifier,
    )

    data = read_babi(write(tmp_path / "qa1_train.txt", BABI))
    sequences = data.to_sequences()
    size = len(sequences["vocabulary"])
    for cls, preset in (
        (LSTMClassifier, "lstm_tiny"),
        (AttentiveLSTMClassifier, "attentive_lstm_tiny"),
        (TransformerClassifier, "transformer_tiny"),
    ):
        model = cls.from_preset(
            preset, vocabulary_size=size, num_classes=size, dropout=0.0
        )
        model.compile(optimizer=keras.optimizers.Adam(3e-2))
        x, y = sequences["token_ids"], sequences["answer"]
        # 40 steps on the 3 questions: one epoch of 40 copies in order is the
        # same training as 40 epochs of one batch, without 39 epochs' overhead.
        x40, y40 = np.tile(x, (40, 1)), np.tile(y, 40)
        model.fit(x40, y40, batch_size=3, shuffle=False, verbose=0)
        assert model.evaluate(x, y, verbose=0)[1] == 1.0, cls.__name__
        padded = np.pad(x, ((0, 0), (0, 5)))
        assert_allclose(model.predict(padded, verbose=0), model.predict(x, verbose=0))


def test_babi_directory_tasks_split_and_dataset(tmp_path):
    write(tmp_path / "qa1_train.txt", BABI)
    write(tmp_path / "qa2_train.txt", BABI.split("1 John")[0])
    write(tmp_path / "qa1_valid.txt", BABI)
    joint = read_babi(str(tmp_path), task_ids=[2, 1])
    assert joint.task_ids == [2, 2, 1, 1, 1]
    assert len(read_babi(str(tmp_path), split="valid")) == 3
    dataset = joint.to_dataset()
    inputs, answer = next(dataset.as_numpy_iterator())
    assert set(inputs) == {"story", "question"} and answer.dtype == np.int32
    with pytest.raises(FileNotFoundError, match="qa3_"):
        read_babi(str(tmp_path), task_ids=[3])


def test_malformed_babi_lines_name_file_and_line(tmp_path):
    path = write(tmp_path / "qa1_bad.txt", "1 Mary moved.\n2 Where? \tnowhere\n")
    with pytest.raises(DataFormatError, match="qa1_bad.txt, line 2: a question"):
        read_babi(path)
    path = write(tmp_path / "qa1_bad.txt", "1 Mary moved.\nWhere is she?\n")
    with pytest.raises(DataFormatError, match="line 2: no line id"):
        read_babi(path)


# --------------------------------------------------------------------------
# Image-text pairs


def write_png(path, color, shape):
    pixels = np.broadcast_to(np.array(color, "uint8"), shape)
    tf.io.write_file(str(path), tf.io.encode_png(pixels))


def test_image_text_pairs_decode_and_resize(tmp_path):
    write_png(tmp_path / "red.png", [255, 0, 0], (10, 12, 3))
    os.mkdir(tmp_path / "images")
    write_png(tmp_path / "images" / "grey.png", [51], (5, 7, 1))
    listing = [
        {"sentence": "a red square", "image": "red.png", "label": "red"},
        {"text": "a grey one", "image": ["images/grey.png", "x.png"], "label": "grey"},
    ]
    path = write(tmp_path / "pairs.json", json.dumps(listing))
    data = read_image_text_pairs(path, image_size=(4, 6))
    assert data.num_examples == 2 and data.label_names == ["grey", "red"]
    (first, label), (second, _) = list(data.dataset.as_numpy_iterator())
    assert first["text"] == b"a red square" and label == 1
    assert first["image"].shape == (4, 6, 3) and first["image"].dtype == np.float32
    np.testing.assert_allclose(first["image"], np.broadcast_to([1, 0, 0], (4, 6, 3)))
    np.testing.assert_allclose(second["image"], np.full((4, 6, 3), 0.2), atol=1e-6)


def test_image_text_pairs_from_csv_and_missing_images(tmp_path):
    write_png(tmp_path / "a.png", [0, 0, 255], (3, 3, 3))
    path = write(tmp_path / "pairs.csv", "text,image,label\nblue,a.png,0\n")
    data = read_image_text_pairs(path, image_size=(2, 2))
    (inputs, label) = next(data.dataset.as_numpy_iterator())
    assert inputs["image"].shape == (2, 2, 3) and label == 0
    path = write(tmp_path / "pairs.csv", "text,image,label\nb,a.png,0\nc,gone.png,1\n")
    with pytest.raises(FileNotFoundError, match="pairs.csv, line 3: .*gone.png"):
        read_image_text_pairs(path)
    path = write(tmp_path / "pairs.json", json.dumps([{"image": "a.png"}]))
    with pytest.raises(DataFormatError, match="pairs.json, entry 1: no 'text'"):
        read_image_text_pairs(path)


# --------------------------------------------------------------------------
# IMDB


def test_load_imdb_reads_an_acl_imdb_folder(tmp_path):
    reviews = {
        "train/neg/0_2.txt": "Dull.<br />Very.",
        "train/pos/1_9.txt": "Great!",
        "train/pos/0_10.txt": "Loved it.",
        "test/neg/0_1.txt": "Bad.",
        "test/pos/0_8.txt": "Good.",
    }
    for name, text in reviews.items():
        os.makedirs(os.path.dirname(tmp_path / "aclImdb" / name), exist_ok=True)
        write(tmp_path / "aclImdb" / name, text)
    train, test = load_imdb(str(tmp_path / "aclImdb"))
    assert train.label_names == ["neg", "pos"] and train.num_examples == 3
    assert pairs(train.dataset) == [
        ("Dull.<br />Very.", 0),
        ("Loved it.", 1),
        ("Great!", 1),
    ]
    assert pairs(test.dataset) == [("Bad.", 0), ("Good.", 1)]
    with pytest.raises(FileNotFoundError, match="not an aclImdb"):
        load_imdb(str(tmp_path / "missing"))


def test_load_imdb_without_a_folder_decodes_keras_word_ids(monkeypatch):
    import keras

    def load_data(num_words=None):
        x = [[1, 4, 5], [1, 5, 2]]
        return (x, [1, 0]), (x[:1], [1])

    monkeypatch.setattr(keras.datasets.imdb, "load_data", load_data)
    monkeypatch.setattr(
        keras.datasets.imdb, "get_word_index", lambda: {"good": 1, "film": 2}
    )
    train, test = readers.load_imdb(num_words=100)
    assert pairs(train.dataset) == [("good film", 1), ("film <oov>", 0)]
    assert test.num_examples == 1


# --------------------------------------------------------------------------
# Synthetic copy and adding tasks


def test_copy_task_asks_for_the_symbols_after_the_delay():
    token_ids, labels = copy_task(50, num_tokens=4, delay=6, num_symbols=5, seed=1)
    assert token_ids.shape == labels.shape == (50, 14)
    assert (token_ids[:, 4:10] == 6).all() and (token_ids[:, 10:] == 7).all()
    np.testing.assert_array_equal(labels[:, 10:], token_ids[:, :4] - 1)
    assert (labels[:, :10] == -1).all() and labels.max() < 5
    again, _ = copy_task(50, num_tokens=4, delay=6, num_symbols=5, seed=1)
    np.testing.assert_array_equal(token_ids, again)


def test_selective_copy_labels_are_the_scattered_symbols_in_order():
    token_ids, labels = selective_copy(
        40, sequence_length=12, num_tokens=3, num_symbols=4
    )
    assert token_ids.shape == labels.shape == (40, 15)
    for row, row_labels in zip(token_ids, labels, strict=True):
        symbols = row[:12][row[:12] <= 4]
        assert len(symbols) == 3
        np.testing.assert_array_equal(row_labels[12:], symbols - 1)
    assert len({tuple(np.flatnonzero(r[:12] <= 4)) for r in token_ids}) > 1
    with pytest.raises(ValueError, match="num_tokens"):
        selective_copy(1, sequence_length=2, num_tokens=3)


def test_adding_problem_follows_the_1997_definition():
    inputs, targets = adding_problem(500, sequence_length=20, seed=2)
    assert inputs.shape == (500, 20, 2) and targets.shape == (500,)
    values, markers = inputs[..., 0], inputs[..., 1]
    assert np.abs(values).max() <= 1
    assert ((markers == 1).sum(axis=1) == 2).all()
    marked = np.argwhere(markers == 1)[:, 1].reshape(500, 2)
    assert (marked[:, 0] < 10).all() and (marked[:, 1] < 20 // 2).all()
    assert (markers[:, -1] == -1).all()
    assert (np.where(markers[:, 0] == 1, values[:, 0], 0) == 0).all()
    expected = 0.5 + (values * (markers == 1)).sum(axis=1) / 4
    np.testing.assert_allclose(targets, expected, rtol=1e-6)
    assert adding_problem_accuracy(targets, targets + 0.03) == 1.0
    assert adding_problem_accuracy([0.5, 0.5], [0.55, 0.5]) == 0.5


AG_NEWS_CSV = (
    '"3","Wall St. Bears Claw Back","Reuters - Short-sellers are seeing green."\n'
    '"2","Phelps Wins","Michael Phelps won his sixth gold medal."\n'
    '"1","Talks Resume","Diplomats met in Geneva on Monday."\n'
    '"4","New Chip","Intel unveiled a faster processor."\n'
)


def test_ag_news_csv_is_read_and_its_class_indices_named(tmp_path):
    path = write(tmp_path / "test.csv", AG_NEWS_CSV)
    data = readers.read_ag_news_csv(path)
    texts, labels = data.to_arrays()
    assert data.label_names == ["World", "Sports", "Business", "Sci/Tech"]
    assert [data.label_names[i] for i in labels] == [
        "Business",
        "Sports",
        "World",
        "Sci/Tech",
    ]
    assert texts[0] == "Reuters - Short-sellers are seeing green."
    both = readers.read_ag_news_csv(path, text="title+description").to_arrays()[0]
    assert both[1] == "Phelps Wins Michael Phelps won his sixth gold medal."


def test_labelled_texts_map_ag_news_ids_to_a_models_label_names(tmp_path):
    path = write(tmp_path / "test.csv", AG_NEWS_CSV)
    names = ["Sci/Tech", "Business", "Sports", "World"]  # another order
    label_map = readers.parse_label_map("1=World,2=Sports,3=Business,4=Sci/Tech")
    data = readers.read_labelled_texts(path, names, label_map)
    assert [names[i] for i in data.to_arrays()[1]] == [
        "Business",
        "Sports",
        "World",
        "Sci/Tech",
    ]
    # The AG News names need no map; other names do.
    default = readers.read_labelled_texts(path, list(readers.AG_NEWS_LABEL_NAMES))
    assert list(default.to_arrays()[1]) == [2, 1, 0, 3]
    with pytest.raises(ValueError, match="label map"):
        readers.read_labelled_texts(path, ["negative", "positive"])
    with pytest.raises(ValueError, match="id=name"):
        readers.parse_label_map("1:World")
    # A TSV is still read as before.
    tsv = write(tmp_path / "x.tsv", "sentence\tlabel\na fine film\t1\na dull film\t0\n")
    assert readers.read_labelled_texts(tsv).label_names == ["0", "1"]


def test_unmapped_label_names_the_line(tmp_path):
    path = write(tmp_path / "test.csv", AG_NEWS_CSV + '"5","X","Y"\n')
    with pytest.raises(DataFormatError, match=r"line 5: label '5' is not in"):
        readers.read_ag_news_csv(path)
