"""The exported SavedModel answers like the model, outside keras_ctxmem too."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_ctxmem.export import WARMUP_FILE, export_saved_model, rest_predict
from keras_ctxmem.preprocessing import TextPreprocessor
from keras_ctxmem.zoo import (
    AttentiveLSTMClassifier,
    MultimodalFusionClassifier,
    TransformerClassifier,
    TransformerTokenClassifier,
)

TEXTS = ["a charming film", "a dull film", "charming and warm", "cold and dull"]
QUERIES = ["a charming film", "dull", "", "charming " * 100, "an unseen wörd"]


@pytest.fixture(scope="module")
def preprocessor():
    return TextPreprocessor.from_corpus(
        TEXTS * 5, vocabulary_size=60, sequence_length=8
    )


@pytest.fixture(scope="module")
def classifier(preprocessor):
    return TransformerClassifier.from_preset(
        "transformer_tiny", preprocessor=preprocessor, label_names=["neg", "pos"]
    )


@pytest.fixture(scope="module")
def exported(classifier, tmp_path_factory):
    base = tmp_path_factory.mktemp("serving")
    return str(base), export_saved_model(classifier, str(base))


def softmax(logits):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_layout_for_tf_serving(exported, classifier, tmp_path):
    base, path = exported
    assert path == os.path.join(base, "1")
    assert {"saved_model.pb", "variables", "assets.extra"} <= set(os.listdir(path))
    assert os.path.exists(os.path.join(path, WARMUP_FILE))
    copy = str(tmp_path / "base")
    shutil.copytree(base, copy)
    assert export_saved_model(classifier, copy).endswith(os.sep + "2")
    with pytest.raises(FileExistsError):
        export_saved_model(classifier, copy, version=2)


def test_warmup_file_holds_predict_requests(exported):
    from tensorflow_serving.apis import prediction_log_pb2

    _, path = exported
    [record] = list(tf.data.TFRecordDataset(os.path.join(path, WARMUP_FILE)))
    log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
    request = log.predict_log.request
    assert request.model_spec.signature_name == "serving_default"
    assert tf.make_ndarray(request.inputs["text"]).shape == (2,)


RELOAD_SCRIPT = r"""
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the WordPiece ops)
loaded = tf.saved_model.load(sys.argv[1])
out = loaded.signatures["serving_default"](text=tf.constant(json.loads(sys.argv[2])))
assert "keras_ctxmem" not in sys.modules, "the SavedModel needed keras_ctxmem"
print(json.dumps({
    "probabilities": out["probabilities"].numpy().tolist(),
    "label": [x.decode() for x in out["label"].numpy()],
    "keras_imported": "keras" in sys.modules,
}))
"""


def test_fresh_process_with_only_tensorflow_matches(exported, classifier):
    _, path = exported
    result = subprocess.run(
        [sys.executable, "-c", RELOAD_SCRIPT, path, json.dumps(QUERIES)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr
    served = json.loads(result.stdout.strip().splitlines()[-1])
    expected = softmax(classifier.predict(QUERIES, verbose=0))
    np.testing.assert_allclose(served["probabilities"], expected, atol=1e-5)
    assert served["label"] == [["neg", "pos"][i] for i in expected.argmax(-1)]


# `saved_model_cli` itself, with TF-Text's ops registered first (the SavedModel's
# WordPiece and normalisation ops live in tensorflow_text, as for any server).
SAVED_MODEL_CLI = (
    "import sys, tensorflow_text; "
    "from tensorflow.python.tools.saved_model_cli import main; "
    "sys.argv[0] = 'saved_model_cli'; sys.exit(main())"
)


def test_saved_model_cli_shows_and_runs(exported):
    _, path = exported
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cli = [sys.executable, "-c", SAVED_MODEL_CLI]
    shown = subprocess.run(
        [*cli, "show", "--dir", path, "--all"], capture_output=True, text=True, env=env
    )
    assert shown.returncode == 0, shown.stderr
    for name in ("serving_default", "text", "probabilities", "class_id", "label"):
        assert name in shown.stdout
    ran = subprocess.run(
        [
            *cli,
            "run",
            "--dir",
            path,
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--input_exprs",
            'text=["a charming film", ""]',
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert ran.returncode == 0, ran.stderr
    assert "probabilities" in ran.stdout and "label" in ran.stdout


def test_rest_request_forms(exported, classifier):
    _, path = exported
    loaded = tf.saved_model.load(path)
    expected = softmax(classifier.predict(TEXTS[:2], verbose=0))
    rows = rest_predict(loaded, json.dumps({"instances": TEXTS[:2]}))["predictions"]
    np.testing.assert_allclose([r["probabilities"] for r in rows], expected, atol=1e-5)
    assert [r["label"] for r in rows] == [
        ["neg", "pos"][i] for i in expected.argmax(-1)
    ]
    named_rows = rest_predict(loaded, {"instances": [{"text": t} for t in TEXTS[:2]]})
    assert named_rows["predictions"] == rows
    columns = rest_predict(loaded, {"inputs": {"text": TEXTS[:2]}})["outputs"]
    np.testing.assert_allclose(columns["probabilities"], expected, atol=1e-5)
    assert rest_predict(loaded, {"inputs": TEXTS[:2]})["outputs"] == columns
    with pytest.raises(ValueError, match="instances"):
        rest_predict(loaded, {"texts": TEXTS})


def test_bad_input_gives_a_defined_output_or_a_clear_error(exported):
    _, path = exported
    serve = tf.saved_model.load(path).signatures["serving_default"]
    odd = serve(text=tf.constant(["", "x" * 10000, b"\xff\xfe\xfd"]))
    assert np.isfinite(odd["probabilities"].numpy()).all()
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
        serve(text=tf.constant([1, 2]))  # wrong dtype
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
        serve(text=tf.constant([["a", "b"]]))  # wrong rank
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
        serve(text=tf.constant("a film"))  # a scalar, not a batch


def test_attention_signature_and_token_tags(preprocessor, tmp_path):
    attentive = AttentiveLSTMClassifier.from_preset(
        "attentive_lstm_tiny", preprocessor=preprocessor
    )
    loaded = tf.saved_model.load(export_saved_model(attentive, str(tmp_path / "a")))
    weights = loaded.signatures["attention"](text=tf.constant(TEXTS[:2]))
    np.testing.assert_allclose(
        weights["attention_weights"].numpy(),
        attentive.attention_weights(preprocessor(TEXTS[:2])),
        atol=1e-5,
    )
    tagger = TransformerTokenClassifier.from_preset(
        "transformer_tiny",
        preprocessor=preprocessor,
        num_classes=3,
        label_names=["O", "B-X", "I-X"],
    )
    loaded = tf.saved_model.load(export_saved_model(tagger, str(tmp_path / "t")))
    out = loaded.signatures["serving_default"](text=tf.constant(["a film"]))
    assert out["label"].shape == (1, 8) and out["tokens"].shape == (1, 8)
    assert out["tokens"].numpy()[0, 0] == b"a"
    assert out["token_mask"].numpy()[0].tolist()[-1] is False


def test_multimodal_takes_text_and_image(preprocessor, tmp_path):
    model = MultimodalFusionClassifier.from_preset(
        "multimodal_tiny", preprocessor=preprocessor, fusion="cross_attention"
    )
    images = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    expected = softmax(
        model.predict({"text": np.array(TEXTS[:2]), "image": images}, verbose=0)
    )
    loaded = tf.saved_model.load(export_saved_model(model, str(tmp_path / "m")))
    out = loaded.signatures["serving_default"](
        text=tf.constant(TEXTS[:2]), image=tf.constant(images)
    )
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
    assert "attention" in loaded.signatures


def test_model_without_preprocessor_is_refused(tmp_path):
    with pytest.raises(ValueError, match="preprocessor"):
        export_saved_model(
            TransformerClassifier.from_preset("transformer_tiny"), str(tmp_path)
        )


def test_predict_labels_answers_like_the_saved_model(exported, classifier):
    _, path = exported
    serve = tf.saved_model.load(path).signatures["serving_default"]
    served = serve(text=tf.constant(QUERIES))
    answer = classifier.predict_labels(QUERIES)
    assert set(answer) == {"probabilities", "class_id", "label"}
    np.testing.assert_allclose(
        answer["probabilities"], served["probabilities"].numpy(), atol=1e-6
    )
    np.testing.assert_allclose(
        answer["probabilities"],
        softmax(classifier.predict(QUERIES, verbose=0)),
        atol=1e-6,
    )
    assert answer["probabilities"].dtype == np.float32
    np.testing.assert_array_equal(answer["class_id"], served["class_id"].numpy())
    assert [label.encode() for label in answer["label"]] == list(
        served["label"].numpy()
    )
    np.testing.assert_allclose(  # one request: the compiled step, strings in
        classifier.predict_on_batch(QUERIES),
        classifier.predict(QUERIES, verbose=0),
        atol=1e-5,
    )
    many = classifier.predict_labels(QUERIES * 7)  # more than a batch: `predict`
    np.testing.assert_allclose(
        many["probabilities"][:5], answer["probabilities"], atol=1e-5
    )
    with pytest.raises(ValueError, match="not a classifier"):
        TransformerClassifier.from_preset("transformer_tiny").backbone.predict_labels(
            [[1, 2]]
        )
