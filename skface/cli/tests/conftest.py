import numpy as np
import pytest
from PIL import Image


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def make_faces(root, n=20, size=16, seed=0):
    """Tiny learnable folders: smooth 'real' images and checkerboard-marked 'fake' ones."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    checker = ((yy + xx) % 2 * 2 - 1).astype(float)
    for i in range(n):
        base = rng.uniform(40, 215, size=(4, 4, 3))
        smooth = np.kron(base, np.ones((size // 4, size // 4, 1)))
        smooth += rng.normal(0, 6, smooth.shape)
        _write(root / "real" / "cam" / f"r{i:03d}.png", np.clip(smooth, 0, 255).astype(np.uint8))
        base = rng.uniform(40, 215, size=(4, 4, 3))
        fake = np.kron(base, np.ones((size // 4, size // 4, 1))) + 30 * checker[..., None]
        fake += rng.normal(0, 6, fake.shape)
        _write(root / "fake" / "gan" / f"f{i:03d}.png", np.clip(fake, 0, 255).astype(np.uint8))
    return root / "real" / "cam", root / "fake" / "gan"


@pytest.fixture
def faces(tmp_path):
    return make_faces(tmp_path / "faces")
