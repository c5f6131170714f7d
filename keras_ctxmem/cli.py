"""The `ctxmem` command: list presets, train, export.

Example:
```
ctxmem list
ctxmem train transformer_tiny --task membership --out runs/membership
ctxmem export runs/sst2/preset serving/sst2
ctxmem bench --preset transformer_small --sequence-length 128 --batch-size 32
```
"""

import argparse
import json
import os
import sys
import time

FAMILY_CLASSES = {
    "transformer": "TransformerClassifier",
    "lstm": "LSTMClassifier",
    "attentive_lstm": "AttentiveLSTMClassifier",
}


class CommandError(Exception):
    """An error the command reports in one line, without a traceback."""


def command_list(args):
    from keras_ctxmem.zoo import list_presets

    presets = list_presets()
    width = max(map(len, presets))
    for name, description in presets.items():
        print(f"{name:<{width}}  {description}")


def command_train(args):
    import keras

    from keras_ctxmem import zoo
    from keras_ctxmem.data.synthetic import TASKS
    from keras_ctxmem.training import default_optimizer, get_strategy, train
    from keras_ctxmem.zoo.presets import get_preset

    if args.task not in TASKS:
        raise CommandError(
            f"unknown task '{args.task}'; choose one of: {', '.join(TASKS)}"
        )
    try:
        family = get_preset(args.preset)["family"]
    except ValueError as error:
        raise CommandError(str(error)) from None
    try:
        strategy = get_strategy(args.strategy)
    except (ValueError, NotImplementedError) as error:
        raise CommandError(str(error)) from None
    if family not in FAMILY_CLASSES:
        raise CommandError(
            f"`ctxmem train` does not train the '{family}' family on token tasks yet"
        )
    keras.utils.set_random_seed(args.seed)
    task = TASKS[args.task](seed=args.seed)
    model_cls = getattr(zoo, FAMILY_CLASSES[family])
    overrides = task.model_overrides.get(family, {})
    steps = args.epochs * -(-len(task.x_train) // args.batch_size)
    print(f"Training {args.preset} on '{args.task}': {task.description}")
    started = time.time()
    model, history = train(
        lambda: model_cls.from_preset(
            args.preset,
            vocabulary_size=task.vocabulary_size,
            num_classes=task.num_classes,
            **overrides,
        ),
        task.x_train,
        task.y_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        strategy=strategy,
        backup_dir=os.path.join(args.out, "backup"),
        log_dir=os.path.join(args.out, "logs"),
        optimizer=default_optimizer(args.learning_rate, total_steps=steps),
        jit_compile=not args.no_xla,
        validation_data=(task.x_val, task.y_val),
        verbose=2,
    )
    seconds = time.time() - started
    loss, accuracy = model.evaluate(task.x_val, task.y_val, verbose=0)
    model.save_to_preset(os.path.join(args.out, "preset"))
    results = {
        "preset": args.preset,
        "task": args.task,
        "parameters": model.count_params(),
        "epochs": args.epochs,
        "train_seconds": round(seconds, 1),
        "val_loss": round(float(loss), 4),
        "val_accuracy": round(float(accuracy), 4),
        "history": {
            k: [round(float(v), 4) for v in vs] for k, vs in history.history.items()
        },
    }
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(
        f"Evaluation on {len(task.x_val)} held-out examples: accuracy "
        f"{accuracy:.4f}, loss {loss:.4f} ({model.count_params():,} parameters, "
        f"{seconds:.0f} s training)."
    )
    print(f"Preset written to {os.path.join(args.out, 'preset')}")


def command_export(args):
    from keras_ctxmem.export import export_saved_model
    from keras_ctxmem.zoo import load_preset

    try:
        model = load_preset(args.preset_dir)
        path = export_saved_model(model, args.base_dir, version=args.version)
    except (ValueError, FileExistsError) as error:
        raise CommandError(str(error)) from None
    print(f"SavedModel for TF Serving written to {path}")
    print(
        f"Serve it: docker run -p 8501:8501 -v {os.path.abspath(args.base_dir)}:"
        "/models/model -e MODEL_NAME=model tensorflow/serving"
    )


def _bench_harness():
    """`benchmarks/harness.py` of the source checkout this package runs from."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.isfile(os.path.join(root, "benchmarks", "harness.py")):
        raise CommandError(
            "`ctxmem bench` needs the repository's benchmarks/ folder: run it "
            "from a source checkout (pip install -e .)"
        )
    if root not in sys.path:
        sys.path.insert(0, root)
    from benchmarks import harness

    return harness


def command_bench(args):
    harness = _bench_harness()  # PyTorch is imported only if installed.
    from keras_ctxmem.zoo.presets import get_preset

    try:
        family = get_preset(args.preset)["family"]
    except ValueError as error:
        raise CommandError(str(error)) from None
    if family not in harness.FAMILY_CLASSES:
        raise CommandError(f"`ctxmem bench` does not benchmark the '{family}' family")
    with_torch = harness.torch_available()
    print(
        f"Benchmarking {args.preset}: batch {args.batch_size} x "
        f"{args.sequence_length} tokens, {args.precision}, XLA "
        f"{'off' if args.no_xla else 'on'}, {args.repeats} x {args.steps} steps"
        + (" (interleaved with the PyTorch eager reference)" if with_torch else "")
    )
    result = harness.measure_training(
        args.preset,
        sequence_length=args.sequence_length,
        batch_size=args.batch_size,
        precision=args.precision,
        jit=not args.no_xla,
        steps=args.steps,
        repeats=args.repeats,
        with_torch=with_torch,
    )
    print(
        f"Keras step time (median): {1000 * result['keras_step_s']:.2f} ms, "
        f"{result['keras_tokens_per_s']:,.0f} tokens/s "
        f"(first fit with compilation: {result['keras_first_fit_s']:.1f} s)"
    )
    print(f"Peak memory (ru_maxrss of this process): {result['keras_peak_rss_mb']} MiB")
    if with_torch:
        print(
            f"PyTorch eager step time (median): {1000 * result['torch_step_s']:.2f} "
            f"ms, {result['torch_tokens_per_s']:,.0f} tokens/s"
        )
        print(f"Keras/PyTorch throughput: {result['keras_vs_torch']:.2f}x")
    else:
        print("PyTorch is not installed: no reference (pip install '.[bench]')")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ctxmem", description="Context-memory model zoo for Keras 3."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="List the named presets.")
    listing.set_defaults(run=command_list)

    train_parser = commands.add_parser(
        "train", help="Train a preset on a built-in task and save it as a preset."
    )
    train_parser.add_argument("preset", help="a preset name, e.g. transformer_tiny")
    train_parser.add_argument(
        "--task", default="membership", help="built-in task: membership, recall"
    )
    train_parser.add_argument("--epochs", type=int, default=8)
    train_parser.add_argument("--batch-size", type=int, default=32)
    train_parser.add_argument("--learning-rate", type=float, default=3e-3)
    train_parser.add_argument("--seed", type=int, default=0)
    train_parser.add_argument("--no-xla", action="store_true", help="jit_compile=False")
    train_parser.add_argument(
        "--strategy",
        default="default",
        help="default, mirrored (GPUs of this host) or multi_worker (TF_CONFIG)",
    )
    train_parser.add_argument("--out", default="runs/default", help="output directory")
    train_parser.set_defaults(run=command_train)

    export = commands.add_parser(
        "export", help="Export a preset directory as a SavedModel for TF Serving."
    )
    export.add_argument("preset_dir", help="a directory written by save_to_preset")
    export.add_argument("base_dir", help="TF Serving's model base path")
    export.add_argument("--version", type=int, default=None, help="default: next")
    export.set_defaults(run=command_export)

    bench = commands.add_parser(
        "bench",
        help="Time training steps of a preset (and a PyTorch reference, if installed).",
    )
    bench.add_argument("--preset", default="transformer_small", help="a preset name")
    bench.add_argument("--sequence-length", type=int, default=128)
    bench.add_argument("--batch-size", type=int, default=32)
    bench.add_argument(
        "--precision",
        default="float32",
        choices=("float32", "mixed_bfloat16", "mixed_float16"),
    )
    bench.add_argument("--no-xla", action="store_true", help="jit_compile=False")
    bench.add_argument("--steps", type=int, default=10, help="timed steps per block")
    bench.add_argument("--repeats", type=int, default=3, help="blocks per framework")
    bench.set_defaults(run=command_bench)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except CommandError as error:
        print(f"ctxmem {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
