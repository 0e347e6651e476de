"""Tests of the recommended configuration (tiny images, one epoch)."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline

pytest.importorskip("skface.preprocessing")

from skface import FaceCNNClassifier, make_recommended_pipeline  # noqa: E402
from skface._recommended import (  # noqa: E402
    RECOMMENDED_AUGMENT_PARAMS,
    RECOMMENDED_CLASSIFIER_PARAMS,
    RECOMMENDED_JPEG_QUALITY,
)
from skface.preprocessing import Augmenter, FormatNormalizer, ImageLoader  # noqa: E402


def test_structure_and_params():
    pipe = make_recommended_pipeline(size=48, random_state=3, device="cpu")
    assert isinstance(pipe, Pipeline)
    assert [name for name, _ in pipe.steps] == ["load", "format", "clf"]
    load, fmt, clf = (step for _, step in pipe.steps)
    assert isinstance(load, ImageLoader) and load.size == 48
    assert fmt == "passthrough"  # no re-encoding in the recipe (RESULTS.md, "twenty-third")
    fmt = make_recommended_pipeline(size=48, normalize_format=True).named_steps["format"]
    assert isinstance(fmt, FormatNormalizer) and fmt.quality == RECOMMENDED_JPEG_QUALITY
    assert isinstance(clf, FaceCNNClassifier)
    assert clf.random_state == 3 and clf.device == "cpu"
    # the views at half the loaded side, the middle quarter at its own (full) detail, sides
    # picked from the images fit gets
    assert clf.view_size == "auto"
    for side, sides in ((48, [24, 24, 24, 12]), (128, [64, 64, 64, 32]), (8, [4, 4, 4, 2]),
                        (64, [32, 32, 32, 16])):
        clf.image_shape_ = (3, side, side)
        assert clf._view_sizes() == sides
    clf.image_shape_ = (3, 64, 128)  # not square: the shorter side rules, no view grows
    assert clf._view_sizes() == [32, 32, 32, 16]
    del clf.image_shape_
    for key, value in RECOMMENDED_CLASSIFIER_PARAMS.items():
        assert clf.get_params()[key] == value, key
    assert clf.augment is None  # the recipe trains without augmentation (RESULTS.md)
    clf = make_recommended_pipeline(size=48, augment=True).named_steps["clf"]
    assert isinstance(clf.augment, Augmenter)
    for key, value in RECOMMENDED_AUGMENT_PARAMS.items():
        assert clf.augment.get_params()[key] == value, key


def test_recommended_augmentation_only_blurs():
    """The ``augment=True`` variant blurs and does nothing else (RESULTS.md, "twenty-second
    round"): a left-to-right ramp keeps its orientation, position and values away from the
    border (a Gaussian leaves a linear ramp as it is), which a flip, a crop, colour jitter or
    JPEG re-compression would each change; and about half the images are blurred at all."""
    aug = make_recommended_pipeline(augment=True, random_state=0).named_steps["clf"].augment
    aug = aug.set_params(random_state=0)
    ramp = np.broadcast_to(np.linspace(40, 215, 32, dtype=np.float32), (3, 32, 32))
    X = np.repeat(np.round(ramp)[None].astype(np.uint8), 64, axis=0)
    X[:, :, ::2, ::2] += 1  # a fine checker pattern that blur smooths and nothing else makes
    out = aug.augment(X).astype(np.int16)
    inner = (slice(None), slice(None), slice(4, -4), slice(4, -4))
    assert np.abs(out[inner] - X[inner].astype(np.int16)).max() <= 1
    blurred = np.array([not np.array_equal(o, x) for o, x in zip(out, X)])
    assert 16 <= blurred.sum() <= 48  # blur_prob=0.5 of 64 images


@pytest.mark.parametrize("augment", ["yes", None, 2])
def test_bad_augment_raises(augment):
    with pytest.raises(ValueError, match="augment"):
        make_recommended_pipeline(augment=augment)


@pytest.mark.parametrize("value", ["yes", None, 90])
def test_bad_normalize_format_raises(value):
    with pytest.raises(ValueError, match="normalize_format"):
        make_recommended_pipeline(normalize_format=value)


def test_clone_keeps_params():
    pipe = make_recommended_pipeline(size=32, random_state=0)
    cloned = clone(pipe)
    assert cloned.get_params()["clf__lr"] == pipe.get_params()["clf__lr"]
    assert cloned.get_params()["load__size"] == 32


@pytest.mark.parametrize("size", [0, 4, "64", 64.5])
def test_bad_size_raises(size):
    with pytest.raises(ValueError, match="size"):
        make_recommended_pipeline(size=size)


def _image_files(folder, n=16):
    """``n`` small PNG and JPEG files, odd ones (fake) with a bright square; paths and labels."""
    from PIL import Image

    rng = np.random.default_rng(0)
    paths, y = [], []
    for i in range(n):
        label = i % 2
        img = rng.integers(0, 120, size=(20, 20, 3), dtype=np.uint8)
        if label:
            img[5:15, 5:15] += 100
        path = folder / f"img{i}.{'png' if i % 4 else 'jpg'}"
        Image.fromarray(img).save(path)
        paths.append(str(path))
        y.append(label)
    return paths, y


@pytest.mark.parametrize("augment, normalize_format", [(False, False), (True, False),
                                                       (False, True)])
def test_fit_predict_on_files(tmp_path, augment, normalize_format):
    paths, y = _image_files(tmp_path)
    pipe = make_recommended_pipeline(size=16, augment=augment, normalize_format=normalize_format,
                                     random_state=0, device="cpu")
    pipe.set_params(clf__max_epochs=1, clf__width=4, clf__depth=2)
    pipe.fit(paths, y)
    proba = pipe.predict_proba(paths)
    assert proba.shape == (16, 2)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    assert set(pipe.predict(paths)) <= {0, 1}
    members = pipe.named_steps["clf"].net_.module_.members
    assert [(m.zoom, m.view_size) for m in members] == [(1.0, 8), (4 / 3, 8), (2.0, 8), (4.0, 4)]
    # a second fit with the same seed gives the same model
    again = make_recommended_pipeline(size=16, augment=augment,
                                      normalize_format=normalize_format, random_state=0,
                                      device="cpu")
    again.set_params(clf__max_epochs=1, clf__width=4, clf__depth=2)
    again.fit(paths, y)
    np.testing.assert_allclose(again.predict_proba(paths), proba, rtol=1e-5, atol=1e-6)


def test_the_view_sides_follow_the_loaded_size(tmp_path):
    # built for 32 px, then loaded at 16 px (set_params, or a grid over load__size): the
    # networks see the sides the recipe gives 16 px images, none up-sampled
    paths, y = _image_files(tmp_path)
    pipe = make_recommended_pipeline(size=32, random_state=0, device="cpu")
    pipe.set_params(load__size=16, clf__max_epochs=1, clf__width=4, clf__depth=2)
    pipe.fit(paths, y)
    members = pipe.named_steps["clf"].net_.module_.members
    assert [(m.zoom, m.view_size) for m in members] == [(1.0, 8), (4 / 3, 8), (2.0, 8), (4.0, 4)]


def test_grid_search_over_the_format_step(tmp_path):
    """The "format" step stays in the pipeline when it passes images through, so a grid
    search can compare the recipe with re-encoding, as the docstring says."""
    from sklearn.model_selection import GridSearchCV

    paths, y = _image_files(tmp_path, n=24)
    pipe = make_recommended_pipeline(size=16, random_state=0, device="cpu")
    pipe.set_params(clf__max_epochs=1, clf__width=4, clf__depth=2, clf__n_members=1,
                    clf__views=(1.0,), clf__view_size=None, clf__early_stopping=False)
    grid = GridSearchCV(pipe, {"format": ["passthrough", FormatNormalizer(90)]}, cv=2,
                        error_score="raise")
    grid.fit(paths, y)
    assert len(grid.cv_results_["params"]) == 2
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()


def test_device_may_be_a_torch_device():
    import torch

    pipe = make_recommended_pipeline(16, device=torch.device("cpu"))
    assert pipe[-1].device == torch.device("cpu")
