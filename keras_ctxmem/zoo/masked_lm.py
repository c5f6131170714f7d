"""`TransformerMaskedLM`: masked-language-model pre-training of a `TransformerBackbone`.

BERT's recipe: 15% of the tokens are selected; of those, 80% become `[MASK]`,
10% a random token and 10% stay as they are; the model predicts the original
tokens through an output layer tied to the input embedding. Masking is
keras-hub's `MaskedLMMaskGenerator`, run in `tf.data`, so every epoch sees
fresh masks.

Example:
```python
from keras_ctxmem.preprocessing import TextPreprocessor
from keras_ctxmem.zoo import TransformerClassifier, TransformerMaskedLM, create_model
texts = ["a charming film", "a dull film", "charming and warm"] * 20
pre = TextPreprocessor.from_corpus(texts, vocabulary_size=60, sequence_length=8)
masked_lm = create_model(
    "transformer_tiny", model_class=TransformerMaskedLM, preprocessor=pre
)
masked_lm.compile()
masked_lm.fit(texts, epochs=2, batch_size=16, verbose=0)
masked_lm.save_backbone_to_preset("/tmp/pretrained")
classifier = TransformerClassifier.from_preset("/tmp/pretrained", num_classes=2)
```
"""

import math

import keras
import keras_hub
import tensorflow as tf

from keras_ctxmem.preprocessing.string_inputs import contains_strings
from keras_ctxmem.preprocessing.text_tokenizer import text_dataset
from keras_ctxmem.zoo.transformer import TransformerBackbone, TransformerTask
from keras_ctxmem.zoo.zoo_model import check_rate

MASK_TOKEN = "[MASK]"
UNMASKABLE_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]")


def check_mask_rates(mask_selection_rate, mask_token_rate, random_token_rate):
    """Raises a ValueError unless the three rates make a BERT masking recipe."""
    for name, rate in (
        ("mask_selection_rate", mask_selection_rate),
        ("mask_token_rate", mask_token_rate),
        ("random_token_rate", random_token_rate),
    ):
        check_rate(name, rate)
    if mask_token_rate + random_token_rate > 1:
        raise ValueError(
            "`mask_token_rate + random_token_rate` must be at most 1. "
            f"Received: {mask_token_rate} + {random_token_rate}"
        )


class MaskedLMTask:
    """What the masked LMs share (mixed into a `ZooModel`): the loss and
    metric over the real masks, and `fit` / `evaluate` on raw strings, masked
    afresh every epoch. Needs the `mask_*_rate` attributes and a `preprocessor`.
    """

    def default_loss(self):
        # Averaged over the real masks: padding slots of `mask_positions` have
        # sample weight 0 and must not dilute the loss.
        return keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"
        )

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """`ZooModel.compile`, with accuracy as a weighted metric so that the
        padding slots of `mask_positions` are not counted."""
        if metrics == "auto":
            kwargs.setdefault(
                "weighted_metrics",
                [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            )
            metrics = None
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    # === Raw strings in ===

    def masked_lm_dataset(self, texts, batch_size=32, shuffle=True, seed=None):
        """Strings to masked `(inputs, mask_ids, mask_weights)` batches."""
        if self.preprocessor is None:
            raise ValueError(
                f"{type(self).__name__} received strings but has no preprocessor: "
                "build it with `preprocessor=TextPreprocessor(...)`."
            )
        return masked_lm_dataset(
            texts,
            self.preprocessor,
            batch_size=batch_size,
            mask_selection_rate=self.mask_selection_rate,
            mask_token_rate=self.mask_token_rate,
            random_token_rate=self.random_token_rate,
            shuffle=shuffle,
            seed=seed,
        )

    def fit(self, x=None, y=None, batch_size=None, validation_data=None, **kwargs):
        if contains_strings(x):
            x = self.masked_lm_dataset(
                x, batch_size or 32, shuffle=kwargs.pop("shuffle", True)
            )
            batch_size = None
            kwargs["shuffle"] = False  # The dataset shuffles itself.
        if validation_data is not None and contains_strings(validation_data):
            validation_data = self.masked_lm_dataset(
                validation_data, batch_size or 32, shuffle=False
            )
        return super().fit(
            x, y, batch_size=batch_size, validation_data=validation_data, **kwargs
        )

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        if contains_strings(x):
            x = self.masked_lm_dataset(x, batch_size or 32, shuffle=False)
            batch_size = None
        return super().evaluate(x, y, batch_size=batch_size, **kwargs)


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class TransformerMaskedLM(MaskedLMTask, TransformerTask):
    """Predicts masked tokens from a `TransformerBackbone`; the output layer
    shares the token embedding's weights.

    Inputs are a dict: `token_ids` `(batch, time)` (already masked; 0 = padding)
    and `mask_positions` `(batch, num_masked)`; the output is float32 logits
    `(batch, num_masked, vocabulary_size)`. With a `preprocessor`, `fit` and
    `evaluate` take raw strings and mask them (see `masked_lm_dataset`).

    Args:
        backbone: a `TransformerBackbone`.
        mask_selection_rate: share of the tokens selected for prediction.
        mask_token_rate: share of the selected tokens replaced by `[MASK]`.
        random_token_rate: share replaced by a random token (the rest are kept).
    """

    def __init__(
        self,
        backbone,
        mask_selection_rate=0.15,
        mask_token_rate=0.8,
        random_token_rate=0.1,
        dtype=None,
        **kwargs,
    ):
        check_mask_rates(mask_selection_rate, mask_token_rate, random_token_rate)
        # === Layers ===
        self.backbone = backbone
        self.masked_lm_head = keras_hub.layers.MaskedLMHead(
            token_embedding=backbone.embedding.token_embedding,
            intermediate_activation="gelu",
            dtype=dtype,
            name="masked_lm_head",
        )
        self.float32_logits = keras.layers.Activation(
            "linear", dtype="float32", name="logits"
        )

        # === Functional Model ===
        inputs = {
            "token_ids": keras.Input(shape=(None,), dtype="int32", name="token_ids"),
            "mask_positions": keras.Input(
                shape=(None,), dtype="int32", name="mask_positions"
            ),
        }
        sequence = backbone(inputs["token_ids"])
        logits = self.masked_lm_head(sequence, mask_positions=inputs["mask_positions"])
        outputs = self.float32_logits(logits)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.mask_selection_rate = mask_selection_rate
        self.mask_token_rate = mask_token_rate
        self.random_token_rate = random_token_rate

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mask_selection_rate": self.mask_selection_rate,
                "mask_token_rate": self.mask_token_rate,
                "random_token_rate": self.random_token_rate,
            }
        )
        return config

    # === Handing the backbone on ===

    def save_backbone_to_preset(self, directory):
        """Saves the pre-trained backbone with this model's preprocessor, as a
        preset any Transformer task loads (`TransformerClassifier.from_preset`)."""
        backbone = TransformerBackbone.from_config(
            {**self.backbone.get_config(), "preprocessor": self.preprocessor}
        )
        backbone.set_weights(self.backbone.get_weights())
        backbone.save_to_preset(directory)


def masked_lm_dataset(
    texts,
    preprocessor,
    batch_size=32,
    mask_selection_rate=0.15,
    mask_token_rate=0.8,
    random_token_rate=0.1,
    shuffle=True,
    seed=None,
):
    """A `tf.data` pipeline of masked-LM batches from raw text.

    Args:
        texts: a list of strings, a text file (one text per line), a list of
            files, or a `tf.data.Dataset` of strings.
        preprocessor: a `TextPreprocessor` whose vocabulary has `[MASK]`.

    Returns:
        A dataset of `({"token_ids", "mask_positions"}, mask_ids, mask_weights)`;
        padding slots of `mask_positions` have weight 0.

    Example:
    ```python
    from keras_ctxmem.preprocessing import TextPreprocessor
    from keras_ctxmem.zoo.masked_lm import masked_lm_dataset
    texts = ["a charming film", "a dull film"]
    pre = TextPreprocessor.from_corpus(texts, vocabulary_size=40, sequence_length=8)
    inputs, mask_ids, mask_weights = next(iter(masked_lm_dataset(texts, pre)))
    ```
    """
    masker = mask_generator(
        preprocessor, mask_selection_rate, mask_token_rate, random_token_rate
    )

    def mask(batch):
        masked = masker(preprocessor(batch))
        inputs = {
            "token_ids": masked["token_ids"],
            "mask_positions": masked["mask_positions"],
        }
        return inputs, masked["mask_ids"], masked["mask_weights"]

    dataset = text_dataset(texts)
    if shuffle:
        dataset = dataset.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
    return (
        dataset.batch(batch_size)
        .map(mask, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def mask_generator(
    preprocessor, mask_selection_rate=0.15, mask_token_rate=0.8, random_token_rate=0.1
):
    """keras-hub's `MaskedLMMaskGenerator` for a preprocessor's vocabulary.

    Up to `ceil(sequence_length * mask_selection_rate)` positions are selected
    per sequence; the special tokens are never selected.
    """
    vocabulary = preprocessor.vocabulary
    if vocabulary is None or MASK_TOKEN not in vocabulary:
        raise ValueError(
            f"Masked-LM pre-training needs a '{MASK_TOKEN}' token in the "
            "preprocessor's vocabulary (`TextPreprocessor.from_corpus` adds it)."
        )
    token_index = {token: i for i, token in enumerate(vocabulary)}
    return keras_hub.layers.MaskedLMMaskGenerator(
        vocabulary_size=len(vocabulary),
        mask_selection_rate=mask_selection_rate,
        mask_token_id=token_index[MASK_TOKEN],
        mask_selection_length=max(
            1, math.ceil(preprocessor.sequence_length * mask_selection_rate)
        ),
        unselectable_token_ids=[
            token_index[t] for t in UNMASKABLE_TOKENS if t in token_index
        ],
        mask_token_rate=mask_token_rate,
        random_token_rate=random_token_rate,
    )
