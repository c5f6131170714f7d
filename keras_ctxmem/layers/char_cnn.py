"""`CharCNN`: one feature vector per word from its characters."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_ctxmem")
class CharCNN(keras.layers.Layer):
    """Character embedding, a convolution along each word, a masked max-pool.

    Maps char ids `(batch, words, chars)` (0 = padding) to `(batch, words,
    filters)`; a word with no characters (padding) gives zeros. The
    convolution never reads across words (Ma and Hovy 2016).

    Args:
        vocabulary_size: number of character ids, padding id 0 included.
        embedding_dim: width of the character embedding.
        filters: output features per word.
        kernel_size: characters the convolution reads at once.

    Example:
    ```python
    import numpy as np
    from keras_ctxmem.layers import CharCNN
    features = CharCNN(50, 8, 16)(np.array([[[3, 4, 0], [0, 0, 0]]]))  # (1, 2, 16)
    ```
    """

    def __init__(
        self, vocabulary_size, embedding_dim=25, filters=50, kernel_size=3, **kwargs
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.filters = filters
        self.kernel_size = kernel_size
        self.embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, dtype=self.dtype_policy, name="embedding"
        )
        self.convolution = keras.layers.Conv2D(
            filters,
            (1, kernel_size),
            padding="same",
            activation="tanh",
            dtype=self.dtype_policy,
            name="convolution",
        )

    def build(self, input_shape):
        self.embedding.build(input_shape)
        self.convolution.build((*input_shape, self.embedding_dim))

    def call(self, char_ids):
        real = ops.not_equal(char_ids, 0)
        embedded = self.embedding(char_ids)
        embedded = embedded * ops.cast(real[..., None], embedded.dtype)
        features = self.convolution(embedded)
        lowest = ops.convert_to_tensor(-1e4, features.dtype)
        pooled = ops.max(ops.where(real[..., None], features, lowest), axis=2)
        has_chars = ops.any(real, axis=2)[..., None]
        return ops.where(has_chars, pooled, ops.zeros_like(pooled))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:2], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "filters": self.filters,
                "kernel_size": self.kernel_size,
            }
        )
        return config
