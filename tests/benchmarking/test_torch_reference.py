"""The PyTorch reference computes what the zoo model computes: the Keras
weights copied into it give the same logits, and its two LSTM input variants
agree. Needs PyTorch (`pip install '.[bench]'`); skipped without it."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from keras_ctxmem.benchmarking import torch_reference  # noqa: E402
from keras_ctxmem.zoo import create_model  # noqa: E402

LSTM_CONFIG = dict(vocabulary_size=50, embedding_dim=8, hidden_dim=6, num_layers=2)
TRANSFORMER_CONFIG = dict(
    vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16
)


def _token_ids():
    """Rows of different lengths, right-padded with 0."""
    rng = np.random.default_rng(0)
    token_ids = rng.integers(1, 50, (4, 9)).astype("int32")
    for row, length in enumerate([9, 5, 1, 7]):
        token_ids[row, length:] = 0
    return token_ids


def _set(parameter, value):
    with torch.no_grad():
        parameter.copy_(torch.from_numpy(np.asarray(value, dtype="float32")))


def _copy_lstm(keras_lstm, torch_lstm):
    kernel, recurrent_kernel, bias = keras_lstm.get_weights()
    # Both order the gates input, forget, cell, output; PyTorch stores W^T.
    _set(torch_lstm.weight_ih_l0, kernel.T)
    _set(torch_lstm.weight_hh_l0, recurrent_kernel.T)
    _set(torch_lstm.bias_ih_l0, bias)


def _copy_lstm_model(model, module):
    backbone = model.backbone
    _set(module.encoder.embedding.weight, backbone.embedding.get_weights()[0])
    for keras_lstm, directions in zip(
        backbone.lstm_layers, module.encoder.lstms, strict=True
    ):
        _copy_lstm(keras_lstm.forward_layer, directions[0])
        _copy_lstm(keras_lstm.backward_layer, directions[1])


def _copy_dense(keras_layer, linear):
    """A Keras `Dense` (or `LayerNormalization`) into its PyTorch counterpart."""
    weight, bias = keras_layer.get_weights()
    _set(linear.weight, weight.T if weight.ndim == 2 else weight)
    _set(linear.bias, bias)


def _logits(module, token_ids):
    module.eval()
    with torch.no_grad():
        return module(torch.from_numpy(token_ids).long()).numpy()


def _assert_same_logits(module, model, atol):
    """The head copied last, then the same logits on rows of every length."""
    _copy_dense(model.head._dense, module.head)
    token_ids = _token_ids()
    np.testing.assert_allclose(
        _logits(module, token_ids), model.predict(token_ids, verbose=0), atol=atol
    )


@pytest.mark.parametrize("family", ["lstm", "attentive_lstm"])
def test_the_packed_and_padded_lstm_variants_agree(family):
    torch.manual_seed(0)
    modules = {
        variant: torch_reference.FAMILY_MODULES[family](**LSTM_CONFIG, variant=variant)
        for variant in torch_reference.LSTM_VARIANTS
    }
    padded, packed = modules["padded"], modules["packed"]
    # The packed module's bidirectional weights, one direction per padded LSTM.
    source = dict(packed.named_parameters())
    for name, parameter in padded.named_parameters():
        if ".lstms." in name:  # encoder.lstms.{layer}.{direction}.{weight}_l0
            _, _, layer, direction, weight = name.split(".")
            suffix = "_reverse" if direction == "1" else ""
            name = f"encoder.lstms.{layer}.{weight[:-3]}_l0{suffix}"
        _set(parameter, source[name].detach().numpy())
    token_ids = _token_ids()
    np.testing.assert_allclose(
        _logits(padded, token_ids), _logits(packed, token_ids), atol=1e-5
    )


@pytest.mark.parametrize("preset", ["lstm_tiny", "attentive_lstm_tiny"])
def test_the_lstm_reference_computes_the_keras_model(preset):
    model = create_model(preset, **LSTM_CONFIG, num_classes=3)
    family = "lstm" if preset == "lstm_tiny" else "attentive_lstm"
    config = dict(LSTM_CONFIG)
    if family == "attentive_lstm":
        config["attention_dim"] = model.attention_dim
    module = torch_reference.FAMILY_MODULES[family](
        **config, num_classes=3, variant="padded"
    )
    assert torch_reference.count_params(module) == model.count_params()
    _copy_lstm_model(model, module)
    if family == "attentive_lstm":
        _copy_dense(model.attention_pooling.projection, module.projection)
        _set(module.score.weight, model.attention_pooling.score.get_weights()[0].T)
    _assert_same_logits(module, model, atol=1e-5)


def test_the_transformer_reference_computes_the_keras_model():
    model = create_model("transformer_tiny", **TRANSFORMER_CONFIG, num_classes=3)
    module = torch_reference.TorchTransformerClassifier(
        **TRANSFORMER_CONFIG,
        max_sequence_length=model.backbone.max_sequence_length,
        num_classes=3,
    )
    assert torch_reference.count_params(module) == model.count_params()
    backbone, hidden = model.backbone, TRANSFORMER_CONFIG["hidden_dim"]
    embedding = backbone.embedding
    _set(module.token_embedding.weight, embedding.token_embedding.get_weights()[0])
    _set(
        module.position_embedding.weight,
        embedding.position_embedding.get_weights()[0],
    )
    for block, layer in zip(backbone.encoder_blocks, module.blocks, strict=True):
        attention = block._self_attention_layer
        projections = [
            attention.query_dense,
            attention.key_dense,
            attention.value_dense,
        ]
        kernels = [p.get_weights()[0].reshape(hidden, hidden).T for p in projections]
        biases = [p.get_weights()[1].reshape(hidden) for p in projections]
        _set(layer.self_attn.in_proj_weight, np.concatenate(kernels))
        _set(layer.self_attn.in_proj_bias, np.concatenate(biases))
        kernel, bias = attention.output_dense.get_weights()
        _set(layer.self_attn.out_proj.weight, kernel.reshape(hidden, hidden).T)
        _set(layer.self_attn.out_proj.bias, bias)
        _copy_dense(block._self_attention_layer_norm, layer.norm1)
        _copy_dense(block._feedforward_layer_norm, layer.norm2)
        _copy_dense(block._feedforward_intermediate_dense, layer.linear1)
        _copy_dense(block._feedforward_output_dense, layer.linear2)
    _copy_dense(backbone.final_norm, module.final_norm)
    _assert_same_logits(module, model, atol=1e-4)


def test_the_transformer_reference_drops_where_keras_hub_drops():
    layer = torch_reference.keras_hub_encoder_layer(8, 2, 16, dropout=0.5)
    dropouts = {
        name for name, m in layer.named_modules() if isinstance(m, torch.nn.Dropout)
    }
    # Attention probabilities, after attention, after the feed-forward block.
    assert dropouts == {"dropout1", "dropout2"}
    assert layer.self_attn.dropout == 0.5
