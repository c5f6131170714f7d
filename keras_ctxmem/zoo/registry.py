"""Architectures vs trained models, the timm way.

A registered name is an *architecture*: a builder (the model class) and a
configuration. `create_model(name, **overrides)` builds it with random
weights. A *trained* name (a directory under the preset folders, see
`keras_ctxmem.zoo.presets`) carries weights: `load_preset(name)` or
`Model.from_preset(name)` load it. `list_models("memory_*", trained=...)` lists
both kinds with shell wildcards; `model_builder(name)` is the class an
architecture name builds. The CLI, the benchmark harness and the tests look
classes up here instead of keeping their own family -> class tables.

Example:
```python
from keras_ctxmem.zoo import create_model, list_models
print(list_models("memory_*"))          # architectures and trained presets
print(list_models(trained=True))        # only the names with weights
model = create_model("transformer_tiny", vocabulary_size=100, num_classes=3)
```
"""

import fnmatch

from keras_ctxmem.zoo.presets import _PRESETS, get_preset, list_presets


def model_builder(name):
    """The class an architecture name builds (e.g. `TransformerClassifier` for
    `"transformer_small"`); unknown names raise with a did-you-mean."""
    from keras_ctxmem import zoo

    return getattr(zoo, get_preset(name)["builder"])


def with_preprocessor_sizes(overrides):
    """`overrides` with `vocabulary_size` taken from a `preprocessor=` given."""
    preprocessor = overrides.get("preprocessor")
    if preprocessor is not None and "vocabulary_size" not in overrides:
        return {**overrides, "vocabulary_size": preprocessor.vocabulary_size}
    return overrides


def create_model(name, model_class=None, **overrides):
    """Builds the architecture `name` with random weights.

    Args:
        name: an architecture name (`list_models(trained=False)`).
        model_class: another class of the same family to build, e.g.
            `TransformerTokenClassifier` for `"transformer_small"`; default
            `model_builder(name)`.
        **overrides: constructor arguments that replace the configuration's
            (`num_classes=4`, `vocabulary_size=...`, `preprocessor=...`).

    Example:
    ```python
    from keras_ctxmem.zoo import TransformerTokenClassifier, create_model
    classifier = create_model("transformer_tiny", num_classes=3)
    tagger = create_model(
        "transformer_tiny", model_class=TransformerTokenClassifier, num_classes=9
    )
    ```
    """
    if name not in _PRESETS and name in list_presets(trained=True):
        raise ValueError(
            f"'{name}' is a trained preset: load it with its weights with "
            f"`load_preset('{name}')` or `<Model>.from_preset('{name}')`; "
            "`create_model` builds architectures "
            f"({', '.join(sorted(_PRESETS))})."
        )
    entry = get_preset(name)
    builder = model_builder(name)
    if model_class is None:
        model_class = builder
    elif getattr(model_class, "preset_family", None) != entry["family"]:
        raise ValueError(
            f"'{name}' is a '{entry['family']}' architecture; "
            f"`{model_class.__name__}` builds the "
            f"'{getattr(model_class, 'preset_family', None)}' family."
        )
    config = {**entry["config"], **with_preprocessor_sizes(overrides)}
    return model_class.from_preset_config(config)


def list_models(pattern=None, trained=None, family=None):
    """The sorted names matching `pattern` (shell wildcards: `"memory_*"`,
    `"*_tiny"`; None: all). `trained=True`: only names with weights;
    `trained=False`: only architectures; None: both. `family` filters by model
    family (`"transformer"`)."""
    names = list_presets(family=family, trained=trained)
    if pattern is not None:
        names = fnmatch.filter(names, pattern)
    return sorted(names)
