"""Text classification from scratch: SST-2 sentences and AG News, with a trained preset.

Trains a zoo classifier on raw text, evaluates it after every epoch on the
evaluation split, keeps the best epoch's weights and can save them as a preset
(preprocessor inside, so `model.predict(["a charming film"])` works).

Splits:
- `--task sst2`: trains on all of `--train` (SST-2 `train.tsv`, phrases and
  sentences), evaluates on `--eval` (`sentences_eval.tsv`, 1,821 full sentences
  that are not in `train.tsv`). The vocabulary is learnt from `--train` only.
- `--task ag_news`: `--train` (`ag_news_10k/train.tsv`, description text) is
  shuffled with `--split-seed` (default 0) and its last `--holdout` share (10%:
  1,000 texts) is held out from training and from the vocabulary; it is the
  evaluation split. Label names are fixed to the AG News class order World,
  Sports, Business, Sci/Tech (class indices 1-4 of the official CSV).

`--pretrained DIR` starts the classifier from a masked-LM pre-trained encoder
preset (`benchmarks/sst2_pretrain.py`) and uses its vocabulary; the shipped
`sst2_sentiment` is made that way (command in that script and the card).

The batches are bucketed by length (padding trimmed to a multiple of `--bucket`) to
train fast on a CPU; the result does not depend on it (padding is masked), and
the accuracy of the saved model on raw strings is checked at the end.

Examples (the figures in benchmarks/RESULTS.md and the cards):
```
KERAS_BACKEND=jax python benchmarks/text_classification.py --task sst2 \\
    --train ../shared/data/sst2/train.tsv \\
    --eval ../shared/data/sst2/sentences_eval.tsv \\
    --save-preset keras_ctxmem/presets/sst2_sentiment
KERAS_BACKEND=jax python benchmarks/text_classification.py --task ag_news \\
    --train ../shared/data/ag_news_10k/train.tsv \\
    --save-preset keras_ctxmem/presets/ag_news_topic
```
"""

import argparse
import json
import os
import shlex
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_ctxmem.data.readers import read_text_classification  # noqa: E402
from keras_ctxmem.preprocessing import TextPreprocessor  # noqa: E402
from keras_ctxmem.training import default_optimizer  # noqa: E402
from keras_ctxmem.zoo import (  # noqa: E402
    AttentiveLSTMClassifier,
    LSTMClassifier,
    TransformerClassifier,
)
from keras_ctxmem.zoo.zoo_model import load_preset_preprocessor  # noqa: E402

AG_NEWS_LABELS = ["World", "Sports", "Business", "Sci/Tech"]
SST2_LABELS = ["negative", "positive"]
MODELS = {
    "lstm": LSTMClassifier,
    "attentive_lstm": AttentiveLSTMClassifier,
    "transformer": TransformerClassifier,
}


def load_task(args):
    """`(train_texts, train_labels, eval_texts, eval_labels, label_names, split)`."""
    if args.task == "sst2":
        train = read_text_classification(args.train, label_names=["0", "1"])
        texts, labels = train.to_arrays()
        if not args.eval:
            raise SystemExit("--task sst2 needs --eval (sentences_eval.tsv)")
        eval_texts, eval_labels = read_text_classification(
            args.eval, label_names=["0", "1"]
        ).to_arrays()
        split = f"{os.path.basename(args.eval)} ({len(eval_labels):,} sentences)"
        return texts, labels, eval_texts, eval_labels, SST2_LABELS, split
    data = read_text_classification(args.train, label_names=AG_NEWS_LABELS)
    texts, labels = data.to_arrays()
    if args.eval:
        eval_texts, eval_labels = read_text_classification(
            args.eval, label_names=AG_NEWS_LABELS
        ).to_arrays()
        split = os.path.basename(args.eval)
        return texts, labels, eval_texts, eval_labels, AG_NEWS_LABELS, split
    order = np.random.default_rng(args.split_seed).permutation(len(labels))
    num_eval = int(round(len(order) * args.holdout))
    train, held = order[:-num_eval], order[-num_eval:]
    split = (
        f"the last {args.holdout:.0%} ({num_eval:,} texts) of "
        f"{os.path.basename(args.train)} after a seed-{args.split_seed} shuffle"
    )
    return texts[train], labels[train], texts[held], labels[held], AG_NEWS_LABELS, split


def token_ids(preprocessor, texts, batch_size=2048):
    """Token ids `(n, sequence_length)` and lengths, computed once."""
    texts = tf.data.Dataset.from_tensor_slices(tf.constant(list(texts), tf.string))
    ids = np.concatenate(list(texts.batch(batch_size).map(preprocessor)))
    return ids, np.maximum((ids != 0).sum(1), 1)


class BucketedBatches(keras.utils.PyDataset):
    """Batches of similar lengths, padding trimmed to a multiple of `bucket`
    (few distinct shapes: each one is compiled once)."""

    def __init__(
        self, ids, lengths, labels, batch_size, bucket, seed=None, weights=None, **kw
    ):
        super().__init__(**kw)
        self.ids, self.lengths, self.labels = ids, lengths, labels
        self.weights = weights
        self.batch_size, self.bucket = batch_size, bucket
        self.rng = np.random.default_rng(seed) if seed is not None else None
        self.on_epoch_end()

    def on_epoch_end(self):
        n = len(self.labels)
        if self.rng is None:  # evaluation: sorted by length, fixed order
            order = np.argsort(self.lengths, kind="stable")
        else:
            order = self.rng.permutation(n)
            pool = self.batch_size * 50  # sort within pools of 50 batches
            order = np.concatenate(
                [
                    chunk[np.argsort(self.lengths[chunk], kind="stable")]
                    for chunk in np.split(order, range(pool, n, pool))
                ]
            )
        batches = np.split(order, range(self.batch_size, n, self.batch_size))
        if self.rng is not None:
            self.rng.shuffle(batches)
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        rows = self.batches[index]
        width = -(-int(self.lengths[rows].max()) // self.bucket) * self.bucket
        if self.weights is None:
            return self.ids[rows, :width], self.labels[rows]
        return self.ids[rows, :width], self.labels[rows], self.weights[rows]


def build_model(args, preprocessor, label_names):
    overrides = {
        "preprocessor": preprocessor,
        "num_classes": len(label_names),
        "label_names": label_names,
        "dropout": args.dropout,
    }
    if args.model == "lstm":
        overrides.update(pooling=args.pooling, embedding_dropout=args.embedding_dropout)
    if args.pretrained:  # the encoder's sizes come with it
        return MODELS[args.model].from_preset(args.pretrained, **overrides)
    if args.model != "transformer":
        overrides.update(embedding_dim=args.embedding_dim, hidden_dim=args.hidden_dim)
    if args.model == "attentive_lstm":
        overrides.update(attention_dim=args.hidden_dim)
    return MODELS[args.model].from_preset(args.preset, **overrides)


def accuracy(model, batches, labels):
    logits = model.predict(batches, verbose=0)
    order = np.concatenate(batches.batches)
    return float((logits.argmax(-1) == labels[order]).mean()), logits, order


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=("sst2", "ag_news"), required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--eval", help="evaluation file (sst2: sentences_eval.tsv)")
    parser.add_argument("--holdout", type=float, default=0.1)
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", choices=tuple(MODELS), default="lstm")
    parser.add_argument("--preset", default="lstm_small")
    parser.add_argument(
        "--pretrained",
        help="start from this pre-trained encoder preset (benchmarks/sst2_pretrain.py)"
        " and its vocabulary",
    )
    parser.add_argument("--pooling", default="max", help="lstm: last, max or mean")
    parser.add_argument("--embedding-dim", type=int, default=128)
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--embedding-dropout", type=float, default=0.2)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--vocabulary-size", type=int, default=8000)
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--bucket", type=int, default=8, help="padding multiple")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--max-train", type=int, help="first N training texts only")
    parser.add_argument(
        "--length-weighting",
        type=float,
        default=0.0,
        help="weight each training text by its length (in tokens) to this power, "
        "mean weight 1: SST-2 trains on phrases (median 7 words) and is scored "
        "on full sentences (median 18); 0 (default) weights all alike",
    )
    parser.add_argument("--save-preset", help="write the best epoch's model here")
    parser.add_argument("--results", help="write the per-epoch log as JSON here")
    args = parser.parse_args(argv)
    command = "python " + " ".join(map(shlex.quote, sys.argv))
    keras.utils.set_random_seed(args.seed)

    texts, labels, eval_texts, eval_labels, label_names, split = load_task(args)
    if args.max_train:
        texts, labels = texts[: args.max_train], labels[: args.max_train]
    started = time.time()
    if args.pretrained:
        preprocessor = load_preset_preprocessor(args.pretrained)
    else:
        preprocessor = TextPreprocessor.from_corpus(
            list(texts),
            vocabulary_size=args.vocabulary_size,
            sequence_length=args.sequence_length,
        )
    ids, lengths = token_ids(preprocessor, texts)
    eval_ids, eval_lengths = token_ids(preprocessor, eval_texts)
    print(
        f"{args.task}: {len(labels):,} training texts, evaluation on {split}; "
        f"vocabulary {preprocessor.vocabulary_size:,} ({time.time() - started:.0f} s)",
        flush=True,
    )
    weights = None
    if args.length_weighting:
        weights = lengths.astype("float32") ** args.length_weighting
        weights /= weights.mean()
    train_batches = BucketedBatches(
        ids, lengths, labels, args.batch_size, args.bucket, args.seed, weights
    )
    eval_batches = BucketedBatches(
        eval_ids, eval_lengths, eval_labels, 256, args.bucket
    )

    model = build_model(args, preprocessor, label_names)
    steps = args.epochs * len(train_batches)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if args.label_smoothing:
        smoothing, num_classes = args.label_smoothing, len(label_names)

        def loss(y_true, logits):
            one_hot = keras.ops.one_hot(
                keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"), num_classes
            )
            return keras.losses.categorical_crossentropy(
                one_hot, logits, from_logits=True, label_smoothing=smoothing
            )

    model.compile(
        optimizer=default_optimizer(
            args.learning_rate, total_steps=steps, weight_decay=args.weight_decay
        ),
        loss=loss,
        jit_compile=keras.backend.backend() != "tensorflow",
    )
    print(f"{type(model).__name__}: {model.count_params():,} parameters", flush=True)

    history, best, best_weights, waited = [], -1.0, None, 0
    for epoch in range(1, args.epochs + 1):
        started = time.time()
        fit = model.fit(train_batches, epochs=1, verbose=0)
        seconds = time.time() - started
        score, _, _ = accuracy(model, eval_batches, eval_labels)
        history.append(
            {
                "epoch": epoch,
                "train_loss": round(float(fit.history["loss"][-1]), 4),
                "eval_accuracy": round(score, 4),
                "seconds": round(seconds, 1),
            }
        )
        print(json.dumps(history[-1]), flush=True)
        if score > best:
            best, best_weights, waited = score, model.get_weights(), 0
        else:
            waited += 1
            if waited >= args.patience:
                break
    model.set_weights(best_weights)
    best_epoch = max(history, key=lambda h: h["eval_accuracy"])["epoch"]
    # The saved model reads raw strings: check it agrees with the bucketed figure.
    logits = model.predict(np.array(eval_texts, dtype=object), verbose=0)
    raw = float((logits.argmax(-1) == eval_labels).mean())
    print(
        f"best epoch {best_epoch}: accuracy {best:.4f} on {split}; "
        f"on raw strings {raw:.4f}",
        flush=True,
    )
    results = {
        "command": command,
        "task": args.task,
        "split": split,
        "best_epoch": best_epoch,
        "eval_accuracy": round(best, 4),
        "raw_string_accuracy": round(raw, 4),
        "parameters": model.count_params(),
        "vocabulary_size": preprocessor.vocabulary_size,
        "history": history,
        "args": vars(args),
    }
    if args.results:
        with open(args.results, "w") as f:
            json.dump(results, f, indent=2)
    if args.save_preset:
        # An uncompiled copy: `save_weights` of a trained model also writes the
        # optimizer's moments (3x the size), which a preset does not need.
        config = {**model.get_config(), "preprocessor": model.preprocessor}
        clean = type(model).from_config(config)
        clean.set_weights(model.get_weights())
        clean.save_to_preset(args.save_preset)
        metadata_path = os.path.join(args.save_preset, "metadata.json")
        with open(metadata_path) as f:
            metadata = json.load(f)
        metadata["description"] = (
            f"{type(model).__name__} "
            + (
                "fine-tuned from the masked-LM pre-trained encoder "
                + os.path.basename(os.path.normpath(args.pretrained))
                if args.pretrained
                else "trained from scratch"
            )
            + f" on {args.task} "
            f"({os.path.basename(args.train)}); accuracy {raw:.4f} on {split}."
        )
        with open(metadata_path, "w") as f:
            json.dump(metadata, f, indent=2)
        print(f"preset written to {args.save_preset}")
    return results


if __name__ == "__main__":
    main()
