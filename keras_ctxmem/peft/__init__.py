"""Parameter-efficient fine-tuning of the zoo's Transformer tasks: LoRA,
bottleneck adapters and prefix-tuning.

Each method is enabled by one call on a task (`TransformerClassifier`,
`TransformerTokenClassifier`, `TransformerMaskedLM`, `MemoryTransformer`),
freezes the task's body except the new weights, and keeps the head trainable.
Its weights file holds the new weights and the head, keyed by layer path (a
preset saved from an adapted model would hold weights a plain model does not
have: keep the pre-trained preset and this file, or merge LoRA first):

```python
from keras_ctxmem import peft
from keras_ctxmem.zoo import TransformerClassifier
model = TransformerClassifier.from_preset("runs/pretrained", num_classes=2)
peft.enable_adapters(model, bottleneck_dim=16)  # or enable_lora / enable_prefix
model.compile()
model.fit(texts, labels)
peft.save_peft_weights(model, "runs/sst2.adapters.npz")

fresh = TransformerClassifier.from_preset("runs/pretrained", num_classes=2)
peft.enable_adapters(fresh, bottleneck_dim=16)
peft.load_peft_weights(fresh, "runs/sst2.adapters.npz")  # the trained model
```
"""

from keras_ctxmem.peft.adapters import (
    Adapter,
    adapter_layers,
    enable_adapters,
    load_adapter_weights,
    save_adapter_weights,
)
from keras_ctxmem.peft.core import (
    enabled_method,
    head_weights,
    load_peft_weights,
    save_peft_weights,
    trainable_share,
)
from keras_ctxmem.peft.lora import (
    enable_lora,
    load_lora_weights,
    lora_layers,
    merge_lora,
    save_lora_weights,
)
from keras_ctxmem.peft.prefix import (
    enable_prefix,
    load_prefix_weights,
    prefix_layers,
    save_prefix_weights,
)

__all__ = [
    "Adapter",
    "adapter_layers",
    "enable_adapters",
    "enable_lora",
    "enable_prefix",
    "enabled_method",
    "head_weights",
    "load_adapter_weights",
    "load_lora_weights",
    "load_peft_weights",
    "load_prefix_weights",
    "lora_layers",
    "merge_lora",
    "prefix_layers",
    "save_adapter_weights",
    "save_lora_weights",
    "save_peft_weights",
    "save_prefix_weights",
    "trainable_share",
]
