"""PyTorch references of the zoo's classifiers: same architecture, same size.

Each module mirrors one zoo family layer for layer, so that a training step of
the two frameworks does the same arithmetic:

- `TorchTransformerClassifier`: token + learned position embedding, dropout,
  pre-norm `nn.TransformerEncoderLayer` blocks (GELU, key padding mask), final
  LayerNorm, masked mean, dropout, linear head (keras-hub's
  `TokenAndPositionEmbedding` + `TransformerEncoder(normalize_first=True)`).
  The dropout placements are keras-hub's: on the attention probabilities,
  after the attention block and after the feed-forward block; PyTorch's layer
  also drops between its two feed-forward layers, which keras-hub does not,
  so that one is removed (`keras_hub_encoder_layer`).
- `TorchLSTMClassifier`: embedding, (Bi)LSTM layers, the final states
  concatenated, dropout, linear head.
- `TorchAttentiveLSTMClassifier`: embedding, (Bi)LSTM states, additive
  attention pooling `v^T tanh(W h_t + b)` over unpadded steps, linear head.

The LSTM modules take `variant`, the two ways a PyTorch user feeds padded
batches, both giving the Keras mask's outputs (the backward direction reads
each row's real tokens, last first):
- `"packed"`: `pack_padded_sequence` into one bidirectional `nn.LSTM`;
- `"padded"`: the padded batch into one `nn.LSTM` per direction, the backward
  one on each row's real tokens reversed (`reverse_each_row`), the final state
  read at each row's last real token.

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


def keras_hub_encoder_layer(hidden_dim, num_heads, intermediate_dim, dropout):
    """A pre-norm `nn.TransformerEncoderLayer` with keras-hub's dropouts."""
    layer = nn.TransformerEncoderLayer(
        hidden_dim,
        num_heads,
        dim_feedforward=intermediate_dim,
        dropout=dropout,
        activation="gelu",
        layer_norm_eps=1e-5,
        batch_first=True,
        norm_first=True,
    )
    # keras-hub's TransformerEncoder has no dropout between the two
    # feed-forward layers (PyTorch's `_ff_block` applies `self.dropout` there).
    layer.dropout = nn.Identity()
    return layer


def reverse_each_row(x, lengths):
    """Reverses the first `lengths[b]` steps of each row of `x` (batch, time, ...);
    the padding after them stays where it is. Its own inverse."""
    steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
    last = (lengths.to(x.device) - 1).unsqueeze(1)
    index = torch.where(steps <= last, last - steps, steps)
    index = index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


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
            keras_hub_encoder_layer(hidden_dim, num_heads, intermediate_dim, dropout)
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


LSTM_VARIANTS = ("packed", "padded")


class _LSTMEncoder(nn.Module):
    """Masked embedding and (Bi)LSTM layers, Keras-style input dropout.

    Returns the last layer's states `(batch, time, directions * hidden)` (zero
    at padded steps with `"packed"`, undefined there with `"padded"`) and the
    final states of its directions, each `(batch, hidden)`.
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim,
        hidden_dim,
        num_layers,
        bidirectional,
        variant="packed",
    ):
        super().__init__()
        if variant not in LSTM_VARIANTS:
            raise ValueError(f"`variant` must be one of {LSTM_VARIANTS}: {variant!r}")
        self.variant = variant
        self.bidirectional = bidirectional
        self.embedding = nn.Embedding(vocabulary_size, embedding_dim)
        directions = 2 if bidirectional else 1
        if variant == "packed":
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
        else:
            self.lstms = nn.ModuleList(
                nn.ModuleList(
                    keras_style_lstm(
                        nn.LSTM(
                            embedding_dim if i == 0 else directions * hidden_dim,
                            hidden_dim,
                            batch_first=True,
                        )
                    )
                    for _ in range(directions)
                )
                for i in range(num_layers)
            )

    def forward(self, token_ids, dropout):
        lengths = (token_ids != 0).sum(1).clamp(min=1)
        x = self.embedding(token_ids)
        if self.variant == "packed":
            return self._packed(x, lengths.cpu(), dropout)
        return self._padded(x, lengths, dropout)

    def _packed(self, x, lengths, dropout):
        for lstm in self.lstms:
            packed = nn.utils.rnn.pack_padded_sequence(
                dropout(x), lengths, batch_first=True, enforce_sorted=False
            )
            outputs, (h_n, _) = lstm(packed)
            x, _ = nn.utils.rnn.pad_packed_sequence(
                outputs, batch_first=True, total_length=x.shape[1]
            )
        # h_n: (directions, batch, hidden) for the last layer.
        return x, list(h_n[-2:] if self.bidirectional else h_n[-1:])

    def _padded(self, x, lengths, dropout):
        def final(states):  # each row's state at its last real token
            index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, states.shape[-1])
            return states.gather(1, index).squeeze(1)

        for directions in self.lstms:
            forward, _ = directions[0](dropout(x))
            outputs, finals = [forward], [final(forward)]
            if self.bidirectional:
                backward, _ = directions[1](reverse_each_row(dropout(x), lengths))
                finals.append(final(backward))
                outputs.append(reverse_each_row(backward, lengths))
            x = torch.cat(outputs, -1)
        return x, finals


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
        variant="packed",
    ):
        super().__init__()
        self.encoder = _LSTMEncoder(
            vocabulary_size,
            embedding_dim,
            hidden_dim,
            num_layers,
            bidirectional,
            variant,
        )
        self.dropout = nn.Dropout(dropout)
        directions = 2 if bidirectional else 1
        self.head = nn.Linear(directions * hidden_dim, num_classes)

    def forward(self, token_ids):
        _, finals = self.encoder(token_ids, self.dropout)
        return self.head(self.dropout(torch.cat(finals, -1))).float()


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
        variant="packed",
    ):
        super().__init__()
        self.encoder = _LSTMEncoder(
            vocabulary_size,
            embedding_dim,
            hidden_dim,
            num_layers,
            bidirectional,
            variant,
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
