"""Word tags to word-piece labels and back, for NER and other tagging.

A word split into several word pieces is labelled on its first piece; the other
pieces get -1, which `TransformerTokenClassifier`'s loss and accuracy leave
out. Predictions are read back at each word's first piece, so they come out one
per word, ready for `keras_ctxmem.metrics.entity_f1`.

Example:
```python
from keras_ctxmem.preprocessing import TextPreprocessor
from keras_ctxmem.preprocessing.tagging import align_word_tags
pre = TextPreprocessor(
    ["[PAD]", "[UNK]", "john", "smith", "##son", "runs"], sequence_length=6
)
aligned = align_word_tags(pre, [["John", "Smithson", "runs"]], [[1, 2, 0]])
# token_ids [[2, 3, 4, 5, 0, 0]], labels [[1, 2, -1, 0, -1, -1]],
# word_positions [[0, 1, 3]]
```
"""

import numpy as np
import tensorflow as tf

IGNORED_LABEL = -1


def _ragged(values, dtype):
    if isinstance(values, tf.RaggedTensor):
        return values
    if isinstance(values, tf.Tensor):
        return tf.RaggedTensor.from_tensor(values)
    return tf.ragged.constant(values, dtype=dtype)


def align_word_tags(preprocessor, words, tags=None):
    """Tokenizes sentences given as words and aligns word tags to word pieces.

    Args:
        preprocessor: a `TextPreprocessor`; its `sequence_length` bounds the
            pieces per sentence (words past it are cut, with position -1).
        words: sentences as lists of words, `(batch, (words))`: nested lists
            or a `tf.RaggedTensor` of strings.
        tags: the matching int tag ids, or `None` when predicting.

    Returns:
        A dict of `token_ids` `(batch, sequence_length)`, `word_positions`
        `(batch, max_words)` (each word's first piece, -1 for padding and cut
        words) and, with `tags`, `labels` `(batch, sequence_length)` (the tag on
        first pieces, -1 elsewhere).
    """
    words = _ragged(words, tf.string)
    if words.dtype != tf.string or words.shape.rank != 2:
        raise ValueError(
            "`words` must be a batch of sentences, each a list of words "
            f"(rank 2, strings). Received: {words.dtype.name}, rank {words.shape.rank}"
        )
    length = preprocessor.sequence_length
    pieces = tf.RaggedTensor.from_tensor(preprocessor(words.flat_values), padding=0)
    pieces_per_word = tf.cast(pieces.row_lengths(), tf.int32)
    sentence_pieces = tf.RaggedTensor.from_row_lengths(
        pieces, words.row_lengths()
    ).merge_dims(1, 2)
    token_ids = sentence_pieces.to_tensor(default_value=0, shape=[None, length])

    # A word's first piece, counted from its sentence's first piece.
    sentence_of_word = words.value_rowids()
    pieces_per_sentence = tf.math.unsorted_segment_sum(
        pieces_per_word, sentence_of_word, words.nrows()
    )
    sentence_starts = tf.math.cumsum(pieces_per_sentence, exclusive=True)
    positions = tf.math.cumsum(pieces_per_word, exclusive=True) - tf.gather(
        sentence_starts, sentence_of_word
    )
    positions = tf.where(
        (positions < length) & (pieces_per_word > 0), positions, IGNORED_LABEL
    )
    aligned = {
        "token_ids": token_ids,
        "word_positions": words.with_flat_values(positions).to_tensor(
            default_value=IGNORED_LABEL
        ),
    }
    if tags is not None:
        tags = _ragged(tags, tf.int32)
        first_piece = tf.ragged.range(pieces_per_word).flat_values == 0
        piece_labels = tf.where(
            first_piece,
            tf.repeat(tf.cast(tags.flat_values, tf.int32), pieces_per_word),
            IGNORED_LABEL,
        )
        labels = tf.RaggedTensor.from_row_lengths(
            pieces.with_flat_values(piece_labels), words.row_lengths()
        ).merge_dims(1, 2)
        aligned["labels"] = labels.to_tensor(
            default_value=IGNORED_LABEL, shape=[None, length]
        )
    return aligned


def tagging_dataset(conll_data, preprocessor, batch_size=32, shuffle=True, seed=None):
    """`(token_ids, labels)` batches for `TransformerTokenClassifier.fit` from
    `keras_ctxmem.data.read_conll`'s result."""

    def align(words, tags):
        aligned = align_word_tags(preprocessor, words, tags)
        return aligned["token_ids"], aligned["labels"]

    dataset = conll_data.dataset
    if shuffle:
        dataset = dataset.shuffle(len(conll_data.sentences), seed=seed)
    return (
        dataset.ragged_batch(batch_size)
        .map(align, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def word_predictions(logits, word_positions, num_words):
    """Tag ids per word from per-piece `logits`, read at each word's first piece.

    Words with no position (cut off by the sequence length) get tag 0, which
    `read_conll` gives to `"O"`.
    """
    piece_tags = np.asarray(logits).argmax(-1)
    word_positions = np.asarray(word_positions)
    predictions = []
    for sentence, (tags, positions) in enumerate(
        zip(piece_tags, word_positions, strict=True)
    ):
        positions = positions[: num_words[sentence]]
        predictions.append(np.where(positions >= 0, tags[positions], 0).tolist())
    return predictions


def predict_word_tags(model, sentences, tag_names, batch_size=32):
    """Tags (strings) per word for sentences given as lists of words, from a
    `TransformerTokenClassifier` with a preprocessor."""
    if model.preprocessor is None:
        raise ValueError(
            "predict_word_tags needs a model with a preprocessor (word pieces)."
        )
    predictions = []
    for start in range(0, len(sentences), batch_size):
        batch = sentences[start : start + batch_size]
        aligned = align_word_tags(model.preprocessor, batch)
        logits = model.predict_on_batch(aligned["token_ids"])
        ids = word_predictions(
            logits, aligned["word_positions"], [len(words) for words in batch]
        )
        predictions.extend([[tag_names[i] for i in tags] for tags in ids])
    return predictions
