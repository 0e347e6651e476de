import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from skface.preprocessing import SpectrumFeatures

from ._checks import check_properties_on_valid_images, out_of_range_failures


@parametrize_with_checks([SpectrumFeatures(n_bins=8)], expected_failed_checks=lambda est:
                         out_of_range_failures("SpectrumFeatures"))
def test_sklearn_checks(estimator, check):
    check(estimator)


def test_generic_properties_on_valid_images():
    check_properties_on_valid_images(SpectrumFeatures(n_bins=8), 8)


def _clean(rng, n, size=32):
    """Smooth natural-ish images: blurred noise, 1/f-like spectrum."""
    noise = rng.normal(0, 1, (n, size, size))
    imgs = np.stack([gaussian_filter(z, rng.uniform(1.0, 2.0)) for z in noise])
    imgs = (imgs - imgs.min(axis=(1, 2), keepdims=True)) / np.ptp(imgs, axis=(1, 2), keepdims=True)
    return imgs


def _upsampled(rng, n, size=32):
    """Transposed-convolution style 2x up-sampling: zero insertion + a short kernel, which
    leaves a checkerboard (energy at the Nyquist frequency)."""
    small = _clean(rng, n, size // 2)
    up = np.zeros((n, size, size))
    up[:, ::2, ::2] = small
    kernel = np.array([[0.25, 0.5], [0.5, 1.0]])  # uneven overlap -> checkerboard
    out = np.zeros_like(up)
    for dy in range(2):
        for dx in range(2):
            out += kernel[dy, dx] * np.roll(np.roll(up, dy, axis=1), dx, axis=2)
    return out / out.max(axis=(1, 2), keepdims=True)


def test_checkerboard_moves_high_frequencies_and_is_separable():
    rng = np.random.default_rng(0)
    clean = _clean(rng, 40)
    fake = _upsampled(rng, 40)
    to_u8 = lambda a: np.rint(a * 255).astype(np.uint8)[:, None]  # noqa: E731
    X = np.concatenate([to_u8(clean), to_u8(fake)])
    y = np.r_[np.zeros(40), np.ones(40)]

    feats = SpectrumFeatures(n_bins=16).fit_transform(X)
    assert feats.shape == (80, 16)
    high = slice(12, 16)
    assert feats[y == 1, high].mean() > feats[y == 0, high].mean() + 1.0
    # Low frequencies are similar for both (same kind of content).
    assert abs(feats[y == 1, 1:4].mean() - feats[y == 0, 1:4].mean()) < abs(
        feats[y == 1, high].mean() - feats[y == 0, high].mean()
    )

    pipe = make_pipeline(SpectrumFeatures(n_bins=16), StandardScaler(), LogisticRegression())
    scores = cross_val_score(pipe, X, y, cv=4)
    assert scores.mean() >= 0.95


def test_scale_invariance_and_color():
    rng = np.random.default_rng(1)
    u8 = rng.integers(0, 256, (3, 3, 24, 24), dtype=np.uint8)
    a = SpectrumFeatures(12).fit_transform(u8)
    b = SpectrumFeatures(12).fit_transform(u8.astype(np.float32) / 255.0)
    np.testing.assert_allclose(a, b, atol=1e-4)
    c = SpectrumFeatures(12).fit_transform(u8.astype(np.float32) / 255.0 * 0.5)
    np.testing.assert_allclose(a, c, atol=1e-4)  # normalised: contrast scale drops out
    raw = SpectrumFeatures(12, normalize=False).fit_transform(u8)
    assert not np.allclose(raw[:, 0], 0.0)
    np.testing.assert_allclose(a[:, 0], 0.0)
    # Gray images give the same features as the equal-channel colour image.
    gray = u8[:, :1]
    np.testing.assert_allclose(
        SpectrumFeatures(12).fit_transform(gray),
        SpectrumFeatures(12).fit_transform(np.repeat(gray, 3, axis=1)),
        atol=1e-6,
    )


def test_many_bins_on_small_images_are_filled():
    X = np.random.default_rng(2).random((2, 1, 6, 6))
    feats = SpectrumFeatures(n_bins=40).fit_transform(X)
    assert feats.shape == (2, 40) and np.isfinite(feats).all()


def test_radial_profile_of_pure_frequency():
    # A vertical cosine at 1/4 cycles/pixel puts its power in the ring at radius 0.25.
    x = np.arange(32)
    img = (np.tile(np.cos(2 * np.pi * 0.25 * x), (32, 1))[None, None] + 1.0) / 2
    feats = SpectrumFeatures(n_bins=32, normalize=False).fit_transform(img)[0]
    ring = int(0.25 / np.sqrt(0.5) * 32)
    assert np.argmax(feats[1:]) + 1 == ring


def test_bad_input():
    with pytest.raises(ValueError, match="n_bins"):
        SpectrumFeatures(n_bins=1).fit(np.zeros((2, 1, 8, 8)))
    est = SpectrumFeatures().fit(np.zeros((2, 1, 8, 8)))
    with pytest.raises(ValueError, match="image shape"):
        est.transform(np.zeros((2, 1, 4, 16)))


@pytest.mark.parametrize("make", ["spectrum", "residual", "format"])
def test_data_frame_column_names_are_kept_and_checked(make):
    pd = pytest.importorskip("pandas")
    from skface.preprocessing import FormatNormalizer, ResidualCooccurrence

    est = {"spectrum": SpectrumFeatures(n_bins=4), "residual": ResidualCooccurrence(),
           "format": FormatNormalizer()}[make]
    X = np.random.default_rng(0).integers(0, 256, (6, 3, 16, 16), dtype=np.uint8)
    df = pd.DataFrame(X.reshape(6, -1), columns=[f"px{i}" for i in range(3 * 16 * 16)])
    est.fit(df)
    assert list(est.feature_names_in_) == list(df.columns)
    est.transform(df)
    with pytest.raises(ValueError, match="feature names should match"):
        est.transform(df[df.columns[::-1]])


def test_parameters_changed_since_fit_are_refused():
    """set_params after fit gave 16 features with 8 names (a pandas frame then failed), and
    ResidualCooccurrence a NumPy broadcasting error."""
    from skface.preprocessing import ResidualCooccurrence

    X = np.random.default_rng(0).integers(0, 256, (4, 3, 16, 16), dtype=np.uint8)
    spectrum = SpectrumFeatures(n_bins=8).fit(X).set_params(n_bins=16)
    with pytest.raises(ValueError, match=r"n_bins changed since fit \(16, fitted with 8\)"):
        spectrum.transform(X)
    assert spectrum.fit_transform(X).shape == (4, 16)
    residual = ResidualCooccurrence(truncation=1).fit(X).set_params(truncation=2)
    with pytest.raises(ValueError, match=r"truncation changed since fit .*625 features, fit gave "
                                         r"135"):
        residual.transform(X)
    assert residual.fit_transform(X).shape == (4, 625)


def test_floats_outside_unit_range_are_refused_with_their_range():
    """0-255 floats shifted every spectrum feature by log(255 ** 2) without a word; and a
    range just above 1 was printed as [0, 1]."""
    from skface.preprocessing import ResidualCooccurrence

    X = np.random.default_rng(0).integers(0, 256, (4, 3, 16, 16), dtype=np.uint8)
    est = SpectrumFeatures(n_bins=8).fit(X)
    with pytest.raises(ValueError, match=r"SpectrumFeatures expects uint8 images or float"):
        est.transform(X.astype(np.float32))
    just_above = X / 255.0 * (1 + 1e-7)
    with pytest.raises(ValueError, match=r"got float values in \[0, 1\.0000001\]"):
        ResidualCooccurrence().fit_transform(just_above)
