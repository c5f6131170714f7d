"""What `ctxmem` needs before it imports TensorFlow: a parser whose errors are
one line, number types that refuse nonsense, checks of names and paths, and a
quiet TensorFlow import.

Neither Keras nor TensorFlow is imported here, so `ctxmem --help`, `ctxmem
list` and every argument error answer in a fraction of a second.

Example:
```python
from keras_ctxmem.cli_support import OneLineParser, positive_int
parser = OneLineParser(prog="demo")
parser.add_argument("--epochs", type=positive_int, default=1)
print(parser.parse_args(["--epochs", "3"]).epochs)  # 3; "0" exits with code 2
```
"""

import argparse
import os
import sys

from keras_ctxmem.registry import get_preset, preset_directory


class OneLineParser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line on stderr (exit code 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows `(default: X)` after each help text, except for flags and for
    options without a default (their help says what happens instead)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        if "default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def positive_int(text):
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def open_fraction(text):
    """An argparse type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1")
    return value


def check_arguments(args):
    """Raises ValueError (one line) for a name or path `args` cannot use: an
    unknown preset, a missing input, an output folder that cannot be created
    (the output folders are created here)."""
    if args.command in ("train", "bench"):
        get_preset(args.preset)
    for name in ("run_dir", "preset_dir"):
        value = getattr(args, name, None)
        if value is not None and "://" not in value:  # a hub handle: downloaded later
            preset_directory(value)
    for name in ("data", "validation"):
        path = getattr(args, name, None)
        if path is not None and not os.path.exists(path):
            raise ValueError(f"--{name} '{path}': no such file or directory")
    for name in ("out", "base_dir"):
        path = getattr(args, name, None)
        if path is not None:
            make_directory(path, name if name == "base_dir" else f"--{name}")


def make_directory(path, what="path"):
    """Creates the folder `path` (and its parents) or raises a one-line
    ValueError saying why it cannot be."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        reason = error.strerror or str(error)
        raise ValueError(f"{what} '{path}' cannot be created: {reason}") from None


def import_tensorflow_quietly(verbose=False):
    """Imports TensorFlow and Keras with TensorFlow's C++ start-up logs (CUDA
    probing, oneDNN notes) silenced, unless `verbose`; Python errors still
    show. Call it before anything else imports TensorFlow."""
    if verbose or "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)  # C++ logs written before absl is initialised ignore levels
    try:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
