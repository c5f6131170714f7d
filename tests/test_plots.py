"""`keras_ctxmem.plots` writes PNGs without touching the process's backend."""

import os
import subprocess
import sys

import numpy as np

from keras_ctxmem.plots import (
    plot_attention,
    plot_confusion_matrix,
    plot_training_curves,
)


def test_plots_write_png_files(tmp_path):
    paths = [
        plot_training_curves(
            {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8]},
            str(tmp_path / "curves.png"),
        ),
        plot_confusion_matrix(
            np.array([[3, 1], [0, 4]]), ["neg", "pos"], str(tmp_path / "cm.png")
        ),
        plot_attention(["a", "fine", "film"], [0.2, 0.7, 0.1], str(tmp_path / "a.png")),
    ]
    for path in paths:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_importing_plots_keeps_the_backend():
    # A notebook's inline backend must survive `import keras_ctxmem.plots`
    # (it used to call matplotlib.use("Agg"), and plt.show() then drew nothing).
    code = (
        "import matplotlib; import keras_ctxmem.plots; print(matplotlib.get_backend())"
    )
    env = {**os.environ, "MPLBACKEND": "svg"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip().lower() == "svg"
