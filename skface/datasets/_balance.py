"""Class (and optionally source) balancing through imbalanced-learn samplers."""

import numpy as np
from imblearn.over_sampling import RandomOverSampler
from imblearn.under_sampling import RandomUnderSampler
from sklearn.utils import check_random_state

from ..utils._labels import check_label_kinds, one_label_per_sample
from ..utils._validation import missing_positions

_STRATEGIES = ("undersample", "oversample", "none")


def make_sampler(balance="undersample", *, random_state=None):
    """Return the imbalanced-learn sampler for ``balance``, or None for ``"none"``.

    The samplers work on any 2-D ``X``, including an ``(n, 1)`` object array of file paths, so
    they can sit inside an :class:`imblearn.pipeline.Pipeline` before the image loader.

    Parameters
    ----------
    balance : {"undersample", "oversample", "none"}, default="undersample"
        Random undersampling of the majority class, random oversampling (with replacement) of the
        minority class, or no resampling.
    random_state : int, RandomState instance or None, default=None
        Seed of the sampler.

    Returns
    -------
    sampler : RandomUnderSampler, RandomOverSampler or None

    Notes
    -----
    Class weights are the alternative that keeps every image once: pass
    ``class_weight="balanced"`` to an estimator that supports it, or weights from
    :func:`sklearn.utils.class_weight.compute_class_weight`.
    """
    _check_balance(balance)
    if balance == "undersample":
        return RandomUnderSampler(random_state=random_state)
    if balance == "oversample":
        return RandomOverSampler(random_state=random_state)
    return None


def _check_balance(balance, by_source=False):
    if balance not in _STRATEGIES:
        raise ValueError(f"balance must be one of {_STRATEGIES}, got {balance!r}.")
    if by_source and balance == "none":  # it was ignored without a word
        raise ValueError("by_source=True evens out the sources by resampling: it needs "
                         "balance='undersample' or 'oversample', not 'none'.")


def _cell_targets(y, source, balance):
    """Per (class, source) cell sizes that equalise classes and, within a class, its sources."""
    classes = np.unique(y)
    cells = {}
    for c in classes:
        srcs, counts = np.unique(source[y == c], return_counts=True)
        cells[c] = dict(zip(srcs, counts))
    if balance == "undersample":
        total = min(len(cells[c]) * min(cells[c].values()) for c in classes)
    else:
        total = max(len(cells[c]) * max(cells[c].values()) for c in classes)
    targets = {}
    for c in classes:
        k = len(cells[c])
        base, extra = divmod(total, k)
        for r, s in enumerate(sorted(cells[c])):
            targets[(c, s)] = base + (1 if r < extra else 0)
    return targets


def balance_indices(y, *, source=None, balance="undersample", by_source=False, random_state=None):
    """Return the indices of a balanced resample of ``y``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels.
    source : array-like of shape (n_samples,), optional
        Source name per sample; needed with ``by_source=True``.
    balance : {"undersample", "oversample", "none"}, default="undersample"
        See :func:`make_sampler`.
    by_source : bool, default=False
        Also balance the sources inside each class: every source of a class contributes the same
        number of images (up to one), and the classes end up the same size. Needs
        ``balance="undersample"`` or ``"oversample"``.
    random_state : int, RandomState instance or None, default=None
        Seed.

    Returns
    -------
    indices : ndarray of int
        Sorted indices into ``y``; oversampling repeats indices.
    """
    _check_balance(balance, by_source)
    y = one_label_per_sample(y)
    n = len(y)
    if n == 0:
        raise ValueError("Cannot balance an empty set.")
    check_label_kinds(y)
    if balance == "none":
        return np.arange(n)
    if len(np.unique(y)) < 2:
        raise ValueError("Balancing needs at least two classes in y.")
    X = np.arange(n).reshape(-1, 1)
    rs = check_random_state(random_state)
    if not by_source:
        sampler = make_sampler(balance, random_state=rs)
        sampler.fit_resample(X, y)
        return np.sort(sampler.sample_indices_)
    if source is None:
        raise ValueError("by_source=True needs `source`.")
    raw = np.asarray(source, dtype=object).ravel()
    missing = missing_positions(raw)
    if missing:  # it became a source named "None" or "nan"
        raise ValueError(f"source has missing values (None or NaN) at position(s) "
                         f"{missing[:5]}; name the source of every image.")
    # as text, as the cells below are named: 1 and "1" are one source, and any mix sorts
    source = np.array([str(s) for s in raw], dtype=object)
    if len(source) != n:
        raise ValueError(f"source has {len(source)} entries for {n} labels.")
    cell = np.array([f"{c}\x1f{s}" for c, s in zip(y, source)], dtype=object)
    targets = {f"{c}\x1f{s}": t for (c, s), t in _cell_targets(y, source, balance).items()}
    if balance == "undersample":
        sampler = RandomUnderSampler(sampling_strategy=targets, random_state=rs)
    else:
        sampler = RandomOverSampler(sampling_strategy=targets, random_state=rs)
    sampler.fit_resample(X, cell)
    return np.sort(sampler.sample_indices_)
