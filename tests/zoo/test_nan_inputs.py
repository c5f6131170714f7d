"""NaN and infinite inputs: refused in-process, "no answer" when exported.

The contract: `predict`, `fit`, `evaluate` and calls raise a ValueError naming
the input; the exported `serving_default` answers such an example with
`class_id` -1, `label` "<invalid input>" and NaN probabilities, and the other
examples of the batch as usual.
"""

import numpy as np
import pytest
import tensorflow as tf

from keras_ctxmem.export import INVALID_LABEL, export_saved_model
from keras_ctxmem.preprocessing import TextPreprocessor
from keras_ctxmem.zoo import MultimodalFusionClassifier

TEXTS = np.array(["a red square", "a blue circle", "a red circle"])
BAD_VALUES = [np.nan, np.inf, -np.inf]


@pytest.fixture(scope="module")
def model():
    preprocessor = TextPreprocessor.from_corpus(
        list(TEXTS) * 5, vocabulary_size=60, sequence_length=8
    )
    built = MultimodalFusionClassifier.from_preset(
        "multimodal_tiny", preprocessor=preprocessor, label_names=["no", "yes"]
    )
    built.compile(jit_compile=False)
    return built


def images(bad=None, where=(1, 5, 7, 2)):
    pixels = np.random.default_rng(0).random((3, 32, 32, 3)).astype("float32")
    if bad is not None:
        pixels[where] = bad
    return pixels


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_in_process_entries_refuse_nan_and_inf(model, bad):
    inputs = {"text": TEXTS, "image": images(bad)}
    token_ids = model.preprocessor(tf.constant(TEXTS))
    with pytest.raises(ValueError, match="`image` holds .*NaN or infinite"):
        model.predict(inputs, verbose=0)
    with pytest.raises(ValueError, match="`image` holds 1 NaN .* example 1"):
        model({"token_ids": token_ids, "image": images(bad)})
    with pytest.raises(ValueError, match="`image` holds NaN or infinite"):
        model.fit(inputs, np.array([0, 1, 1]), verbose=0)
    dataset = tf.data.Dataset.from_tensor_slices(
        ({"token_ids": token_ids, "image": images(bad)}, [0, 1, 1])
    ).batch(3)
    for entry in ("evaluate", "predict"):
        with pytest.raises(ValueError, match="`image` holds NaN or infinite"):
            getattr(model, entry)(dataset, verbose=0)


def test_the_exported_model_gives_no_answer_for_nan_and_inf(model, tmp_path):
    serve = tf.saved_model.load(
        export_saved_model(model, str(tmp_path / "m"))
    ).signatures["serving_default"]
    clean = serve(text=tf.constant(TEXTS), image=tf.constant(images()))
    for bad in BAD_VALUES:
        out = serve(text=tf.constant(TEXTS), image=tf.constant(images(bad)))
        assert out["class_id"].numpy().tolist()[1] == -1
        assert out["label"].numpy()[1].decode() == INVALID_LABEL
        assert np.isnan(out["probabilities"].numpy()[1]).all()
        for key in ("class_id", "label", "probabilities"):  # the others unharmed
            np.testing.assert_array_equal(
                out[key].numpy()[[0, 2]], clean[key].numpy()[[0, 2]]
            )
    assert set(clean["class_id"].numpy().tolist()) <= {0, 1}
