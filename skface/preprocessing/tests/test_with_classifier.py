"""ImageLoader and Augmenter inside FaceCNNClassifier (tiny images, one or two epochs)."""

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.pipeline import make_pipeline

from skface import FaceCNNClassifier
from skface.preprocessing import Augmenter, FormatNormalizer, ImageLoader


class CountingAugmenter(Augmenter):
    calls = []

    def augment_batch(self, X, rng):
        out = super().augment_batch(X, rng)
        CountingAugmenter.calls.append(tuple(X.shape))
        return out


@pytest.fixture
def paths_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    paths, y = [], []
    for i in range(16):
        label = i % 2
        px = rng.integers(0, 120, (20, 20, 3)) + (100 if label else 0)
        path = tmp_path / f"{i}.{'png' if i % 3 else 'jpg'}"
        Image.fromarray(px.astype(np.uint8)).save(path)
        paths.append(str(path))
        y.append(label)
    return np.asarray(paths), np.asarray(y)


def _tiny(**kw):
    return FaceCNNClassifier(
        width=4, depth=2, max_epochs=2, batch_size=8, early_stopping=False,
        random_state=0, device="cpu", **kw,
    )


def test_pipeline_fits_on_paths(paths_and_labels):
    paths, y = paths_and_labels
    pipe = make_pipeline(ImageLoader(16), FormatNormalizer(90), _tiny(attention="cbam"))
    pipe.fit(paths, y)
    proba = pipe.predict_proba(paths)
    assert proba.shape == (16, 2) and np.allclose(proba.sum(1), 1)


def test_augment_only_during_training(paths_and_labels, tmp_path):
    paths, y = paths_and_labels
    CountingAugmenter.calls = []
    aug = CountingAugmenter(blur_prob=0.5, jpeg_prob=0.5)
    pipe = make_pipeline(ImageLoader(16), _tiny(augment=aug))
    pipe.fit(paths, y)
    n_train_calls = len(CountingAugmenter.calls)
    assert n_train_calls == 4  # 2 epochs x 2 batches of 8
    assert all(shape[1:] == (3, 16, 16) for shape in CountingAugmenter.calls)
    first = pipe.predict_proba(paths)
    np.testing.assert_array_equal(first, pipe.predict_proba(paths))  # no randomness at predict
    assert len(CountingAugmenter.calls) == n_train_calls


def test_training_is_deterministic_with_augmenter(paths_and_labels):
    paths, y = paths_and_labels
    X = ImageLoader(16).fit_transform(paths)
    a = _tiny(augment=Augmenter(jpeg_prob=0.5)).fit(X, y).predict_proba(X)
    b = _tiny(augment=Augmenter(jpeg_prob=0.5)).fit(X, y).predict_proba(X)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_save_load_keeps_augmenter(paths_and_labels, tmp_path):
    paths, y = paths_and_labels
    X = ImageLoader(16).fit_transform(paths)
    clf = _tiny(augment=Augmenter(blur_prob=0.3, crop_scale=(0.7, 1.0))).fit(X, y)
    clf.save(tmp_path / "model")
    loaded = FaceCNNClassifier.load(tmp_path / "model")
    assert isinstance(loaded.augment, Augmenter)
    assert loaded.augment.blur_prob == 0.3
    loaded.augment.augment_batch(torch.rand(2, 3, 8, 8), np.random.default_rng(0))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-6)


def test_imblearn_pipeline_loader_sampler_classifier(paths_and_labels, tmp_path):
    from imblearn.pipeline import make_pipeline as make_imb_pipeline

    from skface.preprocessing import AugmentSampler

    paths, y = paths_and_labels
    pipe = make_imb_pipeline(
        ImageLoader(16, memory=tmp_path / "cache"),
        AugmentSampler(Augmenter(jpeg_prob=0.5), n_copies=1, random_state=0),
        _tiny(),
    )
    pipe.fit(paths, y)
    assert pipe.steps[1][1].sample_indices_.shape == (32,)
    assert pipe.predict(paths).shape == (16,)
