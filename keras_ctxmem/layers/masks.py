"""Padding masks from token ids (0 = padding) and the last real token.

Example:
```python
import numpy as np
from keras_ctxmem.layers.masks import last_token, padding_mask_from
ids = np.array([[5, 9, 3, 0, 0]])
mask = padding_mask_from(ids)  # [[True, True, True, False, False]]
features = last_token(np.random.rand(1, 5, 8), mask)  # (1, 8): position 2
```
"""

import keras


def padding_mask_from(token_ids):
    """True at real tokens, False at the padding id 0."""
    return keras.ops.not_equal(token_ids, 0)


def last_token(sequence, padding_mask):
    """The features of each sequence's last real (unpadded) token."""
    length = keras.ops.sum(keras.ops.cast(padding_mask, "int32"), axis=1)
    index = keras.ops.maximum(length - 1, 0)[:, None, None]
    return keras.ops.take_along_axis(sequence, index, axis=1)[:, 0, :]
