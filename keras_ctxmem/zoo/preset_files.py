"""`keras_ctxmem.preset_files` under its former name.

Example:
```python
from keras_ctxmem.zoo.preset_files import UnsafePresetError
```
"""

from keras_ctxmem.preset_files import (  # noqa: F401
    MAX_JSON_BYTES,
    PATH_FIELDS,
    UnsafePresetError,
    check_config_paths,
    check_preset_directory,
    check_weights_file,
    preset_file,
    read_preset_json,
)
