"""The IMDB reviews from an `aclImdb/` folder or `keras.datasets.imdb`."""

import os

import numpy as np
import tensorflow as tf

from keras_ctxmem.data.readers.files import open_text
from keras_ctxmem.data.readers.text_classification import TextClassificationData


def _read_acl_imdb_split(folder):
    texts, labels = [], []
    for label, name in enumerate(("neg", "pos")):
        subfolder = os.path.join(folder, name)
        if not os.path.isdir(subfolder):
            raise FileNotFoundError(f"no folder {subfolder} (an aclImdb/ layout)")
        for file_name in sorted(os.listdir(subfolder)):
            if file_name.endswith(".txt"):
                with open_text(os.path.join(subfolder, file_name)) as f:
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
