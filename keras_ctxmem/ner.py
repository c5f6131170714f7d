"""Named-entity recognition on CoNLL files: tag sentences, evaluate, train.

Works with both zoo taggers: `LSTMTagger` (words, cases and characters from a
`WordTaggingPreprocessor`; CRF decoding) and `TransformerTokenClassifier`
(word pieces from a `TextPreprocessor`, read at each word's first piece).

- `tag_sentences(model, sentences)`: words in, tag strings out.
- `evaluate_conll(model, path)`: entity precision, recall and F1 overall and per
  type, counted as conlleval counts (`keras_ctxmem.metrics.entity_f1`);
  `format_entity_table` prints the conlleval-style table.
- `train_tagger(model, train, valid, epochs)`: fits, measures entity F1 on the
  validation file after each epoch and keeps the best epoch's weights.

Example:
```python
from keras_ctxmem.ner import tag_sentences
from keras_ctxmem.zoo import load_preset
model = load_preset("keras_ctxmem/presets/conll2003_ner")
tag_sentences(model, [["Angela", "Merkel", "visited", "Paris", "."]])
# [['B-PER', 'I-PER', 'O', 'B-LOC', 'O']]
```
"""

import json
import math
import os
import re
import time

import keras
import numpy as np
import tensorflow as tf

from keras_ctxmem.data.readers import read_conll
from keras_ctxmem.metrics import entity_f1
from keras_ctxmem.preprocessing.tagging import (
    align_word_tags,
    tagging_dataset,
    word_predictions,
)

PAD_MULTIPLE = 16
"""Sentences are padded to a multiple of this: few shapes, few compilations."""


CONLL_EXTENSIONS = (".conll", ".iob", ".bio", ".ner")
_TAG = re.compile(r"^(O|[BIES]-\S+)$")


def looks_like_conll(path, lines_read=50):
    """True for a CoNLL tagging file: a CoNLL extension, or `-DOCSTART-` or
    lines that end with a tag (`O`, `B-X`, ...) and hold no tab-separated text.
    A text-classification TSV/CSV gives False."""
    if path.lower().endswith(CONLL_EXTENSIONS):
        return True
    lines = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip():
                lines.append(line.rstrip("\n"))
            if len(lines) >= lines_read:
                break
    if not lines:
        return False
    if lines[0].startswith("-DOCSTART-"):
        return True
    return all(_is_conll_line(line) for line in lines)


def _is_conll_line(line):
    """`word [columns] tag`: one word first, a tag last."""
    fields = line.split()
    if len(fields) < 2 or not _TAG.match(fields[-1]):
        return False
    if "\t" in line:
        return len(line.split("\t")[0].split()) == 1
    return len(fields) <= 5


def _is_word_tagger(model):
    return hasattr(model, "predict_tags")


def _pad_batch(preprocessor, sentences):
    batch = preprocessor(sentences)
    length = batch["word_ids"].shape[1]
    padded = PAD_MULTIPLE * math.ceil(length / PAD_MULTIPLE)
    return {
        name: np.pad(v, [(0, 0), (0, padded - length)] + [(0, 0)] * (v.ndim - 2))
        for name, v in batch.items()
    }


class WordTaggingBatches(keras.utils.PyDataset):
    """`(inputs, tag ids)` batches of sentences of similar lengths for
    `LSTMTagger.fit`; tags are -1 at padding. Reshuffled every epoch."""

    def __init__(self, preprocessor, sentences, tag_ids, batch_size=32, seed=0):
        super().__init__()
        self.preprocessor = preprocessor
        self.sentences = sentences
        self.tag_ids = tag_ids
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def on_epoch_end(self):
        # Sort by a jittered length, cut into batches, shuffle the batches.
        lengths = np.array([len(s) for s in self.sentences], "float64")
        order = np.argsort(lengths + self.rng.uniform(0, 4, len(lengths)))
        batches = [
            order[i : i + self.batch_size]
            for i in range(0, len(order), self.batch_size)
        ]
        self.batches = [batches[i] for i in self.rng.permutation(len(batches))]

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        rows = self.batches[index]
        inputs = _pad_batch(self.preprocessor, [self.sentences[i] for i in rows])
        labels = np.full(inputs["word_ids"].shape, -1, "int32")
        for row, i in enumerate(rows):
            labels[row, : len(self.tag_ids[i])] = self.tag_ids[i]
        return inputs, labels


def _trim_padding(token_ids, labels):
    """Cuts a batch's padding to a multiple of `PAD_MULTIPLE` pieces."""
    longest = tf.reduce_max(tf.reduce_sum(tf.cast(token_ids != 0, tf.int32), 1))
    length = PAD_MULTIPLE * ((longest + PAD_MULTIPLE - 1) // PAD_MULTIPLE)
    return token_ids[:, :length], labels[:, :length]


def _aligned(preprocessor, sentences):
    """`align_word_tags` run inside `tf.data`, where the tokenizer runs on
    TensorFlow whatever the Keras backend (eagerly, JAX would refuse strings)."""
    words = tf.ragged.constant(sentences, dtype=tf.string)
    dataset = tf.data.Dataset.from_tensors(words).map(
        lambda w: align_word_tags(preprocessor, w)
    )
    return {k: v.numpy() for k, v in next(iter(dataset)).items()}


def longest_in_pieces(preprocessor, sentences, batch_size=1024):
    """The most word pieces a sentence (given as words) takes."""
    longest = 0
    for start in range(0, len(sentences), batch_size):
        ids = _aligned(preprocessor, sentences[start : start + batch_size])
        longest = max(
            longest,
            int(
                tf.reduce_max(
                    tf.reduce_sum(tf.cast(ids["token_ids"] != 0, tf.int32), 1)
                )
            ),
        )
    return longest


def build_tagger(preset, train, valid=None, vocabulary_size=None, **overrides):
    """A tagger for `train`'s tags, with a vocabulary learnt from its words.

    Args:
        preset: an `lstm_tagger_*` preset (a `WordTaggingPreprocessor`: words
            looked up lowercased, case and characters kept) or a
            `transformer_*` preset (a `TransformerTokenClassifier` on a cased
            WordPiece vocabulary whose sequence length cuts no sentence of
            `train` or `valid`).
        train, valid: `read_conll` results.
        vocabulary_size: word (LSTM) or word-piece (Transformer) ids; default
            every training word, or 8000 pieces.
        overrides: model configuration overrides.
    """
    from keras_ctxmem.preprocessing import TextPreprocessor
    from keras_ctxmem.preprocessing.words import WordTaggingPreprocessor
    from keras_ctxmem.zoo import TransformerTokenClassifier, create_model
    from keras_ctxmem.zoo.presets import get_preset

    family = get_preset(preset)["family"]
    if family == "lstm_tagger":
        preprocessor = WordTaggingPreprocessor.from_sentences(
            train.sentences, vocabulary_size=vocabulary_size
        )
        return create_model(
            preset,
            preprocessor=preprocessor,
            label_names=train.tag_names,
            **overrides,
        )
    if family != "transformer":
        raise ValueError(
            f"'{preset}' is a {family} preset; tagging takes lstm_tagger_* or "
            "transformer_* presets."
        )
    cased = {"lowercase": False, "strip_accents": False}
    preprocessor = TextPreprocessor.from_corpus(
        [" ".join(s) for s in train.sentences],
        vocabulary_size=vocabulary_size or 8000,
        sequence_length=1024,
        **cased,
    )
    sentences = train.sentences + (valid.sentences if valid is not None else [])
    longest = longest_in_pieces(preprocessor, sentences)
    length = PAD_MULTIPLE * math.ceil(longest / PAD_MULTIPLE)
    preprocessor = TextPreprocessor(
        preprocessor.vocabulary, sequence_length=length, **cased
    )
    overrides.setdefault("max_sequence_length", length)
    return create_model(
        preset,
        model_class=TransformerTokenClassifier,
        preprocessor=preprocessor,
        num_classes=len(train.tag_names),
        label_names=train.tag_names,
        **overrides,
    )


def tag_sentences(model, sentences, batch_size=64):
    """Tag strings per word for sentences given as lists of words.

    Args:
        model: an `LSTMTagger` or `TransformerTokenClassifier` with a
            preprocessor and `label_names` (the tag names).
        sentences: lists of words.
    """
    if model.preprocessor is None or model.label_names is None:
        raise ValueError(
            "tag_sentences needs a model with a preprocessor and label_names "
            "(the tag names), such as a trained NER preset."
        )
    names = model.label_names
    predictions = [None] * len(sentences)
    # Sorted by length so that batches pad little.
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = [sentences[i] for i in rows]
        if _is_word_tagger(model):
            tags = model.predict_tags(_pad_batch(model.preprocessor, batch))
        else:
            aligned = _aligned(model.preprocessor, batch)
            logits = model.predict_on_batch(aligned["token_ids"])
            tags = word_predictions(
                logits, aligned["word_positions"], [len(w) for w in batch]
            )
        for row, i in enumerate(rows):
            predictions[i] = [names[t] for t in tags[row][: len(sentences[i])]]
    return predictions


def evaluate_tags(true_tags, pred_tags):
    """`entity_f1`'s scores with the names the CLI writes: `entity_f1`,
    `precision`, `recall` and `per_type` (each `precision`, `recall`, `f1`,
    counts)."""
    scores = entity_f1(true_tags, pred_tags)
    return {
        "entity_f1": scores["f1"],
        "precision": scores["precision"],
        "recall": scores["recall"],
        "num_true": scores["num_true"],
        "num_pred": scores["num_pred"],
        "num_correct": scores["num_correct"],
        "per_type": scores["per_type"],
        "num_sentences": len(true_tags),
        "num_tokens": sum(len(t) for t in true_tags),
    }


def evaluate_conll(model, path, batch_size=64):
    """Entity scores of `model` on a CoNLL file (IOB1 or BIO), as conlleval
    counts them; see `evaluate_tags`. `table` holds `format_entity_table`."""
    data = read_conll(path)
    predictions = tag_sentences(model, data.sentences, batch_size)
    results = evaluate_tags(data.tags, predictions)
    results["table"] = format_entity_table(results)
    return results


def format_entity_table(results):
    """conlleval's summary: overall then per-type precision, recall, F1 (%)."""
    lines = [
        f"processed {results['num_tokens']} tokens with {results['num_true']} "
        f"phrases; found: {results['num_pred']} phrases; correct: "
        f"{results['num_correct']}.",
        f"{'':>17}precision: {100 * results['precision']:6.2f}%; "
        f"recall: {100 * results['recall']:6.2f}%; "
        f"FB1: {100 * results['entity_f1']:6.2f}",
    ]
    for type_, s in results["per_type"].items():
        lines.append(
            f"{type_:>17}: precision: {100 * s['precision']:6.2f}%; "
            f"recall: {100 * s['recall']:6.2f}%; FB1: {100 * s['f1']:6.2f}  "
            f"{s['num_pred']}"
        )
    return "\n".join(lines)


def tag_ids(data, tag_names):
    """A `read_conll` result's tags as id arrays under `tag_names`."""
    index = {name: i for i, name in enumerate(tag_names)}
    return [np.array([index[t] for t in tags], "int32") for tags in data.tags]


def train_tagger(
    model,
    train,
    valid,
    epochs,
    batch_size=32,
    seed=0,
    log=print,
    on_best=None,
):
    """Fits a compiled tagger for `epochs`, scoring entity F1 on `valid` after
    each epoch, and leaves the best epoch's weights in the model.

    Args:
        model: a compiled `LSTMTagger` or `TransformerTokenClassifier` with its
            preprocessor and `label_names`.
        train, valid: `read_conll` results (valid read with the same tags).
        on_best: called with the record of each new best epoch (to save it).

    Returns:
        A dict: `history` (per epoch: `epoch`, `loss`, `seconds`, and the
        `evaluate_tags` scores), `best_epoch` and `best` (its scores).
    """
    names = model.label_names
    if _is_word_tagger(model):
        batches = WordTaggingBatches(
            model.preprocessor, train.sentences, tag_ids(train, names), batch_size, seed
        )
    else:
        batches = tagging_dataset(train, model.preprocessor, batch_size, seed=seed).map(
            _trim_padding
        )
    history, best, best_weights = [], None, None
    for epoch in range(1, epochs + 1):
        start = time.time()
        fit = model.fit(batches, epochs=1, verbose=0)
        seconds = time.time() - start
        scores = evaluate_tags(valid.tags, tag_sentences(model, valid.sentences))
        record = {
            "epoch": epoch,
            "loss": float(fit.history["loss"][-1]),
            "seconds": round(seconds, 1),
            **scores,
        }
        history.append(record)
        log(
            f"epoch {epoch}: loss {record['loss']:.4f}, {seconds:.0f}s, valid entity "
            f"P {100 * scores['precision']:.2f} R {100 * scores['recall']:.2f} "
            f"F1 {100 * scores['entity_f1']:.2f}"
        )
        if best is None or scores["entity_f1"] > best["entity_f1"]:
            best, best_weights = record, model.get_weights()
            if on_best is not None:
                on_best(record)
    model.set_weights(best_weights)
    log(format_entity_table(best))
    return {"history": history, "best_epoch": best["epoch"], "best": best}


def train_conll(
    preset,
    train_path,
    valid_path,
    out_dir,
    epochs=10,
    batch_size=32,
    learning_rate=None,
    vocabulary_size=None,
    seed=0,
    jit_compile="auto",
    log=print,
    **overrides,
):
    """Trains a tagger preset on a CoNLL file, keeping its best epoch on
    `valid_path` by entity F1; writes `out_dir/preset` and
    `out_dir/results.json`. Returns the results dict.

    `jit_compile="auto"` compiles with XLA on JAX only (eager JAX is slow; on
    CPU, XLA is slower with TensorFlow). The default learning rate is 3e-3
    for LSTM taggers and 1e-3 for Transformers (AdamW, warm-up, cosine decay).
    """
    from keras_ctxmem.training import default_optimizer

    keras.utils.set_random_seed(seed)
    train = read_conll(train_path)
    valid = read_conll(valid_path, tag_names=train.tag_names)
    model = build_tagger(preset, train, valid, vocabulary_size, **overrides)
    if learning_rate is None:
        learning_rate = 3e-3 if _is_word_tagger(model) else 1e-3
    if jit_compile == "auto":
        jit_compile = keras.backend.backend() == "jax"
    steps = epochs * math.ceil(len(train.sentences) / batch_size)
    model.compile(
        optimizer=default_optimizer(learning_rate, total_steps=steps),
        jit_compile=jit_compile,
    )
    started = time.time()
    result = train_tagger(model, train, valid, epochs, batch_size, seed, log)
    preset_dir = os.path.join(out_dir, "preset")
    model.save_to_preset(preset_dir)
    best = result["best"]
    results = {
        "preset": preset,
        "data": train_path,
        "validation": valid_path,
        "parameters": model.count_params(),
        "epochs": epochs,
        "train_seconds": round(time.time() - started, 1),
        "best_epoch": result["best_epoch"],
        "entity_f1": best["entity_f1"],
        "precision": best["precision"],
        "recall": best["recall"],
        "per_type": best["per_type"],
        "history": [
            {k: r[k] for k in ("epoch", "loss", "seconds", "entity_f1")}
            for r in result["history"]
        ],
    }
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    return results
