import os

import keras
import numpy as np
import pytest

from keras_ctxmem.preprocessing import TextPreprocessor
from keras_ctxmem.training import default_callbacks
from keras_ctxmem.zoo import (
    TransformerBackbone,
    TransformerClassifier,
    TransformerMaskedLM,
    TransformerTokenClassifier,
)
from keras_ctxmem.zoo.masked_lm import masked_lm_dataset
from tests.helpers import assert_allclose, assert_keras_file_round_trip

ANIMALS = ["cat", "dog", "fox", "owl", "bee", "eel"]
# The word after "the" always names the animal of the sentence's first word:
# a masked-LM can only recover it from context.
CORPUS = [f"{a} says hello to the {a} again" for a in ANIMALS] * 40


@pytest.fixture(scope="module")
def preprocessor():
    return TextPreprocessor.from_corpus(CORPUS, vocabulary_size=40, sequence_length=12)


def tiny_masked_lm(preprocessor, **kwargs):
    return TransformerMaskedLM.from_preset(
        "transformer_tiny", preprocessor=preprocessor, max_sequence_length=16, **kwargs
    )


def test_masking_follows_the_80_10_10_rule(preprocessor):
    texts = [" ".join(np.random.default_rng(i).choice(ANIMALS, 12)) for i in range(400)]
    dataset = masked_lm_dataset(texts, preprocessor, batch_size=400, shuffle=False)
    inputs, mask_ids, weights = next(iter(dataset))
    original = np.asarray(preprocessor(texts))
    positions = inputs["mask_positions"].numpy()
    weights = weights.numpy().astype(bool)
    rows = np.arange(len(texts))[:, None].repeat(positions.shape[1], 1)
    # The labels are the original tokens at the selected positions.
    np.testing.assert_array_equal(
        mask_ids.numpy()[weights], original[rows, positions][weights]
    )
    mask_id = preprocessor.vocabulary.index("[MASK]")
    masked = inputs["token_ids"].numpy()[rows, positions][weights]
    share_masked = np.mean(masked == mask_id)
    share_kept = np.mean(masked == mask_ids.numpy()[weights])
    assert 0.75 < share_masked < 0.85
    assert 0.06 < share_kept < 0.14
    assert 0.12 < weights.sum() / (original != 0).sum() < 0.18
    unselected = np.ones_like(original, bool)
    unselected[rows[weights], positions[weights]] = False
    np.testing.assert_array_equal(
        inputs["token_ids"].numpy()[unselected], original[unselected]
    )


def test_outputs_tied_embeddings_and_padding_invariance(preprocessor):
    model = tiny_masked_lm(preprocessor, dropout=0.0)
    vocabulary, hidden = preprocessor.vocabulary_size, model.backbone.hidden_dim
    token_ids = np.array([[5, 9, 4, 7, 0, 0], [6, 4, 8, 0, 0, 0]], "int32")
    positions = np.array([[1, 3], [0, 2]], "int32")
    logits = model.predict(
        {"token_ids": token_ids, "mask_positions": positions}, verbose=0
    )
    assert logits.shape == (2, 2, vocabulary)
    assert logits.dtype == np.float32
    padded = np.pad(token_ids, [(0, 0), (0, 8)])
    assert_allclose(
        model.predict({"token_ids": padded, "mask_positions": positions}, verbose=0),
        logits,
    )
    # Tied: the head adds a hidden×hidden dense, a norm and an output bias,
    # never a second vocabulary×hidden matrix.
    head_params = model.count_params() - model.backbone.count_params()
    assert head_params == hidden * hidden + hidden + 2 * hidden + vocabulary


def test_learns_tokens_from_context_and_hands_on_its_backbone(preprocessor, tmp_path):
    model = tiny_masked_lm(preprocessor)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(CORPUS, epochs=12, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert history.history["accuracy"][-1] > 0.6

    model.save_backbone_to_preset(tmp_path / "pretrained")
    for task in (TransformerClassifier, TransformerTokenClassifier):
        fine_tuned = task.from_preset(str(tmp_path / "pretrained"), num_classes=3)
        for loaded, trained in zip(
            fine_tuned.backbone.weights, model.backbone.weights, strict=True
        ):
            np.testing.assert_array_equal(loaded.numpy(), trained.numpy())
        assert fine_tuned.preprocessor.vocabulary == preprocessor.vocabulary
        assert fine_tuned.predict(CORPUS[:2], verbose=0).shape[0] == 2
    # The pre-trained backbone can also carry on pre-training.
    again = TransformerMaskedLM.from_preset(str(tmp_path / "pretrained"))
    assert again.preprocessor.vocabulary == preprocessor.vocabulary


def test_keras_file_round_trip(preprocessor, tmp_path):
    model = tiny_masked_lm(preprocessor)
    inputs = {
        "token_ids": np.array([[5, 9, 4, 7]], "int32"),
        "mask_positions": np.array([[1, 2]], "int32"),
    }
    restored = assert_keras_file_round_trip(model, inputs, tmp_path)
    assert restored.mask_selection_rate == 0.15
    assert restored.preprocessor.vocabulary == preprocessor.vocabulary


def test_pre_training_resumes_after_a_crash(preprocessor, tmp_path):
    class Crash(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.model.optimizer.iterations.numpy() == 10:
                raise KeyboardInterrupt

    def run(extra_callbacks):
        keras.utils.set_random_seed(0)
        model = tiny_masked_lm(preprocessor)
        model.compile()
        callbacks = default_callbacks(backup_dir=str(tmp_path / "backup"))
        model.fit(
            CORPUS[:64],
            epochs=3,
            batch_size=16,
            verbose=0,
            callbacks=callbacks + extra_callbacks,
        )
        return model

    with pytest.raises(KeyboardInterrupt):
        run([Crash()])
    assert os.listdir(tmp_path / "backup")
    resumed = run([])
    assert int(resumed.optimizer.iterations.numpy()) == 3 * 4


def test_bad_inputs_are_named(preprocessor, tmp_path):
    no_mask = TextPreprocessor(["[PAD]", "[UNK]", "cat"], sequence_length=4)
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        masked_lm_dataset(["cat"], no_mask)
    model = TransformerMaskedLM.from_preset("transformer_tiny", vocabulary_size=40)
    model.compile()
    with pytest.raises(ValueError, match="no preprocessor"):
        model.fit(["a cat"], epochs=1, verbose=0)
    with pytest.raises(ValueError, match="mask_token_rate"):
        tiny_masked_lm(preprocessor, mask_token_rate=0.8, random_token_rate=0.3)
    backbone = TransformerBackbone.from_preset("transformer_tiny", vocabulary_size=40)
    backbone.save_to_preset(tmp_path / "backbone")
    other = TextPreprocessor.from_corpus(["x y z"] * 3, vocabulary_size=20)
    with pytest.raises(ValueError, match="token ids"):
        TransformerClassifier.from_preset(
            str(tmp_path / "backbone"), preprocessor=other
        )
