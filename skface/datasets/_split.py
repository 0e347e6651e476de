"""Leak-free 70/15/15 splitting, a GridSearchCV helper and leave-one-source-out CV."""

import warnings
from collections.abc import Iterable, Sized
from numbers import Real

import numpy as np
from sklearn.model_selection import BaseCrossValidator, PredefinedSplit
from sklearn.utils import check_random_state

from ..utils._labels import check_label_kinds, one_label_per_sample
from ..utils._validation import check_row_indices, missing_positions


def _check_sizes(sizes):
    sizes = tuple(float(s) for s in sizes)
    if len(sizes) != 3:
        raise ValueError(f"sizes must have three entries (train, val, test), got {sizes}.")
    if any(not np.isfinite(s) or s < 0 for s in sizes):
        raise ValueError(f"sizes must be finite and non-negative, got {sizes}.")
    if sizes[0] <= 0 or sizes[2] <= 0:
        raise ValueError(f"train and test sizes must be positive, got {sizes}.")
    if abs(sum(sizes) - 1.0) > 1e-6:
        raise ValueError(f"sizes must sum to 1, got {sizes} (sum {sum(sizes):.6g}).")
    return sizes


def _unique(values, name):
    """``np.unique(values, return_inverse=True)``, with a clear error for values that do not
    sort together (str beside int, None)."""
    try:
        return np.unique(values, return_inverse=True)
    except TypeError:
        kinds = sorted({type(v).__name__ for v in np.asarray(values, dtype=object).ravel()})
        raise ValueError(f"{name} mixes values of types {kinds}, which cannot be ordered; give "
                         "one type (all str or all int).") from None


def _group_table(y, groups):
    """Return (group ids, label per group, size per group); raise on mixed-label groups."""
    uniq, inverse = _unique(groups, "groups")
    labels = np.full(len(uniq), -1, dtype=np.int64)
    classes, yi = _unique(y, "y")
    mixed = []
    for g, c in zip(inverse, yi):
        if labels[g] == -1:
            labels[g] = c
        elif labels[g] != c:
            mixed.append(uniq[g])
    if mixed:
        raise ValueError(
            f"{len(set(mixed))} duplicate group(s) hold both labels (e.g. group {mixed[0]!r}): the "
            "same picture is marked real and fake. Remove those images first (build_dataset "
            "drops them)."
        )
    sizes = np.bincount(inverse, minlength=len(uniq))
    return inverse, labels, sizes, classes


def _fill(order, sizes, target):
    """Greedily take groups (in ``order``) whose size still fits; return (taken mask, total)."""
    taken = np.zeros(len(order), dtype=bool)
    total = 0
    for k, g in enumerate(order):
        if total >= target:
            break
        if total + sizes[g] <= target:
            taken[k] = True
            total += sizes[g]
    return taken, total


def _subset_sums(order, sizes, limit):
    """Which totals ``0..limit`` some of the groups in ``order`` add up to.

    Returns ``(reach, first)``: ``reach[s]`` says whether total ``s`` can be made, and
    ``first[s]`` is the position in ``order`` of the group that first made it, so that
    :func:`_take` can rebuild one such set of groups (earliest in ``order`` first).
    """
    reach = np.zeros(limit + 1, dtype=bool)
    reach[0] = True
    first = np.full(limit + 1, -1, dtype=np.int64)
    for k, g in enumerate(order):
        s = int(sizes[g])
        if s > limit:
            continue
        new = np.zeros_like(reach)
        new[s:] = reach[:limit + 1 - s]
        new &= ~reach
        if new.any():
            first[new] = k
            reach |= new
            if reach.all():
                break
    return reach, first


def _nearest(totals, target):
    """The value of the sorted reachable ``totals`` nearest ``target`` (the lower on a tie)."""
    return int(totals[np.argmin(np.abs(totals - target))])


def _take(order, sizes, first, total):
    """The groups (a mask over ``order``) that :func:`_subset_sums` used to make ``total``."""
    taken = np.zeros(len(order), dtype=bool)
    while total > 0:
        k = first[total]
        taken[k] = True
        total -= int(sizes[order[k]])
    return taken


def group_ids(groups, n):
    """The group id of each of ``n`` samples: each its own with ``groups=None``; missing ids
    (None, NaN) refused; whole-number floats (a pandas column) as ints; a negative int id (how
    :func:`find_duplicates` marks a file it could not read) meaning no group, so each such
    sample gets an id of its own."""
    groups = np.arange(n) if groups is None else np.asarray(groups).ravel()
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries but y has {n}.")
    missing = missing_positions(groups)
    if missing:  # NaN == NaN is False to Python but equal to np.unique: one silent group
        raise ValueError(f"groups has missing values (None or NaN) at position(s) {missing[:5]}; "
                         "give every image a group id, or -1 for an image in no group.")
    if groups.dtype.kind == "f" and np.all(groups == np.round(groups)):
        groups = groups.astype(np.int64)
    if groups.dtype.kind in "iu" and n and groups.min() < 0:
        groups = groups.astype(np.int64)
        loose = groups < 0
        groups[loose] = groups.max() + 1 + np.arange(int(loose.sum()))
    return groups


def train_val_test_split(filenames, y, *, groups=None, sizes=(0.70, 0.15, 0.15),
                         balanced_test=True, random_state=None):
    """Split into train, validation and test indices without leaking duplicates.

    Whole groups (e.g. the duplicate groups of :func:`find_duplicates`) go to one split only.
    The test set is drawn first: with ``balanced_test`` it holds exactly as many real as fake
    images (``round(sizes[2] * n / 2)`` each, but never more than half of the smaller class).
    The validation set is then stratified: it keeps the class ratio of what is left. The rest is
    the training set. Where duplicate groups are too large for these sizes, whole groups that
    come as near them as possible are taken, with a warning; a split that cannot hold both
    classes in the test set or in the training set is an error.

    Parameters
    ----------
    filenames : array-like or iterable of shape (n_samples,)
        The images (only their number is used; kept for a ``train_test_split``-like call).
    y : array-like of shape (n_samples,)
        Binary labels.
    groups : array-like of shape (n_samples,), optional
        Group id per image; images sharing an id never land in different splits. Default: each
        image is its own group. Negative integer ids (what :func:`find_duplicates` gives files
        it could not read) mean no group.
    sizes : tuple of three floats, default=(0.70, 0.15, 0.15)
        Train, validation and test fractions; they must sum to 1 (validation may be 0).
    balanced_test : bool, default=True
        Make the test set exactly balanced; otherwise it is stratified like the validation set.
    random_state : int, RandomState instance or None, default=None
        Seed; the same seed and data give the same split.

    Returns
    -------
    train_idx, val_idx, test_idx : ndarray of int
        Sorted, disjoint indices covering every sample.

    Raises
    ------
    ValueError
        On mismatched lengths, fewer or more than two classes, bad ``sizes``, a group that holds
        both labels, a class too small to give the test set one image, duplicate groups too
        large for a test split with both classes, or a training split left without a class.
    """
    sizes = _check_sizes(sizes)
    y = one_label_per_sample(y)
    check_label_kinds(y)  # NaN labels had been split as a second class
    n = len(y)
    if not isinstance(filenames, (Sized, Iterable)):
        raise TypeError(f"filenames must be the images' paths (a list or an array); got "
                        f"{type(filenames).__name__}.")
    if not isinstance(filenames, Sized):  # a generator of paths: counted, as a list would be
        filenames = list(filenames)
    if len(filenames) != n:
        raise ValueError(f"filenames has {len(filenames)} entries but y has {n}.")
    groups = group_ids(groups, n)
    if n == 0:
        raise ValueError("Cannot split an empty set.")
    inverse, glabel, gsize, classes = _group_table(y, groups)
    if len(classes) != 2:
        raise ValueError(
            f"train_val_test_split needs exactly two classes, got {classes.tolist()}.")
    rng = check_random_state(random_state)
    n_per_class = np.array([gsize[glabel == c].sum() for c in (0, 1)])

    orders = []
    for c in (0, 1):
        g = np.flatnonzero(glabel == c)
        orders.append(g[rng.permutation(len(g))])

    # Test set.
    if balanced_test:
        t = min(int(round(sizes[2] * n / 2)), int(n_per_class.min() // 2))
        if t < 1 and n_per_class.min() >= 2:
            # the first count whose test share rounds to one image per class (found from
            # close below it: counting up from n took days for a fraction of 1e-12)
            needed = max(n + 1, int(1.0 / sizes[2]) - 2)
            while int(round(sizes[2] * needed / 2)) < 1:
                needed += 1
            raise ValueError(
                f"A test fraction of {sizes[2]:g} of {n} images gives no image per class to the "
                f"test split: add images ({needed} or more in all), or give the test split a "
                "larger fraction (`sizes`)."
            )
        if t < 1:
            raise ValueError(
                f"The smaller class has {n_per_class.min()} image(s): too few for a balanced test "
                "set with at least one image per class; add images of that class (2 or more)."
            )
        test_targets = [t, t]
    else:
        test_targets = [max(1, int(round(sizes[2] * n_per_class[c]))) for c in (0, 1)]
    taken, totals = [], []
    for c in (0, 1):
        m, tot = _fill(orders[c], gsize, test_targets[c])
        taken.append(m)
        totals.append(tot)
    if any(totals[c] != test_targets[c] for c in (0, 1)):
        # Large groups kept the greedy draw off a target. Take, per class, whole groups in the
        # same random order that add up to the reachable total nearest the target (the same
        # total for both classes with a balanced test set), at most half of the class.
        caps = [int(n_per_class.min() // 2)] * 2 if balanced_test else \
            [int(n_per_class[c] // 2) for c in (0, 1)]
        sums = [_subset_sums(orders[c], gsize, caps[c]) for c in (0, 1)]
        if balanced_test:
            sizes_ok = [np.flatnonzero(sums[0][0] & sums[1][0])[1:]] * 2
        else:
            sizes_ok = [np.flatnonzero(sums[c][0])[1:] for c in (0, 1)]
        if min(len(s) for s in sizes_ok) == 0:
            raise ValueError(
                "The duplicate groups are too large for a test split that holds both classes: "
                "no set of whole groups gives between 1 and "
                f"{caps[0]} real and 1 and {caps[1]} fake images"
                + (" in equal numbers" if balanced_test else "")
                + f" (largest group sizes: real {int(gsize[glabel == 0].max())}, fake "
                f"{int(gsize[glabel == 1].max())}). Drop duplicates (build_dataset(dedupe=True)) "
                "or use more images."
            )
        totals = [_nearest(s, test_targets[c]) for c, s in enumerate(sizes_ok)]
        taken = [_take(orders[c], gsize, sums[c][1], totals[c]) for c in (0, 1)]
        warnings.warn(
            f"The duplicate groups do not allow the test split asked for: it holds {totals[0]} "
            f"real and {totals[1]} fake images instead of {test_targets[0]} and "
            f"{test_targets[1]}.",
            UserWarning, stacklevel=2)
    test_groups = np.concatenate([orders[c][taken[c]] for c in (0, 1)])
    rest = [orders[c][~taken[c]] for c in (0, 1)]

    # Validation set: stratified over what is left.
    n_rest = sum(gsize[r].sum() for r in rest)
    n_val = int(round(sizes[1] * n))
    val_groups = []
    if n_val > 0 and n_rest > 0:
        short = []
        for c in (0, 1):
            share = gsize[rest[c]].sum() / n_rest
            target = int(round(n_val * share))
            m, got = _fill(rest[c], gsize, target)
            if got != target and target > 0:
                # large groups kept the greedy draw off the target (it had fallen 6 short of
                # 16, silently): the reachable total nearest it, at most half of what is left
                # of the class unless the target itself is more
                limit = max(int(gsize[rest[c]].sum() // 2), target)
                reach, first = _subset_sums(rest[c], gsize, limit)
                ok = np.flatnonzero(reach)[1:]
                nearest = _nearest(ok, target) if len(ok) else got
                if abs(nearest - target) < abs(got - target):
                    got = nearest
                    m = _take(rest[c], gsize, first, got)
            if got != target:
                short.append(f"{got} {('real', 'fake')[c]} instead of {target}")
            val_groups.append(rest[c][m])
            rest[c] = rest[c][~m]
        if short:
            warnings.warn("The duplicate groups do not allow the validation split asked for: it "
                          f"holds {' and '.join(short)}.", UserWarning, stacklevel=2)
    val_groups = np.concatenate(val_groups) if val_groups else np.zeros(0, dtype=np.int64)

    split_of_group = np.zeros(len(gsize), dtype=np.int64)  # 0 train, 1 val, 2 test
    split_of_group[val_groups] = 1
    split_of_group[test_groups] = 2
    split = split_of_group[inverse]
    for part, name in ((0, "training"), (1, "validation")):
        counts = np.bincount(np.searchsorted(classes, y[split == part]), minlength=2)
        if counts.min() > 0 or (part == 1 and n_val == 0):
            continue
        c = int(np.argmin(counts))
        in_test = int(np.sum(split[y == classes[c]] == 2))
        in_val = int(np.sum(split[y == classes[c]] == 1))
        message = (f"The {name} split holds no image of class {classes[c].item()!r}: of its "
                   f"{int(n_per_class[c])} image(s), {in_test} went to the test split and "
                   f"{in_val} to the validation split, and its largest duplicate group holds "
                   f"{int(gsize[glabel == c].max())}. Add images of that class")
        if part == 0:
            raise ValueError(message + "; a model cannot learn a class it never sees.")
        warnings.warn(message + "; its validation scores will be one-sided.", UserWarning,
                      stacklevel=2)
    return (np.flatnonzero(split == 0), np.flatnonzero(split == 1), np.flatnonzero(split == 2))


def predefined_split(train_idx, val_idx):
    """Turn train and validation indices into a ``PredefinedSplit`` for ``GridSearchCV``.

    Parameters
    ----------
    train_idx, val_idx : array-like of int
        From :func:`train_val_test_split`.

    Returns
    -------
    indices : ndarray of int
        ``train_idx`` followed by ``val_idx``; index your data with it before fitting.
    cv : sklearn.model_selection.PredefinedSplit
        One split: the first ``len(train_idx)`` rows train, the rest validate.

    Examples
    --------
    >>> idx, cv = predefined_split(train_idx, val_idx)            # doctest: +SKIP
    >>> GridSearchCV(est, grid, cv=cv).fit(X[idx], y[idx])         # doctest: +SKIP
    """
    train_idx = check_row_indices(train_idx, "train_idx")
    val_idx = check_row_indices(val_idx, "val_idx")
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise ValueError("predefined_split needs non-empty train and validation indices.")
    if np.intersect1d(train_idx, val_idx).size:
        raise ValueError("train_idx and val_idx overlap.")
    indices = np.concatenate([train_idx, val_idx])
    test_fold = np.concatenate([np.full(len(train_idx), -1), np.zeros(len(val_idx), dtype=int)])
    return indices, PredefinedSplit(test_fold)


class LeaveOneSourceOut(BaseCrossValidator):
    """Cross-source CV: each fold holds out every image of one source.

    A source holds one class only (a folder of real or of fake faces), so a test fold made of
    one source alone would have a single class and no ROC AUC. Each test fold therefore also
    receives a random sample of the *other* class, drawn from the other sources; those images
    are removed from that fold's training set. The held-out source is thus unseen in training
    (the point of cross-source evaluation), while the complementary images are merely unseen
    pictures from seen sources. A source whose removal would leave training with one class (the
    only source of its class, or nearly all of it) is skipped with a warning; when that leaves
    no fold at all (a single source, or one source per class), ``split`` and ``get_n_splits``
    raise ``ValueError``.

    Parameters
    ----------
    complement_size : float, default=1.0
        Number of opposite-class images added to a test fold, as a multiple of the held-out
        source's size (capped at half of the opposite class, and at least one image).
    random_state : int, RandomState instance or None, default=None
        Seed of the complement draw (an int gives the same folds on every call).

    Notes
    -----
    Pass source names as ``groups``. Remove duplicates first (see :func:`find_duplicates`): a
    picture present in two sources would otherwise appear on both sides of a fold.
    """

    def __init__(self, complement_size=1.0, random_state=None):
        self.complement_size = complement_size
        self.random_state = random_state

    def _plan(self, y, groups, allow_empty=False):
        """Checked ``(y, groups, classes, plan, skipped)``; ``plan`` lists the sources that can
        be held out. Without any, raise unless ``allow_empty``."""
        if groups is None:
            raise ValueError("LeaveOneSourceOut needs the source of each sample as `groups`.")
        if y is None:
            raise ValueError("LeaveOneSourceOut needs `y` to add the other class to each fold.")
        if (not isinstance(self.complement_size, Real) or not self.complement_size > 0
                or not np.isfinite(self.complement_size)):
            raise ValueError(f"complement_size must be a positive finite number, got "
                             f"{self.complement_size!r}.")
        y = one_label_per_sample(y)
        check_label_kinds(y)
        groups = np.asarray(groups, dtype=object).ravel()
        if len(y) != len(groups):
            raise ValueError(f"y has {len(y)} entries but groups has {len(groups)}.")
        missing = missing_positions(groups)
        if missing:  # NaN != NaN: each made a fold that held out nothing
            raise ValueError(f"groups (the sources) has missing values (None or NaN) at "
                             f"position(s) {missing[:5]}; name the source of every sample.")
        classes = np.unique(y)
        if len(classes) != 2:
            raise ValueError(f"LeaveOneSourceOut needs two classes, got {list(classes)}.")
        plan, skipped = [], []
        for s in sorted(set(groups), key=str):
            held = groups == s
            # Each class needs two images outside the source: one may join the test fold as the
            # complement, one must stay for training.
            if any(np.sum(y[~held] == c) < 2 for c in classes):
                skipped.append(s)
                continue
            plan.append(s)
        if not plan and not allow_empty:
            raise ValueError(
                f"LeaveOneSourceOut can hold out none of the sources {skipped}: without any of "
                "them, training would lack a class. It needs two or more sources of a class "
                "(and two images of each class outside the source held out)."
            )
        return y, groups, classes, plan, skipped

    def get_n_splits(self, X=None, y=None, groups=None):
        """Return the number of folds (sources that can be held out).

        Parameters
        ----------
        X : object
            Ignored.
        y : array-like of shape (n_samples,)
            Labels.
        groups : array-like of shape (n_samples,)
            Source name per sample.

        Returns
        -------
        n_splits : int
        """
        return len(self._plan(y, groups)[3])

    def _iter_test_masks(self, X=None, y=None, groups=None):  # pragma: no cover - see split
        raise NotImplementedError

    def split(self, X, y=None, groups=None):
        """Yield ``(train, test)`` index arrays, one fold per held-out source.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Ignored except for its length.
        y : array-like of shape (n_samples,)
            Labels.
        groups : array-like of shape (n_samples,)
            Source name per sample.

        Yields
        ------
        train : ndarray of int
            Training indices: no image of the held-out source, none of the complement.
        test : ndarray of int
            The held-out source plus the complementary images of the other class.
        """
        y, groups, classes, plan, skipped = self._plan(y, groups)
        if X is not None and len(X) != len(y):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}.")
        if skipped:
            warnings.warn(
                f"Source(s) {skipped} not held out: without them training would lack a class.",
                UserWarning, stacklevel=2)
        rng = check_random_state(self.random_state)
        for s in plan:
            test = groups == s
            for c in classes:
                if np.any(y[test] == c):
                    continue
                pool = np.flatnonzero((y == c) & ~test)
                k = int(round(self.complement_size * test.sum()))
                k = max(1, min(k, len(pool) // 2))
                test[rng.choice(pool, size=k, replace=False)] = True
            yield np.flatnonzero(~test), np.flatnonzero(test)
