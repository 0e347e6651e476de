import json
import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import FixedThresholdClassifier, TunedThresholdClassifierCV
from sklearn.svm import LinearSVC

from skface.metrics import EvaluationResult, best_threshold, evaluate, evaluate_scores
from skface.metrics import resolve_pos_label, tune_threshold


def _data(n=200, seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] + 0.8 * rng.normal(size=n) > shift).astype(int)
    sources = np.where(y == 1, np.array(["gan_a", "gan_b"])[rng.integers(0, 2, n)],
                       np.array(["ffhq", "lfw"])[rng.integers(0, 2, n)])
    return X, y, sources


@pytest.fixture
def fitted():
    X, y, s = _data()
    return LogisticRegression().fit(X, y), X, y, s


def test_matches_sklearn_metrics(fitted):
    clf, X, y, _ = fitted
    res = evaluate(clf, X, y)
    pred = clf.predict(X)
    score = clf.predict_proba(X)[:, 1]
    assert res.accuracy == pytest.approx(accuracy_score(y, pred))
    assert res.precision == pytest.approx(precision_score(y, pred))
    assert res.recall == pytest.approx(recall_score(y, pred))
    assert res.f1 == pytest.approx(f1_score(y, pred))
    assert res.balanced_accuracy == pytest.approx(balanced_accuracy_score(y, pred))
    assert res.roc_auc == pytest.approx(roc_auc_score(y, score))
    assert res.average_precision == pytest.approx(average_precision_score(y, score))
    assert res.confusion_matrix == confusion_matrix(y, pred, labels=[0, 1]).tolist()
    assert 0.0 < res.eer < 0.5
    assert res.pos_label == 1 and res.neg_label == 0


def test_real_fake_strings_positive_is_fake(fitted):
    clf, X, y, _ = fitted
    ys = np.where(y == 1, "fake", "real")
    clf_s = LogisticRegression().fit(X, ys)
    assert list(clf_s.classes_) == ["fake", "real"]  # fake is classes_[0] here
    a, b = evaluate(clf, X, y), evaluate(clf_s, X, ys)
    assert b.pos_label == "fake"
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc", "average_precision", "eer"):
        assert getattr(a, name) == pytest.approx(getattr(b, name))
    assert a.confusion_matrix == b.confusion_matrix


def test_resolve_pos_label():
    assert resolve_pos_label([0, 1]) == (1, 0)
    assert resolve_pos_label(np.array([False, True])) == (True, False)
    assert resolve_pos_label(np.array([0.0, 1.0])) == (1.0, 0.0)
    assert resolve_pos_label(["Fake", "Real"]) == ("Fake", "Real")
    assert resolve_pos_label(["a", "b"], pos_label="a") == ("a", "b")
    with pytest.raises(ValueError, match="pos_label"):
        resolve_pos_label(["cat", "dog"])
    with pytest.raises(ValueError, match="not one of"):
        resolve_pos_label([0, 1], pos_label=2)
    with pytest.raises(ValueError, match="3 classes"):
        resolve_pos_label([0, 1, 2])


def test_per_source_adds_up(fitted):
    clf, X, y, s = fitted
    res = evaluate(clf, X, y, sources=s)
    assert set(res.per_source) == {"ffhq", "lfw", "gan_a", "gan_b"}
    total = np.sum([np.array(r.confusion_matrix) for r in res.per_source.values()], axis=0)
    assert total.tolist() == res.confusion_matrix
    assert sum(r.n_samples for r in res.per_source.values()) == res.n_samples
    real = res.per_source["ffhq"]
    # one-class source: undefined figures are None, defined ones are right
    assert real.roc_auc is None and real.recall is None
    # precision and F1 are 0 or 1 by construction on one class: undefined, not 0.0
    for one_class in (real, res.per_source["gan_a"]):
        assert one_class.precision is None and one_class.f1 is None
        assert one_class.balanced_accuracy is None
    mask = s == "ffhq"
    assert real.specificity == pytest.approx(np.mean(clf.predict(X[mask]) == 0))
    assert real.accuracy == real.specificity


def test_threshold_changes_predictions(fitted):
    clf, X, y, _ = fitted
    score = clf.predict_proba(X)[:, 1]
    res = evaluate(clf, X, y, threshold=0.8)
    assert res.threshold == 0.8
    assert res.tp + res.fp == int(np.sum(score >= 0.8))
    assert res.roc_auc == evaluate(clf, X, y).roc_auc
    with pytest.raises(ValueError, match=r"threshold must be a float in \(0, 1\)"):
        evaluate(clf, X, y, threshold=1.5)


def test_json_round_trip(fitted):
    clf, X, y, s = fitted
    res = evaluate(clf, X, y, sources=s, threshold=0.4)
    back = EvaluationResult.from_json(res.to_json(include_predictions=True))
    assert back == res
    np.testing.assert_allclose(back.y_score, res.y_score)
    light = EvaluationResult.from_json(res.to_json())
    assert light.to_dict() == res.to_dict()
    assert light.y_score is None
    assert json.loads(res.to_json())["per_source"]["lfw"]["roc_auc"] is None
    ys = np.where(y == 1, "fake", "real")
    res_s = evaluate(LogisticRegression().fit(X, ys), X, ys)
    assert EvaluationResult.from_dict(json.loads(res_s.to_json())).pos_label == "fake"
    with pytest.raises(ValueError, match="Unknown EvaluationResult fields"):
        EvaluationResult.from_dict({**res.to_dict(), "bogus": 1})


def test_one_class_test_set_is_an_error(fitted):
    clf, X, y, _ = fitted
    with pytest.raises(ValueError, match="only one class"):
        evaluate(clf, X[y == 1], y[y == 1])


def test_estimator_without_predict_proba():
    X, y, _ = _data()
    with pytest.raises(TypeError, match="predict_proba"):
        evaluate(LinearSVC().fit(X, y), X, y)
    with pytest.raises(TypeError, match="predict_proba"):
        tune_threshold(LinearSVC().fit(X, y), X, y)


def test_unfitted_and_bad_labels(fitted):
    clf, X, y, s = fitted
    with pytest.raises(NotFittedError):
        evaluate(LogisticRegression(), X, y)
    with pytest.raises(ValueError, match="does not know"):
        evaluate(clf, X, np.where(y == 1, "fake", "real"))
    with pytest.raises(ValueError, match="sources has 3 entries"):
        evaluate(clf, X, y, sources=s[:3])


def test_eer_perfect_and_known():
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    clf = LogisticRegression(C=100).fit(X, y)
    assert evaluate(clf, X, y).eer == pytest.approx(0.0)
    # half of each class on the wrong side: EER 0.5
    y2 = np.array([0, 1, 0, 1])
    X2 = np.array([[0.0], [1.0], [2.0], [3.0]])
    clf2 = LogisticRegression().fit(X2, np.array([0, 0, 1, 1]))
    assert evaluate(clf2, X2, y2).eer == pytest.approx(0.5)


def test_tune_threshold_improves_miscalibrated_model():
    # trained where fakes are rare, evaluated on a balanced validation set
    X, y, _ = _data(n=600, seed=1, shift=1.2)
    clf = LogisticRegression().fit(X, y)
    Xv, yv, _ = _data(n=400, seed=2, shift=0.0)
    t = tune_threshold(clf, Xv, yv)
    assert 0.0 < t < 0.5
    assert evaluate(clf, Xv, yv, threshold=t).balanced_accuracy > \
        evaluate(clf, Xv, yv).balanced_accuracy
    # the same threshold in P(fake) space with string labels
    ys, yvs = np.where(y == 1, "fake", "real"), np.where(yv == 1, "fake", "real")
    clf_s = LogisticRegression().fit(X, ys)
    assert tune_threshold(clf_s, Xv, yvs) == pytest.approx(t, abs=1e-6)
    # FixedThresholdClassifier with the tuned threshold agrees with evaluate(threshold=t)
    fixed = FixedThresholdClassifier(clf, threshold=t, response_method="predict_proba").fit(X, y)
    assert evaluate(fixed, Xv, yv).confusion_matrix == \
        evaluate(clf, Xv, yv, threshold=t).confusion_matrix
    assert tune_threshold(clf, Xv, yv, metric="f1") > 0
    assert tune_threshold(clf, Xv, yv, metric=lambda a, b: np.mean(a == b)) > 0
    with pytest.raises(ValueError, match="Unknown metric"):
        tune_threshold(clf, Xv, yv, metric="nope")
    with pytest.raises(ValueError, match="only one"):
        tune_threshold(clf, Xv[yv == 1], yv[yv == 1])


@pytest.mark.parametrize("strings", [False, True])
def test_evaluate_scores_equals_evaluate_at_the_threshold(fitted, strings):
    clf, X, y, s = fitted
    if strings:
        y = np.where(y == 1, "fake", "real")
        clf = LogisticRegression().fit(X, y)
    p_fake = clf.predict_proba(X)[:, list(clf.classes_).index(1 if not strings else "fake")]
    for t in (0.3, 0.5, 0.72):
        a = evaluate(clf, X, y, sources=s, threshold=t).to_dict(include_predictions=True)
        b = evaluate_scores(y, p_fake, threshold=t, sources=s).to_dict(include_predictions=True)
        assert a == b
    # the default threshold is 0.5, which for two classes is the estimator's own decision
    assert evaluate_scores(y, p_fake).confusion_matrix == evaluate(clf, X, y).confusion_matrix
    # re-cutting a kept result needs no second pass over the images
    res = evaluate(clf, X, y)
    assert evaluate_scores(res.y_true, res.y_score, threshold=0.3).f1 == \
        evaluate(clf, X, y, threshold=0.3).f1


def test_evaluate_scores_refuses_bad_input():
    y, p = np.array([0, 1, 0, 1]), np.array([0.2, 0.8, 0.4, 0.6])
    with pytest.raises(ValueError, match="only one class"):
        evaluate_scores([1, 1, 1, 1], p)
    with pytest.raises(ValueError, match="3 labels"):
        evaluate_scores([0, 1, 2, 1], p)
    with pytest.raises(ValueError, match="Cannot tell which class is 'fake'"):
        evaluate_scores(["cat", "dog", "cat", "dog"], p)
    assert evaluate_scores(["cat", "dog", "cat", "dog"], p, pos_label="dog").accuracy == 1.0
    with pytest.raises(ValueError, match="NaN or infinite values .first at index 2"):
        evaluate_scores(y, [0.2, 0.8, np.nan, 0.6])
    with pytest.raises(ValueError, match=r"in \[0, 1\]; 1 of 4 are outside .first: 3.5 at index 1"):
        evaluate_scores(y, [0.2, 3.5, 0.4, 0.6])
    with pytest.raises(ValueError, match="shape .n_samples,.; got shape .4, 2."):
        evaluate_scores(y, np.c_[1 - p, p])
    with pytest.raises(ValueError, match="y_score has 3 entries but y_true has 4"):
        evaluate_scores(y, p[:3])
    with pytest.raises(ValueError, match="must hold numbers"):
        evaluate_scores(y, ["a", "b", "c", "d"])
    for t in (0.0, 1.0, "0.5", np.nan):
        with pytest.raises(ValueError, match="threshold must be a float in"):
            evaluate_scores(y, p, threshold=t)
    with pytest.raises(ValueError, match="sources has 2 entries"):
        evaluate_scores(y, p, sources=["a", "b"])


@pytest.mark.parametrize("metric", ["balanced_accuracy", "accuracy", "f1", "mcc", "recall"])
def test_best_threshold_is_sklearns_prefit_search(metric):
    # the oracle: TunedThresholdClassifierCV on the fitted estimator, as tune_threshold used
    # to call it; best_threshold must find the same cut from the scores alone
    from sklearn.metrics import get_scorer, make_scorer

    X, y, _ = _data(n=600, seed=1, shift=1.2)
    clf = LogisticRegression().fit(X, y)
    Xv, yv, _ = _data(n=300, seed=4, shift=0.0)
    scoring = (make_scorer(f1_score) if metric == "f1" else
               make_scorer(recall_score) if metric == "recall" else
               "matthews_corrcoef" if metric == "mcc" else get_scorer(metric))
    oracle = TunedThresholdClassifierCV(clf, scoring=scoring, response_method="predict_proba",
                                        thresholds=150, cv="prefit", refit=False).fit(Xv, yv)
    p_fake = clf.predict_proba(Xv)[:, 1]
    # on scikit-learn's own grid of candidates, the same cut
    grid = np.linspace(p_fake.min(), p_fake.max(), 150)
    assert best_threshold(yv, p_fake, metric=metric, thresholds=grid) == pytest.approx(
        oracle.best_threshold_, abs=1e-12)
    # with a number of candidates, the grid plus every cut between distinct scores: at least
    # as good on the data it is tuned on
    t = best_threshold(yv, p_fake, metric=metric, thresholds=150)
    func = {"balanced_accuracy": balanced_accuracy_score, "accuracy": accuracy_score,
            "f1": f1_score, "mcc": matthews_corrcoef, "recall": recall_score}[metric]
    assert func(yv, p_fake >= t) >= func(yv, p_fake >= oracle.best_threshold_) - 1e-12
    assert tune_threshold(clf, Xv, yv, metric=metric, thresholds=150) == t


def test_best_threshold_candidates_and_errors():
    y, p = [0, 0, 1, 1], [0.1, 0.3, 0.4, 0.9]
    assert best_threshold(y, p, thresholds=[0.2, 0.35, 0.5]) == 0.35
    # ties go to the first best candidate; a cut above every score predicts no fake
    assert best_threshold(y, p, thresholds=[0.95, 0.35, 0.38]) == 0.35
    assert best_threshold(y, p, metric="precision", thresholds=[0.95, 0.5]) == 0.5
    with pytest.raises(ValueError, match="same P.fake. .0.5."):
        best_threshold(y, [0.5] * 4)
    with pytest.raises(ValueError, match="at least 1"):
        best_threshold(y, p, thresholds=0)
    with pytest.raises(ValueError, match="non-empty list of finite numbers"):
        best_threshold(y, p, thresholds=[])
    with pytest.raises(ValueError, match="Unknown metric"):
        best_threshold(y, p, metric="auc")
    with pytest.raises(ValueError, match="y_true holds only one class"):
        best_threshold([1, 1, 1, 1], p)
    with pytest.raises(ValueError, match="NaN"):
        best_threshold(y, [0.1, np.nan, 0.4, 0.9])
    # what it returns, evaluate takes: never a cut at 0 or 1
    assert 0 < best_threshold(y, [0.0, 0.3, 0.4, 1.0], metric="recall") < 1
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        best_threshold(y, p, thresholds=[-3, 0.5, 7])


@pytest.mark.parametrize("metric", ["balanced_accuracy", "accuracy", "mcc", "f1", "precision",
                                    "recall"])
def test_best_threshold_from_counts_is_the_metric_per_cut(metric):
    """The built-in metrics come from the confusion counts of every cut at once (one metric
    call per cut took 23 s for 100,000 scores): the same cut as calling the metric on each,
    ties (rounded scores) and string labels included."""
    from skface.metrics._evaluate import _TUNING_METRICS

    func = _TUNING_METRICS[metric]
    rng = np.random.default_rng(0)
    for trial in range(20):
        n = int(rng.integers(4, 60))
        y = np.where(rng.random(n) < 0.4, "fake", "real")
        y[:2] = ["fake", "real"]
        p = rng.random(n)
        if trial % 2:
            p = np.round(p, 1)  # many equal scores, many tied cuts
        if p.min() == p.max():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            per_cut = best_threshold(y, p, thresholds=50,
                                     metric=lambda a, b: func(a, b, pos_label="fake"))
        assert best_threshold(y, p, metric=metric, thresholds=50) == per_cut


def test_best_threshold_cuts_between_scores_closer_than_its_grid():
    # a network's saturated outputs: 200 grid steps never fall between them, the midpoints do
    y, p = [0, 0, 0, 1, 1, 1], [0.01, 0.998, 0.999, 0.9995, 0.9997, 0.9999]
    for metric in ("balanced_accuracy", "accuracy", "f1"):
        t = best_threshold(y, p, metric=metric)
        assert 0.999 < t < 0.9995  # halfway between the classes, a margin on both sides
        assert evaluate_scores(y, p, threshold=t).accuracy == 1.0


def test_eer_threshold_is_where_the_error_rates_meet():
    # float rounding hid this exact crossing (the lower cut 0.4 was given), and roc_curve's
    # dropped collinear points hid the one of the second set
    for y, p, expected in (([0, 1, 0, 1, 1, 0], [.1, .9, .6, .4, .7, .2], (1 / 3, 0.6)),
                           ([0, 0, 1, 1, 1, 1], [.95, .1, .9, .8, .7, .6], (0.5, 0.8))):
        r = evaluate_scores(y, p)
        assert (r.eer, r.eer_threshold) == pytest.approx(expected)
    rng = np.random.default_rng(0)
    for _ in range(300):  # every exact crossing, on random sets with tied scores
        y = rng.integers(0, 2, int(rng.integers(4, 30)))
        if y.min() == y.max():
            continue
        p = np.round(rng.random(len(y)), 2)
        r = evaluate_scores(y, p)
        fpr = np.mean(p[y == 0] >= r.eer_threshold)
        fnr = np.mean(p[y == 1] < r.eer_threshold)
        crossings = [t for t in np.unique(p) if np.isclose(np.mean(p[y == 0] >= t),
                                                           np.mean(p[y == 1] < t))]
        if crossings:
            assert fpr == pytest.approx(fnr) == pytest.approx(r.eer)
        else:
            assert min(fpr, fnr) - 1e-12 <= r.eer <= max(fpr, fnr) + 1e-12


def test_labels_are_compared_by_value_and_sources_must_be_named():
    X, y, _ = _data(n=80, seed=2, shift=1.5)
    clf = LogisticRegression().fit(X, y)  # classes 0 and 1 (ints)
    as_float = evaluate(clf, X, y.astype(float))
    assert as_float.to_dict() == evaluate(clf, X, y).to_dict()
    assert evaluate(clf, X, y, pos_label=1.0).to_dict() == as_float.to_dict()
    assert resolve_pos_label([0, 1], pos_label=1.0) == (1, 0)
    with pytest.raises(ValueError, match="y holds labels '0', '1' that the estimator"):
        evaluate(clf, X, y.astype(str))
    for missing in (None, np.nan):
        sources = np.array(["a"] * 79 + [missing], dtype=object)
        with pytest.raises(ValueError, match="sources holds 1 missing values .* index 79"):
            evaluate(clf, X, y, sources=sources)
        with pytest.raises(ValueError, match="missing values"):
            evaluate_scores(y, np.full(80, 0.3), sources=sources)


def test_face_classifier_is_run_once(monkeypatch):
    # evaluate takes FaceCNNClassifier's predictions from its probabilities: the images go
    # through the network once, and the figures are those of its own predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from skface import FaceCNNClassifier
    from skface.tests.test_classifier import make_faces

    X, y = make_faces(96, size=16, seed=3)
    clf = FaceCNNClassifier(width=4, depth=2, max_epochs=2, batch_size=16,
                            random_state=0).fit(X, y)
    pipe = make_pipeline(FunctionTransformer(), clf).fit(X, y)
    calls = []
    original = type(clf)._logproba
    monkeypatch.setattr(type(clf), "_logproba",
                        lambda self, X: calls.append(len(X)) or original(self, X))
    for model in (clf, pipe):
        calls.clear()
        res = evaluate(model, X, y)
        assert calls == [len(X)]
        pred = model.predict(X)
        assert res.confusion_matrix == confusion_matrix(y, pred, labels=[0, 1]).tolist()
        assert res.accuracy == pytest.approx(accuracy_score(y, pred))
    # a subclass with its own predict keeps it

    class Cautious(type(clf)):
        def predict(self, X):  # calls every face real
            return np.full(len(X), self.classes_[0])

    cautious = Cautious(width=4, depth=2, max_epochs=2, batch_size=16, random_state=0).fit(X, y)
    res = evaluate(cautious, X, y)
    assert res.confusion_matrix == [[48, 0], [48, 0]]
    # a threshold wrapper keeps its own predict, so it runs twice
    fixed = FixedThresholdClassifier(clf, threshold=0.3, response_method="predict_proba")
    fixed.fit(X, y)
    calls.clear()
    res = evaluate(fixed, X, y)
    assert len(calls) == 2
    assert res.confusion_matrix == confusion_matrix(y, fixed.predict(X), labels=[0, 1]).tolist()


def test_labels_are_one_per_sample_and_known_to_the_model(fitted):
    """tune_threshold counted labels the model does not know as real; a (n, 2) label array
    was flattened into twice the samples; a generator became a single label."""
    clf, X, y = fitted[:3]
    with pytest.raises(ValueError, match="y_val holds labels 2 that the estimator does not know"):
        tune_threshold(clf, X, np.where(y == 0, 2, 1))
    with pytest.raises(ValueError, match=r"one label per sample \(1-D\); got shape \(2, 2\)"):
        evaluate_scores(np.array([[0, 1], [0, 1]]), [0.1, 0.6, 0.4, 0.9])
    result = evaluate_scores((v for v in [0, 1, 0, 1]), [0.1, 0.6, 0.4, 0.9])
    assert result.n_samples == 4
    column = evaluate_scores(np.array([[0], [1], [0], [1]]), [0.1, 0.6, 0.4, 0.9])
    assert column.accuracy == result.accuracy


def test_best_threshold_names_a_bad_metric():
    y, p = [0, 0, 1, 1], [0.1, 0.3, 0.4, 0.9]
    with pytest.raises(ValueError, match=r"returned NaN at 1 threshold\(s\) \(first 0.35\)"):
        best_threshold(y, p, thresholds=[0.2, 0.35, 0.5],
                       metric=lambda a, b: float("nan") if b.sum() == 2 else 0.5)
    with pytest.raises(ValueError, match="Unknown metric"):
        best_threshold(y, p, metric=["f1"])


def test_from_dict_names_what_is_wrong():
    """{} and a list for per_source failed with TypeError and AttributeError."""
    from skface.metrics import EvaluationResult

    with pytest.raises(ValueError, match=r"fields \['n_samples', 'pos_label', 'neg_label'\]"):
        EvaluationResult.from_dict({})
    base = {"n_samples": 4, "pos_label": 1, "neg_label": 0}
    with pytest.raises(ValueError, match="per_source must be a dict"):
        EvaluationResult.from_dict({**base, "per_source": [1, 2]})
    with pytest.raises(ValueError, match="confusion_matrix must be"):
        EvaluationResult.from_dict({**base, "confusion_matrix": [1, 2, 3]})
    with pytest.raises(ValueError, match="takes a dict"):
        EvaluationResult.from_dict([1])


def test_batched_evaluation_is_the_whole_one_and_decodes_one_slice_at_a_time(fitted):
    # batch_size scores X slice by slice (a pipeline of paths decodes one slice at a time) and
    # gives the figures of one call, for a model with its own predict as well
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    clf, X, y, s = fitted
    seen = []
    pipe = make_pipeline(FunctionTransformer(lambda Z: seen.append(len(Z)) or np.asarray(Z)),
                         clf)
    fixed = FixedThresholdClassifier(clf, threshold=0.3, response_method="predict_proba").fit(X, y)
    for model, threshold in ((pipe, None), (pipe, 0.4), (fixed, None)):
        whole = evaluate(model, X, y, sources=s, threshold=threshold)
        seen.clear()
        parts = evaluate(model, list(X), y, sources=s, threshold=threshold, batch_size=64)
        assert parts.to_dict() == whole.to_dict()
        np.testing.assert_array_equal(parts.y_score, whole.y_score)
        if model is pipe:  # with its own predict, each slice goes through it twice
            assert seen == ([64, 64, 64, 64, 64, 64, 8, 8] if threshold is None
                            else [64, 64, 64, 8])
    assert evaluate(clf, iter(X), y, batch_size=7).to_dict() == evaluate(clf, X, y).to_dict()
    assert evaluate(clf, X, y, batch_size=7.0).to_dict() == evaluate(clf, X, y).to_dict()
    for bad in (0, -1, 2.5, "8", True):
        with pytest.raises(ValueError, match="batch_size"):
            evaluate(clf, X, y, batch_size=bad)
    seen.clear()
    with pytest.raises(ValueError, match="X has 199 samples but y has 200"):
        evaluate(pipe, X[:199], y, batch_size=50)
    assert seen == []  # refused before anything was scored


def test_missing_labels_are_named():
    """None had become the real class, with full figures and no word."""
    from skface.metrics import best_threshold, evaluate_scores

    for y in ([None, None, "fake", "fake"], [np.nan, np.nan, 1.0, 1.0]):
        with pytest.raises(ValueError, match=r"y_true has missing labels .* \[0, 1\]"):
            evaluate_scores(y, [0.1, 0.6, 0.4, 0.9], pos_label="fake" if None in y else 1.0)
        with pytest.raises(ValueError, match="missing labels"):
            best_threshold(y, [0.1, 0.6, 0.4, 0.9], pos_label="fake" if None in y else 1.0)


def test_json_round_trip_keeps_each_sources_predictions():
    from skface.metrics import EvaluationResult, evaluate_scores

    r = evaluate_scores([0, 1] * 4, [0.1, 0.8, 0.4, 0.6, 0.3, 0.9, 0.2, 0.7],
                        sources=["a", "b"] * 4)
    back = EvaluationResult.from_json(r.to_json(include_predictions=True))
    assert back == r
    np.testing.assert_array_equal(back.per_source["a"].y_score, r.per_source["a"].y_score)
    light = EvaluationResult.from_json(r.to_json())
    assert light.per_source["a"].y_score is None and light != r


def test_best_threshold_refuses_equal_scores_with_given_candidates():
    from skface.metrics import best_threshold

    with pytest.raises(ValueError, match="Every sample has the same P"):
        best_threshold([0, 1, 0, 1], [0.5] * 4, thresholds=[0.3, 0.7])
