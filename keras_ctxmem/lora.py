"""LoRA for the zoo's Transformer tasks, with adapters saved by layer path.

`enable_lora` switches on Keras' own LoRA (`EinsumDense.enable_lora`) in the
backbone's attention projections and freezes the rest of the backbone; the
task's head stays trainable. `save_lora_weights` writes only the adapters,
each under its layer path (`backbone/encoder_block_1/self_attention_layer/
query/lora_kernel_a`), and `load_lora_weights` restores them by that path, so a
file never lands on the wrong layer (keras-hub restores adapters by position:
keras-hub issue #2701). `merge_lora` gives a plain model with the adapters
folded into the kernels, for export.

Example:
```python
from keras_ctxmem import lora
from keras_ctxmem.zoo import TransformerClassifier
model = TransformerClassifier.from_preset("runs/pretrained", num_classes=2)
lora.enable_lora(model, rank=8)
model.compile()
model.fit(texts, labels)
lora.save_lora_weights(model, "runs/sst2.lora.npz")
served = lora.merge_lora(model)  # no adapters left; same outputs
```
"""

import os
import tempfile

import keras
import numpy as np

from keras_ctxmem.zoo.zoo_model import check_sizes

DEFAULT_TARGETS = ("query", "value")
LORA_VARIABLES = ("lora_kernel_a", "lora_kernel_b")


def named_layers(layer, prefix=""):
    """Yields `(path, layer)` for every layer under `layer`, depth first; a path
    joins the layer names from `layer` down (`encoder_block_0/.../query`)."""
    for child in layer._flatten_layers(include_self=False, recursive=False):
        path = f"{prefix}{child.name}"
        yield path, child
        yield from named_layers(child, path + "/")


def _backbone(model):
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        raise ValueError(
            f"{type(model).__name__} has no `backbone`: LoRA applies to the "
            "Transformer tasks (TransformerClassifier, TransformerTokenClassifier, "
            "TransformerMaskedLM)."
        )
    return backbone


def lora_layers(model):
    """`{path: layer}` of the layers of `model.backbone` with LoRA enabled."""
    return {
        f"backbone/{path}": layer
        for path, layer in named_layers(_backbone(model))
        if getattr(layer, "lora_enabled", False)
    }


def enable_lora(model, rank=8, alpha=None, targets=DEFAULT_TARGETS):
    """Adds rank-`rank` adapters to the attention projections named in `targets`
    (`"query"`, `"key"`, `"value"`, `"attention_output"`) and freezes everything
    else in the backbone, the adapted layers' own kernels and biases included.
    Compile after enabling. Returns the paths of the adapted layers.
    """
    check_sizes(rank=rank)
    backbone = _backbone(model)
    if lora_layers(model):
        raise ValueError("LoRA is already enabled on this model.")
    backbone.trainable = True
    adapted = []
    for path, layer in named_layers(backbone):
        layer.trainable = False
        if layer.name in targets and hasattr(layer, "enable_lora"):
            adapted.append((f"backbone/{path}", layer))
    if not adapted:
        raise ValueError(f"No layer of the backbone is named one of {tuple(targets)}.")
    for _, layer in adapted:
        layer.trainable = True
        layer.enable_lora(rank, lora_alpha=alpha)  # freezes the kernel
        if layer.bias is not None:
            layer.bias.trainable = False
    return [path for path, _ in adapted]


def trainable_share(model):
    """Trainable parameters as a fraction of all parameters."""
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    return trainable / model.count_params()


def save_lora_weights(model, path):
    """Writes the adapters alone to an `.npz` file, keyed by layer path."""
    layers = lora_layers(model)
    if not layers:
        raise ValueError("This model has no LoRA adapters: call `enable_lora` first.")
    arrays = {
        f"{layer_path}/{name}": keras.ops.convert_to_numpy(getattr(layer, name))
        for layer_path, layer in layers.items()
        for name in LORA_VARIABLES
    }
    with open(path, "wb") as f:  # np.savez would append ".npz" to other names
        np.savez(f, **arrays)


def load_lora_weights(model, path):
    """Restores adapters saved by `save_lora_weights` into a model with LoRA
    enabled at the same layers, matching them by layer path.

    Raises a ValueError naming the paths that are missing, unexpected, or of
    the wrong shape; nothing is assigned unless everything matches.
    """
    with np.load(path, allow_pickle=False) as stored:
        arrays = dict(stored)
    expected = {
        f"{layer_path}/{name}": getattr(layer, name)
        for layer_path, layer in lora_layers(model).items()
        for name in LORA_VARIABLES
    }
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(set(arrays) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"The LoRA weights in {path} do not fit this model. Missing: "
            f"{missing or 'none'}. Unexpected: {unexpected or 'none'}. Enable LoRA "
            "with the same rank and targets as the model they were saved from."
        )
    wrong_shapes = [
        f"{key}: saved {arrays[key].shape}, model {tuple(variable.shape)}"
        for key, variable in expected.items()
        if arrays[key].shape != tuple(variable.shape)
    ]
    if wrong_shapes:
        raise ValueError(
            f"The LoRA weights in {path} have other shapes (another rank?): "
            + "; ".join(wrong_shapes)
        )
    for key, variable in expected.items():
        variable.assign(arrays[key])


def merge_lora(model):
    """A new model of the same class without adapters, whose kernels are the
    adapted ones (`W + alpha / rank * A @ B`): same outputs, plain layers."""
    if not lora_layers(model):
        raise ValueError("This model has no LoRA adapters to merge.")
    config = {**model.get_config(), "preprocessor": model.preprocessor}
    merged = type(model).from_config(config)
    with tempfile.TemporaryDirectory() as directory:
        weights = os.path.join(directory, "merged.weights.h5")
        model.save_weights(weights)  # Keras folds the adapters into the kernels
        merged.load_weights(weights)
    return merged
