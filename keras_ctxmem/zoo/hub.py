"""Presets on model hubs: `hf://`, `kaggle://` and keras-hub's other handles.

`from_preset` and `load_preset` take a handle as they take a directory: the
preset's files come down through keras-hub's own loader
(`keras_hub.src.utils.preset_utils.get_file`, with its caches and
credentials), are copied as regular files into a temporary directory, and are
loaded from there with every check a local directory gets (checksums,
`safe_mode`, configuration sizes, no file outside the preset). Which files to
fetch: keras-hub's (`config.json`, `task.json`, weights, ...) and each file
listed in `metadata.json`'s checksums.

`upload_preset(uri, preset)` checks a preset as loading would, then hands it
to `keras_hub.upload_preset`.

Example:
```python
from keras_ctxmem.zoo import TransformerClassifier
model = TransformerClassifier.from_preset("hf://owner/sst2_transformer")
```
"""

import contextlib
import os
import shutil
import stat
import tempfile

from keras_ctxmem.preset_files import (
    METADATA_FILE,
    UnsafePresetError,
    check_preset_directory,
    preset_file,
    read_preset_json,
    verify_checksums,
)

# keras-hub's preset files; any of them may be missing except `config.json`.
PRESET_FILES = (
    "config.json",
    METADATA_FILE,
    "task.json",
    "preprocessor.json",
    "tokenizer.json",
)
WEIGHTS_FILES = ("model.weights.h5", "task.weights.h5")
# The vocabulary of a preset saved without checksums: before they existed, or
# by keras-hub's own saver (`assets/tokenizer/`).
DEFAULT_ASSETS = (
    "assets/preprocessor/vocabulary.txt",
    "assets/tokenizer/vocabulary.txt",
)


def is_handle(preset):
    """True for a keras-hub handle such as `"hf://owner/name"` (a scheme
    followed by `://`), False for a local path or a preset's name."""
    return isinstance(preset, str) and "://" in preset


@contextlib.contextmanager
def downloaded_preset(handle, load_weights=True):
    """Downloads the preset at `handle` with keras-hub's loader into a new
    temporary directory, which it yields and then removes."""
    from keras_hub.src.utils import preset_utils

    with tempfile.TemporaryDirectory(prefix="keras_ctxmem_preset_") as temporary:
        directory = os.path.join(temporary, "preset")
        os.mkdir(directory)

        def fetch(relative_path, required=False):
            try:
                source = preset_utils.get_file(handle, relative_path)
            except FileNotFoundError:
                if required:
                    raise ValueError(
                        f"'{handle}' is not a preset: it has no {relative_path}."
                    ) from None
                return
            _copy_regular_file(source, directory, relative_path, handle)

        fetch("config.json", required=True)
        for name in PRESET_FILES[1:]:
            fetch(name)
        weights = WEIGHTS_FILES if load_weights else ()
        for name in weights:
            fetch(name)
        for relative_path in _listed_files(directory):
            is_weights = relative_path in WEIGHTS_FILES
            if relative_path not in PRESET_FILES and (load_weights or not is_weights):
                # Listed with a checksum: missing is an error, named by
                # `verify_checksums` with the others.
                fetch(relative_path)
        try:
            check_preset_directory(directory)
            yield directory
        except ValueError as error:
            # Named by the handle, not by the temporary copy.
            message = str(error).replace(directory, handle)
            raise type(error)(message) from None


def _listed_files(directory):
    """The files `metadata.json` lists with a checksum, or the default assets."""
    if not os.path.exists(os.path.join(directory, METADATA_FILE)):
        return DEFAULT_ASSETS
    checksums = read_preset_json(directory, METADATA_FILE).get("sha256")
    if not isinstance(checksums, dict):
        return DEFAULT_ASSETS
    for relative_path in checksums:
        # Refused here, before asking the hub for it: an absolute path, '..'.
        preset_file(directory, str(relative_path))
    return [str(relative_path) for relative_path in checksums]


def _copy_regular_file(source, directory, relative_path, handle):
    target = preset_file(directory, relative_path)
    mode = os.stat(source).st_mode  # through links: hub caches use them
    if not stat.S_ISREG(mode):
        raise UnsafePresetError(
            f"{relative_path} of '{handle}' is not a regular file: a preset may "
            "only hold regular files."
        )
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(source, target)


def upload_preset(uri, preset):
    """Uploads a preset directory (or a trained preset's name) to a model hub
    with `keras_hub.upload_preset`, after checking it as loading does: only
    regular files inside it, checksums matching.

    `uri`: `"hf://[owner/]name"` or `"kaggle://owner/model/keras/variant"`.

    Example:
    ```python
    from keras_ctxmem.zoo.hub import upload_preset
    upload_preset("hf://me/sst2_sentiment", "sst2_sentiment")
    ```
    """
    import keras_hub

    from keras_ctxmem.registry import preset_directory

    directory = preset_directory(preset)
    check_preset_directory(directory)
    verify_checksums(directory)
    keras_hub.upload_preset(uri, directory)
