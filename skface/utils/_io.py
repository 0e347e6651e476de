"""Atomic file writes (a partial file never appears under its final name), and plain values
for JSON."""

import errno
import hashlib
import os
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def python_value(value):
    """A NumPy scalar as the plain Python value it holds (what JSON writes); others as they are.

    Parameters
    ----------
    value : object

    Returns
    -------
    value : object
        ``value.item()`` for a NumPy scalar (``np.int64(1)`` gives ``1``), else ``value``.
    """
    return value.item() if isinstance(value, np.generic) else value


def path_within(path, folder):
    """Whether ``path`` is ``folder`` or lies below it, symbolic links resolved."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def file_sha256(path):
    """The SHA-256 hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _umask():
    """The process's file-creation mask.

    Linux tells it in ``/proc/self/status``; elsewhere it is read by setting it and putting
    it straight back (which another thread creating a file at that instant could notice).
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_dir_beside(path, label):
    """A new, empty folder next to ``path`` (same file system, so it can be renamed onto it).

    Unlike :func:`tempfile.mkdtemp`, whose folders are private to the owner (0700), the folder
    gets the permissions any new folder gets (``0777`` less the umask): output that replaces
    ``path`` stays as readable to others as a folder made by ``mkdir``.

    Parameters
    ----------
    path : Path
        The final folder; its parent must exist.
    label : str
        Part of the hidden temporary name (``.<name>.<label>-XXXX``).

    Returns
    -------
    tmp : Path
    """
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{label}-", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename.

    The file gets the permissions ``open()`` would give it: those of the file it replaces, or
    ``0666`` less the umask for a new one.

    Parameters
    ----------
    path : str or Path
        The destination; its folder is created when missing.
    data : bytes

    Returns
    -------
    path : Path
    """
    path = Path(path)
    # the errors name the path asked for: the rename's named a hidden temporary file
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "a folder is there; give a file name", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # an existing file keeps its permissions; a new one gets 0666 less the umask
        mode = path.stat().st_mode & 0o7777
    except OSError:
        mode = 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except PermissionError as exc:
        raise PermissionError(exc.errno, f"cannot write in the folder {path.parent}",
                              str(path)) from None
    try:
        os.chmod(tmp, mode)  # mkstemp makes the file private (0600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path, text):
    """Write UTF-8 ``text`` atomically (see :func:`atomic_write_bytes`).

    Parameters
    ----------
    path : str or Path
        The destination; its folder is created when missing.
    text : str

    Returns
    -------
    path : Path
    """
    if not isinstance(text, str):
        raise TypeError(f"atomic_write_text writes a str; got {type(text).__name__}.")
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextmanager
def interrupt_deferred():
    """Hold Ctrl-C back until the block is done, then raise it.

    For a few quick writes that belong together (a manifest and the listings beside it): a
    Ctrl-C between two of them would leave a set of files that disagree. In the main thread,
    SIGINT is noted while the block runs and :class:`KeyboardInterrupt` is raised when it
    ends; elsewhere (signals reach the main thread only) the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt
