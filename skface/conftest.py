"""Fixtures shared by every test module in skface."""

import os
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


@pytest.fixture
def faces_dir():
    """The development face images; the test is skipped when they are absent."""
    path = find_faces_dir()
    if path is None:
        pytest.skip("shared face images not found (set SKFACE_FACES_DIR)")
    return path
