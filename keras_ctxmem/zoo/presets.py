"""The preset registry: named configurations, and trained presets found on disk.

A preset is a name. A *configuration* (`"transformer_tiny"`) is registered in
code with its model class and builds an untrained model:
`create_model(name, **overrides)` (`keras_ctxmem.zoo.registry`). A
*trained* preset is a directory written by `model.save_to_preset(...)` (config,
weights, vocabulary) that is found by its name in the preset folders
(`preset_roots()`: those listed in `$KERAS_CTXMEM_PRESETS`, then the package's
own `keras_ctxmem/presets/`); `load_preset(name)` or `Model.from_preset(name)`
load it with its weights, offline. `list_presets()` lists both;
`list_presets(trained=True)` only the trained ones, and `preset_info(name)`
says which a name is.

Example:
```python
from keras_ctxmem.zoo import list_presets, preset_info
print(sorted(list_presets()))
print(preset_info("transformer_tiny")["trained"])  # False: a configuration
```
"""

import difflib
import os

from keras_ctxmem.zoo.preset_files import preset_file, read_preset_json

PRESETS_PATH_VARIABLE = "KERAS_CTXMEM_PRESETS"
PACKAGED_PRESETS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "presets"
)

_PRESETS = {}


def register_preset(name, family, description, config, builder=None):
    """Adds a named architecture of a model family (e.g. ``"transformer"``):
    `builder` (the model class; default: the family's) builds it from `config`
    (`keras_ctxmem.zoo.create_model`)."""
    if name in _PRESETS:
        raise ValueError(f"Preset '{name}' is already registered.")
    _PRESETS[name] = {
        "family": family,
        "description": description,
        "config": config,
        "builder": builder,
    }


def preset_roots():
    """The folders searched for trained presets, in order: those listed in
    `$KERAS_CTXMEM_PRESETS` (separated by `os.pathsep`), then the package's."""
    listed = os.environ.get(PRESETS_PATH_VARIABLE, "")
    return [root for root in listed.split(os.pathsep) if root] + [PACKAGED_PRESETS]


def trained_presets(roots=None):
    """`{name: directory}` of the trained presets in `roots` (default
    `preset_roots()`): each sub-folder holding a `config.json`. The first root
    holding a name wins; a name registered as a configuration is refused."""
    found = {}
    for root in preset_roots() if roots is None else roots:
        if not os.path.isdir(root):
            continue
        for name in sorted(os.listdir(root)):
            directory = os.path.join(root, name)
            if name.startswith((".", "_")) or name in found:
                continue  # Hidden: staging folders of `save_to_preset`.
            if not os.path.isfile(os.path.join(directory, "config.json")):
                continue
            if name in _PRESETS:
                raise ValueError(
                    f"The trained preset {directory} is named like the "
                    f"configuration '{name}': rename its directory."
                )
            found[name] = directory
    return found


def preset_info(name, roots=None):
    """What a preset name stands for: a dict with `name`, `family`,
    `description`, `trained` (True: a directory with weights; False: a
    configuration), and for a trained preset its `directory`, `class_name`
    and Keras `registered_name` (None for a configuration)."""
    directory = trained_presets(roots).get(name)
    if directory is None:
        entry = get_preset(name)
        return {
            "name": name,
            "family": entry["family"],
            "description": entry["description"],
            "trained": False,
            "directory": None,
            "class_name": None,
            "registered_name": None,
        }
    return _trained_info(name, directory)


def _trained_info(name, directory):
    import keras

    registered_name = str(
        read_preset_json(directory, "config.json").get("registered_name")
    )
    cls = keras.saving.get_registered_object(registered_name)
    if os.path.exists(preset_file(directory, "metadata.json")):
        metadata = read_preset_json(directory, "metadata.json")
    else:
        metadata = {}
    class_name = getattr(cls, "__name__", registered_name)
    description = metadata.get("description") or f"A trained {class_name}."
    return {
        "name": name,
        "family": getattr(cls, "preset_family", None),
        "description": str(description),
        "trained": True,
        "directory": directory,
        "class_name": class_name,
        "registered_name": registered_name,
    }


def list_presets(family=None, trained=None, roots=None):
    """`{name: description}` of the presets, all or one family's.

    `trained=True` lists only trained presets (directories with weights),
    `trained=False` only configurations; `None` (default) both.
    """
    presets = {}
    if trained is not True:
        presets.update(
            (name, entry["description"])
            for name, entry in _PRESETS.items()
            if family is None or entry["family"] == family
        )
    if trained is not False:
        for name, directory in trained_presets(roots).items():
            info = _trained_info(name, directory)
            if family is None or info["family"] == family:
                presets[name] = info["description"]
    return dict(sorted(presets.items()))


def get_preset(name, family=None):
    """Returns a copy of a configuration's registry entry; unknown names raise
    with a list of the known ones."""
    entry = _PRESETS.get(name)
    if entry is None or (family is not None and entry["family"] != family):
        known = sorted(list_presets(family, trained=False))
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValueError(
            f"Unknown preset '{name}'.{hint} Known presets"
            f"{f' for {family}' if family else ''}: {', '.join(known)}. "
            "A preset can also be a directory written by `save_to_preset`, or "
            "the name of a trained preset (`list_presets(trained=True)`)."
        )
    return {**entry, "config": dict(entry["config"])}


def preset_directory(name_or_path):
    """The preset directory `name_or_path` stands for: a directory written by
    `save_to_preset`, a run directory holding one in `preset/` (`ctxmem train
    --out`), or a trained preset's name. Raises a ValueError otherwise."""
    if os.path.isdir(name_or_path):
        run_preset = os.path.join(name_or_path, "preset")
        has_config = os.path.exists(os.path.join(name_or_path, "config.json"))
        return (
            run_preset if os.path.isdir(run_preset) and not has_config else name_or_path
        )
    trained = trained_presets()
    if name_or_path in trained:
        return trained[name_or_path]
    if name_or_path in _PRESETS:
        raise ValueError(
            f"'{name_or_path}' is an architecture (a configuration without "
            f"weights): build it with `create_model('{name_or_path}', ...)` and "
            "train it."
        )
    close = difflib.get_close_matches(name_or_path, list(trained), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ValueError(
        f"'{name_or_path}' is neither a directory nor a trained preset.{hint} "
        f"Trained presets: {', '.join(trained) or 'none installed'}."
    )
