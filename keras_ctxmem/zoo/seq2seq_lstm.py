"""`Seq2Seq(architecture="lstm")`: BiLSTM encoder, LSTM decoder, additive attention.

`LSTMEncoderDecoder` makes the layers and runs them two ways: over a whole
teacher-forced target (the training graph), and one token at a time for
`Seq2Seq.generate`, through the same layers' LSTM cells, with each decoder
layer's states `(h, c)` as the cache.

Example:
```python
import numpy as np
from keras_ctxmem.zoo.seq2seq_lstm import LSTMEncoderDecoder
layers = LSTMEncoderDecoder(
    source_vocabulary_size=30,
    target_vocabulary_size=30,
    embedding_dim=16,
    hidden_dim=16,
    num_layers=1,
    dropout=0.0,
)
encoded = layers.encode(np.array([[5, 9, 3, 0]]))
features = layers.decode(np.array([[1, 3, 9]]), encoded)  # (1, 3, 16)
```
"""

import keras

from keras_ctxmem.layers.masks import padding_mask_from


class LSTMEncoderDecoder:
    """The layers of the LSTM `Seq2Seq`, and how they encode and decode.

    The encoder is `num_layers` bidirectional LSTMs; its last final states,
    through two dense "bridges", start every decoder LSTM layer. Each decoder
    step attends (additive attention) over the projected encoder outputs.

    Args:
        source_vocabulary_size: number of source token ids, padding 0 included.
        target_vocabulary_size: number of target token ids.
        embedding_dim: width of the token embeddings.
        hidden_dim: LSTM units per direction; the width of the features.
        num_layers: encoder layers, and as many decoder layers.
        dropout: input dropout of every LSTM.
        dtype: the dtype policy of every layer.
    """

    def __init__(
        self,
        source_vocabulary_size,
        target_vocabulary_size,
        embedding_dim,
        hidden_dim,
        num_layers,
        dropout,
        dtype=None,
    ):
        self.num_layers = num_layers
        self.source_embedding = keras.layers.Embedding(
            source_vocabulary_size,
            embedding_dim,
            dtype=dtype,
            name="source_embedding",
        )
        self.target_embedding = keras.layers.Embedding(
            target_vocabulary_size,
            embedding_dim,
            dtype=dtype,
            name="target_embedding",
        )
        self.encoder_layers = []
        for i in range(num_layers):
            lstm = keras.layers.LSTM(
                hidden_dim,
                return_sequences=True,
                return_state=i == num_layers - 1,
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
            for i in range(num_layers)
        ]
        self.memory_projection = keras.layers.Dense(
            hidden_dim, dtype=dtype, name="memory_projection"
        )
        self.attention = keras.layers.AdditiveAttention(dtype=dtype, name="attention")
        self.concat = keras.layers.Concatenate(dtype=dtype, name="concat")
        self.attention_output = keras.layers.Dense(
            hidden_dim, activation="tanh", dtype=dtype, name="attention_output"
        )

    def encode(self, encoder_token_ids):
        """`(memory, encoder_mask, state_h, state_c)`: what the decoder reads."""
        # Masks are explicit, so padding never enters a state.
        encoder_mask = padding_mask_from(encoder_token_ids)
        x = self.source_embedding(encoder_token_ids)
        for layer in self.encoder_layers[:-1]:
            x = layer(x, mask=encoder_mask)
        x, forward_h, forward_c, backward_h, backward_c = self.encoder_layers[-1](
            x, mask=encoder_mask
        )
        state_h = self.state_h_bridge(self.concat([forward_h, backward_h]))
        state_c = self.state_c_bridge(self.concat([forward_c, backward_c]))
        return self.memory_projection(x), encoder_mask, state_h, state_c

    def decode(self, decoder_token_ids, encoded):
        """Features `(batch, tgt_len, hidden_dim)` of a whole decoder input."""
        memory, encoder_mask, state_h, state_c = encoded
        # Causal by construction (a left-to-right LSTM).
        y = self.target_embedding(decoder_token_ids)
        for layer in self.decoder_layers:
            y = layer(y, initial_state=[state_h, state_c])
        return self._attend(y, memory, encoder_mask)

    def start_cache(self, encoded, length):
        """The cache before position 0: `(states, memory, encoder_mask)`.

        `states` `(batch, num_layers, 2, hidden_dim)` holds each decoder
        layer's `(h, c)`; `length` is not needed (the states do not grow).
        """
        memory, encoder_mask, state_h, state_c = encoded
        states = keras.ops.stack([state_h, state_c], axis=1)
        states = keras.ops.repeat(states[:, None], self.num_layers, axis=1)
        return states, memory, encoder_mask

    def decode_step(self, token_ids, cache, index):
        """Features `(batch, 1, hidden_dim)` of one token, and the next cache.

        `index` (the token's position) is implied by the states.
        """
        states, memory, encoder_mask = cache
        y = self.target_embedding(token_ids)[:, 0]
        next_states = []
        for i, layer in enumerate(self.decoder_layers):
            y, (h, c) = layer.cell(y, [states[:, i, 0], states[:, i, 1]])
            next_states.append(keras.ops.stack([h, c], axis=1))
        features = self._attend(y[:, None], memory, encoder_mask)
        return features, (keras.ops.stack(next_states, axis=1), memory, encoder_mask)

    def _attend(self, y, memory, encoder_mask):
        context = self.attention([y, memory], mask=[None, encoder_mask])
        return self.attention_output(self.concat([y, context]))
