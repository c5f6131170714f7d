"""The preset registry: named model configurations, listed by family.

A preset is a name for a configuration (``"transformer_small"``). Models are built
from it with ``Model.from_preset(name, **overrides)``; a local directory written by
``model.save_to_preset(path)`` is loaded the same way, with its weights.

Example:
```python
from keras_ctxmem.zoo import list_presets
print(sorted(list_presets()))
```
"""

import difflib

_PRESETS = {}


def register_preset(name, family, description, config):
    """Adds a named configuration for a model family (e.g. ``"transformer"``)."""
    if name in _PRESETS:
        raise ValueError(f"Preset '{name}' is already registered.")
    _PRESETS[name] = {"family": family, "description": description, "config": config}


def list_presets(family=None):
    """Returns ``{name: description}`` for all presets, or for one family."""
    return {
        name: entry["description"]
        for name, entry in sorted(_PRESETS.items())
        if family is None or entry["family"] == family
    }


def get_preset(name, family=None):
    """Returns a copy of a preset's registry entry; unknown names raise with a list."""
    entry = _PRESETS.get(name)
    if entry is None or (family is not None and entry["family"] != family):
        known = sorted(list_presets(family))
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValueError(
            f"Unknown preset '{name}'.{hint} Known presets"
            f"{f' for {family}' if family else ''}: {', '.join(known)}. "
            "A preset can also be a directory written by `save_to_preset`."
        )
    return {**entry, "config": dict(entry["config"])}
