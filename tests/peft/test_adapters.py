import keras
import numpy as np

from keras_ctxmem import peft
from keras_ctxmem.peft.adapters import Adapter
from keras_ctxmem.zoo import TransformerClassifier
from tests.helpers import assert_allclose, assert_config_round_trip, marker_task


def test_adapter_layer_starts_as_the_identity():
    x = np.random.default_rng(0).normal(size=(2, 5, 16)).astype("float32")
    adapter = Adapter(bottleneck_dim=4)
    assert_allclose(adapter(x), x, atol=0)
    adapter.up.kernel.assign(np.ones((4, 16)))
    assert np.abs(keras.ops.convert_to_numpy(adapter(x)) - x).max() > 1e-3
    assert_config_round_trip(Adapter(bottleneck_dim=4, activation="relu"), x)


def test_adapters_start_at_the_base_model_and_alone_train(base_preset):
    x, y = marker_task(128, vocabulary_size=50)
    base = TransformerClassifier.from_preset(base_preset, num_classes=2, dropout=0.0)
    model = TransformerClassifier.from_preset(base_preset, num_classes=2, dropout=0.0)
    model.head.set_weights(base.head.get_weights())
    paths = peft.enable_adapters(model, bottleneck_dim=4)
    assert paths == [
        f"backbone/encoder_block_{i}/{layer}/adapter"
        for i in range(2)
        for layer in ("self_attention_layer", "feedforward_output_dense")
    ]
    # The up-projections start at zero: exactly the base model's outputs.
    assert_allclose(model.predict(x, verbose=0), base.predict(x, verbose=0), atol=0)

    hidden, bottleneck = 32, 4
    per_adapter = hidden * bottleneck + bottleneck + bottleneck * hidden + hidden
    head = hidden * 2 + 2
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert trainable == 4 * per_adapter + head
    assert model.count_params() == base.count_params() + 4 * per_adapter

    frozen = [v.numpy().copy() for v in model.backbone.non_trainable_weights]
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(x, y, epochs=5, batch_size=32, verbose=0).history["loss"]
    assert history[-1] < 0.8 * history[0], history
    for value, variable in zip(
        frozen, model.backbone.non_trainable_weights, strict=True
    ):
        np.testing.assert_array_equal(value, variable.numpy())
