"""`Seq2Seq`: an encoder-decoder with attention, trained with teacher forcing.

Inputs are a dict of int token ids, 0 = padding (right-padded):
`{"encoder_token_ids": (batch, src_len), "decoder_token_ids": (batch, tgt_len)}`.
The decoder inputs start with `start_id`; the output is float32 logits
`(batch, tgt_len, target_vocabulary_size)`, where position `t` predicts the
target token after decoder input `t`. Target padding is labelled -1, which the
default loss and accuracy leave out: `shift_targets` makes both arrays.

`architecture="lstm"`: a BiLSTM encoder, an LSTM decoder started from the
encoder's final states, additive (Bahdanau) attention of every decoder step over
the encoder outputs, then logits. `architecture="transformer"`: keras-hub
`TransformerEncoder` blocks and causal `TransformerDecoder` blocks (with
cross-attention), on token + position embeddings.

`model.generate(encoder_token_ids, max_length)` decodes greedily or with beam
search in one compiled loop (`tf.function(jit_compile=True)` on TensorFlow,
`jax.jit` on JAX). Each step re-runs the model on the whole fixed-length target
buffer (O(max_length²), no cache): simple and exact, fine for short targets.

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

import keras
import keras_hub
import numpy as np

from keras_ctxmem.layers.heads import LogitsHead
from keras_ctxmem.layers.masks import padding_mask_from
from keras_ctxmem.zoo.transformer import TokenAccuracy
from keras_ctxmem.zoo.zoo_model import ZooModel, check_rate, check_sizes

ARCHITECTURES = ("lstm", "transformer")
STRATEGIES = ("greedy", "beam")
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

        # === Functional Model ===
        # (The layers are made by the builders and kept as attributes.)
        encoder_token_ids = keras.Input(
            shape=(None,), dtype="int32", name="encoder_token_ids"
        )
        decoder_token_ids = keras.Input(
            shape=(None,), dtype="int32", name="decoder_token_ids"
        )
        build = self._build_lstm if architecture == "lstm" else self._build_transformer
        features = build(
            encoder_token_ids,
            decoder_token_ids,
            source_vocabulary_size=source_vocabulary_size,
            target_vocabulary_size=target_vocabulary_size,
            embedding_dim=embedding_dim,
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

    # === Layers ===

    def _build_lstm(self, encoder_token_ids, decoder_token_ids, **args):
        dtype, hidden_dim, dropout = args["dtype"], args["hidden_dim"], args["dropout"]
        self.source_embedding = keras.layers.Embedding(
            args["source_vocabulary_size"],
            args["embedding_dim"],
            dtype=dtype,
            name="source_embedding",
        )
        self.target_embedding = keras.layers.Embedding(
            args["target_vocabulary_size"],
            args["embedding_dim"],
            dtype=dtype,
            name="target_embedding",
        )
        self.encoder_layers = []
        for i in range(args["num_layers"]):
            lstm = keras.layers.LSTM(
                hidden_dim,
                return_sequences=True,
                return_state=i == args["num_layers"] - 1,
                dropout=dropout,
                use_cudnn=False,
                dtype=dtype,
                name=f"encoder_lstm_{i}",
            )
            self.encoder_layers.append(
                keras.layers.Bidirectional(
                    lstm, dtype=dtype, name=f"bidirectional_encoder_lstm_{i}"
                )
            )
        self.state_h_bridge = keras.layers.Dense(
            hidden_dim, activation="tanh", dtype=dtype, name="state_h_bridge"
        )
        self.state_c_bridge = keras.layers.Dense(
            hidden_dim, dtype=dtype, name="state_c_bridge"
        )
        self.decoder_layers = [
            keras.layers.LSTM(
                hidden_dim,
                return_sequences=True,
                dropout=dropout,
                use_cudnn=False,
                dtype=dtype,
                name=f"decoder_lstm_{i}",
            )
            for i in range(args["num_layers"])
        ]
        self.memory_projection = keras.layers.Dense(
            hidden_dim, dtype=dtype, name="memory_projection"
        )
        self.attention = keras.layers.AdditiveAttention(dtype=dtype, name="attention")
        self.concat = keras.layers.Concatenate(dtype=dtype, name="concat")
        self.attention_output = keras.layers.Dense(
            hidden_dim, activation="tanh", dtype=dtype, name="attention_output"
        )

        # Encoder: masks are explicit, so padding never enters a state.
        encoder_mask = padding_mask_from(encoder_token_ids)
        x = self.source_embedding(encoder_token_ids)
        for layer in self.encoder_layers[:-1]:
            x = layer(x, mask=encoder_mask)
        x, forward_h, forward_c, backward_h, backward_c = self.encoder_layers[-1](
            x, mask=encoder_mask
        )
        state_h = self.state_h_bridge(self.concat([forward_h, backward_h]))
        state_c = self.state_c_bridge(self.concat([forward_c, backward_c]))
        memory = self.memory_projection(x)
        # Decoder: causal by construction (a left-to-right LSTM).
        y = self.target_embedding(decoder_token_ids)
        for layer in self.decoder_layers:
            y = layer(y, initial_state=[state_h, state_c])
        context = self.attention([y, memory], mask=[None, encoder_mask])
        return self.attention_output(self.concat([y, context]))

    def _build_transformer(self, encoder_token_ids, decoder_token_ids, **args):
        dtype, hidden_dim, dropout = args["dtype"], args["hidden_dim"], args["dropout"]
        length = args["max_sequence_length"]
        block_args = {
            "intermediate_dim": args["intermediate_dim"],
            "num_heads": args["num_heads"],
            "dropout": dropout,
            "activation": "gelu",
            "normalize_first": True,
            "dtype": dtype,
        }
        self.source_embedding = keras_hub.layers.TokenAndPositionEmbedding(
            vocabulary_size=args["source_vocabulary_size"],
            sequence_length=length,
            embedding_dim=hidden_dim,
            dtype=dtype,
            name="source_embedding",
        )
        self.target_embedding = keras_hub.layers.TokenAndPositionEmbedding(
            vocabulary_size=args["target_vocabulary_size"],
            sequence_length=length,
            embedding_dim=hidden_dim,
            dtype=dtype,
            name="target_embedding",
        )
        self.embedding_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embedding_dropout"
        )
        self.encoder_layers = [
            keras_hub.layers.TransformerEncoder(**block_args, name=f"encoder_block_{i}")
            for i in range(args["num_layers"])
        ]
        self.encoder_norm = keras.layers.LayerNormalization(
            epsilon=1e-5, dtype=dtype, name="encoder_norm"
        )
        self.decoder_layers = [
            keras_hub.layers.TransformerDecoder(**block_args, name=f"decoder_block_{i}")
            for i in range(args["num_layers"])
        ]
        self.decoder_norm = keras.layers.LayerNormalization(
            epsilon=1e-5, dtype=dtype, name="decoder_norm"
        )

        encoder_mask = padding_mask_from(encoder_token_ids)
        x = self.embedding_dropout(self.source_embedding(encoder_token_ids))
        for block in self.encoder_layers:
            x = block(x, padding_mask=encoder_mask)
        memory = self.encoder_norm(x)
        decoder_mask = padding_mask_from(decoder_token_ids)
        y = self.embedding_dropout(self.target_embedding(decoder_token_ids))
        for block in self.decoder_layers:
            y = block(
                y,
                encoder_sequence=memory,
                decoder_padding_mask=decoder_mask,
                encoder_padding_mask=encoder_mask,
                use_causal_mask=True,
            )
        return self.decoder_norm(y)

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
            strategy: `"greedy"`, or `"beam"` (beam search on the sum of the
                tokens' log-probabilities, no length penalty: a hypothesis that
                has produced `end_id` keeps its score).
            num_beams: hypotheses kept per example by beam search.

        Returns:
            int32 numpy array `(batch, max_length)`: the tokens after
            `start_id`, `end_id` included, 0 after it. Padding 0 and `start_id`
            are never produced.
        """
        check_sizes(max_length=max_length, num_beams=num_beams)
        if strategy not in STRATEGIES:
            raise ValueError(
                f"`strategy` must be one of {STRATEGIES}. Received: {strategy!r}"
            )
        if self.architecture == "transformer" and max_length >= (
            self.max_sequence_length
        ):
            raise ValueError(
                f"`max_length` ({max_length}) must be below `max_sequence_length` "
                f"({self.max_sequence_length})."
            )
        beams = num_beams if strategy == "beam" else 0
        encoder_token_ids = np.asarray(encoder_token_ids).astype("int32")
        return np.asarray(
            keras.ops.convert_to_numpy(
                self._generate_function(max_length, beams)(encoder_token_ids)
            )
        ).astype("int32")

    def _generate_function(self, max_length, beams):
        """The compiled decoding loop for these settings (made once, then kept)."""
        if not hasattr(self, "_generate_functions"):
            self._generate_functions = {}
        key = (max_length, beams)
        if key in self._generate_functions:
            return self._generate_functions[key]
        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            def logits_fn(encoder_ids, decoder_ids):
                inputs = {
                    "encoder_token_ids": encoder_ids,
                    "decoder_token_ids": decoder_ids,
                }
                return self(inputs, training=False)

            function = tf.function(
                lambda ids: self._search(logits_fn, ids, max_length, beams),
                jit_compile=True,
            )
        elif backend == "jax":
            import jax

            def stateless(trainable, non_trainable, ids):
                def logits_fn(encoder_ids, decoder_ids):
                    inputs = {
                        "encoder_token_ids": encoder_ids,
                        "decoder_token_ids": decoder_ids,
                    }
                    logits, _ = self.stateless_call(
                        trainable, non_trainable, inputs, training=False
                    )
                    return logits

                return self._search(logits_fn, ids, max_length, beams)

            jitted = jax.jit(stateless)

            def function(ids):
                # Variables go in as arguments: later training is seen.
                return jitted(
                    [v.value for v in self.trainable_variables],
                    [v.value for v in self.non_trainable_variables],
                    ids,
                )
        else:  # Other backends run the loop uncompiled.

            def function(ids):
                def logits_fn(encoder_ids, decoder_ids):
                    inputs = {
                        "encoder_token_ids": encoder_ids,
                        "decoder_token_ids": decoder_ids,
                    }
                    return self(inputs, training=False)

                return self._search(logits_fn, ids, max_length, beams)

        self._generate_functions[key] = function
        return function

    def _log_probs(self, logits):
        """Log-softmax over the tokens that may be produced (not 0 or start)."""
        ops = keras.ops
        vocabulary = ops.arange(self.target_vocabulary_size)
        allowed = ops.logical_and(
            ops.not_equal(vocabulary, 0), ops.not_equal(vocabulary, self.start_id)
        )
        logits = ops.where(allowed, ops.cast(logits, "float32"), _NEG_INF)
        return ops.log_softmax(logits, axis=-1)

    def _search(self, logits_fn, encoder_token_ids, max_length, beams):
        """Greedy (`beams == 0`) or beam search; returns `(batch, max_length)`."""
        ops = keras.ops
        batch = ops.shape(encoder_token_ids)[0]
        width = max(beams, 1)
        vocabulary_size = self.target_vocabulary_size
        encoder_token_ids = ops.repeat(encoder_token_ids, width, axis=0)
        rows = batch * width
        # The buffer holds start_id, then the tokens produced so far, then 0s.
        buffer = ops.concatenate(
            [
                ops.full((rows, 1), self.start_id, "int32"),
                ops.zeros((rows, max_length), "int32"),
            ],
            axis=1,
        )
        done = ops.zeros((rows,), "bool")
        # Only the first beam of each example is live at the start.
        scores = ops.tile(
            ops.concatenate([ops.zeros((1,)), ops.full((width - 1,), _NEG_INF)]),
            [batch],
        )
        positions = ops.arange(max_length + 1)
        pad_only = ops.where(ops.arange(vocabulary_size) == 0, 0.0, _NEG_INF)

        def step(index, state):
            buffer, done, scores = state
            logits = logits_fn(encoder_token_ids, buffer)
            logits = ops.take(logits, index, axis=1)  # (rows, vocabulary)
            log_probs = self._log_probs(logits)
            if beams == 0:
                token = ops.cast(ops.argmax(log_probs, axis=-1), "int32")
                token = ops.where(done, 0, token)
            else:
                # A finished hypothesis only continues with padding, at no cost.
                log_probs = ops.where(done[:, None], pad_only[None, :], log_probs)
                candidates = ops.reshape(
                    scores[:, None] + log_probs, (batch, width * vocabulary_size)
                )
                scores, flat = ops.top_k(candidates, k=width)
                flat = ops.cast(flat, "int32")
                parent = flat // vocabulary_size + ops.arange(batch)[:, None] * width
                parent = ops.reshape(parent, (rows,))
                token = ops.reshape(flat % vocabulary_size, (rows,))
                scores = ops.reshape(scores, (rows,))
                buffer = ops.take(buffer, parent, axis=0)
                done = ops.take(done, parent, axis=0)
            write = ops.equal(positions, index + 1)[None, :]
            buffer = ops.where(write, token[:, None], buffer)
            done = ops.logical_or(done, ops.equal(token, self.end_id))
            return buffer, done, scores

        buffer, _, _ = ops.fori_loop(0, max_length, step, (buffer, done, scores))
        # top_k sorts the beams: the first of each example is the best.
        best = ops.reshape(buffer, (batch, width, max_length + 1))[:, 0, 1:]
        return ops.cast(best, "int32")
