"""`keras_ctxmem.preset_files` under its former name.

Example:
```python
from keras_ctxmem.zoo.preset_files import UnsafePresetError
```
"""

from keras_ctxmem.preset_files import (  # noqa: F401
    MAX_JSON_BYTES,
    METADATA_FILE,
    PATH_FIELDS,
    UNCHECKSUMMED,
    UnsafePresetError,
    check_config_paths,
    check_preset_directory,
    check_weights_file,
    file_sha256,
    preset_checksums,
    preset_file,
    read_preset_json,
    verify_checksums,
    write_checksums,
)
