"""The tutorial notebooks run top to bottom on small settings, and are committed
without outputs.

Every `tutorials/*.ipynb` is found and executed with nbclient in a kernel of
this very Python (the venv under test), with `tutorials/` as the working
directory and `CTXMEM_TUTORIAL_SMALL=1`, so each takes about a minute on two
CPU cores and needs no download.
"""

import glob
import os
import sys

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUTORIALS = os.path.join(ROOT, "tutorials")
NOTEBOOKS = sorted(glob.glob(os.path.join(TUTORIALS, "*.ipynb")))
CELL_TIMEOUT_S = 300
KERNEL_ARGV = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


class _ThisPython(KernelSpecManager):
    """Every kernel name resolves to an IPython kernel of `sys.executable`,
    whatever kernel specs the user or the system has installed."""

    def get_kernel_spec(self, kernel_name):
        return KernelSpec(
            argv=KERNEL_ARGV,
            display_name=f"Python ({sys.executable})",
            language="python",
        )


def _files_under(folder):
    return {
        os.path.join(path, name)
        for path, _, names in os.walk(folder)
        if "__pycache__" not in path and ".ipynb_checkpoints" not in path
        for name in names
    }


def test_the_tutorials_are_found():
    assert NOTEBOOKS, f"no notebooks in {TUTORIALS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, "a tutorial without code"
    for cell in code:
        assert cell.outputs == [], f"outputs kept in cell: {cell.source[:60]!r}"
        assert cell.execution_count is None, f"execution count in: {cell.source[:60]!r}"
    assert "CTXMEM_TUTORIAL_SMALL" in code[0].source, (
        "the first code cell should read the small-settings flag"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs_on_small_settings(path, monkeypatch):
    monkeypatch.setenv("CTXMEM_TUTORIAL_SMALL", "1")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    monkeypatch.delenv("MPLBACKEND", raising=False)
    notebook = nbformat.read(path, as_version=4)
    before = _files_under(TUTORIALS)
    kernel = KernelManager(kernel_name="python3", kernel_spec_manager=_ThisPython())
    client = NotebookClient(
        notebook,
        km=kernel,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": TUTORIALS}},
    )
    client.execute()  # raises CellExecutionError, with the traceback, on any error
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors
    written = sorted(_files_under(TUTORIALS) - before)
    assert not written, f"the notebook wrote into the repository: {written}"
