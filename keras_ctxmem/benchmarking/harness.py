"""Training and inference benchmarks of the zoo, with a PyTorch eager reference.

Used by `ctxmem bench` (in the same process) and `benchmarks/run_all.py` (one
subprocess per configuration: `python -m keras_ctxmem.benchmarking.harness train ...`).

What is measured:

- Training step time: `model.fit` on one fixed in-memory batch, repeated by a
  `tf.data` pipeline, compiled as `model.compile()` does (AdamW with clipnorm,
  sparse categorical cross-entropy, accuracy; XLA unless `jit=False`). A
  callback takes the wall time between consecutive `on_train_batch_end` calls,
  so a step is what `fit` pays per batch. The first `fit` (tracing, XLA
  compilation) and one more step are warm-up and are not counted.
- The PyTorch eager reference (`keras_ctxmem/benchmarking/torch_reference.py`, same
  architecture and parameter count) trains on the same batch: AdamW (same
  weight decay and epsilon), per-tensor gradient clipping like Keras'
  `clipnorm`, cross-entropy and accuracy; `torch.autocast` (plus a
  `GradScaler` for float16) for the mixed precisions.
- PyTorch runs in its own spawned process (no TensorFlow in it), driven in
  lock-step from the Keras process: the two alternate in blocks of `steps`
  steps, in the order K T T K K T ..., so that a noisy neighbour on the
  machine hits both alike, and never run at the same time. The result is the
  median step time of each and their ratio. (In one process the two
  frameworks' thread pools slowed PyTorch down several times over.)
- The LSTM families have two PyTorch variants (`torch_reference.LSTM_VARIANTS`:
  packed sequences, or the padded batch with one LSTM per direction), each in
  its own worker, interleaved the same way; the ratio is against the faster.
- Tokens/s: `batch_size * sequence_length / median step` (padded positions
  count: the batch has rows of random lengths between half and all of
  `sequence_length`).
- Peak memory: the process' peak resident set size (`VmHWM`, i.e. `ru_maxrss`
  of a fresh process; see `peak_rss_mb`) of the Keras process, read after
  the warm-up and first block: TensorFlow's runtime, the model, XLA
  compilation and the steps. `baseline_rss_mb` is the peak right after the
  imports. The PyTorch figures are the worker process' own
  (`torch_baseline_rss_mb` after importing torch, `torch_peak_rss_mb` after
  the last step).
"""

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# The families benchmarked; their classes come from the registry (`create_model`).
BENCHMARKED_FAMILIES = (
    "transformer",
    "lstm",
    "attentive_lstm",
    "memory_transformer",
    "multimodal",
    "memory_network",
    "seq2seq",
)
# Families with no PyTorch reference: timed with `--no-torch` only.
KERAS_ONLY_FAMILIES = ("memory_transformer", "multimodal", "memory_network", "seq2seq")
# PyTorch variants timed per family (None: the module's only one).
TORCH_VARIANTS = {
    "lstm": ("packed", "padded"),
    "attentive_lstm": ("packed", "padded"),
}
# Families whose output is not a `num_classes` classification.
NO_NUM_CLASSES = ("memory_network", "seq2seq")
SENTENCE_LENGTH = 8  # words per memory of the memory network's synthetic stories
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT_PREFIX = "BENCH_RESULT "


def torch_available():
    return importlib.util.find_spec("torch") is not None


def peak_rss_mb():
    """The process' peak resident set size so far, in MiB.

    Linux' `VmHWM` (the high-water mark of this address space); `ru_maxrss`
    where there is no /proc. They agree, except that a spawned child's
    `ru_maxrss` starts from its parent's peak, which `VmHWM` does not.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_batch(vocabulary_size, batch_size, sequence_length, seed=0):
    """Random token ids right-padded to random lengths (the first row is full)."""
    rng = np.random.default_rng(seed)
    shortest = max(sequence_length // 2, 1)
    lengths = rng.integers(shortest, sequence_length + 1, batch_size)
    lengths[0] = sequence_length
    token_ids = rng.integers(1, vocabulary_size, (batch_size, sequence_length))
    token_ids[np.arange(sequence_length)[None, :] >= lengths[:, None]] = 0
    labels = rng.integers(0, 2, batch_size)
    return token_ids.astype("int32"), labels.astype("int32")


def synthetic_inputs(family, config, batch_size, sequence_length, seed=0):
    """`(x, y)` of one batch for `family`, `sequence_length` tokens per example.

    Token ids (and labels) as in `synthetic_batch`; a random image beside them
    for the multimodal model; stories of `sequence_length // SENTENCE_LENGTH`
    sentences and a question for the memory network (answer: a word); source
    and target sequences of the same length for the encoder-decoder.
    """
    rng = np.random.default_rng(seed)
    if family == "seq2seq":
        source, _ = synthetic_batch(
            config["source_vocabulary_size"], batch_size, sequence_length, seed
        )
        target, _ = synthetic_batch(
            config["target_vocabulary_size"], batch_size, sequence_length, seed + 1
        )
        return {"encoder_token_ids": source, "decoder_token_ids": target}, target
    token_ids, labels = synthetic_batch(
        config["vocabulary_size"], batch_size, sequence_length, seed
    )
    if family == "multimodal":
        image = rng.normal(size=(batch_size, *config["image_shape"]))
        return {"token_ids": token_ids, "image": image.astype("float32")}, labels
    if family == "memory_network":
        memories = max(sequence_length // SENTENCE_LENGTH, 1)
        story = token_ids[:, : memories * SENTENCE_LENGTH]
        story = story.reshape(batch_size, memories, SENTENCE_LENGTH)
        question = token_ids[:, :SENTENCE_LENGTH]
        answers = rng.integers(1, config["vocabulary_size"], batch_size)
        return {"story": story, "question": question}, answers.astype("int32")
    return token_ids, labels


def preset_config(preset, sequence_length, dropout=None):
    """`(family, config, overrides)`; a Transformer's position embedding is
    lengthened when `sequence_length` is longer than the preset's maximum, and
    `dropout` (None: the model's default) goes to both frameworks."""
    from keras_ctxmem.zoo.presets import get_preset

    entry = get_preset(preset)
    family, config = entry["family"], entry["config"]
    if family not in BENCHMARKED_FAMILIES:
        raise ValueError(f"No benchmark for the '{family}' family ({preset}).")
    overrides = {}
    if family == "transformer" and sequence_length > config["max_sequence_length"]:
        overrides["max_sequence_length"] = sequence_length
    if family == "memory_transformer":
        overrides["task"] = "sequence"  # one label per sequence, like the others
    if dropout is not None:
        overrides["dropout"] = dropout
    return family, {**config, **overrides}, overrides


def _median(times):
    return statistics.median(times) if times else float("nan")


# === Keras ===


class KerasRunner:
    """A compiled zoo model and a `fit` on one repeated batch."""

    def __init__(
        self, preset, x, y, sequence_length, precision="float32", jit=True, dropout=None
    ):
        import keras
        import tensorflow as tf

        from keras_ctxmem import zoo

        family, _, overrides = preset_config(preset, sequence_length, dropout)
        if precision not in PRECISIONS:
            raise ValueError(f"`precision` must be one of {PRECISIONS}: {precision}")
        # The policy is set by the caller for the model's lifetime (see
        # `measure_training`), so the optimizer and loss scaling see it too.
        if family not in NO_NUM_CLASSES:
            overrides = {"num_classes": 2, **overrides}
        self.model = zoo.create_model(preset, **overrides)
        self.model.compile(jit_compile=jit)
        self.dataset = tf.data.Dataset.from_tensors((x, y)).repeat()

        class StepTimes(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.times = []
                self.last = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                now = time.perf_counter()
                self.times.append(now - self.last)
                self.last = now

        self.timer = StepTimes()

    def run(self, steps):
        self.model.fit(
            self.dataset,
            steps_per_epoch=steps,
            epochs=1,
            shuffle=False,
            verbose=0,
            callbacks=[self.timer],
        )
        return list(self.timer.times)


# === PyTorch ===


class TorchRunner:
    """The PyTorch reference and an eager AdamW step on the same batch."""

    def __init__(
        self,
        family,
        config,
        token_ids,
        labels,
        precision="float32",
        keras_count=None,
        variant=None,
    ):
        import torch

        from keras_ctxmem.benchmarking.torch_reference import (
            FAMILY_MODULES,
            count_params,
        )

        torch.manual_seed(0)
        self.torch = torch
        variant_argument = {} if variant is None else {"variant": variant}
        self.module = FAMILY_MODULES[family](
            **{**config, "num_classes": 2, **variant_argument}
        )
        self.parameter_count = count_params(self.module)
        if keras_count is not None and keras_count != self.parameter_count:
            raise AssertionError(
                f"PyTorch reference: {self.parameter_count:,} parameters, "
                f"Keras model: {keras_count:,}."
            )
        self.module.train()
        self.parameters = [p for p in self.module.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            self.parameters, lr=1e-3, weight_decay=0.01, eps=1e-7
        )
        self.token_ids = torch.from_numpy(token_ids).long()
        self.labels = torch.from_numpy(labels).long()
        self.autocast_dtype = {
            "mixed_bfloat16": torch.bfloat16,
            "mixed_float16": torch.float16,
        }.get(precision)
        self.scaler = (
            torch.amp.GradScaler("cpu") if precision == "mixed_float16" else None
        )

    def step(self):
        torch = self.torch
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(
            "cpu",
            dtype=self.autocast_dtype or torch.bfloat16,
            enabled=self.autocast_dtype is not None,
        ):
            logits = self.module(self.token_ids)
        loss = torch.nn.functional.cross_entropy(logits.float(), self.labels)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        with torch.no_grad():
            for p in self.parameters:  # Keras' clipnorm: each tensor on its own.
                if p.grad is not None:
                    norm = p.grad.norm()
                    p.grad.mul_(torch.clamp(1.0 / (norm + 1e-7), max=1.0))
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        accuracy = (logits.detach().argmax(-1) == self.labels).float().mean()
        return float(loss.detach()), float(accuracy)

    def run(self, steps):
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            self.step()
            times.append(time.perf_counter() - start)
        return times


def _torch_worker(connection, family, config, token_ids, labels, precision, variant):
    """Runs in a spawned process without TensorFlow: PyTorch steps on request."""
    import keras_ctxmem.benchmarking.torch_reference  # noqa: F401  (imports torch)

    baseline = peak_rss_mb()
    try:
        runner = TorchRunner(
            family, config, token_ids, labels, precision, variant=variant
        )
        connection.send(("ready", runner.parameter_count, baseline))
        while True:
            steps = connection.recv()
            if steps is None:
                break
            connection.send(("times", runner.run(steps), peak_rss_mb()))
    except Exception as error:  # Reported to the Keras process.
        connection.send(("error", repr(error), None))
    finally:
        connection.close()


class TorchWorker:
    """The PyTorch reference in its own process, stepped in turn with Keras.

    A separate process keeps TensorFlow's and PyTorch's thread pools apart (in
    one process they slowed each other down several times over on 2 cores) and
    gives PyTorch's own peak memory.
    """

    def __init__(
        self, family, config, token_ids, labels, precision, keras_count, variant=None
    ):
        import multiprocessing

        self.variant = variant
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=_torch_worker,
            args=(child, family, config, token_ids, labels, precision, variant),
            daemon=True,
        )
        self.process.start()
        child.close()
        kind, self.parameter_count, self.baseline_rss_mb = self._receive()
        if keras_count != self.parameter_count:
            self.close()
            raise AssertionError(
                f"PyTorch reference: {self.parameter_count:,} parameters, "
                f"Keras model: {keras_count:,}."
            )
        self.peak_rss_mb = self.baseline_rss_mb

    def _receive(self):
        kind, value, rss = self.connection.recv()
        if kind == "error":
            self.close()
            raise RuntimeError(f"The PyTorch worker failed: {value}")
        return kind, value, rss

    def run(self, steps):
        self.connection.send(steps)
        _, times, self.peak_rss_mb = self._receive()
        return times

    def close(self):
        if self.process.is_alive():
            try:
                self.connection.send(None)
            except OSError:
                pass
            self.process.join(timeout=30)
        self.connection.close()


# === Measurements ===


def measure_training(
    preset,
    sequence_length=128,
    batch_size=32,
    precision="float32",
    jit=True,
    steps=10,
    repeats=3,
    with_torch=True,
    step_budget_s=None,
    dropout=None,
    log=None,
):
    """Keras `fit` step time, tokens/s and peak memory, and the PyTorch ratio.

    Args:
        steps: timed steps per block; `repeats` blocks of each framework.
        with_torch: also time the PyTorch eager reference, interleaved.
        step_budget_s: stop after the warm-up if a step takes longer.
        dropout: the dropout rate of both models; None: the model's default.
        log: a function taking progress lines (e.g. `print`), or None.

    Returns a dict (see the keys below; times in seconds).
    """
    import keras

    from keras_ctxmem.training import set_precision

    log = log or (lambda _: None)
    family, config, overrides = preset_config(preset, sequence_length, dropout)
    with_torch = with_torch and family not in KERAS_ONLY_FAMILIES
    x, y = synthetic_inputs(family, config, batch_size, sequence_length)
    result = {
        "preset": preset,
        "family": family,
        "sequence_length": sequence_length,
        "batch_size": batch_size,
        "precision": precision,
        "jit": jit,
        "steps": steps,
        "repeats": repeats,
        "overrides": overrides,
        "baseline_rss_mb": round(peak_rss_mb()),
        "status": "ok",
    }
    previous_policy = keras.config.dtype_policy()
    torch_runners = []
    set_precision(precision)
    try:
        keras.utils.set_random_seed(0)
        keras_runner = KerasRunner(
            preset, x, y, sequence_length, precision, jit, dropout
        )
        result["parameters"] = keras_runner.model.count_params()
        start = time.perf_counter()
        warmup = keras_runner.run(2)
        result["keras_first_fit_s"] = round(time.perf_counter() - start, 3)
        result["keras_warm_step_s"] = warmup[-1]
        first_fit = result["keras_first_fit_s"]
        log(f"keras first fit {first_fit:.2f} s, then {warmup[-1]:.4f} s")
        if step_budget_s is not None and warmup[-1] > step_budget_s:
            result["status"] = f"over budget: {warmup[-1]:.0f} s/step > {step_budget_s}"
            result["keras_step_s"] = warmup[-1]
            result["keras_peak_rss_mb"] = round(peak_rss_mb())
            return result
        keras_times = keras_runner.run(steps)
        result["keras_peak_rss_mb"] = round(peak_rss_mb())
        torch_times = {}
        if with_torch:
            for variant in TORCH_VARIANTS.get(family, (None,)):
                runner = TorchWorker(
                    family, config, x, y, precision, result["parameters"], variant
                )
                torch_runners.append(runner)
                runner.run(2)  # warm-up
                torch_times[variant] = runner.run(steps)
            result["torch_parameters"] = torch_runners[0].parameter_count
            result["torch_baseline_rss_mb"] = round(torch_runners[0].baseline_rss_mb)
        for repeat in range(1, repeats):
            runners = [(keras_runner, keras_times)] + [
                (runner, torch_times[runner.variant]) for runner in torch_runners
            ]
            if repeat % 2 == 1:
                runners.reverse()
            for runner, times in runners:
                times += runner.run(steps)
            log(
                f"repeat {repeat + 1}/{repeats}: keras {_median(keras_times):.4f} s"
                + "".join(
                    f", torch{'' if v is None else ' ' + v} {_median(t):.4f} s"
                    for v, t in torch_times.items()
                )
            )
        if torch_runners:
            result["torch_peak_rss_mb"] = round(
                max(runner.peak_rss_mb for runner in torch_runners)
            )
    finally:
        keras.config.set_dtype_policy(previous_policy)
        for runner in torch_runners:
            runner.close()
    tokens = batch_size * sequence_length
    result["keras_step_s"] = _median(keras_times)
    result["keras_step_times"] = [round(t, 5) for t in keras_times]
    result["keras_tokens_per_s"] = tokens / result["keras_step_s"]
    if torch_times:
        medians = {variant: _median(times) for variant, times in torch_times.items()}
        fastest = min(medians, key=medians.get)
        if fastest is not None:
            result["torch_variant"] = fastest
            result["torch_variant_step_s"] = medians
        result["torch_step_s"] = medians[fastest]
        result["torch_step_times"] = [round(t, 5) for t in torch_times[fastest]]
        result["torch_tokens_per_s"] = tokens / result["torch_step_s"]
        # Keras throughput / the fastest PyTorch variant's: > 1, Keras is faster.
        result["keras_vs_torch"] = result["torch_step_s"] / result["keras_step_s"]
    return result


def _percentile(times, q):
    return float(np.percentile(np.asarray(times), q))


def synthetic_corpus(num_texts=2000, words_per_text=64, num_words=800, seed=0):
    """Texts of made-up words, for a small WordPiece vocabulary."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(rng.choice(letters, rng.integers(2, 9))) for _ in range(num_words)]
    # Zipf-like word frequencies, as in text.
    p = 1.0 / np.arange(1, num_words + 1)
    p /= p.sum()
    return [" ".join(rng.choice(words, words_per_text, p=p)) for _ in range(num_texts)]


def measure_inference(
    preset, sequence_length=128, batch_sizes=(1, 32), calls=50, log=None
):
    """Latency of the exported SavedModel (strings in) and of `model.predict`.

    The SavedModel is `keras_ctxmem.export.export_saved_model`'s
    `serving_default` signature, loaded with `tf.saved_model.load`, and called
    on raw texts (the WordPiece preprocessing runs inside). `model.predict`
    gets the same texts' token ids. p50 and p99 over `calls` calls each, after
    5 warm-up calls.
    """
    import keras
    import tensorflow as tf

    from keras_ctxmem import zoo
    from keras_ctxmem.export import export_saved_model
    from keras_ctxmem.preprocessing import TextPreprocessor

    log = log or (lambda _: None)
    family, _, overrides = preset_config(preset, sequence_length)
    keras.utils.set_random_seed(0)
    corpus = synthetic_corpus(words_per_text=sequence_length)
    preprocessor = TextPreprocessor.from_corpus(
        corpus, vocabulary_size=2000, sequence_length=sequence_length
    )
    model = zoo.create_model(
        preset, num_classes=2, preprocessor=preprocessor, **overrides
    )
    result = {
        "preset": preset,
        "sequence_length": sequence_length,
        "calls": calls,
        "parameters": model.count_params(),
        "rows": [],
    }
    with tempfile.TemporaryDirectory() as directory:
        path = export_saved_model(model, directory)
        serving = tf.saved_model.load(path).signatures["serving_default"]
        for batch_size in batch_sizes:
            texts = corpus[:batch_size]
            text_tensor = tf.constant(texts)
            token_ids = np.asarray(preprocessor(text_tensor))
            paths = {
                "savedmodel_strings": lambda t=text_tensor: serving(text=t),
                "predict_token_ids": lambda x=token_ids, b=batch_size: model.predict(
                    x, batch_size=b, verbose=0
                ),
            }
            times = {name: [] for name in paths}
            for _ in range(5):
                for fn in paths.values():
                    fn()
            for _ in range(calls):  # Interleaved, one call of each at a time.
                for name, fn in paths.items():
                    start = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - start)
            for name, ts in times.items():
                row = {
                    "path": name,
                    "batch_size": batch_size,
                    "p50_ms": 1000 * _percentile(ts, 50),
                    "p99_ms": 1000 * _percentile(ts, 99),
                }
                result["rows"].append(row)
                log(
                    f"{name} batch {batch_size}: p50 {row['p50_ms']:.2f} ms, "
                    f"p99 {row['p99_ms']:.2f} ms"
                )
    return result


# === Subprocesses ===


def _rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_in_subprocess(arguments, memory_budget_mb=12000, timeout_s=900):
    """Runs `python -m keras_ctxmem.benchmarking.harness ARGUMENTS`; returns its
    result dict.

    The process is stopped, and the result says so in `status`, when its
    resident memory passes `memory_budget_mb` or it runs past `timeout_s`.
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": REPO_ROOT}
    process = subprocess.Popen(
        [sys.executable, "-m", "keras_ctxmem.benchmarking.harness", *arguments],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stopped = {}
    highest = [0.0]

    def watch():
        started = time.time()
        while process.poll() is None:
            rss = _rss_mb(process.pid)
            highest[0] = max(highest[0], rss)
            if rss > memory_budget_mb:
                stopped["status"] = f"stopped: memory over {memory_budget_mb} MiB"
            elif time.time() - started > timeout_s:
                stopped["status"] = f"stopped: over {timeout_s} s"
            if stopped:
                process.kill()
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    output = process.stdout.read()
    process.wait()
    watcher.join()
    for line in reversed(output.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    tail = "\n".join(output.splitlines()[-5:])
    return {
        "status": stopped.get("status", f"failed (exit {process.returncode})"),
        "watched_peak_rss_mb": round(highest[0]),
        "output_tail": tail,
    }


def _parser():
    parser = argparse.ArgumentParser(prog="python -m keras_ctxmem.benchmarking.harness")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("train", "inference"):
        command = commands.add_parser(name)
        command.add_argument("--preset", required=True)
        command.add_argument("--sequence-length", type=int, default=128)
        command.add_argument("--batch-size", type=int, default=32)
        command.add_argument("--precision", choices=PRECISIONS, default="float32")
        command.add_argument("--no-xla", action="store_true")
        command.add_argument("--steps", type=int, default=10)
        command.add_argument("--repeats", type=int, default=3)
        command.add_argument("--no-torch", action="store_true")
        command.add_argument("--step-budget", type=float, default=None)
        command.add_argument("--dropout", type=float, default=None)
        command.add_argument("--calls", type=int, default=50)
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    if args.command == "train":
        result = measure_training(
            args.preset,
            args.sequence_length,
            args.batch_size,
            args.precision,
            jit=not args.no_xla,
            steps=args.steps,
            repeats=args.repeats,
            with_torch=not args.no_torch and torch_available(),
            step_budget_s=args.step_budget,
            dropout=args.dropout,
            log=log,
        )
    else:
        result = measure_inference(
            args.preset, args.sequence_length, calls=args.calls, log=log
        )
    print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
