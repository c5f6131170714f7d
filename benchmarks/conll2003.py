"""CoNLL-2003 English NER: entity F1 (conlleval-equal) on the dev file.

Trains on `--train` and scores `--valid` (CoNLL-2003's `dev.txt`; the test set
is not used) after every epoch: precision, recall, F1 and the per-type table.
The best epoch's weights are kept (and saved with `--save-preset DIR`); one
JSON line of results is appended to `--results`. Everything printed also goes
to `--log`.

- `--model lstm_tagger`: `LSTMTagger` (word + case + char-CNN features, BiLSTM,
  CRF) on a `WordTaggingPreprocessor` learnt from the training file (case kept
  for characters and the case feature; words looked up lowercased).
- `--model transformer`: `TransformerTokenClassifier` on a cased WordPiece
  vocabulary learnt from the training words (`--vocabulary-size`), with a
  sequence length that cuts no training or dev sentence.

Both use AdamW with warm-up and cosine decay (`default_optimizer`).

Anchors: keras.io's NER Transformer example, entity F1 67.94; Lample et al.
2016, BiLSTM-CRF with characters and no pretrained vectors, 83.6 test F1 (dev
runs a few points above test on CoNLL-2003).

Example:
```
KERAS_BACKEND=jax python benchmarks/conll2003.py --model lstm_tagger \\
    --train ../shared/data/conll2003/train.txt \\
    --valid ../shared/data/conll2003/dev.txt --epochs 20 --log runs/ner.log
```
"""

import argparse
import json
import math
import os
import sys
import time

import keras


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=["lstm_tagger", "transformer"])
    parser.add_argument(
        "--preset", help="default: lstm_tagger_small, transformer_small"
    )
    parser.add_argument("--train", required=True)
    parser.add_argument("--valid", required=True)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--vocabulary-size", type=int, default=None)
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=JSON",
        help="model configuration overrides, e.g. hidden_dim=200 dropout=0.5",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-preset")
    parser.add_argument("--log", default="conll2003.log")
    parser.add_argument("--results", default="conll2003_results.jsonl")
    parser.add_argument(
        "--jit-compile",
        choices=["auto", "on", "off"],
        default="auto",
        help="auto: on with JAX (eager JAX is slow), off with TensorFlow (XLA:CPU "
        "is slower there)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(os.path.dirname(os.path.abspath(args.log)), exist_ok=True)
    log_file = open(args.log, "a")

    def log(message):
        print(message, flush=True)
        log_file.write(message + "\n")
        log_file.flush()

    keras.utils.set_random_seed(args.seed)
    from keras_ctxmem.data.readers import read_conll
    from keras_ctxmem.ner import build_tagger, train_tagger
    from keras_ctxmem.training import default_optimizer

    log(f"$ {' '.join(sys.argv)}  [backend {keras.backend.backend()}]")
    train = read_conll(args.train)
    valid = read_conll(args.valid, tag_names=train.tag_names)
    preset = args.preset or f"{args.model}_small"
    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    model = build_tagger(preset, train, valid, args.vocabulary_size, **overrides)
    steps = args.epochs * math.ceil(len(train.sentences) / args.batch_size)
    default_rate = 1e-3 if args.model == "transformer" else 3e-3
    model.compile(
        optimizer=default_optimizer(
            args.learning_rate or default_rate,
            total_steps=steps,
            weight_decay=args.weight_decay,
        ),
        jit_compile=args.jit_compile == "on"
        or (args.jit_compile == "auto" and keras.backend.backend() == "jax"),
    )
    log(
        f"{type(model).__name__}: {model.count_params():,} parameters, "
        f"{len(train.sentences)} training sentences, {len(valid.sentences)} valid"
    )

    def save(record):
        if args.save_preset:
            model.save_to_preset(args.save_preset)
            log(f"saved epoch {record['epoch']} to {args.save_preset}")

    start = time.time()
    result = train_tagger(
        model,
        train,
        valid,
        args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        log=log,
        on_best=save,
    )
    best = result["best"]
    line = {
        "benchmark": "conll2003",
        "model": args.model,
        "preset": preset,
        "overrides": args.set,
        "backend": keras.backend.backend(),
        "parameters": model.count_params(),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "vocabulary_size": model.preprocessor.vocabulary_size,
        "seed": args.seed,
        "valid": args.valid,
        "best_epoch": result["best_epoch"],
        "entity_f1": best["entity_f1"],
        "precision": best["precision"],
        "recall": best["recall"],
        "per_type_f1": {t: s["f1"] for t, s in best["per_type"].items()},
        "f1_per_epoch": [round(r["entity_f1"], 4) for r in result["history"]],
        "seconds": round(time.time() - start),
    }
    with open(args.results, "a") as f:
        f.write(json.dumps(line) + "\n")
    log(json.dumps(line))
    return line


if __name__ == "__main__":
    main()
