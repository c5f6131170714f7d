"""Bottleneck adapters (Houlsby et al. 2019) for the zoo's Transformer tasks.

`enable_adapters` puts an `Adapter` (down-projection to `bottleneck_dim`,
nonlinearity, up-projection, residual) on the output of the self-attention
layer and of the feed-forward output layer of every encoder block, before the
block's residual connection, and freezes the rest of the body; the head stays
trainable. The up-projection starts at zero, so an adapted model starts with
exactly the outputs of the model it adapts. Adapters cannot be folded into the
kernels (the nonlinearity is in between): an adapted model is exported as it is
(`keras_ctxmem.export.export_saved_model`).

Example:
```python
from keras_ctxmem import peft
from keras_ctxmem.zoo import TransformerClassifier
model = TransformerClassifier.from_preset("runs/pretrained", num_classes=2)
peft.enable_adapters(model, bottleneck_dim=16)
model.compile()
model.fit(texts, labels)
peft.save_adapter_weights(model, "runs/sst2.adapters.npz")  # adapters + head
```
"""

import keras

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

# (self-attention, feed-forward output) attributes of the zoo's encoder blocks:
# keras-hub's TransformerEncoder (and ours, its subclass) and RotaryEncoderBlock.
BLOCK_LAYOUTS = (
    ("_self_attention_layer", "_feedforward_output_dense"),
    ("attention", "feed_forward_outer"),
)


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class Adapter(keras.layers.Layer):
    """`x + up(activation(down(x)))`, a bottleneck of `bottleneck_dim` units
    whose up-projection starts at zero (the identity at initialisation).

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.peft.adapters import Adapter
    x = np.random.rand(2, 5, 16).astype("float32")
    y = Adapter(bottleneck_dim=4)(x)  # equals x until trained
    ```
    """

    def __init__(self, bottleneck_dim, activation="gelu", **kwargs):
        super().__init__(**kwargs)
        check_sizes(bottleneck_dim=bottleneck_dim)
        self.bottleneck_dim = bottleneck_dim
        self.activation = keras.activations.get(activation)
        self.supports_masking = True

    def build(self, input_shape):
        self.down = keras.layers.Dense(
            self.bottleneck_dim,
            activation=self.activation,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            dtype=self.dtype_policy,
            name="down",
        )
        self.up = keras.layers.Dense(
            input_shape[-1],
            kernel_initializer="zeros",
            dtype=self.dtype_policy,
            name="up",
        )
        self.down.build(input_shape)
        self.up.build((*input_shape[:-1], self.bottleneck_dim))

    def call(self, inputs):
        return inputs + self.up(self.down(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "bottleneck_dim": self.bottleneck_dim,
                "activation": keras.activations.serialize(self.activation),
            }
        )
        return config


def encoder_blocks(model):
    """`[(path, attention, feed_forward_output)]` of the encoder blocks of the
    task's body."""
    blocks = []
    for path, layer in body_layers(model):
        for attention, feed_forward in BLOCK_LAYOUTS:
            attention = getattr(layer, attention, None)
            feed_forward = getattr(layer, feed_forward, None)
            if isinstance(attention, keras.layers.MultiHeadAttention) and isinstance(
                feed_forward, keras.layers.Dense
            ):
                blocks.append((path, attention, feed_forward))
    return blocks


def adapter_layers(model):
    """`{path: adapter}` of the adapters in the task's body."""
    return {
        path: layer for path, layer in body_layers(model) if isinstance(layer, Adapter)
    }


def _collect(model):
    adapters = adapter_layers(model)
    if not adapters:
        return None
    first = next(iter(adapters.values()))
    settings = {
        "bottleneck_dim": first.bottleneck_dim,
        "activation": keras.activations.serialize(first.activation),
    }
    return settings, [v for layer in adapters.values() for v in layer.weights]


register_method("adapters", _collect)


def _add_adapter(layer, hidden_dim, bottleneck_dim, activation):
    adapter = Adapter(
        bottleneck_dim, activation, dtype=layer.dtype_policy, name="adapter"
    )
    adapter.build((None, hidden_dim))
    add_state(layer, lambda: {"adapter": adapter})

    def call(original, *args, **kwargs):
        outputs = original(*args, **kwargs)
        if isinstance(outputs, tuple):  # (outputs, attention scores)
            return (adapter(outputs[0]), *outputs[1:])
        return adapter(outputs)

    wrap_method(layer, "call", call)


def enable_adapters(model, bottleneck_dim=16, activation="gelu"):
    """Adds an adapter after the self-attention and after the feed-forward
    layers of every encoder block of the task's body and freezes the rest of
    the body. Compile after enabling. Returns the paths of the adapters.
    """
    check_sizes(bottleneck_dim=bottleneck_dim)
    check_not_enabled(model)
    blocks = encoder_blocks(model)
    if not blocks:
        raise ValueError(
            f"{type(model).__name__} has no encoder blocks adapters know (a "
            "self-attention and a feed-forward output layer)."
        )
    freeze_body(model)
    for _, attention, feed_forward in blocks:
        hidden_dim = feed_forward.kernel.shape[-1]
        for layer in (attention, feed_forward):
            _add_adapter(layer, hidden_dim, bottleneck_dim, activation)
    return list(adapter_layers(model))


def save_adapter_weights(model, path):
    """Writes the adapters and the head's weights, keyed by layer path."""
    save_peft_weights(model, path, method="adapters")


def load_adapter_weights(model, path):
    """Restores a file of `save_adapter_weights` into a model with adapters of
    the same size enabled; raises a ValueError naming what does not fit."""
    return load_peft_weights(model, path, method="adapters")
