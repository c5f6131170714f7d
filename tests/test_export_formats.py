"""LiteRT and ONNX artifacts answer like the model; int8 SavedModels too."""

import os

import numpy as np
import pytest

from keras_ctxmem.export import export_saved_model
from keras_ctxmem.export_formats import export_litert, export_onnx
from keras_ctxmem.preprocessing import TextPreprocessor
from keras_ctxmem.zoo import (
    AttentiveLSTMClassifier,
    LSTMClassifier,
    MultimodalFusionClassifier,
    TransformerClassifier,
    TransformerTokenClassifier,
)
from tests.helpers import pad_right

VOCABULARY_SIZE = 50
V = {"vocabulary_size": VOCABULARY_SIZE}
TOKEN_IDS = np.array([[5, 9, 3, 7, 2, 0, 0, 0], [4, 4, 1, 0, 0, 0, 0, 0]], "int32")
IMAGES = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")


def litert_run(path, inputs):
    """Runs a `.tflite` file's signature on `{name: array}` (LiteRT interpreter)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    runner = Interpreter(model_path=path).get_signature_runner()
    feed = {name: inputs[_match(name, inputs)] for name in runner.get_input_details()}
    [output] = runner(**feed).values()
    return output


def onnx_run(path, inputs):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feed = {i.name: inputs[_match(i.name, inputs)] for i in session.get_inputs()}
    return session.run(None, feed)[0]


def _match(name, inputs):
    return next(key for key in inputs if key == name or key in name)


# === LiteRT ===


@pytest.mark.parametrize(
    "build",
    [
        lambda: TransformerTokenClassifier.from_preset(
            "transformer_tiny", vocabulary_size=VOCABULARY_SIZE, num_classes=3
        ),
        lambda: TransformerClassifier.from_preset(
            "transformer_tiny", vocabulary_size=VOCABULARY_SIZE, pooling="last"
        ),
        lambda: TransformerClassifier.from_preset(
            "transformer_tiny", vocabulary_size=VOCABULARY_SIZE, pooling="mean"
        ),
    ],
    ids=["token_classifier", "classifier_last_pooling", "classifier_mean_pooling"],
)
def test_litert_any_length_matches_and_ignores_padding(build, tmp_path):
    model = build()
    expected = model.predict(TOKEN_IDS, verbose=0)
    path = export_litert(model, str(tmp_path / "model.tflite"))
    got = litert_run(path, {"token_ids": TOKEN_IDS})
    np.testing.assert_allclose(got, expected, atol=1e-4)
    padded = litert_run(path, {"token_ids": pad_right(TOKEN_IDS, 13)})
    np.testing.assert_allclose(padded[:, : TOKEN_IDS.shape[1]], expected, atol=1e-4)


def test_litert_multimodal_matches(tmp_path):
    model = MultimodalFusionClassifier.from_preset(
        "multimodal_tiny", vocabulary_size=VOCABULARY_SIZE, fusion="cross_attention"
    )
    with pytest.raises(ValueError, match="MultimodalFusionClassifier.*fixed"):
        export_litert(model, str(tmp_path / "dynamic.tflite"))
    feed = {"token_ids": TOKEN_IDS, "image": IMAGES}
    expected = model.predict(feed, verbose=0)
    path = export_litert(
        model,
        str(tmp_path / "model.tflite"),
        batch_size=TOKEN_IDS.shape[0],
        sequence_length=TOKEN_IDS.shape[1],
    )
    np.testing.assert_allclose(litert_run(path, feed), expected, atol=1e-4)


def test_litert_lstm_at_a_fixed_length(tmp_path):
    model = AttentiveLSTMClassifier.from_preset(
        "attentive_lstm_tiny", vocabulary_size=VOCABULARY_SIZE
    )
    with pytest.raises(ValueError, match="AttentiveLSTMClassifier.*fixed"):
        export_litert(model, str(tmp_path / "dynamic.tflite"))
    path = export_litert(
        model, str(tmp_path / "model.tflite"), batch_size=2, sequence_length=12
    )
    expected = model.predict(TOKEN_IDS[:, :5], verbose=0)  # unpadded
    got = litert_run(path, {"token_ids": pad_right(TOKEN_IDS, 12)})
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_litert_refuses_quantized_transformers(tmp_path):
    path = str(tmp_path / "model.tflite")
    tagger = TransformerTokenClassifier.from_preset("transformer_tiny", num_classes=3)
    tagger.quantize("int8")
    with pytest.raises(ValueError, match="quantized"):
        export_litert(tagger, path)
    assert not os.path.exists(path)


# === ONNX ===


@pytest.mark.parametrize(
    "build",
    [
        lambda: TransformerClassifier.from_preset(
            "transformer_tiny", vocabulary_size=VOCABULARY_SIZE
        ),
        lambda: LSTMClassifier.from_preset("lstm_tiny", **V),
        lambda: MultimodalFusionClassifier.from_preset(
            "multimodal_tiny", vocabulary_size=VOCABULARY_SIZE, fusion="cross_attention"
        ),
    ],
    ids=["transformer", "lstm", "multimodal"],
)
def test_onnx_matches_and_ignores_padding(build, tmp_path):
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    model = build()
    multimodal = isinstance(model, MultimodalFusionClassifier)

    def inputs(token_ids):
        return {"token_ids": token_ids, "image": IMAGES} if multimodal else token_ids

    expected = model.predict(inputs(TOKEN_IDS), verbose=0)
    path = export_onnx(model, str(tmp_path / "model.onnx"))
    feed = {"token_ids": TOKEN_IDS, "image": IMAGES}
    np.testing.assert_allclose(onnx_run(path, feed), expected, atol=1e-4)
    feed["token_ids"] = pad_right(TOKEN_IDS, 13)
    np.testing.assert_allclose(onnx_run(path, feed), expected, atol=1e-4)


# === Int8 weights, exported for TF Serving ===


def _variables_bytes(path):
    root = os.path.join(path, "variables")
    return sum(os.path.getsize(os.path.join(root, name)) for name in os.listdir(root))


def test_int8_saved_model_matches_the_quantized_model(tmp_path):
    import tensorflow as tf

    texts = ["a charming film", "a dull film", "charming and warm", "cold and dull"]
    preprocessor = TextPreprocessor.from_corpus(
        texts * 5, vocabulary_size=60, sequence_length=8
    )
    model = TransformerClassifier.from_preset(
        "transformer_tiny", preprocessor=preprocessor, label_names=["neg", "pos"]
    )
    float_path = export_saved_model(model, str(tmp_path / "float32"))
    model.quantize("int8")
    int8_path = export_saved_model(model, str(tmp_path / "int8"))

    logits = model.predict(texts, verbose=0)
    expected = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    serve = tf.saved_model.load(int8_path).signatures["serving_default"]
    served = serve(text=tf.constant(texts))
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=1e-4)
    assert _variables_bytes(int8_path) < _variables_bytes(float_path)
