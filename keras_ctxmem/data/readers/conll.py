"""CoNLL-2003 style token tagging files, IOB1 or BIO tags, converted to BIO."""

import dataclasses

import numpy as np
import tensorflow as tf

from keras_ctxmem.data.readers.files import DataFormatError, open_text


@dataclasses.dataclass
class ConllData:
    """`dataset` of `(words, tag ids)` sentences, with the words and BIO tags."""

    dataset: tf.data.Dataset
    tag_names: list
    sentences: list
    tags: list
    scheme: str


def _split_tag(tag):
    prefix, _, entity_type = tag.partition("-")
    return prefix, entity_type


def detect_scheme(tag_sequences):
    """`"IOB1"` when some `I-X` starts an entity (after `O`, another type, or at
    a sentence start), else `"BIO"`."""
    for tags in tag_sequences:
        previous = "O"
        for tag in tags:
            prefix, entity_type = _split_tag(tag)
            if prefix == "I" and (
                previous == "O" or _split_tag(previous)[1] != entity_type
            ):
                return "IOB1"
            previous = tag
    return "BIO"


def iob1_to_bio(tags):
    """IOB1 tags (B- only between adjacent entities of one type) to BIO (IOB2).

    `["I-PER", "I-PER", "B-PER", "O", "I-LOC"]` becomes
    `["B-PER", "I-PER", "B-PER", "O", "B-LOC"]`. BIO input is returned as is.
    """
    converted = []
    previous = "O"
    for tag in tags:
        prefix, entity_type = _split_tag(tag)
        if prefix == "I" and (
            previous == "O" or _split_tag(previous)[1] != entity_type
        ):
            tag = f"B-{entity_type}"
        converted.append(tag)
        previous = tag
    return converted


def _check_tag(tag, path, line):
    prefix, entity_type = _split_tag(tag)
    if tag != "O" and (prefix not in ("B", "I") or not entity_type):
        raise DataFormatError(path, line, f"tag {tag!r} is neither O, B-X nor I-X")


def _read_conll_sentences(path, tag_column):
    sentences, tags, first_lines = [], [], []
    words, sentence_tags, start = [], [], None
    num_fields = None
    with open_text(path) as f:
        for line_number, line in enumerate(f, start=1):
            fields = line.split()
            if fields and fields[0] == "-DOCSTART-":
                continue
            if not fields:
                if words:
                    sentences.append(words)
                    tags.append(sentence_tags)
                    first_lines.append(start)
                words, sentence_tags = [], []
                continue
            if num_fields is None:
                num_fields = len(fields)
                if num_fields < 2:
                    raise DataFormatError(
                        path, line_number, "expected a word and a tag, found 1 field"
                    )
            if len(fields) != num_fields:
                raise DataFormatError(
                    path,
                    line_number,
                    f"expected {num_fields} fields, found {len(fields)}",
                )
            if not -num_fields <= tag_column < num_fields:
                raise DataFormatError(
                    path, line_number, f"no column {tag_column} in {num_fields}"
                )
            _check_tag(fields[tag_column], path, line_number)
            if not words:
                start = line_number
            words.append(fields[0])
            sentence_tags.append(fields[tag_column])
    if words:
        sentences.append(words)
        tags.append(sentence_tags)
        first_lines.append(start)
    if not sentences:
        raise DataFormatError(path, 1, "the file holds no sentences")
    return sentences, tags, first_lines


def _ragged_dataset(sentences, ids):
    """Elements `(words (n,), ids (n,))` cut out of two flat constant tensors."""
    lengths = np.array([len(words) for words in sentences], "int64")
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    flat_words = tf.constant([word for words in sentences for word in words])
    flat_ids = tf.constant(np.concatenate(ids).astype("int32"))
    return tf.data.Dataset.from_tensor_slices((starts, lengths)).map(
        lambda start, length: (
            flat_words[start : start + length],
            flat_ids[start : start + length],
        )
    )


def read_conll(path, scheme="auto", tag_column=-1, tag_names=None):
    """Reads a CoNLL-2003 style file: `word [pos chunk] tag` lines, blank lines
    between sentences, `-DOCSTART-` lines skipped.

    Args:
        path: the file; 4-column (CoNLL-2003) and 2-column files both work.
        scheme: the file's tags: `"IOB1"` (CoNLL-2003 as released), `"BIO"`
            (IOB2) or `"auto"` (`detect_scheme`). Tags come out as BIO; a
            `"BIO"` file whose `I-X` starts an entity is an error.
        tag_column: the column holding the tag.
        tag_names: fixes the tag ids (e.g. the training set's `tag_names` when
            reading a test set); an unknown tag is then an error. By default
            `"O"` first, then the `B-`/`I-` tags sorted by type.

    Returns:
        `ConllData`: `dataset` yields `(words, tags)`, tf.string and int32
        vectors; `sentences` and `tags` hold the words and the BIO tags;
        `scheme` the scheme the file was read as.
    """
    sentences, raw_tags, first_lines = _read_conll_sentences(path, tag_column)
    if scheme == "auto":
        scheme = detect_scheme(raw_tags)
    if scheme == "BIO":
        for tags, start in zip(raw_tags, first_lines, strict=True):
            bio = iob1_to_bio(tags)
            for offset, (tag, fixed) in enumerate(zip(tags, bio, strict=True)):
                if tag != fixed:
                    raise DataFormatError(
                        path,
                        start + offset,
                        f"{tag} starts an entity in a BIO file; pass "
                        "scheme='IOB1' or scheme='auto'",
                    )
        tags = raw_tags
    elif scheme == "IOB1":
        tags = [iob1_to_bio(sentence_tags) for sentence_tags in raw_tags]
    else:
        raise ValueError(f"`scheme` must be 'auto', 'BIO' or 'IOB1', not {scheme!r}")

    if tag_names is None:
        found = {tag for sentence_tags in tags for tag in sentence_tags} - {"O"}
        tag_names = ["O"] + sorted(found, key=lambda t: (_split_tag(t)[1], t))
    index = {name: i for i, name in enumerate(tag_names)}
    ids = []
    for sentence_tags, start in zip(tags, first_lines, strict=True):
        for offset, tag in enumerate(sentence_tags):
            if tag not in index:
                raise DataFormatError(path, start + offset, f"unknown tag {tag!r}")
        ids.append(np.array([index[tag] for tag in sentence_tags], "int32"))
    return ConllData(
        _ragged_dataset(sentences, ids), list(tag_names), sentences, tags, scheme
    )
