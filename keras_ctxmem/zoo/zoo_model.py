"""`ZooModel`: what every zoo model shares — presets, preset directories, compile.

Subclasses build a functional graph in `__init__` (keras-hub style) and set
`preset_family`; they inherit:
- `preprocessor=` (a `TextPreprocessor`): `fit`, `evaluate` and `predict` then
  take raw strings; `label_names=` keeps the class names with the model;
- `predict` returns logits, `predict_labels` probabilities, class ids and
  labels (what `ctxmem predict` and the exported SavedModel return);
- `Model.presets` and `Model.from_preset(name_or_directory, **overrides)`;
- `model.save_to_preset(directory)` (`config.json`, `metadata.json`,
  `model.weights.h5`: keras-hub's layout; a keras-hub `Task` also writes
  `task.json` and `task.weights.h5`, and a `TextPreprocessor` is saved as
  `preprocessor.json`, `tokenizer.json` and its vocabulary, so that keras-hub's
  own `from_preset` loads them), and `from_preset` of `hf://` / `kaggle://`
  handles through keras-hub's loader (`keras_ctxmem.zoo.hub`);
- `model.compile()` with defaults for the head (AdamW with warm-up and decay, the
  right loss and metrics) and the fastest measured executor for the device
  (`jit_compile="auto"`: XLA on a GPU or TPU and on JAX, TensorFlow's graph
  executor on a CPU; see `keras_ctxmem.compile_defaults.resolve_jit_compile`);
- token ids and labels checked on the way in, values included, datasets too
  (`token_id_limits`, `label_limits`, `token_id_checks`), and
  dropout masks drawn with Philox, which XLA compiles well (`PhiloxDropout`).
"""

import datetime
import json
import os
import warnings

import keras
import keras_hub
import numpy as np
import tensorflow as tf
from keras.src.saving import saving_lib

from keras_ctxmem import __version__
from keras_ctxmem.compile_defaults import default_optimizer, resolve_jit_compile
from keras_ctxmem.layers.arguments import check_rate  # noqa: F401 (re-exported)
from keras_ctxmem.layers.dropout import use_philox_dropout
from keras_ctxmem.preprocessing.string_inputs import (
    contains_strings,
    preprocessed_dataset,
)
from keras_ctxmem.preset_files import (
    check_config_paths,
    check_config_sizes,
    check_preset_directory,
    check_weights_file,
    preset_checksums,
    preset_file,
    read_preset_json,
    verify_checksums,
)
from keras_ctxmem.registry import (
    get_preset,
    list_presets,
    preset_directory,
    preset_info,
    trained_presets,
)
from keras_ctxmem.zoo import hub, preset_writes
from keras_ctxmem.zoo.registry import (
    create_model,
    model_builder,
    with_preprocessor_sizes,
)
from keras_ctxmem.zoo.token_id_checks import (
    check_has_examples,
    check_model_labels,
    check_model_token_ids,
    checked_dataset,
    value_check_errors,
)

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.weights.h5"
# keras-hub's task files: a task preset's `config.json` and `model.weights.h5`
# hold its backbone, `task.json` and `task.weights.h5` the rest.
TASK_CONFIG_FILE = "task.json"
TASK_WEIGHTS_FILE = "task.weights.h5"
PREPROCESSOR_CONFIG_FILE = "preprocessor.json"
PREPROCESSOR_ASSETS = os.path.join("assets", "preprocessor")


def load_preset(name_or_directory, load_weights=True, **overrides):
    """Loads a trained preset as the class it was saved from.

    `name_or_directory`: a directory written by `save_to_preset`, a run
    directory holding one in `preset/`, a trained preset's name
    (`list_presets(trained=True)`), or a keras-hub handle (`"hf://owner/name"`,
    `"kaggle://..."`; see `keras_ctxmem.zoo.hub`).

    Example:
    ```python
    from keras_ctxmem.zoo import load_preset
    model = load_preset("runs/quickstart/preset")
    ```
    """
    if hub.is_handle(name_or_directory):
        with hub.downloaded_preset(name_or_directory, load_weights) as directory:
            return load_preset(directory, load_weights, **overrides)
    preset_writes.remove_leftovers(name_or_directory)
    directory = preset_directory(name_or_directory)

    def load():
        serialized = _read_config(directory)
        cls = _saved_class(serialized)
        if cls is None or not issubclass(cls, ZooModel):
            raise ValueError(
                f"The preset in '{directory}' holds "
                f"'{serialized['registered_name']}', which is not a keras_ctxmem "
                "model."
            )
        return cls.from_preset(directory, load_weights=load_weights, **overrides)

    return preset_writes.read_consistently(directory, load)


def load_preset_preprocessor(directory):
    """The `TextPreprocessor` saved in a preset directory, or None."""
    config = _read_config(directory)["config"].get("preprocessor")
    if config is None:
        return None
    config_path = os.path.join(directory, _model_config_file(directory))
    preprocessor = _deserialize_safely(config, config_path)
    _load_preprocessor_assets(preprocessor, directory)
    return preprocessor


def _load_preprocessor_assets(preprocessor, directory):
    """Loads a preprocessor's assets from a preset directory: a keras-hub
    preprocessor's tokenizer's from keras-hub's folder for it
    (`assets/tokenizer/`) when the preset has one, else `assets/preprocessor/`
    (other preprocessors, and presets saved before `tokenizer.json`)."""
    tokenizer = getattr(preprocessor, "tokenizer", None)
    if isinstance(tokenizer, keras_hub.tokenizers.Tokenizer):
        folder = os.path.join("assets", tokenizer.config_file.split(".")[0])
        if os.path.isdir(preset_file(directory, folder)):
            return tokenizer.load_assets(preset_file(directory, folder))
    preprocessor.load_assets(preset_file(directory, PREPROCESSOR_ASSETS))


def _deserialize_safely(serialized, config_path):
    try:
        # safe_mode: a preset may come from anywhere; no code is run from it.
        return keras.saving.deserialize_keras_object(serialized, safe_mode=True)
    except (TypeError, ValueError) as error:
        raise ValueError(f"Invalid configuration in {config_path}: {error}") from None


def _model_config_file(directory):
    """`task.json` in a keras-hub task preset, else `config.json`."""
    has_task = os.path.isfile(preset_file(directory, TASK_CONFIG_FILE))
    return TASK_CONFIG_FILE if has_task else CONFIG_FILE


def _read_config(directory, file_name=None):
    """The checked configuration of a preset directory, read as untrusted:
    `file_name`, by default the whole model's (`_model_config_file`)."""
    check_preset_directory(directory)
    file_name = file_name or _model_config_file(directory)
    serialized = read_preset_json(directory, file_name)
    config_path = os.path.join(directory, file_name)
    for field in ("registered_name", "config"):
        if field not in serialized:
            raise ValueError(f"{config_path} has no '{field}' field.")
    if not isinstance(serialized["config"], dict):
        raise ValueError(f"{config_path}: 'config' is not a JSON object.")
    check_config_paths(serialized, config_path)
    check_config_sizes(serialized["config"], config_path)
    return serialized


def _saved_class(serialized):
    """The registered class a configuration names, or None."""
    name = serialized["registered_name"]
    found = keras.saving.get_registered_object(name) if isinstance(name, str) else None
    return found if isinstance(found, type) else None


def _load_weights(model, directory, config_file=CONFIG_FILE):
    """The weights of a preset: in `model.weights.h5`, or for a keras-hub task
    preset (`config_file` is `task.json`) the backbone's there and the rest
    in `task.weights.h5`."""
    if config_file == TASK_CONFIG_FILE:
        if os.path.exists(preset_file(directory, TASK_WEIGHTS_FILE)):
            _load_weights_file(directory, TASK_WEIGHTS_FILE, model.load_task_weights)
        model = model.backbone
    _load_weights_file(directory, WEIGHTS_FILE, model.load_preset_weights)


def load_weights_only(model, path, objects_to_skip=()):
    """Loads a `.weights.h5` file into `model`, leaving out `objects_to_skip`
    and the optimizer: a preset holds none, and a compiled model's would
    warn that it finds no variables."""
    optimizer = getattr(model, "optimizer", None)
    skipped = [*objects_to_skip, *([optimizer] if optimizer else [])]
    saving_lib.load_weights_only(model, path, objects_to_skip=skipped or None)


def _load_weights_file(directory, file_name, load):
    check_weights_file(preset_file(directory, file_name))
    # By its name in the preset: Keras picks the file format from the name.
    weights_path = os.path.join(directory, file_name)
    try:
        load(weights_path)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"Cannot load the weights in {weights_path}: the file is missing, "
            f"truncated or does not match the configuration ({error})"
        ) from None


def check_sizes(**sizes):
    """Raises a ValueError naming the first size that is not a positive integer."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"`{name}` must be a positive integer. Received: {value!r}"
            )


class classproperty(property):
    def __get__(self, _, owner_cls):
        return self.fget(owner_cls)


class ZooModel(keras.Model):
    """Base class of the zoo's models. Not used directly."""

    preset_family = None

    def __init__(
        self, *args, preprocessor=None, label_names=None, dtype=None, **kwargs
    ):
        unknown = set(kwargs) - {"inputs", "outputs", "name", "trainable"}
        if unknown:
            raise ValueError(
                f"Unknown argument(s) for {type(self).__name__}: {sorted(unknown)}"
            )
        super().__init__(*args, **kwargs)
        use_philox_dropout(self)
        if dtype is not None:
            self.dtype_policy = keras.dtype_policies.get(dtype)
        self.preprocessor = preprocessor
        self.label_names = list(label_names) if label_names is not None else None

    def get_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "label_names": self.label_names,
        }
        if self.preprocessor is not None:
            config["preprocessor"] = keras.saving.serialize_keras_object(
                self.preprocessor
            )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        if isinstance(config.get("preprocessor"), dict):
            config["preprocessor"] = keras.saving.deserialize_keras_object(
                config["preprocessor"]
            )
        return cls(**config)

    # === Presets ===

    @classproperty
    def presets(cls):
        """`{name: description}` of the presets this class can build: its
        family's configurations and the trained presets of this class."""
        presets = list_presets(cls.preset_family, trained=False)
        for name, description in list_presets(cls.preset_family, trained=True).items():
            saved_cls = keras.saving.get_registered_object(
                preset_info(name)["registered_name"]
            )
            if isinstance(saved_cls, type) and issubclass(saved_cls, cls):
                presets[name] = description
        return dict(sorted(presets.items()))

    @classmethod
    def from_preset(cls, preset, load_weights=True, **overrides):
        """Loads a trained model: a trained preset's name
        (`list_models(trained=True)`) or a `save_to_preset` directory, with its
        weights and vocabulary. Keyword arguments override the saved
        configuration (`num_classes=4`).

        An architecture name (`"transformer_tiny"`) still builds an untrained
        model here, with a `DeprecationWarning`: use
        `create_model(name, **overrides)` for that.

        Example:
        ```python
        from keras_ctxmem.zoo import TransformerClassifier, create_model
        create_model("transformer_tiny", num_classes=3).save_to_preset("/tmp/t")
        model = TransformerClassifier.from_preset("/tmp/t")
        ```
        """
        overrides = with_preprocessor_sizes(overrides)
        if hub.is_handle(preset):
            with hub.downloaded_preset(preset, load_weights) as directory:
                return cls._from_preset_directory(directory, load_weights, overrides)
        preset_writes.remove_leftovers(preset)  # and puts back one a crash hid
        directory = preset if os.path.isdir(preset) else trained_presets().get(preset)
        if directory is not None:
            return cls._from_preset_directory(directory, load_weights, overrides)
        get_preset(preset, cls.preset_family)  # unknown names: did-you-mean
        builder = model_builder(preset)
        model_class = "" if cls is builder else f", model_class={cls.__name__}"
        warnings.warn(
            f"`{cls.__name__}.from_preset('{preset}')`: '{preset}' is an "
            "architecture without trained weights, and building one with "
            "`from_preset` is deprecated (from_preset loads trained models). Use "
            f"`keras_ctxmem.zoo.create_model('{preset}'{model_class}, ...)`.",
            DeprecationWarning,
            stacklevel=2,
        )
        return create_model(preset, model_class=cls, **overrides)

    @classmethod
    def from_preset_config(cls, config):
        """Builds the model from a registry configuration plus overrides."""
        return cls(**config)

    @classmethod
    def _from_preset_directory(cls, directory, load_weights, overrides):
        return preset_writes.read_consistently(
            directory,
            lambda: cls._read_preset_directory(directory, load_weights, overrides),
        )

    @classmethod
    def _read_preset_directory(cls, directory, load_weights, overrides):
        overrides = dict(overrides)
        # A backbone is `config.json` also in a task preset (keras-hub's layout).
        is_backbone = issubclass(cls, keras_hub.models.Backbone)
        config_file = CONFIG_FILE if is_backbone else _model_config_file(directory)
        config_path = os.path.join(directory, config_file)
        serialized = _read_config(directory, config_file)
        saved_cls = _saved_class(serialized)
        if saved_cls is None or not issubclass(saved_cls, cls):
            return cls._from_other_preset_class(
                directory, saved_cls, serialized, load_weights, overrides
            )
        skip = () if load_weights else (WEIGHTS_FILE, TASK_WEIGHTS_FILE)
        verify_checksums(directory, skip=skip)
        serialized["config"].update(overrides)
        model = _deserialize_safely(serialized, config_path)
        if model.preprocessor is not None and "preprocessor" not in overrides:
            _load_preprocessor_assets(model.preprocessor, directory)
        if load_weights:
            _load_weights(model, directory, config_file)
        return model

    @classmethod
    def _from_other_preset_class(
        cls, directory, saved_cls, serialized, load_weights, overrides
    ):
        """Hook for tasks that load a backbone preset; others cannot."""
        saved_name = saved_cls.__name__ if saved_cls else serialized["registered_name"]
        raise ValueError(
            f"The preset in '{directory}' holds a `{saved_name}`, which "
            f"`{cls.__name__}.from_preset` cannot load. Call "
            f"`{saved_name}.from_preset` instead."
        )

    def load_preset_weights(self, filepath):
        """Loads a preset's `model.weights.h5` that holds this whole model (not
        a keras-hub task preset's, which holds the backbone)."""
        load_weights_only(self, filepath)

    def save_to_preset(self, directory):
        """Writes `config.json`, `metadata.json` and `model.weights.h5`, and a
        `TextPreprocessor` in keras-hub's layout (`preprocessor.json`,
        `tokenizer.json`, the vocabulary in `assets/tokenizer/`; other
        preprocessors' assets go to `assets/preprocessor/`). A keras-hub `Task`
        is written in keras-hub's layout: its backbone in `config.json` and
        `model.weights.h5`, the task in `task.json` and `task.weights.h5`;
        `keras_hub.models.TextClassifier.from_preset(directory)` then loads a
        `TransformerClassifier`, and `keras_hub.tokenizers.Tokenizer.
        from_preset(directory)` its tokenizer.

        Example:
        ```python
        from keras_ctxmem.zoo import LSTMClassifier, create_model
        model = create_model("lstm_tiny", num_classes=2)
        model.save_to_preset("/tmp/my_lstm")
        same = LSTMClassifier.from_preset("/tmp/my_lstm")
        ```
        """
        directory = os.path.abspath(directory)
        os.makedirs(os.path.dirname(directory), exist_ok=True)
        # Written aside, then swapped in at once (`preset_writes`): a reader or
        # a crash never finds a half-written preset, or none.
        staging = preset_writes.make_staging_directory(directory)
        try:
            self._write_preset(staging)
            preset_writes.replace_directory(staging, directory)
        except BaseException:
            if os.path.lexists(staging):
                preset_writes.discard(staging)
            raise

    def _write_preset(self, directory):
        metadata = {
            "keras_ctxmem_version": __version__,
            "keras_version": keras.__version__,
            "keras_hub_version": keras_hub.__version__,
            "class_name": type(self).__name__,
            "parameter_count": self.count_params(),
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        }
        if isinstance(self, keras_hub.models.Task):
            # keras-hub's layout, which its `from_preset` reads.
            _write_config(self, os.path.join(directory, TASK_CONFIG_FILE))
            backbone_layers = list(self.backbone._flatten_layers())
            if self.has_task_weights():
                _write_weights(self, directory, TASK_WEIGHTS_FILE, backbone_layers)
            _write_config(self.backbone, os.path.join(directory, CONFIG_FILE))
            _write_weights(self.backbone, directory, WEIGHTS_FILE)
        else:
            _write_config(self, os.path.join(directory, CONFIG_FILE))
            _write_weights(self, directory, WEIGHTS_FILE)
        is_hub_model = isinstance(
            self, (keras_hub.models.Task, keras_hub.models.Backbone)
        )
        if isinstance(self.preprocessor, keras_hub.models.Preprocessor):
            # keras-hub's layout: `preprocessor.json`, `tokenizer.json` and the
            # vocabulary in `assets/tokenizer/`, which keras-hub's loaders read.
            self.preprocessor.save_to_preset(directory)
        elif self.preprocessor is not None:
            if is_hub_model:
                # What keras-hub loads when it builds a task around a backbone.
                path = os.path.join(directory, PREPROCESSOR_CONFIG_FILE)
                _write_config(self.preprocessor, path)
            assets = os.path.join(directory, PREPROCESSOR_ASSETS)
            os.makedirs(assets, exist_ok=True)
            self.preprocessor.save_assets(assets)
        # Last: checksums of the weights and assets, checked when loading.
        metadata["sha256"] = preset_checksums(directory)
        with open(os.path.join(directory, METADATA_FILE), "w") as f:
            json.dump(metadata, f, indent=2)

    # === Raw strings in ===
    # `fit`, `evaluate`, `predict` and `predict_on_batch` preprocess strings
    # themselves, then run Keras's own loops: keras-hub's `PipelineModel`
    # (a base of keras-hub tasks) would run the preprocessor again.

    def preprocess_features(self, features):
        """Runs the preprocessor on the text of `features` (a dict's `"text"`)."""
        if self.preprocessor is None:
            raise ValueError(
                f"This {type(self).__name__} received strings but has no "
                "preprocessor: build it with `preprocessor=TextPreprocessor(...)`, "
                "or give it int token ids."
            )
        if isinstance(features, dict):
            features = dict(features)
            features["token_ids"] = self.preprocessor(features.pop("text"))
            return features
        return self.preprocessor(features)

    def token_id_limits(self):
        """`{input name: (vocabulary_size, max_length)}` for the token-id inputs.

        `fit`, `evaluate`, `predict` and eager calls check the ids they receive
        against these (`keras_ctxmem.zoo.token_id_checks`); None means no limit.
        """
        owner = getattr(self, "backbone", None) or self
        vocabulary_size = getattr(owner, "vocabulary_size", None)
        max_length = getattr(owner, "max_sequence_length", None)
        return {"token_ids": (vocabulary_size, max_length)}

    def __call__(self, *args, **kwargs):
        inputs = args[0] if args else kwargs.get("inputs")
        if not isinstance(inputs, keras.KerasTensor):
            if contains_strings(inputs):
                raise ValueError(
                    "Calling the model directly does not preprocess strings: use "
                    "`model.predict(texts)`, or `model(model.preprocessor(texts))`."
                )
            check_model_token_ids(self, inputs)
        return super().__call__(*args, **kwargs)

    def label_limits(self):
        """`(num_classes, ignore_class)` for the labels `fit` and `evaluate` take,
        or None when they are not checked.

        A label must be an integer in `[0, num_classes)` or `ignore_class`
        (None: no such value). Checked for a single-output model compiled with a
        sparse categorical cross-entropy, where a bad label makes the loss NaN.
        """
        loss = getattr(self, "loss", None)
        if loss == "sparse_categorical_crossentropy":
            ignore_class = None
        elif isinstance(loss, keras.losses.SparseCategoricalCrossentropy):
            ignore_class = loss.get_config().get("ignore_class")
        else:
            return None
        if len(self.outputs) != 1:
            return None
        return self.outputs[0].shape[-1], ignore_class

    def _checked_inputs(self, x, y=None, labels=True):
        """`x` checked (a dataset: as it is read), and array labels `y`."""
        check_model_token_ids(self, x)
        if isinstance(x, tf.data.Dataset):
            return checked_dataset(self, x, labels=labels)
        if labels and y is not None:
            check_model_labels(self, y)
        return x

    def _checked_validation_data(self, validation_data):
        if isinstance(validation_data, tuple):
            x, y, _ = keras.utils.unpack_x_y_sample_weight(validation_data)
            self._checked_inputs(x, y)
            return validation_data
        return self._checked_inputs(validation_data)

    def _run_checked(self, run):
        """`run()` (a Keras loop), a failed value check made a clear error.

        On JAX, Keras detaches the variables' values while it loops and puts
        them back at the end: an error while reading a batch would leave the
        model without weights. They are put back here.
        """
        if keras.backend.backend() != "jax":
            return value_check_errors(run)
        variables = {id(v): v for v in self.variables}
        if getattr(self, "optimizer", None) is not None:
            variables.update({id(v): v for v in self.optimizer.variables})
        variables.update({id(v): v for v in self.metrics_variables})
        values = [(v, v._value) for v in variables.values()]
        try:
            return value_check_errors(run)
        except BaseException:
            self.jax_state_sync()
            self._jax_state = None
            for variable, value in values:
                if variable._value is None:
                    variable._value = value
            raise

    def fit(self, x=None, y=None, batch_size=None, validation_data=None, **kwargs):
        check_has_examples(x, "fit")
        if contains_strings(x):
            x = preprocessed_dataset(
                x,
                y,
                kwargs.pop("sample_weight", None),
                batch_size,
                kwargs.pop("shuffle", True),
                self.preprocess_features,
            )
            y = batch_size = None
            kwargs["shuffle"] = False  # The dataset shuffles itself.
        x = self._checked_inputs(x, y)
        if validation_data is not None:
            is_tuple = isinstance(validation_data, tuple)
            if contains_strings(validation_data[0] if is_tuple else validation_data):
                validation_data = preprocessed_dataset(
                    *(validation_data if is_tuple else (validation_data,)),
                    batch_size=batch_size,
                    preprocess=self.preprocess_features,
                )
            validation_data = self._checked_validation_data(validation_data)
        return self._run_checked(
            lambda: keras.Model.fit(
                self,
                x,
                y,
                batch_size=batch_size,
                validation_data=validation_data,
                **kwargs,
            )
        )

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        check_has_examples(x, "evaluate")
        if contains_strings(x):
            x = preprocessed_dataset(
                x,
                y,
                kwargs.pop("sample_weight", None),
                batch_size,
                preprocess=self.preprocess_features,
            )
            y = batch_size = None
        x = self._checked_inputs(x, y)
        return self._run_checked(
            lambda: keras.Model.evaluate(self, x, y, batch_size=batch_size, **kwargs)
        )

    def predict(self, x, batch_size=None, **kwargs):
        check_has_examples(x, "predict")
        if contains_strings(x):
            x = preprocessed_dataset(
                x, batch_size=batch_size, preprocess=self.preprocess_features
            )
            batch_size = None
        x = self._checked_inputs(x, labels=False)
        try:
            return self._run_checked(
                lambda: keras.Model.predict(self, x, batch_size=batch_size, **kwargs)
            )
        except UnboundLocalError:  # Keras, for a dataset that yields nothing
            raise ValueError(
                "`predict` received a dataset that yields no batch: no examples."
            ) from None

    def predict_on_batch(self, x):
        """`predict` of one batch without `predict`'s per-call set-up (data
        adapter, iterator, callbacks): the fast path for one request at a
        time. It runs the compiled predict step; `model(x)` instead runs
        eagerly on TensorFlow (8x to 150x slower at batch 1, `benchmarks/RESULTS.md`
        "Online serving"). Takes raw strings when the model has a preprocessor.
        """
        if contains_strings(x):
            x = self.preprocess_features(x)
        else:
            check_model_token_ids(self, x)
        return keras.Model.predict_on_batch(self, x)

    def preprocess_samples(self, x, y=None, sample_weight=None):
        """keras-hub's `PipelineModel` hook, for the models that are keras-hub
        tasks (`train_on_batch`, `test_on_batch`): strings go through the
        preprocessor, token ids as they are."""
        if contains_strings(x):
            x = self.preprocess_features(x)
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def predict_labels(self, x, batch_size=None, **kwargs):
        """What `ctxmem predict` and the exported SavedModel answer, in one call:
        `predict` gives logits; this gives a dict of numpy arrays with
        `probabilities` (softmax of the logits, float32), `class_id` (int32)
        and `label` (the class names, or the ids as strings without
        `label_names`). Token classifiers answer per token. For classifiers
        (models with `num_classes`); keyword arguments go to `predict`.

        Example:
        ```python
        from keras_ctxmem.zoo import load_preset
        model = load_preset("sst2_sentiment")
        model.predict_labels(["a charming film"])["label"]  # ['positive']
        ```
        """
        if not hasattr(self, "num_classes"):
            raise ValueError(
                f"{type(self).__name__} is not a classifier: use `predict`."
            )
        if batch_size is None and not kwargs and _is_small_batch(x):
            logits = self.predict_on_batch(x)  # one request: the fast path
        else:
            kwargs.setdefault("verbose", 0)
            logits = self.predict(x, batch_size=batch_size, **kwargs)
        logits = keras.ops.convert_to_numpy(logits)
        logits = logits.astype("float32")
        exp = np.exp(logits - logits.max(-1, keepdims=True))
        probabilities = exp / exp.sum(-1, keepdims=True)
        class_id = probabilities.argmax(-1).astype("int32")
        names = self.label_names or [str(i) for i in range(logits.shape[-1])]
        return {
            "probabilities": probabilities,
            "class_id": class_id,
            "label": np.asarray(names, dtype=object)[class_id],
        }

    # === Training ===

    def default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def default_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def compile(
        self,
        optimizer="auto",
        loss="auto",
        metrics="auto",
        jit_compile="auto",
        **kwargs,
    ):
        """Compiles with the head's defaults and the fastest executor.

        `"auto"` picks AdamW (`keras_ctxmem.compile_defaults.default_optimizer`),
        the loss and the metrics that fit the model's output, and for
        `jit_compile` XLA where it is the fast path (GPU, TPU, the JAX backend),
        not on a TensorFlow CPU (`compile_defaults.resolve_jit_compile`). Any
        Keras `compile` argument can be given instead; `jit_compile=True` forces
        XLA.
        """
        not_compilable = [
            layer.name for layer in self._flatten_layers() if not layer.supports_jit
        ]
        if jit_compile is True and not_compilable:
            raise ValueError(
                f"`jit_compile=True`, but these layers cannot be XLA-compiled: "
                f"{not_compilable}. An LSTM built with `use_cudnn=True` runs "
                "cuDNN kernels XLA cannot compile: build it with "
                "`use_cudnn=False`, or compile with `jit_compile=False`."
            )
        # "auto" never picks XLA for a model XLA cannot compile (cuDNN LSTMs).
        jit_compile = resolve_jit_compile(jit_compile) and not not_compilable
        super().compile(
            optimizer=default_optimizer() if optimizer == "auto" else optimizer,
            loss=self.default_loss() if loss == "auto" else loss,
            metrics=self.default_metrics() if metrics == "auto" else metrics,
            jit_compile=jit_compile,
            **kwargs,
        )

    def compile_from_config(self, config):
        """Recompiles a model loaded from a `.keras` file as it was saved."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)


def _write_config(obj, path):
    serialized = keras.saving.serialize_keras_object(obj)
    serialized.pop("compile_config", None)  # a preset is an architecture
    with open(path, "w") as f:
        json.dump(serialized, f, indent=2)


def _write_weights(model, directory, file_name, objects_to_skip=()):
    # The model's weights only: a preset is an architecture and its weights,
    # so a compiled model's optimizer state (2x the weights for Adam) stays
    # out. `save_weights` has no switch for it; Keras's own saver does.
    optimizer = getattr(model, "optimizer", None)
    skipped = [*objects_to_skip, *([optimizer] if optimizer else [])]
    saving_lib.save_weights_only(
        model, os.path.join(directory, file_name), objects_to_skip=skipped or None
    )


def _is_small_batch(x, limit=32):
    """True for a list or array of at most `limit` rows (one predict batch)."""
    return isinstance(x, (list, np.ndarray)) and 0 < len(x) <= limit
