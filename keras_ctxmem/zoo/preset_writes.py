"""Writing a preset directory so that a crash or a reader never sees it half done.

`save_to_preset` writes into a staging directory next to the preset, flushes
it to disk, then swaps it in with one atomic `renameat2(RENAME_EXCHANGE)`
(Linux): a reader sees the old preset or the new one, never nothing. Where the
exchange is not available (another OS, a file system without it) the old
preset is renamed aside and the new one renamed in; a crash between the two
renames leaves the old preset aside, and the next save or load puts it back.
Leftovers of a killed save (`.<name>.staging-<pid>-*`, `.<name>.retired-<pid>-*`)
are removed by the next save or load once their process is gone. Directories
are created with the usual mode (`0o777` less the umask).

Loading reads several files; `read_consistently` repeats a load that raced
with a save, so config and weights always come from the same save.

Example:
```python
import os
from keras_ctxmem.zoo.preset_writes import make_staging_directory, replace_directory
os.makedirs("/tmp/demo_presets", exist_ok=True)
staging = make_staging_directory("/tmp/demo_presets/p")
open(os.path.join(staging, "config.json"), "w").write("{}")
replace_directory(staging, "/tmp/demo_presets/p")
```
"""

import ctypes
import errno
import os
import re
import secrets
import shutil
import sys
import time

RENAME_EXCHANGE = 2
AT_FDCWD = -100
# Leftovers of the first `save_to_preset` (before process ids were in names)
# are removed once this old.
OLD_LEFTOVER_SECONDS = 3600


def _owner_pid():
    return os.getpid()


def _leftover_path(directory, kind):
    parent, name = os.path.split(directory)
    token = secrets.token_hex(4)
    return os.path.join(parent, f".{name}.{kind}-{_owner_pid()}-{token}")


def make_staging_directory(directory):
    """A new empty directory beside `directory`, for writing its next version."""
    directory = os.path.abspath(directory)
    remove_leftovers(directory)
    while True:
        path = _leftover_path(directory, "staging")
        try:
            os.mkdir(path)  # 0o777 less the umask, unlike `tempfile.mkdtemp`
            return path
        except FileExistsError:
            continue


def replace_directory(staging, directory):
    """Puts the complete `staging` directory at `directory` in one step."""
    directory = os.path.abspath(directory)
    _flush_tree(staging)
    if not os.path.lexists(directory):
        try:
            os.rename(staging, directory)
            _flush(os.path.dirname(directory))
            return
        except OSError as error:
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise  # Otherwise another save got there first: exchange.
    if _exchange(staging, directory):
        discard(staging)  # Now the old version.
    else:
        retired = _leftover_path(directory, "retired")
        os.rename(directory, retired)
        os.rename(staging, directory)
        discard(retired)
    _flush(os.path.dirname(directory))


def remove_leftovers(directory):
    """Removes what killed saves of `directory` left beside it, and puts back
    a preset a crash left renamed aside. Best effort: never raises."""
    parent, name = os.path.split(os.path.abspath(directory))
    try:
        entries = os.listdir(parent)
    except OSError:
        return
    pattern = re.compile(
        re.escape(f".{name}.") + r"(staging|retired)-(\d+)-[0-9a-f]{8}"
    )
    old_pattern = re.compile(re.escape(f".{name}.") + r"[a-z0-9_]{8}")
    for entry in sorted(entries):
        path = os.path.join(parent, entry)
        found = pattern.fullmatch(entry)
        try:
            if found is None:
                if old_pattern.fullmatch(entry) and _older_than(path):
                    discard(path)
                continue
            if _alive(int(found.group(2))):
                continue
            if found.group(1) == "retired" and not os.path.lexists(directory):
                os.rename(path, directory)
            else:
                discard(path)
        except OSError:
            continue


def read_consistently(directory, read, attempts=5):
    """`read()`, repeated while a save replaced `directory` during it."""
    for attempt in range(attempts):
        before = _identity(directory)
        try:
            return_value, failure = read(), None
        except (OSError, ValueError) as error:
            return_value, failure = None, error
        if before is not None and _identity(directory) == before:
            break
        if attempt + 1 < attempts:
            time.sleep(0.05 * (attempt + 1))
    if failure is not None:
        raise failure
    return return_value


def _identity(directory):
    try:
        info = os.stat(directory)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _exchange(first, second):
    """Swaps two paths atomically; False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False  # glibc before 2.28, or another C library
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    result = renameat2(
        AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE
    )
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), second)


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # Someone else's live process.
    return True


def _older_than(path, seconds=OLD_LEFTOVER_SECONDS):
    return time.time() - os.lstat(path).st_mtime > seconds


def discard(path):
    """Removes a file, link or directory tree (errors inside a tree ignored)."""
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _flush_tree(directory):
    for parent, _, files in os.walk(directory):
        for name in files:
            _flush(os.path.join(parent, name))
        _flush(parent)


def _flush(path):
    """`fsync`: the data is on disk before the rename that publishes it."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # Some file systems cannot sync a directory.
    finally:
        os.close(descriptor)
