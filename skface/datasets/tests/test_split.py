import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score

from skface.datasets import LeaveOneSourceOut, predefined_split, train_val_test_split


def _data(n_real=120, n_fake=80, seed=0):
    rng = np.random.RandomState(seed)
    y = np.array([0] * n_real + [1] * n_fake)
    groups = np.arange(len(y))
    # some duplicate groups of size 2-3 inside each class
    for start in range(0, n_real - 3, 17):
        groups[start:start + 3] = groups[start]
    for start in range(n_real, len(y) - 2, 13):
        groups[start:start + 2] = groups[start]
    files = np.array([f"img{i}.jpg" for i in range(len(y))], dtype=object)
    return files, y, groups, rng


def test_split_properties():
    files, y, groups, _ = _data()
    tr, va, te = train_val_test_split(files, y, groups=groups, random_state=0)
    n = len(y)
    allidx = np.concatenate([tr, va, te])
    assert sorted(allidx) == list(range(n))  # disjoint and complete
    assert (y[te] == 0).sum() == (y[te] == 1).sum() == round(0.15 * n / 2)
    assert abs(len(va) - 0.15 * n) <= 3
    assert abs(len(tr) - 0.70 * n) <= 6
    # stratified validation: class ratio close to the remaining ratio
    rest = np.concatenate([tr, va])
    assert abs(y[va].mean() - y[rest].mean()) < 0.05
    for a, b in ((tr, va), (tr, te), (va, te)):
        assert not set(groups[a]) & set(groups[b])


def test_split_is_deterministic_and_seed_dependent():
    files, y, groups, _ = _data()
    a = train_val_test_split(files, y, groups=groups, random_state=3)
    b = train_val_test_split(files, y, groups=groups, random_state=3)
    c = train_val_test_split(files, y, groups=groups, random_state=4)
    assert all(np.array_equal(x, z) for x, z in zip(a, b))
    assert not np.array_equal(a[2], c[2])


def test_filenames_may_be_a_generator():
    # only their number is used: a generator of paths is counted ("object of type 'generator'
    # has no len()" before)
    y = np.array([0, 1] * 30)
    names = [f"img{i}.png" for i in range(60)]
    want = train_val_test_split(names, y, random_state=0)
    got = train_val_test_split((n for n in names), y, random_state=0)
    for a, b in zip(want, got):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="filenames has 59 entries but y has 60"):
        train_val_test_split(iter(names[:59]), y, random_state=0)
    with pytest.raises(TypeError, match="filenames must be"):
        train_val_test_split(60, y, random_state=0)


def test_unbalanced_test_and_zero_val():
    files, y, groups, _ = _data()
    tr, va, te = train_val_test_split(files, y, sizes=(0.8, 0.0, 0.2), balanced_test=False,
                                      random_state=0)
    assert len(va) == 0
    assert (y[te] == 0).sum() == 24 and (y[te] == 1).sum() == 16


def test_balanced_test_capped_by_small_class():
    files = np.arange(104)
    y = np.array([0] * 100 + [1] * 4)
    with pytest.warns(UserWarning, match="validation split holds no image of class 1"):
        tr, va, te = train_val_test_split(files, y, sizes=(0.5, 0.1, 0.4), random_state=0)
    assert (y[te] == 1).sum() == 2 and (y[te] == 0).sum() == 2
    assert (y[tr] == 1).sum() >= 1


def test_split_errors():
    files, y, groups, _ = _data()
    with pytest.raises(ValueError, match="sum to 1"):
        train_val_test_split(files, y, sizes=(0.7, 0.2, 0.2))
    with pytest.raises(ValueError, match="three entries"):
        train_val_test_split(files, y, sizes=(0.7, 0.3))
    with pytest.raises(ValueError, match="positive"):
        train_val_test_split(files, y, sizes=(0.85, 0.15, 0.0))
    with pytest.raises(ValueError, match="entries but y"):
        train_val_test_split(files[:-1], y)
    with pytest.raises(ValueError, match="two classes"):
        train_val_test_split(files, np.zeros(len(y)))
    g = groups.copy()
    g[-1] = g[0]
    with pytest.raises(ValueError, match="both labels"):
        train_val_test_split(files, y, groups=g)
    with pytest.raises(ValueError, match="too few"):
        train_val_test_split(np.arange(5), [0, 0, 0, 0, 1])
    mixed = np.array([1] * 100 + ["x"] * 100, dtype=object)
    with pytest.raises(ValueError, match=r"groups mixes values of types \['int', 'str'\]"):
        train_val_test_split(files, y, groups=mixed)
    with pytest.raises(ValueError, match=r"y has missing labels \(None or NaN\)"):
        train_val_test_split(files, np.array([None] * 100 + [1] * 100, dtype=object))


def test_large_duplicate_groups_still_give_a_test_split_with_both_classes():
    # real pictures in pairs, fake ones in threes: no 3 + 3 test split exists, 6 + 6 does
    y = np.array([0] * 20 + [1] * 21)
    groups = np.r_[np.repeat(np.arange(10), 2), 100 + np.repeat(np.arange(7), 3)]
    with pytest.warns(UserWarning, match="holds 6 real and 6 fake images instead of 3 and 3"):
        tr, va, te = train_val_test_split(np.arange(41), y, groups=groups, random_state=0)
    assert (y[te] == 0).sum() == (y[te] == 1).sum() == 6
    assert sorted(np.r_[tr, va, te]) == list(range(41))
    for a, b in ((tr, va), (tr, te), (va, te)):
        assert not set(groups[a]) & set(groups[b])
    assert set(y[va]) == {0, 1}  # the validation split too, though every group is too large
    # one picture copied ten times cannot be cut: an error, never an empty test split
    y = np.array([0] * 10 + [1] * 10)
    groups = np.r_[np.zeros(10, int), np.arange(1, 11)]
    with pytest.raises(ValueError, match=r"too large .*largest group sizes: real 10, fake 1"):
        train_val_test_split(np.arange(20), y, groups=groups, random_state=0)


def test_training_split_never_loses_a_class():
    y = np.array([0] * 9 + [1])
    with pytest.raises(ValueError, match="training split holds no image of class 1"):
        train_val_test_split(np.arange(10), y, balanced_test=False, random_state=0)
    with pytest.raises(ValueError, match="fraction of 0.15 of 6 images gives no image"):
        train_val_test_split(np.arange(6), [0, 0, 0, 1, 1, 1])


def test_negative_group_ids_mean_no_group():
    """find_duplicates gives unreadable files -1: they are not one group of both labels."""
    files, y, groups, _ = _data()
    g = groups.copy()
    g[[0, -1]] = -1  # a real and a fake image
    tr, va, te = train_val_test_split(files, y, groups=g, random_state=0)
    assert sorted(np.r_[tr, va, te]) == list(range(len(y)))


def test_predefined_split_with_grid_search():
    rng = np.random.RandomState(0)
    X = rng.randn(200, 3)
    y = (X[:, 0] > 0).astype(int)
    tr, va, te = train_val_test_split(X, y, random_state=0)
    idx, cv = predefined_split(tr, va)
    assert cv.get_n_splits() == 1
    (fit_idx, val_idx), = list(cv.split(X[idx]))
    assert np.array_equal(idx[fit_idx], tr) and np.array_equal(idx[val_idx], va)
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=cv).fit(X[idx], y[idx])
    assert search.best_score_ > 0.8
    with pytest.raises(ValueError, match="overlap"):
        predefined_split([1, 2], [2, 3])
    with pytest.raises(ValueError, match="non-empty"):
        predefined_split([], [1])


def test_leave_one_source_out():
    y = np.array([0] * 30 + [0] * 20 + [1] * 25 + [1] * 15)
    src = np.array(["ffhq"] * 30 + ["lfw"] * 20 + ["tpdne"] * 25 + ["sd"] * 15, dtype=object)
    cv = LeaveOneSourceOut(random_state=0)
    folds = list(cv.split(np.zeros(len(y)), y, groups=src))
    assert cv.get_n_splits(None, y, src) == len(folds) == 4
    for held, (train, test) in zip(sorted(set(src)), folds):
        assert set(np.unique(y[test])) == {0, 1}
        assert set(np.unique(y[train])) == {0, 1}
        assert held not in set(src[train])
        assert np.all(src[test][y[test] == y[src == held][0]] == held)
        assert not set(train) & set(test)
        n_held = (src == held).sum()
        other = 1 - y[src == held][0]
        assert (y[test] == other).sum() == min(n_held, (y == other).sum() // 2)
    again = list(LeaveOneSourceOut(random_state=0).split(None, y, src))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))
    X = np.c_[y + np.random.RandomState(0).randn(len(y)) * 0.1]
    scores = cross_val_score(LogisticRegression(), X, y, groups=src, cv=cv, scoring="roc_auc")
    assert len(scores) == 4


def test_leave_one_source_out_skips_only_source_of_a_class():
    y = np.array([0] * 10 + [1] * 6 + [1] * 6)
    src = np.array(["real"] * 10 + ["a"] * 6 + ["b"] * 6, dtype=object)
    cv = LeaveOneSourceOut(random_state=0)
    with pytest.warns(UserWarning, match="real"):
        folds = list(cv.split(None, y, src))
    assert len(folds) == cv.get_n_splits(None, y, src) == 2
    with pytest.raises(ValueError, match="groups"):
        cv.get_n_splits(None, y, None)
    with pytest.raises(ValueError, match="complement_size"):
        LeaveOneSourceOut(complement_size=0).get_n_splits(None, y, src)
    with pytest.raises(ValueError, match="positive finite"):
        LeaveOneSourceOut(complement_size=float("inf")).get_n_splits(None, y, src)
    # no source can be held out: an error, not zero folds
    for one in (np.array(["all"] * 22, dtype=object),
                np.array(["real"] * 10 + ["fake"] * 12, dtype=object)):
        with pytest.raises(ValueError, match="can hold out none of the sources"):
            LeaveOneSourceOut().get_n_splits(None, y, one)
        with pytest.raises(ValueError, match="can hold out none"):
            cross_val_score(LogisticRegression(), np.c_[y], y, groups=one,
                            cv=LeaveOneSourceOut())


def test_a_set_too_small_to_split_says_how_many_images_it_needs():
    y = np.array([0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match=r"add images \(7 or more in all\)"):
        train_val_test_split(y, y, random_state=0)
    with pytest.warns(UserWarning, match="validation split holds no image"):
        _, _, te = train_val_test_split(np.r_[y, 0], np.r_[y, 0], random_state=0)  # 7: enough
    assert len(te) == 2
    with pytest.raises(ValueError, match="add images of that class"):
        train_val_test_split(np.r_[y[:3], 1], np.r_[y[:3], 1], random_state=0)


def test_missing_groups_and_sources_are_refused_and_float_ids_are_ids():
    """NaN groups became one group (np.unique counts NaNs as equal), a float -1.0 was not
    'no group', and NaN sources made folds that held out nothing."""
    files, y = np.arange(20), np.repeat([0, 1], 10)
    with pytest.raises(ValueError, match=r"groups has missing values \(None or NaN\) at "
                                         r"position\(s\) \[10, 11"):
        train_val_test_split(files, y, groups=np.r_[np.arange(10.0), [np.nan] * 10],
                             random_state=0)
    as_float = train_val_test_split(files, y, groups=np.r_[np.arange(18.0), [-1.0, -1.0]],
                                    random_state=0)
    as_int = train_val_test_split(files, y, groups=np.r_[np.arange(18), [-1, -1]],
                                  random_state=0)
    for a, b in zip(as_float, as_int):
        np.testing.assert_array_equal(a, b)
    sources = np.array(["r1"] * 4 + ["f1"] * 3 + ["f2"] * 3 + [np.nan, np.nan], dtype=object)
    with pytest.raises(ValueError, match="the sources\\) has missing values"):
        list(LeaveOneSourceOut(random_state=0).split(np.zeros(12), [0] * 4 + [1] * 6 + [0, 0],
                                                     sources))


def test_a_tiny_test_fraction_is_answered_at_once():
    """The advice 'add images (N or more)' counted up one image at a time: days for 1e-12."""
    with pytest.raises(ValueError, match=r"add images \(1000000000001 or more in all\)"):
        train_val_test_split(np.arange(4), [0, 0, 1, 1], sizes=(1 - 1e-12, 0, 1e-12))


def test_predefined_split_takes_row_numbers_only():
    """A boolean mask became rows 0 and 1 ('overlap'), 1.7 became 1, and negative or
    repeated rows were taken."""
    for bad, match in (([True, True, False, False], "boolean mask"), ([0.5, 1.7], "whole row"),
                       ([-1, 2], "negative"), ([0, 0, 1], "more than once")):
        with pytest.raises(ValueError, match=match):
            predefined_split(bad, [5, 6])
    idx, _ = predefined_split(np.array([0.0, 1.0]), [2])
    assert idx.tolist() == [0, 1, 2]


def test_missing_labels_are_named():
    """NaN labels had been split as a second class ('balanced' against missing labels), and
    LeaveOneSourceOut said training would lack a class."""
    from skface.datasets import LeaveOneSourceOut

    y = np.r_[np.zeros(20), np.full(20, np.nan)]
    with pytest.raises(ValueError, match=r"y has missing labels \(None or NaN\) at position"):
        train_val_test_split(np.arange(40), y, random_state=0)
    with pytest.raises(ValueError, match=r"y has missing labels"):
        list(LeaveOneSourceOut().split(None, y, groups=np.repeat(list("abcd"), 10)))
    with pytest.raises(ValueError, match="one label per sample"):
        train_val_test_split(np.arange(40), np.zeros((40, 2)), random_state=0)


def test_validation_split_takes_whole_groups_near_its_size():
    """The greedy draw skipped every group that overflowed its target: a validation split of
    21 images came out as 13 (7 real, 6 fake), or 6 against 10, without a word."""
    y, g, gid = [], [], 0
    for c in (0, 1):
        for size in (6, 6, 6, 5, 5, 5, 1, 1):
            y += [c] * size
            g += [gid] * size
            gid += 1
    y, g = np.array(y), np.array(g)
    for seed in range(8):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _, val, _ = train_val_test_split(np.arange(70), y, groups=g, sizes=(0.5, 0.3, 0.2),
                                             random_state=seed)
        assert np.bincount(y[val]).tolist() == [10, 10], seed
    # a size no set of groups makes is named
    y2 = np.repeat([0, 1], 12)
    g2 = np.repeat(np.arange(4), 6)
    with pytest.warns(UserWarning, match="do not allow the validation split asked for"):
        train_val_test_split(np.arange(24), y2, groups=np.r_[g2[:12], np.arange(12) + 10],
                             sizes=(0.6, 0.2, 0.2), random_state=0, balanced_test=False)
