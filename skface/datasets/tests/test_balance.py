import numpy as np
import pytest
from imblearn.pipeline import Pipeline
from sklearn.base import BaseEstimator, ClassifierMixin

from skface.datasets import balance_indices, make_sampler


def test_undersample_oversample_none():
    y = np.array([0] * 30 + [1] * 10)
    u = balance_indices(y, balance="undersample", random_state=0)
    assert np.bincount(y[u]).tolist() == [10, 10] and len(set(u)) == 20
    o = balance_indices(y, balance="oversample", random_state=0)
    assert np.bincount(y[o]).tolist() == [30, 30]
    assert np.array_equal(balance_indices(y, balance="none"), np.arange(40))
    assert np.array_equal(u, balance_indices(y, balance="undersample", random_state=0))


def test_by_source_equalises_sources_within_class():
    y = np.array([0] * 30 + [0] * 12 + [1] * 20 + [1] * 9)
    src = np.array(["a"] * 30 + ["b"] * 12 + ["c"] * 20 + ["d"] * 9, dtype=object)
    u = balance_indices(y, source=src, balance="undersample", by_source=True, random_state=0)
    counts = {s: int((src[u] == s).sum()) for s in "abcd"}
    assert counts == {"a": 9, "b": 9, "c": 9, "d": 9}
    o = balance_indices(y, source=src, balance="oversample", by_source=True, random_state=0)
    counts = {s: int((src[o] == s).sum()) for s in "abcd"}
    assert counts == {"a": 30, "b": 30, "c": 30, "d": 30}
    # source names of mixed types (numbers from one column, text from another) work too
    mixed = np.array([1] * 30 + ["b"] * 12 + [3] * 20 + ["d"] * 9, dtype=object)
    m = balance_indices(y, source=mixed, balance="undersample", by_source=True, random_state=0)
    assert len(m) == 36 and np.array_equal(m, u)


def test_errors():
    y = np.array([0, 0, 1])
    with pytest.raises(ValueError, match="balance must be"):
        balance_indices(y, balance="smote")
    with pytest.raises(ValueError, match="needs `source`"):
        balance_indices(y, by_source=True)
    with pytest.raises(ValueError, match="two classes"):
        balance_indices([0, 0], balance="undersample")
    with pytest.raises(ValueError, match="empty"):
        balance_indices([], balance="undersample")


class _CountingClassifier(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.seen_ = np.bincount(np.asarray(y)).tolist()
        self.paths_ = list(np.asarray(X).ravel())
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.zeros(len(X), dtype=int)


def test_sampler_in_imblearn_pipeline_on_paths():
    paths = np.array([f"/data/{i}.jpg" for i in range(12)], dtype=object).reshape(-1, 1)
    y = np.array([0] * 9 + [1] * 3)
    pipe = Pipeline([("balance", make_sampler("undersample", random_state=0)),
                     ("clf", _CountingClassifier())]).fit(paths, y)
    assert pipe.named_steps["clf"].seen_ == [3, 3]
    assert all(p.startswith("/data/") for p in pipe.named_steps["clf"].paths_)
    assert make_sampler("none") is None
    assert type(make_sampler("oversample")).__name__ == "RandomOverSampler"


def test_balance_indices_names_bad_labels_and_sources():
    """A None source became a source named 'None'; a None label failed in numpy's sort; a
    string y was read as one class."""
    from skface.datasets import balance_indices

    y = [0, 0, 0, 1]
    with pytest.raises(ValueError, match="source has missing values"):
        balance_indices(y, balance="oversample", by_source=True, source=["a", None, "a", "b"])
    with pytest.raises(ValueError, match="missing labels"):
        balance_indices([0, None, 0, 1], balance="oversample")
    with pytest.raises(ValueError, match="one label per sample"):
        balance_indices("0001", balance="oversample")
    assert len(balance_indices((v for v in y), balance="oversample", random_state=0)) == 6
    # a column is one label per sample, as evaluate reads it; two columns are refused
    np.testing.assert_array_equal(
        balance_indices(np.array(y)[:, None], balance="oversample", random_state=0),
        balance_indices(y, balance="oversample", random_state=0))
    with pytest.raises(ValueError, match=r"one label per sample \(1-D\); got shape \(4, 2\)"):
        balance_indices(np.zeros((4, 2)), balance="oversample")


def test_by_source_without_resampling_is_refused():
    """by_source=True with balance='none' (build_dataset's default) was ignored silently."""
    from skface.datasets import balance_indices

    with pytest.raises(ValueError, match="by_source=True .* needs balance='undersample' or"):
        balance_indices([0, 0, 0, 1], balance="none", by_source=True)
