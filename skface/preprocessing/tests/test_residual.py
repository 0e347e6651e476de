import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from skface.preprocessing import ResidualCooccurrence

from ._checks import check_properties_on_valid_images, out_of_range_failures


@parametrize_with_checks([ResidualCooccurrence(truncation=1)], expected_failed_checks=lambda est:
                         out_of_range_failures("ResidualCooccurrence"))
def test_sklearn_checks(estimator, check):
    check(estimator)


def test_generic_properties_on_valid_images():
    check_properties_on_valid_images(ResidualCooccurrence(truncation=1), 135)


def _hist(feats, t, residual):
    """The (2t+1)^3 cube of one residual's probabilities."""
    k = 2 * t + 1
    return feats[k**3 * residual:k**3 * (residual + 1)].reshape(k, k, k)


def test_constant_image_puts_all_mass_on_zero_residuals():
    X = np.full((2, 3, 16, 16), 77, dtype=np.uint8)
    feats = ResidualCooccurrence(truncation=2, log=False).fit_transform(X)
    assert feats.shape == (2, 5 * 125)
    for r in range(5):
        cube = _hist(feats[0], 2, r)
        assert cube[2, 2, 2] == 1.0 and cube.sum() == pytest.approx(1.0)


def test_known_residuals_of_a_ramp():
    # Gray ramp rising by 2 per column: first-order horizontal difference is -2 everywhere
    # (truncated to -1 with T=1), vertical differences and second-order ones are 0.
    ramp = np.tile(np.arange(0, 40, 2, dtype=np.uint8), (20, 1))[None, None]
    feats = ResidualCooccurrence(truncation=1, log=False).fit_transform(ramp)[0]
    d1h, d1v, d2h, d2v, kb = (_hist(feats, 1, r) for r in range(5))
    assert d1h[0, 0, 0] == 1.0  # (-1, -1, -1) after truncation, shifted by +T
    for cube in (d1v, d2h, d2v, kb):
        assert cube[1, 1, 1] == 1.0


def test_invariances():
    rng = np.random.default_rng(0)
    u8 = rng.integers(20, 200, (3, 3, 24, 24), dtype=np.uint8)
    est = ResidualCooccurrence(truncation=2)
    a = est.fit_transform(u8)
    # float input in [0, 1] is read back as the same 8-bit values
    np.testing.assert_array_equal(a, est.fit_transform(u8.astype(np.float32) / 255.0))
    # a brightness offset leaves every residual unchanged
    np.testing.assert_array_equal(a, est.fit_transform(u8 + np.uint8(30)))
    # a gray image equals the equal-channel colour image
    gray = u8[:, :1]
    np.testing.assert_array_equal(est.fit_transform(gray),
                                  est.fit_transform(np.repeat(gray, 3, axis=1)))
    # log=False gives probabilities that sum to one per residual; log=True is their log
    p = ResidualCooccurrence(truncation=2, log=False).fit_transform(u8)
    np.testing.assert_allclose(p.reshape(3, 5, -1).sum(axis=2), 1.0)
    np.testing.assert_allclose(a, np.log(p + 1e-4))


def test_chunking_does_not_change_features():
    # 1 MiB of pixels per chunk: 300 images of 64x64 span several chunks
    X = np.random.default_rng(1).integers(0, 256, (300, 1, 64, 64), dtype=np.uint8)
    est = ResidualCooccurrence(truncation=1).fit(X)
    np.testing.assert_array_equal(est.transform(X)[290:], est.transform(X[290:]))


def test_smooth_vs_noisy_textures_are_separable():
    rng = np.random.default_rng(2)
    base = np.stack([gaussian_filter(rng.normal(0, 1, (32, 32)), 2.0) for _ in range(60)])
    base = (base - base.min()) / np.ptp(base) * 200 + 20
    noisy = base[30:] + rng.normal(0, 1.5, base[30:].shape)  # faint sensor-like noise
    X = np.rint(np.concatenate([base[:30], noisy])).clip(0, 255).astype(np.uint8)[:, None]
    y = np.r_[np.zeros(30), np.ones(30)]
    pipe = make_pipeline(ResidualCooccurrence(truncation=2), StandardScaler(),
                         LogisticRegression(C=0.1))
    assert cross_val_score(pipe, X, y, cv=3).mean() >= 0.95


def test_small_and_flat_images():
    # 1 x F images (2-D input): vertical residuals fit nowhere and give all-zero histograms
    X = np.random.default_rng(3).random((4, 10))
    p = ResidualCooccurrence(truncation=1, log=False).fit_transform(X)
    assert p.shape == (4, 5 * 27)
    assert np.allclose(p[:, :27].sum(axis=1), 1.0)      # d1h fits along the row
    assert np.allclose(p[:, 27:54], 0.0)                 # d1v does not fit
    assert np.isfinite(ResidualCooccurrence().fit_transform(X)).all()


def test_bad_input():
    with pytest.raises(ValueError, match="truncation"):
        ResidualCooccurrence(truncation=0).fit(np.zeros((2, 1, 8, 8)))
    est = ResidualCooccurrence().fit(np.zeros((2, 1, 8, 8)))
    with pytest.raises(ValueError, match="image shape"):
        est.transform(np.zeros((2, 1, 4, 16)))
    with pytest.raises(ValueError, match="NaN"):
        ResidualCooccurrence().fit(np.full((2, 1, 8, 8), np.nan))
    # float images in 0-255 would be read 255 times too bright
    bright = np.linspace(0.0, 200.0, 128).reshape(2, 1, 8, 8)
    with pytest.raises(ValueError, match=r"in \[0, 1\]; got float values in \[0, 200\]"):
        est.transform(bright)
