"""Tests of FaceCNNClassifier: the scikit-learn contract, learning, early stopping, persistence."""

import json
import pickle
import re
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from skface import FaceCNNClassifier
from skface.utils import resolve_device
from skface.utils._validation import _CPU_BF16_QUERIES

# small and quick, but still trained for real by every scikit-learn check
CHECK_PARAMS = dict(width=8, depth=2, max_epochs=20, batch_size=16, lr=1e-2, lr_schedule=None,
                    random_state=0)
TINY = dict(width=4, depth=2, max_epochs=3, batch_size=16, random_state=0)


# the generic checks feed floats far outside [0, 1], which the classifier uses as given
@pytest.mark.filterwarnings("ignore:X holds float values up to:UserWarning")
@parametrize_with_checks([FaceCNNClassifier(**CHECK_PARAMS)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def make_faces(n=160, size=16, seed=0):
    """'Fake' images carry a 2x nearest-neighbour up-sampling checkerboard; 'real' ones do not."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(n, 3, size, size)).astype(np.float32)
    y = np.arange(n) % 2
    low = rng.integers(0, 256, size=(n, 3, size // 2, size // 2)).astype(np.float32)
    up = low.repeat(2, axis=2).repeat(2, axis=3)
    checker = np.indices((size, size)).sum(0) % 2 * 60.0 - 30.0
    X[y == 1] = np.clip(up[y == 1] + checker, 0, 255)
    return X.astype(np.uint8), y


def test_learns_upsampling_artifacts():
    X, y = make_faces(400, seed=1)
    Xt, yt = make_faces(200, seed=2)
    clf = FaceCNNClassifier(width=8, depth=3, max_epochs=15, random_state=0).fit(X, y)
    assert clf.score(Xt, yt) > 0.95
    assert 1 <= clf.best_epoch_ <= clf.n_epochs_ <= 15
    assert set(clf.history_[0]) == {"epoch", "train_loss", "valid_loss", "train_accuracy",
                                    "valid_accuracy", "dur"}


def test_grid_search_over_attention_and_gamma():
    X, y = make_faces(64, size=8)
    grid = GridSearchCV(FaceCNNClassifier(**{**TINY, "max_epochs": 2}),
                        {"attention": [None, "se", "cbam", "nonlocal"], "gamma": [0.0, 2.0]},
                        cv=2)
    grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == 8
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    assert grid.best_estimator_.n_params_ > 0


def test_early_stopping_on_plateau_restores_best_epoch():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(120, 1, 8, 8), dtype=np.uint8)
    y = rng.integers(0, 2, 120)  # pure noise: validation loss cannot keep improving
    clf = FaceCNNClassifier(width=8, depth=2, max_epochs=60, n_iter_no_change=3, lr=3e-2,
                            lr_schedule=None, random_state=0).fit(X[:80], y[:80], X[80:], y[80:])
    assert clf.n_epochs_ < 60
    assert not clf.interrupted_
    valid = [h["valid_loss"] for h in clf.history_]
    assert clf.best_epoch_ == int(np.argmin(valid)) + 1
    assert clf.n_epochs_ == clf.best_epoch_ + 3
    # the kept weights are the best epoch's: recomputing the validation loss gives its value
    proba = clf.predict_proba(X[80:])
    loss = -np.mean(np.log(proba[np.arange(40), y[80:]]))
    assert loss == pytest.approx(min(valid), rel=1e-4)


def test_high_learning_rate_epochs_count_no_early_stopping_misses():
    from types import SimpleNamespace

    from skorch.history import History

    from skface._classifier import _AnnealedEarlyStopping, _high_lr_epochs

    def stop_and_best(losses, grace, patience=2):
        cb = _AnnealedEarlyStopping(patience=patience, grace_epochs=grace, load_best=False)
        net = SimpleNamespace(history=History(), verbose=0)
        cb.on_train_begin(net)
        for epoch, loss in enumerate(losses, 1):
            net.history.new_epoch()
            net.history.record("epoch", epoch)
            net.history.record("valid_loss", loss)
            try:
                cb.on_epoch_end(net)
            except KeyboardInterrupt:
                return epoch, cb.best_epoch_
        return len(losses), cb.best_epoch_

    # the loss jumps while the learning rate is high, then falls below its early values
    losses = [1.0, 1.2, 1.3, 1.4, 0.9, 0.95, 0.97, 0.99]
    assert stop_and_best(losses, grace=0) == (3, 1)
    assert stop_and_best(losses, grace=4) == (7, 5)
    # the best epoch is chosen after the grace epochs: a lower loss while the rate was high
    # (seen on the development faces: a network kept epoch 6 of 30) is not kept
    assert stop_and_best([0.5, 1.2, 1.3, 1.4, 0.9, 0.95], grace=4) == (6, 5)
    assert stop_and_best([0.5, 1.2, 1.3, 1.4], grace=4) == (4, 0)  # nothing after: the last

    # one-cycle: lr >= half its peak for the 30 % warm-up and half the annealing after it
    assert _high_lr_epochs("onecycle", 30) == 20
    assert _high_lr_epochs("onecycle", 20) == 13
    assert _high_lr_epochs("cosine", 30) == 15
    assert _high_lr_epochs(None, 30) == 0
    sched = torch.optim.lr_scheduler.OneCycleLR(
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0), max_lr=1.0,
        total_steps=30 * 10, pct_start=0.3)
    lrs = []
    for _ in range(30 * 10):
        lrs.append(sched.get_last_lr()[0])
        sched.optimizer.step()
        sched.step()
    epoch_start = np.asarray(lrs[::10])  # the rate at the first step of each epoch
    assert epoch_start[19] >= 0.5 > epoch_start[20]  # epochs 1-20 start at half the peak or more

    # a 20-epoch one-cycle fit: its first 13 epochs never stop it, whatever the patience
    X, y = make_faces(64)
    clf = FaceCNNClassifier(**{**TINY, "max_epochs": 20, "n_iter_no_change": 1}).fit(X, y)
    assert clf.n_epochs_ >= 14


def test_no_validation_without_early_stopping():
    X, y = make_faces(40)
    clf = FaceCNNClassifier(early_stopping=False, **TINY).fit(X, y)
    assert clf.n_epochs_ == 3 and clf.best_epoch_ == 3
    assert clf.history_[-1]["valid_loss"] is None


def test_same_seed_same_predictions_and_global_rng_untouched():
    X, y = make_faces(64)
    torch.manual_seed(123)
    np.random.seed(7)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    a = FaceCNNClassifier(**TINY).fit(X, y).predict_proba(X)
    b = FaceCNNClassifier(**TINY).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert torch.equal(torch_state, torch.get_rng_state())
    assert np.array_equal(np_state[1], np.random.get_state()[1])
    c = FaceCNNClassifier(**{**TINY, "random_state": 1}).fit(X, y).predict_proba(X)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_training_that_diverges_is_an_error(early_stopping):
    """A loss gone to NaN returned a fitted model that predicted NaN probabilities and one
    class for everything (score 0.5), and saved a folder load refused."""
    X, y = make_faces(32)
    clf = FaceCNNClassifier(**{**TINY, "lr": 1e30, "early_stopping": early_stopping})
    with pytest.raises(ValueError, match="Training diverged .* lower lr .now 1e.30"):
        clf.fit(X, y)
    assert not hasattr(clf, "net_")


def test_held_out_copies_of_training_rows_train_instead():
    """Without X_val, the rows held out for early stopping were drawn at random, so repeats
    (copies, or what oversampling added) of training images sat in the held-out part."""
    X, y = make_faces(40)
    X = np.concatenate([X, X[:20]])  # twenty rows repeated
    y = np.concatenate([y, y[:20]])
    clf = FaceCNNClassifier(**{**TINY, "early_stopping": True, "n_iter_no_change": 2})
    with pytest.warns(UserWarning, match="rows held out for early stopping repeat training "
                                         "rows .the same pixels.; they train instead"):
        clf.fit(X, y)
    from skface._classifier import _copies_train

    tr, va = np.r_[0:30, 40:50], np.r_[30:40, 50:60]  # rows 50-59 repeat rows 10-19
    with pytest.warns(UserWarning, match="10 of the 20 rows"):
        train, val = _copies_train(X, y, tr, va)
    assert list(val) == list(range(30, 40)) and list(train) == sorted(np.r_[tr, 50:60])
    # when moving them would leave a class out of the held-out part, they stay, and it is said
    with pytest.warns(UserWarning, match="they stay held out"):
        train, val = _copies_train(X, y, np.r_[0:50], np.r_[50:60])
    assert list(val) == list(range(50, 60))
    # distinct images: no warning, the draw is as before
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FaceCNNClassifier(**{**TINY, "early_stopping": True}).fit(*make_faces(40))


def test_a_loss_with_no_signal_is_named():
    """gamma=1e6 gave a training loss of exactly 0 from the first epoch: the network learned
    nothing and fit returned as if it had trained."""
    X, y = make_faces(32)
    for gamma in (1e6, 50):
        with pytest.warns(UserWarning, match="training loss was .* first epoch.*gamma="
                                             + re.escape(f"{gamma:g}") + ".*between 0 and 5"):
            FaceCNNClassifier(**{**TINY, "gamma": gamma, "n_members": 2}).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # usual values train without it
        FaceCNNClassifier(**{**TINY, "gamma": 5.0}).fit(X, y)


def test_mixed_or_missing_labels_are_named():
    """Mixed text and number labels, or None, failed in numpy's sort with "'<' not supported
    between instances of 'int' and 'str'", naming neither the array nor the labels."""
    X, y = make_faces(16)
    clf = FaceCNNClassifier(**TINY)
    with pytest.raises(ValueError, match="y mixes text and number labels .e.g. 'real' and 1"):
        clf.fit(X, np.array(["real", 1] * 8, dtype=object))
    with pytest.raises(ValueError, match=r"y has missing labels \(None or NaN\) at position"):
        clf.fit(X, [0, 1, None] * 5 + [0])
    clf.fit(X, y)
    with pytest.raises(ValueError, match="y_val has missing labels"):
        clf.fit(X, y, X_val=X[:4], y_val=[0, 1, None, 1])


def test_same_seed_same_result_in_threads():
    """torch's global generator is one per process: fits in threads (joblib's threading
    backend) drew from each other's seeded sequence and restored each other's state, so a
    seed did not repeat a fit and the caller's RNG state was overwritten."""
    from concurrent.futures import ThreadPoolExecutor

    X, y = make_faces(64)
    params = {**TINY, "dropout": 0.5, "precision": "float32", "max_epochs": 4}
    alone = FaceCNNClassifier(**params).fit(X, y).predict_proba(X)
    torch.manual_seed(5)
    state = torch.get_rng_state()

    def fit(_):
        return FaceCNNClassifier(**params).fit(X, y).predict_proba(X)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(fit, range(4)))
    for r in results:
        np.testing.assert_array_equal(r, alone)
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("layout", ["nchw", "nhwc", "gray", "flat"])
def test_input_layouts(layout):
    X, y = make_faces(48, size=8)
    if layout == "nhwc":
        X = X.transpose(0, 2, 3, 1)
    elif layout == "gray":
        X = X[:, 0]
    kwargs = {}
    if layout == "flat":
        X = X.reshape(len(X), -1)
        kwargs["image_shape"] = (3, 8, 8)
    clf = FaceCNNClassifier(**TINY, **kwargs).fit(X, y)
    expected = {"gray": (1, 8, 8)}.get(layout, (3, 8, 8))
    assert clf.image_shape_ == expected
    assert clf.n_features_in_ == int(np.prod(expected))
    assert clf.predict(X).shape == (48,)


def test_string_labels_probabilities_and_decision_function():
    X, y = make_faces(64)
    labels = np.where(y == 1, "fake", "real")
    clf = FaceCNNClassifier(gamma=2.0, class_weight="balanced", **TINY).fit(X, labels)
    assert list(clf.classes_) == ["fake", "real"]
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    assert np.all((proba >= 0) & (proba <= 1))
    dec = clf.decision_function(X)
    np.testing.assert_allclose(dec, np.log(proba[:, 1]) - np.log(proba[:, 0]), rtol=1e-6)
    assert set(clf.predict(X)) <= {"fake", "real"}


def test_tta_averages_the_mirror():
    X, y = make_faces(48)
    clf = FaceCNNClassifier(**TINY).fit(X, y)
    plain = clf.predict_proba(X)
    mirrored = clf.predict_proba(X[..., ::-1])
    clf.set_params(tta=True)
    np.testing.assert_allclose(clf.predict_proba(X), (plain + mirrored) / 2, rtol=1e-6)


class CountingAugmenter:
    """Records what it is asked to augment; flips each batch."""

    def __init__(self, stop_after=None):
        self.stop_after = stop_after

    def get_params(self, deep=True):
        return {"stop_after": self.stop_after}

    def augment_batch(self, X, rng):
        self.calls = getattr(self, "calls", 0) + 1
        assert X.dtype == torch.float32 and float(X.max()) <= 1.0
        if self.stop_after is not None and self.calls > self.stop_after:
            raise KeyboardInterrupt
        return torch.flip(X, dims=(-1,)) if rng.random() < 0.5 else X


def test_augmentation_only_while_training():
    X, y = make_faces(64)
    aug = CountingAugmenter()
    clf = FaceCNNClassifier(augment=aug, **TINY).fit(X, y)
    n_train_batches = int(np.ceil((64 - 10) / 16))
    assert aug.calls == 3 * n_train_batches
    clf.predict_proba(X)
    clf.decision_function(X)
    clf.score(X, y)
    assert aug.calls == 3 * n_train_batches


def test_ctrl_c_keeps_best_weights_so_far():
    X, y = make_faces(64)
    clf = FaceCNNClassifier(augment=CountingAugmenter(stop_after=8), **{**TINY, "max_epochs": 10})
    # fit raises, so that a script, a Pipeline or a GridSearchCV stops too; the model is kept
    with pytest.raises(KeyboardInterrupt, match="interrupted in epoch 3 of 10; the estimator "
                                                "keeps the weights of epoch 2"):
        clf.fit(X, y)
    assert clf.interrupted_
    assert clf.n_epochs_ == 2
    assert clf.predict(X).shape == (64,)


def test_ctrl_c_mid_epoch_keeps_the_last_finished_epoch():
    """With no best epoch to restore (no early stopping), the kept weights were those of the
    half-finished epoch, not of the epoch that best_epoch_ named."""
    X, y = make_faces(64)
    plain = dict(TINY, lr_schedule=None, early_stopping=False, lr=1e-2)
    # 4 training batches an epoch: the ninth batch is the first of epoch 3
    stopped = FaceCNNClassifier(augment=CountingAugmenter(stop_after=9),
                                **{**plain, "max_epochs": 10})
    with pytest.raises(KeyboardInterrupt):
        stopped.fit(X, y)
    assert stopped.n_epochs_ == 2 and stopped.best_epoch_ == 2
    two = FaceCNNClassifier(augment=CountingAugmenter(), **{**plain, "max_epochs": 2}).fit(X, y)
    np.testing.assert_array_equal(stopped.predict_proba(X), two.predict_proba(X))


def test_ctrl_c_before_the_first_epoch_ends_keeps_nothing():
    """An interrupt in epoch 1 gave an untrained network as a fitted model, and replaced the
    estimator's previous model with it."""
    X, y = make_faces(64)
    clf = FaceCNNClassifier(**TINY)
    with pytest.raises(KeyboardInterrupt, match="before its first epoch ended"):
        clf.set_params(augment=CountingAugmenter(stop_after=2)).fit(X, y)
    assert not hasattr(clf, "members_")
    with pytest.raises(NotFittedError):
        clf.predict(X)
    clf.set_params(augment=None).fit(X, y)
    before = clf.predict_proba(X)
    with pytest.raises(KeyboardInterrupt, match="before its first epoch ended"):
        clf.set_params(augment=CountingAugmenter(stop_after=2)).fit(X, y)
    assert not clf.interrupted_ and clf.n_epochs_ == 3
    np.testing.assert_array_equal(clf.predict_proba(X), before)


@pytest.mark.filterwarnings("ignore:Setting self.device = cpu")
@pytest.mark.parametrize("n_members", [1, 2])
def test_a_pickled_gpu_model_loads_on_a_cpu(n_members):
    """The module instance a skorch net is built from (module_ itself) and, for one network,
    the training net's optimizer moments and schedule were pickled outside skorch's
    CUDA-aware path: a model trained on a GPU could not be unpickled on a CPU, and a pickle
    was six times the size of the weights. Simulated: every storage is written as cuda:0."""
    import torch.serialization as ser

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    X, y = make_faces(40)
    clf = FaceCNNClassifier(**{**TINY, "width": 32, "depth": 4, "max_epochs": 1,
                               "n_members": n_members}).fit(X, y)
    expected = clf.predict_proba(X)
    weights = sum(v.numel() * v.element_size() for v in clf.net_.module_.state_dict().values())
    assert len(pickle.dumps(clf)) < 1.1 * weights
    clf.net_.device = "cuda"
    clf.net_.iterator_valid__pin_memory = clf.net_.iterator_train__pin_memory = True
    real_tag = ser.location_tag
    ser.location_tag = lambda storage: "cuda:0"
    try:
        blob = pickle.dumps(clf)
    finally:
        ser.location_tag = real_tag
    with pytest.warns(UserWarning, match="no CUDA devices are available"):
        loaded = pickle.loads(blob)
    assert loaded.net_.device == "cpu"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no pinned-memory warning on every predict
        np.testing.assert_array_equal(loaded.predict_proba(X), expected)
    np.testing.assert_allclose(loaded.member_proba(X).mean(0), expected, rtol=1e-5, atol=1e-6)


def test_persistence_round_trips(tmp_path):
    X, y = make_faces(64)
    clf = FaceCNNClassifier(attention="cbam", **TINY).fit(X, np.where(y, "fake", "real"))
    expected = clf.predict_proba(X)
    for restored in (
        pickle.loads(pickle.dumps(clf)),
        joblib.load(joblib.dump(clf, tmp_path / "m.joblib")[0]),
        FaceCNNClassifier.load(clf.save(tmp_path / "model")),
    ):
        np.testing.assert_allclose(restored.predict_proba(X), expected, rtol=1e-5, atol=1e-7)
        assert list(restored.classes_) == ["fake", "real"]
    loaded = FaceCNNClassifier.load(tmp_path / "model")
    assert loaded.get_params()["attention"] == "cbam"
    assert loaded.history_ == clf.history_
    np.testing.assert_array_equal(loaded.train_class_counts_, clf.train_class_counts_)
    # a folder written before the class counts were saved loads, and saves again, without them
    config = tmp_path / "model" / "config.json"
    old = json.loads(config.read_text())
    del old["train_class_counts"]
    config.write_text(json.dumps(old))
    older = FaceCNNClassifier.load(tmp_path / "model")
    assert older.train_class_counts_ is None
    again = FaceCNNClassifier.load(older.save(tmp_path / "again"))
    assert again.train_class_counts_ is None
    np.testing.assert_allclose(again.predict_proba(X), expected, rtol=1e-5, atol=1e-7)


def imbalanced(X, y, n_fake):
    """Every real image of ``(X, y)`` and only the first ``n_fake`` fakes."""
    keep = np.flatnonzero(y == 0).tolist() + np.flatnonzero(y == 1)[:n_fake].tolist()
    keep = np.sort(keep)
    return X[keep], y[keep]


def test_balance_resamples_both_parts_as_skface_build_does(capsys):
    from skface.datasets import balance_indices

    X, y = imbalanced(*make_faces(96, seed=3), n_fake=16)  # 48 real, 16 fake
    Xv, yv = imbalanced(*make_faces(40, seed=4), n_fake=8)  # 20 real, 8 fake
    params = {**TINY, "verbose": 1}
    clf = FaceCNNClassifier(balance="oversample", **params).fit(X, y, X_val=Xv, y_val=yv)
    np.testing.assert_array_equal(clf.train_class_counts_, [48, 48])
    out = capsys.readouterr().out
    # verbose fits say where and in what precision they train
    assert f"training 1 network on {resolve_device('auto')} in {clf.precision_}\n" in out
    assert "training part 0 48 -> 48, 1 16 -> 48" in out
    assert "validation part 0 20 -> 20, 1 8 -> 20" in out
    # the same as training on the parts resampled beforehand with build's function and seeds
    tr = balance_indices(y, balance="oversample", random_state=TINY["random_state"] + 1)
    va = balance_indices(yv, balance="oversample", random_state=TINY["random_state"] + 2)
    ref = FaceCNNClassifier(**TINY).fit(X[tr], y[tr], X_val=Xv[va], y_val=yv[va])
    np.testing.assert_allclose(clf.predict_proba(Xv), ref.predict_proba(Xv), atol=1e-6)
    assert [r["valid_loss"] for r in clf.history_] == pytest.approx(
        [r["valid_loss"] for r in ref.history_])
    # undersampling keeps 16 of each class; without X_val the held-out part is balanced too
    none = FaceCNNClassifier(**TINY).fit(X, y)
    assert none.train_class_counts_.sum() == 64 - 10  # 15 % (10 images) held out
    under = FaceCNNClassifier(balance="undersample", **TINY).fit(X, y)
    np.testing.assert_array_equal(under.train_class_counts_, [none.train_class_counts_.min()] * 2)


@pytest.mark.filterwarnings("ignore:y_val holds one class only")
def test_balance_needs_every_class_in_each_part():
    X, y = make_faces(32)
    clf = FaceCNNClassifier(balance="oversample", **TINY)
    match = r"needs every class in the validation part; missing \[1\]"
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y, X_val=X[y == 0], y_val=y[y == 0])


def test_ensemble_averages_member_probabilities(tmp_path):
    from skface.nn import FaceCNN, ProbabilityAverage

    X, y = make_faces(64)
    # on the CPU, where the expected values below are computed (test_cuda.py covers CUDA)
    clf = FaceCNNClassifier(n_members=3, tta=True, device="cpu", **TINY).fit(X, y)
    assert len(clf.members_) == 3 and not clf.interrupted_
    assert len({m["seed"] for m in clf.members_}) == 3
    module = clf.net_.module_
    assert isinstance(module, ProbabilityAverage) and len(module.members) == 3
    assert all(isinstance(m, FaceCNN) for m in module.members)
    # the first network is the one a single-network fit with the same seed trains
    single = FaceCNNClassifier(tta=True, device="cpu", **TINY).fit(X, y)
    for a, b in zip(module.members[0].parameters(), single.net_.module_.parameters()):
        torch.testing.assert_close(a, b)
    losses = [(h["train_loss"], h["valid_loss"]) for h in clf.history_]
    assert losses == [(h["train_loss"], h["valid_loss"]) for h in single.history_]
    assert clf.n_params_ == 3 * single.n_params_
    # predict_proba is the mean of the networks' softmax outputs over the image and its mirror
    # (in the precision the estimator computes in on this machine)
    T = torch.as_tensor(X, dtype=torch.float32) / 255.0
    bf16 = clf.precision_ == "bfloat16"
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        expected = np.mean([
            (torch.softmax(m.eval()(T).float(), 1)
             + torch.softmax(m(torch.flip(T, (-1,))).float(), 1)).numpy() / 2
            for m in module.members], axis=0)
    np.testing.assert_allclose(clf.predict_proba(X), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(clf.predict_proba(X), single.predict_proba(X))
    # each network's own probabilities: their mean is predict_proba, and the first one is the
    # single network's
    per_member = clf.member_proba(X)
    assert per_member.shape == (3, len(X), 2)
    np.testing.assert_allclose(per_member.mean(0), clf.predict_proba(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(per_member[0], single.predict_proba(X), rtol=1e-5, atol=1e-6)
    assert not np.allclose(per_member[1], per_member[0])
    np.testing.assert_allclose(single.member_proba(X), single.predict_proba(X)[None],
                               rtol=1e-6)
    with pytest.raises(NotFittedError):
        FaceCNNClassifier().member_proba(X)
    # persistence keeps every network
    loaded = FaceCNNClassifier.load(clf.save(tmp_path / "ens"))
    assert len(loaded.members_) == 3
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-5,
                               atol=1e-7)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(restored.predict_proba(X), clf.predict_proba(X), rtol=1e-6)


def test_ctrl_c_in_an_ensemble_keeps_the_networks_finished():
    X, y = make_faces(64)
    # 4 training batches per epoch, 3 epochs: the third network stops in its second epoch
    clf = FaceCNNClassifier(n_members=3, augment=CountingAugmenter(stop_after=30), **TINY)
    with pytest.raises(KeyboardInterrupt, match="keeps the 2 of 3 networks that finished"):
        clf.fit(X, y)
    assert clf.interrupted_
    # the half-trained third network is not averaged in (it was kept before)
    assert [m["n_epochs"] for m in clf.members_] == [3, 3]
    assert [m["interrupted"] for m in clf.members_] == [False, False]
    assert clf.member_proba(X).shape == (2, 64, 2)
    # the first network interrupted: it alone is kept, at its last finished epoch
    clf.set_params(augment=CountingAugmenter(stop_after=6))
    with pytest.raises(KeyboardInterrupt, match="epoch 1 of its first network, the only one "
                                                "of 3 trained and predicts with it"):
        clf.fit(X, y)
    assert [m["n_epochs"] for m in clf.members_] == [1] and clf.interrupted_


class _SharedCountAugmenter(CountingAugmenter):
    """CountingAugmenter whose count is shared by every clone (the search clones it)."""

    total = 0

    def augment_batch(self, X, rng):
        type(self).total += 1
        if self.stop_after is not None and type(self).total > self.stop_after:
            raise KeyboardInterrupt
        return X


def test_ctrl_c_stops_a_grid_search():
    """fit returned after Ctrl-C, so GridSearchCV went on to every other fit and reported a
    best_params_ that included the interrupted fit's score."""
    from sklearn.model_selection import GridSearchCV

    X, y = make_faces(64)
    _SharedCountAugmenter.total = 0
    search = GridSearchCV(FaceCNNClassifier(augment=_SharedCountAugmenter(stop_after=5), **TINY),
                          {"gamma": [0.0, 2.0]}, cv=2)
    with pytest.raises(KeyboardInterrupt, match="interrupted in epoch 3 of 3; the estimator keeps"):
        search.fit(X, y)
    assert _SharedCountAugmenter.total == 6  # nothing ran after the interrupt
    assert not hasattr(search, "best_params_")


def test_ctrl_c_between_two_networks_keeps_the_first(monkeypatch):
    """Ctrl-C outside skorch's loop (between networks) lost every finished network."""
    X, y = make_faces(64)
    clf = FaceCNNClassifier(n_members=2, **TINY)
    fit_member = FaceCNNClassifier._fit_member

    def second_interrupted(self, *args, **kwargs):
        if args[-1] == 1:  # the member number
            raise KeyboardInterrupt
        return fit_member(self, *args, **kwargs)

    monkeypatch.setattr(FaceCNNClassifier, "_fit_member", second_interrupted)
    with pytest.raises(KeyboardInterrupt, match="keeps the 1 of 2 networks that finished"):
        clf.fit(X, y)
    assert clf.interrupted_ and len(clf.members_) == 1 and clf.n_epochs_ == 3
    assert clf.predict(X).shape == (64,)


def test_head_grid_learns_where_a_mark_is(tmp_path):
    """A bright square in the left half is one class, in the right half the other: the same
    pixels in different places. A classifier whose head sees a 2x2 grid of the last map
    learns it, saves and loads. (Global pooling learns this one too, from the zero padding;
    the grid's exact wiring is tested in skface/nn/tests.)"""
    rng = np.random.default_rng(0)
    n, size = 256, 16
    X = rng.integers(0, 60, size=(n, 3, size, size)).astype(np.uint8)
    y = np.arange(n) % 2
    for i in range(n):
        top, left = rng.integers(0, size - 4), rng.integers(0, size // 2 - 4)
        left += size // 2 * y[i]
        X[i, :, top:top + 4, left:left + 4] = 255
    params = {**TINY, "width": 8, "max_epochs": 15, "lr": 1e-2, "early_stopping": False}
    clf = FaceCNNClassifier(head_grid=2, **params).fit(X[:192], y[:192])
    assert clf.net_.module_.head.in_features == 16 * 4  # 16 channels, 2 x 2 cells
    assert clf.score(X[192:], y[192:]) >= 0.9
    loaded = FaceCNNClassifier.load(clf.save(tmp_path / "grid"))
    assert loaded.get_params()["head_grid"] == 2
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-5,
                               atol=1e-7)


def test_rotation_task_trains_beside_the_classifier(tmp_path):
    X, y = make_faces(64)
    plain = FaceCNNClassifier(**TINY).fit(X, y)
    clf = FaceCNNClassifier(rotation_weight=0.5, **TINY).fit(X, y)
    # the task ran: its loss is logged every epoch and the networks differ
    losses = [row["train_rotation_loss"] for row in clf.history_]
    assert len(losses) == clf.n_epochs_ and all(np.isfinite(losses))
    assert "train_rotation_loss" not in plain.history_[0]
    assert not np.allclose(clf.predict_proba(X), plain.predict_proba(X))
    # its head is gone after training: the kept network is a plain FaceCNN
    assert type(clf.net_.module_).__name__ == "FaceCNN"
    assert clf.net_.module_.state_dict().keys() == plain.net_.module_.state_dict().keys()
    assert clf.n_params_ == plain.n_params_
    # reproducible from random_state, and saved and loaded like any model
    again = FaceCNNClassifier(rotation_weight=0.5, **TINY).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    loaded = FaceCNNClassifier.load(clf.save(tmp_path / "rot"))
    assert loaded.get_params()["rotation_weight"] == 0.5
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-5,
                               atol=1e-7)


def test_rotation_task_in_an_ensemble_of_views():
    X, y = make_faces(64, size=32)
    clf = FaceCNNClassifier(rotation_weight=1.0, n_members=2, views=(1, 2), view_size=[16, 8],
                            **TINY).fit(X, y)
    assert [type(m).__name__ for m in clf.net_.module_.members] == ["FaceCNN", "FaceCNN"]
    assert all("train_rotation_loss" in m["history"][0] for m in clf.members_)
    assert clf.predict_proba(X).shape == (64, 2)


def test_rotation_task_needs_square_inputs():
    X, y = make_faces(32)
    with pytest.raises(ValueError, match="square network inputs; the images are 16x12"):
        FaceCNNClassifier(rotation_weight=0.5, **TINY).fit(X[..., :12], y)
    # resizing the view to a square makes them square
    FaceCNNClassifier(rotation_weight=0.5, view_size=8, **TINY).fit(X[..., :12], y)


def test_space_to_depth_trains_on_larger_images(tmp_path):
    X, y = make_faces(64, size=32)
    clf = FaceCNNClassifier(space_to_depth=2, **TINY).fit(X, y)
    assert clf.net_.module_.stages[0].conv.body[0].in_channels == 12
    loaded = FaceCNNClassifier.load(clf.save(tmp_path / "s2d"))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-5,
                               atol=1e-7)
    with pytest.raises(ValueError, match="multiples of 3; the images are 32x32"):
        FaceCNNClassifier(space_to_depth=3, **TINY).fit(X, y)


def test_config_json_is_strict_json_with_a_non_finite_loss(tmp_path):
    """A NaN in the history was written as the token NaN, which strict JSON parsers refuse."""
    X, y = make_faces(32)
    clf = FaceCNNClassifier(**TINY).fit(X, y)
    clf.history_[0]["valid_loss"] = float("nan")
    path = clf.save(tmp_path / "m")

    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    config = json.loads((path / "config.json").read_text(), parse_constant=refuse)
    assert config["history"][0]["valid_loss"] is None
    assert FaceCNNClassifier.load(path).history_[0]["valid_loss"] is None


def test_loading_never_unpickles_code(tmp_path):
    X, y = make_faces(32)
    path = FaceCNNClassifier(**TINY).fit(X, y).save(tmp_path / "model")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"payload": Evil()}, path / "weights.pt")
    with pytest.raises(ValueError, match="could not be loaded"):
        FaceCNNClassifier.load(path)


def _forget_weights_hash(path):
    config = json.loads((path / "config.json").read_text())
    del config["weights_sha256"]
    (path / "config.json").write_text(json.dumps(config))


def test_loading_broken_folders(tmp_path):
    with pytest.raises(ValueError, match="not a skface model folder"):
        FaceCNNClassifier.load(tmp_path)
    X, y = make_faces(32)
    path = FaceCNNClassifier(**TINY).fit(X, y).save(tmp_path / "m")
    config = (path / "config.json").read_text()
    (path / "config.json").write_text(config.replace('"format": 1', '"format": 99'))
    with pytest.raises(ValueError, match="format 99"):
        FaceCNNClassifier.load(path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        FaceCNNClassifier.load(path)
    # a config that does not describe the saved network, and weights that are not numbers
    path = FaceCNNClassifier(**TINY).fit(X, y).save(tmp_path / "m2")
    good = json.loads((path / "config.json").read_text())
    for edit, match in ((lambda c: c["params"].update(width=99), r"disagree .* \['width'\]"),
                        (lambda c: c.update(classes=[1, 0]), "not sorted distinct labels"),
                        (lambda c: c["params"].update(attention="bogus"), "attention"),
                        (lambda c: c.update(n_features_in=5), "and n_features_in 5 disagree")):
        config = json.loads(json.dumps(good))
        edit(config)
        (path / "config.json").write_text(json.dumps(config))
        with pytest.raises(ValueError, match=match):
            FaceCNNClassifier.load(path)
    (path / "config.json").write_text(json.dumps(good))
    _forget_weights_hash(path)
    state = torch.load(path / "weights.pt", weights_only=True)
    state["head.weight"][0, 0] = float("nan")
    torch.save(state, path / "weights.pt")
    with pytest.raises(ValueError, match="non-finite values"):
        FaceCNNClassifier.load(path)
    with pytest.raises(ValueError, match="not a device name"):
        FaceCNNClassifier.load(path, device="bogus")
    with pytest.raises(ValueError, match="a file, not a folder"):
        FaceCNNClassifier(**TINY).fit(X, y).save(path / "weights.pt")


def test_a_save_that_did_not_finish_is_refused_by_load(tmp_path, monkeypatch):
    """New weights beside an old config (the config's write failed: a full disk) loaded
    without a word and predicted with the other model's classes: accuracy 0.0 for 1.0."""
    import errno

    import skface._classifier as module

    X, y = make_faces(32)
    first = FaceCNNClassifier(**TINY).fit(X, y)
    second = FaceCNNClassifier(**TINY).fit(X, np.where(y == 1, "fake", "real"))
    path = first.save(tmp_path / "m")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(module, "atomic_write_text", full)
    with pytest.raises(OSError, match="No space left"):
        second.save(path)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="weights.pt is not the weights .* save the model again"):
        FaceCNNClassifier.load(path)
    loaded = FaceCNNClassifier.load(second.save(path))
    np.testing.assert_array_equal(loaded.predict(X), second.predict(X))


def test_view_size_true_is_refused():
    X, y = make_faces(32)
    with pytest.raises(ValueError, match="view_size must be a positive int.*got True"):
        FaceCNNClassifier(**TINY, view_size=True).fit(X, y)


def test_save_keeps_a_numpy_integer_seed(tmp_path):
    X, y = make_faces(32)
    clf = FaceCNNClassifier(**{**TINY, "random_state": np.int64(7)}).fit(X, y)
    assert FaceCNNClassifier.load(clf.save(tmp_path / "m")).random_state == 7


def test_save_refuses_parameters_changed_since_fit(tmp_path):
    """The folder described the networks by the current parameters: set_params(width=...)
    after fit saved a folder load refused, and set_params(views=...) one that loaded with
    other views and predicted differently, without a word."""
    X, y = make_faces(32)
    clf = FaceCNNClassifier(**TINY).fit(X, y)
    expected = clf.predict_proba(X)
    for change, match in (({"width": 8}, "width=4"), ({"views": [2.0]}, "zoom=1.0")):
        clf.set_params(**change)
        with pytest.raises(ValueError, match=f"parameters changed since fit .*{match}"):
            clf.save(tmp_path / "m")
        clf.set_params(**{k: TINY.get(k) for k in change})
    loaded = FaceCNNClassifier.load(clf.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)
    assert loaded.members_[0]["module"]["width"] == 4


class _OwnFlip:
    """An augmenter that is not skface's: only augment_batch, as the docs allow."""

    def augment_batch(self, X, rng):
        return X.flip(-1) if rng.random() < 0.5 else X


def test_save_with_any_augmenter(tmp_path):
    """An Augmenter seeded with a RandomState failed to save (after the whole fit), and an
    augmenter of the user's own could not be saved, or saved a folder load refused."""
    from skface.preprocessing import Augmenter

    X, y = make_faces(32)
    seeded = FaceCNNClassifier(augment=Augmenter(random_state=np.random.RandomState(0)),
                               **TINY).fit(X, y)
    loaded = FaceCNNClassifier.load(seeded.save(tmp_path / "seeded"))
    assert isinstance(loaded.augment, Augmenter) and loaded.augment.random_state is None
    own = FaceCNNClassifier(augment=_OwnFlip(), **TINY).fit(X, y)
    with pytest.warns(UserWarning, match="augmenter '_OwnFlip', which is not part of skface"):
        loaded = FaceCNNClassifier.load(own.save(tmp_path / "own"))
    assert loaded.augment is None
    np.testing.assert_array_equal(loaded.predict_proba(X), own.predict_proba(X))


def test_damaged_augment_entry_and_empty_weights_are_named(tmp_path):
    X, y = make_faces(32)
    path = FaceCNNClassifier(**TINY).fit(X, y).save(tmp_path / "m")
    config = json.loads((path / "config.json").read_text())
    for bad in ("Augmenter", {"class": "load_images", "params": {}}):
        (path / "config.json").write_text(json.dumps({**config, "augment": bad}))
        with pytest.raises(ValueError, match="incomplete or corrupted"):
            FaceCNNClassifier.load(path)
    (path / "config.json").write_text(json.dumps(config))
    (path / "weights.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="could not be loaded: the file is empty"):
        FaceCNNClassifier.load(path)


def test_class_weight_keys_survive_saving(tmp_path):
    X, y = make_faces(32)
    clf = FaceCNNClassifier(class_weight={np.int64(0): 1.0, 1: 3.0}, **TINY).fit(X, y)
    loaded = FaceCNNClassifier.load(clf.save(tmp_path / "m"))
    assert loaded.class_weight == {0: 1.0, 1: 3.0}
    clone(loaded).fit(X, y)  # the keys are classes again, not the text '0' and '1'
    with pytest.raises(ValueError, match="weighs every class 0"):
        FaceCNNClassifier(class_weight={0: 0.0, 1: 0.0}, **TINY).fit(X, y)


def test_in_a_pipeline():
    X, y = make_faces(64)
    pipe = make_pipeline(FunctionTransformer(lambda a: a.astype(np.float32) / 255.0),
                         FaceCNNClassifier(**TINY))
    assert pipe.fit(X, y).predict(X).shape == (64,)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"attention": "transformer"}, "'attention' parameter"),
        ({"gamma": -1.0}, "'gamma' parameter"),
        ({"class_weight": "auto"}, "'class_weight' parameter"),
        ({"balance": "smote"}, "'balance' parameter"),
        ({"lr_schedule": "step"}, "'lr_schedule' parameter"),
        ({"validation_fraction": 1.5}, "'validation_fraction' parameter"),
        ({"n_members": 0}, "'n_members' parameter"),
        ({"rotation_weight": -0.5}, "'rotation_weight' parameter"),
        ({"rotation_weight": float("nan")}, "'rotation_weight' parameter"),
    ],
)
def test_bad_parameters(params, match):
    X, y = make_faces(32)
    with pytest.raises(ValueError, match=match):
        FaceCNNClassifier(**{**TINY, **params}).fit(X, y)


def test_bad_inputs():
    X, y = make_faces(32)
    clf = FaceCNNClassifier(**TINY)
    bad_X = X.astype(np.float32)
    bad_X[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(bad_X, y)
    with pytest.raises(ValueError, match="infinity"):
        clf.fit(np.where(bad_X != bad_X, np.inf, bad_X), y)
    with pytest.raises(ValueError, match="5-D"):
        clf.fit(X[:, None], y)
    with pytest.raises(ValueError, match="only one class"):
        clf.fit(X, np.zeros(32))
    with pytest.raises(ValueError, match="0 sample"):
        clf.fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.fit(X, y[:-1])
    with pytest.raises(ValueError, match="both X_val and y_val"):
        clf.fit(X, y, X_val=X)
    with pytest.raises(ValueError, match="not seen during fit"):
        clf.fit(X, y, X_val=X, y_val=y + 5)
    with pytest.raises(ValueError, match="not classes"):
        clone(clf).set_params(class_weight={0: 1.0, 7: 2.0}).fit(X, y)
    with pytest.raises(NotFittedError):
        clone(clf).predict(X)
    clf.fit(X, y)
    with pytest.raises(ValueError, match=r"labels not seen during fit: \[2\]"):
        clf.score(X, np.full(32, 2))
    with pytest.raises(ValueError, match="was fitted on"):
        clf.predict(X[:, :, :8, :8])


def test_a_failed_refit_leaves_the_previous_model():
    X, y = make_faces(32)
    clf = FaceCNNClassifier(**TINY).fit(X, y)
    state = {k: v for k, v in vars(clf).items() if k.endswith("_")}
    proba = clf.predict_proba(X)
    names = np.where(y == 1, "fake", "real")
    with pytest.raises(ValueError, match="both X_val and y_val"):
        clf.fit(X, names, X_val=X)  # fails after the new classes are known
    three = np.arange(32) % 3
    with pytest.raises(ValueError, match="not classes"):
        clf.set_params(class_weight={0: 1.0, 7: 2.0}).fit(X, three)
    clf.set_params(class_weight=None)
    assert {k: v for k, v in vars(clf).items() if k.endswith("_")}.keys() == state.keys()
    assert clf.classes_.tolist() == [0, 1] and clf.net_ is state["net_"]
    assert np.array_equal(clf.predict_proba(X), proba)
    # an estimator never fitted stays unfitted
    fresh = FaceCNNClassifier(**TINY)
    with pytest.raises(ValueError, match="both X_val and y_val"):
        fresh.fit(X, y, X_val=X)
    assert not [k for k in vars(fresh) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        fresh.predict(X)


@pytest.mark.parametrize("seed", range(6))
def test_a_class_with_one_sample_is_never_held_out_for_validation(seed):
    X, y = make_faces(12, size=8, seed=seed)
    y = np.r_[np.zeros(11, int), 1]  # one fake only
    clf = FaceCNNClassifier(**{**TINY, "random_state": seed}, validation_fraction=0.3)
    clf.fit(X, y)
    assert clf.train_class_counts_.tolist() == [7, 1]  # 4 of 12 held out, all of them real


def test_integer_images_are_scaled_like_uint8():
    X, y = make_faces(48, size=8)
    clf = FaceCNNClassifier(**TINY).fit(X, y)
    expected = clf.predict_proba(X)
    # the pixels' type decides the scale, whatever holds them: a list or tuple of uint8
    # images, a uint8 tensor and an integer DataFrame of flattened images are 8-bit too
    for other in (X.astype(np.int64), X.astype(np.int16), X.tolist(), list(X), tuple(X),
                  torch.from_numpy(X)):
        assert np.allclose(clf.predict_proba(other), expected, atol=1e-6)
    fitted_on_int = FaceCNNClassifier(**TINY).fit(X.astype(np.int64), y)
    assert np.allclose(fitted_on_int.predict_proba(X), expected, atol=1e-6)
    fitted_on_list = FaceCNNClassifier(**TINY).fit(list(X), y)
    assert np.allclose(fitted_on_list.predict_proba(X), expected, atol=1e-6)
    pd = pytest.importorskip("pandas")
    flat = FaceCNNClassifier(**TINY, image_shape=X.shape[1:]).fit(X.reshape(len(X), -1), y)
    frame = pd.DataFrame(X.reshape(len(X), -1).astype(np.int64))
    assert np.allclose(flat.predict_proba(frame), flat.predict_proba(X.reshape(len(X), -1)),
                       atol=1e-6)
    with pytest.raises(ValueError, match="integer images must hold 8-bit pixel values"):
        clf.predict(X.astype(np.int64) * 4)


def test_float_pixels_above_one_are_named():
    X, y = make_faces(32, size=8)
    clf = FaceCNNClassifier(**TINY)
    with pytest.warns(UserWarning, match="X holds float values up to 255; .* pass them as uint8"):
        clf.fit(X.astype(np.float32), y)  # 8-bit pixels cast to float: 255 times too bright
    clf.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.predict(X)
        clf.predict(X.astype(np.float32) / 255)  # floats in [0, 1] are what it expects
    with pytest.warns(UserWarning, match="float values up to 255"):
        clf.predict(X.astype(np.float64))


def test_batch_size_one():
    X, y = make_faces(24, size=16)
    # 16 px through two stages leaves a 4 x 4 map: one image a batch trains
    assert FaceCNNClassifier(**{**TINY, "batch_size": 1, "max_epochs": 1}).fit(X, y).n_epochs_ == 1
    X8, y8 = make_faces(24, size=8)
    with pytest.raises(ValueError, match=r"batch_size=1 .* use batch_size >= 2"):
        FaceCNNClassifier(**{**TINY, "depth": 4, "batch_size": 1, "max_epochs": 1}).fit(X8, y8)


@pytest.mark.parametrize("n", [1, 2, 17, 33, 64])
@pytest.mark.parametrize("batch_size", [1, 2, 16])
def test_training_batches_cover_every_sample_without_singletons(n, batch_size):
    from skface._classifier import _TailMergingBatchSampler

    sampler = _TailMergingBatchSampler(n, batch_size, torch.Generator().manual_seed(0))
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for b in batches for i in b) == list(range(n))
    if batch_size > 1 and n > 1:
        assert min(len(b) for b in batches) > 1


def test_channel_stats_match_numpy_without_copying_the_images():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(150, 3, 5, 7), dtype=np.uint8)
    idx = np.arange(0, 150, 3)
    mean, std = FaceCNNClassifier._channel_stats(X, idx)
    ref = X[idx].astype(np.float64) / 255
    np.testing.assert_allclose(mean, ref.mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(std, ref.std(axis=(0, 2, 3)))
    Xf = rng.normal(5, 2, size=(70, 1, 4, 4)).astype(np.float32)
    mean, std = FaceCNNClassifier._channel_stats(Xf)
    np.testing.assert_allclose(mean, [Xf.astype(np.float64).mean()], rtol=1e-6)
    np.testing.assert_allclose(std, [Xf.astype(np.float64).std()], rtol=1e-5)


def test_multi_view_ensemble(tmp_path):
    from skface.nn import view_box

    X, y = make_faces(64)  # 16 x 16 images
    clf = FaceCNNClassifier(n_members=3, views=(1, 4 / 3, 2), view_size=8, tta=True,
                            device="cpu", **TINY).fit(X, y)  # its networks are called on CPU
    members = clf.net_.module_.members
    assert [m.zoom for m in members] == [1.0, 4 / 3, 2.0]
    assert all(m.view_size == 8 for m in members)
    # each network sees its centred crop, resized to 8 x 8
    T = torch.as_tensor(X[:4], dtype=torch.float32) / 255.0
    assert view_box(16, 16, 2.0) == (4, 4, 8, 8) and view_box(16, 16, 4 / 3) == (2, 2, 12, 12)
    torch.testing.assert_close(members[2].view(T), T[..., 4:12, 4:12])
    torch.testing.assert_close(members[0].view(T),
                               torch.nn.functional.avg_pool2d(T, 2))
    assert members[1].view(T).shape == (4, 3, 8, 8)
    # the networks really differ in what they see: a change outside the middle half moves
    # the whole-image network's output and leaves the zoom-2 network's alone
    T2 = T.clone()
    T2[..., :4, :] = 1.0 - T2[..., :4, :]
    with torch.no_grad():
        assert not torch.allclose(members[0].eval()(T), members[0](T2))
        torch.testing.assert_close(members[2].eval()(T), members[2](T2))
    # fewer views than networks: they repeat in turn
    two = FaceCNNClassifier(n_members=3, views=[1, 2], view_size=8, **TINY).fit(X, y)
    assert [m.zoom for m in two.net_.module_.members] == [1.0, 2.0, 1.0]
    # persistence keeps every network's view
    loaded = FaceCNNClassifier.load(clf.save(tmp_path / "views"))
    assert [m.zoom for m in loaded.net_.module_.members] == [1.0, 4 / 3, 2.0]
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-5,
                               atol=1e-7)
    assert loaded.get_params()["views"] == [1.0, 4 / 3, 2.0]


def test_view_size_per_view(tmp_path):
    X, y = make_faces(64)  # 16 x 16 images
    clf = FaceCNNClassifier(n_members=4, views=(1, 2, 1, 2), view_size=(8, 8, 4, 4),
                            device="cpu", **TINY).fit(X, y)
    members = clf.net_.module_.members
    assert [(m.zoom, m.view_size) for m in members] == [(1.0, 8), (2.0, 8), (1.0, 4), (2.0, 4)]
    T = torch.as_tensor(X[:4], dtype=torch.float32) / 255.0
    torch.testing.assert_close(members[2].view(T), torch.nn.functional.avg_pool2d(T, 4))
    assert members[3].view(T).shape == (4, 3, 4, 4)
    # the sides travel with the views when there are more networks than views, and persist
    three = FaceCNNClassifier(n_members=3, views=(1, 2), view_size=[8, 4], **TINY).fit(X, y)
    assert [m.view_size for m in three.net_.module_.members] == [8, 4, 8]
    loaded = FaceCNNClassifier.load(clf.save(tmp_path / "sizes"))
    assert [m.view_size for m in loaded.net_.module_.members] == [8, 8, 4, 4]
    assert loaded.get_params()["view_size"] == [8, 8, 4, 4]
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-5,
                               atol=1e-7)
    # one side per view, positive ints, checked before any training
    with pytest.raises(ValueError, match="view_size holds 2 sides for 3 views"):
        FaceCNNClassifier(views=(1, 2, 4), view_size=(8, 4), **TINY).fit(X, y)
    with pytest.raises(ValueError, match=r"view_size holds 2 sides for 1 view \(views=None\)"):
        FaceCNNClassifier(view_size=(8, 4), **TINY).fit(X, y)
    with pytest.raises(ValueError, match=r"positive ints; got \[0, 2.5\]"):
        FaceCNNClassifier(views=(1, 2, 4), view_size=(8, 0, 2.5), **TINY).fit(X, y)


def test_precision(monkeypatch, tmp_path):
    X, y = make_faces(96)
    params = dict(TINY, max_epochs=8, lr=1e-2)
    bf = FaceCNNClassifier(precision="bfloat16", **params).fit(X, y)
    assert bf.precision_ == "bfloat16" and bf.net_.bf16
    assert bf.net_.module_.stages[0].conv.body[0].weight.is_contiguous(
        memory_format=torch.channels_last)
    assert bf.net_.module_.stages[0].conv.body[0].weight.dtype == torch.float32
    assert bf.score(X, y) > 0.9  # it learns the checkerboard in bfloat16 too
    f32 = FaceCNNClassifier(precision="float32", **params).fit(X, y)
    assert f32.precision_ == "float32" and not f32.net_.bf16
    # channels-last on a CPU in float32 too: oneDNN's layout, 1.3x faster there
    assert f32.net_.channels_last and f32.net_.module_.stages[0].conv.body[0].weight.is_contiguous(
        memory_format=torch.channels_last)
    # same seed and data: the two differ only because bfloat16 was really used
    assert not np.array_equal(bf.predict_proba(X), f32.predict_proba(X))
    loaded = FaceCNNClassifier.load(bf.save(tmp_path / "bf16"))
    assert loaded.precision == "bfloat16" and loaded.precision_ == "bfloat16"
    np.testing.assert_allclose(loaded.predict_proba(X), bf.predict_proba(X), atol=1e-6)
    # "auto" resolves per machine: float32 on a CPU without AMX or AVX-512 BF16
    # (raising=False: torch 2.2 has no such queries, and then skface assumes neither)
    for query in _CPU_BF16_QUERIES:
        monkeypatch.setattr(torch.cpu, query, lambda: False, raising=False)
    assert FaceCNNClassifier(device="cpu", **TINY).fit(X, y).precision_ == "float32"
    with pytest.warns(UserWarning, match="no native bfloat16 units"):
        FaceCNNClassifier(precision="bfloat16", device="cpu", **TINY).fit(X, y)
    # "cpu:0" is the same CPU (it had said nothing), and a loaded model is warned about too
    with pytest.warns(UserWarning, match="no native bfloat16 units"):
        FaceCNNClassifier(precision="bfloat16", device="cpu:0", **TINY).fit(X, y)
    with pytest.warns(UserWarning, match="no native bfloat16 units"):
        FaceCNNClassifier.load(tmp_path / "bf16", device="cpu")
    with pytest.raises(ValueError, match="precision"):
        FaceCNNClassifier(precision="half", **TINY).fit(X, y)


def test_cpu_fit_and_predict_reuse_freed_memory(recording_libc):
    """Training and prediction on a CPU run inside ``reuse_freed_memory`` (glibc keeps freed
    32 MiB batches for the next step instead of faulting fresh pages in), once per call."""
    from skface.utils import _memory

    libc = recording_libc
    X, y = make_faces(64)
    clf = FaceCNNClassifier(device="cpu", **dict(TINY, n_members=2)).fit(X, y)
    reuse, restore = list(_memory._REUSE), list(_memory._RESTORE) + [("trim", 0)]
    assert libc.calls == reuse + restore  # one setting for both networks
    libc.calls.clear()
    clf.predict_proba(X)
    assert libc.calls == reuse + restore


class _ShapeRecorder:
    """An augmenter that changes nothing and records the shapes of the batches it gets."""

    def __init__(self):
        self.shapes = set()

    def augment_batch(self, X, rng):
        self.shapes.add(tuple(X.shape[1:]))
        return X


def test_views_are_cut_after_augmentation_and_for_validation():
    import skface._classifier

    X, y = make_faces(96)  # 16 x 16 images
    recorder = _ShapeRecorder()
    seen = set()

    class Recording(skface._classifier.FaceCNN):
        def forward_features(self, x):
            seen.add((self.training, tuple(x.shape[1:])))
            return super().forward_features(x)

    params = dict(TINY, views=(2,), view_size=4, tta=False, gamma=0.0, augment=recorder)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(skface._classifier, "FaceCNN", Recording)
        clf = FaceCNNClassifier(**params).fit(X[:64], y[:64], X_val=X[64:], y_val=y[64:])
    # training and validation batches reach the network already cut to its 4 x 4 view
    assert seen == {(True, (3, 4, 4)), (False, (3, 4, 4))}
    # the augmenter transforms the whole 16 x 16 image; the network trains on its 4 x 4 view
    assert recorder.shapes == {(3, 16, 16)}
    assert clf.net_.module_.zoom == 2.0 and clf.net_.module_.view_size == 4
    # the validation loss of training was computed on the same view the fitted model uses
    proba = clf.predict_proba(X[64:])
    loss = -np.mean(np.log(proba[np.arange(32), clf._encode(y[64:])]))
    assert clf.history_[-1]["valid_loss"] == pytest.approx(loss, rel=1e-4)


@pytest.mark.parametrize("views, match", [
    ((), "views is empty"),
    ((0.5,), r"zoom factors >= 1; got \[0.5\]"),
    ((1, float("nan")), "zoom factors >= 1"),
    (("wide",), "sequence of numbers"),
])
def test_bad_views(views, match):
    X, y = make_faces(16)
    with pytest.raises(ValueError, match=match):
        FaceCNNClassifier(views=views, **TINY).fit(X, y)


def test_views_and_space_to_depth_must_agree():
    X, y = make_faces(16)  # 16 x 16: zoom 3 sees 5 x 5, not a multiple of 2
    with pytest.raises(ValueError, match="the network sees 5x5"):
        FaceCNNClassifier(views=(3,), space_to_depth=2, **TINY).fit(X, y)
    FaceCNNClassifier(views=(3,), view_size=8, space_to_depth=2, **TINY).fit(X, y)


def test_views_no_network_uses_are_not_checked():
    # n_members=1 trains views[0] only (the documented fast fallback of the recipe): a later
    # view that no network looks at must not refuse the fit
    X, y = make_faces(16, size=20)  # zoom 4 of 20 x 20 sees 5 x 5, not a multiple of 2
    clf = FaceCNNClassifier(views=(1, 4), space_to_depth=2, n_members=1, **TINY).fit(X, y)
    assert len(clf.members_) == 1
    with pytest.raises(ValueError, match="the network sees 5x5"):
        FaceCNNClassifier(views=(1, 4), space_to_depth=2, n_members=2, **TINY).fit(X, y)


def test_head_grid_finer_than_the_last_feature_map_warns():
    X, y = make_faces(16)  # 16 x 16, depth 2: the last map is 8 x 8
    with pytest.warns(UserWarning, match=r"head_grid=16 .* last feature map is 8x8"):
        FaceCNNClassifier(head_grid=16, **TINY).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FaceCNNClassifier(head_grid=8, **TINY).fit(X, y)


def test_a_one_class_validation_set_warns_and_text_weights_are_named():
    X, y = make_faces(32)
    with pytest.warns(UserWarning, match="y_val holds one class only"):
        FaceCNNClassifier(**TINY).fit(X, y, X_val=X[y == 0][:4], y_val=y[y == 0][:4])
    with pytest.raises(ValueError, match="class_weight values must be numbers"):
        FaceCNNClassifier(**TINY, class_weight={0: "a"}).fit(X, y)


def test_prediction_shows_progress_when_verbose(capsys):
    """Scoring a large set was silent (about 70 s for 10,000 images with the recipe)."""
    X, y = make_faces(48)
    clf = FaceCNNClassifier(**TINY).fit(X, y)
    capsys.readouterr()
    clf.predict_proba(X)
    assert "predict" not in capsys.readouterr().err
    clf.set_params(verbose=1).predict_proba(X)  # 48 images in batches of 16
    assert "predict" in capsys.readouterr().err


def test_data_frame_column_names_are_kept_and_checked(tmp_path):
    """A data frame of flattened pixels had its column names ignored: columns in another
    order were scored without a word (scikit-learn's own estimators refuse them)."""
    pd = pytest.importorskip("pandas")
    X, y = make_faces(32, size=8)
    df = pd.DataFrame(X.reshape(len(X), -1), columns=[f"px{i}" for i in range(3 * 8 * 8)])
    clf = FaceCNNClassifier(**TINY, image_shape=(3, 8, 8)).fit(df, y)
    assert list(clf.feature_names_in_) == list(df.columns)
    with pytest.raises(ValueError, match="feature names should match"):
        clf.predict_proba(df[df.columns[::-1]])
    loaded = FaceCNNClassifier.load(clf.save(tmp_path / "m"))
    assert list(loaded.feature_names_in_) == list(df.columns)
    np.testing.assert_array_equal(loaded.predict_proba(df), clf.predict_proba(df))
    with pytest.raises(ValueError, match="feature names should match"):
        loaded.predict(df[df.columns[::-1]])
    # arrays carry no names, and a refit on arrays forgets the old ones
    assert not hasattr(FaceCNNClassifier(**TINY).fit(X, y), "feature_names_in_")
    assert not hasattr(clf.fit(X, y), "feature_names_in_")


def test_with_tol_the_lowest_loss_epoch_is_kept_and_the_last_epoch_printed(capsys):
    """With tol > 0, skorch's stopper kept the last epoch that beat the best by tol (epoch 1
    of 3, loss 0.7038, over epoch 3's 0.6891); and the epoch that stopped training was never
    printed with verbose=1."""
    X, y = make_faces(100, seed=1)
    Xv, yv = make_faces(40, seed=2)
    clf = FaceCNNClassifier(width=4, depth=2, max_epochs=12, n_iter_no_change=2, lr=3e-3,
                            precision="float32", lr_schedule=None, random_state=0, tol=0.02,
                            verbose=1).fit(X, y, Xv, yv)
    losses = [h["valid_loss"] for h in clf.history_]
    assert clf.best_epoch_ == int(np.argmin(losses)) + 1
    p = clf.predict_proba(Xv)[np.arange(len(yv)), yv]
    assert -np.log(p).mean() == pytest.approx(min(losses), rel=1e-4)
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == clf.n_epochs_, out


def test_the_held_out_part_holds_every_class():
    """A class under about 1 / n_val of the samples got no held-out row (3 of 100: the 15
    held-out rows were all of the other class), silently; a 3-class y_val without one class
    gave no warning."""
    X, _ = make_faces(100)
    y = np.zeros(100, int)
    y[:3] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = FaceCNNClassifier(**TINY).fit(X, y)
    assert clf.train_class_counts_.tolist() == [82, 2]
    y3 = np.arange(60) % 3
    X3, _ = make_faces(60)
    keep = y3[:10] != 2
    with pytest.warns(UserWarning, match=r"y_val holds no sample of class\(es\) \[2\]"):
        FaceCNNClassifier(**TINY).fit(X3, y3, X_val=X3[:10][keep], y_val=y3[:10][keep])
