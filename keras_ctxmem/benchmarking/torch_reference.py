"""PyTorch references of the zoo's classifiers: same architecture, same size.

Each module mirrors one zoo family layer for layer, so that a training step of
the two frameworks does the same arithmetic:

- `TorchTransformerClassifier`: token + learned position embedding, dropout,
  pre-norm `nn.TransformerEncoderLayer` blocks (GELU, key padding mask), final
  LayerNorm, masked mean, dropout, linear head (keras-hub's
  `TokenAndPositionEmbedding` + `TransformerEncoder(normalize_first=True)`).
- `TorchLSTMClassifier`: embedding, (Bi)LSTM layers over packed sequences (the
  Keras mask), the final states concatenated, dropout, linear head.
- `TorchAttentiveLSTMClassifier`: embedding, (Bi)LSTM states, additive
  attention pooling `v^T tanh(W h_t + b)` over unpadded steps, linear head.

Keras' LSTM has one bias vector per gate; PyTorch's has two (`b_ih`, `b_hh`).
`keras_style_lstm` turns `b_hh` into a zero buffer, which keeps the arithmetic
the same and makes the parameter counts equal exactly.

`build_reference(preset, keras_model)` builds the reference of a preset and
checks its parameter count against `keras_model.count_params()`. This module
imports neither Keras nor TensorFlow at the top, so a PyTorch-only process
(`harness.py --torch-only`) measures PyTorch's memory alone.
"""

import torch
from torch import nn


def keras_style_lstm(lstm):
    """Makes an `nn.LSTM` use one bias per gate, as Keras does (b_hh = 0)."""
    for name in list(lstm._flat_weights_names):
        if name.startswith("bias_hh"):
            parameter = lstm._parameters.pop(name)
            lstm.register_buffer(name, torch.zeros_like(parameter.data))
    lstm._init_flat_weights()
    return lstm


class TorchTransformerClassifier(nn.Module):
    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        max_sequence_length=512,
        dropout=0.1,
        num_classes=2,
    ):
        super().__init__()
        self.token_embedding = nn.Embedding(vocabulary_size, hidden_dim)
        self.position_embedding = nn.Embedding(max_sequence_length, hidden_dim)
        self.embedding_dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                hidden_dim,
                num_heads,
                dim_feedforward=intermediate_dim,
                dropout=dropout,
                activation="gelu",
                layer_norm_eps=1e-5,
                batch_first=True,
                norm_first=True,
            )
            for _ in range(num_layers)
        )
        self.final_norm = nn.LayerNorm(hidden_dim, eps=1e-5)
        self.head_dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_dim, num_classes)

    def forward(self, token_ids):
        mask = token_ids != 0
        positions = torch.arange(token_ids.shape[1], device=token_ids.device)
        x = self.token_embedding(token_ids) + self.position_embedding(positions)
        x = self.embedding_dropout(x)
        for block in self.blocks:
            x = block(x, src_key_padding_mask=~mask)
        x = self.final_norm(x)
        weights = mask.to(x.dtype).unsqueeze(-1)
        pooled = (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return self.head(self.head_dropout(pooled)).float()


class _LSTMEncoder(nn.Module):
    """Masked embedding and (Bi)LSTM layers, Keras-style input dropout."""

    def __init__(
        self, vocabulary_size, embedding_dim, hidden_dim, num_layers, bidirectional
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary_size, embedding_dim)
        directions = 2 if bidirectional else 1
        self.lstms = nn.ModuleList(
            keras_style_lstm(
                nn.LSTM(
                    embedding_dim if i == 0 else directions * hidden_dim,
                    hidden_dim,
                    batch_first=True,
                    bidirectional=bidirectional,
                )
            )
            for i in range(num_layers)
        )

    def forward(self, token_ids, dropout):
        lengths = (token_ids != 0).sum(1).clamp(min=1).cpu()
        x = self.embedding(token_ids)
        final = None
        for lstm in self.lstms:
            packed = nn.utils.rnn.pack_padded_sequence(
                dropout(x), lengths, batch_first=True, enforce_sorted=False
            )
            outputs, (h_n, _) = lstm(packed)
            x, _ = nn.utils.rnn.pad_packed_sequence(
                outputs, batch_first=True, total_length=token_ids.shape[1]
            )
            final = h_n
        return x, final


class TorchLSTMClassifier(nn.Module):
    def __init__(
        self,
        vocabulary_size,
        embedding_dim=64,
        hidden_dim=64,
        num_layers=1,
        bidirectional=True,
        num_classes=2,
        dropout=0.1,
    ):
        super().__init__()
        self.encoder = _LSTMEncoder(
            vocabulary_size, embedding_dim, hidden_dim, num_layers, bidirectional
        )
        self.bidirectional = bidirectional
        self.dropout = nn.Dropout(dropout)
        directions = 2 if bidirectional else 1
        self.head = nn.Linear(directions * hidden_dim, num_classes)

    def forward(self, token_ids):
        _, h_n = self.encoder(token_ids, self.dropout)
        # h_n: (layers * directions, batch, hidden); the last layer's states.
        final = torch.cat([h_n[-2], h_n[-1]], -1) if self.bidirectional else h_n[-1]
        return self.head(self.dropout(final)).float()


class TorchAttentiveLSTMClassifier(nn.Module):
    def __init__(
        self,
        vocabulary_size,
        embedding_dim=64,
        hidden_dim=64,
        attention_dim=64,
        num_layers=1,
        bidirectional=True,
        num_classes=2,
        dropout=0.1,
    ):
        super().__init__()
        self.encoder = _LSTMEncoder(
            vocabulary_size, embedding_dim, hidden_dim, num_layers, bidirectional
        )
        features = (2 if bidirectional else 1) * hidden_dim
        self.dropout = nn.Dropout(dropout)
        self.projection = nn.Linear(features, attention_dim)
        self.score = nn.Linear(attention_dim, 1, bias=False)
        self.head = nn.Linear(features, num_classes)

    def forward(self, token_ids):
        mask = token_ids != 0
        states, _ = self.encoder(token_ids, self.dropout)
        logits = self.score(torch.tanh(self.projection(states))).squeeze(-1)
        logits = logits.float().masked_fill(~mask, float("-inf"))
        weights = torch.softmax(logits, -1).nan_to_num(0.0).to(states.dtype)
        pooled = (states * weights.unsqueeze(-1)).sum(1)
        return self.head(self.dropout(pooled)).float()


FAMILY_MODULES = {
    "transformer": TorchTransformerClassifier,
    "lstm": TorchLSTMClassifier,
    "attentive_lstm": TorchAttentiveLSTMClassifier,
}


def count_params(module):
    return sum(p.numel() for p in module.parameters())


def build_reference(preset, keras_model=None, num_classes=2, **overrides):
    """The PyTorch module of a zoo preset, its parameter count checked.

    Args:
        preset: a registered preset name, e.g. `"transformer_small"`.
        keras_model: the zoo model built from the same preset and overrides;
            when given, the parameter counts must be equal.
        num_classes: classes of the linear head.
        **overrides: configuration overrides, as for `from_preset`.
    """
    from keras_ctxmem.zoo.presets import get_preset

    entry = get_preset(preset)
    config = {**entry["config"], **overrides, "num_classes": num_classes}
    module = FAMILY_MODULES[entry["family"]](**config)
    if keras_model is not None:
        torch_count, keras_count = count_params(module), keras_model.count_params()
        if torch_count != keras_count:
            raise AssertionError(
                f"{preset}: PyTorch reference has {torch_count:,} parameters, "
                f"the Keras model {keras_count:,}."
            )
    return module
