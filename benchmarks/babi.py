"""bAbI 1k, one model per task: per-task error, mean error and failed tasks.

Trains on `qaN_train.txt` (900 questions) and reports the error on
`qaN_valid.txt` (100 questions; the bAbI test files are not used) after the
last epoch: no model selection on the validation questions, no best-of-N
restarts. One vocabulary per task, built from both files. A task fails when its
error is above 5% (Weston et al. 2015).

- `--model memory_network`: `MemoryNetwork` (MemN2N) on the story as memories
  (the newest `--max-memories` statements). `--recipe paper` is section 4.2's:
  SGD at 0.01 (0.005 with linear start) halved every 25 epochs, gradient norm
  clipped at 40 (over all weights), batch 32, for a loss summed over the batch
  as in the paper's code (`paper_optimizer` scales both for Keras's mean loss);
  `--recipe adamw` the zoo's AdamW with warm-up and cosine decay.
  `--linear-start N` runs the first N epochs without the memory softmax
  (`LinearStart`); `--random-noise` inserts that rate of empty memories in
  training (RN).
- `--model lstm | attentive_lstm | transformer`: the zoo's sequence
  classifiers on story then question as one token sequence
  (`BabiData.to_sequences`, the last `--max-length` tokens), answer = a class
  over the vocabulary; AdamW with warm-up and cosine decay.

Anchors: MemN2N (Sukhbaatar et al. 2015), bAbI 1k, PE LS RN, one model per
task: 12.4% mean test error, 11 failed tasks (best of 10 runs by training
error). The Keras `babi_rnn` example's LSTM: 52.1%, 37.0%, 20.5% *accuracy* on
QA1-3.

Example:
```
python benchmarks/babi.py --model memory_network --tasks 1 2 3 --epochs 100 \\
    --linear-start 20 --random-noise 0.1
python benchmarks/babi.py --model lstm --tasks 1 2 3 --epochs 20
```
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from keras_ctxmem.data.readers import babi_vocabulary, read_babi  # noqa: E402
from keras_ctxmem.training import default_optimizer  # noqa: E402
from keras_ctxmem.zoo import (  # noqa: E402
    AttentiveLSTMClassifier,
    LSTMClassifier,
    MemoryNetwork,
    TransformerClassifier,
)
from keras_ctxmem.zoo.memory_network import LinearStart  # noqa: E402

DEFAULT_DATA = "/work/shared/data/babi-1k"
FAILED_ABOVE = 5.0  # % error
MODELS = {
    "memory_network": (MemoryNetwork, "memory_network_tiny"),
    "lstm": (LSTMClassifier, "lstm_small"),
    "attentive_lstm": (AttentiveLSTMClassifier, "attentive_lstm_small"),
    "transformer": (TransformerClassifier, "transformer_tiny"),
}


def task_data(args, task):
    """`(x, y, x_valid, y_valid, vocabulary)` for the model family."""
    train = read_babi(args.data, args.max_memories, task_ids=[task], split="train")
    valid = read_babi(args.data, args.max_memories, task_ids=[task], split="valid")
    vocabulary = babi_vocabulary(train, valid)
    if args.model == "memory_network":
        memories = max(len(story) for data in (train, valid) for story in data.stories)
        words = max(
            len(sentence)
            for data in (train, valid)
            for sentence in [*data.questions, *(s for t in data.stories for s in t)]
        )
        arrays = [
            data.to_arrays(vocabulary, max(memories, 1), words)
            for data in (train, valid)
        ]
        inputs = [{"story": a["story"], "question": a["question"]} for a in arrays]
    else:
        length = max(
            data.to_sequences(vocabulary)["token_ids"].shape[1]
            for data in (train, valid)
        )
        length = min(length, args.max_length)
        arrays = [data.to_sequences(vocabulary, length) for data in (train, valid)]
        inputs = [a["token_ids"] for a in arrays]
    return inputs[0], arrays[0]["answer"], inputs[1], arrays[1]["answer"], vocabulary


def paper_optimizer(learning_rate, steps_per_epoch, batch_size):
    """SGD, the rate halved every 25 epochs, global gradient norm clipped at 40.

    The paper's code sums the loss over a batch where Keras averages it, so the
    rate is multiplied, and the clipping norm divided, by the batch size.
    """
    schedule = keras.optimizers.schedules.ExponentialDecay(
        learning_rate * batch_size, 25 * steps_per_epoch, 0.5, staircase=True
    )
    return keras.optimizers.SGD(schedule, global_clipnorm=40.0 / batch_size)


def build_and_compile(args, vocabulary_size, steps_per_epoch):
    cls, preset = MODELS[args.model]
    preset = args.preset or preset
    learning_rate = args.learning_rate
    callbacks = []
    if args.model == "memory_network":
        model = cls.from_preset(
            preset,
            vocabulary_size=vocabulary_size,
            max_memories=args.max_memories,
            random_noise=args.random_noise,
        )
        if args.linear_start:
            callbacks.append(LinearStart(args.linear_start))
        if args.recipe == "paper":
            learning_rate = learning_rate or (0.005 if args.linear_start else 0.01)
            model.compile(
                optimizer=paper_optimizer(
                    learning_rate, steps_per_epoch, args.batch_size
                ),
                jit_compile=not args.no_xla,
            )
            return model, callbacks
        learning_rate = learning_rate or cls.default_learning_rate
    else:
        overrides = {"vocabulary_size": vocabulary_size, "num_classes": vocabulary_size}
        if args.model == "transformer":
            overrides["max_sequence_length"] = args.max_length
        model = cls.from_preset(preset, **overrides)
        learning_rate = learning_rate or 1e-3
    total_steps = args.epochs * steps_per_epoch
    model.compile(
        optimizer=default_optimizer(learning_rate, total_steps=total_steps),
        jit_compile=not args.no_xla,
    )
    return model, callbacks


def run_task(task, args):
    x, y, x_valid, y_valid, vocabulary = task_data(args, task)
    keras.utils.set_random_seed(args.seed)
    steps_per_epoch = -(-len(y) // args.batch_size)
    model, callbacks = build_and_compile(args, len(vocabulary), steps_per_epoch)
    start = time.time()
    history = model.fit(
        x,
        y,
        batch_size=args.batch_size,
        epochs=args.epochs,
        callbacks=callbacks,
        verbose=0,
    )
    seconds = time.time() - start
    valid_accuracy = model.evaluate(x_valid, y_valid, verbose=0)[1]
    shape = x["story"].shape[1] if isinstance(x, dict) else x.shape[1]
    return {
        "task": task,
        "model": args.model,
        "train": len(y),
        "valid": len(y_valid),
        "length": shape,
        "vocabulary": len(vocabulary),
        "parameters": model.count_params(),
        "train_error": 100 * (1 - history.history["accuracy"][-1]),
        "valid_error": 100 * (1 - valid_accuracy),
        "seconds": seconds,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="memory_network")
    parser.add_argument("--preset", help="default: the model's entry in MODELS")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--tasks", type=int, nargs="+", default=list(range(1, 21)))
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--learning-rate", type=float, help="default: per model and recipe"
    )
    parser.add_argument("--recipe", choices=("paper", "adamw"), default="paper")
    parser.add_argument("--linear-start", type=int, default=0, metavar="EPOCHS")
    parser.add_argument("--random-noise", type=float, default=0.0)
    parser.add_argument("--max-memories", type=int, default=50)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument(
        "--no-xla",
        action="store_true",
        help="jit_compile=False: much faster on CPU (see RESULTS.md)",
    )
    parser.add_argument("--jsonl", help="also append one JSON line per task here")
    args = parser.parse_args()

    print(
        f"{args.model} {args.preset or MODELS[args.model][1]}, {args.epochs} epochs, "
        f"batch {args.batch_size}, recipe {args.recipe}, linear start "
        f"{args.linear_start}, random noise {args.random_noise}, max memories "
        f"{args.max_memories}, max length {args.max_length}, seed {args.seed}, "
        f"backend {keras.backend.backend()}"
    )
    print(
        "| task | memories or tokens | vocab | params | train error % "
        "| valid error % | fit s |"
    )
    print("|" + "---|" * 7)
    rows = []
    for task in args.tasks:
        row = run_task(task, args)
        rows.append(row)
        print(
            f"| QA{row['task']} | {row['length']} | {row['vocabulary']} | "
            f"{row['parameters']:,} | {row['train_error']:.1f} | "
            f"{row['valid_error']:.1f} | {row['seconds']:.0f} |",
            flush=True,
        )
        if args.jsonl:
            with open(args.jsonl, "a") as f:
                f.write(json.dumps({**row, "args": vars(args)}) + "\n")
    mean = sum(row["valid_error"] for row in rows) / len(rows)
    failed = sum(row["valid_error"] > FAILED_ABOVE for row in rows)
    print(
        f"mean valid error over {len(rows)} task(s): {mean:.1f}%; "
        f"failed (> {FAILED_ABOVE:.0f}%): {failed}"
    )


if __name__ == "__main__":
    main()
