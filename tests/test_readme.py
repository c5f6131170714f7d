"""README.md is true: each python snippet runs as written, on its own (a
fresh namespace, an empty folder), and the files it names exist.

A snippet that cannot run here (it needs a GPU, a download) is preceded by
`<!-- readme-test: skip (the reason) -->`, one that takes minutes on a CPU by
`<!-- readme-test: slow (the reason) -->` (run with `pytest -m slow`); use
them sparingly.
"""

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
MARKER = re.compile(r"<!-- readme-test: (skip|slow) \((.+?)\) -->\s*$")


def python_blocks(text):
    """`[(line, code, marker)]` of the ```python blocks of `text`; `marker` is
    None or `("skip" or "slow", reason)`."""
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
        line = text[: match.start()].count("\n") + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.search(before)
        blocks.append((line, match.group(1), marker and marker.groups()))
    return blocks


def readme_blocks():
    return python_blocks(open(README, encoding="utf-8").read())


def test_python_blocks_are_found_and_markers_say_why():
    text = "a\n<!-- readme-test: skip (needs a GPU) -->\n```python\nx = 1\n```\n"
    assert python_blocks(text) == [(3, "x = 1\n", ("skip", "needs a GPU"))]
    blocks = readme_blocks()
    assert len(blocks) >= 5
    assert sum(marker is not None for _, _, marker in blocks) <= 2  # sparingly


def snippet_params():
    params = []
    for line, code, marker in readme_blocks():
        marks = []
        if marker and marker[0] == "skip":
            marks = [pytest.mark.skip(reason=marker[1])]
        elif marker:
            marks = [pytest.mark.slow]
        params.append(pytest.param(line, code, marks=marks, id=f"line{line}"))
    return params


def test_readme_names_only_files_that_exist():
    text = open(README, encoding="utf-8").read()
    names = set(
        re.findall(
            r"(?<![\w/.$])((?:tests|benchmarks|keras_ctxmem|zoo|docs|tutorials)"
            r"/[\w./-]*\.(?:py|md|ipynb|txt))",
            text,
        )
    )
    assert "tests/conformance.py" in names
    missing = sorted(n for n in names if not os.path.exists(os.path.join(ROOT, n)))
    assert not missing, f"README.md names files that do not exist: {missing}"


@pytest.mark.parametrize("line, code", snippet_params())
def test_readme_snippet_runs_as_written(line, code, tmp_path, monkeypatch):
    """In an empty folder (snippets write runs/ and serving/ there), with
    their tiny inline data: seconds per model on a quiet CPU."""
    monkeypatch.chdir(tmp_path)
    try:
        exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "__readme__"})
    except Exception as error:
        pytest.fail(f"The README snippet at line {line} fails: {error!r}")
