import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer


def _flatten(X):
    X = np.asarray(X, dtype=np.float32)
    return X.reshape(len(X), -1) / 255.0


def make_faces(n=120, size=12, seed=0, signal=30):
    """Tiny 3-channel uint8 'faces': fakes have a brighter red square in the middle, plus noise."""
    rng = np.random.default_rng(seed)
    y = np.tile([0, 1], n // 2)
    X = (rng.random((n, 3, size, size)) * 150).astype(np.uint8)
    lo, hi = size // 4, size - size // 4
    bump = (rng.random(n) * signal + signal / 2).astype(np.uint8)
    X[y == 1, 0, lo:hi, lo:hi] += bump[y == 1, None, None]
    sources = np.empty(n, dtype=object)
    pick = rng.integers(0, 2, n)
    sources[y == 0] = np.array(["ffhq", "lfw"], dtype=object)[pick[y == 0]]
    sources[y == 1] = np.array(["gan_a", "gan_b"], dtype=object)[pick[y == 1]]
    return X, y, sources


def make_split(n, seed=0):
    rng = np.random.default_rng(seed)
    idx = rng.permutation(n)
    a, b = int(0.6 * n), int(0.8 * n)
    return idx[:a], idx[a:b], idx[b:]


@pytest.fixture
def faces():
    return make_faces()


@pytest.fixture
def lr_pipeline():
    return Pipeline([
        ("flatten", FunctionTransformer(_flatten)),
        ("classifier", LogisticRegression(C=0.05, max_iter=300)),
    ])
