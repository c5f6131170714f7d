"""Full fine-tuning, LoRA, adapters and prefix-tuning side by side on SST-2.

1. A WordPiece vocabulary and a small Transformer are pre-trained with the
   masked LM (`TransformerMaskedLM`) on unlabelled text: the lines of the
   `--unlabelled` files (e.g. WikiText-2) and the texts of the SST-2 training
   rows (no labels). Or `--backbone DIR` takes an existing backbone preset
   (e.g. one saved before with `--save-backbone DIR`).
2. From that same backbone a `TransformerClassifier` (mean pooling) is trained
   four ways with the same budget (rows, epochs, batch, seed 0; AdamW with 10%
   warm-up then cosine decay; no early stopping): full fine-tuning, LoRA (rank 8
   on query/value), bottleneck adapters (16 units) and prefix-tuning (10
   positions). The head is trainable in all four.
3. Accuracy after the last epoch on `--eval` (SST-2 `sentences_eval.tsv`:
   1,821 full sentences), trainable and total parameters, median step time
   (the median interval between the ends of consecutive training steps, so it
   counts everything the step does). One markdown row per method; one JSON line
   per method appended to `--out`.

Example (run 2 of the table in benchmarks/RESULTS.md, about 30 minutes on a
shared CPU):
```
KERAS_BACKEND=jax python benchmarks/peft_sst2.py \
    --train ../shared/data/sst2/train.tsv \
    --eval ../shared/data/sst2/sentences_eval.tsv \
    --unlabelled ../shared/data/wikitext-2/valid.txt \
        ../shared/data/wikitext-2/test.txt \
    --pretrain-rows 30000 --pretrain-epochs 2 --train-rows 8000 --epochs 3 \
    --learning-rate 5e-3 --out runs/peft_sst2.jsonl
```
"""

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_ctxmem import peft  # noqa: E402
from keras_ctxmem.data.readers import read_text_classification  # noqa: E402
from keras_ctxmem.preprocessing import TextPreprocessor  # noqa: E402
from keras_ctxmem.training import default_optimizer  # noqa: E402
from keras_ctxmem.zoo import (  # noqa: E402
    TransformerBackbone,
    TransformerClassifier,
    TransformerMaskedLM,
)

METHODS = {
    "full": lambda model, args: None,
    "LoRA": lambda model, args: peft.enable_lora(model, rank=args.lora_rank),
    "adapters": lambda model, args: peft.enable_adapters(
        model, bottleneck_dim=args.bottleneck_dim
    ),
    "prefix": lambda model, args: peft.enable_prefix(
        model, prefix_length=args.prefix_length
    ),
}


class StepTimer(keras.callbacks.Callback):
    """Intervals between the ends of consecutive training steps, in seconds."""

    def __init__(self):
        super().__init__()
        self.intervals = []
        self.last = None

    def on_epoch_begin(self, epoch, logs=None):
        self.last = None  # the pause between epochs is not a step

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self.last is not None:
            self.intervals.append(now - self.last)
        self.last = now


def pretrain(args, train_texts):
    corpus = list(train_texts)
    for path in args.unlabelled:
        with open(path, encoding="utf-8") as f:
            corpus += [line.strip() for line in f if len(line.split()) > 3]
    np.random.default_rng(1).shuffle(corpus)
    if args.pretrain_rows:
        corpus = corpus[: args.pretrain_rows]
    pre = TextPreprocessor.from_corpus(
        corpus,
        vocabulary_size=args.vocabulary_size,
        sequence_length=args.sequence_length,
    )
    keras.utils.set_random_seed(0)
    backbone = TransformerBackbone(
        vocabulary_size=pre.vocabulary_size,
        num_layers=args.num_layers,
        num_heads=args.num_heads,
        hidden_dim=args.hidden_dim,
        intermediate_dim=4 * args.hidden_dim,
        max_sequence_length=args.sequence_length,
        dropout=0.1,
    )
    masked_lm = TransformerMaskedLM(backbone=backbone, preprocessor=pre)
    steps = -(-len(corpus) // args.batch_size) * args.pretrain_epochs
    masked_lm.compile(optimizer=default_optimizer(1e-3, total_steps=steps))
    start = time.time()
    history = masked_lm.fit(
        corpus, epochs=args.pretrain_epochs, batch_size=args.batch_size, verbose=2
    )
    summary = {
        "texts": len(corpus),
        "epochs": args.pretrain_epochs,
        "masked_accuracy": round(history.history["accuracy"][-1], 4),
        "seconds": round(time.time() - start),
    }
    print("pre-training:", summary, flush=True)
    directory = args.save_backbone or os.path.join(tempfile.mkdtemp(), "pretrained")
    masked_lm.save_backbone_to_preset(directory)
    return directory, summary


def run_method(name, backbone, data, args):
    keras.utils.set_random_seed(0)
    model = TransformerClassifier.from_preset(backbone, num_classes=2)
    METHODS[name](model, args)
    (x, y), (eval_x, eval_y) = data
    steps = -(-len(x) // args.batch_size) * args.epochs
    learning_rate = args.full_learning_rate if name == "full" else args.learning_rate
    model.compile(optimizer=default_optimizer(learning_rate, total_steps=steps))
    timer = StepTimer()
    start = time.time()
    model.fit(
        x,
        y,
        batch_size=args.batch_size,
        epochs=args.epochs,
        callbacks=[timer],
        verbose=2,
    )
    seconds = time.time() - start
    accuracy = model.evaluate(eval_x, eval_y, batch_size=256, verbose=0)[1]
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    return {
        "method": name,
        "accuracy": round(float(accuracy), 4),
        "trainable_params": trainable,
        "total_params": model.count_params(),
        "median_step_ms": round(1000 * statistics.median(timer.intervals), 1),
        "learning_rate": learning_rate,
        "train_seconds": round(seconds),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", required=True, help="SST-2 train.tsv")
    parser.add_argument("--eval", required=True, help="SST-2 sentences_eval.tsv")
    parser.add_argument("--unlabelled", nargs="*", default=[], help="text files")
    parser.add_argument("--backbone", help="a pre-trained backbone preset")
    parser.add_argument("--save-backbone", help="where to keep the pre-trained one")
    parser.add_argument("--train-rows", type=int, default=20000, help="0: all")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--pretrain-epochs", type=int, default=2)
    parser.add_argument("--pretrain-rows", type=int, default=0, help="0: all")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--vocabulary-size", type=int, default=5000)
    parser.add_argument("--sequence-length", type=int, default=48)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--full-learning-rate", type=float, default=1e-3)
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--bottleneck-dim", type=int, default=16)
    parser.add_argument("--prefix-length", type=int, default=10)
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--out", help="JSON lines file to append to")
    args = parser.parse_args()

    texts, labels = read_text_classification(args.train).to_arrays()
    order = np.random.default_rng(0).permutation(len(texts))
    texts, labels = texts[order], labels[order]
    all_train_texts = texts.tolist()  # unlabelled, for pre-training
    if args.train_rows:
        texts, labels = texts[: args.train_rows], labels[: args.train_rows]
    eval_texts, eval_labels = read_text_classification(args.eval).to_arrays()

    pretraining = None
    backbone = args.backbone
    if backbone is None:
        backbone, pretraining = pretrain(args, all_train_texts)
    preprocessor = TransformerClassifier.from_preset(backbone).preprocessor
    data = (
        (np.asarray(preprocessor(texts.tolist())), labels),
        (np.asarray(preprocessor(eval_texts.tolist())), eval_labels),
    )

    command = shlex.join(["python", *sys.argv])
    rows = []
    for name in args.methods:
        row = run_method(name, backbone, data, args)
        row.update(
            command=command,
            train_rows=len(texts),
            epochs=args.epochs,
            eval_split=os.path.basename(args.eval),
            pretraining=pretraining,
            backend=keras.backend.backend(),
        )
        print(json.dumps(row), flush=True)
        rows.append(row)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")

    print(f"\n`{command}`\n")
    print("| method | accuracy | trainable params | total params | median step ms |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['method']} | {row['accuracy']:.4f} | "
            f"{row['trainable_params']:,} | {row['total_params']:,} | "
            f"{row['median_step_ms']} |"
        )


if __name__ == "__main__":
    main()
