"""`Seq2Seq(architecture="transformer")`: keras-hub encoder and decoder blocks.

`TransformerEncoderDecoder` makes the layers and runs them two ways: over a
whole teacher-forced target (the training graph, causal self-attention), and
one token at a time for `Seq2Seq.generate`, through the same
`keras_hub.layers.TransformerDecoder` blocks with their key/value caches: the
self-attention cache grows by one position per token, the cross-attention
keys and values of the encoder outputs are computed once.

Example:
```python
import numpy as np
from keras_ctxmem.zoo.seq2seq_transformer import TransformerEncoderDecoder
layers = TransformerEncoderDecoder(
    source_vocabulary_size=30,
    target_vocabulary_size=30,
    hidden_dim=16,
    num_layers=1,
    num_heads=2,
    intermediate_dim=32,
    max_sequence_length=8,
    dropout=0.0,
)
encoded = layers.encode(np.array([[5, 9, 3, 0]]))
features = layers.decode(np.array([[1, 3, 9]]), encoded)  # (1, 3, 16)
```
"""

import keras
import keras_hub

from keras_ctxmem.layers.masks import padding_mask_from


class TransformerEncoderDecoder:
    """The layers of the Transformer `Seq2Seq`, and how they encode and decode.

    Pre-norm keras-hub `TransformerEncoder` blocks over token + position
    embeddings, then a final norm; causal `TransformerDecoder` blocks with
    cross-attention over the encoder outputs, then a final norm.

    Args:
        source_vocabulary_size: number of source token ids, padding 0 included.
        target_vocabulary_size: number of target token ids.
        hidden_dim: the width of the embeddings and blocks.
        num_layers: encoder blocks, and as many decoder blocks.
        num_heads: attention heads per block.
        intermediate_dim: width of each block's feed-forward layer.
        max_sequence_length: longest source and target the position
            embeddings cover.
        dropout: dropout rate of the embeddings and blocks.
        dtype: the dtype policy of every layer.
    """

    def __init__(
        self,
        source_vocabulary_size,
        target_vocabulary_size,
        hidden_dim,
        num_layers,
        num_heads,
        intermediate_dim,
        max_sequence_length,
        dropout,
        dtype=None,
    ):
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.head_dim = hidden_dim // num_heads
        block_args = {
            "intermediate_dim": intermediate_dim,
            "num_heads": num_heads,
            "dropout": dropout,
            "activation": "gelu",
            "normalize_first": True,
            "dtype": dtype,
        }
        self.source_embedding = keras_hub.layers.TokenAndPositionEmbedding(
            vocabulary_size=source_vocabulary_size,
            sequence_length=max_sequence_length,
            embedding_dim=hidden_dim,
            dtype=dtype,
            name="source_embedding",
        )
        self.target_embedding = keras_hub.layers.TokenAndPositionEmbedding(
            vocabulary_size=target_vocabulary_size,
            sequence_length=max_sequence_length,
            embedding_dim=hidden_dim,
            dtype=dtype,
            name="target_embedding",
        )
        self.embedding_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embedding_dropout"
        )
        self.encoder_layers = [
            keras_hub.layers.TransformerEncoder(**block_args, name=f"encoder_block_{i}")
            for i in range(num_layers)
        ]
        self.encoder_norm = keras.layers.LayerNormalization(
            epsilon=1e-5, dtype=dtype, name="encoder_norm"
        )
        self.decoder_layers = [
            keras_hub.layers.TransformerDecoder(**block_args, name=f"decoder_block_{i}")
            for i in range(num_layers)
        ]
        self.decoder_norm = keras.layers.LayerNormalization(
            epsilon=1e-5, dtype=dtype, name="decoder_norm"
        )

    def encode(self, encoder_token_ids):
        """`(memory, encoder_mask)`: the encoder outputs and their mask."""
        encoder_mask = padding_mask_from(encoder_token_ids)
        x = self.embedding_dropout(self.source_embedding(encoder_token_ids))
        for block in self.encoder_layers:
            x = block(x, padding_mask=encoder_mask)
        return self.encoder_norm(x), encoder_mask

    def decode(self, decoder_token_ids, encoded):
        """Features `(batch, tgt_len, hidden_dim)` of a whole decoder input."""
        memory, encoder_mask = encoded
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

    def start_cache(self, encoded, length):
        """The cache before position 0, for targets of up to `length` tokens.

        `(self_attention_caches, cross_attention_caches, memory,
        encoder_mask)`: a cache per decoder block, `(batch, 2, positions,
        num_heads, head_dim)` (the block's layout; one tensor per block, not
        keras-hub's stacked one, saves copying them all at every step): empty
        for the `length` target positions, filled with the encoder outputs'
        keys and values.
        """
        ops = keras.ops
        memory, encoder_mask = encoded
        batch, source_length = ops.shape(memory)[0], ops.shape(memory)[1]
        dtype = self.decoder_layers[0].compute_dtype
        shape = (batch, 2, length, self.num_heads, self.head_dim)
        self_caches = (ops.zeros(shape, dtype),) * self.num_layers
        cross_shape = (batch, 2, source_length, self.num_heads, self.head_dim)
        cross_caches = (ops.zeros(cross_shape, dtype),) * self.num_layers
        # Any token fills the cross-attention caches, which only read `memory`.
        padding = ops.zeros((batch, 1), "int32")
        cache = (self_caches, cross_caches, memory, encoder_mask)
        _, (_, cross_caches, _, _) = self._step(padding, cache, 0, 0)
        return self_caches, cross_caches, memory, encoder_mask

    def decode_step(self, token_ids, cache, index):
        """Features `(batch, 1, hidden_dim)` of the token at `index`, next cache."""
        return self._step(token_ids, cache, index, None)

    def _step(self, token_ids, cache, index, cross_index):
        self_caches, cross_caches, memory, encoder_mask = cache
        y = self.embedding_dropout(self.target_embedding(token_ids, start_index=index))
        next_self_caches, next_cross_caches = [], []
        for block, self_cache, cross_cache in zip(
            self.decoder_layers, self_caches, cross_caches, strict=True
        ):
            y, self_cache, cross_cache = block(
                y,
                encoder_sequence=memory,
                encoder_padding_mask=encoder_mask,
                self_attention_cache=self_cache,
                self_attention_cache_update_index=index,
                cross_attention_cache=cross_cache,
                cross_attention_cache_update_index=cross_index,
                use_causal_mask=True,
            )
            next_self_caches.append(self_cache)
            next_cross_caches.append(cross_cache)
        cache = (
            tuple(next_self_caches),
            tuple(next_cross_caches),
            memory,
            encoder_mask,
        )
        return self.decoder_norm(y), cache
