"""Reusable Keras layers: attention pooling, context memory and fusion."""

from keras_ctxmem.layers.attention import AttentionPooling as AttentionPooling
from keras_ctxmem.layers.fusion import ConcatFusion as ConcatFusion
from keras_ctxmem.layers.fusion import CrossModalAttention as CrossModalAttention
from keras_ctxmem.layers.fusion import FiLM as FiLM
from keras_ctxmem.layers.fusion import GatedMultimodalUnit as GatedMultimodalUnit
from keras_ctxmem.layers.memory import ContextMemory as ContextMemory
from keras_ctxmem.layers.memory import ContextMemoryCell as ContextMemoryCell
from keras_ctxmem.layers.pooling import MaskedMeanPooling as MaskedMeanPooling
