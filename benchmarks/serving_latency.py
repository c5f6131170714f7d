"""Latency of one request (batch 1) through each Python call of a zoo model.

`model(x)` runs eagerly on TensorFlow; `model.predict` pays a per-call set-up
(data adapter, iterator, callbacks); `model.predict_on_batch` runs the compiled
predict step; `predict_labels` on one text adds the preprocessor and softmax.
Each call is warmed up, then timed `--calls` times; the median and the 90th
percentile are reported, with the load average.

    python benchmarks/serving_latency.py --presets transformer_small lstm_small
"""

import argparse
import os
import statistics
import time

import keras
import numpy as np

from keras_ctxmem.preprocessing import TextPreprocessor
from keras_ctxmem.zoo.presets import get_preset

CLASSES = {
    "transformer": "TransformerClassifier",
    "lstm": "LSTMClassifier",
    "attentive_lstm": "AttentiveLSTMClassifier",
}
TEXT = "a charming, moving film with a few slow minutes in the middle"


def timings(fn, calls, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), float(np.percentile(times, 90))


def measure(preset, sequence_length, calls):
    import keras_ctxmem.zoo as zoo

    cls = getattr(zoo, CLASSES[get_preset(preset)["family"]])
    corpus = [TEXT, "a dull film", "warm and funny", "cold and tedious"] * 4
    preprocessor = TextPreprocessor.from_corpus(
        corpus, vocabulary_size=100, sequence_length=sequence_length
    )
    model = cls.from_preset(preset, preprocessor=preprocessor, num_classes=2)
    token_ids = np.asarray(preprocessor([TEXT]))
    calls_to_time = {
        "model(x)": lambda: model(token_ids, training=False),
        "model.predict(x)": lambda: model.predict(token_ids, verbose=0),
        "model.predict_on_batch(x)": lambda: model.predict_on_batch(token_ids),
        "model.predict_labels([text])": lambda: model.predict_labels([TEXT]),
    }
    return {
        name: timings(fn, calls if name != "model(x)" else max(5, calls // 4))
        for name, fn in calls_to_time.items()
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["transformer_small"])
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--calls", type=int, default=40)
    args = parser.parse_args()
    print(f"Keras {keras.__version__}, backend {keras.backend.backend()}")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print("| preset | call | median (ms) | p90 (ms) |")
    print("|---|---|---|---|")
    for preset in args.presets:
        for name, (median, p90) in measure(
            preset, args.sequence_length, args.calls
        ).items():
            print(f"| {preset} | `{name}` | {1000 * median:.1f} | {1000 * p90:.1f} |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
