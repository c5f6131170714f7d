"""Every zoo family trains under XLA when the last batch is partial.

When the number of examples is not a multiple of the batch size, Keras traces
the training step with an unknown batch size (XLA then compiles it for each
size it meets). A shape computed from that batch size where XLA needs a
constant fails only then, never with full batches. 6 examples in batches of 8
trace the same step as 40 in batches of 32, with one compilation instead of two.
"""

import numpy as np
import pytest

from keras_ctxmem import zoo

NUM_EXAMPLES, BATCH_SIZE, VOCABULARY_SIZE = 6, 8, 20


def token_ids(rng, length=10, shape=None):
    ids = rng.integers(1, VOCABULARY_SIZE, size=shape or (NUM_EXAMPLES, length))
    ids[..., -2:] = 0  # some padding
    return ids.astype("int32")


def classes(rng, num_classes=2, shape=(NUM_EXAMPLES,)):
    return rng.integers(0, num_classes, size=shape).astype("int32")


def classifier(cls, preset, **overrides):
    def build(rng):
        model = cls.from_preset(preset, vocabulary_size=VOCABULARY_SIZE, **overrides)
        return model, token_ids(rng, length=20), classes(rng)

    return build


def token_classifier(rng):
    model = zoo.TransformerTokenClassifier.from_preset(
        "transformer_tiny", vocabulary_size=VOCABULARY_SIZE, num_classes=3
    )
    x = token_ids(rng)
    return model, x, np.where(x > 0, x % 3, -1)


def memory_transformer(task):
    def build(rng):
        model = zoo.MemoryTransformer.from_preset(
            "memory_transformer_tiny",
            vocabulary_size=VOCABULARY_SIZE,
            segment_length=8,
            task=task,
        )
        x = token_ids(rng, length=20)  # three segments
        y = classes(rng) if task == "sequence" else np.where(x > 0, x % 2, -1)
        return model, x, y

    return build


def masked_lm(rng):
    model = zoo.TransformerMaskedLM.from_preset(
        "transformer_tiny", vocabulary_size=VOCABULARY_SIZE
    )
    x = {
        "token_ids": token_ids(rng),
        "mask_positions": classes(rng, 8, (NUM_EXAMPLES, 2)),
    }
    return model, x, classes(rng, VOCABULARY_SIZE, (NUM_EXAMPLES, 2))


def memory_network(rng):
    model = zoo.MemoryNetwork.from_preset(
        "memory_network_tiny", vocabulary_size=VOCABULARY_SIZE, max_memories=6
    )
    x = {
        "story": token_ids(rng, shape=(NUM_EXAMPLES, 6, 5)),
        "question": token_ids(rng, length=4),
    }
    return model, x, classes(rng, VOCABULARY_SIZE)


def multimodal(rng):
    model = zoo.MultimodalFusionClassifier.from_preset(
        "multimodal_tiny", vocabulary_size=VOCABULARY_SIZE, image_shape=(16, 16, 3)
    )
    image = rng.uniform(size=(NUM_EXAMPLES, 16, 16, 3)).astype("float32")
    return model, {"token_ids": token_ids(rng), "image": image}, classes(rng)


def seq2seq(architecture):
    def build(rng):
        model = zoo.Seq2Seq.from_preset(
            f"seq2seq_{architecture}_tiny",
            source_vocabulary_size=VOCABULARY_SIZE,
            target_vocabulary_size=VOCABULARY_SIZE,
        )
        targets = token_ids(rng, length=7)
        x = {"encoder_token_ids": token_ids(rng), "decoder_token_ids": targets}
        return model, x, targets

    return build


FAMILIES = {
    "transformer": classifier(zoo.TransformerClassifier, "transformer_tiny"),
    "transformer_token": token_classifier,
    "transformer_masked_lm": masked_lm,
    "lstm": classifier(zoo.LSTMClassifier, "lstm_tiny"),
    "attentive_lstm": classifier(zoo.AttentiveLSTMClassifier, "attentive_lstm_tiny"),
    "memory_transformer_token": memory_transformer("token"),
    "memory_transformer_sequence": memory_transformer("sequence"),
    "memory_network": memory_network,
    "multimodal": multimodal,
    "seq2seq_lstm": seq2seq("lstm"),
    "seq2seq_transformer": seq2seq("transformer"),
}


# XLA compiles a training step in 10-30 s of a loaded CPU: the default run keeps
# the family that failed (MemoryTransformer, its loop over the segments); `-m slow`
# runs them all.
CAUGHT = {"memory_transformer_token", "memory_transformer_sequence"}


@pytest.mark.parametrize(
    "family",
    [
        family if family in CAUGHT else pytest.param(family, marks=pytest.mark.slow)
        for family in sorted(FAMILIES)
    ],
)
def test_one_epoch_under_xla_with_a_partial_last_batch(family):
    model, x, y = FAMILIES[family](np.random.default_rng(0))
    model.compile(jit_compile=True)
    history = model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
