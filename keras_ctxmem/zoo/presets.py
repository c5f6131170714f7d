"""The preset registry, as `keras_ctxmem.zoo.presets` (it lives in
`keras_ctxmem.registry`, which imports neither Keras nor TensorFlow).

Example:
```python
from keras_ctxmem.zoo.presets import get_preset
print(get_preset("transformer_tiny")["config"]["hidden_dim"])
```
"""

from keras_ctxmem.registry import (  # noqa: F401
    _PRESETS,
    PACKAGED_PRESETS,
    PRESETS_PATH_VARIABLE,
    get_preset,
    list_presets,
    preset_directory,
    preset_info,
    preset_roots,
    register_preset,
    trained_presets,
)
