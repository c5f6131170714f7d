"""`MultimodalFusionClassifier`: a text encoder and an image encoder, fused.

Inputs are a dict: `"token_ids"`, int `(batch, time)` with 0 = padding, and
`"image"`, float `(batch, height, width, channels)` with values in `[0, 1]` (the
model does not rescale them). A sequence gives the same result however far it is
right-padded.

Example:
```python
import numpy as np
from keras_ctxmem.zoo import MultimodalFusionClassifier
model = MultimodalFusionClassifier.from_preset(
    "multimodal_tiny", fusion="cross_attention", num_classes=2
)
inputs = {
    "token_ids": np.array([[5, 9, 3, 0, 0]]),
    "image": np.random.uniform(size=(1, 32, 32, 3)).astype("float32"),
}
logits = model.predict(inputs)  # (1, 2)
scores = model.attention_weights(inputs)  # (1, 2, 5, 16): heads, tokens, patches
```
"""

import keras
import keras_hub

from keras_ctxmem.layers import (
    ConcatFusion,
    CrossModalAttention,
    FiLM,
    GatedMultimodalUnit,
    MaskedMeanPooling,
)
from keras_ctxmem.layers.heads import LogitsHead
from keras_ctxmem.layers.masks import padding_mask_from
from keras_ctxmem.zoo.zoo_model import ZooModel, check_rate, check_sizes

FUSIONS = ("concat", "gated", "film", "cross_attention")


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class MultimodalFusionClassifier(ZooModel):
    """Classifies a (text, image) pair from a fusion of the two encodings.

    - Text: token embedding (`mask_zero=True`), a projection to `hidden_dim`,
      sinusoidal positions, `num_layers` pre-norm Transformer encoder blocks that
      read the padding mask, and a final LayerNorm: features
      `(batch, time, hidden_dim)`; the text vector is their mean over real tokens.
    - Image: patch embedding (a `Conv2D` with kernel = stride = `patch_size`),
      reshaped to `(batch, patches, hidden_dim)`, plus a learned position
      embedding, then LayerNorm; the image vector is the mean over patches.
    - Fusion (`fusion`):
        - `"concat"`: `ConcatFusion` of the text and image vectors;
        - `"gated"`: `GatedMultimodalUnit(hidden_dim)` of the two vectors;
        - `"film"`: `FiLM` modulates the text features (every token) with the
          image vector, then the mean over real tokens;
        - `"cross_attention"`: `CrossModalAttention` (text tokens query the image
          patches), then the mean over real tokens.
    - Then `Dense(hidden_dim, "gelu")` (so that every fusion can represent an
      interaction of the two modalities, like a XOR) and `LogitsHead`.

    Args:
        vocabulary_size: number of token ids, padding id 0 included.
        image_shape: `(height, width, channels)`; height and width must be
            multiples of `patch_size`. Pixel values are expected in `[0, 1]`.
        embedding_dim: width of the token embedding.
        hidden_dim: width of the text and image features.
        patch_size: side of the square image patches.
        num_heads: attention heads (text encoder and cross-attention);
            must divide `hidden_dim`.
        num_layers: Transformer encoder blocks of the text encoder.
        fusion: one of `"concat"`, `"gated"`, `"film"`, `"cross_attention"`.
        num_classes: number of classes (at least 2).
        dropout: dropout in the encoder blocks, the cross-attention weights and
            before the output layer.
    """

    preset_family = "multimodal"

    def __init__(
        self,
        vocabulary_size,
        image_shape=(32, 32, 3),
        embedding_dim=64,
        hidden_dim=64,
        patch_size=8,
        num_heads=4,
        num_layers=1,
        fusion="concat",
        num_classes=2,
        dropout=0.1,
        dtype=None,
        **kwargs,
    ):
        check_sizes(
            vocabulary_size=vocabulary_size,
            embedding_dim=embedding_dim,
            hidden_dim=hidden_dim,
            patch_size=patch_size,
            num_heads=num_heads,
            num_layers=num_layers,
        )
        check_rate("dropout", dropout)
        if fusion not in FUSIONS:
            raise ValueError(f"`fusion` must be one of {FUSIONS}. Received: {fusion!r}")
        image_shape = tuple(image_shape)
        if len(image_shape) != 3 or any(side % patch_size for side in image_shape[:2]):
            raise ValueError(
                "`image_shape` must be `(height, width, channels)` with height and "
                f"width multiples of `patch_size={patch_size}`. "
                f"Received: {image_shape}"
            )
        if hidden_dim % num_heads:
            raise ValueError(
                f"`num_heads={num_heads}` must divide `hidden_dim={hidden_dim}`."
            )
        num_patches = (image_shape[0] // patch_size) * (image_shape[1] // patch_size)

        # === Layers ===
        # Text encoder.
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size,
            embedding_dim,
            mask_zero=True,
            dtype=dtype,
            name="token_embedding",
        )
        self.text_projection = keras.layers.Dense(
            hidden_dim, dtype=dtype, name="text_projection"
        )
        self.text_position_encoding = keras_hub.layers.SinePositionEncoding(
            dtype=dtype, name="text_position_encoding"
        )
        self.text_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="text_dropout"
        )
        self.text_blocks = [
            keras_hub.layers.TransformerEncoder(
                intermediate_dim=2 * hidden_dim,
                num_heads=num_heads,
                dropout=dropout,
                activation="gelu",
                normalize_first=True,
                dtype=dtype,
                name=f"text_block_{i}",
            )
            for i in range(num_layers)
        ]
        self.text_norm = keras.layers.LayerNormalization(
            epsilon=1e-5, dtype=dtype, name="text_norm"
        )
        self.text_pooling = MaskedMeanPooling(dtype=dtype, name="text_pooling")
        # Image encoder.
        self.patch_embedding = keras.layers.Conv2D(
            hidden_dim,
            kernel_size=patch_size,
            strides=patch_size,
            dtype=dtype,
            name="patch_embedding",
        )
        self.patch_reshape = keras.layers.Reshape(
            (num_patches, hidden_dim), dtype=dtype, name="patch_reshape"
        )
        self.patch_position_embedding = keras_hub.layers.PositionEmbedding(
            sequence_length=num_patches, dtype=dtype, name="patch_position_embedding"
        )
        self.image_norm = keras.layers.LayerNormalization(
            epsilon=1e-5, dtype=dtype, name="image_norm"
        )
        self.image_pooling = MaskedMeanPooling(dtype=dtype, name="image_pooling")
        # Fusion and head.
        if fusion == "concat":
            self.fusion_layer = ConcatFusion(dtype=dtype, name="fusion")
        elif fusion == "gated":
            self.fusion_layer = GatedMultimodalUnit(
                hidden_dim, dtype=dtype, name="fusion"
            )
        elif fusion == "film":
            self.fusion_layer = FiLM(dtype=dtype, name="fusion")
        else:
            self.fusion_layer = CrossModalAttention(
                num_heads,
                key_dim=hidden_dim // num_heads,
                dropout=dropout,
                dtype=dtype,
                name="fusion",
            )
        # Only the per-token fusions pool after fusing; an unused layer would stay
        # unbuilt and make Keras warn about unbuilt state on every construction.
        self.fused_pooling = (
            MaskedMeanPooling(dtype=dtype, name="fused_pooling")
            if fusion in ("film", "cross_attention")
            else None
        )
        self.fusion_dense = keras.layers.Dense(
            hidden_dim, activation="gelu", dtype=dtype, name="fusion_dense"
        )
        self.head = LogitsHead(num_classes, dropout, dtype=dtype, name="head")

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        image = keras.Input(shape=image_shape, dtype="float32", name="image")
        padding_mask = padding_mask_from(token_ids)

        x = self.text_projection(self.token_embedding(token_ids))
        # The encoding reads only the shape; `zeros_like` drops the Keras mask the
        # layer cannot take (`padding_mask` is passed on explicitly below).
        positions = self.text_position_encoding(keras.ops.zeros_like(x))
        x = self.text_dropout(x + positions)
        for block in self.text_blocks:
            x = block(x, padding_mask=padding_mask)
        text_sequence = self.text_norm(x)
        text_vector = self.text_pooling(text_sequence, mask=padding_mask)

        patches = self.patch_reshape(self.patch_embedding(image))
        patches = self.image_norm(patches + self.patch_position_embedding(patches))
        image_vector = self.image_pooling(patches)

        scores = None
        if fusion in ("concat", "gated"):
            fused = self.fusion_layer([text_vector, image_vector])
        elif fusion == "film":
            fused = self.fusion_layer([text_sequence, image_vector])
            fused = self.fused_pooling(fused, mask=padding_mask)
        else:
            fused, scores = self.fusion_layer(
                text_sequence,
                patches,
                text_mask=padding_mask,
                return_attention_scores=True,
            )
            fused = self.fused_pooling(fused, mask=padding_mask)
        logits = self.head(self.fusion_dense(fused))

        inputs = {"token_ids": token_ids, "image": image}
        super().__init__(inputs=inputs, outputs=logits, dtype=dtype, **kwargs)
        self._attention_model = (
            keras.Model(inputs, scores) if scores is not None else None
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.image_shape = image_shape
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.patch_size = patch_size
        self.num_heads = num_heads
        self.num_layers = num_layers
        self.fusion = fusion
        self.num_classes = num_classes
        self.dropout = dropout

    def attention_weights(self, inputs):
        """Cross-attention of tokens over patches, `(batch, heads, time, patches)`.

        Only for `fusion="cross_attention"`. The rows of real tokens sum to one
        over the patches; the rows of padding tokens are zero.
        """
        if self._attention_model is None:
            raise ValueError(
                "`attention_weights` needs `fusion='cross_attention'`; this model "
                f"uses `fusion={self.fusion!r}`, which has no attention weights."
            )
        return keras.ops.convert_to_numpy(self._attention_model(inputs))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "image_shape": list(self.image_shape),
                "embedding_dim": self.embedding_dim,
                "hidden_dim": self.hidden_dim,
                "patch_size": self.patch_size,
                "num_heads": self.num_heads,
                "num_layers": self.num_layers,
                "fusion": self.fusion,
                "num_classes": self.num_classes,
                "dropout": self.dropout,
            }
        )
        return config
