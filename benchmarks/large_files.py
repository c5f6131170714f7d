"""Reading a large TSV (issue 16): rows/s and peak memory, before and after.

Writes a TSV of `--lines` rows (8-30 random words, a label 0-3) into a fresh
temporary folder (deleted at the end) and measures, each in its own process so
that the peak resident memory (`ru_maxrss`) is its own:

- `per_row_to_arrays` (before): `read_text_classification` then the dataset
  iterated one example at a time, as `to_arrays` did (on `--before-lines`
  rows only: at about 1 ms a row, a million would take a quarter of an hour);
- `to_arrays` (after): `read_text_classification(...).to_arrays()`;
- `stream`: `stream_text_classification(...)`, the whole dataset iterated in
  batches of 256 (memory flat in the file's size).

```
OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 \\
    python benchmarks/large_files.py --lines 1000000 --before-lines 50000
```
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np


def write_tsv(path, lines, seed=0):
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(5000)])
    with open(path, "w") as f:
        f.write("sentence\tlabel\n")
        for start in range(0, lines, 10000):
            count = min(10000, lines - start)
            lengths = rng.integers(8, 31, count)
            labels = rng.integers(0, 4, count)
            for length, label in zip(lengths, labels, strict=True):
                f.write(" ".join(rng.choice(words, length)) + f"\t{label}\n")


def measure(mode, path):
    """Runs one mode in this process; prints rows, seconds and peak MiB."""
    from keras_ctxmem.data.readers import (
        read_text_classification,
        stream_text_classification,
    )

    start = time.perf_counter()
    if mode == "per_row_to_arrays":
        data = read_text_classification(path)
        texts = [t.decode() for t, _ in data.dataset.as_numpy_iterator()]
        rows = len(texts)
    elif mode == "to_arrays":
        texts, _ = read_text_classification(path).to_arrays()
        rows = len(texts)
    else:
        rows = 0
        for texts, _ in stream_text_classification(path).dataset.batch(256):
            rows += int(texts.shape[0])
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mib": peak_mib}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--before-lines", type=int, default=50_000)
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return measure(*args.measure)
    folder = tempfile.mkdtemp(prefix="ctxmem_large_")
    try:
        big, small = os.path.join(folder, "big.tsv"), os.path.join(folder, "s.tsv")
        write_tsv(big, args.lines)
        write_tsv(small, args.before_lines)
        size_mib = os.path.getsize(big) / 2**20
        print(f"{args.lines:,} lines, {size_mib:.0f} MiB")
        print("| mode | rows | seconds | rows/s | peak memory (MiB) |")
        print("|---|---|---|---|---|")
        for mode, path in (
            ("per_row_to_arrays", small),
            ("to_arrays", big),
            ("stream", big),
        ):
            result = json.loads(
                subprocess.run(
                    [sys.executable, __file__, "--measure", mode, path],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            print(
                f"| {mode} | {result['rows']:,} | {result['seconds']:.1f} | "
                f"{result['rows'] / result['seconds']:,.0f} | "
                f"{result['peak_mib']:,.0f} |"
            )
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
