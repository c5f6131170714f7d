"""The preset registry: named configurations, and trained presets found on disk.

A preset is a name. A *configuration* (`"transformer_tiny"`) is registered in
code with the class that builds it, an untrained model:
`keras_ctxmem.zoo.create_model(name, **overrides)`. A
*trained* preset is a directory written by `model.save_to_preset(...)` (config,
weights, vocabulary) that is found by its name in the preset folders
(`preset_roots()`: those listed in `$KERAS_CTXMEM_PRESETS`, then the package's
own `keras_ctxmem/presets/`); `load_preset(name)` or `Model.from_preset(name)`
load it with its weights, offline. `list_presets()` lists both;
`list_presets(trained=True)` only the trained ones, and `preset_info(name)`
says which a name is. Neither Keras nor TensorFlow is imported here: the CLI
lists and checks names without them.

Example:
```python
from keras_ctxmem.zoo import list_presets, preset_info
print(sorted(list_presets()))
print(preset_info("transformer_tiny")["trained"])  # False: a configuration
```
"""

import difflib
import os

from keras_ctxmem.preset_files import preset_file, read_preset_json

PRESETS_PATH_VARIABLE = "KERAS_CTXMEM_PRESETS"
PACKAGED_PRESETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "presets")

_PRESETS = {}


def register_preset(name, family, description, config, builder):
    """Adds a named architecture of a model family (e.g. ``"transformer"``):
    `builder`, the name of the `keras_ctxmem.zoo` class that builds it from
    `config` (`keras_ctxmem.zoo.create_model`); a name, so that nothing here
    imports Keras."""
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


def _trained_info(name, directory, with_family=True):
    """`with_family=False` reads only JSON files: no Keras, no TensorFlow."""
    # A keras-hub task preset: the model is `task.json`, its backbone `config.json`.
    has_task = os.path.isfile(preset_file(directory, "task.json"))
    config_file = "task.json" if has_task else "config.json"
    registered_name = str(
        read_preset_json(directory, config_file).get("registered_name")
    )
    cls = None
    if with_family:
        import keras

        import keras_ctxmem.zoo  # noqa: F401 (registers the model classes)

        cls = keras.saving.get_registered_object(registered_name)
    if os.path.exists(preset_file(directory, "metadata.json")):
        metadata = read_preset_json(directory, "metadata.json")
    else:
        metadata = {}
    class_name = getattr(cls, "__name__", registered_name.rpartition(">")[2])
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
            info = _trained_info(name, directory, with_family=family is not None)
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


# === Configurations ===
# Each family's named sizes; `<Model>.from_preset(name)` builds one untrained.

for _size, _embedding, _hidden, _layers in (
    ("tiny", 16, 16, 1),
    ("small", 128, 128, 1),
    ("base", 256, 256, 2),
):
    register_preset(
        f"lstm_{_size}",
        family="lstm",
        builder="LSTMClassifier",
        description=(
            f"Embedding {_embedding} + {_layers} BiLSTM layer(s) of {_hidden} units."
        ),
        config={
            "vocabulary_size": 8000 if _size != "tiny" else 1000,
            "embedding_dim": _embedding,
            "hidden_dim": _hidden,
            "num_layers": _layers,
        },
    )


for _size, _embedding, _hidden, _layers in (
    ("tiny", 16, 16, 1),
    ("small", 128, 128, 1),
    ("base", 256, 256, 2),
):
    register_preset(
        f"attentive_lstm_{_size}",
        family="attentive_lstm",
        builder="AttentiveLSTMClassifier",
        description=(
            f"Embedding {_embedding} + {_layers} BiLSTM layer(s) of {_hidden} units "
            "+ additive attention pooling."
        ),
        config={
            "vocabulary_size": 8000 if _size != "tiny" else 1000,
            "embedding_dim": _embedding,
            "hidden_dim": _hidden,
            "attention_dim": _hidden,
            "num_layers": _layers,
        },
    )


for _size, _layers, _heads, _hidden, _length in (
    ("tiny", 1, 2, 32, 128),
    ("small", 2, 4, 128, 512),
    ("base", 6, 8, 512, 512),
):
    register_preset(
        f"transformer_{_size}",
        family="transformer",
        builder="TransformerClassifier",
        description=(
            f"Transformer encoder, {_layers} block(s), {_heads} heads, "
            f"width {_hidden}, up to {_length} tokens."
        ),
        config={
            "vocabulary_size": 8000 if _size != "tiny" else 1000,
            "num_layers": _layers,
            "num_heads": _heads,
            "hidden_dim": _hidden,
            "intermediate_dim": 4 * _hidden,
            "max_sequence_length": _length,
        },
    )


for _size, _embedding, _chars, _hidden in (
    ("tiny", 16, 8, 16),
    ("small", 100, 50, 100),
    ("base", 100, 50, 200),
):
    register_preset(
        f"lstm_tagger_{_size}",
        family="lstm_tagger",
        builder="LSTMTagger",
        description=(
            f"Word ({_embedding}) + case + char-CNN ({_chars}) features, BiLSTM of "
            f"{_hidden} units per direction, CRF: a from-scratch NER tagger."
        ),
        config={
            "vocabulary_size": 20000 if _size != "tiny" else 1000,
            "char_vocabulary_size": 100,
            "num_tags": 9,
            "embedding_dim": _embedding,
            "char_embedding_dim": 25 if _size != "tiny" else 8,
            "char_filters": _chars,
            "hidden_dim": _hidden,
        },
    )


for _size, _vocab, _image, _patch, _width, _heads, _layers in (
    ("tiny", 1000, (32, 32, 3), 8, 32, 2, 1),
    ("small", 8000, (64, 64, 3), 8, 128, 4, 2),
    ("base", 8000, (224, 224, 3), 16, 256, 8, 4),
):
    register_preset(
        f"multimodal_{_size}",
        family="multimodal",
        builder="MultimodalFusionClassifier",
        description=(
            f"Text: {_layers} Transformer block(s), width {_width}; image: "
            f"{_image[0]}x{_image[1]}x{_image[2]} in {_patch}x{_patch} patches; "
            "fused (concat, gated, film or cross_attention), then logits."
        ),
        config={
            "vocabulary_size": _vocab,
            "image_shape": _image,
            "embedding_dim": _width,
            "hidden_dim": _width,
            "patch_size": _patch,
            "num_heads": _heads,
            "num_layers": _layers,
        },
    )


for _size, _embedding in (("tiny", 20), ("small", 50), ("base", 100)):
    register_preset(
        f"memory_network_{_size}",
        family="memory_network",
        builder="MemoryNetwork",
        description=(
            f"End-to-end memory network (MemN2N): embedding {_embedding}, 3 hops, "
            "50 memories, position and temporal encoding, adjacent weight tying."
        ),
        config={
            "vocabulary_size": 200,
            "embedding_dim": _embedding,
            "num_hops": 3,
            "max_memories": 50,
        },
    )


for _size, _layers, _heads, _hidden, _segment, _memory in (
    ("tiny", 1, 2, 32, 16, 4),
    ("small", 2, 4, 128, 64, 8),
    ("base", 6, 8, 512, 128, 16),
):
    register_preset(
        f"memory_transformer_{_size}",
        family="memory_transformer",
        builder="MemoryTransformer",
        description=(
            f"Recurrent Memory Transformer, {_layers} block(s), {_heads} heads, "
            f"width {_hidden}, segments of {_segment} tokens, {_memory} memory "
            "tokens, any sequence length."
        ),
        config={
            "vocabulary_size": 8000 if _size != "tiny" else 1000,
            "segment_length": _segment,
            "num_memory_tokens": _memory,
            "num_layers": _layers,
            "num_heads": _heads,
            "hidden_dim": _hidden,
            "intermediate_dim": 4 * _hidden,
        },
    )


for _size, _layers, _embedding, _hidden, _length in (
    ("tiny", 1, 32, 64, 128),
    ("small", 2, 128, 256, 256),
    ("base", 2, 256, 512, 512),
):
    register_preset(
        f"seq2seq_lstm_{_size}",
        family="seq2seq",
        builder="Seq2Seq",
        description=(
            f"BiLSTM encoder / LSTM decoder with additive attention, {_layers} "
            f"layer(s) each, {_hidden} units, embeddings of {_embedding}."
        ),
        config={
            "source_vocabulary_size": 8000 if _size != "tiny" else 1000,
            "target_vocabulary_size": 8000 if _size != "tiny" else 1000,
            "architecture": "lstm",
            "embedding_dim": _embedding,
            "hidden_dim": _hidden,
            "num_layers": _layers,
            "max_sequence_length": _length,
        },
    )

for _size, _layers, _heads, _hidden, _length in (
    ("tiny", 1, 4, 64, 128),
    ("small", 3, 4, 256, 256),
    ("base", 6, 8, 512, 512),
):
    register_preset(
        f"seq2seq_transformer_{_size}",
        family="seq2seq",
        builder="Seq2Seq",
        description=(
            f"Transformer encoder-decoder, {_layers} block(s) each, {_heads} "
            f"heads, width {_hidden}, up to {_length} tokens."
        ),
        config={
            "source_vocabulary_size": 8000 if _size != "tiny" else 1000,
            "target_vocabulary_size": 8000 if _size != "tiny" else 1000,
            "architecture": "transformer",
            "hidden_dim": _hidden,
            "num_heads": _heads,
            "intermediate_dim": 4 * _hidden,
            "num_layers": _layers,
            "max_sequence_length": _length,
        },
    )
