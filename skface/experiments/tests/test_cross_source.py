import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from skface.experiments import cross_source_evaluate

from .conftest import make_split


def test_leave_one_source_out(faces, lr_pipeline, tmp_path):
    X, y, src = faces
    split = make_split(len(y))
    out = tmp_path / "cs.csv"
    table, details = cross_source_evaluate(lr_pipeline, X, y, src, split=split, csv_path=out,
                                           return_details=True, progress=False)
    assert list(table["held_out"]) == ["ffhq", "gan_a", "gan_b", "lfw"]
    assert (table["status"] == "ok").all()
    for _, row in table.iterrows():
        s = row["held_out"]
        assert row["n_held_out"] == int(np.sum(src == s))
        ev = details.evaluations[s]
        own = ev.per_source[s]
        assert own.n_samples == row["n_held_out"]
        assert own.accuracy == pytest.approx(row["held_out_accuracy"])
        # the comparison images are the other class's test images from other sources only
        other = ev.per_source["(other sources)"]
        held_class = y[src == s][0]
        assert row["held_out_class"] == ("fake" if held_class == 1 else "real")  # not 1 / 0
        te = split[2]
        expected = np.sum((src[te] != s) & (y[te] != held_class))
        assert other.n_samples == row["n_other_class_test"] == expected
        assert set(other.y_true.tolist()) == {1 - held_class}
        assert row["roc_auc"] == pytest.approx(ev.roc_auc)
        # training never saw the held-out source
        assert row["n_train"] == np.sum(src[split[0]] != s)
    assert out.read_text().count("\n") == 5
    assert set(details.estimators) == set(table["held_out"])
    assert set(details.in_distribution) == set(table["held_out"])


def test_default_split_and_skip_when_one_class_left(faces, lr_pipeline):
    X, y, src = faces
    src = src.copy()
    src[y == 0] = "only_real"
    with pytest.warns(UserWarning, match="only_real"):
        table = cross_source_evaluate(lr_pipeline, X, y, src, progress=False)
    row = table.set_index("held_out").loc["only_real"]
    assert row["status"].startswith("skipped")
    ok = table[table["status"] == "ok"]
    assert set(ok["held_out"]) == {"gan_a", "gan_b"}
    assert ok["roc_auc"].notna().all()
    assert ok["in_dist_accuracy"].isna().all()  # no in-distribution reference without a split
    # the folds are LeaveOneSourceOut's: held-out source + complement, the rest train / validate
    for _, row in ok.iterrows():
        assert row["n_train"] + row["n_val"] + row["n_held_out"] + row["n_other_class_test"] \
            == len(y)
        assert row["n_held_out"] == np.sum(src == row["held_out"])


def test_bad_input(faces, lr_pipeline):
    X, y, src = faces
    with pytest.raises(ValueError, match="sources has 3"):
        cross_source_evaluate(lr_pipeline, X, y, src[:3], progress=False)
    with pytest.raises(ValueError, match="at least two sources"):
        cross_source_evaluate(lr_pipeline, X, y, np.full(len(y), "a"), progress=False)
    with pytest.raises(ValueError, match="unknown sources"):
        cross_source_evaluate(lr_pipeline, X, y, src, held_out=["nope"], progress=False)


@pytest.mark.filterwarnings("ignore:Cross-source evaluation interrupted")
def test_csv_path_is_never_overwritten_unasked_or_blanked(faces, lr_pipeline, tmp_path):
    X, y, src = faces
    split = make_split(len(y))
    out = tmp_path / "cs.csv"
    out.write_text("old results\n")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        cross_source_evaluate(lr_pipeline, X, y, src, split=split, csv_path=out, progress=False)
    assert out.read_text() == "old results\n"

    class Interrupted(LogisticRegression):
        def fit(self, X, y, **kwargs):
            raise KeyboardInterrupt

    interrupted = Pipeline([("flatten", lr_pipeline.steps[0][1]), ("clf", Interrupted())])
    with pytest.warns(UserWarning, match="left as it was"):
        table = cross_source_evaluate(interrupted, X, y, src, split=split, csv_path=out,
                                      overwrite=True, progress=False)
    assert (table["status"] == "not run: interrupted (Ctrl-C)").all()
    assert out.read_text() == "old results\n"
    cross_source_evaluate(lr_pipeline, X, y, src, split=split, csv_path=out, overwrite=True,
                          progress=False)
    assert out.read_text().count("\n") == 5 and "gan_a" in out.read_text()
    with pytest.raises(ValueError, match="folder"):
        cross_source_evaluate(lr_pipeline, X, y, src, split=split, csv_path=tmp_path,
                              overwrite=True, progress=False)


class _InterruptedOnSecondFit(LogisticRegression):
    fits = 0

    def fit(self, X, y, **kwargs):
        type(self).fits += 1
        if type(self).fits == 2:
            raise KeyboardInterrupt
        return super().fit(X, y, **kwargs)


def test_an_interrupted_run_says_so_in_table_csv_and_report(faces, lr_pipeline, tmp_path):
    """The table, the CSV and the report held the finished sources only, without a mark."""
    import json

    from skface.experiments import write_report

    X, y, src = faces
    _InterruptedOnSecondFit.fits = 0
    pipe = Pipeline([("flatten", lr_pipeline.steps[0][1]), ("clf", _InterruptedOnSecondFit())])
    with pytest.warns(UserWarning, match="interrupted after 1 of"):
        table, details = cross_source_evaluate(pipe, X, y, src, split=make_split(len(y)),
                                               csv_path=tmp_path / "cs.csv",
                                               return_details=True, progress=False)
    n_sources = len(set(src))
    assert details.interrupted and len(table) == n_sources
    assert list(table["status"]) == ["ok"] + ["not run: interrupted (Ctrl-C)"] * (n_sources - 1)
    assert (tmp_path / "cs.csv").read_text().count("not run: interrupted") == n_sources - 1
    out = write_report(tmp_path / "rep", cross_source=(table, details))
    assert f"interrupted (Ctrl-C): 1 of {n_sources} held-out sources" in (
        out / "report.md").read_text()
    assert json.loads((out / "metrics.json").read_text())["cross_source_interrupted"] is True


def test_threshold_and_predict_proba_checked_before_training(faces, lr_pipeline):
    from sklearn.svm import LinearSVC

    X, y, src = faces
    fits = []

    def spy(base):
        class Spy(base):
            def fit(self, X, y, **kwargs):
                fits.append(1)
                return super().fit(X, y, **kwargs)

        return Pipeline([("flatten", lr_pipeline.steps[0][1]), ("clf", Spy())])

    for bad in (1.5, 0.0, "0.5", float("nan")):
        with pytest.raises(ValueError, match="threshold must be"):
            cross_source_evaluate(spy(LogisticRegression), X, y, src, split=make_split(len(y)),
                                  threshold=bad, progress=False)
    with pytest.raises(TypeError, match="predict_proba"):
        cross_source_evaluate(spy(LinearSVC), X, y, src, split=make_split(len(y)),
                              progress=False)
    assert fits == []


def test_bad_sources_and_held_out_are_refused(faces, lr_pipeline):
    X, y, src = faces
    split = make_split(len(y))
    for missing in (None, np.nan):
        gappy = src.copy()
        gappy[5] = missing
        with pytest.raises(ValueError, match="sources holds 1 missing value.*index 5"):
            cross_source_evaluate(lr_pipeline, X, y, gappy, split=split, progress=False)
    with pytest.raises(ValueError, match=r"held_out must be a list.*held_out=\['lfw'\]"):
        cross_source_evaluate(lr_pipeline, X, y, src, split=split, held_out="lfw",
                              progress=False)
    with pytest.raises(ValueError, match="held_out is empty"):
        cross_source_evaluate(lr_pipeline, X, y, src, split=split, held_out=[], progress=False)
    with pytest.raises(ValueError, match=r"\['lfw'\] more than once"):
        cross_source_evaluate(lr_pipeline, X, y, src, split=split, held_out=["lfw", "gan_a",
                              "lfw"], progress=False)
    table = cross_source_evaluate(lr_pipeline, X, y, src, split=split, held_out=("lfw",),
                                  progress=False)
    assert list(table["held_out"]) == ["lfw"]


@pytest.mark.parametrize("with_split", [True, False])
def test_one_source_per_class_gives_skipped_rows(faces, lr_pipeline, with_split):
    X, y, src = faces
    two = np.where(y == 1, "gan", "ffhq").astype(object)
    split = make_split(len(y)) if with_split else None
    with pytest.warns(UserWarning, match="skipped"):
        table = cross_source_evaluate(lr_pipeline, X, y, two, split=split, progress=False)
    assert list(table["held_out"]) == ["ffhq", "gan"]
    assert table["status"].str.startswith("skipped").all()


def test_x_and_y_of_different_lengths_are_refused(faces, lr_pipeline):
    """Extra rows of X were ignored without a word; fewer failed with an IndexError."""
    from skface.experiments import run_ablation

    X, y, src = faces
    for X_bad in (X[:-2], np.concatenate([X, X[:3]])):
        with pytest.raises(ValueError, match=f"X has {len(X_bad)} samples but y has {len(y)}"):
            cross_source_evaluate(lr_pipeline, X_bad, y, src, split=make_split(len(y)),
                                  progress=False)
        with pytest.raises(ValueError, match=f"X has {len(X_bad)} samples"):
            run_ablation(lr_pipeline, {"classifier__C": [1.0]}, X_bad, y, make_split(len(y)),
                         seeds=(0,), csv_path=None, progress=False)


def test_val_size_and_a_fold_too_small_for_it(lr_pipeline):
    """A bad val_size was reported as train_test_split's test_size; a fold whose training
    part could not give a stratified validation share aborted the whole run."""
    rng = np.random.default_rng(0)
    X = rng.random((12, 3, 4, 4))
    y = np.array([0] * 6 + [1] * 4 + [0] * 2)
    src = np.array(["r1"] * 6 + ["f1"] * 2 + ["f2"] * 2 + ["r2"] * 2, dtype=object)
    for bad in (0, 1.5, float("nan"), "x"):
        with pytest.raises(ValueError, match="val_size must be a fraction in"):
            cross_source_evaluate(lr_pipeline, X, y, src, val_size=bad, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        table = cross_source_evaluate(lr_pipeline, X, y, src, val_size=0.1, progress=False)
    status = dict(zip(table["held_out"], table["status"]))
    assert any("cannot give a validation share of val_size=0.1" in v for v in status.values())


def test_groups_keep_copies_of_held_out_pictures_out_of_training(faces, lr_pipeline):
    """A source that re-posts another's pictures (or the repeats of balance="oversample")
    put copies of held-out pictures into training and validation, kept copies of training
    pictures among the test images, and scored repeats more than once."""
    X, y, src = faces
    n = len(y)
    a = np.flatnonzero(src == "gan_a")
    b = np.flatnonzero(src == "gan_b")
    groups = np.arange(n)
    copies = b[:8]
    X = X.copy()
    X[copies] = X[a[:8]]  # gan_b re-posts eight gan_a faces
    groups[copies] = groups[a[:8]]
    reals = np.flatnonzero(y == 0)
    groups[reals[1]] = groups[reals[0]]  # a real picture twice (an oversampled repeat)
    X[reals[1]] = X[reals[0]]
    split = make_split(n)
    kwargs = dict(split=split, held_out=["gan_a"], return_details=True, progress=False)
    plain, _ = cross_source_evaluate(lr_pipeline, X, y, src, **kwargs)
    table, details = cross_source_evaluate(lr_pipeline, X, y, src, groups=groups, **kwargs)
    row, before = table.iloc[0], plain.iloc[0]
    in_train = [np.isin(copies, part).sum() for part in split[:2]]
    assert row["n_train"] == before["n_train"] - in_train[0]
    assert row["n_val"] == before["n_val"] - in_train[1]
    assert row["n_held_out"] == before["n_held_out"] == len(a)  # a's pictures, once each
    # the held-out source with its own repeats is scored once per picture
    groups2 = groups.copy()
    groups2[a[1]] = groups2[a[0]]
    table2, _ = cross_source_evaluate(lr_pipeline, X, y, src, groups=groups2, **kwargs)
    assert table2.iloc[0]["n_held_out"] == len(a) - 1
    # without groups nothing changes, and bad ids are named
    assert plain.equals(cross_source_evaluate(lr_pipeline, X, y, src, groups=None,
                                              **kwargs)[0])
    with pytest.raises(ValueError, match="groups has 3 entries"):
        cross_source_evaluate(lr_pipeline, X, y, src, groups=[0, 1, 2], **kwargs)
    with pytest.raises(ValueError, match="whole-number ids"):
        cross_source_evaluate(lr_pipeline, X, y, src, groups=np.full(n, 0.5), **kwargs)


def test_a_source_named_like_the_comparison_bucket_is_refused():
    """Its images were merged with the other sources' comparison images, so the held-out
    accuracy was computed on the wrong rows."""
    rng = np.random.default_rng(0)
    X = rng.random((60, 10))
    y = np.tile([0, 1], 30)
    src = np.array(["real_a", "fake_a", "real_b", "(other sources)"] * 15, dtype=object)
    with pytest.raises(ValueError, match=r"'\(other sources\)' names the other sources"):
        cross_source_evaluate(LogisticRegression(), X, y, src, progress=False)
