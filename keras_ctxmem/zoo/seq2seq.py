"""`Seq2Seq`: an encoder-decoder with attention, trained with teacher forcing.

Inputs are a dict of int token ids, 0 = padding (right-padded):
`{"encoder_token_ids": (batch, src_len), "decoder_token_ids": (batch, tgt_len)}`.
The decoder inputs start with `start_id`; the output is float32 logits
`(batch, tgt_len, target_vocabulary_size)`, where position `t` predicts the
target token after decoder input `t`. Target padding is labelled -1, which the
default loss and accuracy leave out: `shift_targets` makes both arrays.

`architecture="lstm"` (`keras_ctxmem.zoo.seq2seq_lstm`): a BiLSTM encoder, an
LSTM decoder started from the encoder's final states, additive (Bahdanau)
attention of every decoder step over the encoder outputs, then logits.
`architecture="transformer"` (`keras_ctxmem.zoo.seq2seq_transformer`): keras-hub
`TransformerEncoder` blocks and causal `TransformerDecoder` blocks (with
cross-attention), on token + position embeddings.

`model.generate(encoder_token_ids, max_length)` decodes with a keras-hub sampler
(greedy, beam search, or any `keras_hub.samplers.Sampler`: "top_k", "top_p",
...) in one compiled loop (`tf.function(jit_compile=True)` on TensorFlow,
`jax.jit` on JAX). The encoder runs once; each step runs the decoder on one new
token, with a cache built from the same layers: the decoder LSTM states, or the
Transformer's self-attention keys and values (and the cross-attention keys and
values of the encoder outputs, computed once).

Example:
```python
import numpy as np
from keras_ctxmem.zoo import Seq2Seq
from keras_ctxmem.zoo.seq2seq import shift_targets
model = Seq2Seq.from_preset(
    "seq2seq_lstm_tiny", source_vocabulary_size=30, target_vocabulary_size=30
)
source = np.array([[5, 9, 3, 0]])
decoder_inputs, labels = shift_targets(np.array([[3, 9, 5, 2]]), start_id=1)
model.compile()  # AdamW, cross-entropy ignoring -1 labels, token accuracy
model.fit({"encoder_token_ids": source, "decoder_token_ids": decoder_inputs}, labels)
tokens = model.generate(source, max_length=6)  # (1, 6) int32, 0 after end_id
```
"""

import itertools

import keras
import keras_hub
import numpy as np

from keras_ctxmem.layers.heads import LogitsHead
from keras_ctxmem.zoo.seq2seq_lstm import LSTMEncoderDecoder
from keras_ctxmem.zoo.seq2seq_transformer import TransformerEncoderDecoder
from keras_ctxmem.zoo.transformer import TokenAccuracy
from keras_ctxmem.zoo.zoo_model import ZooModel, check_rate, check_sizes

ARCHITECTURES = ("lstm", "transformer")
# keras-hub's other samplers that need nothing but the model's logits (and
# features): "speculative" needs a draft model.
SAMPLERS = ("top_k", "top_p", "random", "contrastive")
_NEG_INF = -1e9


def shift_targets(target_ids, start_id):
    """Teacher-forcing arrays from right-padded targets (0 = padding).

    `target_ids` are the tokens to produce, `end_id` included, e.g.
    `[[7, 4, 2, 0]]`. Returns `(decoder_inputs, labels)`: the targets shifted
    right behind `start_id` (`[[1, 7, 4, 2]]`), and the targets with -1 at the
    padding (`[[7, 4, 2, -1]]`), which the default loss ignores.
    """
    target_ids = np.asarray(target_ids).astype("int32")
    start = np.full((target_ids.shape[0], 1), start_id, "int32")
    decoder_inputs = np.concatenate([start, target_ids[:, :-1]], axis=1)
    labels = np.where(target_ids == 0, -1, target_ids).astype("int32")
    return decoder_inputs, labels


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class Seq2Seq(ZooModel):
    """Encoder-decoder with attention, for sequence-to-sequence tasks.

    `generate` decodes with keras-hub samplers, one token per step on a cache
    (`build_cache`, `call_decoder_with_cache`).

    Args:
        source_vocabulary_size: number of source token ids, padding 0 included.
        target_vocabulary_size: number of target token ids, padding 0,
            `start_id` and `end_id` included.
        architecture: `"lstm"` (BiLSTM encoder, LSTM decoder, additive
            attention) or `"transformer"`.
        embedding_dim: width of the token embeddings (`"lstm"` only; the
            transformer embeds to `hidden_dim`).
        hidden_dim: LSTM units per direction, or the transformer's width.
        num_layers: encoder layers, and as many decoder layers.
        num_heads: attention heads per transformer block.
        intermediate_dim: width of each transformer block's feed-forward layer.
        max_sequence_length: longest source and target the transformer's
            position embeddings cover (and the longest `generate` output + 1).
        start_id: the token every decoder input starts with.
        end_id: the token that ends a target; `generate` stops there.
        dropout: dropout rate in the encoder and decoder.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.zoo import Seq2Seq
    model = Seq2Seq.from_preset(
        "seq2seq_transformer_tiny",
        source_vocabulary_size=30,
        target_vocabulary_size=30,
    )
    logits = model.predict(
        {
            "encoder_token_ids": np.array([[5, 9, 3, 0]]),
            "decoder_token_ids": np.array([[1, 3, 9]]),
        }
    )  # (1, 3, 30)
    ```
    """

    preset_family = "seq2seq"

    def __init__(
        self,
        source_vocabulary_size,
        target_vocabulary_size,
        architecture="lstm",
        embedding_dim=64,
        hidden_dim=64,
        num_layers=1,
        num_heads=4,
        intermediate_dim=128,
        max_sequence_length=128,
        start_id=1,
        end_id=2,
        dropout=0.0,
        dtype=None,
        **kwargs,
    ):
        check_sizes(
            source_vocabulary_size=source_vocabulary_size,
            target_vocabulary_size=target_vocabulary_size,
            embedding_dim=embedding_dim,
            hidden_dim=hidden_dim,
            num_layers=num_layers,
            num_heads=num_heads,
            intermediate_dim=intermediate_dim,
            max_sequence_length=max_sequence_length,
            start_id=start_id,
            end_id=end_id,
        )
        check_rate("dropout", dropout)
        if architecture not in ARCHITECTURES:
            raise ValueError(
                f"`architecture` must be one of {ARCHITECTURES}. "
                f"Received: {architecture!r}"
            )
        if target_vocabulary_size < 3:
            raise ValueError(
                "`target_vocabulary_size` must be at least 3 (padding, start, "
                f"end). Received: {target_vocabulary_size}"
            )
        if start_id == end_id or max(start_id, end_id) >= target_vocabulary_size:
            raise ValueError(
                "`start_id` and `end_id` must differ and be below "
                f"`target_vocabulary_size` ({target_vocabulary_size}). Received: "
                f"start_id={start_id}, end_id={end_id}"
            )
        if architecture == "transformer" and hidden_dim % num_heads:
            raise ValueError(
                f"`hidden_dim` ({hidden_dim}) must be divisible by `num_heads` "
                f"({num_heads})."
            )

        # === Layers ===
        if architecture == "lstm":
            self.encoder_decoder = LSTMEncoderDecoder(
                source_vocabulary_size,
                target_vocabulary_size,
                embedding_dim=embedding_dim,
                hidden_dim=hidden_dim,
                num_layers=num_layers,
                dropout=dropout,
                dtype=dtype,
            )
        else:
            self.encoder_decoder = TransformerEncoderDecoder(
                source_vocabulary_size,
                target_vocabulary_size,
                hidden_dim=hidden_dim,
                num_layers=num_layers,
                num_heads=num_heads,
                intermediate_dim=intermediate_dim,
                max_sequence_length=max_sequence_length,
                dropout=dropout,
                dtype=dtype,
            )
        self.head = LogitsHead(
            target_vocabulary_size, dropout, dtype=dtype, name="head"
        )

        # === Functional Model ===
        encoder_token_ids = keras.Input(
            shape=(None,), dtype="int32", name="encoder_token_ids"
        )
        decoder_token_ids = keras.Input(
            shape=(None,), dtype="int32", name="decoder_token_ids"
        )
        encoded = self.encoder_decoder.encode(encoder_token_ids)
        features = self.encoder_decoder.decode(decoder_token_ids, encoded)
        logits = self.head(features)
        super().__init__(
            inputs={
                "encoder_token_ids": encoder_token_ids,
                "decoder_token_ids": decoder_token_ids,
            },
            outputs=logits,
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.architecture = architecture
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.max_sequence_length = max_sequence_length
        self.start_id = start_id
        self.end_id = end_id
        self.dropout = dropout

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "source_vocabulary_size": self.source_vocabulary_size,
                "target_vocabulary_size": self.target_vocabulary_size,
                "architecture": self.architecture,
                "embedding_dim": self.embedding_dim,
                "hidden_dim": self.hidden_dim,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "max_sequence_length": self.max_sequence_length,
                "start_id": self.start_id,
                "end_id": self.end_id,
                "dropout": self.dropout,
            }
        )
        return config

    # === Training ===

    def token_id_limits(self):
        """The source and target vocabularies; the Transformer's length limit."""
        max_length = (
            self.max_sequence_length if self.architecture == "transformer" else None
        )
        return {
            "encoder_token_ids": (self.source_vocabulary_size, max_length),
            "decoder_token_ids": (self.target_vocabulary_size, max_length),
        }

    def default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=-1
        )

    def default_metrics(self):
        return [TokenAccuracy(name="accuracy")]

    # === Decoding ===

    def generate(self, encoder_token_ids, max_length, strategy="greedy", num_beams=4):
        """Decodes target token ids for a batch of source token ids.

        Args:
            encoder_token_ids: int array `(batch, src_len)`, 0 = padding.
            max_length: number of tokens to produce (the start token not
                counted).
            strategy: `"greedy"`; `"beam"` (beam search on the sum of the
                tokens' log-probabilities, no length penalty: a hypothesis that
                has produced `end_id` keeps its score); another keras-hub
                sampler name (`"top_k"`, `"top_p"`, `"random"`,
                `"contrastive"`, with keras-hub's defaults); or a
                `keras_hub.samplers.Sampler`.
            num_beams: hypotheses kept per example by `"beam"`.

        Returns:
            int32 numpy array `(batch, max_length)`: the tokens after
            `start_id`, `end_id` included, 0 after it. Padding 0 and `start_id`
            are never produced.
        """
        check_sizes(max_length=max_length, num_beams=num_beams)
        if self.architecture == "transformer" and max_length >= (
            self.max_sequence_length
        ):
            raise ValueError(
                f"`max_length` ({max_length}) must be below `max_sequence_length` "
                f"({self.max_sequence_length})."
            )
        key = (max_length, strategy, num_beams if strategy == "beam" else None)
        if not hasattr(self, "_generate_functions"):
            self._generate_functions = {}
        if key not in self._generate_functions:
            sampler = self._sampler(strategy, num_beams)
            self._generate_functions[key] = self._compile_generate(max_length, sampler)
        encoder_token_ids = np.asarray(encoder_token_ids).astype("int32")
        tokens = self._generate_functions[key](encoder_token_ids)
        return np.asarray(keras.ops.convert_to_numpy(tokens)).astype("int32")

    def build_cache(self, encoder_token_ids, length):
        """Runs the encoder; the decoding cache for up to `length` target tokens.

        The cache is a tuple of tensors, each with the batch first (what
        keras-hub samplers repeat for beams and reorder).
        """
        encoded = self.encoder_decoder.encode(encoder_token_ids)
        return self.encoder_decoder.start_cache(encoded, length)

    def call_decoder_with_cache(self, decoder_token_ids, cache, index):
        """One decoding step on the token at position `index`.

        Args:
            decoder_token_ids: int `(batch, 1)`.
            cache: from `build_cache`, or from the step at `index - 1`.
            index: the token's position in the decoder input (`start_id` at 0).

        Returns:
            `(logits, features, cache)`: float32 logits `(batch, 1,
            target_vocabulary_size)` for the next token, equal to those of
            the full model at `index`; the features `(batch, 1, hidden_dim)`
            they come from; the cache for position `index + 1`.
        """
        features, cache = self.encoder_decoder.decode_step(
            decoder_token_ids, cache, index
        )
        return self.head(features), features, cache

    def generate_step(self, encoder_token_ids, max_length, sampler):
        """The compilable decoding loop: `(batch, max_length)` int32 tokens."""
        ops = keras.ops
        batch = ops.shape(encoder_token_ids)[0]
        # The prompt holds start_id, then the tokens produced so far, then 0s.
        start = ops.full((batch, 1), self.start_id, "int32")
        prompt = ops.concatenate([start, ops.zeros((batch, max_length), "int32")], 1)
        cache = self.build_cache(encoder_token_ids, max_length + 1)
        # The features of each prompt token (for the contrastive sampler).
        _, start_features, _ = self.call_decoder_with_cache(start, cache, 0)
        hidden_states = ops.pad(start_features, [[0, 0], [0, max_length], [0, 0]])
        vocabulary = ops.arange(self.target_vocabulary_size)
        allowed = ops.logical_and(
            ops.not_equal(vocabulary, 0), ops.not_equal(vocabulary, self.start_id)
        )
        pad_only = ops.where(ops.equal(vocabulary, 0), 0.0, _NEG_INF)

        def step(prompt, cache, index):
            rows = ops.shape(prompt)[0]
            token = ops.slice(prompt, [0, index - 1], [rows, 1])
            logits, features, cache = self.call_decoder_with_cache(
                token, cache, index - 1
            )
            logits = ops.where(allowed, logits[:, 0], _NEG_INF)
            # A finished row only continues with padding, at no cost.
            done = ops.any(ops.equal(prompt, self.end_id), axis=1)
            logits = ops.where(done[:, None], pad_only, logits)
            return logits, features[:, 0], cache

        tokens = sampler(
            next=step,
            prompt=prompt,
            cache=cache,
            index=1,
            stop_token_ids=(self.end_id,),
            hidden_states=hidden_states,
            model=self,
        )
        return tokens[:, 1:]

    def _sampler(self, strategy, num_beams):
        if isinstance(strategy, keras_hub.samplers.Sampler):
            sampler = strategy
        elif strategy == "greedy":
            sampler = keras_hub.samplers.GreedySampler()
        elif strategy == "beam":
            sampler = keras_hub.samplers.BeamSampler(num_beams=num_beams)
        elif isinstance(strategy, str) and strategy in SAMPLERS:
            sampler = keras_hub.samplers.get(strategy)
        else:
            raise ValueError(
                f'`strategy` must be "greedy", "beam", one of {SAMPLERS} or a '
                f"`keras_hub.samplers.Sampler`. Received: {strategy!r}"
            )
        if getattr(sampler, "return_all_beams", False):
            raise ValueError(
                "`generate` returns the best beam: use a `BeamSampler` with "
                "`return_all_beams=False`."
            )
        return sampler

    def _compile_generate(self, max_length, sampler):
        """`generate_step` compiled for the backend (variables as arguments)."""

        def generate_step(encoder_token_ids):
            return self.generate_step(encoder_token_ids, max_length, sampler)

        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            return tf.function(generate_step, jit_compile=True)
        if backend != "jax":  # Other backends run the loop uncompiled.
            return generate_step
        import jax

        @jax.jit
        def compiled(encoder_token_ids, state):
            sampler_values, trainable, non_trainable = state
            mapping = itertools.chain(
                zip(sampler.variables, sampler_values, strict=True),
                zip(self.trainable_variables, trainable, strict=True),
                zip(self.non_trainable_variables, non_trainable, strict=True),
            )
            with keras.StatelessScope(state_mapping=mapping) as scope:
                tokens = generate_step(encoder_token_ids)
            # The random samplers' seeds move on.
            sampler_values = [
                value if new is None else new
                for value, new in zip(
                    sampler_values,
                    [scope.get_current_value(v) for v in sampler.variables],
                    strict=True,
                )
            ]
            return tokens, sampler_values

        def function(encoder_token_ids):
            # Variables go in as arguments: later training is seen.
            state = (
                [v.value for v in sampler.variables],
                [v.value for v in self.trainable_variables],
                [v.value for v in self.non_trainable_variables],
            )
            tokens, sampler_values = compiled(encoder_token_ids, state)
            for variable, value in zip(sampler.variables, sampler_values, strict=True):
                variable.assign(value)
            return tokens

        return function
