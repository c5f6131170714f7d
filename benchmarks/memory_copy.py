"""Copy task over several segments: a `MemoryTransformer` (RMT memory tokens,
or Transformer-XL's cache) against a Transformer that sees only the last segment.

`copy_task` puts `--num-tokens` symbols at the start, then blanks, then one
marker per symbol at the end; the labels at the markers are the symbols in
order. With `--segments` segments of `--segment-length` tokens the symbols lie in
the first segment and the markers in the last, so what is copied must cross
`--segments - 1` segment boundaries in the memory. The baseline
(`TransformerTokenClassifier`, same width and depth) gets only the last
`--segment-length` tokens: it can only guess (chance: 1 / `--num-symbols`).

The `MemoryTransformer` learns by a curriculum over the number of segments, as
RMT does: `--steps-per-stage` steps on sequences of 1 segment, then 2, ... up
to `--segments` (the last stage gets `--final-steps`), each step on fresh data;
`--no-curriculum` spends the same steps on `--segments` segments only.
`--recurrence cache` trains the same blocks with Transformer-XL's segment-level
recurrence instead of memory tokens (each segment attends to the previous one's
cached states, gradient stopped), as in RMT's own comparison.
The baseline trains for the same total steps on the last segment of
`--segments`-segment sequences. The printed accuracy is over the marker
positions of held-out sequences, for the MemoryTransformer also at longer
sequences than it was trained on (`--eval-segments`).

    python benchmarks/memory_copy.py --preset memory_transformer_tiny \
        --segment-length 8 --segments 6 --steps-per-stage 150 --final-steps 600
    python benchmarks/memory_copy.py --segments 9 --recurrence cache --no-baseline
    python benchmarks/memory_copy.py --segments 9 --steps-per-stage 100 \
        --final-steps 300 --no-baseline --save-preset runs/copy_memory_transformer_tiny
"""

import argparse
import time

import keras

from keras_ctxmem.data.synthetic import copy_task
from keras_ctxmem.zoo import MemoryTransformer, TransformerTokenClassifier


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="memory_transformer_tiny")
    parser.add_argument("--position-encoding", default="rotary")
    parser.add_argument(
        "--recurrence", choices=("memory_tokens", "cache"), default="memory_tokens"
    )
    parser.add_argument(
        "--baseline", action=argparse.BooleanOptionalAction, default=True
    )
    parser.add_argument("--save-preset", help="write the trained MemoryTransformer")
    parser.add_argument("--segment-length", type=int, default=8)
    parser.add_argument("--num-memory-tokens", type=int, default=8)
    parser.add_argument("--segments", type=int, default=6)
    parser.add_argument("--eval-segments", type=int, nargs="*", default=[8, 12])
    parser.add_argument("--num-tokens", type=int, default=4)
    parser.add_argument("--num-symbols", type=int, default=8)
    parser.add_argument("--steps-per-stage", type=int, default=150)
    parser.add_argument("--final-steps", type=int, default=600)
    parser.add_argument(
        "--curriculum", action=argparse.BooleanOptionalAction, default=True
    )
    parser.add_argument("--valid", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if 2 * args.num_tokens > args.segment_length:
        parser.error("the symbols and the markers must fit in one segment together")

    def data(num_examples, segments, seed):
        delay = segments * args.segment_length - 2 * args.num_tokens
        return copy_task(
            num_examples,
            num_tokens=args.num_tokens,
            delay=delay,
            num_symbols=args.num_symbols,
            seed=seed,
        )

    vocabulary_size = args.num_symbols + 3
    keras.utils.set_random_seed(args.seed)
    memory = MemoryTransformer.from_preset(
        args.preset,
        vocabulary_size=vocabulary_size,
        num_classes=args.num_symbols,
        segment_length=args.segment_length,
        num_memory_tokens=args.num_memory_tokens,
        position_encoding=args.position_encoding,
        recurrence=args.recurrence,
    )
    baseline = TransformerTokenClassifier.from_preset(
        args.preset.replace("memory_transformer", "transformer"),
        vocabulary_size=vocabulary_size,
        num_classes=args.num_symbols,
        max_sequence_length=args.segment_length,
        dropout=0.0,
    )
    stages = [(k, args.steps_per_stage) for k in range(1, args.segments)]
    stages.append((args.segments, args.final_steps))
    total_steps = sum(steps for _, steps in stages)
    if not args.curriculum:
        stages = [(args.segments, total_steps)]
    print(
        f"copy {args.num_tokens} of {args.num_symbols} symbols over "
        f"{args.segments} segments of {args.segment_length} tokens; chance "
        f"{1 / args.num_symbols:.3f}; {total_steps} steps of {args.batch_size} "
        f"for each model; curriculum {stages}"
    )

    memory.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    start = time.time()
    for stage, (segments, steps) in enumerate(stages):
        x, y = data(steps * args.batch_size, segments, seed=args.seed + 100 + stage)
        memory.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0)
        x_val, y_val = data(args.valid, segments, seed=args.seed + 1)
        _, accuracy = memory.evaluate(x_val, y_val, verbose=0)
        print(f"  stage {segments} segment(s): accuracy {accuracy:.4f}", flush=True)
    seconds = time.time() - start
    for segments in [args.segments, *args.eval_segments]:
        x_val, y_val = data(args.valid, segments, seed=args.seed + 1)
        _, accuracy = memory.evaluate(x_val, y_val, verbose=0)
        print(
            f"MemoryTransformer ({args.recurrence}, {args.position_encoding}), "
            f"{segments} segments: "
            f"accuracy {accuracy:.4f} ({memory.count_params():,} parameters, "
            f"{seconds:.0f} s training)",
            flush=True,
        )

    if args.save_preset:
        memory.save_to_preset(args.save_preset)
        print(f"preset written to {args.save_preset}")
    if not args.baseline:
        return
    baseline.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    last = slice(-args.segment_length, None)
    x, y = data(total_steps * args.batch_size, args.segments, seed=args.seed + 100)
    start = time.time()
    baseline.fit(x[:, last], y[:, last], batch_size=args.batch_size, verbose=0)
    seconds = time.time() - start
    x_val, y_val = data(args.valid, args.segments, seed=args.seed + 1)
    _, accuracy = baseline.evaluate(x_val[:, last], y_val[:, last], verbose=0)
    print(
        f"Transformer, last segment of {args.segments}: accuracy {accuracy:.4f} "
        f"({baseline.count_params():,} parameters, {seconds:.0f} s training)"
    )


if __name__ == "__main__":
    main()
