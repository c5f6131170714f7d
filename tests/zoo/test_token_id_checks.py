"""Bad token ids get an error that names the problem, before Keras sees them."""

import numpy as np
import pytest
import tensorflow as tf

from keras_ctxmem.zoo import (
    LSTMClassifier,
    MemoryNetwork,
    Seq2Seq,
    TransformerClassifier,
)

IDS = np.array([[5, 9, 3, 0], [7, 1, 0, 0]], "int32")
LABELS = np.array([0, 1])


@pytest.fixture(scope="module")
def transformer():
    model = TransformerClassifier.from_preset("transformer_tiny", num_classes=2)
    model.compile(jit_compile=False)
    return model


@pytest.mark.parametrize("entry", ["call", "predict", "fit", "evaluate"])
def test_float_ids_are_refused_everywhere(transformer, entry):
    floats = IDS.astype("float32") + 0.5  # Embedding would truncate these silently
    run = {
        "call": lambda: transformer(floats),
        "predict": lambda: transformer.predict(floats, verbose=0),
        "fit": lambda: transformer.fit(floats, LABELS, verbose=0),
        "evaluate": lambda: transformer.evaluate(floats, LABELS, verbose=0),
    }[entry]
    with pytest.raises(
        TypeError, match="`token_ids` must hold integer token ids.*float32"
    ):
        run()


def test_rank_length_and_range_are_named(transformer):
    with pytest.raises(ValueError, match=r"2 dimensions .* shape \(2, 4, 1\)"):
        transformer.predict(IDS[..., None], verbose=0)
    too_long = np.ones((1, transformer.backbone.max_sequence_length + 1), "int32")
    with pytest.raises(
        ValueError, match="129 tokens.*at most 128.*max_sequence_length"
    ):
        transformer.predict(too_long, verbose=0)
    with pytest.raises(ValueError, match="token id 1000.*1000 ids"):
        transformer.predict(np.array([[4, 1000]]), verbose=0)
    with pytest.raises(ValueError, match="negative token id -1"):
        transformer(tf.constant([[4, -1]]))


def test_datasets_are_checked_by_their_spec(transformer):
    floats = tf.data.Dataset.from_tensor_slices((IDS.astype("float32"), LABELS))
    with pytest.raises(TypeError, match="float32"):
        transformer.fit(floats.batch(2), verbose=0)
    history = transformer.fit(
        tf.data.Dataset.from_tensor_slices((IDS, LABELS)).batch(2), verbose=0
    )
    assert np.isfinite(history.history["loss"][0])


def test_models_without_a_length_limit_take_long_sequences():
    model = LSTMClassifier.from_preset("lstm_tiny", num_classes=2)
    assert model.predict(np.ones((1, 600), "int32"), verbose=0).shape == (1, 2)


def test_dict_inputs_are_checked_per_input():
    memory_network = MemoryNetwork.from_preset(
        "memory_network_tiny", vocabulary_size=30
    )
    story, question = np.ones((1, 3, 4), "int32"), np.ones((1, 4), "int32")
    assert memory_network.predict(
        {"story": story, "question": question}, verbose=0
    ).shape == (1, 30)
    with pytest.raises(ValueError, match="`story` holds the token id 30"):
        memory_network.predict({"story": story * 30, "question": question}, verbose=0)
    seq2seq = Seq2Seq.from_preset(
        "seq2seq_lstm_tiny", source_vocabulary_size=21, target_vocabulary_size=9
    )
    with pytest.raises(ValueError, match="`decoder_token_ids` .* 9 ids"):
        seq2seq.predict(
            {"encoder_token_ids": IDS, "decoder_token_ids": IDS + 5}, verbose=0
        )
