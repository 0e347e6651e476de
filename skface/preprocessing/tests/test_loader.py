import io
import os
import pickle
import re
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skface.preprocessing import (
    BACKGROUND,
    ImageLoader,
    ImageLoadError,
    image_header,
    load_image,
    load_images,
    open_image,
)
from skface.preprocessing import _loader


def _flatten(X):
    return X.reshape(len(X), -1).astype(np.float32) / 255.0


def _save(img, path, **kw):
    img.save(path, **kw)
    return str(path)


def _rgb_image(rng, size=(16, 16)):
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


@pytest.fixture
def jpegs(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):
        paths.append(_save(_rgb_image(rng, (24, 20)), tmp_path / f"img{i}.jpg", quality=90))
    return paths


def _count_decodes(monkeypatch):
    calls = []
    original = _loader._decode_array

    def counting(path, *args):
        calls.append(path)
        return original(path, *args)

    monkeypatch.setattr(_loader, "_decode_array", counting)
    return calls


# ------------------------------------------------------------------ modes


def _half_alpha(mode_img):
    """Left half transparent, right half opaque."""
    w, h = mode_img.size
    alpha = np.zeros((h, w), dtype=np.uint8)
    alpha[:, w // 2 :] = 255
    return alpha


def test_mode_1_and_l(tmp_path):
    arr = np.zeros((8, 8), dtype=bool)
    arr[:, 4:] = True
    p1 = _save(Image.fromarray(arr).convert("1"), tmp_path / "one.png")
    out = load_image(p1, 8, crop=None)
    assert out.shape == (3, 8, 8)
    assert (out[:, :, :4] == 0).all() and (out[:, :, 4:] == 255).all()

    gray = np.tile(np.arange(0, 256, 32, dtype=np.uint8), (8, 1))
    pl = _save(Image.fromarray(gray, mode="L"), tmp_path / "l.png")
    out = load_image(pl, 8, crop=None)
    np.testing.assert_array_equal(out, np.stack([gray] * 3))
    np.testing.assert_array_equal(load_image(pl, 8, color="gray")[0], gray)


def test_mode_la_composited_on_white(tmp_path):
    lum = np.zeros((8, 8), dtype=np.uint8)  # black everywhere
    img = Image.fromarray(np.dstack([lum, _half_alpha(Image.new("L", (8, 8)))]), mode="LA")
    out = load_image(_save(img, tmp_path / "la.png"), 8, crop=None)
    assert (out[:, :, :4] == 255).all()  # transparent -> background
    assert (out[:, :, 4:] == 0).all()  # opaque black stays black


def test_mode_rgba_partial_alpha(tmp_path):
    px = np.zeros((8, 8, 4), dtype=np.uint8)
    px[..., 0] = 255  # red
    px[..., 3] = 128  # half transparent
    out = load_image(_save(Image.fromarray(px, mode="RGBA"), tmp_path / "a.png"), 8)
    # red over white at alpha 128/255: (255, 127, 127)
    assert out[0].min() == 255
    assert abs(int(out[1].mean()) - 127) <= 1 and abs(int(out[2].mean()) - 127) <= 1
    assert BACKGROUND == (255, 255, 255)


def test_mode_p_with_transparency(tmp_path):
    idx = np.zeros((8, 8), dtype=np.uint8)
    idx[:, 4:] = 1
    img = Image.fromarray(idx, mode="P")
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * (254 * 3))
    path = _save(img, tmp_path / "p.png", transparency=0)
    assert Image.open(path).mode == "P"
    out = load_image(path, 8, crop=None)
    assert (out[:, :, :4] == 255).all()  # transparent red index -> white
    np.testing.assert_array_equal(out[:, 0, 5], [0, 0, 255])
    # Without transparency the palette colour is used.
    out = load_image(_save(img, tmp_path / "p2.png"), 8, crop=None)
    np.testing.assert_array_equal(out[:, 0, 0], [255, 0, 0])


def test_mode_rgb_with_transparency_key(tmp_path):
    px = np.zeros((8, 8, 3), dtype=np.uint8)
    px[:, :4] = (255, 0, 0)
    px[:, 4:] = (0, 255, 0)
    path = _save(Image.fromarray(px), tmp_path / "key.png", transparency=(255, 0, 0))
    out = load_image(path, 8, crop=None)
    assert (out[:, :, :4] == 255).all()
    np.testing.assert_array_equal(out[:, 0, 6], [0, 255, 0])


def test_mode_cmyk(tmp_path):
    px = np.zeros((8, 8, 4), dtype=np.uint8)
    px[..., 1] = 255  # magenta
    px[..., 2] = 255  # yellow -> red
    img = Image.fromarray(px, mode="CMYK")
    out = load_image(_save(img, tmp_path / "c.tif"), 8)
    np.testing.assert_array_equal(out[:, 0, 0], [255, 0, 0])
    out = load_image(_save(img, tmp_path / "c.jpg", quality=95), 8)  # Adobe CMYK JPEG
    assert out[0].mean() > 200 and out[1].mean() < 50 and out[2].mean() < 50


@pytest.mark.parametrize("mode", ["I;16", "I"])
def test_mode_16_bit(tmp_path, mode):
    px = np.zeros((8, 8), dtype=np.uint16)
    px[:, 4:] = 65535
    px[:, :4] = 32896  # 128 * 257
    img = Image.fromarray(px)
    assert img.mode == "I;16"
    if mode == "I":
        img = img.convert("I")
    path = _save(img, tmp_path / f"{mode.replace(';', '')}.{'png' if mode == 'I;16' else 'tif'}")
    assert Image.open(path).mode.startswith("I")
    out = load_image(path, 8, color="gray", crop=None)
    assert (out[0, :, 4:] == 255).all() and (out[0, :, :4] == 128).all()


def test_16_bit_grey_with_a_transparency_key(tmp_path):
    # a 16-bit grey PNG with a tRNS key: its transparent pixels go white, as 8-bit ones do
    px = np.full((8, 8), 32896, dtype=np.uint16)  # 128 * 257
    px[:4] = 43960
    try:
        path = _save(Image.fromarray(px), tmp_path / "key16.png", transparency=43960)
    except OSError:  # older Pillow cannot write this
        pytest.skip("this Pillow cannot write a 16-bit PNG with a transparency key")
    with Image.open(path) as img:
        assert img.mode == "I;16" and img.info["transparency"] == 43960
    out = load_image(path, 8, color="gray", crop=None)
    assert (out[0, :4] == 255).all() and (out[0, 4:] == 128).all()
    out = load_image(path, 8, crop=None)
    assert (out[:, :4] == 255).all() and (out[:, 4:] == 128).all()


def test_mode_i_8_bit_values_and_float(tmp_path):
    px = np.full((8, 8), 200, dtype=np.int32)
    path = _save(Image.fromarray(px, mode="I"), tmp_path / "i8.tif")
    assert (load_image(path, 8, color="gray")[0] == 200).all()
    fpx = np.full((8, 8), 0.5, dtype=np.float32)
    path = _save(Image.fromarray(fpx, mode="F"), tmp_path / "f.tif")
    assert (load_image(path, 8, color="gray")[0] == 128).all()


@pytest.mark.parametrize("bad, count", [(np.nan, 32), (np.inf, 1)])
def test_float_image_with_non_finite_pixels_is_refused(tmp_path, bad, count):
    """NaN pixels became black, and one infinite pixel made a [0, 1] image read as [0, 255]
    data, every 0.5 black; the scan kept such files without a word."""
    from skface.datasets import load_faces

    fpx = np.full((8, 8), 0.5, dtype=np.float32)
    fpx.ravel()[:count] = bad
    for sub in ("real", "fake"):
        (tmp_path / sub).mkdir()
    path = _save(Image.fromarray(fpx, mode="F"), tmp_path / "real" / "f.tif")
    with pytest.raises(ImageLoadError, match=rf"f\.tif.*{count} of its 64 pixels are not finite"):
        load_image(path, 8, color="gray")
    _save(Image.new("RGB", (8, 8)), tmp_path / "fake" / "g.png")
    _save(Image.new("RGB", (8, 8), (9, 9, 9)), tmp_path / "real" / "h.png")
    with pytest.warns(UserWarning, match="skipped 1"):
        data = load_faces(tmp_path / "real", tmp_path / "fake", progress=False)
    assert "not finite" in data.skipped.reasons[0]


@pytest.mark.parametrize(
    "mode, color, expected",
    [
        ("YCbCr", (76, 85, 255), (254, 0, 0)),
        ("LAB", (255, 128, 128), (255, 255, 255)),
        ("RGBX", (1, 2, 3, 0), (1, 2, 3)),
        ("PA", (0, 255), None),
        ("La", (0, 0), (255, 255, 255)),
        ("RGBa", (0, 0, 0, 0), (255, 255, 255)),
    ],
)
def test_normalize_in_memory_modes(mode, color, expected):
    img = Image.new(mode, (4, 4), color)
    out = np.asarray(_loader._normalize_mode(img, "rgb"))
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8
    if expected is not None:
        np.testing.assert_allclose(out[0, 0], expected, atol=2)
    gray = np.asarray(_loader._normalize_mode(img, "gray"))
    assert gray.shape == (4, 4)


def test_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 0, 255)]]
    path = str(tmp_path / "anim.gif")
    frames[0].save(path, save_all=True, append_images=frames[1:])
    out = load_image(path, 8)
    assert out[0].mean() > 240 and out[2].mean() < 15


# ------------------------------------------------------------------ geometry and quality


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_rotates_pixels(tmp_path, orientation):
    px = np.zeros((32, 64, 3), dtype=np.uint8)
    px[..., 2] = 255  # blue ...
    px[:16, :32] = (255, 0, 0)  # ... with a red top-left quadrant (64 wide, 32 high)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = _save(Image.fromarray(px), tmp_path / "rot.jpg", quality=95, exif=exif)
    out = load_image(path, (64, 32) if orientation in (6, 8) else (32, 64), crop=None)
    red = out[0].astype(int) - out[2].astype(int) > 100
    h, w = red.shape
    quad = {
        (0, 0): red[: h // 2, : w // 2].mean(),
        (0, 1): red[: h // 2, w // 2 :].mean(),
        (1, 0): red[h // 2 :, : w // 2].mean(),
        (1, 1): red[h // 2 :, w // 2 :].mean(),
    }
    # 3: rotate 180 -> bottom right; 6: rotate 90 CW -> top right; 8: 90 CCW -> bottom left.
    where = {3: (1, 1), 6: (0, 1), 8: (1, 0)}[orientation]
    assert quad[where] > 0.9
    assert all(v < 0.1 for k, v in quad.items() if k != where)


def _smooth_image(size, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    chans = []
    for _ in range(3):
        f = rng.uniform(1, 6, 4)
        chans.append(
            np.sin(2 * np.pi * f[0] * x + f[1]) * np.cos(2 * np.pi * f[2] * y + f[3])
        )
    arr = (np.stack(chans, -1) * 100 + 128 + rng.normal(0, 8, (size, size, 3))).clip(0, 255)
    return Image.fromarray(arr.astype(np.uint8))


@pytest.mark.parametrize("source", [256, 250, 1000])
def test_draft_matches_high_quality_resize(tmp_path, source):
    img = _smooth_image(source)
    path = _save(img, tmp_path / "big.jpg", quality=95)
    reference = np.asarray(
        Image.open(path).convert("RGB").resize((64, 64), Image.Resampling.LANCZOS)
    ).transpose(2, 0, 1).astype(float)
    fast = load_image(path, 64).astype(float)
    exact = load_image(path, 64, reducing_gap=None).astype(float)
    assert np.abs(fast - reference).mean() < 3.0
    assert np.abs(exact - reference).mean() < 2.0
    # The draft path really decodes at a reduced scale.
    with Image.open(path) as im:
        im.draft("RGB", (64, 64))
        assert im.size[0] < source


def test_center_crop_and_stretch(tmp_path):
    px = np.zeros((20, 40, 3), dtype=np.uint8)  # 40 wide, 20 high
    px[:, :10] = 255  # white left quarter, cut away by the centre crop
    path = _save(Image.fromarray(px), tmp_path / "wide.png")
    centre = load_image(path, 10)
    assert centre.max() == 0
    stretched = load_image(path, 10, crop=None)
    assert stretched[:, :, :2].min() > 200
    assert load_image(path, (5, 12)).shape == (3, 5, 12)


@pytest.mark.parametrize("size", [(6, 3), (4, 3), (640, 479), (999, 1000), (3, 6)])
def test_centre_crop_keeps_the_output_aspect_in_whole_pixels(size):
    # rounding both edges of a .5 box apart gave 480 x 479 or 2 x 3 crops, or none at all
    w, h = size
    box = _loader._crop_box(w, h, 64, 64, "center")
    assert all(type(v) is int for v in box)  # whole pixels, so nothing is rounded after
    left, top, right, bottom = box
    assert right - left == bottom - top == min(w, h)
    assert abs(left - (w - (right - left)) / 2) <= 0.5
    assert abs(top - (h - (bottom - top)) / 2) <= 0.5


def test_a_centre_crop_of_an_odd_image_is_not_stretched(tmp_path):
    px = np.tile(np.array([0, 40, 80, 120, 160, 200], dtype=np.uint8), (3, 1))  # 6 wide, 3 high
    path = _save(Image.fromarray(px), tmp_path / "odd.png")
    out = load_image(path, 3, color="gray", reducing_gap=None)
    assert out[0, 0].tolist() in ([40, 80, 120], [80, 120, 160])


# ------------------------------------------------------------------ the transformer


def test_input_forms(jpegs):
    pd = pytest.importorskip("pandas")
    ref = ImageLoader(8).fit_transform(jpegs)
    assert ref.shape == (6, 3, 8, 8) and ref.dtype == np.uint8
    for form in (
        [Path(p) for p in jpegs],
        np.asarray(jpegs),
        np.asarray(jpegs, dtype=object).reshape(-1, 1),
        pd.Series(jpegs),
        pd.DataFrame({"path": jpegs}),
    ):
        np.testing.assert_array_equal(ImageLoader(8).fit_transform(form), ref)
    gray = ImageLoader(8, color="gray").fit_transform(jpegs)
    assert gray.shape == (6, 1, 8, 8)


@pytest.mark.parametrize(
    "bad, match",
    [
        ([], "empty"),
        ("one.jpg", "single path"),
        ([1, 2], "item 0 is int"),
        (np.array([["a", "b"]]), "1-D array"),
    ],
)
def test_bad_path_containers(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ImageLoader().fit_transform(bad)


def test_bad_params():
    with pytest.raises(ValueError, match="color"):
        ImageLoader(color="cmyk").fit(["a.jpg"])
    with pytest.raises(ValueError, match="size"):
        ImageLoader(size=(0, 3)).fit(["a.jpg"])
    with pytest.raises(ValueError, match="on_error"):
        ImageLoader(on_error="ignore").fit(["a.jpg"])


def test_sklearn_contract(jpegs):
    loader = ImageLoader(8, color="gray", on_error="skip")
    assert loader.fit(jpegs) is loader
    assert clone(loader).get_params() == loader.get_params()
    loader.set_params(size=(4, 6))
    assert loader.transform(jpegs).shape == (6, 1, 4, 6)  # stateless: no refit needed
    assert ImageLoader(8).transform(jpegs).shape == (6, 3, 8, 8)  # works without fit
    again = pickle.loads(pickle.dumps(loader))
    np.testing.assert_array_equal(again.transform(jpegs), loader.transform(jpegs))


def test_pipeline_on_paths(jpegs):
    y = np.array([0, 1] * 3)
    pipe = make_pipeline(ImageLoader(8), FunctionTransformer(_flatten), LogisticRegression())
    pipe.fit(np.asarray(jpegs), y)
    assert pipe.predict(jpegs).shape == (6,)


def test_parallel_equals_sequential(jpegs):
    seq = ImageLoader(8).transform(jpegs)
    par = ImageLoader(8, n_jobs=2).transform(jpegs * 3)
    np.testing.assert_array_equal(par, np.concatenate([seq] * 3))


# ------------------------------------------------------------------ bad files


@pytest.fixture
def bad_files(tmp_path, jpegs):
    data = Path(jpegs[0]).read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(data[: len(data) // 2])
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "text.jpg"
    text.write_text("this is not an image\n" * 20)
    return {
        "truncated": str(truncated),
        "empty": str(empty),
        "text": str(text),
        "missing": str(tmp_path / "missing.jpg"),
    }


@pytest.mark.parametrize(
    "kind, reason",
    [
        ("truncated", "truncated"),
        ("empty", "empty"),
        ("text", "not a recognised image"),
        ("missing", "not found"),
    ],
)
def test_raise_names_file(jpegs, bad_files, kind, reason):
    paths = jpegs[:2] + [bad_files[kind]] + jpegs[2:]
    with pytest.raises(ImageLoadError, match=re.escape(bad_files[kind])) as info:
        ImageLoader(8).fit_transform(paths)
    assert reason in str(info.value)
    assert info.value.path == bad_files[kind]


@pytest.mark.parametrize("keep", [4, 20])
def test_jpeg_cut_inside_its_header_is_called_truncated(jpegs, tmp_path, keep):
    # Pillow cannot even identify such a file; the signature says what it was meant to be
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(Path(jpegs[0]).read_bytes()[:keep])
    with pytest.raises(ImageLoadError, match="corrupt or truncated JPEG") as info:
        ImageLoader(8).fit_transform([cut])
    assert info.value.kind == "unrecognised" and info.value.path == str(cut)
    with pytest.raises(ImageLoadError, match="in-memory image.*corrupt or truncated JPEG"):
        open_image(io.BytesIO(cut.read_bytes()))


def test_raise_from_parallel_workers(jpegs, bad_files):
    paths = jpegs + [bad_files["text"]] + jpegs
    with pytest.raises(ImageLoadError, match=re.escape(bad_files["text"])):
        ImageLoader(8, n_jobs=2).fit_transform(paths)


def test_error_survives_pickling():
    # Errors raised in process workers (joblib loky backend) cross a pickle boundary.
    err = pickle.loads(pickle.dumps(ImageLoadError("a/b.jpg", "truncated")))
    assert isinstance(err, ImageLoadError) and err.path == "a/b.jpg" and "b.jpg" in str(err)


def test_skip_reports_and_aligns(jpegs, bad_files):
    paths = [jpegs[0], bad_files["truncated"], jpegs[1], bad_files["empty"],
             bad_files["text"], jpegs[2], bad_files["missing"]]
    loader = ImageLoader(8, on_error="skip")
    with pytest.warns(UserWarning, match=r"skipped 4 of 7 files.*truncated\.jpg"):
        X = loader.fit_transform(paths)
    assert X.shape == (3, 3, 8, 8)
    np.testing.assert_array_equal(X, ImageLoader(8).transform(jpegs[:3]))
    np.testing.assert_array_equal(loader.valid_mask_, [1, 0, 1, 0, 0, 1, 0])
    assert [s[0] for s in loader.skipped_] == [1, 3, 4, 6]
    assert [s[1] for s in loader.skipped_] == [paths[i] for i in (1, 3, 4, 6)]
    assert all(isinstance(s[2], str) and s[2] for s in loader.skipped_)

    y = np.arange(7)
    with pytest.warns(UserWarning):
        X2, y2, skipped = load_images(paths, y, size=8)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, [0, 2, 5])
    assert len(skipped) == 4
    with pytest.raises(ValueError, match="labels"):
        load_images(jpegs, y, size=8)

    # A clean run resets the report.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loader.transform(jpegs)
    assert loader.skipped_ == [] and loader.valid_mask_.all()


def test_decompression_bomb(tmp_path, monkeypatch):
    path = _save(Image.new("RGB", (64, 64)), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ImageLoadError, match=r"bomb\.png.*decompression bomb"):
        open_image(path)
    with pytest.raises(ImageLoadError, match="decompression bomb"):
        ImageLoader(8).fit_transform([path])


def test_header_bytes_and_max_pixels(tmp_path, bad_files):
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(_smooth_image(40), tmp_path / "h.jpg", quality=75, exif=exif)
    head = image_header(path)
    assert head["format"] == "JPEG" and (head["width"], head["height"]) == (40, 40)
    assert head["orientation"] == 6 and head["has_exif"] and head["n_frames"] == 1
    assert set(head["quantization"]) == {0, 1} and len(head["quantization"][0]) == 64
    png = image_header(_save(Image.new("LA", (5, 3)), tmp_path / "h.png"))
    assert png["quantization"] is None and png["mode"] == "LA" and not png["has_exif"]

    data = Path(path).read_bytes()  # callers may hash the bytes and decode the same buffer
    from_bytes = np.asarray(open_image(io.BytesIO(data), color="gray", draft_size=(10, 10)))
    assert from_bytes.shape == (10, 10)
    with pytest.raises(ImageLoadError, match="in-memory image.*not a recognised"):
        open_image(io.BytesIO(b"nope" * 10))
    with pytest.raises(ImageLoadError, match=r"h\.jpg.*max_pixels=100"):
        open_image(path, max_pixels=100)
    with pytest.raises(ImageLoadError, match="max_pixels"):
        image_header(path, max_pixels=100)
    with pytest.raises(ImageLoadError, match="empty"):
        image_header(bad_files["empty"])


# ------------------------------------------------------------------ cache


def test_cache_hit_and_invalidation(tmp_path, jpegs, monkeypatch):
    calls = _count_decodes(monkeypatch)
    cache = tmp_path / "cache"
    loader = ImageLoader(8, memory=str(cache))
    first = loader.fit_transform(jpegs)
    assert len(calls) == 6
    np.testing.assert_array_equal(first, ImageLoader(8).transform(jpegs))
    assert len(calls) == 12

    calls.clear()
    again = clone(loader).fit_transform(jpegs[::-1])  # any order, a fresh clone
    assert calls == []
    np.testing.assert_array_equal(again, first[::-1])

    # Edit one file: new content, size and mtime -> decoded again, others still cached.
    _save(Image.new("RGB", (30, 30), (0, 255, 0)), jpegs[2], quality=80)
    st = os.stat(jpegs[2])
    os.utime(jpegs[2], ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    edited = loader.transform(jpegs)
    assert calls == [jpegs[2]]
    assert edited[2, 1].mean() > 200 and edited[2, 0].mean() < 40
    np.testing.assert_array_equal(np.delete(edited, 2, 0), np.delete(first, 2, 0))

    # Replaced by a file of the same size and modification time (cp -p, rsync -t, an archive):
    # a new inode and status-change time, so decoded again.
    calls.clear()
    st = os.stat(jpegs[3])
    other = tmp_path / "other.jpg"
    _save(Image.new("RGB", (30, 30), (0, 0, 255)), other, quality=80)
    with open(other, "r+b") as fh:  # pad to the old size: only the pixels differ
        fh.truncate(st.st_size)
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, jpegs[3])
    assert os.stat(jpegs[3]).st_size == st.st_size
    replaced = loader.transform(jpegs)
    assert calls == [jpegs[3]]
    assert replaced[3, 2].mean() > 200 and replaced[3, 0].mean() < 40

    # Other parameters are other cache entries.
    calls.clear()
    assert ImageLoader(6, memory=str(cache)).transform(jpegs).shape == (6, 3, 6, 6)
    assert len(calls) == 6

    # A joblib.Memory is accepted (as in Pipeline(memory=...)).
    calls.clear()
    ImageLoader(8, memory=joblib.Memory(str(cache), verbose=0)).transform(jpegs)
    assert calls == []
    # memory=Memory(None) means no cache.
    ImageLoader(8, memory=joblib.Memory(None)).transform(jpegs)
    assert len(calls) == 6


def test_pack_cache_keeps_keys_with_zero_bytes(tmp_path):
    cache = _loader._PackCache(tmp_path, {"test": 1})
    keys = [b"\x00" * 16, b"a" + b"\x00" * 15, b"\x00" * 15 + b"b"]
    images = np.arange(3 * 2, dtype=np.uint8).reshape(3, 1, 1, 2)
    cache.put(keys, images)
    fresh = _loader._PackCache(tmp_path, {"test": 1})
    out = np.zeros((5, 1, 1, 2), dtype=np.uint8)
    hits = fresh.get(keys[::-1] + [b"x" * 16, None], out)
    assert hits.tolist() == [True, True, True, False, False]
    np.testing.assert_array_equal(out[:3], images[::-1])


def test_pack_cache_maps_a_bounded_number_of_packs(tmp_path, monkeypatch):
    """Every pack read stayed memory-mapped, each holding a file descriptor: a process with
    1,100 packs ran out of descriptors (packs past the limit were decoded again on every
    call, and subprocesses failed to start)."""
    monkeypatch.setattr(_loader, "_MAX_MAPPED", 4)
    cache = _loader._PackCache(tmp_path, {"test": "fds"})
    keys = [bytes([k]) * 16 for k in range(30)]
    for k in range(0, 30, 3):  # ten packs of three images
        cache.put(keys[k:k + 3], np.full((3, 1, 1, 1), k, dtype=np.uint8))
    out = np.zeros((30, 1, 1, 1), dtype=np.uint8)
    for _ in range(2):
        assert cache.get(keys, out).all()
        np.testing.assert_array_equal(out.ravel(), np.repeat(np.arange(0, 30, 3), 3))
        assert len(_loader._INDEX[str(cache.folder)]["maps"]) <= 4


def test_cache_takes_a_numpy_reducing_gap(tmp_path, jpegs):
    """reducing_gap=np.float32(2.0) failed with 'not JSON serializable', only with memory."""
    plain = ImageLoader(8, reducing_gap=np.float32(2.0)).fit_transform(jpegs)
    cached = ImageLoader(8, reducing_gap=np.float32(2.0), memory=str(tmp_path))
    np.testing.assert_array_equal(cached.fit_transform(jpegs), plain)


@pytest.mark.parametrize("fail_on", [1, 2])  # writing the images, then the keys
def test_pack_cache_leaves_no_file_when_ctrl_c_cuts_a_write(tmp_path, monkeypatch, fail_on):
    cache = _loader._PackCache(tmp_path, {"test": 1})
    before = set(tmp_path.iterdir())
    calls = {"n": 0}
    save = np.save

    def interrupted(fh, array):
        calls["n"] += 1
        if calls["n"] == fail_on:
            raise KeyboardInterrupt
        save(fh, array)

    monkeypatch.setattr(_loader.np, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache.put([b"k" * 16], np.zeros((1, 1, 1, 2), dtype=np.uint8))
    assert set(tmp_path.iterdir()) == before


def test_interrupted_run_keeps_finished_chunks(tmp_path, jpegs, monkeypatch):
    calls = []
    original = _loader._decode_array

    def interrupted(path, *args):
        calls.append(path)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return original(path, *args)

    monkeypatch.setattr(_loader, "_decode_array", interrupted)
    loader = ImageLoader(8, memory=tmp_path / "cache")
    with pytest.raises(KeyboardInterrupt):
        loader.transform(jpegs)  # 6 files in chunks of 2: two chunks finish first
    calls.clear()
    X = loader.transform(jpegs)
    assert calls == jpegs[4:]
    monkeypatch.setattr(_loader, "_decode_array", original)
    np.testing.assert_array_equal(X, ImageLoader(8).transform(jpegs))


def test_cache_skips_are_not_cached(tmp_path, jpegs, bad_files, monkeypatch):
    calls = _count_decodes(monkeypatch)
    loader = ImageLoader(8, memory=tmp_path / "c", on_error="skip")
    paths = jpegs[:2] + [bad_files["text"]]
    with pytest.warns(UserWarning):
        loader.transform(paths)
    calls.clear()
    with pytest.warns(UserWarning, match="text.jpg"):
        X = loader.transform(paths)
    assert calls == [bad_files["text"]] and X.shape[0] == 2


def test_grid_search_decodes_each_image_once(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    paths = []
    for i in range(12):
        px = np.full((12, 12, 3), 40 if i % 2 else 210, dtype=np.uint8)
        px = (px + rng.integers(0, 30, px.shape)).astype(np.uint8)
        paths.append(_save(Image.fromarray(px), tmp_path / f"f{i}.png"))
    y = np.arange(12) % 2
    calls = _count_decodes(monkeypatch)
    pipe = make_pipeline(
        ImageLoader(6, memory=tmp_path / "cache"),
        FunctionTransformer(_flatten),
        LogisticRegression(),
    )
    search = GridSearchCV(pipe, {"logisticregression__C": [0.1, 1.0, 10.0]}, cv=3)
    search.fit(np.asarray(paths), y)
    assert sorted(calls) == sorted(paths)
    assert search.best_score_ == 1.0


def test_verbose_progress_and_unusable_cache(tmp_path, jpegs, capsys):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    with pytest.warns(UserWarning, match="cannot use the cache"):
        X = ImageLoader(8, verbose=1, memory=str(blocker)).transform(jpegs)
    assert X.shape == (6, 3, 8, 8)
    assert "Decoding images" in capsys.readouterr().err


def test_sklearn_check_suite_does_not_apply():
    # The generic checks feed numeric 2-D arrays; a loader of file paths declares string input,
    # and scikit-learn skips its generic suite for that. The contract is tested above instead
    # (stateless fit, clone, get/set_params, pickling, pipelines, grid search).
    from sklearn.utils.estimator_checks import check_estimator

    with pytest.warns(UserWarning, match="Can't test estimator ImageLoader"):
        results = check_estimator(ImageLoader(), on_fail=None)
    assert [r["check_name"] for r in results] == ["check_estimator_cloneable"]
    assert all(r["status"] == "passed" for r in results)
    tags = ImageLoader().__sklearn_tags__()
    assert tags.input_tags.string and not tags.requires_fit


@pytest.mark.data
def test_real_faces(faces_dir):
    files = sorted(faces_dir.glob("*/*/*.jpg"))[::300]
    X = ImageLoader(32).fit_transform(files)
    assert X.shape == (len(files), 3, 32, 32)
    assert 20 < X.mean() < 235


# ------------------------------------------------------------------ helpers for skface.datasets


def test_sniff_format_and_formats_restriction(tmp_path):
    rng = np.random.default_rng(3)
    img = _rgb_image(rng, (12, 10))
    blobs = {}
    for fmt in ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP"):
        buf = io.BytesIO()
        img.save(buf, format=fmt)
        blobs[fmt] = buf.getvalue()
        assert _loader.sniff_format(blobs[fmt][:16]) == fmt
    assert _loader.sniff_format(b"hello world, not an image") is None
    assert _loader.sniff_format(b"") is None
    # BigTIFF (which Pillow reads) too: the scan called it "not an image"
    assert _loader.sniff_format(b"II+\x00\x08\x00\x00\x00" + bytes(8)) == "TIFF"
    assert _loader.sniff_format(b"MM\x00+\x00\x08\x00\x00" + bytes(8)) == "TIFF"
    # formats= limits Pillow to the named plugins: a PNG offered as JPEG is not identified.
    with pytest.raises(ImageLoadError, match="not a recognised") as info:
        open_image(io.BytesIO(blobs["PNG"]), formats=["JPEG"])
    assert info.value.kind == "unrecognised"
    assert image_header(io.BytesIO(blobs["PNG"]), formats=["PNG"])["format"] == "PNG"


def test_open_image_with_header_reads_one_open(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate: the header keeps the stored size, the image is turned
    path = _save(_rgb_image(np.random.default_rng(4), (200, 120)), tmp_path / "r.jpg",
                 quality=75, exif=exif)
    data = Path(path).read_bytes()
    grey, head = open_image(io.BytesIO(data), color="gray", draft_size=(16, 16),
                            with_header=True)
    assert head == image_header(path)
    assert (head["width"], head["height"]) == (200, 120) and head["quantization"]
    assert grey.mode == "L" and grey.size == (120 // 4, 200 // 4)  # 1/4 DCT scale, rotated


def test_error_kinds_and_full_decode_check(tmp_path, bad_files):
    buf = io.BytesIO()
    _rgb_image(np.random.default_rng(5), (64, 64)).save(buf, "JPEG", quality=90)
    cut = buf.getvalue()[: len(buf.getvalue()) // 2]
    # the header is fine, the pixels are not: a reduced-scale decode still finds the damage
    assert image_header(io.BytesIO(cut))["width"] == 64
    with pytest.raises(ImageLoadError, match="truncated") as info:
        open_image(io.BytesIO(cut), color="gray", draft_size=(8, 8))
    assert info.value.kind == "corrupt" and isinstance(info.value.__cause__, OSError)
    kinds = {"truncated": "corrupt", "empty": "empty", "text": "unrecognised",
             "missing": "missing"}
    for name, kind in kinds.items():
        with pytest.raises(ImageLoadError) as info:
            open_image(bad_files[name])
        assert info.value.kind == kind, name
    with pytest.raises(ImageLoadError,
                       match=r"64x64 = 4096 pixels exceeds max_pixels=4095") as info:
        open_image(io.BytesIO(buf.getvalue()), max_pixels=4095)
    assert info.value.kind == "bomb"
    err = pickle.loads(pickle.dumps(ImageLoadError("a.jpg", "too big", "bomb")))
    assert err.kind == "bomb" and err.reason == "too big"


def test_gray_scales_16_bit_without_clipping(tmp_path):
    # Pillow's own convert("L") clips 16-bit values at 255 (a white image); the loader scales.
    px = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    path = _save(Image.fromarray(px), tmp_path / "ramp16.png")
    grey = np.asarray(open_image(path, color="gray"), dtype=np.int64)
    np.testing.assert_allclose(grey, np.rint(px / 257.0), atol=1)
    assert grey.min() == 0 and grey.max() == 255 and 100 < grey.mean() < 155


def test_open_image_names_a_bad_argument(jpegs):
    """A bad draft_size, max_pixels or formats was reported as a corrupt image file."""
    from skface.preprocessing import image_header, open_image

    path = jpegs[0]
    for kwargs, match in (({"draft_size": 5}, "draft_size must be"),
                          ({"draft_size": (0, 0)}, "draft_size must be"),
                          ({"max_pixels": "100"}, "max_pixels must be"),
                          ({"max_pixels": 0}, "max_pixels must be"),
                          ({"formats": "PNG"}, "formats must be a list"),
                          ({"formats": ["XYZ"]}, r"formats names \['XYZ'\]")):
        with pytest.raises(ValueError, match=match):
            open_image(path, **kwargs)
    with pytest.raises(ValueError, match="max_pixels must be"):
        image_header(path, max_pixels=-1)
    assert open_image(path, draft_size=(8, 8), max_pixels=10**6, formats=["JPEG"]).size


def test_jpeg_roundtrip_takes_uint8_images_and_a_quality_only():
    """Floats were cast to uint8 (0.7 became black, 300 wrapped to 44) and any quality went
    to Pillow; a (3, H, W) array failed as 'cannot write mode RGBA as JPEG'."""
    from skface.preprocessing import FormatNormalizer, jpeg_roundtrip

    image = np.full((8, 8, 3), 179, dtype=np.uint8)
    for bad, match in ((np.full((8, 8), 0.7), "takes uint8 pixels"),
                       (np.zeros((3, 4, 4), np.uint8), r"\(H, W\) or \(H, W, 3\)"),
                       (np.zeros((0, 4), np.uint8), r"\(H, W\) or \(H, W, 3\)")):
        with pytest.raises(ValueError, match=match):
            jpeg_roundtrip(bad, 90)
    for quality in (0, 101, -5, float("nan"), None, 2.5):
        with pytest.raises(ValueError, match="quality must be an int in"):
            jpeg_roundtrip(image, quality)
    out, nbytes = jpeg_roundtrip(image, 90.0)
    assert abs(int(out.mean()) - 179) <= 2 and nbytes > 0
    with pytest.raises(ValueError, match="'quality' parameter"):
        FormatNormalizer(quality=500).encoded_sizes(np.zeros((2, 3, 8, 8), np.uint8))


def test_a_generator_of_paths_is_read_once(jpegs):
    """fit used the generator up, so fit_transform(generator) said 'no file paths'."""
    from skface.preprocessing import load_images

    expected = ImageLoader(8).fit_transform(list(jpegs))
    np.testing.assert_array_equal(ImageLoader(8).fit_transform(p for p in jpegs), expected)
    np.testing.assert_array_equal(load_images((p for p in jpegs), size=8)[0], expected)


def test_a_cache_that_cannot_be_written_warns_once(tmp_path, jpegs, monkeypatch):
    """Every chunk of every call warned, each message naming another temporary file, so the
    warnings filter never held the repeats back."""
    import errno

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_loader.np, "save", full_disk)
    loader = ImageLoader(8, memory=str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = loader.fit_transform(jpegs)
        loader.fit_transform(jpegs)
    said = [w for w in caught if "could not write its cache" in str(w.message)]
    assert len(said) == 1 and "No space left on device" in str(said[0].message)
    monkeypatch.undo()
    np.testing.assert_array_equal(first, ImageLoader(8).fit_transform(jpegs))


def test_a_memory_object_without_a_folder_is_named(jpegs):
    """An object with cache() but no location passed the parameter check and failed with
    "'MyMemory' object has no attribute 'location'"."""

    class MyMemory:
        def cache(self, func):
            return func

    with pytest.raises(ValueError, match="has no folder"):
        ImageLoader(8, memory=MyMemory()).fit_transform(jpegs)


def test_pack_cache_removes_what_a_killed_writer_left(tmp_path):
    """Temporary files and images without keys from a process killed mid-write (SIGKILL, the
    OOM killer) stayed for ever; fresh ones, perhaps another process's write in progress, stay."""
    cache = _loader._PackCache(tmp_path, {"test": "leftovers"})
    keys = [bytes([7]) * 16]
    cache.put(keys, np.full((1, 1, 1, 1), 7, np.uint8))
    folder = cache.folder
    old = [folder / ".pack-dead.npy.tmp", folder / "pack-dead.npy"]
    fresh = [folder / ".pack-busy.npy.tmp", folder / "pack-busy.npy"]
    for path in old + fresh:
        path.write_bytes(b"x")
    for path in old:
        os.utime(path, (1_000_000_000, 1_000_000_000))  # 2001
    _loader._PackCache(tmp_path, {"test": "leftovers"})  # once per folder and process
    assert all(p.exists() for p in old)
    _loader._CLEANED.discard(str(folder))  # as in a new process
    again = _loader._PackCache(tmp_path, {"test": "leftovers"})
    assert not any(p.exists() for p in old) and all(p.exists() for p in fresh)
    out = np.zeros((1, 1, 1, 1), np.uint8)
    assert again.get(keys, out).all() and out.item() == 7


def test_a_pack_cut_short_on_disk_while_mapped_is_decoded_again(tmp_path):
    """Reading a mapped pack that was truncated on disk killed the process (SIGBUS); it is
    now a cache miss. Run in a subprocess, so that a crash fails this test only."""
    import subprocess
    import sys

    script = f"""
import numpy as np, os
from skface.preprocessing import _loader
cache = _loader._PackCache({str(tmp_path)!r}, {{"test": "sigbus"}})
keys = [bytes([k]) * 16 for k in range(40)]
cache.put(keys, np.full((40, 3, 64, 64), 9, np.uint8))
out = np.zeros((40, 3, 64, 64), np.uint8)
assert cache.get(keys, out).all()  # the pack is mapped now
pack = next(p for p in os.listdir(cache.folder) if p.endswith(".npy") and "keys" not in p)
os.truncate(cache.folder / pack, 128)
print(int(cache.get(keys, out).sum()))
"""
    root = Path(_loader.__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"


def test_a_damaged_pack_does_not_shadow_a_good_copy(tmp_path):
    """A damaged pack registered after a good copy of the same images took their keys, so
    every new process decoded those images again (and wrote yet another pack)."""
    keys = [bytes([k]) * 16 for k in range(4)]
    cache = _loader._PackCache(tmp_path, {"test": "shadow"})
    cache.put(keys, np.full((4, 1, 2, 2), 5, np.uint8))
    good = {p.name for p in cache.folder.glob("pack-*")}
    cache.put(keys, np.full((4, 1, 2, 2), 5, np.uint8))
    second = sorted({p.name for p in cache.folder.glob("pack-*")} - good)
    for name in second:  # named to be read last, then its images cut short
        os.replace(cache.folder / name, cache.folder / name.replace("pack-", "pack-ffff"))
    damaged = next(cache.folder.glob("pack-ffff*[0-9a-f].npy"))
    os.truncate(damaged, damaged.stat().st_size - 8)
    _loader._INDEX.pop(str(cache.folder), None)  # as in a new process
    out = np.zeros((4, 1, 2, 2), np.uint8)
    fresh = _loader._PackCache(tmp_path, {"test": "shadow"})
    assert fresh.get(keys, out).all() and (out == 5).all()


@pytest.mark.parametrize("damage", ["images", "keys"])
def test_a_damaged_pack_is_deleted_once_old(tmp_path, damage):
    """A pack that cannot be read was skipped by every new process, for ever; once older than
    an hour it is deleted, and its images are stored again in a new pack."""
    keys = [bytes([k]) * 16 for k in range(3)]
    cache = _loader._PackCache(tmp_path, {"test": "damaged"})
    cache.put(keys, np.full((3, 1, 2, 2), 4, np.uint8))
    images = next(p for p in cache.folder.glob("pack-*.npy") if not p.name.endswith("keys.npy"))
    keys_file = images.with_name(images.name[: -len(".npy")] + ".keys.npy")
    target = images if damage == "images" else keys_file
    os.truncate(target, target.stat().st_size - 8)
    out = np.zeros((3, 1, 2, 2), np.uint8)
    _loader._INDEX.pop(str(cache.folder), None)  # as in a new process
    assert not cache.get(keys, out).any()
    assert images.exists() and keys_file.exists()  # young: perhaps still arriving
    for path in (images, keys_file):
        os.utime(path, (1_000_000_000, 1_000_000_000))  # 2001
    _loader._INDEX.pop(str(cache.folder), None)
    assert not cache.get(keys, out).any()
    assert not images.exists() and not keys_file.exists()
    cache.put(keys, np.full((3, 1, 2, 2), 4, np.uint8))
    _loader._INDEX.pop(str(cache.folder), None)
    assert cache.get(keys, out).all() and (out == 4).all()


def test_pipeline_set_output_works_with_image_steps(jpegs):
    """Pipeline.set_output asks every step, and ImageLoader and FormatNormalizer had no
    set_output: 'Unable to configure output for ImageLoader', even for "default"."""
    pd = pytest.importorskip("pandas")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from skface import make_recommended_pipeline
    from skface.preprocessing import FormatNormalizer, SpectrumFeatures

    pipe = make_pipeline(ImageLoader(16), FormatNormalizer(), SpectrumFeatures(n_bins=4),
                         LogisticRegression())
    assert pipe.set_output(transform="pandas") is pipe
    y = [0, 1] * 3
    pipe.fit(jpegs, y)
    assert pipe.predict(jpegs).shape == (6,)
    images = pipe[:2].transform(jpegs)
    assert isinstance(images, np.ndarray) and images.shape == (6, 3, 16, 16)
    assert isinstance(pipe[:3].transform(jpegs), pd.DataFrame)  # features do become a frame
    make_recommended_pipeline(16).set_output(transform="default")
    with pytest.raises(ValueError, match="transform must be 'default', 'pandas'"):
        ImageLoader(16).set_output(transform="frame")


def test_load_images_names_a_label_argument_it_cannot_read(jpegs):
    with pytest.raises(ValueError, match=r"single value 5.*load_images\(paths, size=5\)"):
        load_images(jpegs, 5)
    with pytest.raises(ValueError, match="one label per sample"):
        load_images(jpegs, np.zeros((6, 3)))
    X, y, skipped = load_images(jpegs, np.arange(6)[:, None], size=8)
    assert X.shape == (6, 3, 8, 8) and y.tolist() == list(range(6)) and skipped == []


def _png_chunk(kind, data):
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _raw_png(path, ihdr, rows, trns=None):
    """A PNG written byte by byte (filter 0 rows), to reach bit depths Pillow does not save."""
    import struct
    import zlib

    w, h, bits, colour = ihdr
    data = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits,
                                                                   colour, 0, 0, 0))
            + (_png_chunk(b"tRNS", trns) if trns is not None else b"")
            + _png_chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + r for r in rows)))
            + _png_chunk(b"IEND", b""))
    Path(path).write_bytes(data)
    return path


def test_a_corrupt_png_is_refused_with_its_header_too(tmp_path):
    """Reading the header (getexif) decoded a PNG and swallowed the error; the load then did
    nothing and the half-decoded pixels were kept (the dataset scan accepted the file)."""
    rng = np.random.default_rng(0)
    path = Path(_save(Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)),
                      tmp_path / "c.png"))
    data = bytearray(path.read_bytes())
    at = data.index(b"IDAT") + 4 + 500
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ImageLoadError, match="c.png"):
        open_image(path)
    with pytest.raises(ImageLoadError, match="c.png"):
        open_image(path, with_header=True)


def test_image_header_does_not_decode_a_png(tmp_path, monkeypatch):
    path = _save(Image.new("RGB", (40, 30), (10, 20, 30)), tmp_path / "h.png")
    calls = []
    real_load = Image.Image.load

    def spy(self):
        calls.append(self.tile)
        return real_load(self)

    from PIL import ImageFile

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    head = image_header(path)
    assert head["width"] == 40 and head["has_exif"] is False
    assert not [t for t in calls if t], "image_header decoded the pixels"


def test_jpeg_with_a_multi_picture_extension_is_read_as_jpeg(tmp_path):
    """Phone JPEGs with an MPO extension were not DCT-drafted (other pixels than the same
    JPEG) and had no quality estimate."""
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))
    plain = tmp_path / "plain.jpg"
    img.save(plain, quality=80)
    mpo = tmp_path / "multi.jpg"
    img.save(mpo, format="MPO", save_all=True, append_images=[img.resize((64, 64))],
             quality=80)
    assert Image.open(mpo).format == "MPO"
    np.testing.assert_array_equal(load_image(mpo, 32), load_image(plain, 32))
    from skface.datasets._decode import inspect_image

    info = inspect_image(mpo, with_hash=False)
    assert info["jpeg_quality"] == inspect_image(plain, with_hash=False)["jpeg_quality"]


def test_dark_16_bit_grey_png_is_scaled_as_16_bit(tmp_path):
    """Pillow < 10.3 opened these as mode I, read as 8-bit data when no value exceeds 255."""
    px = np.array([[0, 64, 128, 255]] * 2, dtype=np.uint16)
    path = _raw_png(tmp_path / "d.png", (4, 2, 16, 0), [r.astype(">u2").tobytes() for r in px])
    assert np.asarray(open_image(path, color="gray"))[0].tolist() == [0, 0, 0, 1]


def test_a_tiff_without_exif_is_not_said_to_have_it(tmp_path):
    path = tmp_path / "t.tif"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(path)
    assert image_header(path)["has_exif"] is False
    exif = Image.Exif()
    exif[0x010F] = "Camera Maker"  # Make, in the EXIF sense
    jpg = tmp_path / "e.jpg"
    Image.new("RGB", (8, 8)).save(jpg, exif=exif)
    assert image_header(jpg)["has_exif"] is True


def test_transparency_keys_of_other_bit_depths(tmp_path):
    # 2- and 4-bit grey: the key is in sample units (0..3, 0..15), the pixels are scaled to 0..255
    for bits in (2, 4):
        top = 2 ** bits - 1
        vals = [0, 1, top, 1]
        packed = int("".join(format(v, f"0{bits}b") for v in vals).ljust(8 * (
            -(-len(vals) * bits // 8)), "0"), 2).to_bytes(-(-len(vals) * bits // 8), "big")
        path = _raw_png(tmp_path / f"g{bits}.png", (4, 1, bits, 0), [packed],
                        trns=(1).to_bytes(2, "big"))
        got = np.asarray(open_image(path, color="gray"))[0].tolist()
        assert got == [0, 255, 255, 255], (bits, got)  # key 1 transparent (white), 0 black
    # 16-bit RGB: the key is 16-bit, the pixels are reduced to 8 bits
    key = (200, 100, 50)
    px = np.full((1, 2, 3), 30000, np.uint16)
    px[0, 0] = key
    px[0, 1] = (200 * 257, 100 * 257, 50 * 257)  # opaque; its 8-bit value is the key's numbers
    import struct

    path = _raw_png(tmp_path / "rgb16.png", (2, 1, 16, 2), [px[0].astype(">u2").tobytes()],
                    trns=struct.pack(">HHH", *key))
    got = np.asarray(open_image(path))[0]
    assert got[0].tolist() == [255, 255, 255]  # the transparent pixel, on white
    assert got[1].tolist() == [200, 100, 50]


def test_jpeg_orientation_kept_in_xmp_only_is_applied(tmp_path):
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
           b'02/22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/"'
           b' tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>')
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    path = tmp_path / "x.jpg"
    img.save(path, xmp=xmp)
    if Image.open(path).getexif().get(0x0112) != 6:
        pytest.skip("this Pillow does not read orientation from XMP")
    assert open_image(path).size == (20, 40)


def test_load_image_names_a_bad_reducing_gap(tmp_path):
    path = _save(Image.new("RGB", (40, 40)), tmp_path / "p.png")
    for bad in (0.5, -1, "x"):
        with pytest.raises((ValueError, TypeError), match="reducing_gap"):
            load_image(path, 16, reducing_gap=bad)


def test_parallel_interrupted_run_keeps_chunks_that_finished_first(tmp_path, jpegs,
                                                                   monkeypatch):
    """Chunks were stored in input order: a Ctrl-C while the first (slow) one ran lost every
    later chunk that had finished."""
    import time

    original = _loader._decode_array

    def slow_first(path, *args):
        if path == jpegs[0]:
            time.sleep(1.0)
            raise KeyboardInterrupt
        return original(path, *args)

    monkeypatch.setattr(_loader, "_decode_array", slow_first)
    loader = ImageLoader(8, memory=tmp_path / "cache", n_jobs=2)
    with pytest.raises(KeyboardInterrupt):
        loader.transform(jpegs)
    monkeypatch.setattr(_loader, "_decode_array", original)
    calls = _count_decodes(monkeypatch)
    X = loader.transform(jpegs)
    assert calls == jpegs[:1]  # only the interrupted chunk is decoded again
    np.testing.assert_array_equal(X, ImageLoader(8).transform(jpegs))


def test_a_rotated_tiffs_header_is_the_same_from_both_readers(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "r.tif"
    Image.new("RGB", (40, 20), (1, 2, 3)).save(path, exif=exif)
    _, head = open_image(path, with_header=True)
    assert head == image_header(path) and head["orientation"] == 6
