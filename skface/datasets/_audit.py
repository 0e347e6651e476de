"""Shortcut audit: can file metadata alone tell real from fake?"""

import warnings
from collections import Counter

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import Bunch

from ..utils._labels import check_label_kinds, resolve_pos_label
from ..utils._validation import is_whole_number
from ._decode import DEFAULT_MAX_PIXELS
from ._manifest import added_rows
from ..preprocessing._loader import check_max_pixels
from ._scan import SkippedFilesWarning, _skipped_bunch, inspect_files, stop_if_interrupted

#: Feature groups of the audit, each scored on its own.
FEATURE_GROUPS = ("pixel size", "format", "file bytes", "jpeg quality", "exif")


class ShortcutWarning(UserWarning):
    """Warned when file metadata alone predicts the real/fake label."""


class ShortcutAudit(Bunch):
    """Result of :func:`audit_shortcuts` (a ``Bunch``; ``str()`` gives a readable summary).

    Keys: ``flagged`` (bool), ``balanced_accuracy`` and ``roc_auc`` of the cross-validated
    metadata-only classifier, ``feature_scores`` (balanced accuracy of each feature group alone),
    ``best_balanced_accuracy`` and ``best_feature`` (the best of all these, which is what the
    flag compares with ``threshold``),
    ``share_label_fixed`` and ``n_label_fixed`` (images whose metadata cell holds one label
    only), ``fixed_cells`` (those cells), ``threshold``, ``max_fixed_share``, ``n_samples``,
    ``skipped``.
    """

    def table(self):
        """Return the rows ``(feature, balanced accuracy)`` with the overall score first.

        Returns
        -------
        rows : list of (str, float)
            ``("all metadata", score)``, then each feature group, best first.
        """
        rows = [("all metadata", self.balanced_accuracy)]
        rows += sorted(self.feature_scores.items(), key=lambda kv: -kv[1])
        return rows

    def summary(self):
        """Return a readable multi-line summary.

        Returns
        -------
        text : str
            The verdict, the scores and the largest label-fixed metadata cells.
        """
        verdict = "FLAGGED: metadata predicts the label" if self.flagged else "not flagged"
        lines = [
            f"Shortcut audit on {self.n_samples} images: {verdict}.",
            f"  balanced accuracy from metadata alone: {self.balanced_accuracy:.3f} "
            f"(ROC AUC {self.roc_auc:.3f}; chance 0.500)",
            f"  best single score: {self.best_balanced_accuracy:.3f} from {self.best_feature} "
            f"(flag at >= {self.threshold:.2f})",
            f"  images whose label is fixed by metadata: {self.share_label_fixed:.1%} "
            f"({self.n_label_fixed}; flag at >= {self.max_fixed_share:.0%})",
            f"  {'feature':<16} {'balanced acc.':>13}",
        ]
        lines += [f"  {name:<16} {score:>13.3f}" for name, score in self.table()]
        for cell in self.fixed_cells[:8]:
            lines.append(f"  only {cell['label']}: {cell['n']} images at {cell['width']}x"
                         f"{cell['height']} {cell['format']} q{cell['jpeg_quality']} "
                         f"exif={cell['exif']}")
        if len(self.fixed_cells) > 8:
            lines.append(f"  ... and {len(self.fixed_cells) - 8} more single-label cells")
        if self.flagged:
            lines.append("  Fix: resize and re-encode both classes the same way (e.g. "
                         "FormatNormalizer), or report per-source metrics.")
        return "\n".join(lines)

    def to_frame(self):
        """Return the per-feature table as a pandas DataFrame.

        Returns
        -------
        frame : pandas.DataFrame
            Columns ``feature`` and ``balanced_accuracy``, rows as :meth:`table` gives them.
        """
        import pandas as pd

        return pd.DataFrame(self.table(), columns=["feature", "balanced_accuracy"])

    def __str__(self):
        return self.summary()

    __repr__ = __str__


def _features(meta):
    width = np.asarray(meta["width"], dtype=np.float64)
    height = np.asarray(meta["height"], dtype=np.float64)
    nbytes = np.asarray(meta["bytes"], dtype=np.float64)
    quality = np.asarray(meta["jpeg_quality"], dtype=np.float64)
    fmt = np.asarray(meta["format"], dtype=object).astype(str)
    exif = np.asarray(meta["exif"], dtype=np.float64)
    formats = sorted(set(fmt))
    onehot = (fmt[:, None] == np.array(formats)[None, :]).astype(np.float64)
    groups = {
        "pixel size": np.column_stack([width, height]),
        "format": onehot,
        "file bytes": np.log1p(nbytes)[:, None],
        "jpeg quality": np.nan_to_num(quality, nan=-1.0)[:, None],
        "exif": exif[:, None],
    }
    return groups


_META = ("width", "height", "format", "bytes", "jpeg_quality", "exif")


def _bunch_metadata(data, y):
    """The metadata columns and labels of a data set Bunch, without the rows oversampling added
    (each a repeat of a row kept: counted twice, it landed on both sides of the folds and made
    metadata look predictive); missing metadata refused by name."""
    absent = [k for k in _META if data.get(k) is None]
    if absent:
        raise ValueError(f"the data set has no {', '.join(absent)} column(s) to audit (a "
                         "manifest written without metadata?); pass the file names, "
                         "audit_shortcuts(data.filenames, data.target), to read it from the "
                         "files.")
    n = len(data["filenames"]) if data.get("filenames") is not None else len(data["width"])
    meta = {}
    for k in _META:
        meta[k] = np.asarray(data[k], dtype=object if k == "format" else None).ravel()
        if len(meta[k]) != n:
            raise ValueError(f"data['{k}'] has {len(meta[k])} entries for {n} images.")
    # read_manifest gives -1 for a blank number and "" for a blank format: a row written
    # without its metadata (log1p(-1) was -inf, and the forest failed on it)
    blank = ((meta["width"].astype(np.float64) <= 0) | (meta["height"].astype(np.float64) <= 0)
             | (meta["bytes"].astype(np.float64) < 0)
             | np.array([str(f) == "" for f in meta["format"]], dtype=bool))
    if blank.any():
        rows = np.flatnonzero(blank)
        raise ValueError(f"{len(rows)} row(s) of the data set have no metadata (width, height, "
                         f"format or bytes blank), e.g. row(s) {rows[:5].tolist()}; pass the "
                         "file names, audit_shortcuts(data.filenames, data.target), to read it "
                         "from the files.")
    if y is None:
        y = data.get("target")
    if y is not None:
        y = np.asarray(y).ravel()
        if len(y) != n:
            raise ValueError(f"{n} images but {len(y)} labels.")
    keep = ~added_rows(data)
    if not keep.all():
        meta = {k: v[keep] for k, v in meta.items()}
        y = None if y is None else y[keep]
    return meta, y


def _once_each(paths, y):
    """Each file name once (a repeat, e.g. from oversampling, would land on both sides of the
    folds), with a warning that says how many repeats were left out; a file given with two
    different labels is refused."""
    first = {}
    for i, p in enumerate(paths):
        key = str(p)
        if key in first:
            if y[first[key]] != y[i]:
                raise ValueError(f"{p} is given twice with different labels ({y[first[key]]!r} "
                                 f"and {y[i]!r}).")
        else:
            first[key] = i
    if len(first) == len(paths):
        return paths, y
    keep = np.fromiter(first.values(), dtype=np.int64, count=len(first))
    warnings.warn(f"audit_shortcuts: {len(paths) - len(keep)} repeated file name(s) are "
                  "counted once.", UserWarning, stacklevel=3)
    return [paths[i] for i in keep], y[keep]


def _cv_scores(X, y, cv, random_state, n_jobs):
    if X.shape[1] <= 2 or len(np.unique(X, axis=0)) <= 2:
        # One feature group: a single tree finds any threshold rule, far faster than a forest.
        clf = DecisionTreeClassifier(min_samples_leaf=3, random_state=random_state)
    else:
        clf = RandomForestClassifier(n_estimators=50, min_samples_leaf=2,
                                     random_state=random_state, n_jobs=n_jobs)
    proba = cross_val_predict(clf, X, y, cv=cv, method="predict_proba", n_jobs=None)[:, 1]
    pred = (proba >= 0.5).astype(int)
    return balanced_accuracy_score(y, pred), roc_auc_score(y, proba)


def audit_shortcuts(filenames, y=None, *, cv=5, threshold=0.65, max_fixed_share=0.10,
                    min_cell_size=5, random_state=0, max_pixels=DEFAULT_MAX_PIXELS, n_jobs=None,
                    progress=True, pos_label=None, cache=None):
    """Measure how far file metadata alone predicts real vs fake.

    A random forest (a single tree for one feature group) sees only pixel size, format, file
    size, estimated JPEG quality and whether EXIF is present; its cross-validated balanced
    accuracy says how much a detector could learn without looking at faces. Each feature group
    is also scored alone. Images are then binned by ``(width, height, format, JPEG quality,
    EXIF)``: a bin of at least ``min_cell_size`` images that holds one label only means those
    images' label is fixed by metadata.

    Parameters
    ----------
    filenames : array-like of str or Bunch
        Image paths, or a Bunch from :func:`load_faces` / :func:`build_dataset` /
        :func:`read_manifest` (its metadata is reused and ``y`` defaults to its ``target``; the
        rows oversampling added, repeats of other rows, are left out).
    y : array-like of shape (n_samples,), optional
        Binary labels: 0 = real and 1 = fake, ``"real"`` and ``"fake"``, or any two labels
        with ``pos_label`` naming the fake one. Required with plain file names.
    cv : int, default=5
        Number of stratified folds (lowered to the size of the smaller class when needed).
    threshold : float, default=0.65
        Flag when the balanced accuracy of all metadata, or of any feature group alone, reaches
        this value (a forest on every feature can score below a single strong feature when a
        noisy one, such as file bytes, is added).
    max_fixed_share : float, default=0.10
        Flag when at least this share of images sits in single-label metadata cells.
    min_cell_size : int, default=5
        Smallest cell counted as fixing a label.
    random_state : int, default=0
        Seed of the folds and the forest.
    max_pixels : int, default=89_478_485
        Decompression-bomb limit when reading files.
    n_jobs : int, default=None
        joblib workers for reading files and for the forest.
    progress : bool, default=True
        Show a progress bar while reading files.
    cache : str or path, default=None
        A folder that keeps what the scan learned about each image (created when missing).
        A later audit of file names, after Ctrl-C or with more files, reads only the files
        not described there, or changed since; None reads every file.
    pos_label : object, optional
        The fake label, for labels other than 0/1 and ``"real"``/``"fake"`` (see
        :func:`skface.metrics.resolve_pos_label`).

    Returns
    -------
    audit : ShortcutAudit
        ``flagged``, scores, the share of label-fixed images and a readable ``summary()``.
        A :class:`ShortcutWarning` is issued when flagged.

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C during the scan. An audit of part of the files would mislead, so nothing
        partial is returned; with ``cache`` the next call reads only the files the scan had
        not finished, without it every file again.
    """
    check_max_pixels(max_pixels)
    for name, value, low, high in (("threshold", threshold, 0.5, 1.0),
                                   ("max_fixed_share", max_fixed_share, 0.0, 1.0)):
        # NaN or 5 never flagged, -1 always did; a string failed after the cross-validation
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not low <= value <= high:
            raise ValueError(f"{name} must be a number in [{low:g}, {high:g}]; got {value!r}.")
    # NaN passed every comparison (no cell was ever counted), "abc" failed inside int()
    if not is_whole_number(min_cell_size) or min_cell_size < 1:
        raise ValueError(f"min_cell_size must be a whole number of images >= 1; got "
                         f"{min_cell_size!r}.")
    if not is_whole_number(cv) or cv < 2:
        raise ValueError(f"cv must be a whole number of folds >= 2; got {cv!r}.")
    skipped = _skipped_bunch([])
    if isinstance(filenames, dict):
        meta, y = _bunch_metadata(filenames, y)
    else:
        paths = list(np.asarray(filenames, dtype=object).ravel())
        if y is None:
            raise ValueError("audit_shortcuts needs y with plain file names.")
        y = np.asarray(y).ravel()
        if len(paths) != len(y):
            raise ValueError(f"{len(paths)} file names but {len(y)} labels.")
        paths, y = _once_each(paths, y)
        results = inspect_files(paths, max_pixels=max_pixels, n_jobs=n_jobs, progress=progress,
                                desc="Reading metadata", cache=cache)
        stop_if_interrupted((r for _, _, r in results), "audit_shortcuts")
        ok = np.array([info is not None for _, info, _ in results], dtype=bool)
        skipped = _skipped_bunch([(p, r) for p, info, r in results if info is None])
        if skipped.n:
            warnings.warn(f"audit_shortcuts could not read {skipped.n} file(s); they are left "
                          "out (see audit.skipped).", SkippedFilesWarning, stacklevel=2)
        infos = [info for _, info, _ in results if info is not None]
        meta = {k: [i[k] for i in infos] for k in
                ("width", "height", "format", "bytes", "jpeg_quality", "exif")}
        y = np.asarray(y).ravel()[ok]
    if y is None:
        raise ValueError("audit_shortcuts needs labels y.")
    y = np.asarray(y).ravel()
    check_label_kinds(y)
    classes = np.unique(y)
    if len(classes) != 2:
        raise ValueError(f"audit_shortcuts needs two classes, got {list(classes)}.")
    fake, _ = resolve_pos_label(classes, pos_label)
    y = (y == fake).astype(int)
    n_min = int(np.bincount(y).min())
    if n_min < 2:
        raise ValueError("audit_shortcuts needs at least two images of each class.")
    folds = StratifiedKFold(n_splits=min(int(cv), n_min), shuffle=True, random_state=random_state)

    groups = _features(meta)
    X_all = np.column_stack(list(groups.values()))
    bal_acc, auc = _cv_scores(X_all, y, folds, random_state, n_jobs)
    feature_scores = {name: _cv_scores(X, y, folds, random_state, n_jobs)[0]
                      for name, X in groups.items()}

    q = np.nan_to_num(np.asarray(meta["jpeg_quality"], dtype=np.float64), nan=-1).astype(int)
    keys = list(zip(np.asarray(meta["width"]).tolist(), np.asarray(meta["height"]).tolist(),
                    [str(f) for f in meta["format"]], q.tolist(),
                    np.asarray(meta["exif"], dtype=bool).tolist()))
    cell_labels = {}
    for key, label in zip(keys, y):
        cell_labels.setdefault(key, Counter())[label] += 1
    fixed_cells = []
    for key, counts in cell_labels.items():
        total = sum(counts.values())
        if len(counts) == 1 and total >= min_cell_size:
            (label,) = counts
            fixed_cells.append({"width": key[0], "height": key[1], "format": key[2],
                                "jpeg_quality": key[3], "exif": key[4], "n": total,
                                "label": ["real", "fake"][label]})
    fixed_cells.sort(key=lambda c: -c["n"])
    n_fixed = int(sum(c["n"] for c in fixed_cells))
    share = n_fixed / len(y)

    scored = {"all metadata": bal_acc, **feature_scores}
    best_feature = max(scored, key=scored.get)
    best = scored[best_feature]
    flagged = bool(best >= threshold or share >= max_fixed_share)
    audit = ShortcutAudit(
        flagged=flagged, balanced_accuracy=float(bal_acc), roc_auc=float(auc),
        feature_scores={k: float(v) for k, v in feature_scores.items()},
        best_balanced_accuracy=float(best), best_feature=best_feature,
        share_label_fixed=float(share), n_label_fixed=n_fixed, fixed_cells=fixed_cells,
        threshold=float(threshold), max_fixed_share=float(max_fixed_share), n_samples=len(y),
        skipped=skipped,
    )
    if flagged:
        warnings.warn("File metadata alone predicts the label (balanced accuracy "
                      f"{best:.2f} from {best_feature}, {share:.0%} of images fixed by metadata): "
                      "the data set has a shortcut.\n" + audit.summary(),
                      ShortcutWarning, stacklevel=2)
    return audit
