import keras
import numpy as np
import pytest

from keras_ctxmem.preprocessing import TextPreprocessor
from keras_ctxmem.zoo import LSTMClassifier, LSTMMaskedLM
from tests.helpers import assert_allclose, assert_keras_file_round_trip

ANIMALS = ["cat", "dog", "fox", "owl", "bee", "eel"]
# The word after "the" always names the animal of the sentence's first word:
# a masked LM can only recover it from context.
CORPUS = [f"{a} says hello to the {a} again" for a in ANIMALS] * 40
TOKEN_IDS = np.array([[5, 9, 4, 7, 0, 0], [6, 4, 8, 0, 0, 0]], "int32")


@pytest.fixture(scope="module")
def preprocessor():
    return TextPreprocessor.from_corpus(CORPUS, vocabulary_size=40, sequence_length=12)


def tiny_masked_lm(preprocessor, **kwargs):
    return LSTMMaskedLM.from_preset("lstm_tiny", preprocessor=preprocessor, **kwargs)


def encoder_features(model, token_ids):
    """The last encoder layer's sequence, run through the model's own layers."""
    x = model.embedding(token_ids)
    mask = model.embedding.compute_mask(token_ids)
    for lstm in model.lstm_layers:
        x = lstm(x, mask=mask)
    return x


def test_outputs_tied_embedding_and_padding_invariance(preprocessor):
    model = tiny_masked_lm(preprocessor)
    vocabulary, width = preprocessor.vocabulary_size, model.embedding_dim
    positions = np.array([[1, 3], [0, 2]], "int32")
    logits = model.predict(
        {"token_ids": TOKEN_IDS, "mask_positions": positions}, verbose=0
    )
    assert logits.shape == (2, 2, vocabulary)
    assert logits.dtype == np.float32
    padded = np.pad(TOKEN_IDS, [(0, 0), (0, 9)])
    assert_allclose(
        model.predict({"token_ids": padded, "mask_positions": positions}, verbose=0),
        logits,
    )
    # Tied: the head adds a dense from the LSTM states to the embedding width,
    # a norm and an output bias, never a second vocabulary×width matrix.
    encoder = sum(layer.count_params() for layer in model.encoder_layers())
    head = (2 * model.hidden_dim + 1) * width + 2 * width + vocabulary
    assert model.count_params() == encoder + head


def test_learns_tokens_from_context_and_hands_on_its_encoder(preprocessor, tmp_path):
    keras.utils.set_random_seed(0)
    model = tiny_masked_lm(preprocessor, dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(CORPUS, epochs=10, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert history.history["accuracy"][-1] > 0.6

    model.save_to_preset(tmp_path / "pretrained")
    for pooling in ("max", "last"):
        classifier = LSTMClassifier.from_preset(
            str(tmp_path / "pretrained"), num_classes=3, pooling=pooling
        )
        assert classifier.preprocessor.vocabulary == preprocessor.vocabulary
        assert len(classifier.encoder_layers()) == len(model.encoder_layers())
        for loaded, trained in zip(
            classifier.encoder_layers(), model.encoder_layers(), strict=True
        ):
            for a, b in zip(loaded.get_weights(), trained.get_weights(), strict=True):
                np.testing.assert_array_equal(a, b)
        assert classifier.predict(CORPUS[:2], verbose=0).shape == (2, 3)
    # Same weights, same features: the classifier's encoder is the masked LM's.
    classifier = LSTMClassifier.from_encoder(model, num_classes=2, pooling="max")
    assert_allclose(
        encoder_features(classifier.backbone, TOKEN_IDS),
        encoder_features(model, TOKEN_IDS),
    )
    # The weights were copied: fine-tuning the classifier leaves the LM alone.
    before = model.embedding.get_weights()[0].copy()
    classifier.backbone.embedding.embeddings.assign(np.zeros_like(before))
    np.testing.assert_array_equal(model.embedding.get_weights()[0], before)


def test_two_layers_transfer_to_last_state_pooling(preprocessor):
    model = tiny_masked_lm(preprocessor, num_layers=2)
    classifier = LSTMClassifier.from_encoder(model, num_classes=2, pooling="last")
    # With pooling="last", the encoder's second LSTM gives the final states.
    assert classifier.encoder_layers()[-1] is classifier.backbone.lstm_layers[-1]
    for loaded, trained in zip(
        classifier.encoder_layers(), model.encoder_layers(), strict=True
    ):
        for a, b in zip(loaded.get_weights(), trained.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_keras_file_round_trip(preprocessor, tmp_path):
    model = tiny_masked_lm(preprocessor)
    inputs = {
        "token_ids": np.array([[5, 9, 4, 7]], "int32"),
        "mask_positions": np.array([[1, 2]], "int32"),
    }
    restored = assert_keras_file_round_trip(model, inputs, tmp_path)
    assert restored.mask_selection_rate == 0.15
    assert restored.preprocessor.vocabulary == preprocessor.vocabulary


def test_bad_arguments_are_named(preprocessor):
    model = tiny_masked_lm(preprocessor)
    with pytest.raises(ValueError, match="hidden_dim=16"):
        LSTMClassifier.from_encoder(model, num_classes=2, hidden_dim=32)
    with pytest.raises(ValueError, match="mask_token_rate"):
        tiny_masked_lm(preprocessor, mask_token_rate=0.8, random_token_rate=0.3)
    untrained = LSTMMaskedLM.from_preset("lstm_tiny", vocabulary_size=40)
    untrained.compile()
    with pytest.raises(ValueError, match="LSTMMaskedLM received strings"):
        untrained.fit(["a cat"], epochs=1, verbose=0)
