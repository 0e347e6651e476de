import csv

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import ParameterGrid
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import LinearSVC

from skface.experiments import check_split, default_param_grid, run_ablation

from .conftest import _flatten, make_split

GRID = {"classifier__C": [0.01, 1.0], "classifier__fit_intercept": [True, False]}


def _read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_ablation_end_to_end(faces, lr_pipeline, tmp_path):
    X, y, src = faces
    split = make_split(len(y))
    out = tmp_path / "abl.csv"
    table, details = run_ablation(lr_pipeline, GRID, X, y, split, seeds=(0, 1), sources=src,
                                  csv_path=out, return_details=True, progress=False)
    assert len(table) == 4
    assert set(table["config"]) == set(details.configs)
    assert table["selected"].sum() == 1
    assert details.selected in details.configs
    runs = details.runs
    assert len(runs) == 8
    # every configuration is evaluated on the test split, for every seed
    assert len(details.evaluations) == 8
    ev = details.evaluations[(details.configs[0], 0)]
    assert ev.n_samples == len(split[2])
    assert set(ev.per_source) <= {"ffhq", "lfw", "gan_a", "gan_b"}
    # mean / std over seeds agree with the per-run rows
    for label in details.configs:
        acc = runs.loc[runs["config"] == label, "accuracy"].to_numpy(float)
        row = table.loc[table["config"] == label].iloc[0]
        assert row["accuracy_mean"] == pytest.approx(acc.mean())
        assert row["accuracy_std"] == pytest.approx(acc.std(ddof=1))
        assert row["n_seeds"] == 2
    # the selected row has the best mean validation score
    best = table.loc[table["val_score_mean"].idxmax(), "config"]
    assert details.selected == best
    # CSV files
    assert len(_read_csv(out)) == 4
    assert len(_read_csv(tmp_path / "abl_runs.csv")) == 8
    assert "accuracy_std" in _read_csv(out)[0]
    assert len(details.grid_searches) == 2
    assert "mean_test_score" in details.grid_searches[0].cv_results_


def test_test_figures_match_evaluate(faces, lr_pipeline):
    from skface.metrics import evaluate

    X, y, _ = faces
    split = make_split(len(y))
    table, details = run_ablation(lr_pipeline, {"classifier__C": [0.1]}, X, y, split, seeds=(0,),
                                  csv_path=None, return_details=True, progress=False)
    model = details.estimators[(details.configs[0], 0)]
    direct = evaluate(model, X[split[2]], y[split[2]])
    assert table["accuracy_mean"].iloc[0] == pytest.approx(direct.accuracy)
    refit = lr_pipeline.set_params(classifier__C=0.1, classifier__random_state=0)
    refit.fit(X[split[0]], y[split[0]])
    np.testing.assert_allclose(refit.predict_proba(X[split[2]])[:, 1], direct.y_score)


def test_threshold_tuning_option(faces, lr_pipeline):
    X, y, _ = faces
    split = make_split(len(y))
    _, details = run_ablation(lr_pipeline, {"classifier__C": [0.1]}, X, y, split, seeds=(0,),
                              threshold="tune", csv_path=None, return_details=True,
                              progress=False)
    thr = details.runs["threshold"].iloc[0]
    assert 0 < thr < 1
    assert next(iter(details.evaluations.values())).threshold == pytest.approx(thr)
    # the threshold comes from the validation scores already computed; it is the one
    # tune_threshold finds by running the refitted model over the validation images
    from skface.metrics import tune_threshold

    refit = lr_pipeline.set_params(classifier__C=0.1, classifier__random_state=0)
    refit.fit(X[split[0]], y[split[0]])
    assert thr == pytest.approx(tune_threshold(refit, X[split[1]], y[split[1]]), abs=1e-12)


def test_default_grid():
    grid = default_param_grid("classifier")
    assert len(ParameterGrid(grid)) == 24
    assert grid["classifier__attention"] == [None, "se", "cbam", "nonlocal"]
    assert set(default_param_grid("")) == {"attention", "gamma", "class_weight"}


def test_unknown_parameter(faces, lr_pipeline):
    X, y, _ = faces
    with pytest.raises(ValueError, match="unknown parameter 'classifier__gama'"):
        run_ablation(lr_pipeline, {"classifier__gama": [1]}, X, y, make_split(len(y)),
                     csv_path=None, progress=False)
    with pytest.raises(ValueError, match="must be a list"):
        run_ablation(lr_pipeline, {"classifier__C": 1.0}, X, y, make_split(len(y)),
                     csv_path=None, progress=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"threshold": 1.5}, "threshold must be"),
    ({"threshold": 0}, "threshold must be"),
    ({"threshold": True}, "threshold must be"),
    ({"threshold": "tune", "tune_metric": "auc"}, "Unknown metric 'auc'"),
])
def test_bad_threshold_options_fail_before_any_training(faces, kwargs, match):
    X, y, _ = faces
    _ValRecorder.seen = []
    pipe = Pipeline([("flatten", FunctionTransformer(_flatten)), ("classifier", _ValRecorder())])
    with pytest.raises(ValueError, match=match):
        run_ablation(pipe, {"classifier__C": [1.0]}, X, y, make_split(len(y)), csv_path=None,
                     progress=False, **kwargs)
    assert _ValRecorder.seen == []


def test_summary_says_which_metrics_are_undefined(faces):
    class NeverFake(_ValRecorder):
        def predict_proba(self, X):
            p = np.full(len(X), 0.1) if self.random_state == 0 else self.lr_.predict_proba(X)[:, 1]
            return np.c_[1 - p, p]

        def predict(self, X):
            return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    X, y, _ = faces
    pipe = Pipeline([("flatten", FunctionTransformer(_flatten)), ("classifier", NeverFake())])
    table, details = run_ablation(pipe, {"classifier__C": [1.0]}, X, y, make_split(len(y)),
                                  seeds=(0, 1, 2), csv_path=None, progress=False,
                                  return_details=True)
    row = table.iloc[0]
    assert row["n_seeds"] == 3 and row["undefined"] == "precision in 1 of 3 seeds"
    assert row["precision_mean"] == pytest.approx(details.runs["precision"].iloc[1:].mean())
    one = run_ablation(pipe, {"classifier__C": [1.0]}, X, y, make_split(len(y)), seeds=(1,),
                       csv_path=None, progress=False)
    assert one["accuracy_std"].isna().all()  # a sample std of one value is undefined
    assert one["undefined"].iloc[0] == ""


def test_one_class_test_split(faces, lr_pipeline):
    X, y, _ = faces
    tr, va, te = make_split(len(y))
    te_one = te[y[te] == 1]
    with pytest.raises(ValueError, match="test split holds only one class"):
        run_ablation(lr_pipeline, GRID, X, y, (tr, va, te_one), csv_path=None, progress=False)


def test_a_configuration_given_twice_is_refused(faces, lr_pipeline):
    """C=[1, 1] trained the same configuration twice and the table reported it as two seeds
    with zero spread."""
    X, y, _ = faces
    split = make_split(len(y))
    for grid in ({"classifier__C": [1.0, 1.0]}, {"classifier__C": [1, 1.0]},
                 [{"classifier__C": [0.1, 1.0]}, {"classifier__C": [1.0]}]):
        with pytest.raises(ValueError, match="configuration 'C=1' twice"):
            run_ablation(lr_pipeline, grid, X, y, split, csv_path=None, progress=False)


def test_bad_splits(faces, lr_pipeline):
    X, y, _ = faces
    tr, va, te = make_split(len(y))
    with pytest.raises(ValueError, match="share"):
        check_split((tr, va, np.r_[te, tr[:2]]), len(y))
    with pytest.raises(ValueError, match=r"test part of split holds indices beyond the 120 rows"):
        check_split((tr, va, np.r_[te, 10_000]), len(y))
    # the same reading of row numbers as predefined_split: whole floats (a pandas column) are
    # rows, 0.5 or -1 are named
    assert np.array_equal(check_split((tr, va, te.astype(float)), len(y))[2], te)
    for bad, match in (([0.5], "whole row numbers"), ([-1], "negative"), ([], "empty")):
        with pytest.raises(ValueError, match=f"val part of split .*{match}"):
            check_split((tr, bad, te), len(y))
    with pytest.raises(ValueError, match="tuple"):
        check_split((tr, va), len(y))
    masks = tuple(np.isin(np.arange(len(y)), p) for p in (tr, va, te))
    assert [len(p) for p in check_split(masks, len(y))] == [len(tr), len(va), len(te)]


def test_no_predict_proba(faces):
    X, y, _ = faces
    pipe = Pipeline([("flatten", FunctionTransformer(_flatten)), ("classifier", LinearSVC())])
    with pytest.raises(TypeError, match="predict_proba"):
        run_ablation(pipe, {"classifier__C": [1.0]}, X, y, make_split(len(y)), csv_path=None,
                     progress=False)


class _ValRecorder(ClassifierMixin, BaseEstimator):
    """Logistic regression that records the validation data it was given."""

    seen = []

    def __init__(self, C=1.0, random_state=None):
        self.C = C
        self.random_state = random_state

    def fit(self, X, y, X_val=None, y_val=None):
        type(self).seen.append((X.shape, None if X_val is None else X_val.copy(), y_val))
        self.lr_ = LogisticRegression(C=self.C).fit(X, y)
        self.classes_ = self.lr_.classes_
        self.n_epochs_, self.best_epoch_, self.n_params_ = 7, 4, X.shape[1] + 1
        return self

    def predict_proba(self, X):
        return self.lr_.predict_proba(X)

    def predict(self, X):
        return self.lr_.predict(X)


def test_validation_split_is_passed_for_early_stopping(faces):
    X, y, _ = faces
    split = make_split(len(y))
    _ValRecorder.seen = []
    pipe = Pipeline([("flatten", FunctionTransformer(_flatten)), ("classifier", _ValRecorder())])
    table = run_ablation(pipe, {"classifier__C": [0.1, 1.0]}, X, y, split, seeds=(3,),
                         csv_path=None, progress=False)
    assert len(_ValRecorder.seen) == 2
    for shape, X_val, y_val in _ValRecorder.seen:
        assert shape[0] == len(split[0])  # fitted on the train part only
        np.testing.assert_allclose(X_val, _flatten(X[split[1]]))  # transformed by earlier steps
        np.testing.assert_array_equal(y_val, y[split[1]])
    assert (table["n_epochs_mean"] == 7).all() and (table["best_epoch_mean"] == 4).all()
    assert (table["n_params"] == X[0].size + 1).all()


class _Interrupting(_ValRecorder):
    calls = 0

    def fit(self, X, y, X_val=None, y_val=None):
        type(self).calls += 1
        if type(self).calls == 3:
            raise KeyboardInterrupt
        return super().fit(X, y, X_val, y_val)


def test_ctrl_c_keeps_finished_rows(faces, tmp_path):
    X, y, _ = faces
    _Interrupting.calls = 0
    pipe = Pipeline([("flatten", FunctionTransformer(_flatten)), ("classifier", _Interrupting())])
    out = tmp_path / "a.csv"
    with pytest.warns(UserWarning, match="interrupted: 2 of 6 runs"):
        table, details = run_ablation(pipe, {"classifier__C": [0.1, 1.0, 10.0]}, X, y,
                                      make_split(len(y)), seeds=(0, 1), csv_path=out,
                                      return_details=True, progress=False)
    assert details.interrupted
    assert len(details.runs) == 2
    assert len(_read_csv(tmp_path / "a_runs.csv")) == 2
    assert len(_read_csv(out)) == 2
    # the files are not replaced unasked (csv_path defaults to ablation.csv in the working
    # folder), and a run in which nothing finished leaves them as they were (it blanked them)
    before = {f: f.read_bytes() for f in (out, tmp_path / "a_runs.csv")}
    with pytest.raises(FileExistsError, match="a.csv already exists.*overwrite=True"):
        run_ablation(pipe, {"classifier__C": [0.1]}, X, y, make_split(len(y)), seeds=(0,),
                     csv_path=out, progress=False)
    (tmp_path / "b_runs.csv").write_text("old\n")
    with pytest.raises(FileExistsError, match="b_runs.csv already exists"):
        run_ablation(pipe, {"classifier__C": [0.1]}, X, y, make_split(len(y)), seeds=(0,),
                     csv_path=tmp_path / "b.csv", progress=False)
    _Interrupting.calls = 2  # the next fit is interrupted
    with pytest.warns(UserWarning, match="no run had finished"):
        run_ablation(pipe, {"classifier__C": [0.1]}, X, y, make_split(len(y)), seeds=(0,),
                     csv_path=out, overwrite=True, progress=False)
    assert {f: f.read_bytes() for f in before} == before


class _WithAttention(_ValRecorder):
    def __init__(self, C=1.0, attention=None, random_state=None):
        self.C = C
        self.attention = attention
        self.random_state = random_state


def test_representatives_and_large_grid_report(faces, tmp_path):
    from skface.experiments import write_report

    X, y, _ = faces
    pipe = Pipeline([("flatten", FunctionTransformer(_flatten)), ("classifier", _WithAttention())])
    grid = {"classifier__attention": [None, "se", "cbam"], "classifier__C": [0.01, 0.1, 1.0]}
    table, details = run_ablation(pipe, grid, X, y, make_split(len(y)), seeds=(0,),
                                  csv_path=None, return_details=True, progress=False)
    reps = details.representatives()
    assert len(reps) == 3
    for rep in reps:
        att = details.params[rep]["classifier__attention"]
        same = table[table["attention"].astype(str) == str(att)]
        assert rep == same.loc[same["val_score_mean"].astype(float).idxmax(), "config"]
    assert details.selected in reps
    out = write_report(tmp_path / "r", ablation=(table, details), max_curves=4)
    html = (out / "report.html").read_text()
    assert "3 of 9 configurations are drawn" in html
    # the heading names what the grid varied, and the selection score says what it is
    md = (out / "report.md").read_text()
    assert "Ablation: attention, C" in md and "class weighting" not in md
    assert "val balanced accuracy" in md
    fig_legend = len(details.evaluations_for_seed(0))
    assert fig_legend == 9


def test_duplicate_short_names_keep_full_names(faces):
    X, y, _ = faces
    pipe = Pipeline([("f1", FunctionTransformer(_flatten)), ("f2", FunctionTransformer()),
                     ("classifier", LogisticRegression(max_iter=300))])
    grid = {"f1__validate": [False], "f2__validate": [False], "classifier__C": [0.1, 1.0]}
    table = run_ablation(pipe, grid, X, y, make_split(len(y)), seeds=(0,), csv_path=None,
                         progress=False)
    assert {"f1__validate", "f2__validate", "C"} <= set(table.columns)
    assert table["config"].iloc[0] == "f1__validate=False, f2__validate=False, C=0.1"


def test_seeds_are_distinct_whole_numbers(faces):
    """seeds=[0.7] ran seed 0, [0, 0] counted one seed twice in the std, and 5 failed with
    "'int' object is not iterable"."""
    X, y, _ = faces
    pipe = Pipeline([("flatten", FunctionTransformer(_flatten)), ("classifier", _ValRecorder())])
    for seeds, match in ((5, "list of ints"), ([0.7], r"ints >= 0; got \[0.7\]"),
                         ([None], "ints >= 0"), ([0, 0], "more than once")):
        with pytest.raises(ValueError, match=match):
            run_ablation(pipe, {"classifier__C": [1.0]}, X, y, make_split(len(y)), seeds=seeds,
                         csv_path=None, progress=False)


def _linear_data():
    rng = np.random.default_rng(0)
    X = rng.random((60, 10))
    y = np.tile([0, 1], 30)
    X[y == 1, 0] += 0.5
    return X, y, (np.arange(36), np.arange(36, 48), np.arange(48, 60))


def test_runs_are_kept_under_a_joblib_backend_of_processes(tmp_path):
    """Under joblib.parallel_backend("loky"), the grid search scored in worker processes: the
    rows the scorer recorded never came back, and the table and CSV were empty."""
    import joblib

    X, y, split = _linear_data()
    with joblib.parallel_backend("loky", n_jobs=2):
        table, details = run_ablation(LogisticRegression(), {"C": [0.01, 1.0]}, X, y, split,
                                      seeds=(0, 1), csv_path=tmp_path / "abl.csv",
                                      progress=False, return_details=True)
    assert len(table) == 2 and len(details.evaluations) == 4 and details.selected
    with open(tmp_path / "abl_runs.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 4


def test_a_parameter_named_like_a_result_column_keeps_its_values():
    """A grid parameter called threshold (or precision) had its column overwritten by the
    decision threshold (or the test precision)."""
    from sklearn.model_selection import FixedThresholdClassifier

    X, y, split = _linear_data()
    table, details = run_ablation(FixedThresholdClassifier(LogisticRegression()),
                                  {"threshold": [0.3, 0.7]}, X, y, split, seeds=(0,),
                                  csv_path=None, progress=False, return_details=True)
    assert list(table["param_threshold"]) == [0.3, 0.7]
    assert list(details.runs["param_threshold"]) == [0.3, 0.7]
    assert list(details.runs["threshold"]) == [None, None]  # run_ablation's own (default)


def test_random_state_in_the_grid_is_refused():
    """It overrode every seed: three 'seeds' of one fit, with a standard deviation of 0."""
    from sklearn.ensemble import RandomForestClassifier

    X, y, split = _linear_data()
    with pytest.raises(ValueError, match="param_grid sets 'random_state', which the seeds set"):
        run_ablation(RandomForestClassifier(n_estimators=3), {"random_state": [7]}, X, y, split,
                     seeds=(0, 1, 2), csv_path=None, progress=False)
