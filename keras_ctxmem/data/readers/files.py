"""What every reader shares: text files opened with clear errors, csv rows,
label cells mapped to ids, and `DataFormatError`."""

import codecs
import contextlib
import csv
import itertools
import os
import re

INTEGER = re.compile(r"-?\d+")
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


@contextlib.contextmanager
def open_text(path, encoding="utf-8", newline=None):
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
def csv_fields_up_to(limit=MAX_FIELD_BYTES):
    """Lets the csv module read fields of up to `limit` characters."""
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def label_ids(cells, label_names, path, lines, unit="line"):
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
            elif INTEGER.fullmatch(cell) and 0 <= int(cell) < len(label_names):
                ids.append(int(cell))
            else:
                raise DataFormatError(
                    path, line, f"unknown label {cell!r}; known: {label_names}", unit
                )
        return ids, label_names
    if all(INTEGER.fullmatch(cell) for cell in cells):
        ids = [int(cell) for cell in cells]
        for value, line in zip(ids, lines, strict=True):
            if value < 0:
                raise DataFormatError(path, line, f"negative label {value}", unit)
        return ids, [str(i) for i in range(max(ids) + 1)]
    label_names = sorted(set(cells))
    index = {name: i for i, name in enumerate(label_names)}
    return [index[cell] for cell in cells], label_names


def _detect_delimiter(path, first_line):
    extension = os.path.splitext(path)[1].lower()
    if extension == ".tsv":
        return "\t"
    if extension == ".csv":
        return ","
    return "\t" if "\t" in first_line else ","


def read_rows(path, delimiter, encoding="utf-8", limit=None):
    """Non-blank csv rows with the 1-based line each starts on (the first
    `limit` rows when given)."""
    rows, lines = [], []
    for row, line in itertools.islice(iter_rows(path, delimiter, encoding), limit):
        rows.append(row)
        lines.append(line)
    if not rows:
        raise DataFormatError(path, 1, "the file holds no rows")
    return rows, lines


def iter_rows(path, delimiter, encoding="utf-8"):
    """`(row, line)` for each non-blank csv row, read as the file streams."""
    with open_text(path, encoding, newline="") as f, csv_fields_up_to():
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
