"""Readers for real datasets on disk: each returns an unbatched `tf.data.Dataset`.

- `read_text_classification`: TSV/CSV text classification files (SST-2, AG News).
  Elements: `(text: tf.string, label: int32)`. `stream_text_classification`
  reads a file larger than memory as the dataset is iterated. `read_ag_news_csv`
  reads the official AG News CSV layout (class index 1-4, title, description), and
  `read_labelled_texts` either layout for a model's label names.
- `read_conll`: CoNLL-2003 style token tagging files, IOB1 or BIO tags, converted
  to BIO. Elements: `(words: tf.string (n,), tags: int32 (n,))`.
- `read_babi`: bAbI v1.2 question answering (Weston et al. 2015) as memories,
  question and answer; `BabiData.to_arrays` gives the `{"story", "question"}`
  arrays a memory network reads, `BabiData.to_sequences` one token sequence
  (story then question) for a sequence classifier.
- `read_image_text_pairs`: a JSON or CSV listing of image files, texts and labels.
  Elements: `({"text": tf.string, "image": float32 (h, w, 3)}, label: int32)`.
- `load_imdb`: the IMDB reviews from an `aclImdb/` folder, or from
  `keras.datasets.imdb` (a download) when no folder is given.

A malformed file raises `DataFormatError`, whose message names the file and the
1-based line (or entry) at fault; so does a byte that is not valid UTF-8 (or the
`encoding=` given). A UTF-8 byte-order mark is dropped. A field may hold up to
`MAX_FIELD_BYTES` characters (a long review is legitimate).

Example:
```python
import os
import tempfile

from keras_ctxmem.data.readers import read_text_classification

path = os.path.join(tempfile.mkdtemp(), "train.tsv")
with open(path, "w") as f:
    f.write("sentence\\tlabel\\na fine film\\t1\\na dull film\\t0\\n")
data = read_text_classification(path)
print(data.num_examples, data.label_names)  # 2 ['0', '1']
batches = data.dataset.shuffle(1000).batch(32)
```
"""

import codecs
import contextlib
import csv
import dataclasses
import glob
import itertools
import json
import os
import re
import warnings

import numpy as np
import tensorflow as tf

AG_NEWS_LABEL_NAMES = ("World", "Sports", "Business", "Sci/Tech")
# The official CSV's class indices, 1-based, to the class names.
AG_NEWS_LABEL_MAP = {str(i + 1): name for i, name in enumerate(AG_NEWS_LABEL_NAMES)}
TEXT_COLUMN_NAMES = ("text", "sentence", "review", "document", "content")
LABEL_COLUMN_NAMES = ("label", "labels", "class", "category", "target")
HEADER_WORDS = frozenset(TEXT_COLUMN_NAMES + LABEL_COLUMN_NAMES)
_INTEGER = re.compile(r"-?\d+")
# The longest field a CSV/TSV reader takes (Python's csv module stops at 128 KiB).
MAX_FIELD_BYTES = 64 * 2**20


class DataFormatError(ValueError):
    """A data file does not have the expected format.

    `path` and `line` (1-based; an entry number for JSON listings) say where.
    """

    def __init__(self, path, line, message, unit="line"):
        super().__init__(f"{path}, {unit} {line}: {message}")
        self.path = path
        self.line = line


# --------------------------------------------------------------------------
# Files


@contextlib.contextmanager
def _open_text(path, encoding="utf-8", newline=None):
    """`path` opened as text, UTF-8 byte-order mark dropped; a byte that is not
    `encoding` raises `DataFormatError` naming the line (not its content)."""
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"
    try:
        with open(path, encoding=encoding, newline=newline) as f:
            yield f
    except UnicodeDecodeError as error:
        line, column = _undecodable_line(path, encoding)
        raise DataFormatError(
            path,
            line,
            f"not valid {encoding.removesuffix('-sig')} text ({error.reason} "
            f"at character {column}); give the file's encoding with `encoding=`, "
            "e.g. encoding='latin-1'",
        ) from None


def _undecodable_line(path, encoding):
    """The 1-based line and column of the first byte `encoding` cannot read."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                decoder.decode(line)
            except UnicodeDecodeError as error:
                return number, error.start + 1
    return "?", "?"


@contextlib.contextmanager
def _csv_fields_up_to(limit=MAX_FIELD_BYTES):
    """Lets the csv module read fields of up to `limit` characters."""
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


# --------------------------------------------------------------------------
# Labels


def _label_ids(cells, label_names, path, lines, unit="line"):
    """Maps label cells to ids; returns `(ids, label_names)`.

    Given `label_names`, a cell is looked up by name first, then read as an
    index into `label_names`. Otherwise all-integer labels are kept as ids
    (names `str(i)` for `i` up to the largest) and names are sorted.
    """
    cells = [cell.strip() for cell in cells]
    for cell, line in zip(cells, lines, strict=True):
        if not cell:
            raise DataFormatError(path, line, "empty label", unit)
    if label_names is not None:
        label_names = [str(name) for name in label_names]
        index = {name: i for i, name in enumerate(label_names)}
        ids = []
        for cell, line in zip(cells, lines, strict=True):
            if cell in index:
                ids.append(index[cell])
            elif _INTEGER.fullmatch(cell) and 0 <= int(cell) < len(label_names):
                ids.append(int(cell))
            else:
                raise DataFormatError(
                    path, line, f"unknown label {cell!r}; known: {label_names}", unit
                )
        return ids, label_names
    if all(_INTEGER.fullmatch(cell) for cell in cells):
        ids = [int(cell) for cell in cells]
        for value, line in zip(ids, lines, strict=True):
            if value < 0:
                raise DataFormatError(path, line, f"negative label {value}", unit)
        return ids, [str(i) for i in range(max(ids) + 1)]
    label_names = sorted(set(cells))
    index = {name: i for i, name in enumerate(label_names)}
    return [index[cell] for cell in cells], label_names


# --------------------------------------------------------------------------
# Text classification


@dataclasses.dataclass
class TextClassificationData:
    """`dataset` of `(text, label)` pairs, the class names and the example count."""

    dataset: tf.data.Dataset
    label_names: list
    num_examples: int
    arrays: tuple = dataclasses.field(default=None, repr=False, compare=False)

    def to_arrays(self, batch_size=65536):
        """`(texts, labels)`: an object array of str and an int32 array, in file
        order, for `fit` and for splitting with numpy indexing. The arrays the
        reader kept, else the dataset read `batch_size` examples at a time."""
        if self.arrays is not None:
            texts, labels = self.arrays
            return texts.copy(), labels.copy()
        texts, labels = [], []
        for text, label in self.dataset.batch(batch_size).as_numpy_iterator():
            texts.extend(t.decode("utf-8") for t in text)
            labels.append(label)
        labels = np.concatenate(labels) if labels else np.zeros(0)
        return np.array(texts, dtype=object), labels.astype("int32")


def _detect_delimiter(path, first_line):
    extension = os.path.splitext(path)[1].lower()
    if extension == ".tsv":
        return "\t"
    if extension == ".csv":
        return ","
    return "\t" if "\t" in first_line else ","


def _read_rows(path, delimiter, encoding="utf-8", limit=None):
    """Non-blank csv rows with the 1-based line each starts on (the first
    `limit` rows when given)."""
    rows, lines = [], []
    for row, line in itertools.islice(_iter_rows(path, delimiter, encoding), limit):
        rows.append(row)
        lines.append(line)
    if not rows:
        raise DataFormatError(path, 1, "the file holds no rows")
    return rows, lines


def _iter_rows(path, delimiter, encoding="utf-8"):
    """`(row, line)` for each non-blank csv row, read as the file streams."""
    with _open_text(path, encoding, newline="") as f, _csv_fields_up_to():
        first_line = f.readline()
        f.seek(0)
        delimiter = delimiter or _detect_delimiter(path, first_line)
        reader = csv.reader(f, delimiter=delimiter, strict=True)
        next_line = 1
        try:
            for row in reader:
                if any(cell.strip() for cell in row):
                    yield row, next_line
                next_line = reader.line_num + 1
        except csv.Error as error:
            raise DataFormatError(path, next_line, str(error)) from None


def _column_index(column, header, num_columns, path):
    if isinstance(column, str):
        if header is None or column not in header:
            raise DataFormatError(
                path, 1, f"no column named {column!r} in header {header}"
            )
        return header.index(column)
    if not -num_columns <= column < num_columns:
        raise DataFormatError(
            path, 1, f"column {column} is out of range for {num_columns} columns"
        )
    return column % num_columns


def _guess_label_index(rows, num_columns):
    """The column with the fewest distinct values, then the shortest ones."""

    def score(index):
        cells = [row[index] for row in rows if len(row) > index]
        mean_length = sum(map(len, cells)) / max(len(cells), 1)
        return (len(set(cells)), mean_length, -index)

    return min(range(num_columns), key=score)


def _looks_like_header(first, rest, label_index, label_names, path):
    """Whether the first row is a header: its label cell is a column name
    (`HEADER_WORDS`, e.g. `label`), or not a valid label where the later
    rows' are (given `label_names`, or integer labels). A first label that
    occurs only once is data, never a header: a warning says so."""
    if label_index >= len(first):
        return False
    cell = first[label_index].strip()
    if label_names is not None:
        return cell not in [str(name) for name in label_names] and not (
            _INTEGER.fullmatch(cell)
        )
    if cell.lower() in HEADER_WORDS:
        return True
    later = [row[label_index].strip() for row in rest if len(row) > label_index]
    if later and all(_INTEGER.fullmatch(value) for value in later):
        return not _INTEGER.fullmatch(cell)
    if later and cell not in later:
        warnings.warn(
            f"{path}: the first row's label occurs only once; it is read as "
            "data. Pass `header=True` if that row is a header.",
            stacklevel=3,
        )
    return False


def read_text_classification(
    path,
    text_column=None,
    label_column=None,
    delimiter=None,
    header="auto",
    label_names=None,
    label_map=None,
    encoding="utf-8",
):
    """Reads a TSV or CSV file of texts and labels.

    Fields may be quoted as the `csv` module reads them (`"a ""quoted"" word"`).
    The delimiter is a tab for `.tsv`, a comma for `.csv`, else a tab when the
    first line holds one.

    Args:
        path: the file.
        text_column: an index, a header name, or a list of them; several text
            columns are joined with " " (AG News: `[1, 2]`, title and
            description). By default, a header column named like `text` or
            `sentence`, else every column but the label column.
        label_column: an index or a header name. By default, a header column
            named like `label`, else the column with the fewest distinct values.
        delimiter: the field separator; detected when `None`.
        header: `True`, `False` or `"auto"`: the first row is a header when a
            column is given by name, or when its label cell is a column name
            (`label`, `class`, `category`, `target`, `text`, `sentence`, ...;
            see `HEADER_WORDS`), or is not a valid label while the later rows'
            are (`label_names` given, or integer labels). A file holding only
            a header is an error.
        label_names: fixes the classes and their order; a label is one of these
            names or an index into them, anything else is an error. By default,
            integer labels are kept as ids (names `"0"`, `"1"`, ... up to the
            largest) and other labels are numbered in sorted order.
        label_map: a dict from the file's label cells to label names (AG News:
            `{"1": "World", ...}`), applied before `label_names`; a cell it
            does not map is an error.
        encoding: the file's text encoding (a UTF-8 byte-order mark is
            dropped); a byte it cannot read raises `DataFormatError`.

    Returns:
        `TextClassificationData`; the dataset yields `(text, label)`, a tf.string
        scalar (cells stripped of surrounding spaces) and an int32 scalar, in
        file order.
    """
    rows, lines = _read_rows(path, delimiter, encoding)
    header, label_index, text_indices = _layout(
        rows, lines, path, text_column, label_column, header, label_names
    )
    num_columns = len(rows[0])
    if header:
        rows, lines = rows[1:], lines[1:]

    for row, line in zip(rows, lines, strict=True):
        if len(row) != num_columns:
            raise DataFormatError(
                path, line, f"expected {num_columns} fields, found {len(row)}"
            )
    texts = [" ".join(row[i].strip() for i in text_indices) for row in rows]
    cells = [row[label_index] for row in rows]
    if label_map is not None:
        cells = _map_labels(cells, label_map, path, lines)
    ids, label_names = _label_ids(cells, label_names, path, lines)
    texts = np.array(texts, dtype=object)
    ids = np.array(ids, dtype="int32")
    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.constant(texts, tf.string), tf.constant(ids, tf.int32))
    )
    return TextClassificationData(dataset, label_names, len(texts), (texts, ids))


def _layout(rows, lines, path, text_column, label_column, header, label_names):
    """`(header, label_index, text_indices)` of a file from its first rows."""
    num_columns = len(rows[0])
    by_name = isinstance(label_column, str) or any(
        isinstance(column, str)
        for column in (text_column if isinstance(text_column, list) else [text_column])
    )
    if header == "auto":
        if by_name:
            header = True
        else:
            if label_column is None:
                label_index = _guess_label_index(rows[1:] or rows, num_columns)
            else:
                label_index = _column_index(label_column, None, num_columns, path)
            header = _looks_like_header(
                rows[0], rows[1:], label_index, label_names, path
            )
    names = [name.strip() for name in rows[0]] if header else None
    if header:
        rows, lines = rows[1:], lines[1:]
        if not rows:
            raise DataFormatError(path, 2, "the file holds a header and no rows")
    if label_column is None and names is not None:
        label_column = next((n for n in names if n.lower() in LABEL_COLUMN_NAMES), None)
    if label_column is None:
        label_index = _guess_label_index(rows, num_columns)
    else:
        label_index = _column_index(label_column, names, num_columns, path)
    if text_column is None and names is not None:
        text_column = next((n for n in names if n.lower() in TEXT_COLUMN_NAMES), None)
    if text_column is None:
        text_indices = [i for i in range(num_columns) if i != label_index]
    else:
        columns = text_column if isinstance(text_column, list) else [text_column]
        text_indices = [_column_index(c, names, num_columns, path) for c in columns]
    if not text_indices:
        raise DataFormatError(path, lines[0], "a single column: no text column")
    return bool(header), label_index, text_indices


def stream_text_classification(
    path,
    text_column=None,
    label_column=None,
    delimiter=None,
    header="auto",
    label_names=None,
    label_map=None,
    encoding="utf-8",
    chunk_rows=4096,
):
    """Streams a TSV or CSV file into `tf.data`, for files larger than memory.

    Takes `read_text_classification`'s arguments. The header and the columns
    are settled from the first 1,000 rows; then the file is read as the
    dataset is iterated, `chunk_rows` rows at a time, so memory stays flat
    whatever the file's size. Labels must be known without reading the whole
    file: names from `label_names` (or `label_map` into them), or integers kept
    as ids. A malformed row stops the iteration with its file and line.

    Returns:
        `TextClassificationData` with `num_examples` None (unknown until read)
        and `label_names` as given (None for integer labels).

    Example:
    ```python
    import os, tempfile
    from keras_ctxmem.data.readers import stream_text_classification
    path = os.path.join(tempfile.mkdtemp(), "big.tsv")
    with open(path, "w") as f:
        f.write("text\tlabel\n" + "a fine film\t1\na dull film\t0\n" * 1000)
    batches = stream_text_classification(path).dataset.batch(256)
    ```
    """
    head, head_lines = _read_rows(path, delimiter, encoding, limit=1000)
    has_header, label_index, text_indices = _layout(
        head, head_lines, path, text_column, label_column, header, label_names
    )
    num_columns = len(head[0])
    if label_names is not None:
        label_names = [str(name) for name in label_names]

    def chunks():
        rows = _iter_rows(path, delimiter, encoding)
        if has_header:
            next(rows)
        while True:
            chunk = list(itertools.islice(rows, chunk_rows))
            if not chunk:
                return
            for row, line in chunk:
                if len(row) != num_columns:
                    raise DataFormatError(
                        path, line, f"expected {num_columns} fields, found {len(row)}"
                    )
            lines = [line for _, line in chunk]
            cells = [row[label_index] for row, _ in chunk]
            if label_map is not None:
                cells = _map_labels(cells, label_map, path, lines)
            if label_names is None:
                for cell, line in zip(cells, lines, strict=True):
                    if not _INTEGER.fullmatch(cell.strip()):
                        raise DataFormatError(
                            path,
                            line,
                            f"label {cell.strip()!r} is not an integer: streaming "
                            "needs `label_names` for named labels",
                        )
            ids, _ = _label_ids(cells, label_names, path, lines)
            texts = [" ".join(row[i].strip() for i in text_indices) for row, _ in chunk]
            yield np.array(texts, dtype=object), np.array(ids, dtype="int32")

    dataset = tf.data.Dataset.from_generator(
        chunks,
        output_signature=(
            tf.TensorSpec([None], tf.string),
            tf.TensorSpec([None], tf.int32),
        ),
    ).unbatch()
    return TextClassificationData(dataset, label_names, None)


def _map_labels(cells, label_map, path, lines):
    label_map = {str(key).strip(): str(value) for key, value in label_map.items()}
    mapped = []
    for cell, line in zip(cells, lines, strict=True):
        if cell.strip() not in label_map:
            raise DataFormatError(
                path,
                line,
                f"label {cell.strip()!r} is not in the label map {sorted(label_map)}",
            )
        mapped.append(label_map[cell.strip()])
    return mapped


def parse_label_map(text):
    """`"1=World,2=Sports"` to `{"1": "World", "2": "Sports"}`."""
    label_map = {}
    for item in text.split(","):
        key, equals, value = item.partition("=")
        if not equals or not key.strip() or not value.strip():
            raise ValueError(
                f"A label map is `id=name` pairs separated by commas, e.g. "
                f"'1=World,2=Sports'. Received: {text!r}"
            )
        label_map[key.strip()] = value.strip()
    return label_map


def read_ag_news_csv(
    path,
    text="description",
    label_names=AG_NEWS_LABEL_NAMES,
    label_map=AG_NEWS_LABEL_MAP,
):
    """Reads the official AG News CSV: `"3","Title","Description"`, no header.

    Args:
        path: the CSV file.
        text: `"description"` (what `ag_news_10k/train.tsv` holds and the
            `ag_news_topic` preset was trained on), `"title"`, or
            `"title+description"` (joined with a space).
        label_names: the classes and their order (default: World, Sports,
            Business, Sci/Tech).
        label_map: the class index cells to names (default: 1=World, 2=Sports,
            3=Business, 4=Sci/Tech).

    Example:
    ```python
    import os
    import tempfile

    from keras_ctxmem.data.readers import read_ag_news_csv

    path = os.path.join(tempfile.mkdtemp(), "test.csv")
    with open(path, "w") as f:
        f.write('"3","Stocks rally","Shares rose on Monday."\\n')
    data = read_ag_news_csv(path)
    print(data.label_names[data.to_arrays()[1][0]])  # Business
    ```
    """
    columns = {"description": 2, "title": 1, "title+description": [1, 2]}
    if text not in columns:
        raise ValueError(f"`text` must be one of {list(columns)}. Received: {text!r}")
    return read_text_classification(
        path,
        text_column=columns[text],
        label_column=0,
        delimiter=",",
        header=False,
        label_names=list(label_names) if label_names is not None else None,
        label_map=label_map,
    )


def looks_like_ag_news_csv(path):
    """Whether the file's first rows are `"1".."4", title, description`."""
    try:
        with _open_text(path, newline="") as f, _csv_fields_up_to():
            rows = [row for row in itertools.islice(csv.reader(f), 20) if row]
    except (OSError, DataFormatError, csv.Error):
        return False
    return bool(rows) and all(
        len(row) == 3 and row[0].strip() in AG_NEWS_LABEL_MAP for row in rows
    )


def read_labelled_texts(path, label_names=None, label_map=None, text="description"):
    """Reads a labelled file for a model that knows `label_names`.

    A file in the AG News CSV layout (class index 1-4, title, description) is
    read with `read_ag_news_csv`: with `label_map` when given, else with the
    AG News map when `label_names` are the four AG News class names (otherwise
    the index cells could not be named, which raises). Any other file is read
    by `read_text_classification` (then `label_map`, if given, maps its cells).
    """
    if looks_like_ag_news_csv(path):
        if label_map is None:
            if label_names is None or list(label_names) != list(AG_NEWS_LABEL_NAMES):
                raise ValueError(
                    f"{path} is in the AG News CSV layout (class index 1-4, "
                    f"title, description), but the model's labels {label_names} "
                    "are not the AG News names: give a label map, e.g. "
                    "'1=World,2=Sports,3=Business,4=Sci/Tech'."
                )
            label_map = AG_NEWS_LABEL_MAP
        return read_ag_news_csv(path, text, label_names, label_map)
    return read_text_classification(path, label_names=label_names, label_map=label_map)


# --------------------------------------------------------------------------
# CoNLL token tagging


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
    with _open_text(path) as f:
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


# --------------------------------------------------------------------------
# bAbI question answering


def tokenize_babi(text):
    """Lower-cases and splits punctuation off words: `"Where is Mary?"` gives
    `["where", "is", "mary", "?"]`."""
    return re.findall(r"\w+|[^\w\s]", text.lower())


@dataclasses.dataclass
class BabiData:
    """bAbI questions, one example each, with the story told before it.

    `stories[i]` is the list of statements (each a list of words) before
    question `i`, oldest first, at most `max_memories` of the newest;
    `questions[i]` its words; `answers[i]` the answer as written, lower-cased
    (`"n,w"` and `"apple,milk"` answers stay one word); `supporting[i]` the line
    ids of the supporting statements as written in the file; `task_ids[i]` the
    task number (0 when unknown).
    """

    stories: list
    questions: list
    answers: list
    supporting: list
    task_ids: list

    def __len__(self):
        return len(self.questions)

    def to_arrays(
        self,
        vocabulary=None,
        max_memories=None,
        max_sentence_length=None,
        unknown_words="error",
    ):
        """Word ids for a memory network.

        Args:
            vocabulary: a list of words, index 0 the padding `""`; by default
                `babi_vocabulary(self)`. Pass one built from the training
                splits (`babi_vocabulary(train, valid)`) so the ids agree.
            max_memories: memories per story; longer stories keep the newest.
                By default the longest story.
            max_sentence_length: words per statement and per question; longer
                ones keep their first words. By default the longest.
            unknown_words: `"error"` raises on a word missing from
                `vocabulary`; `"drop"` leaves such words out of statements and
                questions and gives an unknown answer the id -1, which no model
                predicts (for test files read with a trained model's words).

        Returns:
            A dict: `story` int32 `(n, memories, words)`, statement `i` of a
            story in row `i` (oldest first), padding statements and words all 0;
            `question` int32 `(n, words)`; `answer` int32 `(n,)`, the answer's
            index in `vocabulary`; and `vocabulary` itself.
        """
        vocabulary, ids = self._word_ids(vocabulary, unknown_words)
        if max_memories is None:
            max_memories = max(1, max(len(story) for story in self.stories))
        if max_sentence_length is None:
            max_sentence_length = max(
                len(sentence)
                for sentence in [*self.questions, *(s for t in self.stories for s in t)]
            )
        n = len(self)
        story = np.zeros((n, max_memories, max_sentence_length), "int32")
        question = np.zeros((n, max_sentence_length), "int32")
        for row, (memories, words) in enumerate(
            zip(self.stories, self.questions, strict=True)
        ):
            for slot, sentence in enumerate(memories[-max_memories:]):
                sentence_ids = ids(sentence)[:max_sentence_length]
                story[row, slot, : len(sentence_ids)] = sentence_ids
            question_ids = ids(words)[:max_sentence_length]
            question[row, : len(question_ids)] = question_ids
        answer = np.array([(ids([word]) or [-1])[0] for word in self.answers], "int32")
        return {
            "story": story,
            "question": question,
            "answer": answer,
            "vocabulary": vocabulary,
        }

    def to_sequences(self, vocabulary=None, max_length=None):
        """Word ids for a sequence reader: story then question, one sequence.

        The statements of the story (oldest first) and then the question are
        joined into one token sequence (each statement ends with its `.`, the
        question with its `?`), so that an LSTM or Transformer classifier can
        answer: the label is the answer's word id, a class out of
        `len(vocabulary)`.

        Args:
            vocabulary: as for `to_arrays`.
            max_length: tokens per sequence; longer sequences keep their last
                tokens (the question and the newest statements). By default
                the longest.

        Returns:
            A dict: `token_ids` int32 `(n, length)`, right-padded with 0;
            `answer` int32 `(n,)`; and `vocabulary`.
        """
        vocabulary, ids = self._word_ids(vocabulary)
        sequences = [
            ids([word for sentence in story for word in sentence] + question)
            for story, question in zip(self.stories, self.questions, strict=True)
        ]
        if max_length is None:
            max_length = max(len(sequence) for sequence in sequences)
        token_ids = np.zeros((len(self), max_length), "int32")
        for row, sequence in enumerate(sequences):
            sequence = sequence[-max_length:]
            token_ids[row, : len(sequence)] = sequence
        answer = np.array([ids([word])[0] for word in self.answers], "int32")
        return {"token_ids": token_ids, "answer": answer, "vocabulary": vocabulary}

    def _word_ids(self, vocabulary, unknown_words="error"):
        """`(vocabulary, ids)`: the vocabulary (default: this data's) and a
        function from words to their ids, which names a missing word (or,
        with `unknown_words="drop"`, leaves it out)."""
        if unknown_words not in ("error", "drop"):
            raise ValueError(
                "`unknown_words` must be 'error' or 'drop'. "
                f"Received: {unknown_words!r}"
            )
        vocabulary = list(vocabulary) if vocabulary else babi_vocabulary(self)
        index = {word: i for i, word in enumerate(vocabulary)}

        def ids(words):
            missing = [word for word in words if word not in index]
            if missing and unknown_words == "drop":
                return [index[word] for word in words if word in index]
            if missing:
                raise ValueError(
                    f"{missing[0]!r} is not in the vocabulary; build it from "
                    "every split: babi_vocabulary(train, valid)"
                )
            return [index[word] for word in words]

        return vocabulary, ids

    def to_dataset(self, vocabulary=None, max_memories=None, max_sentence_length=None):
        """`({"story", "question"}, answer)` elements from `to_arrays`."""
        arrays = self.to_arrays(vocabulary, max_memories, max_sentence_length)
        return tf.data.Dataset.from_tensor_slices(
            (
                {"story": arrays["story"], "question": arrays["question"]},
                arrays["answer"],
            )
        )


def babi_vocabulary(*datas):
    """`""` (padding) then every word and answer of these `BabiData`, sorted."""
    words = set()
    for data in datas:
        words.update(data.answers)
        for words_ in data.questions:
            words.update(words_)
        for story in data.stories:
            for sentence in story:
                words.update(sentence)
    return [""] + sorted(words)


def _babi_files(path_or_paths, split, task_ids):
    """`(file, task id)` pairs for a file, a list of files or a directory."""
    if isinstance(path_or_paths, (str, os.PathLike)) and os.path.isdir(path_or_paths):
        found = {}
        for name in glob.glob(os.path.join(path_or_paths, f"qa*_*{split}.txt")):
            match = re.match(r"qa(\d+)_", os.path.basename(name))
            if match:
                found[int(match.group(1))] = name
        wanted = sorted(found) if task_ids is None else list(task_ids)
        missing = [task for task in wanted if task not in found]
        if missing or not wanted:
            raise FileNotFoundError(
                f"no qa{missing[0] if missing else 'N'}_*{split}.txt in {path_or_paths}"
            )
        return [(found[task], task) for task in wanted]
    paths = (
        [path_or_paths]
        if isinstance(path_or_paths, (str, os.PathLike))
        else list(path_or_paths)
    )
    if task_ids is not None:
        if len(task_ids) != len(paths):
            raise ValueError(
                f"{len(task_ids)} task ids for {len(paths)} files: give one each"
            )
        return list(zip(paths, task_ids, strict=True))
    pairs = []
    for path in paths:
        match = re.match(r"qa(\d+)_", os.path.basename(path))
        pairs.append((path, int(match.group(1)) if match else 0))
    return pairs


def _read_babi_file(path, task_id, max_memories, data):
    statements = []  # the current story's statements so far
    num_before = len(data.questions)
    with _open_text(path) as f:
        for line_number, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            number, _, rest = line.partition(" ")
            if not number.isdigit():
                raise DataFormatError(path, line_number, "no line id at the start")
            if int(number) == 1:
                statements = []
            if "\t" not in rest:
                statements.append(tokenize_babi(rest))
                continue
            fields = rest.split("\t")
            if len(fields) != 3:
                raise DataFormatError(
                    path,
                    line_number,
                    "a question line needs question<TAB>answer<TAB>supporting ids",
                )
            question, answer, support = fields
            if not answer.strip() or not all(s.isdigit() for s in support.split()):
                raise DataFormatError(
                    path, line_number, f"bad answer or supporting ids: {rest!r}"
                )
            first = 0 if max_memories is None else len(statements) - max_memories
            data.stories.append(statements[max(0, first) :])
            data.questions.append(tokenize_babi(question))
            data.answers.append(answer.strip().lower())
            data.supporting.append([int(s) for s in support.split()])
            data.task_ids.append(task_id)
    if len(data.questions) == num_before:
        raise DataFormatError(path, 1, "the file holds no questions")


def read_babi(path_or_paths, max_memories=50, task_ids=None, split="train"):
    """Reads bAbI v1.2 tasks: one example per question.

    A line numbered 1 starts a story; a question line is
    `id question<TAB>answer<TAB>supporting ids`; the other lines are statements.
    An example's memories are the statements of its story before the question
    (questions are not memories), the newest `max_memories` of them.

    Args:
        path_or_paths: a file, a list of files, or a directory holding
            `qa{N}_{split}.txt` or `qa{N}_<name>_{split}.txt` files.
        max_memories: statements kept per example, the newest ones; `None`
            keeps them all.
        task_ids: for a directory, the tasks to read (default: every one
            found); for files, each file's task id (default: the `N` of a
            `qaN_` file name, else 0).
        split: for a directory, the file name's suffix: `"train"`, `"valid"`
            or `"test"`.

    Returns:
        `BabiData`, tasks in the order read, questions in file order.
    """
    data = BabiData([], [], [], [], [])
    for path, task_id in _babi_files(path_or_paths, split, task_ids):
        _read_babi_file(path, task_id, max_memories, data)
    return data


# --------------------------------------------------------------------------
# Image-text pairs


@dataclasses.dataclass
class ImageTextData:
    """`dataset` of `({"text", "image"}, label)`, class names, example count."""

    dataset: tf.data.Dataset
    label_names: list
    num_examples: int


def _listing_entries(listing_path):
    """`(entry, location)` pairs: JSON objects by entry number, CSV rows by line."""
    if listing_path.lower().endswith(".json"):
        with _open_text(listing_path) as f:
            try:
                entries = json.load(f)
            except json.JSONDecodeError as error:
                raise DataFormatError(listing_path, error.lineno, error.msg) from error
        if not isinstance(entries, list) or not all(
            isinstance(entry, dict) for entry in entries
        ):
            raise DataFormatError(listing_path, 1, "expected a list of objects")
        return [(entry, i) for i, entry in enumerate(entries, start=1)], "entry"
    rows, lines = _read_rows(listing_path, None)
    names = [name.strip() for name in rows[0]]
    entries = []
    for row, line in zip(rows[1:], lines[1:], strict=True):
        if len(row) != len(names):
            raise DataFormatError(
                listing_path, line, f"expected {len(names)} fields, found {len(row)}"
            )
        entries.append((dict(zip(names, row, strict=True)), line))
    return entries, "line"


def _image_path(image_root, image, listing_path, location, unit):
    """The file `image` names under `image_root`, refused if it leads out."""
    root = os.path.realpath(image_root)
    path = os.path.realpath(os.path.join(root, image))
    if os.path.commonpath([root, path]) != root:
        raise DataFormatError(
            listing_path,
            location,
            f"image {image!r} leads outside the image root {image_root}: images "
            "must be files inside it (pass `image_root=` to widen it)",
            unit,
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{listing_path}, {unit} {location}: no image file {path}"
        )
    return path


def _check_image(path, listing_path, location, unit):
    try:
        tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as error:
        raise DataFormatError(
            listing_path,
            location,
            f"the image {path} cannot be decoded as PNG, JPEG, GIF or BMP "
            f"({type(error).__name__})",
            unit,
        ) from None


def read_image_text_pairs(
    listing_path,
    image_size=(64, 64),
    image_root=None,
    label_names=None,
    check_images=True,
):
    """Reads a listing of images with a text and a label each.

    The listing is a JSON list of objects or a CSV file with a header. Each
    entry has `text` (or `sentence`), `image` and `label` (a name or an
    integer; see `read_text_classification`'s `label_names`). `image` is a path
    relative to `image_root` (default: the listing's folder), and must lead to
    a file inside it (no `../`, no absolute path or symbolic link leading out);
    for a JSON list of paths, the first one is used. Every image file is
    checked up front: it must exist and, with `check_images` (the default),
    decode, so that a corrupt image is reported with its entry here rather
    than mid-epoch.

    Images (PNG, JPEG, GIF first frame, BMP) are decoded to 3 channels and
    resized (bilinear) in the pipeline, as float32 in [0, 1].

    Returns:
        `ImageTextData`; elements `({"text": tf.string, "image": float32
        (height, width, 3)}, label: int32)`.
    """
    entries, unit = _listing_entries(listing_path)
    if not entries:
        raise DataFormatError(listing_path, 1, "the listing holds no entries", unit)
    image_root = image_root or os.path.dirname(os.path.abspath(listing_path))
    texts, paths, labels, locations = [], [], [], []
    for entry, location in entries:
        text = entry.get("text", entry.get("sentence"))
        image = entry.get("image")
        if isinstance(image, list):
            image = image[0] if image else None
        for field, value in (
            ("text", text),
            ("image", image),
            ("label", entry.get("label")),
        ):
            if value is None or value == "":
                raise DataFormatError(listing_path, location, f"no {field!r}", unit)
        image_path = _image_path(image_root, str(image), listing_path, location, unit)
        if check_images:
            _check_image(image_path, listing_path, location, unit)
        texts.append(str(text))
        paths.append(image_path)
        labels.append(str(entry["label"]))
        locations.append(location)
    ids, label_names = _label_ids(labels, label_names, listing_path, locations, unit)
    height, width = image_size

    def load(text, path, label):
        image = tf.io.decode_image(
            tf.io.read_file(path), channels=3, expand_animations=False
        )
        image = tf.image.convert_image_dtype(image, tf.float32)
        image = tf.image.resize(image, (height, width))
        image.set_shape((height, width, 3))
        return {"text": text, "image": image}, label

    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.constant(texts), tf.constant(paths), tf.constant(ids, tf.int32))
    ).map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ImageTextData(dataset, label_names, len(texts))


# --------------------------------------------------------------------------
# IMDB


def _read_acl_imdb_split(folder):
    texts, labels = [], []
    for label, name in enumerate(("neg", "pos")):
        subfolder = os.path.join(folder, name)
        if not os.path.isdir(subfolder):
            raise FileNotFoundError(f"no folder {subfolder} (an aclImdb/ layout)")
        for file_name in sorted(os.listdir(subfolder)):
            if file_name.endswith(".txt"):
                with _open_text(os.path.join(subfolder, file_name)) as f:
                    texts.append(f.read().strip())
                labels.append(label)
    if not texts:
        raise FileNotFoundError(f"no .txt reviews under {folder}/neg or {folder}/pos")
    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.constant(texts), tf.constant(labels, tf.int32))
    )
    return TextClassificationData(dataset, ["neg", "pos"], len(texts))


def _imdb_from_keras(**load_data_kwargs):
    """Decodes `keras.datasets.imdb`'s word ids back to text (lower-cased, no
    punctuation: Keras's preprocessing), with its default id offsets."""
    import keras

    (x_train, y_train), (x_test, y_test) = keras.datasets.imdb.load_data(
        **load_data_kwargs
    )
    words = {i + 3: word for word, i in keras.datasets.imdb.get_word_index().items()}
    words.update({0: "<pad>", 1: "<start>", 2: "<oov>"})

    def split(sequences, labels):
        texts = [" ".join(words.get(i, "<oov>") for i in seq[1:]) for seq in sequences]
        dataset = tf.data.Dataset.from_tensor_slices(
            (tf.constant(texts), tf.constant(np.asarray(labels), tf.int32))
        )
        return TextClassificationData(dataset, ["neg", "pos"], len(texts))

    return split(x_train, y_train), split(x_test, y_test)


def load_imdb(path=None, **load_data_kwargs):
    """The IMDB reviews (Maas et al. 2011) as `(train, test)`
    `TextClassificationData`, labels 0 `neg` and 1 `pos`.

    With `path` an `aclImdb/` folder (`train/{neg,pos}/*.txt`,
    `test/{neg,pos}/*.txt`), the reviews are read as written (HTML `<br />`
    kept), negatives first then positives, each sorted by file name: shuffle
    before batching. Without `path`, `keras.datasets.imdb` is downloaded and
    its word ids are decoded back to lower-cased text without punctuation;
    `load_data_kwargs` (e.g. `num_words`) go to its `load_data`.
    """
    if path is None:
        return _imdb_from_keras(**load_data_kwargs)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path} is not an aclImdb/ folder")
    return (
        _read_acl_imdb_split(os.path.join(path, "train")),
        _read_acl_imdb_split(os.path.join(path, "test")),
    )
