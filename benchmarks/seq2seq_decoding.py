"""Time `Seq2Seq.generate`: seconds per call, batch 8, greedy, median of 3.

The same script measures any checkout: run it once with this branch's
package, once with an older one on `PYTHONPATH` (before the cache, every step
re-ran the whole model on the whole target buffer), and compare the JSON lines.

    KERAS_BACKEND=jax PYTHONPATH=. python benchmarks/seq2seq_decoding.py \\
        --label cached --out runs/seq2seq_decoding_cached.jsonl
    KERAS_BACKEND=jax PYTHONPATH=../old_checkout python \\
        benchmarks/seq2seq_decoding.py --label full-recompute \\
        --out runs/seq2seq_decoding_old.jsonl

The models have random weights (decoding time does not depend on training),
with END's logit bias lowered so that every row decodes all `max_length`
tokens (no early stop); sources are 32 random tokens. The first call compiles
and is not counted. `max_sequence_length` is at least 256, so that 128 target
tokens fit the tiny Transformer's position embeddings.
"""

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_ctxmem.zoo import create_model  # noqa: E402

PRESETS = (
    "seq2seq_lstm_tiny",
    "seq2seq_lstm_small",
    "seq2seq_transformer_tiny",
    "seq2seq_transformer_small",
)


def time_generate(preset, max_length, batch_size=8, source_length=32, repeats=3):
    """Median seconds of `generate` (after one compiling call)."""
    keras.utils.set_random_seed(0)
    model = create_model(preset, max_sequence_length=256)
    bias = model.head.weights[1]
    bias.assign(keras.ops.convert_to_numpy(bias) - 1e4 * np.eye(bias.shape[0])[2])
    rng = np.random.default_rng(0)
    vocabulary_size = model.source_vocabulary_size
    sources = rng.integers(3, vocabulary_size, size=(batch_size, source_length))
    start = time.perf_counter()
    tokens = model.generate(sources, max_length=max_length)
    first = time.perf_counter() - start
    assert (tokens != 0).all(), "a row stopped early"
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.generate(sources, max_length=max_length)
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "first_call_s": first}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--label", required=True, help="name of the code measured")
    parser.add_argument("--out", required=True, help="JSON lines file to append to")
    parser.add_argument("--presets", nargs="+", default=PRESETS)
    parser.add_argument("--lengths", nargs="+", type=int, default=(64, 128))
    args = parser.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    for preset in args.presets:
        for max_length in args.lengths:
            row = {
                "label": args.label,
                "backend": keras.backend.backend(),
                "preset": preset,
                "batch_size": 8,
                "max_length": max_length,
                **time_generate(preset, max_length),
            }
            print(json.dumps(row), flush=True)
            with open(args.out, "a") as file:
                file.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
