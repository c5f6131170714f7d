import json
import os

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from keras_ctxmem.preprocessing import TextPreprocessor, TextTokenizer, text_tokenizer

CORPUS = ["a charming film", "a dull film", "charming and warm", "Café crème brûlée"]


@pytest.fixture
def preprocessor():
    return TextPreprocessor.from_corpus(CORPUS, vocabulary_size=80, sequence_length=8)


def test_special_tokens_come_first_and_pad_is_zero(preprocessor):
    assert preprocessor.vocabulary[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    token_ids = keras.ops.convert_to_numpy(preprocessor(["a film", ""]))
    assert token_ids.shape == (2, 8) and token_ids.dtype == np.int32
    real = int((token_ids[0] > 0).sum())
    assert real >= 2  # word pieces of "a film", then padding only
    assert (token_ids[0, :real] > 0).all() and (token_ids[0, real:] == 0).all()
    assert (token_ids[1] == 0).all()


def test_long_text_is_truncated(preprocessor):
    token_ids = preprocessor(["charming " * 50])
    assert (
        token_ids.shape == (1, 8) and (keras.ops.convert_to_numpy(token_ids) > 0).all()
    )


def test_lowercase_and_accents_normalise(preprocessor):
    same = keras.ops.convert_to_numpy(preprocessor(["CAFE CREME", "café crème"]))
    np.testing.assert_array_equal(same[0], same[1])
    keep_case = TextPreprocessor.from_corpus(
        CORPUS, vocabulary_size=80, sequence_length=8, lowercase=False
    )
    different = keras.ops.convert_to_numpy(keep_case(["Film", "film"]))
    assert not np.array_equal(different[0], different[1])


def test_an_eager_call_gives_numpy_ids_a_user_can_edit(preprocessor):
    ids = preprocessor(["a charming film"])
    assert isinstance(ids, np.ndarray) and ids.dtype == np.int32
    ids[0, 0] = 0  # e.g. masking a token by hand, as tutorial 06 does


def test_batched_and_unbatched_in_tf_data(preprocessor):
    batched = keras.ops.convert_to_numpy(preprocessor(["a film", "warm"]))
    unbatched = list(
        tf.data.Dataset.from_tensor_slices(["a film", "warm"])
        .map(preprocessor)
        .as_numpy_iterator()
    )
    np.testing.assert_array_equal(np.stack(unbatched), batched)
    rebatched = next(
        iter(
            tf.data.Dataset.from_tensor_slices(["a film", "warm"])
            .batch(2)
            .map(preprocessor)
        )
    )
    np.testing.assert_array_equal(rebatched.numpy(), batched)


def test_corpus_from_file_and_dataset(tmp_path, preprocessor):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(CORPUS), encoding="utf-8")
    from_file = TextPreprocessor.from_corpus(
        str(path), vocabulary_size=80, sequence_length=8
    )
    from_dataset = TextPreprocessor.from_corpus(
        tf.data.Dataset.from_tensor_slices(CORPUS),
        vocabulary_size=80,
        sequence_length=8,
    )
    assert from_file.vocabulary == preprocessor.vocabulary
    assert from_dataset.vocabulary == preprocessor.vocabulary


def test_non_utf8_bytes_are_replaced_not_fatal(preprocessor):
    token_ids = keras.ops.convert_to_numpy(
        preprocessor(tf.constant([b"\xff\xfe a film"]))
    )
    assert token_ids[0, 0] == preprocessor.vocabulary.index("[UNK]")


def test_bad_inputs_are_named(preprocessor):
    with pytest.raises(TypeError, match="strings"):
        preprocessor(np.array([1, 2]))
    with pytest.raises(ValueError, match="1-D batch"):
        preprocessor(tf.constant([["a", "b"]]))
    with pytest.raises(ValueError, match="no vocabulary"):
        TextPreprocessor()(["a film"])
    with pytest.raises(ValueError, match=r"\[PAD\]"):
        TextPreprocessor(vocabulary=["[UNK]", "a"])
    with pytest.raises(ValueError, match="empty"):
        TextPreprocessor.from_corpus([])


def test_config_and_assets_round_trip(tmp_path, preprocessor):
    preprocessor.save_assets(str(tmp_path))
    restored = TextPreprocessor.from_config(preprocessor.get_config())
    restored.load_assets(str(tmp_path))
    assert restored.vocabulary == preprocessor.vocabulary
    texts = ["a charming film", "brûlée"]
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(restored(texts)),
        keras.ops.convert_to_numpy(preprocessor(texts)),
    )


def _rare_word_corpus(num_words=1500, seed=0):
    """Texts of many words seen 1-4 times each: keras-hub's learner keeps no
    sub-word seen fewer than 10 times, so it falls far short on such a corpus."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(rng.choice(letters, rng.integers(4, 9))) for _ in range(num_words)]
    tokens = [w for w in words for _ in range(rng.integers(1, 5))]
    rng.shuffle(tokens)
    return [" ".join(tokens[i : i + 12]) for i in range(0, len(tokens), 12)]


def test_learned_vocabulary_reaches_the_requested_size():
    corpus = _rare_word_corpus()
    preprocessor = TextPreprocessor.from_corpus(corpus, vocabulary_size=1000)
    assert 0.95 * 1000 <= preprocessor.vocabulary_size <= 1000
    assert preprocessor.vocabulary[:5] == list(text_tokenizer.SPECIAL_TOKENS)
    assert len(set(preprocessor.vocabulary)) == preprocessor.vocabulary_size
    # Every word still splits into known pieces (characters are all kept).
    token_ids = keras.ops.convert_to_numpy(preprocessor(corpus[:50]))
    assert not (token_ids == preprocessor.vocabulary.index("[UNK]")).any()


def test_vocabulary_larger_than_the_corpus_supports_warns_with_its_size():
    corpus = _rare_word_corpus(num_words=100)
    with pytest.warns(UserWarning, match="supports only") as caught:
        preprocessor = TextPreprocessor.from_corpus(corpus, vocabulary_size=50_000)
    size = f"{preprocessor.vocabulary_size:,}"
    assert size in str(caught[0].message) and preprocessor.vocabulary_size < 47_500


def ids(layer, texts):
    return keras.ops.convert_to_numpy(layer(texts))


def test_a_keras_hub_preprocessor_around_a_keras_hub_tokenizer(preprocessor):
    assert isinstance(preprocessor, keras_hub.models.Preprocessor)
    tokenizer = preprocessor.tokenizer
    assert isinstance(tokenizer, TextTokenizer)
    assert isinstance(tokenizer, keras_hub.tokenizers.WordPieceTokenizer)
    assert tokenizer.sequence_length == 8
    # The tokenizer alone gives what the preprocessor gives.
    texts = ["a charming film", "Café crème", ""]
    np.testing.assert_array_equal(ids(tokenizer, texts), ids(preprocessor, texts))
    preprocessor.sequence_length = 5
    assert tokenizer.sequence_length == 5 and ids(preprocessor, texts).shape == (3, 5)


def test_tokenizer_learns_what_the_preprocessor_learns(preprocessor):
    tokenizer = TextTokenizer.from_corpus(CORPUS, vocabulary_size=80)
    assert tokenizer.vocabulary == preprocessor.vocabulary
    # Without a sequence length, ragged ids (eagerly, lists): the unpadded ones.
    ragged = tokenizer(["a charming film", "a film"])
    padded = ids(preprocessor, ["a charming film", "a film"])
    for row, expected in zip(ragged, padded, strict=True):
        assert row == [i for i in expected if i != 0]


def test_tokenizer_preset_round_trip(tmp_path, preprocessor):
    preprocessor.tokenizer.save_to_preset(str(tmp_path))
    assert (tmp_path / "tokenizer.json").exists()
    assert (tmp_path / "assets" / "tokenizer" / "vocabulary.txt").exists()
    restored = TextTokenizer.from_preset(str(tmp_path))
    assert type(restored) is TextTokenizer
    assert restored.vocabulary == preprocessor.vocabulary
    texts = ["a charming film", "brûlée", "\u00ff odd"]
    np.testing.assert_array_equal(ids(restored, texts), ids(preprocessor, texts))


def test_preprocessor_preset_round_trip(tmp_path, preprocessor):
    preprocessor.save_to_preset(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == [
        "assets",
        "preprocessor.json",
        "tokenizer.json",
    ]
    restored = TextPreprocessor.from_preset(str(tmp_path))
    assert type(restored) is TextPreprocessor
    texts = ["a charming film", "CAFÉ", "warm " * 20]
    np.testing.assert_array_equal(ids(restored, texts), ids(preprocessor, texts))
    # Keyword arguments override the saved configuration.
    shorter = TextPreprocessor.from_preset(str(tmp_path), sequence_length=4)
    np.testing.assert_array_equal(ids(shorter, texts), ids(preprocessor, texts)[:, :4])


def test_a_configuration_saved_before_the_tokenizer_still_loads(tmp_path, preprocessor):
    # What version 0.1 wrote: no tokenizer in the configuration.
    old_config = {
        "name": "text_preprocessor",
        "trainable": True,
        "sequence_length": 8,
        "lowercase": True,
        "strip_accents": True,
    }
    preprocessor.save_assets(str(tmp_path))
    restored = TextPreprocessor.from_config(old_config)
    restored.load_assets(str(tmp_path))
    texts = ["a charming film", "brûlée"]
    np.testing.assert_array_equal(ids(restored, texts), ids(preprocessor, texts))
    json.dumps(restored.get_config())  # and the new one is JSON


def test_tokenizer_and_its_arguments_must_agree(preprocessor):
    tokenizer = preprocessor.tokenizer
    with pytest.raises(ValueError, match="`lowercase=False` differs"):
        TextPreprocessor(tokenizer=tokenizer, lowercase=False)
    with pytest.raises(ValueError, match="not both"):
        TextPreprocessor(vocabulary=preprocessor.vocabulary, tokenizer=tokenizer)
    with pytest.raises(TypeError, match="must be a `TextTokenizer`"):
        TextPreprocessor(
            tokenizer=keras_hub.tokenizers.WordPieceTokenizer(vocabulary=["[UNK]"])
        )
    with pytest.raises(ValueError, match="no vocabulary"):
        TextTokenizer()(["a film"])
