import os
from pathlib import Path

import pytest


def _find_faces():
    if os.environ.get("SKFACE_FACES_DIR"):
        return Path(os.environ["SKFACE_FACES_DIR"])
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "shared" / "data" / "faces"
        if candidate.is_dir():
            return candidate
    return here.parents[3] / ".." / "shared" / "data" / "faces"


@pytest.fixture
def faces_dir():
    """The development face images; the test is skipped when they are absent."""
    path = _find_faces()
    if not (path / "manifest.csv").is_file():
        pytest.skip(f"face images not found at {path} (set SKFACE_FACES_DIR)")
    return path
