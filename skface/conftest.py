"""Fixtures shared by every test module in skface."""

import os
import sys
from pathlib import Path

import pytest


def find_faces_dir():
    """The shared development faces (``SKFACE_FACES_DIR`` or ``../shared/data/faces``), or None."""
    if os.environ.get("SKFACE_FACES_DIR"):
        candidates = [Path(os.environ["SKFACE_FACES_DIR"])]
    else:
        here = Path(__file__).resolve()
        candidates = [parent / "shared" / "data" / "faces" for parent in here.parents]
    for path in candidates:
        if (path / "real").is_dir() and (path / "fake").is_dir():
            return path
    return None


@pytest.fixture(autouse=True)
def _close_pyplot_figures():
    """Figures join pyplot once it is imported (as in a user's script); close them after each
    test so that the suite does not hold them all."""
    yield
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")


@pytest.fixture
def faces_dir():
    """The development face images; the test is skipped when they are absent."""
    path = find_faces_dir()
    if path is None:
        pytest.skip("shared face images not found (set SKFACE_FACES_DIR)")
    return path


@pytest.fixture
def plain_allocator_env(monkeypatch):
    """An environment that neither tunes nor replaces the allocator (``MALLOC_*``,
    ``GLIBC_TUNABLES`` and ``LD_PRELOAD`` removed), so ``reuse_freed_memory`` acts."""
    for key in list(os.environ):
        if key.startswith("MALLOC_") or key in ("GLIBC_TUNABLES", "LD_PRELOAD"):
            monkeypatch.delenv(key)


class _RecordingLibc:
    """Stands in for glibc: records mallopt and malloc_trim calls."""

    def __init__(self):
        self.calls = []

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return 1

    def malloc_trim(self, pad):
        self.calls.append(("trim", pad))
        return 1


@pytest.fixture
def recording_libc(monkeypatch, plain_allocator_env):
    """A fake glibc in place of the real one for ``skface.utils.reuse_freed_memory``; its
    ``calls`` list the ``mallopt`` and ``malloc_trim`` calls made."""
    from skface.utils import _memory

    libc = _RecordingLibc()
    monkeypatch.setattr(_memory, "_glibc", lambda: libc)
    return libc
