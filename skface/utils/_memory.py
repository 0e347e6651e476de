"""Keep freed large blocks for reuse while a network trains or predicts on a CPU (Linux, glibc).

glibc's ``malloc`` serves every request of 32 MiB or more with its own ``mmap`` and hands it
back to the kernel on ``free``. A float32 batch of 64 images with 32 channels at 64 x 64 pixels
is exactly 32 MiB, so the first stage of the recommended network asks the kernel for fresh
pages several times per training step, and every page is faulted in and zeroed again each time.
Inside :func:`reuse_freed_memory`, glibc serves large requests from its heap and does not trim
it, so the next step reuses the same pages. Numbers are unchanged; only where the memory comes
from changes (``benchmarks/RESULTS.md``, "sixteenth round", has the measured speed-up).

The reuse is not exact: torch asks for 64-byte-aligned blocks, and a freed block that does not
merge into the top of the heap is a few bytes too small for the next aligned request of the same
size, so a few more blocks are faulted in until freed neighbours merge. Repeating a 48 MiB
request kept 2 to 8 blocks resident (glibc 2.36), a fixed cost that does not grow with the run.
"""

import ctypes
import os
import platform
import sys
import threading
from contextlib import contextmanager

# mallopt(3) parameter numbers (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4

#: What :func:`reuse_freed_memory` leaves behind: glibc's default ``M_MMAP_MAX``, and the
#: mmap and trim thresholds glibc's own dynamic rule reaches once a 32 MiB block has been freed
#: (any setting made through ``mallopt`` switches that rule off, so they are set explicitly).
_RESTORE = ((_M_MMAP_MAX, 65536), (_M_MMAP_THRESHOLD, 32 * 2**20), (_M_TRIM_THRESHOLD, 64 * 2**20))
_REUSE = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1))

_lock = threading.Lock()
_depth = 0
_libc = None


def _user_tuned_allocator(environ):
    """Whether the process's allocator was chosen or tuned by the user (then leave it alone)."""
    if any(key.startswith("MALLOC_") for key in environ):
        return True
    if "glibc.malloc." in environ.get("GLIBC_TUNABLES", ""):
        return True
    return "malloc" in environ.get("LD_PRELOAD", "")  # jemalloc, tcmalloc, mimalloc


def _glibc():
    """glibc's ``libc`` as a ctypes library, or None where it is not the allocator in use."""
    global _libc
    if _libc is None:
        lib = False
        if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
            try:
                lib = ctypes.CDLL(None)
                lib.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
                lib.malloc_trim.argtypes = [ctypes.c_size_t]
            except (OSError, AttributeError):
                lib = False
        _libc = lib
    return _libc or None


@contextmanager
def reuse_freed_memory(enabled=True):
    """Serve large allocations from glibc's heap, and keep it untrimmed, inside the block.

    Nested and concurrent uses (threads) share one setting: the first to enter applies it and
    the last to leave restores glibc's large-block defaults and returns the kept memory to the
    kernel (``malloc_trim``). Nothing happens off Linux/glibc, when ``enabled`` is false, or
    when the environment tunes or replaces the allocator (``MALLOC_*`` variables,
    ``GLIBC_TUNABLES`` with ``glibc.malloc.*``, or a ``malloc`` library in ``LD_PRELOAD``).

    Parameters
    ----------
    enabled : bool, default=True
        False makes the block a no-op (for code that is not on a CPU).
    """
    global _depth
    libc = _glibc() if enabled and not _user_tuned_allocator(os.environ) else None
    if libc is None:
        yield
        return
    with _lock:
        if _depth == 0:
            for param, value in _REUSE:
                libc.mallopt(param, value)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for param, value in _RESTORE:
                    libc.mallopt(param, value)
                libc.malloc_trim(0)
