import numpy as np
import pytest
import torch
from imblearn.pipeline import Pipeline as ImbPipeline
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from skface.preprocessing import Augmenter, AugmentSampler

OFF = dict(flip_prob=0.0, crop_prob=0.0, jitter_prob=0.0, blur_prob=0.0, jpeg_prob=0.0)


def _batch(n=6, c=3, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, size, size, generator=g)


def _only(**kw):
    params = dict(OFF)
    params.update(kw)
    return Augmenter(**params)


def test_deterministic_shape_range():
    aug = Augmenter(blur_prob=0.5, jpeg_prob=0.5, hue=0.1)
    x = _batch()
    a = aug.augment_batch(x, np.random.default_rng(3))
    b = aug.augment_batch(x, np.random.default_rng(3))
    c = aug.augment_batch(x, np.random.default_rng(4))
    assert a.shape == x.shape and a.dtype == torch.float32
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a, x)
    assert torch.equal(x, _batch())  # input untouched


def test_random_state_for_numpy_api():
    X = np.random.default_rng(0).integers(0, 256, (5, 3, 12, 12), dtype=np.uint8)
    a = Augmenter(random_state=7).augment(X)
    assert a.dtype == np.uint8 and a.shape == X.shape
    np.testing.assert_array_equal(a, Augmenter(random_state=7).augment(X))
    assert not np.array_equal(a, Augmenter(random_state=8).augment(X))
    f = Augmenter(random_state=7).augment(X.astype(np.float32) / 255)
    assert f.dtype == np.float32 and f.min() >= 0 and f.max() <= 1
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Augmenter().augment(X.astype(np.float32))


def test_all_off_is_identity():
    x = _batch()
    assert torch.equal(_only().augment_batch(x, np.random.default_rng(0)), x)


def test_flip():
    x = _batch()
    out = _only(flip_prob=1.0).augment_batch(x, np.random.default_rng(0))
    assert torch.equal(out, x.flip(-1))


def test_crop_zooms_in():
    x = torch.zeros(4, 1, 16, 16)
    x[:, :, :, :8] = 1.0  # left half white
    aug = _only(crop_prob=1.0, crop_scale=(0.25, 0.25), crop_ratio=(1.0, 1.0))
    out = aug.augment_batch(x, np.random.default_rng(0))
    assert out.shape == x.shape
    assert not torch.equal(out, x)
    # The 8x8 crop is magnified 2x: the white/black boundary moves or leaves the view.
    assert all(not torch.allclose(o, x[0]) for o in out)
    # A full-size crop is the identity (up to float rounding).
    full = _only(crop_prob=1.0, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0))
    torch.testing.assert_close(full.augment_batch(_batch(), np.random.default_rng(0)), _batch())


def test_jitter_changes_colour_statistics():
    x = _batch(8)
    out = _only(jitter_prob=1.0, brightness=0.5, contrast=0.5, saturation=0.5, hue=0.2)
    y = out.augment_batch(x, np.random.default_rng(0))
    assert (y.mean(dim=(1, 2, 3)) - x.mean(dim=(1, 2, 3))).abs().max() > 0.02
    gray = _only(jitter_prob=1.0).augment_batch(_batch(4, c=1), np.random.default_rng(0))
    assert gray.shape == (4, 1, 16, 16)


def test_blur_smooths():
    x = _batch(4)
    y = _only(blur_prob=1.0, blur_sigma=(1.0, 2.0)).augment_batch(x, np.random.default_rng(0))

    # High-frequency energy drops; mean brightness stays.
    def tv(t):
        return (t[..., 1:] - t[..., :-1]).abs().mean()

    assert tv(y) < 0.5 * tv(x)
    torch.testing.assert_close(y.mean(), x.mean(), atol=0.02, rtol=0)
    tiny = _only(blur_prob=1.0, blur_sigma=(3.0, 3.0)).augment_batch(
        torch.rand(2, 1, 4, 4), np.random.default_rng(0)
    )
    assert tiny.shape == (2, 1, 4, 4)  # kernel wider than the image


def test_jpeg_recompression():
    x = _batch(3)
    y = _only(jpeg_prob=1.0, jpeg_quality=(10, 10)).augment_batch(x, np.random.default_rng(0))
    assert not torch.equal(x, y)
    assert (y - x).abs().mean() > 0.03
    g = _only(jpeg_prob=1.0).augment_batch(_batch(2, c=1), np.random.default_rng(0))
    assert g.shape == (2, 1, 16, 16)
    # 2 and 4 channels: refused up front, whatever the draw (not on some seeds only)
    for c in (2, 4):
        for seed in range(5):
            with pytest.raises(ValueError, match="1- or 3-channel images, got %d" % c):
                _only(jpeg_prob=0.1).augment_batch(torch.rand(2, c, 8, 8),
                                                   np.random.default_rng(seed))


@pytest.mark.parametrize("c", [2, 4])
def test_jitter_on_images_with_alpha(c):
    """Grey + alpha and RGBA images: jittered from their grey / RGB channels, never NaN."""
    x = _batch(4, c=c)
    y = _only(jitter_prob=1.0, contrast=0.5, brightness=0.5).augment_batch(
        x, np.random.default_rng(0))
    assert torch.isfinite(y).all() and not torch.equal(x, y)
    out = Augmenter(jpeg_prob=0.0, random_state=0).augment((x.numpy() * 255).astype(np.uint8))
    assert out.shape == (4, c, 16, 16) and out.max() > 0


def test_bad_params_and_input():
    with pytest.raises(ValueError, match="crop_scale"):
        Augmenter(crop_scale=(0.9, 0.5)).augment_batch(_batch(), np.random.default_rng(0))
    with pytest.raises(ValueError, match="flip_prob"):
        Augmenter(flip_prob=2.0).augment_batch(_batch(), np.random.default_rng(0))
    with pytest.raises(ValueError, match="jpeg_quality"):
        Augmenter(jpeg_quality=(0, 200)).augment_batch(_batch(), np.random.default_rng(0))
    with pytest.raises(ValueError, match="4-D torch tensor"):
        Augmenter().augment_batch(np.zeros((2, 3, 8, 8)), np.random.default_rng(0))


def test_sklearn_params():
    aug = Augmenter(blur_prob=0.3, random_state=0)
    clone_ = clone(aug)
    assert clone_.get_params() == aug.get_params()
    import json

    json.dumps(aug.get_params())  # the classifier saves them as JSON


# ------------------------------------------------------------------ AugmentSampler


def test_sampler_counts_and_alignment():
    X = np.random.default_rng(0).integers(0, 256, (10, 3, 8, 8), dtype=np.uint8)
    y = np.arange(10) % 2
    Xr, yr = AugmentSampler(n_copies=2, random_state=0).fit_resample(X, y)
    assert Xr.shape == (30, 3, 8, 8) and Xr.dtype == np.uint8
    np.testing.assert_array_equal(Xr[:10], X)
    np.testing.assert_array_equal(yr, np.tile(y, 3))
    sampler = AugmentSampler(n_copies=0.5, random_state=0)
    Xh, yh = sampler.fit_resample(X, y)
    assert Xh.shape[0] == 15
    np.testing.assert_array_equal(yh, y[sampler.sample_indices_])
    assert len(set(sampler.sample_indices_[10:].tolist())) == 5  # no repeats below one round
    Xh2, _ = AugmentSampler(n_copies=0.5, random_state=0).fit_resample(X, y)
    np.testing.assert_array_equal(Xh, Xh2)
    X0, y0 = AugmentSampler(n_copies=0).fit_resample(X, y)
    np.testing.assert_array_equal(X0, X)


def test_sampler_layouts_and_errors():
    X = np.random.default_rng(0).random((4, 8, 8, 3)).astype(np.float32)  # channels last
    y = np.array([0, 1, 0, 1])
    Xr, _ = AugmentSampler(random_state=0).fit_resample(X, y)
    assert Xr.shape == (8, 8, 8, 3)
    flat = X.transpose(0, 3, 1, 2).reshape(4, -1)
    Xf, _ = AugmentSampler(image_shape=(3, 8, 8), random_state=0).fit_resample(flat, y)
    assert Xf.shape == (8, 192)
    with pytest.raises(ValueError, match="image_shape"):
        AugmentSampler().fit_resample(flat, y)
    with pytest.raises(ValueError, match="samples"):
        AugmentSampler().fit_resample(X, y[:3])
    with pytest.raises(ValueError, match="n_copies"):
        AugmentSampler(n_copies=-1).fit_resample(X, y)


def test_sampler_in_imblearn_pipeline():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (12, 3, 8, 8), dtype=np.uint8)
    X[6:] //= 3  # class 1 darker
    y = np.r_[np.zeros(6), np.ones(6)].astype(int)
    flat = X.reshape(12, -1).astype(np.float32) / 255.0
    pipe = ImbPipeline(
        [
            ("augment", AugmentSampler(n_copies=2, image_shape=(3, 8, 8), random_state=0)),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    )
    pipe.fit(flat, y)
    assert pipe.named_steps["augment"].sample_indices_.shape == (36,)
    # Samplers run at fit only: prediction sees the 12 inputs unchanged.
    assert pipe.predict(flat).shape == (12,)
    assert pipe.score(flat, y) == 1.0
    assert clone(pipe).get_params()["augment__n_copies"] == 2


def test_augment_batch_takes_unit_images_a_generator_and_finite_ranges():
    """0-255 floats were clamped to white and NaN passed through; an int rng failed with
    "'int' object has no attribute 'random'"; an infinite blur_sigma failed in numpy."""
    x = torch.rand(2, 3, 8, 8)
    rng = np.random.default_rng(0)
    for bad in (x * 255, x.clone().fill_(float("nan"))):
        with pytest.raises(ValueError, match=r"takes images in \[0, 1\]"):
            Augmenter().augment_batch(bad, rng)
    with pytest.raises(TypeError, match="numpy.random.Generator or None; got int"):
        Augmenter().augment_batch(x, 5)
    with pytest.raises(ValueError, match="blur_sigma must be finite"):
        Augmenter(blur_sigma=(0, float("inf")), blur_prob=1).augment_batch(x, rng)
    assert Augmenter().augment_batch(x, None).shape == x.shape


def test_augment_sampler_names_missing_labels():
    """A None or NaN label was copied into the resampled labels."""
    X = np.zeros((4, 3, 8, 8), np.uint8)
    for y in ([0, 1, np.nan, 1], [0, 1, None, 1]):
        with pytest.raises(ValueError, match="missing labels"):
            AugmentSampler(random_state=0).fit_resample(X, y)


def test_crop_keeps_its_area_and_its_ratio_in_pixels():
    """A side capped at the image's shrank the area below crop_scale (0.822 for 0.9) and lost
    the drawn ratio; and the ratio was taken in fractions of a non-square image (a 'square'
    crop of a 32 x 64 image was 32 x 16 pixels)."""
    import torch

    def kept(h, w, scale, ratio):
        x = torch.stack(torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w),
                                       indexing="ij")).unsqueeze(0)
        aug = Augmenter(flip_prob=0, jitter_prob=0, blur_prob=0, jpeg_prob=0, crop_prob=1,
                        crop_scale=(scale, scale), crop_ratio=(ratio, ratio))
        y = aug.augment_batch(x, np.random.default_rng(0))
        fh = float((y[0, 0, -1] - y[0, 0, 0]).mean())  # kept fraction of the height
        fw = float((y[0, 1, :, -1] - y[0, 1, :, 0]).mean())
        return fh * fw, fw * w / (fh * h)

    area, ratio = kept(64, 64, 0.81, 0.9)
    assert area == pytest.approx(0.81, abs=0.02) and ratio == pytest.approx(0.9, abs=0.03)
    area, ratio = kept(32, 64, 0.25, 1.0)
    assert area == pytest.approx(0.25, abs=0.02) and ratio == pytest.approx(1.0, abs=0.05)
    # a ratio that cannot fit at that area: the nearest that fits, the area kept (0.75 at
    # 0.9 of a square image had given an area of 0.82)
    area, ratio = kept(64, 64, 0.9, 2.0)
    assert area == pytest.approx(0.9, abs=0.02) and ratio == pytest.approx(1 / 0.9, abs=0.05)
    area, ratio = kept(64, 64, 0.9, 0.75)
    assert area == pytest.approx(0.9, abs=0.02) and ratio == pytest.approx(0.9, abs=0.05)


def test_jitter_leaves_alpha_alone_and_colours_rgba():
    import torch

    off = dict(flip_prob=0, crop_prob=0, blur_prob=0, jpeg_prob=0, jitter_prob=1)
    rgb = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.6 + 0.2
    rgba = torch.cat([rgb, torch.full((8, 1, 8, 8), 0.7)], 1)
    out = Augmenter(**off, brightness=0.5, contrast=0.5).augment_batch(
        rgba, np.random.default_rng(0))
    assert torch.equal(out[:, 3], rgba[:, 3])
    grey_alpha = torch.cat([rgb[:, :1], torch.full((8, 1, 8, 8), 0.7)], 1)
    out = Augmenter(**off, contrast=0.9).augment_batch(grey_alpha, np.random.default_rng(0))
    assert torch.equal(out[:, 1], grey_alpha[:, 1])
    colour = Augmenter(**off, brightness=0, contrast=0, saturation=0.9, hue=0.3)
    np.testing.assert_allclose(colour.augment_batch(rgba, np.random.default_rng(0))[:, :3],
                               colour.augment_batch(rgb, np.random.default_rng(0)), atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.int64])
def test_sampler_output_keeps_the_input_dtype_and_rows(dtype):
    X = np.random.default_rng(0).random((4, 3, 8, 8))
    X = X if dtype == np.float64 else (X * 255).astype(np.int64)
    Xr, yr = AugmentSampler(random_state=0).fit_resample(X, np.array([0, 1, 0, 1]))
    assert Xr.dtype == dtype and np.array_equal(Xr[:4], X) and len(Xr) == 8
