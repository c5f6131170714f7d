"""The `ctxmem` command: list, train, evaluate, predict, export, bench.

Example:
```
ctxmem list
ctxmem train transformer_tiny --task membership --out runs/membership
ctxmem train lstm_small --data sst2/train.tsv --epochs 2 --out runs/sst2
ctxmem evaluate runs/sst2 --data test.tsv  # writes runs/sst2/evaluation/
ctxmem predict runs/sst2 "a charming film" --attention-plot attention.png
ctxmem predict sst2_sentiment "a charming film"  # a trained preset, by name
ctxmem export runs/sst2 serving/sst2
ctxmem bench --preset transformer_small --sequence-length 128 --batch-size 32
```
"""

import json
import os
import sys
import time

from keras_ctxmem.cli_support import (
    DefaultsFormatter,
    OneLineParser,
    check_arguments,
    import_tensorflow_quietly,
    open_fraction,
    positive_int,
)
from keras_ctxmem.data.synthetic import TASKS

# The families `ctxmem train` trains; their classes come from the registry.
TEXT_CLASSIFIER_FAMILIES = ("transformer", "lstm", "attentive_lstm")


RUN_HELP = (
    "a run directory, a preset directory, a trained preset's name or a "
    "keras-hub handle (hf://owner/name, kaggle://owner/model/keras/variant)"
)


class CommandError(Exception):
    """An error the command reports in one line, without a traceback."""


def command_list(args):
    from keras_ctxmem.registry import list_presets

    presets = list_presets()
    trained = list_presets(trained=True)
    width = max(map(len, presets))
    for name, description in presets.items():
        kind = "trained" if name in trained else "config "
        print(f"{name:<{width}}  {kind}  {description}")


def command_train(args):
    if args.data and _is_conll(args.data):
        return _train_tagger(args)
    import keras

    from keras_ctxmem import zoo
    from keras_ctxmem.distributed import is_chief
    from keras_ctxmem.training import default_optimizer, get_strategy, train
    from keras_ctxmem.zoo.presets import get_preset

    try:
        family = get_preset(args.preset)["family"]
        strategy = get_strategy(args.strategy)
    except ValueError as error:
        raise CommandError(str(error)) from None
    if family == "memory_network" and args.data:
        return _train_babi(args)
    args.epochs = args.epochs or 8
    if family not in TEXT_CLASSIFIER_FAMILIES:
        raise CommandError(
            f"`ctxmem train` trains the text classifiers "
            f"({', '.join(TEXT_CLASSIFIER_FAMILIES)}), not the '{family}' family"
        )
    keras.utils.set_random_seed(args.seed)
    data = _file_data(args) if args.data else _task_data(args, family)
    resumed = _resume_or_start(args)
    print(f"Training {args.preset} on {data['description']}{resumed}")
    learning_rate = args.learning_rate or data["learning_rate"]
    steps = args.epochs * -(-len(data["y_train"]) // args.batch_size)
    with strategy.scope():  # its variables belong to the strategy's devices
        optimizer = default_optimizer(learning_rate, total_steps=steps)
    started = time.time()
    model, history = train(
        lambda: zoo.create_model(args.preset, **data["model_args"]),
        data["x_train"],
        data["y_train"],
        epochs=args.epochs,
        batch_size=args.batch_size,
        strategy=strategy,
        backup_dir=os.path.join(args.out, "backup"),
        log_dir=os.path.join(args.out, "logs"),
        optimizer=optimizer,
        jit_compile=_jit_compile(args),
        validation_data=(data["x_val"], data["y_val"]),
        verbose=1 if sys.stdout.isatty() else 2,  # progress bars in a terminal
        history_file=os.path.join(args.out, "history.json"),
    )
    seconds = getattr(history, "train_seconds", time.time() - started)
    if not is_chief(strategy):
        print(f"Trained in {seconds:.0f} s; the chief worker writes {args.out}")
        return
    model.save_to_preset(os.path.join(args.out, "preset"))
    report = _report(model, data["x_val"], data["y_val"], args.out)
    _plot_curves(history.history, args.out)
    results = {
        "preset": args.preset,
        "data": args.data or args.task,
        "parameters": model.count_params(),
        "epochs": args.epochs,
        "train_seconds": round(seconds, 1),
        "val_examples": len(data["y_val"]),
        "val_accuracy": round(report["accuracy"], 4),
        "val_macro_f1": round(report["macro_avg"]["f1"], 4),
        "report": report,
        "history": {
            k: [round(float(v), 4) for v in vs] for k, vs in history.history.items()
        },
    }
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(
        f"Evaluation on {len(data['y_val'])} held-out examples: accuracy "
        f"{report['accuracy']:.4f}, macro-F1 {report['macro_avg']['f1']:.4f} "
        f"({model.count_params():,} parameters, {seconds:.0f} s training)."
    )
    print(f"Preset written to {os.path.join(args.out, 'preset')}")


def _resume_or_start(args):
    """Checks a run left in --out is this one (`keras_ctxmem.runs`)."""
    from keras_ctxmem.runs import resume_or_start, run_fingerprint

    fingerprint = run_fingerprint(
        {k: v for k, v in vars(args).items() if k != "out"}, [args.data]
    )
    try:
        done = resume_or_start(args.out, fingerprint, os.path.join(args.out, "backup"))
    except ValueError as error:
        raise CommandError(str(error)) from None
    return f" (resuming from epoch {done + 1})" if done else ""


def _jit_compile(args):
    """`--xla` forces XLA, `--no-xla` turns it off, else the device's fastest."""
    return True if args.xla else False if args.no_xla else "auto"


def _read_babi_or_fail(path, split, task_ids=None):
    from keras_ctxmem.data.readers import read_babi

    try:
        if os.path.isdir(path):
            return read_babi(path, split=split, task_ids=task_ids)
        return read_babi(path)
    except (OSError, ValueError) as error:
        raise CommandError(str(error)) from None


def _train_babi(args):
    """bAbI with the MemN2N recipe: one model for the tasks read (joint when
    several), validation from `qaN_valid.txt` or a seeded tenth of train."""
    from keras_ctxmem.babi import (
        JOINT,
        PER_TASK,
        split_validation,
        train_memory_network,
    )

    train = _read_babi_or_fail(args.data, "train", args.babi_tasks)
    try:
        if not os.path.isdir(args.data):
            raise CommandError("a single file holds no validation split")
        valid = _read_babi_or_fail(args.data, "valid", args.babi_tasks)
    except CommandError:
        train, valid = split_validation(train, 0.1, seed=args.seed)
    tasks = sorted(set(train.task_ids))
    recipe = (JOINT if len(tasks) > 1 else PER_TASK).replace(
        restarts=args.restarts, seed=args.seed
    )
    if args.epochs:
        recipe = recipe.replace(epochs=args.epochs)
    print(
        f"Training {'one joint model on' if len(tasks) > 1 else 'a model on'} bAbI "
        f"task(s) {tasks}: {len(train):,} training and {len(valid):,} validation "
        f"questions, {recipe}"
    )
    started = time.time()
    model, summary = train_memory_network(
        train,
        valid,
        recipe,
        jit_compile=_jit_compile(args),
        verbose=1 if sys.stdout.isatty() else 2,
        log=lambda run: print(
            f"run {run['run']}: validation mean error "
            f"{100 * run['valid_mean_error']:.1f}%"
        ),
    )
    model.save_to_preset(os.path.join(args.out, "preset"))
    results = {
        "preset": args.preset,
        "data": args.data,
        "tasks": tasks,
        "train_seconds": round(time.time() - started, 1),
        "valid_mean_error": summary["valid_mean_error"],
        "valid_failed": summary["valid_failed"],
        "valid_error": summary["valid_error"],
        "train_error": summary["train_error"],
        "runs": summary["runs"],
    }
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(
        f"Validation: mean error {100 * summary['valid_mean_error']:.1f}%, "
        f"{summary['valid_failed']} task(s) failed (> 5%). "
        f"Preset written to {os.path.join(args.out, 'preset')}"
    )


def _is_conll(path):
    from keras_ctxmem.ner import looks_like_conll

    if not os.path.isfile(path):
        return False
    try:
        return looks_like_conll(path)
    except OSError as error:
        raise CommandError(str(error)) from None


def _train_tagger(args):
    """Token classification on CoNLL files: entity F1 per epoch, best kept."""
    from keras_ctxmem.ner import train_conll

    if not args.validation:
        raise CommandError("tagging a CoNLL file needs --validation dev.conll")
    os.makedirs(args.out, exist_ok=True)
    try:
        results = train_conll(
            args.preset,
            args.data,
            args.validation,
            args.out,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            vocabulary_size=args.vocabulary_size,
            seed=args.seed,
            jit_compile=_jit_compile(args),
        )
    except (OSError, ValueError) as error:
        raise CommandError(str(error)) from None
    print(
        f"Best epoch {results['best_epoch']}: entity F1 "
        f"{results['entity_f1']:.4f} on {args.validation}. "
        f"Preset written to {os.path.join(args.out, 'preset')}"
    )


def _evaluate_babi(model, args, out_dir):
    from keras_ctxmem.babi import evaluate_memory_network
    from keras_ctxmem.metrics import format_qa_table

    data = _read_babi_or_fail(args.data, "test")
    scores = evaluate_memory_network(model, data)
    print(format_qa_table(scores))
    evaluation = {
        "data": args.data,
        "accuracy": scores["accuracy"],
        "num_examples": scores["num_examples"],
        "mean_error": scores["mean_error"],
        "num_failed": scores["num_failed"],
        "failed_tasks": scores["failed_tasks"],
        "per_task_error": {t: s["error"] for t, s in scores["per_task"].items()},
    }
    with open(os.path.join(out_dir, "evaluation.json"), "w") as f:
        json.dump(evaluation, f, indent=2)
    print(f"Accuracy {scores['accuracy']:.4f} on {scores['num_examples']:,} questions.")


def _task_data(args, family):
    """A built-in synthetic task: token ids in, no download."""
    from keras_ctxmem.data.synthetic import TASKS

    if args.task not in TASKS:
        raise CommandError(
            f"unknown task '{args.task}'; choose one of: {', '.join(TASKS)}"
        )
    task = TASKS[args.task](seed=args.seed)
    return {
        "description": f"the built-in '{args.task}' task: {task.description}",
        "x_train": task.x_train,
        "y_train": task.y_train,
        "x_val": task.x_val,
        "y_val": task.y_val,
        "learning_rate": 3e-3,
        "model_args": {
            "vocabulary_size": task.vocabulary_size,
            "num_classes": task.num_classes,
            **task.model_overrides.get(family, {}),
        },
    }


def _file_data(args):
    """A text-classification file, a seeded validation split, a vocabulary."""
    from keras_ctxmem.text_classification import prepare_text_classification

    try:
        data = prepare_text_classification(
            args.data,
            validation_split=args.validation_split,
            seed=args.seed,
            max_examples=args.max_examples,
            vocabulary_size=args.vocabulary_size or 8000,
            sequence_length=args.sequence_length,
        )
    except (OSError, ValueError) as error:
        raise CommandError(str(error)) from None
    return {
        "description": (
            f"{args.data}: {len(data.y_train):,} training and {len(data.y_val):,} "
            f"validation texts, classes {data.label_names}"
        ),
        "x_train": data.x_train,
        "y_train": data.y_train,
        "x_val": data.x_val,
        "y_val": data.y_val,
        "learning_rate": 1e-3,
        "model_args": data.model_args,
    }


def _report(model, x, y, out_dir):
    """Prints the classification report; writes the confusion matrix."""
    from keras_ctxmem.metrics import format_report
    from keras_ctxmem.text_classification import evaluate_text_classifier

    report = evaluate_text_classifier(model, x, y, out_dir)
    print(format_report(report))
    return report


def _plot_curves(history, out_dir):
    from keras_ctxmem.plots import plot_training_curves

    plot_training_curves(history, os.path.join(out_dir, "training_curves.png"))


def _load_run(path):
    """A run directory (holding `preset/`), a preset directory or the name of a
    trained preset (`keras_ctxmem.zoo.presets.preset_directory`)."""
    from keras_ctxmem.zoo import load_preset

    try:
        return load_preset(path)
    except ValueError as error:
        raise CommandError(str(error)) from None


def command_evaluate(args):
    from keras_ctxmem.data.readers import parse_label_map, read_labelled_texts
    from keras_ctxmem.zoo import MemoryNetwork

    model = _load_run(args.run_dir)
    out_dir = args.out or _evaluation_dir(args.run_dir)
    if isinstance(model, MemoryNetwork) and model.vocabulary is not None:
        os.makedirs(out_dir, exist_ok=True)
        return _evaluate_babi(model, args, out_dir)
    if model.preprocessor is None:
        raise CommandError("this model takes token ids; evaluate it from Python")
    if _is_conll(args.data):
        return _evaluate_tagger(model, args, out_dir)
    try:
        label_map = parse_label_map(args.label_map) if args.label_map else None
        data = read_labelled_texts(
            args.data, model.label_names, label_map, args.ag_news_text
        )
    except (OSError, ValueError) as error:
        raise CommandError(str(error)) from None
    texts, labels = data.to_arrays()
    report = _report(model, texts, labels, out_dir)
    with open(os.path.join(out_dir, "evaluation.json"), "w") as f:
        json.dump(
            {"data": args.data, "accuracy": report["accuracy"], "report": report},
            f,
            indent=2,
        )
    print(
        f"Accuracy {report['accuracy']:.4f}, macro-F1 "
        f"{report['macro_avg']['f1']:.4f} on {len(labels):,} texts."
    )


def _evaluation_dir(path):
    """`evaluation/` of a run directory (its training results stay as they are)."""
    if not os.path.isdir(os.path.join(path, "preset")):
        raise CommandError(
            f"'{path}' is not a run directory (from `ctxmem train --out`): "
            "give --out for the evaluation files"
        )
    return os.path.join(path, "evaluation")


def _evaluate_tagger(model, args, out_dir):
    from keras_ctxmem.ner import evaluate_conll

    try:
        results = evaluate_conll(model, args.data)
    except (OSError, ValueError) as error:
        raise CommandError(str(error)) from None
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "evaluation.json"), "w") as f:
        json.dump({"data": args.data, **results}, f, indent=2)
    print(results["table"])


def command_predict(args):
    import numpy as np

    model = _load_run(args.run_dir)
    if model.preprocessor is None:
        raise CommandError("this model takes token ids, not text")
    answer = model.predict_labels(np.array(args.texts, dtype=object))
    rows = zip(args.texts, answer["label"], answer["probabilities"], strict=True)
    for text, label, row in rows:
        print(f"{label}\t{row.max():.3f}\t{text}")
    if args.attention_plot:
        _plot_first_attention(model, args.texts[0], args.attention_plot)


def _plot_first_attention(model, text, path):
    from keras_ctxmem.plots import plot_attention

    if not hasattr(model, "attention_weights"):
        raise CommandError(f"{type(model).__name__} has no attention weights to draw")
    token_ids = model.preprocessor([text])
    weights = model.attention_weights(token_ids)[0]
    ids = [int(i) for i in token_ids[0] if int(i) != 0]
    tokens = [model.preprocessor.vocabulary[i] for i in ids]
    plot_attention(tokens, weights[: len(tokens)], path, title=text[:60])
    print(f"Attention heatmap written to {path}")


def command_export(args):
    from keras_ctxmem.export import export_saved_model

    model = _load_run(args.preset_dir)
    try:
        path = export_saved_model(model, args.base_dir, version=args.version)
    except (ValueError, FileExistsError) as error:
        raise CommandError(str(error)) from None
    print(f"SavedModel for TF Serving written to {path}")
    print(
        f"Serve it: docker run -p 8501:8501 -v {os.path.abspath(args.base_dir)}:"
        "/models/model -e MODEL_NAME=model tensorflow/serving"
    )


def command_bench(args):
    from keras_ctxmem.benchmarking import harness  # PyTorch only if installed.
    from keras_ctxmem.zoo.presets import get_preset

    try:
        family = get_preset(args.preset)["family"]
    except ValueError as error:
        raise CommandError(str(error)) from None
    if family not in harness.BENCHMARKED_FAMILIES:
        raise CommandError(f"`ctxmem bench` does not benchmark the '{family}' family")
    has_reference = family not in harness.KERAS_ONLY_FAMILIES
    with_torch = has_reference and harness.torch_available()
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
    elif not has_reference:
        print(f"No PyTorch reference for the '{family}' family: Keras only")
    else:
        print("PyTorch is not installed: no reference (pip install '.[bench]')")


def build_parser():
    parser = OneLineParser(
        prog="ctxmem", description="Context-memory model zoo for Keras 3."
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show TensorFlow's start-up logs"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser(
        "list", help="List the named presets: trained (with weights) or config."
    )
    listing.set_defaults(run=command_list)

    train_parser = commands.add_parser(
        "train",
        help="Train a preset on a built-in task and save it as a preset.",
        formatter_class=DefaultsFormatter,
    )
    train_parser.add_argument("preset", help="a preset name, e.g. transformer_tiny")
    train_parser.add_argument(
        "--task", default="membership", choices=TASKS, help="built-in task"
    )
    train_parser.add_argument(
        "--data",
        help="a TSV/CSV of texts and labels, or a CoNLL tagging file (with "
        "--validation), instead of a built-in task; for a memory_network "
        "preset, a bAbI folder or file",
    )
    train_parser.add_argument(
        "--babi-tasks",
        type=positive_int,
        nargs="+",
        help="bAbI tasks to read from a folder (default: all, one joint model)",
    )
    train_parser.add_argument(
        "--restarts",
        type=positive_int,
        default=1,
        help="bAbI: training runs, the best on validation kept",
    )
    train_parser.add_argument(
        "--validation", help="CoNLL: the file scored per epoch (needed with one)"
    )
    train_parser.add_argument(
        "--validation-split",
        type=open_fraction,
        default=0.1,
        help="text files: the seeded share of texts held out for validation",
    )
    train_parser.add_argument(
        "--vocabulary-size",
        type=positive_int,
        help="words kept (default: 8000; CoNLL: every training word)",
    )
    train_parser.add_argument(
        "--sequence-length",
        type=positive_int,
        default=128,
        help="text files: tokens per text after padding or truncation",
    )
    train_parser.add_argument(
        "--max-examples",
        type=positive_int,
        help="use only this many texts (default: all)",
    )
    train_parser.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help="default: 8 (bAbI: the MemN2N recipe's, 100 per task, 60 joint)",
    )
    train_parser.add_argument(
        "--batch-size", type=positive_int, default=32, help="examples per step"
    )
    train_parser.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="peak learning rate (default: 3e-3 on built-in tasks, 1e-3 on text)",
    )
    train_parser.add_argument(
        "--seed", type=int, default=0, help="seeds data splits and weights"
    )
    xla = train_parser.add_mutually_exclusive_group()
    xla.add_argument(
        "--xla", action="store_true", help="force XLA (default: on GPU/TPU only)"
    )
    xla.add_argument("--no-xla", action="store_true", help="never XLA")
    train_parser.add_argument(
        "--strategy",
        default="default",
        choices=("default", "mirrored", "multi_worker"),
        help="one device; mirrored: the GPUs of this host; multi_worker: the "
        "cluster in TF_CONFIG",
    )
    train_parser.add_argument("--out", default="runs/default", help="output directory")
    train_parser.set_defaults(run=command_train)

    evaluate = commands.add_parser(
        "evaluate", help="Evaluate a trained text classifier on a labelled file."
    )
    evaluate.add_argument("run_dir", help=RUN_HELP)
    evaluate.add_argument(
        "--data",
        required=True,
        help="a TSV/CSV of texts and labels, an AG News CSV, a CoNLL file; for "
        "a memory network, a bAbI file or a folder of qaN_*test.txt files",
    )
    evaluate.add_argument(
        "--out",
        help="where to write evaluation.json and plots (default: RUN_DIR/evaluation)",
    )
    evaluate.add_argument(
        "--label-map",
        help="file labels to the model's names, e.g. 1=World,2=Sports,3=Business,"
        "4=Sci/Tech (the default for an AG News CSV and a model with those names)",
    )
    evaluate.add_argument(
        "--ag-news-text",
        default="description",
        choices=("description", "title", "title+description"),
        help="the text of an AG News CSV (class, title, description) to classify",
    )
    evaluate.set_defaults(run=command_evaluate)

    predict = commands.add_parser("predict", help="Classify texts given as arguments.")
    predict.add_argument("run_dir", help=RUN_HELP)
    predict.add_argument("texts", nargs="+", help="texts to classify")
    predict.add_argument(
        "--attention-plot", help="PNG of the attention over the first text"
    )
    predict.set_defaults(run=command_predict)

    export = commands.add_parser(
        "export", help="Export a trained model as a SavedModel for TF Serving."
    )
    export.add_argument("preset_dir", help=RUN_HELP)
    export.add_argument("base_dir", help="TF Serving's model base path")
    export.add_argument("--version", type=int, default=None, help="default: next")
    export.set_defaults(run=command_export)

    bench = commands.add_parser(
        "bench",
        help="Time training steps of a preset (and a PyTorch reference, if installed).",
    )
    bench.add_argument("--preset", default="transformer_small", help="a preset name")
    bench.add_argument("--sequence-length", type=positive_int, default=128)
    bench.add_argument("--batch-size", type=positive_int, default=32)
    bench.add_argument(
        "--precision",
        default="float32",
        choices=("float32", "mixed_bfloat16", "mixed_float16"),
    )
    bench.add_argument("--no-xla", action="store_true", help="jit_compile=False")
    bench.add_argument(
        "--steps", type=positive_int, default=10, help="timed steps per block"
    )
    bench.add_argument(
        "--repeats", type=positive_int, default=3, help="blocks per framework"
    )
    bench.set_defaults(run=command_bench)
    return parser


def main(argv=None):
    try:  # argparse exits on --help (0) and on a bad argument (2)
        args = build_parser().parse_args(argv)
    except SystemExit as done:
        return done.code
    try:
        try:
            check_arguments(args)  # before TensorFlow: these answer at once
        except ValueError as error:
            raise CommandError(str(error)) from None
        if args.command != "list":
            import_tensorflow_quietly(args.verbose)
        args.run(args)
    except CommandError as error:
        print(f"ctxmem {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
