"""Atomic file writes (a partial file never appears under its final name), and plain values
for JSON."""

import os
import tempfile
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


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename.

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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path, text):
    """Write UTF-8 ``text`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))
