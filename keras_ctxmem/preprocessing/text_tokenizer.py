"""`TextTokenizer`: WordPiece with a vocabulary learned from a corpus.

keras-hub's `WordPieceTokenizer` (tensorflow-text's fast WordPiece) with the
zoo's conventions, and `learn_word_piece_vocabulary`, which learns its
vocabulary. `TextPreprocessor` (`keras_ctxmem.preprocessing.text`) holds one.

Example:
```python
from keras_ctxmem.preprocessing import TextTokenizer
tokenizer = TextTokenizer.from_corpus(
    ["a charming film", "a dull film", "charming and warm"],
    vocabulary_size=60,
    sequence_length=8,
)
token_ids = tokenizer(["a charming film"])  # int32, shape (1, 8), 0 = padding
```
"""

import os
import warnings

import keras
import keras_hub
import tensorflow as tf
from keras.src.saving import serialization_lib
from keras_hub.src.tokenizers.word_piece_tokenizer import pretokenize
from keras_hub.src.utils import preset_utils
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
VOCABULARY_FILE = "vocabulary.txt"
# Where presets saved before `tokenizer.json` keep the vocabulary.
LEGACY_ASSETS = "assets/preprocessor"


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class TextTokenizer(keras_hub.tokenizers.WordPieceTokenizer):
    """Strings to int32 WordPiece token ids, with a vocabulary learned from
    a corpus (`from_corpus`).

    keras-hub's `WordPieceTokenizer` with the zoo's conventions: `[PAD]` is id
    0 (what padding fills and the zoo's models mask), unknown pieces become
    `[UNK]`, the text is lower-cased and stripped of accents by default, and
    bytes that are not UTF-8 become U+FFFD instead of failing. It always runs
    TensorFlow ops, eager calls included (keras-hub's eager default is a Python
    tokenizer), so token ids are the same eagerly, in `tf.data` and in an
    exported SavedModel.

    `save_to_preset(directory)` writes keras-hub's layout (`tokenizer.json`,
    the vocabulary in `assets/tokenizer/vocabulary.txt`);
    `TextTokenizer.from_preset(directory)` loads the tokenizer of any zoo
    preset, and `keras_hub.tokenizers.Tokenizer.from_preset(directory)` that
    of a preset whose backbone is a keras-hub `Backbone` (keras-hub looks the
    tokenizer class up by the backbone class: `TransformerTokenizer`).

    Args:
        vocabulary: a list of tokens or a vocabulary file (one token a line);
            `[PAD]` must come first (id 0) and `[UNK]` must be present. `None`
            until set (`set_vocabulary`, `from_corpus`).
        sequence_length: pad with 0 and truncate to this length; `None` gives
            ragged token ids.
        lowercase: lower-case the text first.
        strip_accents: remove accents (é → e) first.
        **kwargs: other arguments of `keras_hub.tokenizers.WordPieceTokenizer`
            (`split`, `suffix_indicator`, ...) and of a layer.

    Works batched (`(batch,)` strings → `(batch, sequence_length)`) and
    unbatched (a scalar string → `(sequence_length,)`).

    Example:
    ```python
    from keras_ctxmem.preprocessing import TextTokenizer
    tokenizer = TextTokenizer.from_corpus(
        ["a charming film", "a dull film"], vocabulary_size=40, sequence_length=6
    )
    tokenizer.save_to_preset("/tmp/text_tokenizer")
    same = TextTokenizer.from_preset("/tmp/text_tokenizer")
    token_ids = same(["a dull film"])  # what `tokenizer` gives
    ```
    """

    def __init__(
        self,
        vocabulary=None,
        sequence_length=None,
        lowercase=True,
        strip_accents=True,
        **kwargs,
    ):
        super().__init__(
            vocabulary=vocabulary,
            sequence_length=sequence_length,
            lowercase=lowercase,
            strip_accents=strip_accents,
            # TensorFlow ops in eager calls too: the ids a SavedModel gives.
            _allow_python_workflow=False,
            **kwargs,
        )

    @classmethod
    def from_corpus(
        cls,
        corpus,
        vocabulary_size=8000,
        lowercase=True,
        strip_accents=True,
        **kwargs,
    ):
        """Learns a WordPiece vocabulary from texts, then builds the tokenizer.

        Args:
            corpus: a list of strings, a text file (one text per line), a list
                of such files, or a `tf.data.Dataset` of strings (batched or not).
            vocabulary_size: the number of tokens wanted, special tokens
                included; see `learn_word_piece_vocabulary`.
            lowercase, strip_accents: as for the constructor, and when learning.
            **kwargs: the other constructor arguments (`sequence_length`).
        """
        vocabulary = learn_word_piece_vocabulary(
            corpus,
            vocabulary_size=vocabulary_size,
            lowercase=lowercase,
            strip_accents=strip_accents,
        )
        return cls(
            vocabulary=vocabulary,
            lowercase=lowercase,
            strip_accents=strip_accents,
            **kwargs,
        )

    @classmethod
    def from_preset(cls, preset, config_file="tokenizer.json", **kwargs):
        """Loads the tokenizer saved in a preset (`tokenizer.json` and its
        vocabulary): a directory or a keras-hub handle (`"hf://owner/name"`).

        keras-hub's `Tokenizer.from_preset` first looks the class up by the
        preset's backbone class, which fails for zoo models that are not
        keras-hub backbones; this reads `tokenizer.json` whatever the model.
        """
        tokenizer = preset_loader(preset).load_tokenizer(cls, config_file, **kwargs)
        if not isinstance(tokenizer, TextTokenizer):
            raise ValueError(
                f"{config_file} in '{preset}' holds a "
                f"`{type(tokenizer).__name__}`, not a `TextTokenizer`."
            )
        return tokenizer

    def set_vocabulary(self, vocabulary):
        """Sets the vocabulary from a list of tokens or a file path."""
        if vocabulary is None:
            return super().set_vocabulary(None)
        # What a file holds is never shown: it may not be a vocabulary at all.
        shown = f"file {vocabulary}" if isinstance(vocabulary, str) else None
        if shown:
            if serialization_lib.in_safe_mode():
                # A configuration naming a file: refused, as keras-hub does.
                return super().set_vocabulary(vocabulary)
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = [line.rstrip("\n") for line in f]
        vocabulary = list(vocabulary)
        if not vocabulary or vocabulary[0] != "[PAD]":
            raise ValueError(
                "The vocabulary must start with '[PAD]' (token id 0 is padding). "
                f"Received a vocabulary {shown or f'starting with: {vocabulary[:3]}'}"
            )
        if self.oov_token not in vocabulary:
            raise ValueError(
                f"The vocabulary must contain the token '{self.oov_token}'."
            )
        super().set_vocabulary(vocabulary)

    def _check_vocabulary(self):
        if self.vocabulary is None:
            raise ValueError(
                f"This {type(self).__name__} has no vocabulary: pass "
                "`vocabulary=` or learn one with `from_corpus(texts)`."
            )

    def load_preset_assets(self, preset):
        """Loads the vocabulary of a preset: from `assets/tokenizer/`
        (keras-hub's layout), or `assets/preprocessor/` in a preset saved
        before `tokenizer.json` existed."""
        # keras-hub's folder for this tokenizer's config file, then the old one.
        folders = (
            f"{preset_utils.ASSET_DIR}/{self.config_file.split('.')[0]}",
            LEGACY_ASSETS,
        )
        paths = [f"{folder}/{VOCABULARY_FILE}" for folder in folders]
        for path in paths:
            if preset_utils.check_file_exists(preset, path):
                path = preset_utils.get_file(preset, path)
                return self.load_assets(os.path.dirname(path))
        raise FileNotFoundError(
            f"The preset '{preset}' has no vocabulary: neither {paths[0]} nor "
            f"{paths[1]}."
        )

    def tokenize(self, inputs):
        max_rank = 1 if self.split else None  # unsplit: words, ragged or not
        inputs = text_tensor(inputs, type(self).__name__, max_rank)
        # Invalid UTF-8 bytes become U+FFFD rather than failing the batch.
        return super().tokenize(
            tf.ragged.map_flat_values(
                tf.strings.unicode_transcode, inputs, "UTF-8", "UTF-8", errors="replace"
            )
        )


def preset_loader(preset):
    """keras-hub's loader for `preset`; a preset without `config.json` (a
    tokenizer or preprocessor saved alone) is read in keras-hub's own format,
    which keras-hub's `get_preset_loader` refuses for want of a model."""
    if preset_utils.check_file_exists(preset, preset_utils.CONFIG_FILE):
        return preset_utils.get_preset_loader(preset)
    return preset_utils.KerasPresetLoader(preset, config=None)


def text_tensor(inputs, owner, max_rank=1):
    """`inputs` as a `tf.string` tensor of rank at most `max_rank`; errors
    name `owner` and what it takes."""
    if not isinstance(inputs, (tf.Tensor, tf.RaggedTensor)):
        try:
            inputs = tf.convert_to_tensor(inputs)
        except (ValueError, TypeError) as error:
            raise TypeError(
                f"{owner} takes a string or a 1-D batch of strings. "
                f"Received: {type(inputs).__name__} ({error})"
            ) from None
    if inputs.dtype != tf.string:
        raise TypeError(
            f"{owner} takes strings (tf.string). Received dtype: {inputs.dtype.name}"
        )
    rank = inputs.shape.rank
    if max_rank is not None and rank is not None and rank > max_rank:
        raise ValueError(
            f"{owner} takes a string or a 1-D batch of strings. "
            f"Received shape: {inputs.shape}"
        )
    return inputs


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
    from keras_ctxmem.preprocessing.text_tokenizer import learn_word_piece_vocabulary
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
