"""MemN2N (`MemoryNetwork`) on bAbI 1k, one model per task: a per-task error table.

Trains on `qaN_train.txt` and reports the error on `qaN_valid.txt` (the bAbI
test files are not used), after the last epoch (no model selection on the
validation questions). One vocabulary per task, built from both files.

Anchors: the MemN2N paper (Sukhbaatar et al. 2015, PE LS RN, bAbI 1k) has a
mean test error of 12.4% over the 20 tasks and about 0% on QA1; the Keras
example LSTM reaches 52% accuracy (48% error) on QA1.

Example:
```
python benchmarks/babi_memn2n.py --tasks 1 2 3 --epochs 60
```
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from keras_ctxmem.data.readers import babi_vocabulary, read_babi  # noqa: E402
from keras_ctxmem.training import default_optimizer  # noqa: E402
from keras_ctxmem.zoo import MemoryNetwork  # noqa: E402

DEFAULT_DATA = "/work/shared/data/babi-1k"


def task_arrays(data_dir, task, max_memories):
    """`(train inputs, train answers, valid inputs, valid answers, vocabulary)`."""
    train = read_babi(data_dir, max_memories, task_ids=[task], split="train")
    valid = read_babi(data_dir, max_memories, task_ids=[task], split="valid")
    vocabulary = babi_vocabulary(train, valid)
    memories = max(len(story) for data in (train, valid) for story in data.stories)
    words = max(
        len(sentence)
        for data in (train, valid)
        for sentence in [*data.questions, *(s for t in data.stories for s in t)]
    )
    arrays = [
        data.to_arrays(vocabulary, max(memories, 1), words) for data in (train, valid)
    ]
    inputs = [{"story": a["story"], "question": a["question"]} for a in arrays]
    return inputs[0], arrays[0]["answer"], inputs[1], arrays[1]["answer"], vocabulary


def run_task(task, args):
    x, y, x_valid, y_valid, vocabulary = task_arrays(args.data, task, args.max_memories)
    keras.utils.set_random_seed(args.seed)
    model = MemoryNetwork.from_preset(
        args.preset,
        vocabulary_size=len(vocabulary),
        num_hops=args.hops,
        max_memories=args.max_memories,
        dropout=args.dropout,
    )
    steps = args.epochs * -(-len(y) // args.batch_size)
    model.compile(optimizer=default_optimizer(args.learning_rate, total_steps=steps))
    start = time.time()
    history = model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
    seconds = time.time() - start
    valid_accuracy = model.evaluate(x_valid, y_valid, verbose=0)[1]
    return {
        "task": task,
        "train": len(y),
        "valid": len(y_valid),
        "memories": x["story"].shape[1],
        "vocabulary": len(vocabulary),
        "train_error": 100 * (1 - history.history["accuracy"][-1]),
        "valid_error": 100 * (1 - valid_accuracy),
        "seconds": seconds,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--tasks", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--preset", default="memory_network_tiny")
    parser.add_argument("--hops", type=int, default=3)
    parser.add_argument("--max-memories", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-2)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1337)
    args = parser.parse_args()

    print(
        f"MemoryNetwork {args.preset}, {args.hops} hops, {args.epochs} epochs, "
        f"batch {args.batch_size}, AdamW lr {args.learning_rate} (warm-up, cosine), "
        f"dropout {args.dropout}, seed {args.seed}, backend {keras.backend.backend()}"
    )
    header = (
        "| task | train q | valid q | memories | vocab | train error % "
        "| valid error % | fit s |"
    )
    print(header)
    print("|" + "---|" * 8)
    rows = []
    for task in args.tasks:
        row = run_task(task, args)
        rows.append(row)
        print(
            f"| QA{row['task']} | {row['train']} | {row['valid']} | "
            f"{row['memories']} | {row['vocabulary']} | {row['train_error']:.1f} | "
            f"{row['valid_error']:.1f} | {row['seconds']:.0f} |",
            flush=True,
        )
    mean = sum(row["valid_error"] for row in rows) / len(rows)
    print(f"mean valid error over {len(rows)} task(s): {mean:.1f}%")


if __name__ == "__main__":
    main()
