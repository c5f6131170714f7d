"""Preprocessing in the TensorFlow graph: tokenizing text for the zoo's models."""

from keras_ctxmem.preprocessing.text import TextPreprocessor
from keras_ctxmem.preprocessing.text_tokenizer import TextTokenizer
