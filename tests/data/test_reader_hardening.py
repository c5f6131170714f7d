"""The readers as a careless user or an attacker would feed them: no row lost to
header detection, no bare decode error, no field too long for a real review,
no image read from outside its root, no corrupt image found only mid-epoch."""

import json
import os
import warnings

import numpy as np
import pytest
import tensorflow as tf

from keras_ctxmem.data.readers import (
    DataFormatError,
    read_babi,
    read_conll,
    read_image_text_pairs,
    read_text_classification,
    stream_text_classification,
)


def write(path, data):
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
        f.write(data)
    return str(path)


def rows(data):
    return [(t.decode(), int(y)) for t, y in data.dataset.as_numpy_iterator()]


# -- header detection -------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a rare one\tsurprise\na dog\tpets\na cat\tpets\n",  # first label once
        "a rare one\tzzz\nb\tpets\nc\tplants\nd\tpets\n",
        "one,odd\nb,x\nc,x\n",
    ],
)
def test_a_headerless_first_row_with_a_unique_label_is_kept(tmp_path, text):
    path = write(tmp_path / ("f.csv" if "," in text else "f.tsv"), text)
    with pytest.warns(UserWarning, match="occurs only once"):
        data = read_text_classification(path)
    assert data.num_examples == text.count("\n")
    first_text = text.split("\n")[0].replace(",", "\t").split("\t")[0]
    assert rows(data)[0][0] == first_text


@pytest.mark.parametrize(
    "header", ["text\tlabel", "sentence\tLabel", "review\tclass", "Text\ttarget"]
)
def test_a_header_is_recognised_by_its_column_names(tmp_path, header):
    data = read_text_classification(
        write(tmp_path / "f.tsv", f"{header}\na dog\tpets\na cat\tpets\nb\tzoo\n")
    )
    assert data.num_examples == 3 and data.label_names == ["pets", "zoo"]


@pytest.mark.parametrize(
    "text", ["sentence\tlabel\n", "text,label\n", "sentence\tlabel\n\n\n"]
)
def test_a_header_only_file_is_an_error(tmp_path, text):
    path = write(tmp_path / ("f.csv" if "," in text else "f.tsv"), text)
    with pytest.raises(DataFormatError, match="header and no rows"):
        read_text_classification(path)


def test_integer_labels_still_detect_any_header(tmp_path):
    path = write(tmp_path / "f.tsv", "phrase\tpolarity\ngood\t1\nbad\t0\n")
    assert rows(read_text_classification(path)) == [("good", 1), ("bad", 0)]


# -- encodings --------------------------------------------------------------


@pytest.mark.parametrize(
    "reader, data, line",
    [
        (read_text_classification, b"a\t1\nb\t0\ncaf\xe9\t1\n", 3),
        (read_text_classification, b"\xff\xfea\x00\t\x001\x00\n", 1),  # UTF-16
        (read_conll, b"EU B-ORG\nrejects O\n\nGerm\xe4n B-MISC\n", 4),
        (read_babi, b"1 Mary went home.\n2 Wh\xe8re is Mary?\thome\t1\n", 2),
    ],
)
def test_bytes_that_are_not_utf8_name_file_and_line(tmp_path, reader, data, line):
    path = write(tmp_path / "qa1_x.txt", data)
    with pytest.raises(DataFormatError, match=f"qa1_x.txt, line {line}: not valid"):
        reader(path)


def test_an_encoding_can_be_given(tmp_path):
    path = write(tmp_path / "f.tsv", "text\tlabel\ncafé\t1\nthé\t0\n".encode("latin-1"))
    data = read_text_classification(path, encoding="latin-1")
    assert rows(data) == [("café", 1), ("thé", 0)]


def test_a_byte_order_mark_is_dropped(tmp_path):
    path = write(tmp_path / "f.csv", "\ufefftext,label\nfine,1\ndull,0\n")
    data = read_text_classification(path, text_column="text")
    assert rows(data) == [("fine", 1), ("dull", 0)]
    path = write(tmp_path / "g.tsv", "\ufefffine\t1\ndull\t0\n")
    assert rows(read_text_classification(path))[0] == ("fine", 1)


# -- long fields --------------------------------------------------------------


def test_a_review_longer_than_128_kib_is_read(tmp_path):
    review = "a very long review " * 20_000  # 380 KB, quoted with a newline
    path = write(tmp_path / "f.csv", f'text,label\n"{review}\nend",1\nshort,0\n')
    texts, labels = read_text_classification(path).to_arrays()
    assert texts[0] == review + "\nend" and labels.tolist() == [1, 0]


# -- image listings -------------------------------------------------------------


def write_png(path, shape=(4, 4, 3)):
    tf.io.write_file(str(path), tf.io.encode_png(np.zeros(shape, "uint8")))


@pytest.fixture
def image_root(tmp_path):
    root = tmp_path / "root"
    (root / "images").mkdir(parents=True)
    write_png(root / "images" / "ok.png")
    write_png(tmp_path / "secret.png")  # outside the root
    os.symlink(tmp_path / "secret.png", root / "images" / "link.png")
    return root


@pytest.mark.parametrize(
    "image",
    [
        "../secret.png",
        "images/../../secret.png",
        "images/link.png",  # a symbolic link leading out
        "ABSOLUTE",
    ],
)
def test_listings_cannot_reach_images_outside_their_root(image_root, image):
    if image == "ABSOLUTE":
        image = str(image_root.parent / "secret.png")
    listing = [
        {"text": "fine", "image": "images/ok.png", "label": "a"},
        {"text": "bad", "image": image, "label": "b"},
    ]
    path = write(image_root / "pairs.json", json.dumps(listing))
    with pytest.raises(DataFormatError, match="entry 2: image .* leads outside"):
        read_image_text_pairs(path)


def test_absolute_paths_inside_the_root_are_fine(image_root):
    listing = [{"text": "x", "image": str(image_root / "images/ok.png"), "label": 0}]
    path = write(image_root / "pairs.json", json.dumps(listing))
    assert read_image_text_pairs(path).num_examples == 1


@pytest.mark.parametrize(
    "content",
    [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, "truncated"],
)
def test_a_corrupt_image_is_reported_with_its_entry_when_read(image_root, content):
    if content == "truncated":
        good = (image_root / "images" / "ok.png").read_bytes()
        content = good[: len(good) // 2]
    (image_root / "images" / "bad.png").write_bytes(content)
    path = write(
        image_root / "pairs.csv",
        "text,image,label\nfine,images/ok.png,0\nbad,images/bad.png,1\n",
    )
    with pytest.raises(DataFormatError, match="pairs.csv, line 3: the image .*bad.png"):
        read_image_text_pairs(path)
    # Unchecked, it still loads (for huge listings), and fails when decoded.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert read_image_text_pairs(path, check_images=False).num_examples == 2


# -- large files --------------------------------------------------------------


def test_streaming_gives_what_reading_gives(tmp_path):
    lines = [f"text {i}, with a comma\t{i % 3}" for i in range(2500)]
    path = write(tmp_path / "big.tsv", "sentence\tlabel\n" + "\n".join(lines))
    read = read_text_classification(path)
    streamed = stream_text_classification(path, chunk_rows=300)
    assert streamed.num_examples is None and streamed.label_names is None
    for (a_texts, a_labels), (b_texts, b_labels) in [
        (read.to_arrays(), streamed.to_arrays(batch_size=700))
    ]:
        assert a_texts.tolist() == b_texts.tolist() and len(a_texts) == 2500
        np.testing.assert_array_equal(a_labels, b_labels)
    assert [int(y) for _, y in streamed.dataset.take(4)] == [0, 1, 2, 0]


def test_streaming_reports_bad_rows_and_needs_names_for_named_labels(tmp_path):
    lines = ["ok\t1"] * 1500 + ["broken row"] + ["ok\t0"]
    path = write(tmp_path / "bad.tsv", "\n".join(lines))
    with pytest.raises(Exception, match="bad.tsv, line 1501: expected 2 fields"):
        list(stream_text_classification(path).dataset)
    path = write(tmp_path / "named.tsv", "a fine film\tpos\na dull film\tneg\n")
    with pytest.raises(Exception, match="needs `label_names`"):
        list(stream_text_classification(path).dataset)
    named = stream_text_classification(path, label_names=["neg", "pos"])
    assert named.to_arrays()[1].tolist() == [1, 0]
