"""Prefix-tuning (Li & Liang 2021) for the zoo's Transformer tasks.

`enable_prefix` gives every self-attention layer of the task's body
`prefix_length` trainable key vectors and value vectors per head (in the
projected key/value space), prepended to the keys and values the layer
computes, and freezes the rest of the body; the head stays trainable. The
prefix positions are always attended to: padding masks (and any attention
mask) are widened by `prefix_length` positions that are never masked, so
padding changes nothing at real positions. Li & Liang's reparametrisation (an
MLP that produces the prefix during training) is left out.

At initialisation the values are zero and the keys small (normal, stddev
0.02): the prefix adds nothing to each head's output but takes a share of its
attention weight, so the adapted model starts close to, not equal to, the
model it adapts (the keys differ, or the prefix positions would train alike).
A prefix cannot be folded into the kernels: an adapted model is exported as it
is (`keras_ctxmem.export.export_saved_model`).

Example:
```python
from keras_ctxmem import peft
from keras_ctxmem.zoo import TransformerClassifier
model = TransformerClassifier.from_preset("runs/pretrained", num_classes=2)
peft.enable_prefix(model, prefix_length=10)
model.compile()
model.fit(texts, labels)
peft.save_prefix_weights(model, "runs/sst2.prefix.npz")  # prefix + head
```
"""

import keras
from keras import ops

from keras_ctxmem.peft.adapters import encoder_blocks
from keras_ctxmem.peft.core import (
    add_state,
    body_layers,
    check_not_enabled,
    freeze_body,
    load_peft_weights,
    register_method,
    save_peft_weights,
    wrap_method,
)
from keras_ctxmem.zoo.zoo_model import check_sizes

PREFIX_VARIABLES = ("prefix_key", "prefix_value")


def prefix_layers(model):
    """`{path: attention layer}` of the layers of the body with a prefix."""
    return {
        path: layer
        for path, layer in body_layers(model)
        if getattr(layer, "prefix_key", None) is not None
    }


def _collect(model):
    layers = prefix_layers(model)
    if not layers:
        return None
    first = next(iter(layers.values()))
    settings = {"prefix_length": int(first.prefix_key.shape[0])}
    return settings, [
        getattr(lay, n) for lay in layers.values() for n in PREFIX_VARIABLES
    ]


register_method("prefix", _collect)


def _with_prefix(prefix, projected):
    """`prefix` `(P, heads, dim)` in front of `projected` `(B, S, heads, dim)`."""
    batch = ops.shape(projected)[0]
    prefix = ops.cast(prefix, projected.dtype)
    prefix = ops.broadcast_to(prefix[None], (batch, *prefix.shape))
    return ops.concatenate([prefix, projected], axis=1)


def _add_prefix(attention, prefix_length):
    shape = (prefix_length, attention.num_heads)
    add_state(
        attention,
        lambda: {
            "prefix_key": attention.add_weight(
                name="prefix_key",
                shape=(*shape, attention.key_dim),
                initializer=keras.initializers.RandomNormal(stddev=0.02),
            ),
            "prefix_value": attention.add_weight(
                name="prefix_value",
                shape=(*shape, attention.value_dim or attention.key_dim),
                initializer="zeros",
            ),
        },
    )

    def compute_attention(
        original, query, key, value, attention_mask=None, *args, **kwargs
    ):
        if kwargs.get("use_causal_mask"):
            raise NotImplementedError("Prefix-tuning of causal attention.")
        key = _with_prefix(attention.prefix_key, key)
        value = _with_prefix(attention.prefix_value, value)
        if attention_mask is not None:
            attention_mask = ops.cast(attention_mask, "bool")
            always = ops.ones_like(attention_mask[..., :1])
            attention_mask = ops.concatenate(
                [ops.repeat(always, prefix_length, axis=-1), attention_mask], -1
            )
        return original(query, key, value, attention_mask, *args, **kwargs)

    # `add_weight` on a frozen layer makes frozen variables.
    attention.prefix_key.trainable = attention.prefix_value.trainable = True
    wrap_method(attention, "_compute_attention", compute_attention)


def enable_prefix(model, prefix_length=10):
    """Gives every self-attention layer of the body's encoder blocks a
    trainable prefix of `prefix_length` keys and values and freezes the rest
    of the body. Compile after enabling. Returns the paths of the layers.
    """
    check_sizes(prefix_length=prefix_length)
    check_not_enabled(model)
    blocks = encoder_blocks(model)
    if not blocks:
        raise ValueError(
            f"{type(model).__name__} has no encoder blocks with self-attention."
        )
    freeze_body(model)
    for _, attention, _ in blocks:
        _add_prefix(attention, prefix_length)
    return list(prefix_layers(model))


def save_prefix_weights(model, path):
    """Writes the prefixes and the head's weights, keyed by layer path."""
    save_peft_weights(model, path, method="prefix")


def load_prefix_weights(model, path):
    """Restores a file of `save_prefix_weights` into a model with prefixes of
    the same length enabled; raises a ValueError naming what does not fit."""
    return load_peft_weights(model, path, method="prefix")
