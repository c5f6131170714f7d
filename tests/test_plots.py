"""`keras_ctxmem.plots` writes PNGs without touching the process's backend."""

import os
import subprocess
import sys

import numpy as np
import pytest

from keras_ctxmem.plots import (
    plot_attention,
    plot_confusion_matrix,
    plot_training_curves,
    training_curves_figure,
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


@pytest.mark.parametrize("num_epochs", [1, 2, 3, 7, 30])
def test_training_curves_show_whole_epochs(num_epochs):
    losses = list(np.linspace(1.0, 0.1, num_epochs))
    figure = training_curves_figure({"loss": losses, "val_loss": losses})
    axis = figure.axes[0]
    low, high = axis.get_xlim()
    ticks = [t for t in axis.get_xticks() if low <= t <= high]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_plot_model_draws_a_zoo_model(tmp_path):
    """pydot is a dependency: `model_to_dot` always works; `plot_model` also
    needs Graphviz' `dot` program (a system package), else Keras says so."""
    import shutil

    import keras

    from keras_ctxmem.zoo import TransformerClassifier

    model = TransformerClassifier.from_preset("transformer_tiny")
    assert "backbone" in keras.utils.model_to_dot(model).to_string()
    path = str(tmp_path / "model.png")
    if shutil.which("dot") is None:
        with pytest.raises(ImportError, match="graphviz"):
            keras.utils.plot_model(model, path)
    else:
        keras.utils.plot_model(model, path, show_shapes=True)
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
