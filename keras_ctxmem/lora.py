"""LoRA, kept importable here; it lives in `keras_ctxmem.peft.lora` with the
other parameter-efficient methods (`keras_ctxmem.peft`)."""

from keras_ctxmem.peft.lora import (  # noqa: F401
    DEFAULT_TARGETS,
    LORA_VARIABLES,
    enable_lora,
    load_lora_weights,
    lora_layers,
    merge_lora,
    named_layers,
    save_lora_weights,
    trainable_share,
)
