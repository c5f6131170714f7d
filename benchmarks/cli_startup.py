"""Wall time of `ctxmem` calls that must answer without TensorFlow.

Each call runs `repeats` times in a fresh process (`python -m keras_ctxmem.cli`,
what the `ctxmem` script runs); the median is reported, with the load average
before and after. A call that imports TensorFlow (`ctxmem predict`) runs once,
for comparison.

    python benchmarks/cli_startup.py --repeats 5
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

CALLS = {
    "ctxmem --help": ["--help"],
    "ctxmem list": ["list"],
    "ctxmem train transformer_smal (unknown preset)": ["train", "transformer_smal"],
    "ctxmem train lstm_tiny --epochs 0": ["train", "lstm_tiny", "--epochs", "0"],
}
WITH_TENSORFLOW = {
    "ctxmem predict sst2_sentiment 'a charming film'": [
        "predict",
        "sst2_sentiment",
        "a charming film",
    ],
}


def time_call(argv):
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "keras_ctxmem.cli", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print("| call | median wall (s) | min | max |")
    print("|---|---|---|---|")
    for label, argv in CALLS.items():
        times = [time_call(argv) for _ in range(args.repeats)]
        print(
            f"| `{label}` | {statistics.median(times):.2f} | {min(times):.2f} "
            f"| {max(times):.2f} |"
        )
    for label, argv in WITH_TENSORFLOW.items():
        print(f"| `{label}` (imports TensorFlow, 1 run) | {time_call(argv):.2f} | | |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
