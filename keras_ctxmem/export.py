"""SavedModel export for TF Serving: strings in, named outputs out.

`export_saved_model(model, base_dir)` writes `<base_dir>/<version>/`, which TF
Serving serves with `--model_base_path=<base_dir>`. The model's preprocessor runs
inside the graph, so a request carries raw text:

- `serving_default`: input `text` (tf.string, `[None]`), plus `image` (float32
  `[None, H, W, C]`) for the multimodal model; outputs `probabilities`,
  `class_id` and `label` (class names when the model has `label_names`). Token
  classifiers give them per token, with the word pieces in `tokens`.
  An input with no answer (a NaN or infinite pixel, or any input whose
  probabilities come out NaN) gets `class_id` -1, `label` `INVALID_LABEL`
  (`"<invalid input>"`) and NaN probabilities, never a confident class.
- `attention` (models with attention weights): `attention_weights`, `token_ids`.
- `assets.extra/tf_serving_warmup_requests`: requests TF Serving runs before it
  takes traffic.

Example:
```python
from keras_ctxmem.export import export_saved_model
path = export_saved_model(model, "serving/sst2")  # serving/sst2/1
```
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
DEFAULT_WARMUP_TEXTS = ("", "a short example sentence")
# The label of an example the model has no answer for (NaN or infinite input).
INVALID_LABEL = "<invalid input>"


def export_saved_model(model, base_dir, version=None, warmup_texts=None):
    """Writes a TF Serving SavedModel of `model` with its preprocessor inside.

    Args:
        model: a zoo task model built with a `preprocessor`.
        base_dir: the model's base path; the SavedModel goes to
            `<base_dir>/<version>/`.
        version: a positive integer; by default one more than the newest
            version already in `base_dir` (or 1).
        warmup_texts: texts for the warm-up requests.

    Returns:
        The path of the written version directory.
    """
    if getattr(model, "preprocessor", None) is None:
        raise ValueError(
            "Exporting for TF Serving needs the model's preprocessor inside the "
            "graph: build the model with `preprocessor=TextPreprocessor(...)`."
        )
    version = _next_version(base_dir) if version is None else version
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"`version` must be a positive integer. Received: {version}")
    path = os.path.join(base_dir, str(version))
    if os.path.exists(path):
        raise FileExistsError(f"'{path}' exists already: choose another version.")

    image_shape = _image_shape(model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(model.preprocessor)
    archive.add_endpoint("serving_default", _serving_function(model, image_shape))
    attention_model = getattr(model, "_attention_model", None)
    if attention_model is not None:
        archive.add_endpoint(
            "attention", _attention_function(model, attention_model, image_shape)
        )
    archive.write_out(path, verbose=False)
    _write_warmup_requests(
        path, list(warmup_texts or DEFAULT_WARMUP_TEXTS), image_shape
    )
    return path


def _next_version(base_dir):
    if not os.path.isdir(base_dir):
        return 1
    versions = [int(name) for name in os.listdir(base_dir) if name.isdigit()]
    return max(versions, default=0) + 1


def _image_shape(model):
    """The image input's shape for the multimodal model, else None."""
    if isinstance(model.input, dict) and "image" in model.input:
        return tuple(model.input["image"].shape[1:])
    return None


def _input_signature(image_shape):
    signature = [tf.TensorSpec([None], tf.string, name="text")]
    if image_shape is not None:
        signature.append(tf.TensorSpec([None, *image_shape], tf.float32, name="image"))
    return signature


def _model_inputs(model, text, image):
    # A loaded signature does not enforce its shapes; check them at run time.
    text = tf.ensure_shape(text, [None], name="text_must_be_a_1d_batch_of_strings")
    if image is not None:
        image = tf.ensure_shape(image, [None, *image.shape[1:]], name="image_shape")
    token_ids = model.preprocessor(text)
    if image is None:
        return token_ids, token_ids
    return {"token_ids": token_ids, "image": image}, token_ids


def _serving_function(model, image_shape):
    num_classes = model.output.shape[-1]
    label_names = model.label_names or [str(i) for i in range(num_classes)]
    if len(label_names) != num_classes:
        raise ValueError(
            f"The model has {len(label_names)} label names for {num_classes} "
            f"classes: {label_names}"
        )
    labels = tf.constant(label_names, tf.string)
    vocabulary = tf.constant(model.preprocessor.vocabulary, tf.string)
    per_token = len(model.output.shape) == 3

    def serve(text, image=None):
        inputs, token_ids = _model_inputs(model, text, image)
        logits = tf.cast(model(inputs, training=False), tf.float32)
        probabilities = tf.nn.softmax(logits, axis=-1)
        valid = tf.reduce_all(tf.math.is_finite(probabilities), axis=-1)
        if image is not None:
            finite = tf.reduce_all(tf.math.is_finite(image), axis=[1, 2, 3])
            valid &= finite[:, None] if per_token else finite
        class_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        class_id = tf.where(valid, class_id, -1)
        outputs = {
            "probabilities": tf.where(valid[..., None], probabilities, np.nan),
            "class_id": class_id,
            "label": tf.where(
                valid, tf.gather(labels, tf.maximum(class_id, 0)), INVALID_LABEL
            ),
        }
        if per_token:
            outputs["tokens"] = tf.gather(vocabulary, token_ids)
            outputs["token_mask"] = tf.not_equal(token_ids, 0)
        return outputs

    return _with_signature(serve, image_shape)


def _attention_function(model, attention_model, image_shape):
    def attention(text, image=None):
        inputs, token_ids = _model_inputs(model, text, image)
        weights = tf.cast(attention_model(inputs, training=False), tf.float32)
        return {"attention_weights": weights, "token_ids": token_ids}

    return _with_signature(attention, image_shape)


def _with_signature(fn, image_shape):
    signature = _input_signature(image_shape)
    if image_shape is None:
        return tf.function(lambda text: fn(text), input_signature=signature)
    return tf.function(lambda text, image: fn(text, image), input_signature=signature)


def _write_warmup_requests(path, texts, image_shape):
    """TF Serving's warm-up file: PredictionLog records of PredictRequests."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(signature_name="serving_default")
    )
    request.inputs["text"].CopyFrom(tf.make_tensor_proto(texts, dtype=tf.string))
    if image_shape is not None:
        images = np.zeros((len(texts), *image_shape), "float32")
        request.inputs["image"].CopyFrom(tf.make_tensor_proto(images))
    log = prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)
    )
    os.makedirs(os.path.join(path, "assets.extra"), exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(path, WARMUP_FILE)) as writer:
        writer.write(log.SerializeToString())


def rest_predict(saved_model, body):
    """Answers a TF Serving REST `:predict` body as TF Serving would.

    `saved_model` is a loaded SavedModel (`tf.saved_model.load(path)`) or its
    path; `body` a dict or JSON text in the row form (`{"instances": [...]}`) or
    the columnar form (`{"inputs": {...}}`). Returns `{"predictions": [...]}`
    or `{"outputs": {...}}` like TF Serving, for checking requests locally.
    """
    if isinstance(saved_model, str | os.PathLike):
        saved_model = tf.saved_model.load(os.fspath(saved_model))
    if isinstance(body, str):
        body = json.loads(body)
    signature = saved_model.signatures[body.get("signature_name", "serving_default")]
    specs = signature.structured_input_signature[1]
    if "instances" in body:
        instances = body["instances"]
        if instances and isinstance(instances[0], dict):
            columns = {name: [row[name] for row in instances] for name in specs}
        else:
            [name] = specs  # A list of bare values feeds a one-input signature.
            columns = {name: instances}
        outputs = signature(**_to_tensors(columns, specs))
        rows = len(instances)
        return {
            "predictions": [
                {key: _to_json(value[i]) for key, value in outputs.items()}
                for i in range(rows)
            ]
        }
    if "inputs" in body:
        inputs = body["inputs"]
        if not isinstance(inputs, dict):
            [name] = specs
            inputs = {name: inputs}
        outputs = signature(**_to_tensors(inputs, specs))
        return {"outputs": {key: _to_json(value) for key, value in outputs.items()}}
    raise ValueError('A request body needs "instances" or "inputs".')


def _to_tensors(columns, specs):
    missing = set(specs) - set(columns)
    if missing:
        raise ValueError(f"The request lacks the input(s): {sorted(missing)}")
    return {
        name: tf.constant(columns[name], dtype=spec.dtype)
        for name, spec in specs.items()
    }


def _to_json(tensor):
    value = np.asarray(tensor.numpy())
    if value.dtype.kind in "SO":
        decode = np.vectorize(lambda b: b.decode("utf-8", "replace"), otypes=[object])
        return decode(value).tolist()
    return value.tolist()
