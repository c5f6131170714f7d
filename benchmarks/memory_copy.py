"""Copy task over several segments: a `MemoryTransformer` against a Transformer
that sees only the last segment.

`copy_task` puts `--num-tokens` symbols at the start, then blanks, then one
marker per symbol at the end; the labels at the markers are the symbols in
order. With `--segments` segments of `--segment-length` tokens the symbols lie in
the first segment and the markers in the last, so what is copied must cross
`--segments - 1` segment boundaries in the memory. The baseline
(`TransformerTokenClassifier`, same width and depth) gets only the last
`--segment-length` tokens: it can only guess (chance: 1 / `--num-symbols`).
Both train for the same steps; the printed accuracy is over the marker positions
of held-out sequences.

    python benchmarks/memory_copy.py --preset memory_transformer_small \
        --segment-length 8 --segments 6 --epochs 10
"""

import argparse
import time

import keras

from keras_ctxmem.data.synthetic import copy_task
from keras_ctxmem.zoo import MemoryTransformer, TransformerTokenClassifier


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="memory_transformer_small")
    parser.add_argument("--segment-length", type=int, default=8)
    parser.add_argument("--num-memory-tokens", type=int, default=8)
    parser.add_argument("--segments", type=int, default=6)
    parser.add_argument("--num-tokens", type=int, default=4)
    parser.add_argument("--num-symbols", type=int, default=8)
    parser.add_argument("--train", type=int, default=8192)
    parser.add_argument("--valid", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    length = args.segment_length * args.segments
    delay = length - 2 * args.num_tokens
    if args.num_tokens > args.segment_length or delay < 0:
        parser.error("the symbols and the markers must each fit in one segment")
    data = {
        "num_tokens": args.num_tokens,
        "delay": delay,
        "num_symbols": args.num_symbols,
    }
    x, y = copy_task(args.train, seed=args.seed, **data)
    x_val, y_val = copy_task(args.valid, seed=args.seed + 1, **data)
    vocabulary_size = args.num_symbols + 3
    keras.utils.set_random_seed(args.seed)
    memory = MemoryTransformer.from_preset(
        args.preset,
        vocabulary_size=vocabulary_size,
        num_classes=args.num_symbols,
        segment_length=args.segment_length,
        num_memory_tokens=args.num_memory_tokens,
    )
    baseline = TransformerTokenClassifier.from_preset(
        args.preset.replace("memory_transformer", "transformer"),
        vocabulary_size=vocabulary_size,
        num_classes=args.num_symbols,
        max_sequence_length=args.segment_length,
        dropout=0.0,
    )
    print(
        f"copy {args.num_tokens} of {args.num_symbols} symbols over {length} "
        f"tokens = {args.segments} segments of {args.segment_length}; chance "
        f"{1 / args.num_symbols:.3f}"
    )
    for name, model, inputs, val_inputs in (
        ("MemoryTransformer", memory, x, x_val),
        ("Transformer, last segment", baseline, x[:, -args.segment_length :], None),
    ):
        if val_inputs is None:
            val_inputs = x_val[:, -args.segment_length :]
            labels, val_labels = (
                y[:, -args.segment_length :],
                y_val[:, -args.segment_length :],
            )
        else:
            labels, val_labels = y, y_val
        model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
        start = time.time()
        model.fit(
            inputs, labels, batch_size=args.batch_size, epochs=args.epochs, verbose=0
        )
        seconds = time.time() - start
        _, accuracy = model.evaluate(val_inputs, val_labels, verbose=0)
        print(
            f"{name}: accuracy {accuracy:.4f} ({model.count_params():,} parameters, "
            f"{seconds:.0f} s training)"
        )


if __name__ == "__main__":
    main()
