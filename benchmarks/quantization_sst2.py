"""Int8 weight quantization of `transformer_small` on SST-2: accuracy and size.

Trains `create_model("transformer_small")` with a WordPiece
`TextPreprocessor` learnt from the training texts, then quantizes it with
`model.quantize("int8")` (Keras 3: int8 weights with per-channel scales for the
`Dense`, `EinsumDense` and `Embedding` layers) and exports both the float32 and
the int8 model with `keras_ctxmem.export.export_saved_model`. Reports accuracy in
process and through each exported SavedModel (raw strings in), the size of each
SavedModel version directory and the parameter count, as a markdown table.

Split: the labelled SST-2 `train.tsv` (header `sentence<TAB>label`) shuffled with
a fixed seed; the last `--valid-rows` rows are held out, the first
`--train-rows` are trained on.

Example:
```
python benchmarks/quantization_sst2.py --train-rows 20000 --valid-rows 5000 \
    --epochs 1
```
"""

import argparse
import csv
import os
import shlex
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_ctxmem.export import export_saved_model  # noqa: E402
from keras_ctxmem.preprocessing import TextPreprocessor  # noqa: E402
from keras_ctxmem.zoo import create_model  # noqa: E402


def read_sst2(path):
    texts, labels = [], []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        if header[:2] != ["sentence", "label"]:
            raise ValueError(f"Unexpected header in '{path}': {header}")
        for row in reader:
            texts.append(row[0])
            labels.append(int(row[1]))
    return np.array(texts, dtype=object), np.array(labels, dtype="int32")


def directory_bytes(path):
    """Apparent size of the files under `path` (as `du -sb`)."""
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def saved_model_accuracy(path, texts, labels, batch_size=512):
    serve = tf.saved_model.load(path).signatures["serving_default"]
    predicted = np.concatenate(
        [
            serve(text=tf.constant(list(texts[i : i + batch_size])))["class_id"]
            for i in range(0, len(texts), batch_size)
        ]
    )
    return float(np.mean(predicted == labels)), predicted


def in_process_accuracy(model, texts, labels, batch_size=512):
    logits = model.predict(texts, batch_size=batch_size, verbose=0)
    predicted = logits.argmax(-1)
    return float(np.mean(predicted == labels)), predicted


def measure(model, name, export_dir, texts, labels):
    start = time.time()
    accuracy, in_process = in_process_accuracy(model, texts, labels)
    path = export_saved_model(model, os.path.join(export_dir, name))
    served_accuracy, served = saved_model_accuracy(path, texts, labels)
    return {
        "name": name,
        "accuracy": accuracy,
        "served_accuracy": served_accuracy,
        "agreement": float(np.mean(in_process == served)),
        "total_bytes": directory_bytes(path),
        "variables_bytes": directory_bytes(os.path.join(path, "variables")),
        "parameters": model.count_params(),
        "seconds": time.time() - start,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="an SST-2 train.tsv")
    parser.add_argument("--train-rows", type=int, default=20000)
    parser.add_argument("--valid-rows", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--vocabulary-size", type=int, default=8000)
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--export-dir", default=None, help="default: a temp dir")
    args = parser.parse_args(argv)

    texts, labels = read_sst2(args.data)
    order = np.random.default_rng(args.seed).permutation(len(texts))
    texts, labels = texts[order], labels[order]
    valid_texts, valid_labels = texts[-args.valid_rows :], labels[-args.valid_rows :]
    train_texts = texts[: min(args.train_rows, len(texts) - args.valid_rows)]
    train_labels = labels[: len(train_texts)]

    start = time.time()
    preprocessor = TextPreprocessor.from_corpus(
        list(train_texts),
        vocabulary_size=args.vocabulary_size,
        sequence_length=args.sequence_length,
    )
    model = create_model(
        "transformer_small",
        preprocessor=preprocessor,
        num_classes=2,
        label_names=["negative", "positive"],
    )
    model.compile()
    keras_seed = args.seed
    tf.random.set_seed(keras_seed)
    model.fit(
        train_texts,
        train_labels,
        batch_size=args.batch_size,
        epochs=args.epochs,
        verbose=2,
    )
    train_seconds = time.time() - start

    export_dir = args.export_dir or tempfile.mkdtemp(prefix="quantization_sst2_")
    rows = [measure(model, "float32", export_dir, valid_texts, valid_labels)]
    model.quantize("int8")
    rows.append(measure(model, "int8", export_dir, valid_texts, valid_labels))

    command = "python benchmarks/quantization_sst2.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    print()
    print(
        f"SST-2 `train.tsv`: {len(train_texts):,} training rows, "
        f"{len(valid_texts):,} held-out rows (seed {args.seed}); vocabulary "
        f"{preprocessor.vocabulary_size:,}, sequence length {args.sequence_length}, "
        f"{args.epochs} epoch(s), batch {args.batch_size}; "
        f"training took {train_seconds:.0f} s on CPU."
    )
    print()
    print(
        "| weights | accuracy (in process) | accuracy (SavedModel) | "
        "SavedModel size | of which variables | parameters |"
    )
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['name']} | {row['accuracy']:.4f} | {row['served_accuracy']:.4f} "
            f"| {row['total_bytes'] / 1e6:.2f} MB | "
            f"{row['variables_bytes'] / 1e6:.2f} MB | {row['parameters']:,} |"
        )
    print()
    print(
        "In-process and SavedModel predictions agree on "
        + ", ".join(f"{r['agreement']:.2%} ({r['name']})" for r in rows)
        + " of the held-out rows."
    )
    print()
    print(f"Command: `{command}`")


if __name__ == "__main__":
    main()
