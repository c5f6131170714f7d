"""Masked-LM pre-training, then fine-tuning: from scratch vs fine-tuned vs LoRA.

1. A WordPiece vocabulary and a `TransformerMaskedLM` (`transformer_small` by
   default) are pre-trained on the *text* of SST-2 and AG News (no labels; the
   evaluation rows are left out of the corpus).
2. On each dataset, with the same vocabulary and split, a `TransformerClassifier`
   is trained three ways with `keras_ctxmem.fine_tuning.fine_tune` (AdamW, linear
   warm-up and decay, early stopping on a validation slice of the training rows):
   from scratch, fine-tuned from the pre-trained backbone, and LoRA on the
   pre-trained backbone (rank 8 on query/value; head trainable).
3. Prints a markdown table: accuracy on the held-out rows, trainable share, time.

Split: each file shuffled with seed 0; the last `--eval-rows` rows are held out
for the reported accuracy, 10% of the rest validates early stopping.

Example (the numbers in the cards):
```
python benchmarks/pretrain_finetune.py --sst2-rows 20000 --pretrain-epochs 3
```
"""

import argparse
import json
import os
import shlex
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_ctxmem import lora  # noqa: E402
from keras_ctxmem.data.readers import read_text_classification  # noqa: E402
from keras_ctxmem.fine_tuning import fine_tune  # noqa: E402
from keras_ctxmem.preprocessing import TextPreprocessor  # noqa: E402
from keras_ctxmem.training import default_optimizer  # noqa: E402
from keras_ctxmem.zoo import TransformerClassifier, TransformerMaskedLM  # noqa: E402


def load(path, rows, eval_rows):
    data = read_text_classification(path)
    texts, labels = data.to_arrays()
    order = np.random.default_rng(0).permutation(len(texts))
    texts, labels = texts[order], labels[order]
    train_texts, train_labels = texts[:-eval_rows], labels[:-eval_rows]
    if rows:
        train_texts, train_labels = train_texts[:rows], train_labels[:rows]
    return {
        "train": (train_texts, train_labels),
        "eval": (texts[-eval_rows:], labels[-eval_rows:]),
        "num_classes": len(data.label_names),
        "unlabelled": texts[:-eval_rows],
    }


def split_validation(texts, labels):
    cut = int(len(texts) * 0.9)
    return (texts[:cut], labels[:cut]), (texts[cut:], labels[cut:])


def run_variant(name, build, dataset, args):
    keras.utils.set_random_seed(0)
    model = build()
    (x, y), validation = split_validation(*dataset["train"])
    learning_rate = {"scratch": 1e-3, "fine-tuned": 3e-4, "LoRA": 2e-3}[name]
    start = time.time()
    fine_tune(
        model,
        x,
        y,
        validation_data=validation,
        epochs=args.epochs,
        batch_size=32,
        learning_rate=learning_rate,
        patience=1,
        verbose=2,
    )
    accuracy = model.evaluate(*dataset["eval"], verbose=0)[1]
    return {
        "variant": name,
        "accuracy": round(float(accuracy), 4),
        "trainable_share": round(lora.trainable_share(model), 4),
        "learning_rate": learning_rate,
        "seconds": round(time.time() - start),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", required=True, help="the folder holding sst2/ and ag_news_10k/"
    )
    parser.add_argument("--preset", default="transformer_small")
    parser.add_argument("--sst2-rows", type=int, default=20000)
    parser.add_argument("--ag-news-rows", type=int, default=0, help="0: all")
    parser.add_argument("--eval-rows", type=int, default=2000)
    parser.add_argument("--vocabulary-size", type=int, default=8000)
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--pretrain-rows", type=int, default=0, help="0: all")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--out", default=None, help="JSON results file")
    args = parser.parse_args()

    datasets = {
        "SST-2": load(f"{args.data}/sst2/train.tsv", args.sst2_rows, args.eval_rows),
        "AG News": load(
            f"{args.data}/ag_news_10k/train.tsv", args.ag_news_rows, args.eval_rows // 2
        ),
    }
    corpus = np.concatenate([d["unlabelled"] for d in datasets.values()]).tolist()
    np.random.default_rng(1).shuffle(corpus)
    if args.pretrain_rows:
        corpus = corpus[: args.pretrain_rows]
    pre = TextPreprocessor.from_corpus(
        corpus,
        vocabulary_size=args.vocabulary_size,
        sequence_length=args.sequence_length,
    )

    keras.utils.set_random_seed(0)
    start = time.time()
    masked_lm = TransformerMaskedLM.from_preset(args.preset, preprocessor=pre)
    steps = -(-len(corpus) // 32) * args.pretrain_epochs
    masked_lm.compile(optimizer=default_optimizer(1e-3, total_steps=steps))
    history = masked_lm.fit(corpus, epochs=args.pretrain_epochs, verbose=2)
    pretraining = {
        "texts": len(corpus),
        "epochs": args.pretrain_epochs,
        "masked_accuracy": round(history.history["accuracy"][-1], 4),
        "loss": [round(v, 3) for v in history.history["loss"]],
        "seconds": round(time.time() - start),
    }
    print("pre-training:", pretraining, flush=True)
    pretrained = os.path.join(tempfile.mkdtemp(), "pretrained")
    masked_lm.save_backbone_to_preset(pretrained)

    results = {"command": shlex.join(["python", *sys.argv]), "pretraining": pretraining}
    for data_name, dataset in datasets.items():
        num_classes = dataset["num_classes"]

        def lora_model(num_classes=num_classes):
            model = TransformerClassifier.from_preset(
                pretrained, num_classes=num_classes
            )
            lora.enable_lora(model, rank=args.lora_rank)
            return model

        builders = {
            "scratch": lambda num_classes=num_classes: (
                TransformerClassifier.from_preset(
                    args.preset, num_classes=num_classes, preprocessor=pre
                )
            ),
            "fine-tuned": lambda num_classes=num_classes: (
                TransformerClassifier.from_preset(pretrained, num_classes=num_classes)
            ),
            "LoRA": lora_model,
        }
        results[data_name] = [
            run_variant(name, build, dataset, args) for name, build in builders.items()
        ]
        print(data_name, results[data_name], flush=True)

    print(f"\n`{results['command']}`\n")
    print("| data | variant | accuracy | trainable share | seconds |")
    print("|---|---|---|---|---|")
    for data_name in datasets:
        for row in results[data_name]:
            print(
                f"| {data_name} | {row['variant']} | {row['accuracy']:.4f} | "
                f"{row['trainable_share']:.1%} | {row['seconds']} |"
            )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
