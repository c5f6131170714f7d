"""The model zoo: `from keras_ctxmem.zoo import TransformerClassifier`."""

from keras_ctxmem.registry import list_presets, preset_info
from keras_ctxmem.zoo.attentive_lstm import AttentiveLSTMClassifier
from keras_ctxmem.zoo.keras_hub_memory import KerasHubMemoryTransformer
from keras_ctxmem.zoo.lstm import LSTMClassifier
from keras_ctxmem.zoo.lstm_backbone import LSTMBackbone, LSTMTokenizer
from keras_ctxmem.zoo.lstm_masked_lm import LSTMMaskedLM
from keras_ctxmem.zoo.lstm_tagger import LSTMTagger
from keras_ctxmem.zoo.masked_lm import TransformerMaskedLM
from keras_ctxmem.zoo.memory_network import LinearStart, MemoryNetwork
from keras_ctxmem.zoo.memory_transformer import MemoryTransformer
from keras_ctxmem.zoo.multimodal import MultimodalFusionClassifier
from keras_ctxmem.zoo.registry import create_model, list_models, model_builder
from keras_ctxmem.zoo.seq2seq import Seq2Seq
from keras_ctxmem.zoo.transformer import (
    TokenAccuracy,
    TransformerBackbone,
    TransformerClassifier,
    TransformerTokenClassifier,
    TransformerTokenizer,
)
from keras_ctxmem.zoo.zoo_model import load_preset
