"""Preprocessing in the TensorFlow graph: tokenizing text for the zoo's models."""

from keras_ctxmem.preprocessing.text import TextPreprocessor
