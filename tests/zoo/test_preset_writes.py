"""`save_to_preset` as an attacker of its crash safety would try it: a kill
between its steps, a reader during a save, leftovers, the umask."""

import os
import subprocess

import numpy as np
import pytest

from keras_ctxmem.zoo import LSTMClassifier, load_preset, preset_writes


class Killed(BaseException):
    """Stands for kill -9: nothing after it runs, no cleanup."""


@pytest.fixture
def dead_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def model(seed):
    built = LSTMClassifier.from_preset("lstm_tiny", num_classes=2)
    rng = np.random.default_rng(seed)
    built.set_weights([rng.normal(size=w.shape) for w in built.get_weights()])
    return built


def same_weights(loaded, expected):
    return all(
        np.array_equal(a, b)
        for a, b in zip(loaded.get_weights(), expected.get_weights(), strict=True)
    )


def leftovers(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))


def kill_at(monkeypatch, dead_pid, name, after_calls=0):
    """Makes `preset_writes.<name>` die (after `after_calls` good calls) as a
    killed process would: no cleanup, a dead process id in the leftovers."""
    monkeypatch.setattr(preset_writes, "_owner_pid", lambda: dead_pid)
    monkeypatch.setattr(preset_writes, "discard", lambda path: None)
    real = getattr(preset_writes, name) if name != "rename" else os.rename
    calls = []

    def dying(*args):
        calls.append(args)
        if len(calls) > after_calls:
            raise Killed
        return real(*args)

    if name == "rename":
        monkeypatch.setattr(preset_writes.os, "rename", dying)
    else:
        monkeypatch.setattr(preset_writes, name, dying)


def test_a_kill_before_the_swap_keeps_the_old_preset(tmp_path, monkeypatch, dead_pid):
    path = tmp_path / "preset"
    old, new = model(0), model(1)
    old.save_to_preset(path)
    with monkeypatch.context() as patch:
        kill_at(patch, dead_pid, "_exchange")
        with pytest.raises(Killed):
            new.save_to_preset(path)
    assert len(leftovers(tmp_path)) == 1  # the full-size staging directory
    assert same_weights(load_preset(path), old)
    assert leftovers(tmp_path) == []  # the load removed it
    new.save_to_preset(path)
    assert same_weights(load_preset(path), new) and leftovers(tmp_path) == []


def test_a_kill_between_the_fallback_renames_loses_nothing(
    tmp_path, monkeypatch, dead_pid
):
    # Where RENAME_EXCHANGE is missing: old preset renamed aside, then killed.
    path = tmp_path / "preset"
    old, new = model(0), model(1)
    old.save_to_preset(path)
    with monkeypatch.context() as patch:
        patch.setattr(preset_writes, "_exchange", lambda a, b: False)
        kill_at(patch, dead_pid, "rename", after_calls=1)
        with pytest.raises(Killed):
            new.save_to_preset(path)
    assert not path.exists() and len(leftovers(tmp_path)) == 2
    assert same_weights(LSTMClassifier.from_preset(str(path)), old)  # put back
    assert leftovers(tmp_path) == []


def test_a_reader_sees_the_old_or_the_new_preset(tmp_path, monkeypatch):
    path = tmp_path / "preset"
    old, new = model(0), model(1)
    old.save_to_preset(path)
    seen = []
    real = preset_writes._exchange

    def exchange_with_readers(first, second):
        seen.append(load_preset(second))
        swapped = real(first, second)
        seen.append(load_preset(second))
        return swapped

    monkeypatch.setattr(preset_writes, "_exchange", exchange_with_readers)
    new.save_to_preset(path)
    if not same_weights(seen[1], new):
        pytest.skip("This file system has no RENAME_EXCHANGE.")
    assert same_weights(seen[0], old)
    assert leftovers(tmp_path) == []


def test_a_load_that_races_a_save_is_repeated(tmp_path):
    path = tmp_path / "p"
    staged = {}
    for version in ("old", "new"):
        staged[version] = preset_writes.make_staging_directory(path)
        for name in ("config", "weights"):
            with open(os.path.join(staged[version], name), "w") as f:
                f.write(version)
    preset_writes.replace_directory(staged["old"], path)
    reads = []

    def read():
        config = (path / "config").read_text()
        if not reads:  # a save lands between the two reads
            preset_writes.replace_directory(staged["new"], path)
        reads.append((config, (path / "weights").read_text()))
        return reads[-1]

    assert preset_writes.read_consistently(path, read) == ("new", "new")
    assert reads[0] == ("old", "new")  # what a single read would have mixed


def test_old_style_and_live_leftovers(tmp_path):
    path = tmp_path / "preset"
    live = tmp_path / f".preset.staging-{os.getpid()}-0123abcd"
    old_style = tmp_path / ".preset.k2_x9abc"
    other = tmp_path / ".other.staging-1-0123abcd"
    for leftover in (live, old_style, other):
        leftover.mkdir()
    os.utime(old_style, (0, 0))  # from the first `save_to_preset`, long ago
    model(0).save_to_preset(path)
    # A live save's staging and another preset's are left alone.
    assert leftovers(tmp_path) == sorted([live.name, other.name])


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_the_umask_is_respected(tmp_path, umask):
    previous = os.umask(umask)
    try:
        model(0).save_to_preset(tmp_path / "preset")
    finally:
        os.umask(previous)
    assert (tmp_path / "preset").stat().st_mode & 0o777 == 0o777 & ~umask
    weights = tmp_path / "preset" / "model.weights.h5"
    assert weights.stat().st_mode & 0o777 == 0o666 & ~umask
