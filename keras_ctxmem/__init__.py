"""keras_ctxmem: a Keras 3 zoo of context-aware and memory-based sequence models."""

__version__ = "0.1.0"
