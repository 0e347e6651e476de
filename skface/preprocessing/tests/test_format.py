import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from skface.preprocessing import FormatNormalizer, ImageLoader, jpeg_roundtrip

from ._checks import out_of_range_failures

FORMAT_EXPECTED_FAILURES = out_of_range_failures("FormatNormalizer")


@parametrize_with_checks(
    [FormatNormalizer()], expected_failed_checks=lambda est: FORMAT_EXPECTED_FAILURES
)
def test_sklearn_checks(estimator, check):
    check(estimator)


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:32, 0:32] / 32.0
    base = (np.sin(6 * x) * np.cos(4 * y) * 90 + 128)[None, None]
    noise = rng.normal(0, 25, (5, 3, 32, 32))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def test_really_reencodes(images):
    out = FormatNormalizer(quality=50).fit_transform(images)
    assert out.shape == images.shape and out.dtype == np.uint8
    assert not np.array_equal(out, images)
    err = np.abs(out.astype(int) - images).mean()
    assert 1.0 < err < 40.0
    # Exactly what one in-memory JPEG round trip gives.
    ref, _ = jpeg_roundtrip(images[0].transpose(1, 2, 0), 50)
    np.testing.assert_array_equal(out[0], ref.transpose(2, 0, 1))


def test_quality_matters(images):
    low, high = FormatNormalizer(20), FormatNormalizer(95)
    assert low.encoded_sizes(images).sum() < high.encoded_sizes(images).sum()
    for c in (2, 4):  # what a JPEG cannot hold: the library's message, not Pillow's
        with pytest.raises(ValueError, match=f"1- or 3-channel images as JPEG; got {c}"):
            low.encoded_sizes(np.zeros((1, c, 8, 8), np.uint8))
    err_low = np.abs(low.fit_transform(images).astype(int) - images).mean()
    err_high = np.abs(high.fit_transform(images).astype(int) - images).mean()
    assert err_high < err_low


def test_float_gray_resize_and_layouts(images):
    floats = images.astype(np.float32) / 255.0
    out = FormatNormalizer(90).fit_transform(floats)
    assert out.dtype == np.float32 and 0.0 <= out.min() and out.max() <= 1.0
    np.testing.assert_allclose(out, FormatNormalizer(90).fit_transform(images) / 255.0, atol=1e-6)

    gray = images[:, :1]
    assert FormatNormalizer(80).fit_transform(gray).shape == (5, 1, 32, 32)
    assert FormatNormalizer(80).fit_transform(gray[:, 0]).shape == (5, 1, 32, 32)
    resized = FormatNormalizer(80, size=16).fit_transform(images)
    assert resized.shape == (5, 3, 16, 16)
    assert FormatNormalizer(80, size=(8, 12)).fit_transform(images).shape == (5, 3, 8, 12)
    channels_last = images.transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(
        FormatNormalizer(80).fit_transform(channels_last),
        FormatNormalizer(80).fit_transform(images),
    )
    flat = FormatNormalizer(80).fit_transform(images.reshape(5, -1) / 255.0)
    assert flat.shape == (5, 3 * 32 * 32)


def test_properties_on_valid_images(images):
    est = FormatNormalizer(70).fit(images)
    out = est.transform(images)
    np.testing.assert_array_equal(est.transform(images[::-1]), out[::-1])  # order
    np.testing.assert_array_equal(est.transform(images[1:3]), out[1:3])  # subset
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).transform(images), out)
    np.testing.assert_array_equal(clone(est).fit(images).transform(images), out)
    assert est.get_feature_names_out().shape == (3 * 32 * 32,)


def test_bad_input(images):
    with pytest.raises(ValueError, match=r"float images in \[0, 1\]"):
        FormatNormalizer().fit_transform(images.astype(np.float32))
    with pytest.raises(ValueError, match="4 channels"):
        FormatNormalizer().fit(np.zeros((2, 4, 8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="quality"):
        FormatNormalizer(quality=0).fit(images)
    with pytest.raises(ValueError, match="NaN|infinity"):
        FormatNormalizer().fit(np.full((2, 3, 8, 8), np.nan))
    est = FormatNormalizer().fit(images)
    with pytest.raises(ValueError, match="features"):
        est.transform(images[:, :, :16])


def test_in_pipeline_after_loader(tmp_path, images):
    from PIL import Image

    paths = []
    for i, img in enumerate(images):
        path = tmp_path / f"{i}.png"
        Image.fromarray(img.transpose(1, 2, 0)).save(path)
        paths.append(str(path))
    pipe = make_pipeline(
        ImageLoader(16),
        FormatNormalizer(90),
        FunctionTransformer(lambda X: X.reshape(len(X), -1) / 255.0),
        LogisticRegression(),
    )
    pipe.fit(paths, [0, 1, 0, 1, 0])
    assert pipe.predict(paths).shape == (5,)


def test_a_global_pandas_output_leaves_images_as_arrays():
    """sklearn.set_config(transform_output="pandas") made FormatNormalizer fail ("Must pass
    2-d input"): its images are 4-D, which no DataFrame holds."""
    import sklearn

    X = np.random.default_rng(0).integers(0, 256, (4, 3, 16, 16), dtype=np.uint8)
    want = FormatNormalizer(90).fit_transform(X)
    with sklearn.config_context(transform_output="pandas"):
        got = FormatNormalizer(90).fit_transform(X)
    assert isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got, want)
