"""TSV/CSV text classification files (SST-2, AG News): read whole or streamed."""

import csv
import dataclasses
import itertools
import warnings

import numpy as np
import tensorflow as tf

from keras_ctxmem.data.readers.files import (
    INTEGER,
    DataFormatError,
    csv_fields_up_to,
    iter_rows,
    label_ids,
    open_text,
    read_rows,
)

AG_NEWS_LABEL_NAMES = ("World", "Sports", "Business", "Sci/Tech")
# The official CSV's class indices, 1-based, to the class names.
AG_NEWS_LABEL_MAP = {str(i + 1): name for i, name in enumerate(AG_NEWS_LABEL_NAMES)}
TEXT_COLUMN_NAMES = ("text", "sentence", "review", "document", "content")
LABEL_COLUMN_NAMES = ("label", "labels", "class", "category", "target")
HEADER_WORDS = frozenset(TEXT_COLUMN_NAMES + LABEL_COLUMN_NAMES)


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
            INTEGER.fullmatch(cell)
        )
    if cell.lower() in HEADER_WORDS:
        return True
    later = [row[label_index].strip() for row in rest if len(row) > label_index]
    if later and all(INTEGER.fullmatch(value) for value in later):
        return not INTEGER.fullmatch(cell)
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
    rows, lines = read_rows(path, delimiter, encoding)
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
    ids, label_names = label_ids(cells, label_names, path, lines)
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
    head, head_lines = read_rows(path, delimiter, encoding, limit=1000)
    has_header, label_index, text_indices = _layout(
        head, head_lines, path, text_column, label_column, header, label_names
    )
    num_columns = len(head[0])
    if label_names is not None:
        label_names = [str(name) for name in label_names]

    def chunks():
        rows = iter_rows(path, delimiter, encoding)
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
                    if not INTEGER.fullmatch(cell.strip()):
                        raise DataFormatError(
                            path,
                            line,
                            f"label {cell.strip()!r} is not an integer: streaming "
                            "needs `label_names` for named labels",
                        )
            ids, _ = label_ids(cells, label_names, path, lines)
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
        with open_text(path, newline="") as f, csv_fields_up_to():
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
