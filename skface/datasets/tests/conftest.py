"""Small generated images for the skface.datasets tests."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def face_like(seed, size=32):
    """A random RGB picture with a photo-like 1/f spectrum (distinct seeds differ clearly)."""
    rng = np.random.RandomState(seed)
    acc = np.zeros((size, size, 3))
    for k in (2, 4, 8, 16, 32):
        layer = rng.rand(k, k, 3).astype(np.float32)
        acc += np.stack([np.asarray(Image.fromarray(layer[..., c], mode="F").resize(
            (size, size), Image.Resampling.BICUBIC)) for c in range(3)], axis=-1) / k
    acc = (acc - acc.min()) / (acc.max() - acc.min() + 1e-9) * 255
    return Image.fromarray(acc.astype(np.uint8))


def save(img, path, fmt="JPEG", quality=90, exif=None):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {}
    if fmt == "JPEG":
        kwargs["quality"] = quality
        if exif is not None:
            kwargs["exif"] = exif
    img.save(path, fmt, **kwargs)
    return path


def make_folder(folder, n, *, seed0=0, size=32, fmt="JPEG", quality=90, suffix=None):
    """Write ``n`` distinct pictures into ``folder``; return their paths."""
    suffix = suffix or (".jpg" if fmt == "JPEG" else "." + fmt.lower())
    return [save(face_like(seed0 + i, size), Path(folder) / f"img{i:03d}{suffix}", fmt, quality)
            for i in range(n)]


@pytest.fixture
def two_sources(tmp_path):
    """real/ (10 JPEG) and fake/ (8 PNG) with distinct pictures."""
    make_folder(tmp_path / "real", 10, seed0=0)
    make_folder(tmp_path / "fake", 8, seed0=1000, fmt="PNG")
    return tmp_path
