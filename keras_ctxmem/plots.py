"""Pictures a person would rather look at than read: curves, confusions, attention.

Each function writes a PNG and returns its path (matplotlib, no screen needed).
Figures are drawn with `matplotlib.figure.Figure`, not pyplot, so importing this
module leaves the process's backend alone (a notebook keeps its inline plots).

Example:
```python
from keras_ctxmem.plots import plot_attention
plot_attention(["a", "charming", "film"], [0.1, 0.8, 0.1], "/tmp/attention.png")
```
"""

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def plot_training_curves(history, path):
    """Loss and every metric per epoch, training next to validation."""
    return _save(training_curves_figure(history), path)


def training_curves_figure(history):
    """The `Figure` `plot_training_curves` writes: one panel per metric, whole
    epochs (1, 2, ...) on the x axis."""
    names = [name for name in history if not name.startswith("val_")]
    figure = Figure(figsize=(4.5 * len(names), 3.5))
    axes = figure.subplots(1, len(names))
    for axis, name in zip(np.atleast_1d(axes), names, strict=True):
        epochs = np.arange(1, len(history[name]) + 1)
        axis.plot(epochs, history[name], marker="o", label="training")
        if f"val_{name}" in history:
            axis.plot(epochs, history[f"val_{name}"], marker="o", label="validation")
        axis.set(title=name, xlabel="epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        axis.grid(alpha=0.3)
        axis.legend()
    return figure


def plot_confusion_matrix(matrix, label_names, path):
    """Counts per (true, predicted) class, with each row's share as the colour."""
    matrix = np.asarray(matrix)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.6 * len(label_names) + 2)
    figure = Figure(figsize=(size, size))
    axis = figure.subplots()
    axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(len(label_names))
    axis.set_xticks(ticks, label_names, rotation=45, ha="right")
    axis.set_yticks(ticks, label_names)
    axis.set(xlabel="predicted", ylabel="true", title="confusion matrix")
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if shares[row, column] > 0.5 else "black"
        axis.text(column, row, str(count), ha="center", va="center", color=colour)
    return _save(figure, path)


def plot_attention(tokens, weights, path, title="attention over tokens"):
    """A one-row heatmap of attention weights over the tokens of one input."""
    weights = np.asarray(weights, dtype="float32").reshape(1, -1)
    # Uniform attention (1 / n) sits mid-scale; peaks stand out above it.
    top = max(float(weights.max()), 2.0 / max(len(tokens), 1))
    figure = Figure(figsize=(max(4.0, 0.7 * len(tokens) + 1), 1.8))
    axis = figure.subplots()
    axis.imshow(weights, cmap="Reds", aspect="auto", vmin=0, vmax=top)
    axis.set_xticks(np.arange(len(tokens)), tokens, rotation=45, ha="right")
    axis.set_yticks([])
    axis.set_title(title)
    for column, weight in enumerate(weights[0]):
        colour = "white" if weight > 0.6 * top else "black"
        axis.text(
            column,
            0,
            f"{weight:.2f}",
            ha="center",
            va="center",
            fontsize=8,
            color=colour,
        )
    return _save(figure, path)


def _save(figure, path):
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return path
