"""Keras' LSTM against `ProjectedLSTM` inside the zoo's LSTM models, side by side.

The same preset is built twice in one process, once with `keras.layers.LSTM`
and once with `ProjectedLSTM` (the input projection of all steps in one
product before the loop), whatever `recurrent.PROJECTED_MIN_UNITS` picks;
their `fit` steps on one repeated batch are timed in alternating blocks
(A B B A A B ...), and the medians and their ratio printed. The harness
(`keras_ctxmem.benchmarking`) does the timing.

    python benchmarks/lstm_input_projection.py --preset lstm_small --xla off
    python benchmarks/lstm_input_projection.py --preset lstm_base --xla off \
        --steps 2 --repeats 4
"""

import argparse
import json

import keras

from keras_ctxmem.benchmarking import harness
from keras_ctxmem.zoo import recurrent

min_units = recurrent.PROJECTED_MIN_UNITS


def _runner(preset, projected, x, y, sequence_length, jit):
    # Whatever the size, `lstm_stack` builds ProjectedLSTM or keras' LSTM.
    recurrent.PROJECTED_MIN_UNITS = 0 if projected else float("inf")
    try:
        keras.utils.set_random_seed(0)
        return harness.KerasRunner(preset, x, y, sequence_length, jit=jit)
    finally:
        recurrent.PROJECTED_MIN_UNITS = min_units


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="lstm_small")
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--xla", choices=("on", "off"), default="off")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    family, config, _ = harness.preset_config(args.preset, args.sequence_length)
    x, y = harness.synthetic_inputs(
        family, config, args.batch_size, args.sequence_length
    )
    jit = args.xla == "on"
    runners = {
        "keras.layers.LSTM": _runner(
            args.preset, False, x, y, args.sequence_length, jit
        ),
        "ProjectedLSTM": _runner(args.preset, True, x, y, args.sequence_length, jit),
    }
    times = {name: [] for name in runners}
    for runner in runners.values():
        runner.run(2)  # tracing / compilation, then one more step
    order = list(runners)
    for repeat in range(args.repeats):
        for name in order if repeat % 2 == 0 else reversed(order):
            times[name] += runners[name].run(args.steps)
    medians = {name: harness._median(t) for name, t in times.items()}
    result = {
        "preset": args.preset,
        "batch x seq": f"{args.batch_size} x {args.sequence_length}",
        "xla": args.xla,
        "median_step_ms": {k: round(1000 * v, 1) for k, v in medians.items()},
        "speed_up": round(medians["keras.layers.LSTM"] / medians["ProjectedLSTM"], 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
