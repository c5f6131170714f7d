"""Token ids and labels are checked by value inside `tf.data.Dataset`s too.

An attacker's (or a careless user's) view: XLA's gather clamps an id past the
vocabulary to the last id, and a label outside the classes makes the loss NaN
and poisons the weights. Each must stop `fit`/`evaluate`/`predict` with a
clear error, wherever the bad value sits in the dataset.
"""

import numpy as np
import pytest
import tensorflow as tf

from keras_ctxmem.zoo import (
    MemoryNetwork,
    TransformerClassifier,
    TransformerTokenClassifier,
)
from keras_ctxmem.zoo.token_id_checks import checked_dataset
from tests.helpers import run_under_jax

IDS = np.array([[5, 9, 3, 0], [7, 1, 0, 0], [2, 2, 2, 2], [4, 0, 0, 0]], "int32")
LABELS = np.array([0, 1, 1, 0])


@pytest.fixture(scope="module")
def xla_model():
    # The checks run in tf.data, so they hold whatever the executor; the XLA
    # case itself is `test_xla_model_refuses_ids_it_would_clamp` (slow).
    model = TransformerClassifier.from_preset("transformer_tiny", num_classes=2)
    model.compile(jit_compile=False)
    return model


def dataset(ids, labels=None, batch_size=2):
    data = (ids,) if labels is None else (ids, labels)
    return tf.data.Dataset.from_tensor_slices(data).batch(batch_size)


def with_one(array, index, value):
    array = np.array(array)
    array[index] = value
    return array


@pytest.mark.parametrize("bad_id", [1000, 2**31 - 1, -1, -(2**31)])
def test_ids_out_of_the_vocabulary_in_a_dataset_are_refused(xla_model, bad_id):
    # The bad id sits in the last batch only: earlier batches are fine.
    data = dataset(with_one(IDS, (3, 1), bad_id), LABELS)
    expected = "negative token id" if bad_id < 0 else f"token id {bad_id}, but"
    for entry in ("fit", "evaluate", "predict"):
        with pytest.raises(ValueError, match=expected):
            getattr(xla_model, entry)(data, verbose=0)


@pytest.mark.slow
def test_xla_model_refuses_ids_it_would_clamp():
    model = TransformerClassifier.from_preset("transformer_tiny", num_classes=2)
    model.compile(jit_compile=True)
    for entry in ("fit", "predict"):
        with pytest.raises(ValueError, match="token id 1000, but"):
            getattr(model, entry)(dataset(IDS + 996, LABELS), verbose=0)


@pytest.mark.parametrize("bad_label", [2, 255, -1])
def test_labels_outside_the_classes_are_refused_and_the_model_kept(
    xla_model, bad_label
):
    before = [w.copy() for w in xla_model.get_weights()]
    labels = with_one(LABELS, 2, bad_label)
    for entry in ("fit", "evaluate"):
        for data in (
            dataset(IDS, labels, batch_size=4),
            (IDS, labels),
            (IDS, labels.tolist()),
        ):
            args = (data,) if isinstance(data, tf.data.Dataset) else data
            with pytest.raises(ValueError, match=f"labels hold {bad_label}, but"):
                getattr(xla_model, entry)(*args, verbose=0)
    # Not poisoned: at most AdamW's decay, which needs no data, moved them.
    for old, new in zip(before, xla_model.get_weights(), strict=True):
        np.testing.assert_allclose(old, new, rtol=1e-3, atol=1e-6)
    assert np.isfinite(xla_model.evaluate(IDS, LABELS, verbose=0)[0])


def test_fractional_and_uint8_labels(xla_model):
    with pytest.raises(ValueError, match=r"labels hold [01]\.5, but"):
        xla_model.fit(dataset(IDS, LABELS + 0.5), verbose=0)
    history = xla_model.fit(dataset(IDS, LABELS.astype("uint8")), verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_bad_validation_data_is_refused(xla_model):
    bad = with_one(LABELS, 0, 9)
    with pytest.raises(ValueError, match="labels hold 9"):
        xla_model.fit(
            dataset(IDS, LABELS), validation_data=dataset(IDS, bad), verbose=0
        )
    with pytest.raises(ValueError, match="labels hold 9"):
        xla_model.fit(dataset(IDS, LABELS), validation_data=(IDS, bad), verbose=0)


def test_ignored_label_passes_and_others_do_not():
    model = TransformerTokenClassifier.from_preset("transformer_tiny", num_classes=3)
    model.compile(jit_compile=False)
    tags = np.where(IDS > 0, IDS % 3, -1)
    assert np.isfinite(model.fit(dataset(IDS, tags), verbose=0).history["loss"][0])
    with pytest.raises(ValueError, match="labels hold -2.*or -1 \\(ignored\\)"):
        model.evaluate(dataset(IDS, with_one(tags, (1, 3), -2)), verbose=0)
    with pytest.raises(ValueError, match="labels hold 3"):
        model.evaluate(dataset(IDS, with_one(tags, (0, 0), 3)), verbose=0)


def test_dict_datasets_are_checked_per_input():
    model = MemoryNetwork.from_preset("memory_network_tiny", vocabulary_size=30)
    story, question = np.ones((2, 3, 4), "int32"), np.ones((2, 4), "int32")
    bad = tf.data.Dataset.from_tensor_slices(
        ({"story": story, "question": with_one(question, (1, 2), 30)}, [1, 2])
    ).batch(2)
    with pytest.raises(ValueError, match="`question` holds the token id 30"):
        model.predict(bad, verbose=0)


def test_checked_dataset_keeps_structure_and_values(xla_model):
    for data in (dataset(IDS), dataset(IDS, LABELS), dataset(IDS).unbatch().batch(3)):
        checked = checked_dataset(xla_model, data)
        assert checked.element_spec == data.element_spec
        for a, b in zip(checked, data, strict=True):
            tf.nest.map_structure(np.testing.assert_array_equal, a, b)


EMPTY_INPUTS = [
    (None, "received None"),
    ([], "no examples"),
    ((), "no examples"),
    ({}, "no examples"),
    ([[]], "no examples"),
    (np.zeros((0, 4), "int32"), r"no examples \(inputs of shape \(0, 4\)\)"),
    ({"token_ids": np.zeros((0, 4), "int32")}, "no examples"),
    ("a single text", "a single string: pass a list"),
    (tf.data.Dataset.from_tensor_slices(IDS[:0]).batch(2), "empty dataset"),
    (
        tf.data.Dataset.from_tensor_slices(IDS).filter(lambda x: False).batch(2),
        "yields no batch",
    ),
]


@pytest.mark.parametrize("x, message", EMPTY_INPUTS)
def test_empty_or_missing_inputs_get_a_clear_error(xla_model, x, message):
    with pytest.raises(ValueError, match=message):
        xla_model.predict(x, verbose=0)
    if "yields no batch" not in message:
        for entry in ("fit", "evaluate"):
            with pytest.raises(ValueError, match=message.replace("predict", entry)):
                getattr(xla_model, entry)(x, verbose=0)


JAX_SCRIPT = r"""
import numpy as np
import tensorflow as tf
from keras_ctxmem.zoo import LSTMClassifier

model = LSTMClassifier.from_preset("lstm_tiny", num_classes=2, vocabulary_size=50)
model.compile()  # XLA: an id past the vocabulary would be clamped
ids = np.array([[5, 9, 3, 0], [7, 1, 0, 0]], "int32")
expected = model.predict(ids, verbose=0)
for entry, x, y, message in [
    ("predict", ids + 46, None, "token id 55"),
    ("fit", ids, [0, 2], "labels hold 2"),
    ("evaluate", ids, [-1, 0], "labels hold -1"),
]:
    data = (x,) if y is None else (x, y)
    try:
        getattr(model, entry)(tf.data.Dataset.from_tensor_slices(data).batch(2))
        raise SystemExit(f"{entry}: no error")
    except ValueError as error:
        assert message in str(error), str(error)
    # Keras' JAX loop had detached the weights: they must be back.
    np.testing.assert_allclose(model.predict(ids, verbose=0), expected, atol=1e-6)
print("ALL OK")
"""


def test_value_checks_under_jax_keep_the_model_usable():
    assert "ALL OK" in run_under_jax(JAX_SCRIPT)
