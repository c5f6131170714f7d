"""`WordTaggingPreprocessor`: sentences given as words to word, case and
character ids, for word-level taggers such as `LSTMTagger`.

Words are looked up lowercased, with digits read as 0 (`"1996"` → `"0000"`), so
the vocabulary pools their counts; the case the word had comes back as its own
feature (`case_ids`), and the characters (case kept) as `char_ids`. Both
vocabularies are learnt from the training sentences and saved as preset assets
(`words.txt`, `chars.txt`). Id 0 is padding, id 1 unknown.

Example:
```python
from keras_ctxmem.preprocessing.words import WordTaggingPreprocessor
pre = WordTaggingPreprocessor.from_sentences([["EU", "rejects", "German", "call"]])
batch = pre([["German", "call"], ["EU"]])
# batch["word_ids"] (2, 2), batch["case_ids"] (2, 2), batch["char_ids"] (2, 2, 20)
```
"""

import collections
import os
import re

import keras
import numpy as np

PADDING, UNKNOWN = "[PAD]", "[UNK]"
WORDS_FILE, CHARS_FILE = "words.txt", "chars.txt"
CASES = ("padding", "number", "has_digit", "lower", "upper", "title", "other")
"""`case_ids` values: padding 0, then the case classes `word_case` returns."""
_DIGITS = re.compile(r"\d")


def normalize_word(word):
    """The vocabulary key of a word: lowercased, each digit read as 0."""
    return _DIGITS.sub("0", word.lower())


def word_case(word):
    """The case class id of a word (an index into `CASES`, never 0)."""
    digits = sum(c.isdigit() for c in word)
    if digits and digits >= len(word) - 1 and word[0].isdigit():
        return 1
    if digits:
        return 2
    if word.islower():
        return 3
    if word.isupper():
        return 4
    if word[:1].isupper() and (len(word) == 1 or not word[1:].isupper()):
        return 5
    return 6


def _read_lines(path):
    with open(path, encoding="utf-8", newline="\n") as f:
        return [line.rstrip("\n") for line in f]


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class WordTaggingPreprocessor(keras.layers.Layer):
    """Sentences (lists of words) to padded `word_ids`, `case_ids`, `char_ids`.

    Args:
        vocabulary: the word vocabulary (normalized words, see
            `normalize_word`), `[PAD]` then `[UNK]` first; or a file.
        characters: the character vocabulary, `[PAD]` then `[UNK]` first; or a
            file.
        max_word_length: characters kept per word (the rest are cut; the word
            itself is kept).

    Calling it on a batch of sentences returns NumPy int32 arrays, padded to the
    longest sentence: `word_ids` and `case_ids` `(batch, words)` and `char_ids`
    `(batch, words, max_word_length)`. No word is ever cut off.
    """

    def __init__(self, vocabulary=None, characters=None, max_word_length=20, **kwargs):
        kwargs.pop("dtype", None)
        super().__init__(dtype="int32", **kwargs)
        if not isinstance(max_word_length, int) or max_word_length < 1:
            raise ValueError(
                "`max_word_length` must be a positive integer. "
                f"Received: {max_word_length}"
            )
        self.max_word_length = max_word_length
        self._words = self._chars = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, characters)
        self.built = True

    @classmethod
    def from_sentences(
        cls, sentences, vocabulary_size=None, min_count=1, max_word_length=20
    ):
        """Learns both vocabularies from training sentences (lists of words).

        Args:
            vocabulary_size: the most ids the word vocabulary has (padding and
                unknown included), keeping the most frequent words; `None`
                keeps every word seen `min_count` times.
            min_count: rarer words read as unknown.
        """
        words = collections.Counter(
            normalize_word(w) for sentence in sentences for w in sentence
        )
        chars = collections.Counter(c for s in sentences for w in s for c in w)
        kept = [w for w, n in words.most_common() if n >= min_count]
        if vocabulary_size is not None:
            kept = kept[: max(vocabulary_size - 2, 0)]
        return cls(
            vocabulary=[PADDING, UNKNOWN, *kept],
            characters=[PADDING, UNKNOWN, *sorted(chars)],
            max_word_length=max_word_length,
        )

    def set_vocabulary(self, vocabulary, characters):
        """Sets both vocabularies from lists of tokens or files."""
        vocabularies = []
        for name, tokens in (("vocabulary", vocabulary), ("characters", characters)):
            if isinstance(tokens, str):
                tokens = _read_lines(tokens)
            tokens = list(tokens or [])
            if tokens[:2] != [PADDING, UNKNOWN]:
                raise ValueError(
                    f"`{name}` must start with '{PADDING}', '{UNKNOWN}'. "
                    f"Received: {tokens[:2]}"
                )
            vocabularies.append(tokens)
        self._words, self._chars = vocabularies
        self._word_index = {w: i for i, w in enumerate(self._words)}
        self._char_index = {c: i for i, c in enumerate(self._chars)}

    @property
    def vocabulary(self):
        return self._words

    @property
    def characters(self):
        return self._chars

    @property
    def vocabulary_size(self):
        """Number of word ids, padding and unknown included."""
        self._check_vocabulary()
        return len(self._words)

    @property
    def char_vocabulary_size(self):
        self._check_vocabulary()
        return len(self._chars)

    def _check_vocabulary(self):
        if self._words is None:
            raise ValueError(
                "This WordTaggingPreprocessor has no vocabulary: build it with "
                "`WordTaggingPreprocessor.from_sentences(sentences)`."
            )

    def word_ids(self, words):
        """The word id of each word (1 for unknown words)."""
        return [self._word_index.get(normalize_word(w), 1) for w in words]

    def __call__(self, sentences):
        return self.call(sentences)

    def call(self, sentences):
        self._check_vocabulary()
        if isinstance(sentences, (str, bytes)) or any(
            isinstance(s, (str, bytes)) for s in sentences
        ):
            raise TypeError(
                "WordTaggingPreprocessor takes a batch of sentences, each a list "
                "of words, e.g. [['EU', 'rejects', 'German', 'call']]."
            )
        sentences = [
            [w.decode("utf-8") if isinstance(w, bytes) else str(w) for w in s]
            for s in sentences
        ]
        length = max([len(s) for s in sentences] + [1])
        word_ids = np.zeros((len(sentences), length), "int32")
        case_ids = np.zeros((len(sentences), length), "int32")
        char_ids = np.zeros((len(sentences), length, self.max_word_length), "int32")
        for row, words in enumerate(sentences):
            word_ids[row, : len(words)] = self.word_ids(words)
            for column, word in enumerate(words):
                case_ids[row, column] = word_case(word)
                chars = [self._char_index.get(c, 1) for c in word]
                chars = chars[: self.max_word_length] or [1]
                char_ids[row, column, : len(chars)] = chars
        return {"word_ids": word_ids, "case_ids": case_ids, "char_ids": char_ids}

    def save_assets(self, dir_path):
        self._check_vocabulary()
        for name, tokens in ((WORDS_FILE, self._words), (CHARS_FILE, self._chars)):
            with open(
                os.path.join(dir_path, name), "w", encoding="utf-8", newline="\n"
            ) as f:
                f.write("".join(f"{t}\n" for t in tokens))

    def load_assets(self, dir_path):
        self.set_vocabulary(
            os.path.join(dir_path, WORDS_FILE), os.path.join(dir_path, CHARS_FILE)
        )

    def get_config(self):
        config = super().get_config()
        config.pop("dtype", None)
        config["max_word_length"] = self.max_word_length
        return config
