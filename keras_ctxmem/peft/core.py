"""What the three PEFT methods share: the frozen body and the head of a task,
layer paths, method hooks, and the weights file.

A zoo task is a *body* (a Transformer task's `backbone`; for a model without
one, every layer but its `head`) and a *head* (the task's other weights). A
method adds new weights to layers of the body and freezes the rest of it; the
head stays trainable. `save_peft_weights` writes the new weights and the head,
each under its layer path (`backbone/encoder_block_0/self_attention_layer/
prefix_key`, `head/logits/kernel`), with the method and its settings, so that
the pre-trained body, the same `enable_*` call and the file give back the
trained model.
"""

import functools
import json

import keras
import numpy as np

METADATA_KEY = "__peft__"
FILE_FORMAT = 1
# name -> function(model) -> (settings, [variables]) or None when not enabled.
METHODS = {}


def register_method(name, collect):
    """Makes a method known to `enabled_method` and the weights file."""
    METHODS[name] = collect


def named_layers(layer, prefix=""):
    """Yields `(path, layer)` for every layer under `layer`, depth first; a path
    joins the layer names from `layer` down (`encoder_block_0/.../query`)."""
    for child in layer._flatten_layers(include_self=False, recursive=False):
        path = f"{prefix}{child.name}"
        yield path, child
        yield from named_layers(child, path + "/")


def body_roots(model):
    """`[(path, layer)]`: the task's frozen part. A `backbone` is called
    `backbone` whatever its name; without one, every layer but the `head`."""
    backbone = getattr(model, "backbone", None)
    if isinstance(backbone, keras.layers.Layer):
        return [("backbone", backbone)]
    head = getattr(model, "head", None)
    if not isinstance(head, keras.layers.Layer):
        raise ValueError(
            f"{type(model).__name__} has neither a `backbone` nor a `head`: "
            "parameter-efficient fine-tuning applies to the zoo's Transformer "
            "tasks (TransformerClassifier, TransformerTokenClassifier, "
            "TransformerMaskedLM, MemoryTransformer)."
        )
    return [
        (layer.name, layer)
        for layer in model._flatten_layers(include_self=False, recursive=False)
        if layer is not head and layer.weights
    ]


def body_layers(model):
    """`(path, layer)` for every layer of the body, roots included; a layer
    reachable by two paths (an RNN's cell) comes once, by the first."""
    seen = set()
    for root_path, root in body_roots(model):
        for path, layer in [(root_path, root), *named_layers(root, root_path + "/")]:
            if id(layer) not in seen:
                seen.add(id(layer))
                yield path, layer


def _keyed(pairs, variables):
    """`{layer_path/variable_name: variable}` for `variables`, each named by
    the first path in `pairs` of the layer that owns it."""
    wanted = {id(v): v for v in variables}
    keys = {}
    for path, layer in pairs:
        for variable in layer._trainable_variables + layer._non_trainable_variables:
            if id(variable) in wanted:
                keys.setdefault(id(variable), f"{path}/{variable.name}")
    by_key = {}
    for identity, key in keys.items():
        if key in by_key:
            raise ValueError(f"Two weights share the path {key}: name the layers.")
        by_key[key] = wanted[identity]
    return dict(sorted(by_key.items()))


def head_weights(model):
    """`{path: variable}` of the task's weights outside the body."""
    body = {id(v) for _, root in body_roots(model) for v in root.weights}
    head = [v for v in model.weights if id(v) not in body]
    return _keyed(named_layers(model), head)


def freeze_body(model):
    """Freezes every layer of the body (the head is left as it is)."""
    for _, root in body_roots(model):
        root.trainable = True  # a frozen root would hide its new weights
        for variable in root._trainable_variables:  # its own (an Embedding's)
            variable.trainable = False
        for _, layer in named_layers(root):
            layer.trainable = False


def enabled_method(model):
    """`(name, settings, {path: variable})` of the method enabled on `model`,
    or None."""
    for name, collect in METHODS.items():
        found = collect(model)
        if found is not None:
            settings, variables = found
            return name, settings, _keyed(body_layers(model), variables)
    return None


def check_not_enabled(model):
    found = enabled_method(model)
    if found is not None:
        raise ValueError(
            f"{found[0]} is already enabled on this model ({found[1]}); build a "
            "fresh model to use another method or other settings."
        )


def wrap_method(layer, name, wrapper):
    """Replaces `layer.<name>` on this instance by `wrapper(original, ...)`.

    Functional models call their layers again at every call, so a wrapped
    `call` (or `_compute_attention`) takes effect in a model already built.
    """
    original = getattr(layer, name)

    @functools.wraps(original)
    def wrapped(*args, **kwargs):
        return wrapper(original, *args, **kwargs)

    object.__setattr__(layer, name, wrapped)


def add_state(layer, make_state):
    """Sets the sublayers or variables `make_state()` returns (`{attribute:
    value}`) on a built layer: Keras locks a layer's state after `build`, and
    LoRA unlocks it the same way."""
    layer._tracker.unlock()
    try:
        for name, value in make_state().items():
            setattr(layer, name, value)
    finally:
        layer._tracker.lock()


def trainable_share(model):
    """Trainable parameters as a fraction of all parameters."""
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    return trainable / model.count_params()


def save_peft_weights(model, path, method=None):
    """Writes the enabled method's weights and the head's weights to an `.npz`
    file, keyed by layer path, with the method and its settings."""
    found = enabled_method(model)
    if found is None or (method is not None and found[0] != method):
        raise ValueError(
            f"This model has no {method or 'parameter-efficient'} weights: call "
            f"`enable_{method or '<method>'}` first."
        )
    name, settings, variables = found
    arrays = {
        key: keras.ops.convert_to_numpy(v)
        for key, v in {**variables, **head_weights(model)}.items()
    }
    metadata = {"format": FILE_FORMAT, "method": name, "settings": settings}
    arrays[METADATA_KEY] = np.array(json.dumps(metadata))
    with open(path, "wb") as f:  # np.savez would append ".npz" to other names
        np.savez(f, **arrays)


def load_peft_weights(model, path, method=None):
    """Restores weights saved by `save_peft_weights` into a model with the same
    method enabled with the same settings, matching them by layer path.

    Raises a ValueError naming the method, the settings, or the paths that are
    missing, unexpected or of the wrong shape; nothing is assigned unless
    everything matches. Returns the file's metadata.
    """
    with np.load(path, allow_pickle=False) as stored:
        arrays = dict(stored)
    if METADATA_KEY not in arrays:
        raise ValueError(
            f"{path} is not a parameter-efficient weights file (no '{METADATA_KEY}' "
            "entry); files written by `save_lora_weights` before the head was "
            "saved with the adapters load with `load_lora_weights`."
        )
    metadata = json.loads(str(arrays.pop(METADATA_KEY)))
    found = enabled_method(model)
    saved = f"{metadata['method']} ({metadata['settings']})"
    if found is None:
        raise ValueError(
            f"{path} holds {saved} weights, but this model has no method enabled: "
            f"call `enable_{metadata['method']}` with these settings first."
        )
    name, settings, variables = found
    if method is not None and metadata["method"] != method:
        raise ValueError(f"{path} holds {saved} weights, not {method} weights.")
    if name != metadata["method"]:
        raise ValueError(
            f"{path} holds {saved} weights; this model has {name} enabled."
        )
    expected = {**variables, **head_weights(model)}
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(set(arrays) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"The {name} weights in {path} do not fit this model. Missing: "
            f"{missing or 'none'}. Unexpected: {unexpected or 'none'}. Saved with "
            f"{metadata['settings']}; this model has {settings}."
        )
    wrong_shapes = [
        f"{key}: saved {arrays[key].shape}, model {tuple(variable.shape)}"
        for key, variable in expected.items()
        if arrays[key].shape != tuple(variable.shape)
    ]
    if wrong_shapes:
        raise ValueError(
            f"The {name} weights in {path} have other shapes (another rank, "
            "bottleneck or prefix length, or another number of classes? Saved "
            f"with {metadata['settings']}; this model has {settings}): "
            + "; ".join(wrong_shapes)
        )
    for key, variable in expected.items():
        variable.assign(arrays[key])
    return metadata
