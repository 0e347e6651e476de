"""Experiments with the real FaceCNNClassifier (tiny images, 2 epochs)."""

import os
import warnings

import numpy as np
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from skface import FaceCNNClassifier
from skface.experiments import (
    attention_maps,
    find_face_classifier,
    grad_cam,
    plot_attention,
    plot_training_curves,
    run_ablation,
    write_report,
)
from skface.metrics import evaluate, tune_threshold

from .conftest import make_faces, make_split

SMALL = dict(width=4, depth=2, max_epochs=2, batch_size=32, device="cpu", n_iter_no_change=1)


@pytest.fixture(scope="module")
def data():
    X, y, src = make_faces(n=64, size=12, signal=60)
    return X, y, src, make_split(len(y))


@pytest.fixture(scope="module")
def models(data):
    X, y, _, (tr, va, _) = data
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for att in (None, "se", "cbam", "nonlocal"):
            clf = FaceCNNClassifier(attention=att, random_state=0, **SMALL)
            out[str(att)] = clf.fit(X[tr], y[tr], X_val=X[va], y_val=y[va])
    return out


def test_grad_cam(models, data):
    X, y, _, (_, _, te) = data
    for name, clf in models.items():
        maps = grad_cam(clf, X[te[:5]])
        assert maps.shape == (5, 12, 12)
        assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1
        module = clf.net_.module_
        assert not module.training
        assert not module.stages[-1]._forward_hooks  # hooks removed
    clf = models["cbam"]
    fake, real = grad_cam(clf, X[te[:4]]), grad_cam(clf, X[te[:4]], target=0)
    assert not np.allclose(fake, real)
    # through a pipeline: the earlier steps are applied first
    pipe = Pipeline([("id", FunctionTransformer(lambda Z: Z)), ("clf", clf)])
    np.testing.assert_allclose(grad_cam(pipe, X[te[:4]]), fake, atol=1e-6)
    with pytest.raises(ValueError, match="not one of the classes"):
        grad_cam(clf, X[:2], target="dog")


def test_grad_cam_and_attention_maps_of_an_ensemble(models, data):
    X, y, _, (tr, va, te) = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ens = FaceCNNClassifier(attention="cbam", n_members=2, random_state=0, **SMALL)
        ens.fit(X[tr], y[tr], X_val=X[va], y_val=y[va])
    first = models["cbam"]  # the same seed trains the same first network
    maps = grad_cam(ens, X[te[:4]])
    assert maps.shape == (4, 12, 12) and maps.min() >= 0 and maps.max() <= 1
    own = [grad_cam(first, X[te[:4]])]
    saved = first.net_.module_
    try:  # each network of the ensemble on its own, through the single-network path
        for member in ens.net_.module_.members:
            first.net_.module_ = member
            own.append(grad_cam(first, X[te[:4]]))
    finally:
        first.net_.module_ = saved
    np.testing.assert_allclose(own[1], own[0], atol=1e-6)
    np.testing.assert_allclose(maps, (own[1] + own[2]) / 2, atol=1e-6)
    att = attention_maps(ens, X[:3])
    assert len(att) == 4 and all(k.startswith("members.") for k in att)


def test_grad_cam_of_a_multi_view_ensemble(data):
    X, y, _, (tr, va, te) = data  # 12 x 12 images
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ens = FaceCNNClassifier(n_members=2, views=(1, 2), view_size=6, random_state=0,
                                **SMALL).fit(X[tr], y[tr], X_val=X[va], y_val=y[va])
    maps = grad_cam(ens, X[te[:4]])
    assert maps.shape == (4, 12, 12) and maps.min() >= 0 and maps.max() <= 1
    whole, middle = ens.net_.module_.members
    saved = ens.net_.module_
    own = []
    try:  # each network on its own, through the single-network path
        for member in (whole, middle):
            ens.net_.module_ = member
            own.append(grad_cam(ens, X[te[:4]]))
    finally:
        ens.net_.module_ = saved
    # the zoom-2 network saw the middle 6 x 6 only: its map is 0 around it
    ring = np.ones((12, 12), bool)
    ring[3:9, 3:9] = False
    assert np.all(own[1][:, ring] == 0) and own[1][:, 3:9, 3:9].max() > 0
    np.testing.assert_allclose(maps, (own[0] + own[1]) / 2, atol=1e-6)
    assert attention_maps(ens, X[:2]) == {}  # no attention blocks: nothing to show


def test_attention_maps(models, data):
    X = data[0][:3]
    assert attention_maps(models["None"], X) == {}
    counts = {"se": 2, "cbam": 2, "nonlocal": 1}
    for name, n_blocks in counts.items():
        maps = attention_maps(models[name], X)
        assert len(maps) == n_blocks
        for key, m in maps.items():
            assert f"({name})" in key
            assert m.shape == (3, 12, 12)
            assert np.isfinite(m).all() and 0 <= m.min() and m.max() <= 1


def test_find_face_classifier(models):
    from sklearn.linear_model import LogisticRegression

    clf = models["se"]
    assert find_face_classifier(Pipeline([("c", clf)])) is clf
    with pytest.raises(TypeError, match="FaceCNNClassifier"):
        find_face_classifier(LogisticRegression())


def test_pictures_of_models(models, data, tmp_path):
    X, y, src, (_, _, te) = data
    fig = plot_attention(models, X[te], n_images=3)
    assert len(fig.axes[0].get_images()) == 1 and len(fig.axes[3].get_images()) == 2
    # image + Grad-CAM for each of 4 models + one attention map for the 3 attention models
    assert len(fig.axes) == 3 * (1 + 4 + 3)
    fig = plot_training_curves(models)
    for ax, clf in zip(fig.axes, models.values()):
        assert any(list(line.get_xdata()) == [clf.best_epoch_] * 2 for line in ax.get_lines())
    ev = evaluate(models["cbam"], X[te], y[te], sources=src[te])
    subset = {k: models[k] for k in ("None", "cbam")}
    out = write_report(tmp_path / "cnn", evaluation=ev, models=subset, images=X[te])
    figs = set(os.listdir(out / "figures"))
    assert {"training_curves.png", "attention.png", "confusion_matrix.png"} <= figs
    # images as a function of the indices drawn: only those are asked for, the pictures are
    # the same as from the whole array
    asked = []

    def load(index):
        asked.append(np.asarray(index).tolist())
        return X[te][index]

    lazy = write_report(tmp_path / "lazy", evaluation=ev, models=subset, images=load)
    assert sorted(os.listdir(lazy / "figures")) == sorted(figs)
    for name in ("misclassified.png", "attention.png"):
        assert (lazy / "figures" / name).read_bytes() == (out / "figures" / name).read_bytes()
    assert asked[0] == [0, 1, 2, 3] and all(len(a) <= 16 for a in asked)
    t = tune_threshold(models["cbam"], X[data[3][1]], y[data[3][1]])
    assert 0 < t < 1


def test_ablation_with_face_cnn(data, tmp_path):
    X, y, src, split = data
    grid = {"classifier__attention": [None, "cbam"], "classifier__gamma": [2.0]}
    pipe = Pipeline([("classifier", FaceCNNClassifier(**SMALL))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        table, details = run_ablation(pipe, grid, X, y, split, seeds=(0, 1), sources=src,
                                      csv_path=tmp_path / "a.csv", return_details=True,
                                      progress=False)
    assert len(table) == 2 and len(details.runs) == 4
    assert table["n_epochs_mean"].between(1, 2).all()
    assert table["best_epoch_mean"].between(1, 2).all()
    params = dict(zip(table["config"], table["n_params"]))
    assert params["attention=cbam, gamma=2"] > params["attention=None, gamma=2"]
    for (label, seed), model in details.estimators.items():
        clf = find_face_classifier(model)
        assert clf.random_state == seed
        assert clf.history_[0]["valid_loss"] is not None
    out = write_report(tmp_path / "rep", ablation=(table, details))
    assert {"training_curves.png", "roc_curves.png", "pr_curves.png"} <= set(
        os.listdir(out / "figures"))


class _InterruptingAugmenter:
    """Passes batches through; Ctrl-C (KeyboardInterrupt) once ``after`` batches have passed,
    counted over every copy (the search clones the estimator)."""

    calls = 0

    def __init__(self, after=None):
        self.after = after

    def get_params(self, deep=True):
        return {"after": self.after}

    def augment_batch(self, X, rng):
        type(self).calls += 1
        if self.after is not None and type(self).calls > self.after:
            raise KeyboardInterrupt
        return X


def test_ctrl_c_inside_training_stops_the_ablation(data, tmp_path):
    """Ctrl-C inside skorch's loop: fit keeps what finished and raises, so GridSearchCV stops
    (it went on to the next runs when fit returned)."""
    X, y, _, (tr, va, _) = data
    _InterruptingAugmenter.calls = 0
    FaceCNNClassifier(augment=_InterruptingAugmenter(), **SMALL).fit(
        X[tr], y[tr], X_val=X[va], y_val=y[va])
    one_fit = _InterruptingAugmenter.calls  # the batches of one run: the second run stops
    _InterruptingAugmenter.calls = 0
    clf = FaceCNNClassifier(augment=_InterruptingAugmenter(one_fit + 1), **SMALL)
    with pytest.warns(UserWarning, match="interrupted: 1 of 3 runs"):
        table, details = run_ablation(clf, {"gamma": [0.0, 1.0, 2.0]}, X, y, (tr, va, data[3][2]),
                                      seeds=(0,), csv_path=tmp_path / "a.csv",
                                      return_details=True, progress=False)
    assert details.interrupted and len(table) == 1 and len(details.runs) == 1
    assert _InterruptingAugmenter.calls == one_fit + 2  # nothing ran after the interrupt


def _upsample2(Z):
    return np.repeat(np.repeat(np.asarray(Z), 2, axis=-1), 2, axis=-2)


def test_plot_attention_lines_maps_up_with_each_models_input_size(models, data):
    X, y, _, (tr, va, te) = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        big = Pipeline([("up", FunctionTransformer(_upsample2)),
                        ("clf", FaceCNNClassifier(random_state=0, **SMALL))]).fit(X[tr], y[tr])
    fig = plot_attention({"12px": models["None"], "24px": big}, X[te], n_images=2)
    axes = np.asarray(fig.axes).reshape(3, 2)  # rows: image, 12px Grad-CAM, 24px Grad-CAM
    for row, side in zip(axes, (12, 12, 24)):
        for ax in row:
            layers = [im.get_array().shape[:2] for im in ax.get_images()]
            assert set(layers) == {(side, side)}  # each map lies over a picture of its size
    np.testing.assert_allclose(axes[2, 0].get_images()[0].get_array(),
                               _upsample2(X[te[:1]])[0].transpose(1, 2, 0) / 255.0, atol=1e-6)


def test_batch_size_and_n_images_must_be_positive_ints(models, data):
    X = data[0][:3]
    clf = models["cbam"]
    for bad in (0, -1):
        with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
            grad_cam(clf, X, batch_size=bad)
        with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
            attention_maps(clf, X, batch_size=bad)
        with pytest.raises(ValueError, match="n_images must be an int >= 1"):
            plot_attention({"cbam": clf}, X, n_images=bad)
    with pytest.raises(TypeError, match="batch_size must be an int >= 1"):
        grad_cam(clf, X, batch_size=2.0)
    np.testing.assert_allclose(grad_cam(clf, X, batch_size=1), grad_cam(clf, X), atol=1e-5)


def test_grad_cam_warns_for_0_255_floats_and_names_target(models, data):
    """Float images in 0-255 were mapped without the warning predict gives; with labels that
    do not say which is fake, the error advised pos_label, which grad_cam does not take."""
    X, y, _, (tr, va, te) = data
    with pytest.warns(UserWarning, match="float values up to"):
        grad_cam(models["None"], X[te[:2]].astype(np.float32))
    clf = FaceCNNClassifier(random_state=0, **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        clf.fit(X[tr], np.where(y[tr] == 1, "b", "a"))
    with pytest.raises(ValueError, match="pass target="):
        grad_cam(clf, X[te[:2]])
    assert grad_cam(clf, X[te[:2]], target="b").shape == (2, 12, 12)


def test_find_face_classifier_follows_the_search_not_its_template(models, data):
    """A fitted search's model is best_estimator_; its template (which may have been fitted
    before) was followed instead, so the maps described another model."""
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV

    X, y, _, (tr, _, te) = data
    template = clone(models["None"]).set_params(max_epochs=1).fit(X[tr], y[tr])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        search = GridSearchCV(template, {"random_state": [3]}, cv=2).fit(X[tr], y[tr])
    assert find_face_classifier(search) is search.best_estimator_
    np.testing.assert_allclose(grad_cam(search, X[te[:2]]),
                               grad_cam(search.best_estimator_, X[te[:2]]), atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        no_refit = GridSearchCV(template, {"random_state": [3]}, cv=2, refit=False)
        no_refit.fit(X[tr], y[tr])
    with pytest.raises(TypeError, match="refit=False"):
        find_face_classifier(no_refit)


def test_grad_cam_maps_the_evidence_that_moves_the_probability(models, data):
    """With two classes P(fake) depends on the fake logit minus the real one: adding the same
    vector to both rows of the head changes no prediction, so it must change no map."""
    import copy

    import torch

    X, _, _, (_, _, te) = data
    clf = models["cbam"]
    shifted = copy.deepcopy(clf)
    with torch.no_grad():
        head = shifted.net_.module_.head
        head.weight += torch.linspace(-3, 3, head.weight.shape[1])
    np.testing.assert_allclose(shifted.predict_proba(X[te[:4]]), clf.predict_proba(X[te[:4]]),
                               atol=1e-5)
    np.testing.assert_allclose(grad_cam(shifted, X[te[:4]]), grad_cam(clf, X[te[:4]]),
                               atol=1e-4)


def test_attention_maps_of_networks_on_zoomed_views(data, tmp_path):
    """Attention in a multi-view ensemble (skface train --attention se keeps the recipe's
    views) made attention_maps, plot_attention and so write_report fail."""
    X, y, src, (tr, va, te) = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        se = FaceCNNClassifier(attention="se", n_members=2, views=(1, 2), view_size=6,
                               random_state=0, **SMALL).fit(X[tr], y[tr])
    maps = attention_maps(se, X[:3])
    assert len(maps) == 4 and all(m.shape == (3, 12, 12) for m in maps.values())
    ring = np.ones((12, 12), bool)
    ring[3:9, 3:9] = False
    for key, m in maps.items():  # the zoom-2 network saw the middle 6 x 6 only
        if key.startswith("members.1."):
            assert np.all(m[:, ring] == 0) and m[:, 3:9, 3:9].max() > 0
        else:
            assert m[:, ring].max() > 0
    ev = evaluate(se, X[te], y[te], sources=src[te])
    out = write_report(tmp_path / "se", evaluation=ev, models={"se": se}, images=X[te])
    assert "attention.png" in os.listdir(out / "figures")


def test_maps_and_report_with_labels_that_do_not_say_fake(data, tmp_path):
    X, y, src, (tr, va, te) = data
    labels = np.where(y == 1, "ai", "human")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        clf = FaceCNNClassifier(random_state=0, **SMALL).fit(X[tr], labels[tr])
    fig = plot_attention({"m": clf}, X[te], n_images=2, target="ai")
    assert len(fig.axes) == 2 * 2
    ev = evaluate(clf, X[te], labels[te], pos_label="ai")
    out = write_report(tmp_path / "ai", evaluation=ev, models={"m": clf}, images=X[te])
    assert "attention.png" in os.listdir(out / "figures")


def test_report_notes_an_interrupted_model_inside_a_pipeline(models, data, tmp_path):
    import copy

    X, y, src, (_, _, te) = data
    clf = copy.deepcopy(models["None"])
    clf.interrupted_ = True  # what a Ctrl-C'd fit leaves
    pipe = Pipeline([("id", FunctionTransformer(lambda Z: Z)), ("clf", clf)])
    out = write_report(tmp_path / "cut", models={"pipe": pipe})
    assert "training was interrupted" in (out / "report.md").read_text()
