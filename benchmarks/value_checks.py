"""Cost of checking token ids and labels by value inside `tf.data` (issue 16).

`fit`, `evaluate` and `predict` map every batch of a `tf.data.Dataset` through
`keras_ctxmem.zoo.token_id_checks.checked_dataset` (min/max of the ids, range of
the labels). This times the input pipeline alone, with and without the check,
which is the worst case (no model step to hide it), and one `fit` epoch of
`transformer_tiny`, where it is hidden by the step. Blocks alternate (off, on,
off, on, ...) and medians are reported.

```
OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 \\
    python benchmarks/value_checks.py --rows 200000 --blocks 5
```
"""

import argparse
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from keras_ctxmem.zoo import create_model
from keras_ctxmem.zoo.token_id_checks import checked_dataset


def pipeline_rows_per_second(dataset, rows):
    start = time.perf_counter()
    for _ in dataset:
        pass
    return rows / (time.perf_counter() - start)


def fit_rows_per_second(model, dataset, rows):
    # `keras.Model.fit`: the zoo's own `fit` would add the check itself.
    start = time.perf_counter()
    keras.Model.fit(model, dataset, epochs=1, verbose=0)
    return rows / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--fit-rows", type=int, default=4096)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=5)
    args = parser.parse_args()

    model = create_model("transformer_tiny", num_classes=2)
    model.compile(jit_compile=False)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 1000, (args.rows, args.length), dtype="int32")
    labels = rng.integers(0, 2, args.rows, dtype="int32")
    data = tf.data.Dataset.from_tensor_slices((ids, labels)).batch(args.batch_size)
    fit_data = data.take(args.fit_rows // args.batch_size)
    fit_rows = args.fit_rows // args.batch_size * args.batch_size
    fit_rows_per_second(model, fit_data, fit_rows)  # warm-up: tracing

    results = {"pipeline": ([], []), "fit": ([], [])}
    for _ in range(args.blocks):
        for checked, index in ((False, 0), (True, 1)):
            piped = checked_dataset(model, data) if checked else data
            results["pipeline"][index].append(
                pipeline_rows_per_second(piped, args.rows)
            )
            fitted = checked_dataset(model, fit_data) if checked else fit_data
            results["fit"][index].append(fit_rows_per_second(model, fitted, fit_rows))

    print("| what | rows/s without check | rows/s with check | cost |")
    print("|---|---|---|---|")
    for name, (off, on) in results.items():
        off, on = statistics.median(off), statistics.median(on)
        print(f"| {name} | {off:,.0f} | {on:,.0f} | {100 * (1 - on / off):+.1f}% |")


if __name__ == "__main__":
    main()
