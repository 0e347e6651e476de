"""Leave-one-source-out evaluation: did the model learn "generated" or only "this data set"?"""

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from sklearn.utils import _safe_indexing

from ..datasets import LeaveOneSourceOut
from ..datasets._split import group_ids
from ..metrics import evaluate, resolve_pos_label
from ..metrics._evaluate import _as_label_array, _as_source_array, _check_threshold
from ._ablation import check_n_samples, check_split, validation_fit_params
from ._io import to_table, write_csv

__all__ = ["CrossSourceDetails", "cross_source_evaluate"]

OTHER = "(other sources)"
# sample counts: integers in the table (nullable, so a skipped row leaves <NA>) and in CSVs
COUNT_COLUMNS = ("n_train", "n_val", "n_held_out", "n_other_class_test")


#: ``status`` of the held-out sources that Ctrl-C kept from running.
INTERRUPTED_STATUS = "not run: interrupted (Ctrl-C)"


@dataclass
class CrossSourceDetails:
    """Everything :func:`cross_source_evaluate` computed.

    Attributes
    ----------
    table : DataFrame or list of dict
        One row per held-out source (also returned alone).
    evaluations : dict of str to EvaluationResult
        Per held-out source: the held-out test set (the source plus the other class's test images),
        with ``per_source`` entries for the held-out source and ``"(other sources)"``.
    in_distribution : dict of str to EvaluationResult
        Per held-out source: the model on the test images of the sources it was trained on.
    estimators : dict of str to fitted estimator
    interrupted : bool
    csv_path : Path or None
    """

    table: object = None
    evaluations: dict = field(default_factory=dict)
    in_distribution: dict = field(default_factory=dict)
    estimators: dict = field(default_factory=dict)
    interrupted: bool = False
    csv_path: object = None


def _loso_folds(X, y, src, val_size, random_state):
    """``{source: (train, val, test)}`` from :class:`skface.datasets.LeaveOneSourceOut`, with a
    stratified validation share carved from each fold's training part."""
    folds, reasons = {}, {}
    loso = LeaveOneSourceOut(random_state=random_state)
    plan = loso._plan(y, src, allow_empty=True)[3]
    if not plan:
        return folds, reasons  # no source can be held out: each gets a skipped row
    # the folds come in the order of the plan (the sources missing from a fold's training part
    # can be more than the one held out: the complement may take a small source whole)
    for source, (train, test) in zip(plan, loso.split(X, y, groups=src)):
        try:
            tr, va = train_test_split(train, test_size=val_size, stratify=y[train],
                                      random_state=random_state)
        except ValueError as exc:  # too few images for a stratified share: skip this source
            reasons[source] = (f"its training part ({len(train)} images) cannot give a "
                               f"validation share of val_size={val_size:g} with both classes "
                               f"({exc}).")
            continue
        folds[source] = (np.sort(tr), np.sort(va), test)
    return folds, reasons


def cross_source_evaluate(estimator, X, y, sources, *, split=None, held_out=None,
                          val_size=0.15, random_state=0, threshold=None,
                          pos_label=None, csv_path=None, overwrite=False, keep_estimators=True,
                          return_details=False, progress=True, groups=None):
    """Leave one source out: train on the other sources, test on the held-out one.

    Notes
    -----
    For each held-out source ``s`` (a generator or a real-photo data set):

    - **training / validation**: the samples of the other sources in the training / validation part
      of ``split`` (early stopping uses that validation part, as in
      :func:`~skface.experiments.run_ablation`);
    - **held-out test set**: every sample of ``s`` (none was seen in training). A source usually
      holds one class only, so accuracy on it alone is the share of its images classified
      correctly (the recall of fakes for a generator, the specificity for a real source), and
      ROC-AUC would be undefined. To measure ranking, the held-out test set also gets the
      *test-part* images of the other class from the remaining sources; ROC-AUC, average
      precision and EER compare ``s`` with those;
    - **in-distribution** reference: the same model on the test part of the sources it was
      trained on, so the gap between ``in_dist_accuracy`` and ``held_out_accuracy`` shows how much
      is lost on an unseen source.

    A source whose removal leaves one class in training (e.g. the only real source) cannot be
    tested this way; it gets a row with ``status`` explaining the skip and a warning, with or
    without ``split``, also when no source at all can be held out (one source per class).

    Without ``split``, the folds come from :class:`skface.datasets.LeaveOneSourceOut`: its test
    fold is the held-out source plus a random sample of the other class from the remaining
    sources (removed from training); ``val_size`` of each fold's training part (stratified) is the
    validation part. There is no in-distribution reference in that mode (``in_dist_*`` are empty).

    Parameters
    ----------
    estimator : estimator or Pipeline
        Cloned for every held-out source.
    X : array-like or list
    y : array-like of shape (n_samples,)
    sources : array-like of shape (n_samples,)
        The source (data set or generator) of each sample. A missing source (None, NaN) is
        refused.
    split : tuple (train_idx, val_idx, test_idx), optional
        The protocol's split (recommended; e.g. from
        :func:`skface.datasets.train_val_test_split`). Without one, see above.
    held_out : list of str, optional
        Sources to hold out, each named once; default all. A bare string is refused rather than
        read as one name: pass ``held_out=["lfw"]``.
    val_size : float, default=0.15
        Without ``split``: the share of each fold's training part used for early stopping.
    random_state : int, default=0
        Without ``split``: seeds the folds' complement draw and validation carve-out.
    threshold : float, optional
        ``P(fake)`` threshold; by default the estimator's ``predict``.
    pos_label : int or str, optional
        The fake label when it cannot be inferred.
    groups : array-like of shape (n_samples,), optional
        A group id per sample: copies of one picture share it (the ``group`` column of a
        manifest, the groups of :func:`skface.datasets.find_duplicates`; negative ids mean no
        group). With it, a copy of a held-out picture in another source (sources that re-post
        each other's faces) is left out of training and validation, the other-class test
        images keep no copy of a training or validation picture, and each picture is scored
        once (the repeats ``balance="oversample"`` adds). Without it, every sample is its own
        picture: pass it when the data may hold copies.
    csv_path : str or Path, optional
        Rewritten after every finished source, so Ctrl-C keeps what finished. It must not exist
        unless ``overwrite=True``.
    overwrite : bool, default=False
        Replace an existing ``csv_path``. It is replaced from the first source that finishes on;
        a run in which no source finishes (interrupted before the first, or every source
        skipped) leaves an existing file as it was, with a warning.
    keep_estimators : bool, default=True
    return_details : bool, default=False
        Also return a :class:`CrossSourceDetails`.
    progress : bool, default=True

    Returns
    -------
    table : DataFrame (or list of dict without pandas)
        Per held-out source: ``held_out``, ``held_out_class`` (``"real"``, ``"fake"`` or
        ``"both"``, whatever the labels), ``n_train``, ``n_val``,
        ``n_held_out``, ``n_other_class_test``, ``held_out_accuracy`` (share correct on the
        source), ``held_out_mean_p_fake``, ``roc_auc``, ``average_precision``, ``eer``,
        ``accuracy`` and ``f1`` on the held-out test set, ``in_dist_accuracy``,
        ``in_dist_roc_auc`` and ``status`` (``"ok"``, why it was skipped, or, after Ctrl-C,
        ``"not run: interrupted (Ctrl-C)"`` with the other columns empty).
    details : CrossSourceDetails
        Only with ``return_details=True``.

    Raises
    ------
    FileExistsError
        ``csv_path`` exists and ``overwrite`` is False.
    TypeError
        The estimator has no ``predict_proba``.
    ValueError
        Bad ``sources``, ``held_out``, ``split`` or ``threshold`` (checked before any training).
    """
    # checked before any training, not when the first model is scored
    if not hasattr(estimator, "predict_proba"):
        raise TypeError(
            f"{type(estimator).__name__} has no predict_proba; cross_source_evaluate needs "
            f"probabilities for ROC-AUC, average precision and EER.")
    if threshold is not None:
        threshold = _check_threshold(threshold)
    y_arr = _as_label_array(y)
    n = len(y_arr)
    check_n_samples(X, n)
    if sources is None:
        raise ValueError("cross_source_evaluate needs sources (one per sample).")
    src = _as_source_array(sources, n)
    labels = sorted(set(y_arr.tolist()), key=repr)
    if len(labels) != 2:
        raise ValueError(f"y must hold exactly two classes (real and fake); got {labels!r}.")
    pos, neg = resolve_pos_label(labels, pos_label)
    all_sources = sorted(set(src.tolist()))
    if OTHER in all_sources:  # merged with the comparison images in the per-source figures
        raise ValueError(f"{OTHER!r} names the other sources' images in the results; rename "
                         "that source.")
    if len(all_sources) < 2:
        raise ValueError(f"Leave-one-source-out needs at least two sources; got {all_sources!r}.")
    if held_out is None:
        held_out = all_sources
    else:
        if isinstance(held_out, (str, bytes)) or not hasattr(held_out, "__iter__"):
            raise ValueError(f"held_out must be a list of source names; got {held_out!r}. To "
                             f"hold out one source, pass held_out=[{held_out!r}].")
        held_out = [str(s) for s in held_out]
        if not held_out:
            raise ValueError("held_out is empty; name at least one source, or leave it None to "
                             "hold out every source in turn.")
        repeated = sorted({s for s in held_out if held_out.count(s) > 1})
        if repeated:
            raise ValueError(f"held_out names {repeated} more than once; name each source once.")
        unknown = sorted(set(held_out) - set(all_sources))
        if unknown:
            raise ValueError(f"held_out names unknown sources {unknown}; known: {all_sources}.")
    if isinstance(val_size, bool) or not isinstance(val_size, (int, float, np.number)) \
            or not 0 < val_size < 1:
        # it reached train_test_split, whose message names its test_size
        raise ValueError(f"val_size must be a fraction in (0, 1); got {val_size!r}.")
    csv_path = None if csv_path is None else Path(csv_path)
    if csv_path is not None:
        if csv_path.is_dir():
            raise ValueError(f"csv_path {csv_path} is a folder; it must name a CSV file.")
        if csv_path.exists() and not overwrite:
            raise FileExistsError(f"csv_path {csv_path} already exists; choose a new file or "
                                  f"pass overwrite=True to replace it.")
    if split is not None:
        split = check_split(split, n)
    groups = group_ids(groups, n)
    if groups.dtype.kind not in "iu":  # np.isin below compares them: numbers only
        raise ValueError(f"groups must be whole-number ids (e.g. a manifest's group column); got "
                         f"{groups[:5].tolist()}.")
    y_fit = np.asarray(y_arr.tolist())
    folds = None
    if split is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # skipped sources get their own rows
            folds, fold_reasons = _loso_folds(X if hasattr(X, "__len__") else None, y_fit, src,
                                              val_size, random_state)
    details = CrossSourceDetails(csv_path=csv_path)
    rows = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(held_out), desc="cross-source", unit="source")

    def skip(s, classes, reason):
        warnings.warn(f"Held-out source {s!r} skipped: {reason}", UserWarning, stacklevel=3)
        rows.append({"held_out": s, "held_out_class": classes, "status": f"skipped: {reason}"})
        if bar is not None:
            bar.update(1)

    try:
        for s in held_out:
            in_s = src == s
            is_fake = {v == pos for v in y_arr[in_s].tolist()}
            held_class = ("both" if len(is_fake) > 1
                          else "fake" if is_fake.pop() else "real")
            if split is None:
                if s in fold_reasons:
                    skip(s, held_class, fold_reasons[s])
                    continue
                if s not in folds:
                    counts = [int(np.sum(~in_s & (y_arr == c))) for c in (pos, neg)]
                    skip(s, held_class, f"the other sources hold {counts[0]} fake and {counts[1]} "
                                        f"real samples; LeaveOneSourceOut needs two or more of "
                                        f"each class outside the held-out source.")
                    continue
                tr, va, fold_test = folds[s]
                te = fold_test[~in_s[fold_test]]  # the complement: the other class only
            else:
                tr, va, te = (idx[~in_s[idx]] for idx in split)
            # copies of held-out pictures never train; each picture is tested once, and not
            # when a copy of it trained
            held_groups = groups[in_s]
            tr = tr[~np.isin(groups[tr], held_groups)]
            va = va[~np.isin(groups[va], held_groups)]
            te = te[~np.isin(groups[te], np.concatenate([groups[tr], groups[va]]))]
            te = te[np.unique(groups[te], return_index=True)[1]]
            held_rows = np.flatnonzero(in_s)
            held_rows = held_rows[np.sort(np.unique(groups[held_rows], return_index=True)[1])]
            missing = [name for name, idx in (("training", tr), ("validation", va))
                       if len(set(y_arr[idx].tolist())) < 2]
            if missing:
                skip(s, held_class, f"without it the {' and '.join(missing)} part holds one class "
                                    f"only.")
                continue
            held_labels = set(y_arr[in_s].tolist())
            other_class_test = te[~np.isin(y_arr[te], list(held_labels))]
            test = np.concatenate([held_rows, other_class_test])
            if len(set(y_arr[test].tolist())) < 2:
                skip(s, held_class, "no test images of the other class remain to compare with.")
                continue
            model = clone(estimator)
            X_tr = _safe_indexing(X, tr)
            fit_params = validation_fit_params(model, X_tr, y_fit[tr], _safe_indexing(X, va),
                                               y_fit[va])
            model.fit(X_tr, y_fit[tr], **fit_params)  # Ctrl-C raises KeyboardInterrupt
            test_src = np.where(in_s[test], s, OTHER).astype(object)
            ev = evaluate(model, _safe_indexing(X, test), y_fit[test], sources=test_src,
                          threshold=threshold, pos_label=pos_label)
            own = ev.per_source[s]
            row = {
                "held_out": s,
                "held_out_class": held_class,
                "n_train": int(len(tr)),
                "n_val": int(len(va)),
                "n_held_out": int(len(held_rows)),
                "n_other_class_test": int(len(other_class_test)),
                "held_out_accuracy": own.accuracy,
                "held_out_mean_p_fake": float(np.mean(own.y_score)),
                "roc_auc": ev.roc_auc,
                "average_precision": ev.average_precision,
                "eer": ev.eer,
                "accuracy": ev.accuracy,
                "f1": ev.f1,
            }
            in_dist = None
            if split is not None and len(set(y_arr[te].tolist())) == 2:
                in_dist = evaluate(model, _safe_indexing(X, te), y_fit[te], threshold=threshold,
                                   pos_label=pos_label)
            row["in_dist_accuracy"] = None if in_dist is None else in_dist.accuracy
            row["in_dist_roc_auc"] = None if in_dist is None else in_dist.roc_auc
            row["status"] = "ok"
            rows.append(row)
            details.evaluations[s] = ev
            if in_dist is not None:
                details.in_distribution[s] = in_dist
            if keep_estimators:
                details.estimators[s] = model
            if csv_path is not None:
                write_csv(csv_path, rows)
            if bar is not None:
                bar.update(1)
    except KeyboardInterrupt:
        details.interrupted = True
    finally:
        if bar is not None:
            bar.close()
    if details.interrupted:  # once the bar is closed: written into it, the two ran together
        warnings.warn(
            f"Cross-source evaluation interrupted after {len(rows)} of {len(held_out)} sources; "
            f"finished rows are kept.", UserWarning, stacklevel=2,
        )
        # the sources not reached get a row too, so that a partial table says it is one
        done = {row["held_out"] for row in rows}
        rows.extend({"held_out": s, "status": INTERRUPTED_STATUS}
                    for s in held_out if s not in done)
    if csv_path is not None:
        finished = any(row["status"] == "ok" for row in rows)
        if csv_path.exists() and not finished:
            warnings.warn(f"No held-out source finished, so {csv_path} was left as it was.",
                          UserWarning, stacklevel=2)
        elif rows:
            write_csv(csv_path, rows)
    details.table = to_table(rows, int_columns=COUNT_COLUMNS)
    if return_details:
        return details.table, details
    return details.table
