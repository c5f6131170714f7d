"""LoRA (Hu et al. 2021) for the zoo's Transformer tasks.

`enable_lora` switches on Keras' own LoRA (`EinsumDense.enable_lora`) in the
attention projections of the task's body and freezes the rest of it; the
task's head stays trainable. `save_lora_weights` writes the adapters and the
head, each under its layer path (`backbone/encoder_block_1/self_attention_layer/
query/lora_kernel_a`, `head/logits/kernel`), and `load_lora_weights` restores
them by that path, so a file never lands on the wrong layer (keras-hub restores
adapters by position: keras-hub issue #2701). `merge_lora` gives a plain model
with the adapters folded into the kernels, for export.

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
import warnings

import numpy as np

from keras_ctxmem.peft.core import (
    METADATA_KEY,
    body_layers,
    check_not_enabled,
    freeze_body,
    load_peft_weights,
    named_layers,
    register_method,
    save_peft_weights,
    trainable_share,
)
from keras_ctxmem.zoo.zoo_model import check_sizes, load_weights_only

__all__ = [
    "DEFAULT_TARGETS",
    "LORA_VARIABLES",
    "enable_lora",
    "load_lora_weights",
    "lora_layers",
    "merge_lora",
    "named_layers",
    "save_lora_weights",
    "trainable_share",
]

DEFAULT_TARGETS = ("query", "value")
LORA_VARIABLES = ("lora_kernel_a", "lora_kernel_b")


def lora_layers(model):
    """`{path: layer}` of the layers of the task's body with LoRA enabled."""
    return {
        path: layer
        for path, layer in body_layers(model)
        if getattr(layer, "lora_enabled", False)
    }


def _collect(model):
    layers = lora_layers(model)
    if not layers:
        return None
    first = next(iter(layers.values()))
    settings = {
        "rank": first.lora_rank,
        "alpha": first.lora_alpha,
        "targets": sorted({layer.name for layer in layers.values()}),
    }
    variables = [getattr(layer, n) for layer in layers.values() for n in LORA_VARIABLES]
    return settings, variables


register_method("lora", _collect)


def enable_lora(model, rank=8, alpha=None, targets=DEFAULT_TARGETS):
    """Adds rank-`rank` adapters to the attention projections named in `targets`
    (`"query"`, `"key"`, `"value"`, `"attention_output"`) and freezes everything
    else in the body, the adapted layers' own kernels and biases included.
    Compile after enabling. Returns the paths of the adapted layers.
    """
    check_sizes(rank=rank)
    check_not_enabled(model)
    adapted = [
        (path, layer)
        for path, layer in body_layers(model)
        if layer.name in targets and hasattr(layer, "enable_lora")
    ]
    if not adapted:
        raise ValueError(f"No layer of the body is named one of {tuple(targets)}.")
    freeze_body(model)
    for _, layer in adapted:
        layer.trainable = True
        layer.enable_lora(rank, lora_alpha=alpha)  # freezes the kernel
        if layer.bias is not None:
            layer.bias.trainable = False
    return [path for path, _ in adapted]


def save_lora_weights(model, path):
    """Writes the adapters and the head's weights to an `.npz` file, keyed by
    layer path (see `keras_ctxmem.peft.save_peft_weights`)."""
    if not lora_layers(model):
        raise ValueError("This model has no LoRA adapters: call `enable_lora` first.")
    save_peft_weights(model, path, method="lora")


def load_lora_weights(model, path):
    """Restores a file of `save_lora_weights` into a model with LoRA enabled at
    the same layers with the same rank: adapters and head, by layer path.

    Raises a ValueError naming what does not fit; nothing is assigned unless
    everything matches. A file from before the head was saved with the
    adapters restores the adapters alone, with a warning.
    """
    with np.load(path, allow_pickle=False) as stored:
        if METADATA_KEY in stored:
            return load_peft_weights(model, path, method="lora")
        arrays = dict(stored)
    return _load_adapters_only(model, path, arrays)


def _load_adapters_only(model, path, arrays):
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
    warnings.warn(
        f"{path} holds LoRA adapters without the task's head (an older file): "
        "the head was not restored.",
        stacklevel=3,
    )


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
        load_weights_only(merged, weights)  # not the trained optimizer's state
    return merged
