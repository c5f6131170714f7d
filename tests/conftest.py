"""Fixtures every test gets: a clean Keras state and a fixed seed."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Every test starts from float32, a clear session and a fixed seed."""
    keras.config.set_dtype_policy("float32")
    keras.utils.clear_session()
    keras.utils.set_random_seed(1337)
    yield
    keras.config.set_dtype_policy("float32")


# Tests that take minutes (each runs a notebook in its own kernel), started
# first: xdist hands tests out in collection order, so they no longer run
# alone at the end of the suite while the other worker waits.
LONGEST_FIRST = ("tests/test_tutorials.py::test_notebook_runs_on_small_settings",)


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: not item.nodeid.startswith(LONGEST_FIRST))
