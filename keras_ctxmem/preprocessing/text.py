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

import keras
import keras_hub
import tensorflow as tf

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
VOCABULARY_FILE = "vocabulary.txt"


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
        # Strings stay TensorFlow tensors on every backend (as keras-hub's
        # preprocessing layers do): JAX has no string tensors.
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
        """
        data = text_dataset(corpus)
        vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
            data,
            vocabulary_size=vocabulary_size,
            lowercase=lowercase,
            strip_accents=strip_accents,
            reserved_tokens=list(SPECIAL_TOKENS),
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
        if isinstance(vocabulary, str):
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = [line.rstrip("\n") for line in f]
        vocabulary = list(vocabulary)
        if not vocabulary or vocabulary[0] != "[PAD]":
            raise ValueError(
                "The vocabulary must start with '[PAD]' (token id 0 is padding). "
                f"Received a vocabulary starting with: {vocabulary[:3]}"
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
