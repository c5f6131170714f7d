"""A JSON or CSV listing of image files, texts and labels."""

import dataclasses
import json
import os

import tensorflow as tf

from keras_ctxmem.data.readers.files import (
    DataFormatError,
    label_ids,
    open_text,
    read_rows,
)


@dataclasses.dataclass
class ImageTextData:
    """`dataset` of `({"text", "image"}, label)`, class names, example count."""

    dataset: tf.data.Dataset
    label_names: list
    num_examples: int


def _listing_entries(listing_path):
    """`(entry, location)` pairs: JSON objects by entry number, CSV rows by line."""
    if listing_path.lower().endswith(".json"):
        with open_text(listing_path) as f:
            try:
                entries = json.load(f)
            except json.JSONDecodeError as error:
                raise DataFormatError(listing_path, error.lineno, error.msg) from error
        if not isinstance(entries, list) or not all(
            isinstance(entry, dict) for entry in entries
        ):
            raise DataFormatError(listing_path, 1, "expected a list of objects")
        return [(entry, i) for i, entry in enumerate(entries, start=1)], "entry"
    rows, lines = read_rows(listing_path, None)
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
    ids, label_names = label_ids(labels, label_names, listing_path, locations, unit)
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
