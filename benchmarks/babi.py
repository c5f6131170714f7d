"""bAbI: MemoryNetwork (MemN2N) per task or jointly, and flat sequence readers.

Reads any bAbI folder: ours (`qaN_train.txt`, `qaN_valid.txt`) or the official
layout (`en/` or `en-10k/` with `qaN_<name>_train.txt` and `..._test.txt`,
and no validation files: then a seeded 10% of each task's training questions
is held out, as in the paper). The vocabulary is built from the training and
validation questions only. `--test` scores a separate test split (a folder,
or files) with the trained model's words; it never feeds the vocabulary.
A task fails when its error is above 5% (Weston et al. 2015).

- `--model memory_network` (default): `keras_ctxmem.babi.train_memory_network`,
  the MemN2N paper's recipe (see that module): PE, TE, 3 hops, adjacent
  tying, a linear start of 20 epochs at 0.01 (`--linear-start auto` stops it
  when the validation loss stops falling), then SGD 0.01 halved every 25
  epochs (15 jointly), gradient norm 40, batch 32, random noise 0.1, the
  softmax over the empty slots of a 50-slot memory too, d = 20 and 100
  epochs per task, d = 50 and 60 epochs jointly (`--mode joint`: one model,
  all tasks, one vocabulary), best of `--restarts` runs on validation error.
  `--save-preset DIR` writes the (joint, or last task's) model.
- `--model lstm | attentive_lstm | transformer`: the zoo's sequence
  classifiers on story then question as one token sequence (the last
  `--max-length` tokens), answer = a class over the vocabulary; AdamW with
  warm-up and cosine decay; per task, no restarts.

Anchors (test files): MemN2N (Sukhbaatar et al. 2015), 1k, PE LS RN: 13.9%
mean error / 11 failed per task, 12.4% / 11 jointly; 10k: 4.2% / 3.

The CPU is much faster with the JAX backend for this small model:
```
KERAS_BACKEND=jax python benchmarks/babi.py --data ../shared/data/babi-1k \
    --mode joint --seed 20 --save-preset runs/babi_joint
KERAS_BACKEND=jax python benchmarks/babi.py --data ../shared/data/babi-1k \
    --mode per-task --restarts 10 --jsonl runs/babi_per_task.jsonl
python benchmarks/babi.py --data ../shared/data/babi-1k --model lstm \
    --tasks 1 2 3 --epochs 20 --no-xla
```
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from keras_ctxmem.babi import (  # noqa: E402
    JOINT,
    PER_TASK,
    evaluate_memory_network,
    split_validation,
    train_memory_network,
)
from keras_ctxmem.data.readers import babi_vocabulary, read_babi  # noqa: E402
from keras_ctxmem.metrics import FAILED_TASK_ERROR  # noqa: E402
from keras_ctxmem.training import default_optimizer  # noqa: E402
from keras_ctxmem.zoo import (  # noqa: E402
    AttentiveLSTMClassifier,
    LSTMClassifier,
    TransformerClassifier,
)

SEQUENCE_READERS = {
    "lstm": (LSTMClassifier, "lstm_small"),
    "attentive_lstm": (AttentiveLSTMClassifier, "attentive_lstm_small"),
    "transformer": (TransformerClassifier, "transformer_tiny"),
}


def read_splits(args, task_ids):
    """`(train, valid)` `BabiData` for these tasks; valid carved if absent."""
    train = read_babi(args.data, args.max_memories, task_ids=task_ids, split="train")
    try:
        valid = read_babi(
            args.data, args.max_memories, task_ids=task_ids, split="valid"
        )
    except FileNotFoundError:
        train, valid = split_validation(train, 0.1, seed=args.seed)
    return train, valid


def read_test(args, task_ids):
    if os.path.isdir(args.test):
        return read_babi(args.test, args.max_memories, task_ids=task_ids, split="test")
    return read_babi(args.test, args.max_memories)


def recipe_from(args):
    recipe = JOINT if args.mode == "joint" else PER_TASK
    overrides = {
        "epochs": args.epochs,
        "embedding_dim": args.embedding_dim,
        "halve_every": args.halve_every,
        "learning_rate": args.learning_rate,
        "random_noise": args.random_noise,
        "restarts": args.restarts,
        "seed": args.seed,
        "max_memories": args.max_memories,
        "linear_start_learning_rate": args.linear_start_learning_rate,
        "empty_slots_attend": args.empty_slots_attend,
    }
    if args.linear_start is not None:
        overrides["linear_start"] = (
            "auto" if args.linear_start == "auto" else int(args.linear_start)
        )
    return recipe.replace(**{k: v for k, v in overrides.items() if v is not None})


def run_memory_network(args, task_ids):
    """Trains one model on `task_ids`; returns its rows and the model."""
    train, valid = read_splits(args, task_ids)
    recipe = recipe_from(args)
    start = time.time()
    model, summary = train_memory_network(
        train,
        valid,
        recipe,
        jit_compile=not args.no_xla,
        log=lambda run: print(
            f"  run {run['run']} (seed {run['seed']}): linear start "
            f"{run['linear_epochs']} epochs, valid mean error "
            f"{100 * run['valid_mean_error']:.1f}%",
            flush=True,
        ),
    )
    seconds = time.time() - start
    test = (
        evaluate_memory_network(model, read_test(args, task_ids)) if args.test else None
    )
    rows = []
    for task in summary["valid_error"]:
        rows.append(
            {
                "task": task,
                "train_error": 100 * summary["train_error"][task],
                "valid_error": 100 * summary["valid_error"][task],
                "test_error": 100 * test["per_task"][task]["error"] if test else None,
                "seed": summary["seed"],
                "linear_epochs": summary["linear_epochs"],
                "seconds": seconds,
                "parameters": model.count_params(),
                "vocabulary": model.vocabulary_size,
                "runs_valid_mean_error": [
                    100 * run["valid_mean_error"] for run in summary["runs"]
                ],
            }
        )
    return rows, model


def run_sequence_reader(args, task):
    train, valid = read_splits(args, [task])
    vocabulary = babi_vocabulary(train, valid)
    length = max(
        d.to_sequences(vocabulary)["token_ids"].shape[1] for d in (train, valid)
    )
    length = min(length, args.max_length)
    arrays = [d.to_sequences(vocabulary, length) for d in (train, valid)]
    (x, y), (x_valid, y_valid) = ((a["token_ids"], a["answer"]) for a in arrays)
    keras.utils.set_random_seed(args.seed)
    cls, preset = SEQUENCE_READERS[args.model]
    overrides = {"vocabulary_size": len(vocabulary), "num_classes": len(vocabulary)}
    if args.model == "transformer":
        overrides["max_sequence_length"] = args.max_length
    model = cls.from_preset(args.preset or preset, **overrides)
    epochs = args.epochs or 20
    steps = epochs * -(-len(y) // args.batch_size)
    model.compile(
        optimizer=default_optimizer(args.learning_rate or 1e-3, total_steps=steps),
        jit_compile=not args.no_xla,
    )
    start = time.time()
    history = model.fit(x, y, batch_size=args.batch_size, epochs=epochs, verbose=0)
    valid_accuracy = model.evaluate(x_valid, y_valid, verbose=0)[1]
    return {
        "task": task,
        "train_error": 100 * (1 - history.history["accuracy"][-1]),
        "valid_error": 100 * (1 - valid_accuracy),
        "test_error": None,
        "seconds": time.time() - start,
        "parameters": model.count_params(),
        "vocabulary": len(vocabulary),
    }


def print_row(row):
    test = "–" if row["test_error"] is None else f"{row['test_error']:.1f}"
    print(
        f"| QA{row['task']} | {row['train_error']:.1f} | {row['valid_error']:.1f} | "
        f"{test} | {row['vocabulary']} | {row['parameters']:,} | "
        f"{row['seconds']:.0f} |",
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="a bAbI folder")
    parser.add_argument(
        "--test", help="a test folder or file (scored, never read for words)"
    )
    parser.add_argument(
        "--model",
        choices=["memory_network", *SEQUENCE_READERS],
        default="memory_network",
    )
    parser.add_argument("--mode", choices=("per-task", "joint"), default="per-task")
    parser.add_argument(
        "--tasks", type=int, nargs="+", help="default: every task found"
    )
    parser.add_argument("--restarts", type=int, help="runs per model, best on valid")
    parser.add_argument("--epochs", type=int, help="default: the recipe's")
    parser.add_argument("--embedding-dim", type=int, help="default: the recipe's")
    parser.add_argument("--halve-every", type=int, help="epochs; default: the recipe's")
    parser.add_argument("--learning-rate", type=float, help="default: the recipe's")
    parser.add_argument("--linear-start", help="epochs (default 20), 'auto' or 0")
    parser.add_argument(
        "--linear-start-learning-rate", type=float, help="default: 0.01"
    )
    parser.add_argument(
        "--empty-slots-attend",
        action=argparse.BooleanOptionalAction,
        help="the softmax also over a 50-slot memory's empty slots (default: yes)",
    )
    parser.add_argument("--random-noise", type=float, help="default: 0.1")
    parser.add_argument("--max-memories", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--preset", help="sequence readers: the preset to build")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-xla", action="store_true", help="jit_compile=False")
    parser.add_argument("--save-preset", help="write the (joint or last) model here")
    parser.add_argument("--jsonl", help="also append one JSON line per task here")
    args = parser.parse_args()

    tasks = args.tasks or sorted(set(read_babi(args.data, split="train").task_ids))
    print(f"{vars(args)}, backend {keras.backend.backend()}", flush=True)
    print(
        "| task | train error % | valid error % | test error % | vocab | params | s |"
    )
    print("|" + "---|" * 7)
    rows = []
    if args.model != "memory_network":
        groups = [[task] for task in tasks]
    else:
        groups = [tasks] if args.mode == "joint" else [[task] for task in tasks]
    model = None
    for group in groups:
        if args.model == "memory_network":
            new_rows, model = run_memory_network(args, group)
        else:
            new_rows = [run_sequence_reader(args, group[0])]
        for row in new_rows:
            print_row(row)
            if args.jsonl:
                with open(args.jsonl, "a") as f:
                    f.write(json.dumps({**row, "args": vars(args)}) + "\n")
        rows += new_rows
    for split in ("train", "valid", "test"):
        errors = [row[f"{split}_error"] for row in rows]
        if None in errors:
            continue
        failed = sum(error > 100 * FAILED_TASK_ERROR for error in errors)
        print(
            f"mean {split} error over {len(rows)} task(s): "
            f"{sum(errors) / len(errors):.1f}%; failed (> 5%): {failed}"
        )
    if args.save_preset and model is not None:
        model.save_to_preset(args.save_preset)
        print(f"preset written to {args.save_preset}")


if __name__ == "__main__":
    main()
