"""Reusable Keras layers: attention pooling, context memory, fusion, memory
cells (MemN2N, RMT, Transformer-XL), rotary encoder blocks and heads."""

from keras_ctxmem.layers.attention import AttentionPooling
from keras_ctxmem.layers.char_cnn import CharCNN
from keras_ctxmem.layers.crf import CRF, CRFLoss
from keras_ctxmem.layers.dropout import (
    PhiloxDropout,
    TokenDropout,
    use_philox_dropout,
)
from keras_ctxmem.layers.encoder_blocks import (
    RotaryEncoderBlock,
    RotaryMultiHeadAttention,
)
from keras_ctxmem.layers.fusion import (
    ConcatFusion,
    CrossModalAttention,
    FiLM,
    GatedMultimodalUnit,
)
from keras_ctxmem.layers.heads import LogitsHead
from keras_ctxmem.layers.lstm import ProjectedLSTM
from keras_ctxmem.layers.memn2n import (
    BagOfWords,
    MemoryAges,
    MemoryAttention,
    TemporalEncoding,
)
from keras_ctxmem.layers.memory import ContextMemory, ContextMemoryCell
from keras_ctxmem.layers.pooling import MaskedMaxPooling, MaskedMeanPooling
from keras_ctxmem.layers.recurrent_memory import (
    RecurrentMemoryCell,
    RecurrentMemoryEncoder,
)
