"""One bAbI task, the per-task MemN2N recipe and one change to it: what moves a task?

Trains `keras_ctxmem.babi.PER_TASK` (one seed) on `qaN_train.txt` and scores
`qaN_valid.txt` of `--data`, with the recipe or the model changed as `--variant`
says:

- `base`: the recipe as shipped;
- `absolute_pe`: the position encoding of the MemN2N code, `1 + 4 (j - (J+1)/2)
  (k - (d+1)/2) / (d J)` with `J` the padded sentence length (ours counts the
  real words);
- `paper_pe`: the paper's formula with `J` the padded length;
- `no_te`: no temporal encoding (and so no random noise);
- `layerwise`: layer-wise weight tying;
- `d50`, `hops4`: embedding width 50, 4 hops;
- `no_linear_start`, `linear_start_auto` (the paper's: stopped on the validation
  loss, at 0.005), `no_empty_slots` (softmax over the real memories only).

It also prints how often two answer-free rules are right on the training file
(QA16 only): "the colour in the latest colour sentence" and "the colour of another
animal of the same species".

    KERAS_BACKEND=jax python benchmarks/babi_task_probes.py \\
        --data ../shared/data/babi-1k --task 16 --variant base
"""

import argparse
import json
import os
import time

from keras import ops

import keras_ctxmem.babi as babi
import keras_ctxmem.layers.memn2n as memn2n
from keras_ctxmem.data.readers import read_babi
from keras_ctxmem.zoo import memory_network

VARIANTS = (
    "base",
    "absolute_pe",
    "paper_pe",
    "no_te",
    "layerwise",
    "d50",
    "hops4",
    "no_linear_start",
    "linear_start_auto",
    "no_empty_slots",
)


def _positions(token_ids):
    """1-based position `j` of every word and the padded length `J`."""
    ones = ops.ones_like(token_ids, dtype="float32")
    return ops.cumsum(ones, axis=-1), ops.sum(ones, axis=-1, keepdims=True)


def absolute_pe(token_ids, dim):
    mask = ops.expand_dims(ops.cast(ops.not_equal(token_ids, 0), "float32"), -1)
    j, length = (ops.expand_dims(t, -1) for t in _positions(token_ids))
    k = ops.arange(1, dim + 1, dtype="float32")
    centred = (j - (length + 1) / 2) * (k - (dim + 1) / 2)
    return (1.0 + 4.0 * centred / (dim * length)) * mask


def paper_pe(token_ids, dim):
    mask = ops.expand_dims(ops.cast(ops.not_equal(token_ids, 0), "float32"), -1)
    j, length = _positions(token_ids)
    k = ops.arange(1, dim + 1, dtype="float32") / dim
    ratio = ops.expand_dims(j / length, -1)
    return ((1.0 - ratio) - k * (1.0 - 2.0 * ratio)) * mask


def recipe_and_model_changes(variant, recipe):
    changes = {
        "d50": ({"embedding_dim": 50}, {}),
        "hops4": ({"num_hops": 4}, {}),
        "no_te": ({"random_noise": 0.0}, {"temporal_encoding": False}),
        "layerwise": ({}, {"weight_tying": "layerwise"}),
        "no_linear_start": ({"linear_start": 0}, {}),
        "linear_start_auto": (
            {"linear_start": "auto", "linear_start_learning_rate": 0.005},
            {},
        ),
        "no_empty_slots": ({"empty_slots_attend": False}, {}),
    }
    recipe_changes, model_changes = changes.get(variant, ({}, {}))
    return recipe.replace(**recipe_changes), model_changes


def qa16_rules(path):
    """How often the two answer-free rules are right on a QA16 file."""
    latest_colour = same_species = total = 0
    story = []
    for line in open(path):
        number, text = line.strip().split(" ", 1)
        if number == "1":
            story = []
        if "\t" not in text:
            story.append(text.rstrip(".").split())
            continue
        question, answer, _ = text.split("\t")
        who = question.rstrip("?").split()[-1]
        species = {w[0]: w[3] for w in story if w[2] == "a"}
        colours = [(w[0], w[2]) for w in story if w[2] != "a"]
        latest_colour += colours[-1][1] == answer
        peers = {c for name, c in colours if species.get(name) == species.get(who)}
        same_species += peers == {answer}
        total += 1
    return {
        "questions": total,
        "latest_colour_sentence": latest_colour / total,
        "one_same_species_colour": same_species / total,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a bAbI folder (qaN_*.txt)")
    parser.add_argument("--task", type=int, default=16)
    parser.add_argument("--variant", choices=VARIANTS, default="base")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jsonl", help="append the result here")
    args = parser.parse_args()

    train_path = os.path.join(args.data, f"qa{args.task}_train.txt")
    if args.task == 16:
        print(json.dumps(qa16_rules(train_path)), flush=True)
    recipe, model_changes = recipe_and_model_changes(
        args.variant, babi.PER_TASK.replace(seed=args.seed)
    )
    if args.variant in ("absolute_pe", "paper_pe"):
        memn2n.position_encoding_weights = globals()[args.variant]
    if model_changes:
        base = memory_network.MemoryNetwork

        class Changed(base):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **{**kwargs, **model_changes})

        babi.MemoryNetwork = Changed
    train = read_babi(train_path)
    valid = read_babi(os.path.join(args.data, f"qa{args.task}_valid.txt"))
    start = time.time()
    _, summary = babi.train_memory_network(train, valid, recipe)
    result = {
        "task": args.task,
        "variant": args.variant,
        "seed": args.seed,
        "valid_error": summary["valid_mean_error"],
        "train_error": sum(summary["train_error"].values())
        / len(summary["train_error"]),
        "seconds": round(time.time() - start),
    }
    print(json.dumps(result), flush=True)
    if args.jsonl:
        with open(args.jsonl, "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
