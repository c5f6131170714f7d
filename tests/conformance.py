"""One conformance run per zoo model, modelled on keras-hub's `run_backbone_test`
/ `run_task_test` / `run_preset_test` (`keras_hub/src/tests/test_case.py`).

A `FamilyCase` says how to build a tiny model of one zoo class and how to make
its inputs and labels; `run_family_test(case, directory)` then checks, each
with a message naming the case and the check:

- `variable_lengths`: the same model predicts at two sequence lengths, with
  the expected shapes and finite values;
- `padding`: right-padding every sequence axis leaves the outputs at the real
  positions unchanged (atol 1e-5);
- `preset`: `save_to_preset`, then `keras_ctxmem.zoo.load_preset` gives the same
  class and outputs; a keras-hub `Backbone` or `Task` also loads through
  keras-hub's own `Backbone.from_preset` (and `TextClassifier.from_preset` for a
  `TextClassifier`) with equal outputs;
- `mixed_precision`: built under `mixed_bfloat16` it predicts finite float32;
- `xla`: `compile(jit_compile=True)`, then one epoch of 6 examples in batches
  of 8 (a partial last batch: Keras traces the step with an unknown batch
  size, where a shape XLA needs constant fails) has a finite loss and changes
  the weights.

Every check runs on whatever backend Keras has: `tests/zoo/test_conformance.py`
also runs the cases in one `KERAS_BACKEND=jax` subprocess. Outputs come from
eager calls (as in keras-hub's runner), but under mixed precision (`predict`).
"""

import dataclasses
import os
from collections.abc import Callable

import keras
import keras_hub
import numpy as np

from keras_ctxmem import zoo
from keras_ctxmem.zoo import create_model

VOCABULARY_SIZE = 20
NUM_EXAMPLES, BATCH_SIZE = 6, 8
PADDING = 13  # extra positions the padding check appends
CHECKS = ("variable_lengths", "padding", "preset", "mixed_precision", "xla")


@dataclasses.dataclass
class FamilyCase:
    """How to run the conformance checks on one zoo class.

    Args:
        name: the case's name (test id).
        model_class: the class `build` returns.
        build: returns a tiny model, built under the current dtype policy.
        inputs: `inputs(length)` gives a batch of `NUM_EXAMPLES` rows of
            `length` positions, the last ones of some rows padding.
        labels: `labels(inputs)` gives labels for `fit`.
        output_shape: `output_shape(length)` is the expected output shape.
        pad: `pad(inputs, extra)` right-pads every sequence axis by `extra`.
        real: `real(outputs, inputs)` keeps the outputs at real positions.
        lengths: the two lengths of the variable-length check.
        no_padding: why the padding check is meaningless here (skips it).
        no_fit: why the XLA fit is meaningless here (skips it).
        mixed_output_dtype: the outputs' dtype under `mixed_bfloat16`.
    """

    name: str
    model_class: type
    build: Callable
    inputs: Callable
    labels: Callable
    output_shape: Callable
    pad: Callable
    real: Callable = lambda outputs, inputs: outputs
    lengths: tuple = (10, 14)
    no_padding: str | None = None
    no_fit: str | None = None
    mixed_output_dtype: str = "float32"

    @property
    def family(self):
        return self.model_class.preset_family


# === Inputs ===


def token_ids(length, shape=None, seed=0):
    """Ids in [2, VOCABULARY_SIZE); row i ends in i % 3 padding zeros."""
    rng = np.random.default_rng(seed + length)
    ids = rng.integers(2, VOCABULARY_SIZE, size=shape or (NUM_EXAMPLES, length))
    for row in range(NUM_EXAMPLES):
        if row % 3:
            ids[row, ..., -(row % 3) :] = 0
    return ids.astype("int32")


def pad_axes(array, extra, axes=(1,)):
    widths = [(0, extra if axis in axes else 0) for axis in range(array.ndim)]
    return np.pad(array, widths)


def pad_keys(*keys, axes=(1,)):
    """`pad` of a dict of inputs: `keys` padded along `axes`, the rest kept."""

    def pad(inputs, extra):
        return {
            k: pad_axes(v, extra, axes) if k in keys else v for k, v in inputs.items()
        }

    return pad


def at_tokens(key=None):
    """`real` of per-token outputs: the rows' non-padding positions of
    `inputs[key]` (or of `inputs` itself)."""

    def real(outputs, inputs):
        ids = inputs if key is None else inputs[key]
        return outputs[:, : ids.shape[1]][ids != 0]

    return real


def classes(num_classes=2):
    def labels(inputs):
        rng = np.random.default_rng(1)
        return rng.integers(0, num_classes, NUM_EXAMPLES).astype("int32")

    return labels


def token_classes(key=None, num_classes=2):
    """Per-token labels, -1 at padding."""

    def labels(inputs):
        ids = inputs if key is None else inputs[key]
        return np.where(ids != 0, ids % num_classes, -1).astype("int32")

    return labels


# === Cases ===


def sequence_classifier(name, preset, cls=None, **overrides):
    cls = cls or zoo.model_builder(preset)
    return FamilyCase(
        name=name,
        model_class=cls,
        build=lambda: create_model(
            preset, vocabulary_size=VOCABULARY_SIZE, num_classes=2, **overrides
        ),
        inputs=token_ids,
        labels=classes(),
        output_shape=lambda length: (NUM_EXAMPLES, 2),
        pad=pad_axes,
    )


def masked_lm(name, preset, cls):
    def inputs(length):
        rng = np.random.default_rng(length)
        positions = rng.integers(0, length - 2, (NUM_EXAMPLES, 2)).astype("int32")
        return {"token_ids": token_ids(length), "mask_positions": positions}

    return FamilyCase(
        name=name,
        model_class=cls,
        build=lambda: create_model(
            preset, model_class=cls, vocabulary_size=VOCABULARY_SIZE
        ),
        inputs=inputs,
        labels=lambda x: x["token_ids"][:, :2],  # any ids
        output_shape=lambda length: (NUM_EXAMPLES, 2, VOCABULARY_SIZE),
        pad=pad_keys("token_ids"),
    )


def memory_transformer(task):
    num_outputs = 2
    return FamilyCase(
        name=f"memory_transformer_{task}",
        model_class=zoo.MemoryTransformer,
        build=lambda: create_model(
            "memory_transformer_tiny",
            vocabulary_size=VOCABULARY_SIZE,
            segment_length=8,
            task=task,
        ),
        inputs=token_ids,
        labels=classes() if task == "sequence" else token_classes(),
        output_shape=(
            (lambda length: (NUM_EXAMPLES, num_outputs))
            if task == "sequence"
            else (lambda length: (NUM_EXAMPLES, length, num_outputs))
        ),
        pad=pad_axes,
        real=(lambda outputs, inputs: outputs) if task == "sequence" else at_tokens(),
        lengths=(12, 20),  # two and three segments
    )


def keras_hub_memory():
    def build():
        backbone = keras_hub.models.BertBackbone(
            vocabulary_size=VOCABULARY_SIZE,
            max_sequence_length=32,
            num_layers=1,
            num_heads=2,
            hidden_dim=16,
            intermediate_dim=32,
        )
        return zoo.MemoryTransformer.from_keras_hub(
            backbone, segment_length=4, num_memory_tokens=2, num_classes=3
        )

    def inputs(length):
        ids = token_ids(length, seed=2)
        return {"token_ids": ids, "padding_mask": (ids != 0).astype("int32")}

    return FamilyCase(
        name="keras_hub_memory",
        model_class=zoo.KerasHubMemoryTransformer,
        build=build,
        inputs=inputs,
        labels=classes(3),
        output_shape=lambda length: (NUM_EXAMPLES, 3),
        pad=pad_keys("token_ids", "padding_mask"),
        lengths=(10, 40),  # 40: beyond the backbone's 32 positions
    )


def seq2seq(architecture):
    def inputs(length):
        return {
            "encoder_token_ids": token_ids(length),
            "decoder_token_ids": token_ids(length - 3, seed=1),
        }

    return FamilyCase(
        name=f"seq2seq_{architecture}",
        model_class=zoo.Seq2Seq,
        build=lambda: create_model(
            f"seq2seq_{architecture}_tiny",
            source_vocabulary_size=VOCABULARY_SIZE,
            target_vocabulary_size=VOCABULARY_SIZE,
        ),
        inputs=inputs,
        labels=token_classes("decoder_token_ids", VOCABULARY_SIZE),
        output_shape=lambda length: (NUM_EXAMPLES, length - 3, VOCABULARY_SIZE),
        pad=pad_keys("encoder_token_ids", "decoder_token_ids"),
        real=at_tokens("decoder_token_ids"),
    )


def memory_network():
    def inputs(length):
        memories = length // 3
        return {
            "story": token_ids(length, shape=(NUM_EXAMPLES, memories, 5)),
            "question": token_ids(length, shape=(NUM_EXAMPLES, 4), seed=1),
        }

    def pad(inputs, extra):
        return {
            "story": pad_axes(inputs["story"], extra, axes=(1, 2)),
            "question": pad_axes(inputs["question"], extra),
        }

    return FamilyCase(
        name="memory_network",
        model_class=zoo.MemoryNetwork,
        build=lambda: create_model(
            "memory_network_tiny", vocabulary_size=VOCABULARY_SIZE
        ),
        inputs=inputs,  # `length`: three words per memory slot
        labels=classes(VOCABULARY_SIZE),
        output_shape=lambda length: (NUM_EXAMPLES, VOCABULARY_SIZE),
        pad=pad,
        lengths=(9, 15),
    )


def multimodal():
    def inputs(length):
        rng = np.random.default_rng(length)
        image = rng.uniform(size=(NUM_EXAMPLES, 16, 16, 3)).astype("float32")
        return {"token_ids": token_ids(length), "image": image}

    return FamilyCase(
        name="multimodal",
        model_class=zoo.MultimodalFusionClassifier,
        build=lambda: create_model(
            "multimodal_tiny", vocabulary_size=VOCABULARY_SIZE, image_shape=(16, 16, 3)
        ),
        inputs=inputs,
        labels=classes(),
        output_shape=lambda length: (NUM_EXAMPLES, 2),
        pad=pad_keys("token_ids"),
    )


def lstm_tagger():
    def inputs(length):
        words = token_ids(length)
        chars = token_ids(length, shape=(NUM_EXAMPLES, length, 4), seed=1)
        return {
            "word_ids": words,
            "case_ids": np.where(words != 0, words % 6 + 1, 0).astype("int32"),
            "char_ids": np.where(words[..., None] != 0, chars % 9 + 1, 0),
        }

    return FamilyCase(
        name="lstm_tagger",
        model_class=zoo.LSTMTagger,
        build=lambda: create_model("lstm_tagger_tiny", vocabulary_size=VOCABULARY_SIZE),
        inputs=inputs,
        labels=token_classes("word_ids", 9),
        output_shape=lambda length: (NUM_EXAMPLES, length, 9),
        pad=pad_keys("word_ids", "case_ids", "char_ids"),
        real=at_tokens("word_ids"),
    )


CASES = {
    case.name: case
    for case in (
        sequence_classifier("lstm", "lstm_tiny"),
        sequence_classifier("attentive_lstm", "attentive_lstm_tiny"),
        FamilyCase(
            name="lstm_backbone",
            model_class=zoo.LSTMBackbone,
            build=lambda: create_model(
                "lstm_tiny",
                model_class=zoo.LSTMBackbone,
                vocabulary_size=VOCABULARY_SIZE,
            ),
            inputs=token_ids,
            labels=classes(),
            output_shape=lambda length: (NUM_EXAMPLES, length, 32),
            pad=pad_axes,
            real=at_tokens(),
            no_fit="a backbone has no head and no loss",
            mixed_output_dtype="bfloat16",
        ),
        masked_lm("lstm_masked_lm", "lstm_tiny", zoo.LSTMMaskedLM),
        sequence_classifier("transformer", "transformer_tiny"),
        FamilyCase(
            name="transformer_backbone",
            model_class=zoo.TransformerBackbone,
            build=lambda: create_model(
                "transformer_tiny",
                model_class=zoo.TransformerBackbone,
                vocabulary_size=VOCABULARY_SIZE,
            ),
            inputs=token_ids,
            labels=classes(),
            output_shape=lambda length: (NUM_EXAMPLES, length, 32),
            pad=pad_axes,
            real=at_tokens(),
            no_fit="a backbone has no head and no loss",
            # As keras-hub's backbones: features in the compute dtype.
            mixed_output_dtype="bfloat16",
        ),
        FamilyCase(
            name="transformer_token",
            model_class=zoo.TransformerTokenClassifier,
            build=lambda: create_model(
                "transformer_tiny",
                model_class=zoo.TransformerTokenClassifier,
                vocabulary_size=VOCABULARY_SIZE,
                num_classes=3,
            ),
            inputs=token_ids,
            labels=token_classes(num_classes=3),
            output_shape=lambda length: (NUM_EXAMPLES, length, 3),
            pad=pad_axes,
            real=at_tokens(),
        ),
        masked_lm("transformer_masked_lm", "transformer_tiny", zoo.TransformerMaskedLM),
        lstm_tagger(),
        multimodal(),
        memory_network(),
        memory_transformer("sequence"),
        memory_transformer("token"),
        keras_hub_memory(),
        seq2seq("lstm"),
        seq2seq("transformer"),
    )
}


# === Checks ===


def _predict(model, inputs):
    # Eager, as keras-hub's runner: the compiled path is the XLA check's, and
    # a trace per shape would cost more than these tiny models' calls.
    return keras.ops.convert_to_numpy(model(inputs, training=False))


def _assert_close(actual, expected, message):
    np.testing.assert_allclose(actual, expected, atol=1e-5, rtol=1e-5, err_msg=message)


def check_variable_lengths(case, model):
    for length in case.lengths:
        outputs = _predict(model, case.inputs(length))
        what = f"[{case.name}] variable_lengths: length {length}"
        assert outputs.shape == case.output_shape(length), (
            f"{what}: output shape {outputs.shape}, expected "
            f"{case.output_shape(length)}"
        )
        assert np.isfinite(outputs).all(), f"{what}: non-finite outputs"


def check_padding(case, model):
    inputs = case.inputs(case.lengths[0])
    short = case.real(_predict(model, inputs), inputs)
    long = case.real(_predict(model, case.pad(inputs, PADDING)), inputs)
    _assert_close(
        long,
        short,
        f"[{case.name}] padding: {PADDING} more padding positions changed the "
        "outputs at the real positions",
    )


def _backbone_inputs(inputs):
    return inputs["token_ids"] if isinstance(inputs, dict) else inputs


def check_preset(case, model, directory):
    inputs = case.inputs(case.lengths[0])
    expected = _predict(model, inputs)
    model.save_to_preset(directory)
    loaded = zoo.load_preset(directory)
    what = f"[{case.name}] preset (load_preset)"
    assert type(loaded) is type(model), f"{what}: loaded a {type(loaded).__name__}"
    _assert_close(_predict(loaded, inputs), expected, f"{what}: outputs differ")
    if isinstance(model, keras_hub.models.TextClassifier):
        loaded = keras_hub.models.TextClassifier.from_preset(directory)
        what = f"[{case.name}] preset (keras_hub TextClassifier.from_preset)"
        assert type(loaded) is type(model), f"{what}: loaded a {type(loaded)}"
        _assert_close(_predict(loaded, inputs), expected, f"{what}: outputs differ")
    if isinstance(model, (keras_hub.models.Task, keras_hub.models.Backbone)):
        backbone = getattr(model, "backbone", model)
        loaded = keras_hub.models.Backbone.from_preset(directory)
        what = f"[{case.name}] preset (keras_hub Backbone.from_preset)"
        assert type(loaded) is type(backbone), f"{what}: loaded a {type(loaded)}"
        tokens = _backbone_inputs(inputs)
        _assert_close(
            _predict(loaded, tokens),
            _predict(backbone, tokens),
            f"{what}: outputs differ",
        )


def check_mixed_precision(case):
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = case.build()
    finally:
        keras.config.set_dtype_policy(policy)
    what = f"[{case.name}] mixed_precision"
    assert model.dtype_policy.name == "mixed_bfloat16", f"{what}: {model.dtype_policy}"
    # `predict`: called eagerly, keras-hub's `MaskedLMHead` adds its float32
    # bias to bfloat16 logits and fails on TensorFlow (the masked LMs).
    outputs = model.predict(case.inputs(case.lengths[0]), verbose=0)
    outputs = keras.ops.convert_to_numpy(outputs)
    assert outputs.dtype == case.mixed_output_dtype, f"{what}: {outputs.dtype}"
    assert np.isfinite(outputs.astype("float32")).all(), f"{what}: not finite"


def check_xla(case, model):
    inputs = case.inputs(case.lengths[0])
    model.compile(jit_compile=True)
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    history = model.fit(
        inputs, case.labels(inputs), batch_size=BATCH_SIZE, epochs=1, verbose=0
    )
    loss = history.history["loss"][0]
    what = f"[{case.name}] xla (jit_compile=True, {NUM_EXAMPLES} examples, batch "
    what += f"{BATCH_SIZE})"
    assert np.isfinite(loss), f"{what}: loss {loss}"
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert any(not np.array_equal(b, a) for b, a in zip(before, after, strict=True)), (
        f"{what}: no weight changed"
    )


def run_family_test(case, directory, checks=CHECKS):
    """Runs `checks` (names from `CHECKS`) on `case`; a preset goes to
    `directory`. Returns the checks it skipped, with their reasons."""
    unknown = set(checks) - set(CHECKS)
    assert not unknown, f"Unknown checks: {sorted(unknown)}"
    skipped = {}
    model = case.build()
    assert isinstance(model, case.model_class), f"[{case.name}] built a {model}"
    if "variable_lengths" in checks:
        check_variable_lengths(case, model)
    if "padding" in checks:
        if case.no_padding:
            skipped["padding"] = case.no_padding
        else:
            check_padding(case, model)
    if "preset" in checks:
        check_preset(case, model, os.path.join(directory, case.name))
    if "mixed_precision" in checks:
        check_mixed_precision(case)
    if "xla" in checks:
        if case.no_fit:
            skipped["xla"] = case.no_fit
        else:
            check_xla(case, model)
    return skipped
