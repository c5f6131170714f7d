"""Reusable Keras layers: attention pooling, context memory and fusion."""

from keras_ctxmem.layers.attention import AttentionPooling
from keras_ctxmem.layers.char_cnn import CharCNN
from keras_ctxmem.layers.crf import CRF, CRFLoss
from keras_ctxmem.layers.dropout import (
    PhiloxDropout,
    TokenDropout,
    use_philox_dropout,
)
from keras_ctxmem.layers.fusion import (
    ConcatFusion,
    CrossModalAttention,
    FiLM,
    GatedMultimodalUnit,
)
from keras_ctxmem.layers.memory import ContextMemory, ContextMemoryCell
from keras_ctxmem.layers.pooling import MaskedMaxPooling, MaskedMeanPooling
