"""`TextPreprocessor`: raw strings to padded WordPiece token ids, in the TF graph.

It wraps keras-hub's `WordPieceTokenizer` (tensorflow-text's fast WordPiece), so
it runs inside `tf.data` and inside an exported SavedModel. Token id 0 is `[PAD]`,
which is what the zoo's models mask.

Example:
```python
from keras_ctxmem.preprocessing import TextPreprocessor
pre = TextPreprocessor.from_corpus(
    ["a charming film", "a dull film", "charming and warm"],
    vocabulary_size=60,
    sequence_length=8,
)
token_ids = pre(["a charming film"])  # int32, shape (1, 8), 0 = padding
```
"""

import os
import warnings

import keras
import keras_hub
import tensorflow as tf
from keras_hub.src.tokenizers.word_piece_tokenizer import pretokenize
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
VOCABULARY_FILE = "vocabulary.txt"
# Where a preset keeps the vocabulary (`save_to_preset` writes it there).
PRESET_ASSETS = "assets/preprocessor"


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class TextPreprocessor(keras.layers.Layer):
    """Normalises, splits into WordPieces, truncates and right-pads to a length.

    Args:
        vocabulary: a list of tokens or a vocabulary file; `[PAD]` must come first
            (id 0) and `[UNK]` must be present. `None` until set from a corpus.
        sequence_length: output length; longer texts are truncated.
        lowercase: lower-case the text first.
        strip_accents: remove accents (é → e) first.

    Works batched (`(batch,)` strings → `(batch, sequence_length)`) and unbatched
    (a scalar string → `(sequence_length,)`), also inside `tf.data.Dataset.map`.
    """

    def __init__(
        self,
        vocabulary=None,
        sequence_length=128,
        lowercase=True,
        strip_accents=True,
        **kwargs,
    ):
        kwargs.pop("dtype", None)  # Always int32 token ids.
        super().__init__(dtype="int32", **kwargs)
        # Inputs stay TensorFlow tensors on every backend (the JAX backend cannot
        # hold strings), as in keras-hub's preprocessing layers.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        if not isinstance(sequence_length, int) or sequence_length < 1:
            raise ValueError(
                "`sequence_length` must be a positive integer. "
                f"Received: {sequence_length}"
            )
        self.sequence_length = sequence_length
        self.lowercase = lowercase
        self.strip_accents = strip_accents
        self.tokenizer = keras_hub.tokenizers.WordPieceTokenizer(
            vocabulary=None,
            sequence_length=sequence_length,
            lowercase=lowercase,
            strip_accents=strip_accents,
            oov_token="[UNK]",
            dtype="int32",
            name="tokenizer",
        )
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)
        self.built = True  # No weights; the vocabulary is an asset.

    @classmethod
    def from_corpus(
        cls,
        corpus,
        vocabulary_size=8000,
        sequence_length=128,
        lowercase=True,
        strip_accents=True,
        **kwargs,
    ):
        """Learns a WordPiece vocabulary from texts, then builds the preprocessor.

        Args:
            corpus: a list of strings, a text file (one text per line), a list
                of such files, or a `tf.data.Dataset` of strings (batched or not).
            vocabulary_size: the number of tokens wanted, special tokens
                included; see `learn_word_piece_vocabulary`.
        """
        vocabulary = learn_word_piece_vocabulary(
            corpus,
            vocabulary_size=vocabulary_size,
            lowercase=lowercase,
            strip_accents=strip_accents,
        )
        return cls(
            vocabulary=vocabulary,
            sequence_length=sequence_length,
            lowercase=lowercase,
            strip_accents=strip_accents,
            **kwargs,
        )

    def set_vocabulary(self, vocabulary):
        """Sets the vocabulary from a list of tokens or a file path."""
        # What a file holds is never shown: it may not be a vocabulary at all.
        shown = f"file {vocabulary}" if isinstance(vocabulary, str) else None
        if shown:
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = [line.rstrip("\n") for line in f]
        vocabulary = list(vocabulary)
        if not vocabulary or vocabulary[0] != "[PAD]":
            raise ValueError(
                "The vocabulary must start with '[PAD]' (token id 0 is padding). "
                f"Received a vocabulary {shown or f'starting with: {vocabulary[:3]}'}"
            )
        if "[UNK]" not in vocabulary:
            raise ValueError("The vocabulary must contain the token '[UNK]'.")
        self.tokenizer.set_vocabulary(vocabulary)

    @property
    def vocabulary(self):
        return self.tokenizer.vocabulary

    @property
    def vocabulary_size(self):
        """Number of token ids, the padding id 0 included."""
        self._check_vocabulary()
        return self.tokenizer.vocabulary_size()

    def _check_vocabulary(self):
        if self.tokenizer.vocabulary is None:
            raise ValueError(
                "This TextPreprocessor has no vocabulary: pass `vocabulary=` or "
                "build it with `TextPreprocessor.from_corpus(texts)`."
            )

    def __call__(self, inputs, *args, **kwargs):
        if not isinstance(inputs, (tf.Tensor, keras.KerasTensor)):
            try:
                inputs = tf.convert_to_tensor(inputs)
            except (ValueError, TypeError) as error:
                raise TypeError(
                    "TextPreprocessor takes a string or a 1-D batch of strings. "
                    f"Received: {type(inputs).__name__} ({error})"
                ) from None
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs):
        self._check_vocabulary()
        if inputs.dtype != tf.string:
            raise TypeError(
                "TextPreprocessor takes strings (tf.string). "
                f"Received dtype: {inputs.dtype.name}"
            )
        if inputs.shape.rank is not None and inputs.shape.rank > 1:
            raise ValueError(
                "TextPreprocessor takes a string or a 1-D batch of strings. "
                f"Received shape: {inputs.shape}"
            )
        inputs = tf.strings.unicode_transcode(
            inputs, "UTF-8", "UTF-8", errors="replace"
        )
        return self.tokenizer(inputs)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor((*inputs.shape, self.sequence_length), dtype="int32")

    def save_assets(self, dir_path):
        self.tokenizer.save_assets(dir_path)

    def load_assets(self, dir_path):
        self.set_vocabulary(os.path.join(dir_path, VOCABULARY_FILE))

    def load_preset_assets(self, preset):
        """Loads the vocabulary of a preset (a directory or a keras-hub handle)
        with keras-hub's loader: what keras-hub's `from_preset` calls."""
        from keras_hub.src.utils.preset_utils import get_file

        path = get_file(preset, f"{PRESET_ASSETS}/{VOCABULARY_FILE}")
        self.load_assets(os.path.dirname(path))

    def get_config(self):
        config = super().get_config()
        config.pop("dtype", None)
        config.update(
            {
                "sequence_length": self.sequence_length,
                "lowercase": self.lowercase,
                "strip_accents": self.strip_accents,
            }
        )
        return config


def text_dataset(texts):
    """An unbatched `tf.data.Dataset` of strings from a list of strings, a text
    file (one text per line), a list of such files, or a dataset of strings
    (batched or not)."""
    if isinstance(texts, tf.data.Dataset):
        return texts.unbatch() if texts.element_spec.shape.rank == 1 else texts
    if isinstance(texts, str):
        texts = [texts]
        if not os.path.isfile(texts[0]):
            raise FileNotFoundError(f"No text file at '{texts[0]}'.")
    texts = list(texts)
    if not texts:
        raise ValueError("No text given: the list of texts is empty.")
    if all(isinstance(item, str) and os.path.isfile(item) for item in texts):
        return tf.data.TextLineDataset(texts)
    return tf.data.Dataset.from_tensor_slices(tf.constant(texts, tf.string))


def learn_word_piece_vocabulary(
    corpus,
    vocabulary_size,
    lowercase=True,
    strip_accents=True,
    reserved_tokens=SPECIAL_TOKENS,
):
    """Learns a WordPiece vocabulary of `vocabulary_size` tokens, or close to it.

    keras-hub's `compute_word_piece_vocabulary` never keeps a sub-word seen fewer
    than 10 times (tensorflow-text's `lower_thresh`), so on a small corpus it
    returns far fewer tokens than asked (3,343 of 8,000 on SST-2). This searches
    the count threshold down to 1: the result has between 95% and 100% of
    `vocabulary_size` tokens (the least frequent sub-words of the next lower
    threshold are dropped when that threshold overshoots). When even a threshold
    of 1 gives fewer tokens, the corpus supports no more: the smaller vocabulary
    is returned with a warning naming its size.

    The reserved tokens come first, in order, then every character and its `##`
    continuation, so any word can still be split.

    Example:
    ```python
    from keras_ctxmem.preprocessing.text import learn_word_piece_vocabulary
    vocabulary = learn_word_piece_vocabulary(["a charming film"] * 3, 40)
    ```
    """
    words = (
        text_dataset(corpus)
        .batch(1024)
        .map(lambda text: pretokenize(text, lowercase, strip_accents))
    )
    counts = wordpiece_tokenizer_learner_lib.count_words(words)
    if not counts:
        raise ValueError("No words in the corpus: cannot learn a vocabulary.")
    reserved_tokens = list(reserved_tokens)

    def learn(threshold):
        # Equal bounds make tensorflow-text's search learn at this threshold only.
        return wordpiece_tokenizer_learner_lib.learn(
            counts,
            vocab_size=vocabulary_size,
            reserved_tokens=reserved_tokens,
            upper_thresh=threshold,
            lower_thresh=threshold,
        )

    low, vocabulary = 1, learn(1)
    if len(vocabulary) > vocabulary_size:
        # The smallest threshold whose vocabulary fits; learn(low) overshoots.
        overshoot, high = vocabulary, 2
        vocabulary = learn(high)
        while len(vocabulary) > vocabulary_size and high <= max(counts.values()):
            low, overshoot = high, vocabulary
            high *= 2
            vocabulary = learn(high)
        while high - low > 1:
            middle = (low + high) // 2
            candidate = learn(middle)
            if len(candidate) > vocabulary_size:
                low, overshoot = middle, candidate
            else:
                high, vocabulary = middle, candidate
        if len(vocabulary) < 0.95 * vocabulary_size:
            vocabulary = _truncate_vocabulary(
                overshoot, vocabulary_size, len(reserved_tokens)
            )
    if len(vocabulary) > vocabulary_size:
        raise ValueError(
            f"`vocabulary_size={vocabulary_size}` is too small: the special tokens "
            f"and the corpus's characters alone take {len(vocabulary)} tokens."
        )
    if len(vocabulary) < 0.95 * vocabulary_size:
        warnings.warn(
            f"The corpus supports only {len(vocabulary):,} WordPiece tokens (every "
            f"sub-word seen at least once), fewer than the {vocabulary_size:,} "
            f"requested: the vocabulary has {len(vocabulary):,} tokens.",
            stacklevel=2,
        )
    return vocabulary


def _truncate_vocabulary(vocabulary, size, num_reserved):
    """The first `size` tokens, keeping every character and `##` character."""
    characters = [token for token in vocabulary[num_reserved:] if len(token) == 1]
    kept = set(vocabulary[:num_reserved]) | set(characters)
    kept |= {"##" + c for c in characters if "##" + c in vocabulary}
    for token in vocabulary:
        if len(kept) >= size:
            break
        kept.add(token)
    return [token for token in vocabulary if token in kept]
