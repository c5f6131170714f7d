"""`TextPreprocessor`: raw strings to padded WordPiece token ids, in the TF graph.

A keras-hub `Preprocessor` around a `TextTokenizer` (keras-hub's
`WordPieceTokenizer`, tensorflow-text's fast WordPiece, with a vocabulary
learned from a corpus), so it runs inside `tf.data` and inside an exported
SavedModel. Token id 0 is `[PAD]`, which is what the zoo's models mask.

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

import keras
import keras_hub
import tensorflow as tf
from keras_hub.src.utils import preset_utils

from keras_ctxmem.preprocessing.text_tokenizer import (
    TextTokenizer,
    preset_loader,
    text_tensor,
)


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class TextPreprocessor(keras_hub.models.Preprocessor):
    """Normalises, splits into WordPieces, truncates and right-pads to a length.

    A `keras_hub.models.Preprocessor` holding a `TextTokenizer`
    (`preprocessor.tokenizer`). Unlike keras-hub's task preprocessors, whose
    `call(x, y=None, sample_weight=None)` returns `x` as a dict of packed
    inputs (`token_ids`, `padding_mask`, ...) with the labels, this takes
    strings only and returns the token ids only: the zoo's models take
    `token_ids` and derive the padding mask from id 0, and their `fit`,
    `evaluate` and `predict` run it over the text themselves. No `[CLS]` or
    `[SEP]` is added.

    Args:
        vocabulary: a list of tokens or a vocabulary file; `[PAD]` must come first
            (id 0) and `[UNK]` must be present. `None` until set from a corpus.
        sequence_length: output length; longer texts are truncated.
        lowercase: lower-case the text first (default `True`, or the
            `tokenizer`'s).
        strip_accents: remove accents (é → e) first (default `True`, or the
            `tokenizer`'s).
        tokenizer: a `TextTokenizer` to use instead of building one from the
            arguments above; its `sequence_length` becomes this one's.

    Works batched (`(batch,)` strings → `(batch, sequence_length)`) and unbatched
    (a scalar string → `(sequence_length,)`), also inside `tf.data.Dataset.map`.

    `save_to_preset(directory)` writes keras-hub's layout (`preprocessor.json`,
    `tokenizer.json`, the vocabulary in `assets/tokenizer/`), as the zoo's
    models do; `TextPreprocessor.from_preset(directory)` loads it from any zoo
    preset with a vocabulary (also ones saved before `preprocessor.json`).

    Example:
    ```python
    from keras_ctxmem.preprocessing import TextPreprocessor
    pre = TextPreprocessor.from_corpus(["a charming film", "a dull film"], 40, 6)
    pre.save_to_preset("/tmp/text_preprocessor")
    same = TextPreprocessor.from_preset("/tmp/text_preprocessor")
    token_ids = same(["a dull film"])  # what `pre` gives
    ```
    """

    tokenizer_cls = TextTokenizer

    def __init__(
        self,
        vocabulary=None,
        sequence_length=128,
        lowercase=None,
        strip_accents=None,
        tokenizer=None,
        **kwargs,
    ):
        kwargs.pop("dtype", None)  # Always int32 token ids.
        super().__init__(dtype="int32", **kwargs)
        if tokenizer is None:
            tokenizer = TextTokenizer(
                lowercase=True if lowercase is None else lowercase,
                strip_accents=True if strip_accents is None else strip_accents,
                name="tokenizer",
            )
        elif not isinstance(tokenizer, TextTokenizer):
            raise TypeError(
                "`tokenizer` must be a `TextTokenizer` (its id 0 is `[PAD]`, "
                f"which the zoo's models mask). Received: {type(tokenizer).__name__}"
            )
        else:
            given = {"lowercase": lowercase, "strip_accents": strip_accents}
            for name, value in given.items():
                if value is not None and value != getattr(tokenizer, name):
                    raise ValueError(
                        f"`{name}={value}` differs from the tokenizer's "
                        f"({getattr(tokenizer, name)}): pass one of them."
                    )
            if vocabulary is not None:
                raise ValueError(
                    "Pass `vocabulary` or `tokenizer`, not both: the tokenizer "
                    "holds the vocabulary."
                )
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)
        self.built = True  # No weights; the vocabulary is an asset.

    @property
    def sequence_length(self):
        """The output length; the tokenizer pads and truncates to it."""
        return self._sequence_length

    @sequence_length.setter
    def sequence_length(self, value):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"`sequence_length` must be a positive integer. Received: {value}"
            )
        self._sequence_length = value
        self.tokenizer.sequence_length = value

    @property
    def lowercase(self):
        return self.tokenizer.lowercase

    @property
    def strip_accents(self):
        return self.tokenizer.strip_accents

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
        tokenizer = TextTokenizer.from_corpus(
            corpus,
            vocabulary_size=vocabulary_size,
            lowercase=lowercase,
            strip_accents=strip_accents,
            name="tokenizer",
        )
        return cls(sequence_length=sequence_length, tokenizer=tokenizer, **kwargs)

    @classmethod
    def from_preset(cls, preset, config_file="preprocessor.json", **kwargs):
        """Loads the preprocessor saved in a preset (a directory or a keras-hub
        handle): from `preprocessor.json`, else from the model configuration of
        a preset saved before it (`task.json` or `config.json`).

        keras-hub's `Preprocessor.from_preset` looks the class up by the
        preset's backbone class first, which only keras-hub backbones have.
        Keyword arguments override the saved configuration.
        """
        if preset_utils.check_file_exists(preset, config_file):
            loader = preset_loader(preset)
            preprocessor = loader.load_preprocessor(cls, config_file, **kwargs)
        else:
            has_task = preset_utils.check_file_exists(preset, "task.json")
            model = preset_utils.load_json(
                preset, "task.json" if has_task else "config.json"
            )
            saved = model["config"].get("preprocessor")
            if not isinstance(saved, dict):
                raise ValueError(f"The preset '{preset}' has no preprocessor.")
            saved["config"] = {**saved["config"], **kwargs}
            preprocessor = keras.saving.deserialize_keras_object(saved)
            preprocessor.load_preset_assets(preset)
        if not isinstance(preprocessor, cls):
            raise ValueError(
                f"The preset '{preset}' holds a `{type(preprocessor).__name__}`, "
                f"not a `{cls.__name__}`."
            )
        return preprocessor

    @classmethod
    def _add_missing_kwargs(cls, loader, kwargs):
        # Built around a preset's `tokenizer.json` alone: its length too.
        kwargs = super()._add_missing_kwargs(loader, kwargs)
        if kwargs["tokenizer"].sequence_length is not None:
            kwargs.setdefault("sequence_length", kwargs["tokenizer"].sequence_length)
        return kwargs

    def set_vocabulary(self, vocabulary):
        """Sets the vocabulary from a list of tokens or a file path."""
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

    def __call__(self, *args, **kwargs):
        outputs = super().__call__(*args, **kwargs)
        # Called eagerly, it gives NumPy ids (writable), as it did before it
        # became a keras-hub `Preprocessor`; in a graph, tensors.
        if tf.executing_eagerly() and isinstance(outputs, tf.Tensor):
            return outputs.numpy()
        return outputs

    def call(self, inputs):
        self._check_vocabulary()
        return self.tokenizer(text_tensor(inputs, "TextPreprocessor"))

    def compute_output_spec(self, inputs):
        return keras.KerasTensor((*inputs.shape, self.sequence_length), dtype="int32")

    def save_assets(self, dir_path):
        self.tokenizer.save_assets(dir_path)

    def load_assets(self, dir_path):
        self.tokenizer.load_assets(dir_path)

    def get_config(self):
        config = super().get_config()
        config.pop("dtype", None)
        config["sequence_length"] = self.sequence_length
        return config
