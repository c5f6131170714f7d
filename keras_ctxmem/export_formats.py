"""LiteRT (`.tflite`) and ONNX export of the zoo's models: token ids in, logits out.

Thin wrappers around Keras 3's `model.export(path, format="litert" | "onnx")`
that refuse, with a `ValueError` naming the model family and the reason, the
combinations known not to give a working artifact. What works (see
`docs/export_formats.md`, measured with tensorflow 2.21, tf2onnx 1.17 and
onnxruntime 1.32):

| family | LiteRT | ONNX |
|---|---|---|
| `TransformerClassifier`, `TransformerTokenClassifier` | any batch, length | yes |
| `LSTMClassifier`, `AttentiveLSTMClassifier` | fixed batch and length | yes |
| `MultimodalFusionClassifier` | fixed batch and length | yes |
| `MemoryNetwork` | yes, any shape | yes |

Both artifacts take int32 token ids, as the model does: the `TextPreprocessor`
is not inside. Its tokenizer is built from tensorflow-text ops (`UnicodeTranscode`,
`RegexSplitWithOffsets`, `FastWordpieceTokenizeWithOffsets`, ...), which are
neither LiteRT builtins nor ONNX ops; a strings-in model is exported for TF
Serving with `keras_ctxmem.export.export_saved_model`.

LiteRT artifacts use builtin ops only, so they run on a stock interpreter
(`tf.lite.Interpreter` or `ai_edge_litert.interpreter.Interpreter`): the
tensorflow pip package ships no Flex (select TF ops) delegate. ONNX needs the
optional extra: `pip install "keras-ctxmem[onnx]"` (tf2onnx, onnxruntime).

Example:
```python
from keras_ctxmem.export_formats import export_litert, export_onnx
export_onnx(model, "model.onnx")
export_litert(lstm_model, "lstm.tflite", batch_size=1, sequence_length=64)
```
"""

import os

import keras
import tensorflow as tf

# The families LiteRT converts only with a fixed batch size and sequence length.
_LITERT_STATIC_ONLY = {
    "LSTMClassifier": (
        "its LSTM loop becomes `TensorListReserve` ops LiteRT's builtins cannot run"
    ),
    "AttentiveLSTMClassifier": (
        "its LSTM loop becomes `TensorListReserve` ops LiteRT's builtins cannot run"
    ),
    "MultimodalFusionClassifier": (
        "XNNPack fails to prepare its reshapes (patches and attention heads)"
    ),
}


def _family(model):
    """The zoo class name of `model` (its first registered zoo base class)."""
    names = [cls.__name__ for cls in type(model).__mro__]
    for name in _LITERT_STATIC_ONLY:
        if name in names:
            return name
    return type(model).__name__


def _check_litert_quantization(model, family):
    quantized = [
        layer.name
        for layer in model._flatten_layers()
        if isinstance(layer, keras.layers.EinsumDense)
        and getattr(layer, "quantization_mode", None)
    ]
    if quantized:
        raise ValueError(
            f"LiteRT export of a quantized {family} is not supported: its "
            f"quantized `EinsumDense` layers ({', '.join(quantized[:2])}, ...) "
            "convert to a `tfl.squeeze` the LiteRT converter rejects "
            "(`squeeze_dims` constraint). Export the float32 model, or the "
            "quantized one with `export_onnx` or `export_saved_model`."
        )


def _input_signature(model, batch_size, sequence_length):
    def spec(tensor):
        shape = list(tensor.shape)
        shape[0] = batch_size
        if tensor.name == "token_ids" or (
            not isinstance(model.input, dict) and len(shape) == 2
        ):
            shape[1] = sequence_length
        return tf.TensorSpec(shape, tensor.dtype, name=tensor.name)

    return [keras.tree.map_structure(spec, model.input)]


def export_litert(model, path, batch_size=None, sequence_length=None):
    """Writes a LiteRT flatbuffer (`.tflite`) of `model`, builtin ops only.

    Args:
        model: a zoo model (token ids in, logits out).
        path: the file to write; must end with `.tflite`.
        batch_size: a fixed batch size, or `None` for any.
        sequence_length: a fixed number of token ids, or `None` for any. The
            LSTM families need both fixed: right-pad the ids to that length (the
            padding does not change the output).

    Returns:
        `path`.
    """
    family = _family(model)
    if family in _LITERT_STATIC_ONLY and (
        batch_size is None or sequence_length is None
    ):
        raise ValueError(
            f"LiteRT export of {family} needs a fixed `batch_size` and "
            f"`sequence_length`: with a dynamic shape {_LITERT_STATIC_ONLY[family]}. "
            "Pass e.g. `batch_size=1, sequence_length=128` and right-pad the token "
            "ids to that length."
        )
    path = os.fspath(path)
    if not path.endswith(".tflite"):
        raise ValueError(f"A LiteRT file name must end with '.tflite'. Got: {path}")
    _check_litert_quantization(model, family)
    signature = _input_signature(model, batch_size, sequence_length)
    try:
        model.export(
            path,
            format="litert",
            input_signature=signature,
            verbose=False,
            target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]},
        )
    except Exception as error:  # The converter's errors are long MLIR dumps.
        ops = [line for line in str(error).splitlines() if "TF Select ops" in line]
        raise ValueError(
            f"LiteRT export of {family} failed: the model uses ops that are no "
            f"LiteRT builtins. {' '.join(ops)}"
        ) from error
    return path


_ERFC_REGISTERED = False


def _register_erfc():
    """Teaches tf2onnx `Erfc` (exact GELU in TF) as `1 - Erf(x)`.

    tf2onnx 1.17 has no handler for it and leaves an `Erfc` node, which is no
    ONNX op: onnxruntime then refuses the graph.
    """
    global _ERFC_REGISTERED
    if _ERFC_REGISTERED:
        return
    import numpy as np
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    @tf_op("Erfc")
    class Erfc:
        @classmethod
        def version_9(cls, ctx, node, **kwargs):
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
            one = ctx.make_const(utils.make_name("erfc_one"), np.array(1, dtype))
            erf = ctx.make_node("Erf", [node.input[0]], op_name_scope=node.name)
            ctx.replace_inputs(node, [one.output[0], erf.output[0]])
            node.type = "Sub"

    _ERFC_REGISTERED = True


def export_onnx(model, path, batch_size=None, sequence_length=None, opset=None):
    """Writes an ONNX model of `model` (via tf2onnx).

    Args:
        model: a zoo model (token ids in, logits out).
        path: the file to write, e.g. `model.onnx`.
        batch_size: a fixed batch size, or `None` for any.
        sequence_length: a fixed number of token ids, or `None` for any.
        opset: the ONNX opset; tf2onnx's default when `None`.

    Returns:
        `path`.
    """
    try:
        import tf2onnx  # noqa: F401
    except ImportError:
        raise ImportError(
            "ONNX export needs tf2onnx (and onnxruntime to run the result): "
            'pip install "keras-ctxmem[onnx]"'
        ) from None
    _register_erfc()
    path = os.fspath(path)
    # An explicit signature: Keras refuses to infer one for a model never called.
    signature = _input_signature(model, batch_size, sequence_length)
    model.export(
        path,
        format="onnx",
        input_signature=signature,
        opset_version=opset,
        verbose=False,
    )
    return path
