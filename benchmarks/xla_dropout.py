"""Keras `Dropout` against `PhiloxDropout`, with and without XLA, side by side.

Times the forward and backward pass of a dropout over an attention-sized
tensor, the work a training step does for each attention dropout. Keras'
TensorFlow backend draws the mask with the `auto_select` algorithm, whose seed
scrambling XLA:CPU fuses into the per-element loop; `PhiloxDropout` names the
Philox algorithm (see `keras_ctxmem/layers/dropout.py`).

```
python benchmarks/xla_dropout.py  # shapes (32, 4, 128, 128), (32, 2, 256, 256)
python benchmarks/xla_dropout.py --shape 8 4 512 512
```
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_ctxmem.layers import PhiloxDropout  # noqa: E402

LAYERS = {"keras.layers.Dropout": keras.layers.Dropout, "PhiloxDropout": PhiloxDropout}


def time_dropout(layer_cls, shape, jit, calls=10):
    """Median ms of one forward + backward pass over a `shape` tensor."""
    layer = layer_cls(0.1, seed=0)
    x = tf.Variable(tf.random.normal(shape))

    @tf.function(jit_compile=jit)
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, training=True) * x)
        return tape.gradient(loss, x)

    step()  # trace and compile
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        step().numpy()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs="+", action="append")
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args(argv)
    shapes = args.shape or [[32, 4, 128, 128], [32, 2, 256, 256]]
    print("| shape | layer | XLA off ms | XLA on ms | XLA on / off |")
    print("|---|---|---|---|---|")
    for shape in shapes:
        for name, layer_cls in LAYERS.items():
            off, on = (
                time_dropout(layer_cls, shape, jit, args.calls) for jit in (0, 1)
            )
            print(
                f"| {tuple(shape)} | {name} | {off:.1f} | {on:.1f} | {on / off:.2f}× |"
            )


if __name__ == "__main__":
    main()
