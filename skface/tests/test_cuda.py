"""Tests of FaceCNNClassifier on a CUDA device: skipped where torch sees no GPU.

They check what the CPU tests cannot: that the GPU path (bf16 autocast, channels-last memory,
pinned memory and non-blocking copies) learns, that bf16 predictions come back as float
probabilities that sum to one, and that a model trained on the GPU saves, loads and predicts
the same on the CPU.
"""

import json

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV

from skface import FaceCNNClassifier, make_recommended_pipeline
from skface.tests.test_classifier import make_faces

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device is visible to torch")

SMALL = dict(width=8, depth=3, max_epochs=15, random_state=0)


def _first_conv(clf):
    module = clf.net_.module_
    return next(m for m in module.modules() if isinstance(m, torch.nn.Conv2d))


def test_cuda_fit_learns_in_bf16_channels_last():
    X, y = make_faces(400, seed=1)
    Xt, yt = make_faces(200, seed=2)
    clf = FaceCNNClassifier(device="cuda", **SMALL).fit(X, y)
    assert clf.precision_ == "bfloat16"
    conv = _first_conv(clf)
    assert conv.weight.device.type == "cuda"
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    proba = clf.predict_proba(Xt)
    assert proba.dtype in (np.float32, np.float64)  # not bf16 / fp16 from the autocast
    assert proba.shape == (200, 2)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)
    assert clf.score(Xt, yt) > 0.95
    assert np.all(np.isfinite([row["valid_loss"] for row in clf.history_]))


def test_cuda_model_predicts_the_same_on_cpu(tmp_path):
    X, y = make_faces(300, seed=3)
    Xt, _ = make_faces(100, seed=4)
    clf = FaceCNNClassifier(device="cuda", precision="float32", **SMALL).fit(X, y)
    clf.save(tmp_path / "m")
    on_cpu = FaceCNNClassifier.load(tmp_path / "m", device="cpu")
    on_gpu = FaceCNNClassifier.load(tmp_path / "m", device="cuda")
    assert _first_conv(on_cpu).weight.device.type == "cpu"
    p = clf.predict_proba(Xt)
    # PyTorch lets cuDNN run float32 convolutions in TF32 by default: the H200 differed from
    # the CPU by up to 1.2e-4
    np.testing.assert_allclose(on_cpu.predict_proba(Xt), p, atol=1e-3)
    np.testing.assert_allclose(on_gpu.predict_proba(Xt), p, atol=1e-4)


def test_cuda_bf16_agrees_with_float32_on_the_same_weights(tmp_path):
    X, y = make_faces(300, seed=5)
    Xt, _ = make_faces(200, seed=6)
    fp32 = FaceCNNClassifier(device="cuda", precision="float32", **SMALL).fit(X, y)
    fp32.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["params"]["precision"] = "bfloat16"
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    bf16 = FaceCNNClassifier.load(tmp_path / "m", device="cuda")
    assert bf16.precision_ == "bfloat16"
    diff = np.abs(bf16.predict_proba(Xt) - fp32.predict_proba(Xt)).max()
    assert 0 < diff < 0.05, diff  # bf16 really ran, and stays close
    assert np.mean(bf16.predict(Xt) == fp32.predict(Xt)) >= 0.98


def test_cuda_ensemble_tta_and_augment():
    from skface.preprocessing import Augmenter

    X, y = make_faces(300, seed=7)
    Xt, yt = make_faces(100, seed=8)
    clf = FaceCNNClassifier(device="cuda:0", n_members=2, tta=True,
                            augment=Augmenter(flip_prob=0.5, random_state=0),
                            **SMALL).fit(X, y)
    assert len(clf.members_) == 2
    assert clf.member_proba(Xt).shape == (2, 100, 2)
    assert clf.score(Xt, yt) > 0.9


def test_cuda_grid_search():
    X, y = make_faces(96, size=8)
    grid = GridSearchCV(FaceCNNClassifier(width=4, depth=2, max_epochs=2, batch_size=16,
                                          device="cuda", random_state=0),
                        {"attention": [None, "cbam"], "gamma": [0.0, 2.0]}, cv=2)
    grid.fit(X, y)
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))


def test_cuda_recommended_pipeline_on_files(tmp_path):
    from PIL import Image

    X, y = make_faces(64, size=32, seed=9)
    paths = []
    for i, img in enumerate(X):
        p = tmp_path / f"{i}.png"
        Image.fromarray(img.transpose(1, 2, 0)).save(p)
        paths.append(str(p))
    pipe = make_recommended_pipeline(size=32, random_state=0, device="cuda")
    pipe.set_params(clf__max_epochs=2, clf__n_members=1)
    pipe.fit(paths, y)
    assert pipe.named_steps["clf"].precision_ == "bfloat16"
    assert pipe.predict_proba(paths).shape == (64, 2)


def test_cuda_rotation_task_learns_and_leaves_a_plain_network():
    """The rotated copies are made on the GPU, after the transfer; the turn labels must come
    back on the same device as the logits, in bf16 and float32."""
    X, y = make_faces(400, seed=5)
    Xt, yt = make_faces(200, seed=6)
    for precision in ("bfloat16", "float32"):
        clf = FaceCNNClassifier(device="cuda", precision=precision, rotation_weight=0.5,
                                **SMALL).fit(X, y)
        assert type(clf.net_.module_).__name__ == "FaceCNN"
        assert np.all(np.isfinite([row["train_rotation_loss"] for row in clf.history_]))
        assert clf.score(Xt, yt) > 0.9
