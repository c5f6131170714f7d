"""Reading a preset directory as untrusted input.

A preset may come from anywhere (a download, a shared drive), so it may only
make us read regular files inside its own directory: no symbolic link leading
out of it, no FIFO or device (`/dev/zero` never ends), no file path in its
configuration, no HDF5 link or storage in another file. Errors name the file
and the rule, never what the file holds. `metadata.json` holds a SHA-256 of
each weights and asset file (`"sha256"`), checked before they are read.

Example:
```python
from keras_ctxmem.zoo import create_model
from keras_ctxmem.preset_files import check_preset_directory
create_model("lstm_tiny").save_to_preset("/tmp/lstm_preset")
check_preset_directory("/tmp/lstm_preset")  # raises ValueError if unsafe
```
"""

import hashlib
import json
import os
import re
import stat
import warnings

MAX_JSON_BYTES = 16 * 1024 * 1024
# Configuration fields that Keras / keras-hub layers read as file paths.
PATH_FIELDS = ("vocabulary", "merges", "proto", "spm_proto", "filepath")


METADATA_FILE = "metadata.json"
# Files a configuration loader reads and checks itself: not checksummed, so
# that a config or a description can be edited by hand.
UNCHECKSUMMED = ("config.json", METADATA_FILE)


class UnsafePresetError(ValueError):
    """A preset asks to read something other than its own regular files."""


def check_preset_directory(directory):
    """Raises `UnsafePresetError` unless every entry of `directory` is a regular
    file or a folder inside it (symbolic links count by their target)."""
    root = os.path.realpath(directory)
    for parent, folders, files in os.walk(root):
        for name in folders + files:
            preset_file(root, os.path.relpath(os.path.join(parent, name), root))


def preset_file(directory, relative_path):
    """The real path of `relative_path` in the preset `directory`, checked: a
    regular file (or folder) inside the directory, whatever links lead to it."""
    if os.path.isabs(relative_path) or ".." in _parts(relative_path):
        raise UnsafePresetError(
            f"A preset file must be named relative to its directory, without "
            f"'..': refused '{relative_path}' in {directory}."
        )
    root = os.path.realpath(directory)
    path = os.path.realpath(os.path.join(root, relative_path))
    if os.path.commonpath([root, path]) != root:
        raise UnsafePresetError(
            f"{os.path.join(directory, relative_path)} leads outside the preset "
            "directory (a symbolic link?): a preset may only read its own files."
        )
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return path  # The caller says what is missing.
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise UnsafePresetError(
            f"{os.path.join(directory, relative_path)} is not a regular file (a "
            "FIFO, device or socket): a preset may only hold regular files."
        )
    return path


def read_preset_json(directory, file_name):
    """The JSON object in `directory/file_name`, checked and size-limited."""
    path = preset_file(directory, file_name)
    shown = os.path.join(directory, file_name)
    if not os.path.exists(path):
        raise ValueError(
            f"'{directory}' is not a preset directory: it has no {file_name}."
        )
    if os.path.getsize(path) > MAX_JSON_BYTES:
        raise UnsafePresetError(
            f"{shown} is larger than {MAX_JSON_BYTES // 2**20} MiB: not a preset file."
        )
    try:
        with open(path, encoding="utf-8") as f:
            content = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        # The position only, not the message: it may quote the file.
        position = getattr(error, "pos", getattr(error, "start", "?"))
        raise ValueError(
            f"{shown} is not valid JSON (error at character {position})."
        ) from None
    if not isinstance(content, dict):
        raise ValueError(f"{shown} does not hold a JSON object.")
    return content


def check_config_paths(config, config_path):
    """Raises if a configuration names a file: a preset's files are its assets.

    Refused: a string in a field that layers read as a path (`vocabulary`,
    `merges`, ...), and any absolute path or path with `..` anywhere.
    """
    for key_path, value in _strings(config, ""):
        key = key_path.rsplit(".", 1)[-1]
        if key in PATH_FIELDS or os.path.isabs(value) or ".." in _parts(value):
            raise UnsafePresetError(
                f"{config_path}: `{key_path}` names a file. A preset reads only "
                "its own files (its assets), never a path from its configuration."
            )


MAX_CONFIG_SIZE = 2**22
"""The largest size a preset's configuration may ask for (`vocabulary_size`,
`max_sequence_length`, `hidden_dim`, ...): 4,194,304."""
MAX_CONFIG_ELEMENTS = 2**30
"""The most elements two sizes of one configuration may multiply to (a
`vocabulary_size` × `hidden_dim` embedding): 2**30, 4 GiB of float32."""


def check_config_sizes(config, config_path):
    """Raises before anything is allocated if a configuration asks for sizes
    no model of this zoo uses: a whole number beyond ±`MAX_CONFIG_SIZE`, or
    two of them whose product passes `MAX_CONFIG_ELEMENTS` (a
    vocabulary of a million ids is allowed, a million × a million is not)."""
    sizes = sorted(
        (abs(value), key_path)
        for key_path, value in _numbers(config, "")
        if not key_path.endswith(("seed", "epsilon"))
    )
    for value, key_path in sizes:
        if value > MAX_CONFIG_SIZE:
            raise UnsafePresetError(
                f"{config_path}: `{key_path}` is {value:,} in size, above "
                f"{MAX_CONFIG_SIZE:,}: refused before allocating anything."
            )
    if len(sizes) >= 2 and sizes[-1][0] * sizes[-2][0] > MAX_CONFIG_ELEMENTS:
        (largest, first), (second, other) = sizes[-1], sizes[-2]
        raise UnsafePresetError(
            f"{config_path}: `{first}` ({largest:,}) × `{other}` ({second:,}) "
            f"passes {MAX_CONFIG_ELEMENTS:,} elements: refused before "
            "allocating anything."
        )


def _numbers(value, key_path):
    """`(key path, int)` of every whole number in a JSON value (not bools)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, f"{key_path}.{key}" if key_path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _numbers(item, f"{key_path}[{index}]")
    elif isinstance(value, int) and not isinstance(value, bool):
        yield key_path, value


def check_weights_file(path):
    """Raises unless the HDF5 file keeps all its data in itself: no external
    link, no dataset stored in or mapped from another file."""
    import h5py  # here: the CLI lists and checks names without it

    try:
        with h5py.File(path, "r") as f:
            _check_h5_group(f, path, set())
    except OSError:
        return  # Not HDF5 at all: loading reports it as truncated or invalid.


def _check_h5_group(group, path, seen):
    import h5py

    for name in group:
        link = group.get(name, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            raise UnsafePresetError(
                f"{path} links to another file (HDF5 external link at "
                f"{group.name}/{name}): a preset may only read its own files."
            )
        if not isinstance(link, h5py.HardLink):
            continue  # A soft link names an object of this file, visited anyway.
        item = group[name]
        if item.id in seen:  # h5py ids compare by file and object number
            continue
        seen.add(item.id)
        if hasattr(item, "keys"):
            _check_h5_group(item, path, seen)
        elif item.external or item.is_virtual:
            raise UnsafePresetError(
                f"{path} stores {item.name} in another file (HDF5 external or "
                "virtual dataset): a preset may only read its own files."
            )


def _strings(value, key_path):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{key_path}.{key}" if key_path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{key_path}[{index}]")
    elif isinstance(value, str):
        yield key_path, value


def _parts(path):
    return re.split(r"[\\/]", path)


def file_sha256(path):
    """The SHA-256 of a file, as hexadecimal, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def preset_checksums(directory):
    """`{relative path: SHA-256}` of the weights and asset files of a preset."""
    root = os.path.realpath(directory)
    checksums = {}
    for parent, folders, files in os.walk(root):
        folders.sort()
        for name in sorted(files):
            relative = os.path.relpath(os.path.join(parent, name), root)
            if relative not in UNCHECKSUMMED:
                path = preset_file(root, relative)
                checksums[relative.replace(os.sep, "/")] = file_sha256(path)
    return checksums


def write_checksums(directory):
    """Adds `"sha256"` (see `preset_checksums`) to a preset's `metadata.json`,
    for a preset saved before checksums existed.

    Example:
    ```python
    from keras_ctxmem.zoo import create_model
    from keras_ctxmem.preset_files import write_checksums
    create_model("lstm_tiny").save_to_preset("/tmp/lstm_preset")
    write_checksums("/tmp/lstm_preset")
    ```
    """
    path = os.path.join(directory, METADATA_FILE)
    has_metadata = os.path.exists(path)
    metadata = read_preset_json(directory, METADATA_FILE) if has_metadata else {}
    metadata["sha256"] = preset_checksums(directory)
    with open(path, "w") as f:
        json.dump(metadata, f, indent=2)
        f.write("\n")


def verify_checksums(directory, skip=()):
    """Raises unless each file listed in `metadata.json`'s `"sha256"` matches.

    A preset without checksums (saved before they existed) loads, with a
    warning. `skip`: relative paths not to check (weights that are not loaded).
    """
    has_metadata = os.path.exists(preset_file(directory, METADATA_FILE))
    metadata = read_preset_json(directory, METADATA_FILE) if has_metadata else {}
    checksums = metadata.get("sha256")
    if checksums is None:
        warnings.warn(
            f"The preset {directory} has no checksums in {METADATA_FILE}: its "
            "files are not verified. `keras_ctxmem.preset_files."
            "write_checksums` adds them to a preset you trust.",
            stacklevel=4,
        )
        return
    shown = os.path.join(directory, METADATA_FILE)
    if not isinstance(checksums, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in checksums.items()
    ):
        raise ValueError(f"{shown}: `sha256` must map file names to hex digests.")
    for relative, expected in checksums.items():
        if relative in skip:
            continue
        path = preset_file(directory, relative)
        if not os.path.isfile(path):
            raise ValueError(
                f"{os.path.join(directory, relative)} is listed in {shown} but missing."
            )
        if file_sha256(path) != expected.lower():
            raise ValueError(
                f"{os.path.join(directory, relative)} does not match its SHA-256 "
                f"in {shown}: the file is corrupt, truncated or was changed after "
                "saving. Refusing to load it."
            )
