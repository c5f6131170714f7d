"""Runs the benchmark grid, one subprocess per row, and prints markdown tables.

Every row carries the command that reproduces it alone. Examples:

```
python benchmarks/run_all.py                      # the whole grid (~1 h on 2 cores)
python benchmarks/run_all.py --section training --only transformer_small \\
    --seq 128 --precision float32 --xla on
python benchmarks/run_all.py --section scaling --only transformer_small --seq 2048
python benchmarks/run_all.py --section inference --only lstm_small
```

See `keras_ctxmem/benchmarking/harness.py` for what is measured and
`benchmarks/RESULTS.md` for the numbers.
"""

import argparse
import json
import os
import platform
import subprocess
import sys

from keras_ctxmem.benchmarking import harness

# (preset, sequence length, batch size, precision, XLA)
TRAINING = [
    ("transformer_small", 128, 32, "float32", True),
    ("transformer_small", 128, 32, "float32", False),
    ("transformer_small", 128, 32, "mixed_bfloat16", True),
    ("transformer_small", 128, 32, "mixed_float16", True),
    ("transformer_base", 128, 32, "float32", True),
    ("transformer_base", 128, 32, "float32", False),
    ("lstm_small", 128, 32, "float32", True),
    ("lstm_small", 128, 32, "float32", False),
    ("lstm_base", 128, 32, "float32", True),
    ("lstm_base", 128, 32, "float32", False),
    ("attentive_lstm_small", 128, 32, "float32", True),
    ("attentive_lstm_small", 128, 32, "float32", False),
    ("attentive_lstm_base", 128, 32, "float32", True),
    ("attentive_lstm_base", 128, 32, "float32", False),
]
# Families without a PyTorch reference: Keras step time and memory only.
KERAS_ONLY_TRAINING = [
    (f"{family}_{size}", 128, 32, "float32", jit)
    for family in (
        "memory_transformer",
        "multimodal",
        "memory_network",
        "seq2seq_lstm",
        "seq2seq_transformer",
    )
    for size in ("small", "base")
    for jit in (True, False)
]
# The MemoryTransformer has no PyTorch reference: its rows are Keras only.
SCALING_PRESETS = ("transformer_small", "memory_transformer_small")
SCALING_LENGTHS = (128, 512, 1024, 2048, 4096, 8192)
SCALING_STEP_BUDGET_S = 60.0
INFERENCE = ["transformer_small", "lstm_small", "attentive_lstm_small"]


def _command(parts, args=None):
    if args is not None and (args.steps, args.repeats) != (5, 3):
        parts = [*parts, f"--steps {args.steps}", f"--repeats {args.repeats}"]
    return "python benchmarks/run_all.py " + " ".join(parts)


def _selected(args, preset, seq, precision, jit):
    return (
        (not args.only or preset in args.only)
        and (not args.seq or seq in args.seq)
        and (not args.precision or precision in args.precision)
        and (args.xla is None or jit == (args.xla == "on"))
    )


def _count(value):
    return "–" if value is None else f"{value:,.0f}"


def _ratio(value):
    return "–" if value is None else f"{value:.2f}×"


def _ms(seconds):
    missing = seconds is None or seconds != seconds  # absent or NaN
    return "–" if missing else f"{1000 * seconds:.1f}"


def run_training(args, log):
    rows = []
    for preset, seq, batch, precision, jit in TRAINING + KERAS_ONLY_TRAINING:
        if not _selected(args, preset, seq, precision, jit):
            continue
        command = _command(
            [
                "--section training",
                f"--only {preset}",
                f"--seq {seq}",
                f"--precision {precision}",
                f"--xla {'on' if jit else 'off'}",
            ]
            + ([] if args.dropout is None else [f"--dropout {args.dropout}"]),
            args,
        )
        log(f"== {command}")
        arguments = [
            "train",
            f"--preset={preset}",
            f"--sequence-length={seq}",
            f"--batch-size={batch}",
            f"--precision={precision}",
            f"--steps={args.steps}",
            f"--repeats={args.repeats}",
        ] + ([] if jit else ["--no-xla"])
        if args.dropout is not None:
            arguments.append(f"--dropout={args.dropout}")
        result = harness.run_in_subprocess(arguments, timeout_s=args.timeout)
        label = preset if args.dropout is None else f"{preset}, dropout {args.dropout}"
        result.update(preset=label, sequence_length=seq, batch_size=batch)
        result.update(precision=precision, jit=jit, command=command)
        log(_short(result))
        rows.append(result)
    return rows


def run_scaling(args, log):
    rows = []
    for preset in SCALING_PRESETS:
        too_big = None
        for seq in SCALING_LENGTHS:
            if not _selected(args, preset, seq, "float32", True):
                continue
            command = _command(
                ["--section scaling", f"--only {preset}", f"--seq {seq}"]
            )
            row = {"preset": preset, "sequence_length": seq, "batch_size": 1}
            if too_big is not None:
                row.update(status=f"skipped: {too_big} already over budget")
                rows.append({**row, "command": command})
                continue
            log(f"== {command}")
            long = seq >= 2048
            result = harness.run_in_subprocess(
                [
                    "train",
                    f"--preset={preset}",
                    f"--sequence-length={seq}",
                    "--batch-size=1",
                    f"--steps={1 if long else args.steps}",
                    f"--repeats={args.repeats}",
                    f"--step-budget={SCALING_STEP_BUDGET_S}",
                ],
                memory_budget_mb=args.memory_budget,
                timeout_s=args.timeout,
            )
            result.update(row, command=command)
            if result.get("status") != "ok":
                too_big = seq
            log(_short(result))
            rows.append(result)
    return rows


def run_inference(args, log):
    rows = []
    for preset in INFERENCE:
        if not _selected(args, preset, 128, "float32", True):
            continue
        command = _command(["--section inference", f"--only {preset}"])
        log(f"== {command}")
        result = harness.run_in_subprocess(
            ["inference", f"--preset={preset}", "--sequence-length=128"],
            timeout_s=args.timeout,
        )
        result.update(command=command, preset=preset)
        log(_short(result))
        rows.append(result)
    return rows


def _torch_ms(result):
    """The PyTorch step; with variants, the fastest named and the others after."""
    text = _ms(result.get("torch_step_s"))
    variants = result.get("torch_variant_step_s")
    if not variants:
        return text
    fastest = result["torch_variant"]
    others = ", ".join(f"{v} {_ms(t)}" for v, t in variants.items() if v != fastest)
    return f"{text} ({fastest}; {others})"


def _short(result):
    keys = (
        "status",
        "keras_step_s",
        "torch_step_s",
        "torch_variant_step_s",
        "keras_vs_torch",
        "rows",
    )
    return json.dumps({k: result[k] for k in keys if k in result})


def _rss(result, peak, baseline):
    if peak not in result:
        return "–"
    return f"{result[peak]} (+{result[peak] - result[baseline]})"


def training_table(rows):
    lines = [
        "| preset | batch × seq | precision | XLA | Keras ms/step | Keras tok/s "
        "| PyTorch ms/step | PyTorch tok/s | Keras/PyTorch | Keras peak RSS MiB "
        "(+over runtime) | PyTorch peak RSS MiB (+over runtime) | command |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.get("status") != "ok":
            lines.append(
                f"| {r['preset']} | {r['batch_size']} × {r['sequence_length']} "
                f"| {r['precision']} | {'on' if r['jit'] else 'off'} "
                f"| {r['status']} | | | | | | | `{r['command']}` |"
            )
            continue
        lines.append(
            f"| {r['preset']} | {r['batch_size']} × {r['sequence_length']} "
            f"| {r['precision']} | {'on' if r['jit'] else 'off'} "
            f"| {_ms(r['keras_step_s'])} | {r['keras_tokens_per_s']:,.0f} "
            f"| {_torch_ms(r)} "
            f"| {_count(r.get('torch_tokens_per_s'))} "
            f"| {_ratio(r.get('keras_vs_torch'))} "
            f"| {_rss(r, 'keras_peak_rss_mb', 'baseline_rss_mb')} "
            f"| {_rss(r, 'torch_peak_rss_mb', 'torch_baseline_rss_mb')} "
            f"| `{r['command']}` |"
        )
    return "\n".join(lines)


def xla_table(rows):
    """XLA on vs off per preset: raw, and normalised by the PyTorch yardstick."""
    by_key = {}
    for r in rows:
        if r.get("status") == "ok":
            key = (r["preset"], r["batch_size"], r["sequence_length"], r["precision"])
            by_key.setdefault(key, {})[r["jit"]] = r
    lines = [
        "| preset | batch × seq | precision | XLA off ms | XLA on ms "
        "| XLA speed-up (raw) | XLA speed-up (PyTorch-normalised) |",
        "|---|---|---|---|---|---|---|",
    ]
    for (preset, batch, seq, precision), pair in by_key.items():
        if True not in pair or False not in pair:
            continue
        on, off = pair[True], pair[False]
        raw = off["keras_step_s"] / on["keras_step_s"]
        normalised = on.get("keras_vs_torch", float("nan")) / off.get(
            "keras_vs_torch", float("nan")
        )
        lines.append(
            f"| {preset} | {batch} × {seq} | {precision} | {_ms(off['keras_step_s'])} "
            f"| {_ms(on['keras_step_s'])} | {raw:.2f}× | {normalised:.2f}× |"
        )
    return "\n".join(lines)


def scaling_table(rows):
    lines = [
        "| preset | seq | batch | Keras s/step | Keras tok/s "
        "| Keras peak RSS MiB (+over runtime) | PyTorch s/step "
        "| PyTorch peak RSS MiB (+over runtime) | Keras/PyTorch | status | command |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        keras_s, torch_s = r.get("keras_step_s"), r.get("torch_step_s")
        tokens = r.get("keras_tokens_per_s") if r.get("status") == "ok" else None
        ratio = r.get("keras_vs_torch")
        cells = [
            r["preset"],
            r["sequence_length"],
            r["batch_size"],
            f"{keras_s:.3f}" if keras_s else "–",
            f"{tokens:,.0f}" if tokens else "–",
            _rss(r, "keras_peak_rss_mb", "baseline_rss_mb"),
            f"{torch_s:.3f}" if torch_s else "–",
            _rss(r, "torch_peak_rss_mb", "torch_baseline_rss_mb"),
            f"{ratio:.2f}×" if ratio else "–",
            r.get("status"),
            f"`{r['command']}`",
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def inference_table(rows):
    lines = [
        "| preset | path | batch | p50 ms | p99 ms | command |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.get("status", "ok") != "ok" or "rows" not in r:
            lines.append(f"| {r['preset']} | {r.get('status')} | | | | |")
            continue
        for row in r["rows"]:
            lines.append(
                f"| {r['preset']} | {row['path']} | {row['batch_size']} "
                f"| {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | `{r['command']}` |"
            )
    return "\n".join(lines)


def machine_description():
    import importlib.metadata as metadata

    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in lscpu.splitlines()
                if line.startswith("Model name")
            ),
            platform.processor(),
        )
        flags = next(
            (line for line in lscpu.splitlines() if line.startswith("Flags")), ""
        )
    except OSError:
        model, flags = platform.processor(), ""
    versions = []
    for package in ("tensorflow", "keras", "keras-hub", "torch"):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    wanted = ("avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16")
    wide = [f for f in wanted if f in flags.split()]
    return (
        f"{os.cpu_count()} CPU cores, {model}; bf16/fp16 CPU flags: "
        f"{', '.join(wide) or 'none'}; Python {platform.python_version()}; "
        + ", ".join(versions)
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--section",
        action="append",
        choices=("training", "scaling", "inference"),
        help="default: all",
    )
    parser.add_argument("--only", action="append", help="preset name(s)")
    parser.add_argument("--seq", action="append", type=int, help="sequence length(s)")
    parser.add_argument("--precision", action="append", choices=harness.PRECISIONS)
    parser.add_argument("--xla", choices=("on", "off"), default=None)
    parser.add_argument("--dropout", type=float, help="training rows: both models")
    parser.add_argument("--steps", type=int, default=5, help="steps per block")
    parser.add_argument("--repeats", type=int, default=3, help="blocks per framework")
    parser.add_argument("--timeout", type=int, default=900, help="s per subprocess")
    parser.add_argument("--memory-budget", type=int, default=12000, help="MiB")
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--markdown", help="also write the tables here")
    args = parser.parse_args(argv)
    sections = args.section or ["training", "scaling", "inference"]

    def log(line):
        print(line, file=sys.stderr, flush=True)

    results = {"machine": machine_description()}
    if "training" in sections:
        results["training"] = run_training(args, log)
    if "scaling" in sections:
        results["scaling"] = run_scaling(args, log)
    if "inference" in sections:
        results["inference"] = run_inference(args, log)

    parts = [f"Machine: {results['machine']}"]
    if results.get("training"):
        parts += ["## Training step", training_table(results["training"])]
        xla = xla_table(results["training"])
        if xla.count("\n") > 1:
            parts += ["## XLA on vs off", xla]
    if results.get("scaling"):
        parts += ["## Sequence-length scaling", scaling_table(results["scaling"])]
    if results.get("inference"):
        parts += ["## Inference latency", inference_table(results["inference"])]
    markdown = "\n\n".join(parts) + "\n"
    print(markdown)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
