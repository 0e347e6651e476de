"""One call from folders to a leak-free, balanced, split data set (what ``skface build`` runs)."""

import warnings

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.class_weight import compute_class_weight

from ..utils import check_seed
from ._balance import _check_balance, balance_indices
from ._decode import DEFAULT_MAX_PIXELS
from ._duplicates import check_threshold, find_duplicates
from ._scan import METADATA_COLUMNS, _skipped_bunch, load_faces, stop_if_interrupted, to_frame
from ._split import _check_sizes, train_val_test_split


class LabelConflictWarning(UserWarning):
    """Warned when one picture appears under both real and fake and is dropped."""


def _dropped_bunch(records, copy_of):
    """The images build_dataset left out: ``_skipped_bunch`` of ``(path, reason)`` records, with
    ``copy_of`` (the kept copy of a duplicate, the copy under the other label of a conflict)."""
    dropped = _skipped_bunch(records)
    del dropped["interrupted"]  # nothing is left out by an interruption here
    dropped.copy_of = np.array(copy_of, dtype=object)
    return dropped


def build_dataset(real, fake, *, dedupe=True, threshold=24, balance="none",
                  by_source=False, sizes=(0.70, 0.15, 0.15), balanced_test=True,
                  random_state=None, source_from="folder", as_frame=False,
                  max_pixels=DEFAULT_MAX_PIXELS, n_jobs=None, progress=True, cache=None):
    """Scan, de-duplicate, split and balance a real-vs-fake face data set.

    Steps: :func:`load_faces` (bad files skipped and reported), :func:`find_duplicates` across
    all sources, removal of pictures found under both labels, optional removal of duplicate
    copies, :func:`train_val_test_split` on the duplicate groups (so no picture crosses splits),
    then resampling of the training and validation splits with :func:`balance_indices`. The
    test split is exactly balanced by the split itself and never resampled.

    Parameters
    ----------
    real, fake : folder, list of folders or dict
        As in :func:`load_faces`.
    dedupe : bool, default=True
        Keep one image per duplicate group (the first found). With False, copies are kept but
        still grouped, so they never land in different splits.
    threshold : int, default=24
        Near-duplicate Hamming threshold, see :func:`find_duplicates`.
    balance : {"none", "undersample", "oversample"}, default="none"
        How the train and validation splits are resampled to even classes (see
        :func:`balance_indices`). ``"none"`` keeps every image once: with scarce data each
        image counts, and on the development faces the recommended classifier trained on every
        image generalised best to sources it never saw (``benchmarks/RESULTS.md``, "Levers,
        ninth round"). To balance at training time instead, pass the returned
        ``class_weight`` (computed on the training split) or ``balance="oversample"`` to
        :class:`skface.FaceCNNClassifier`. ``"undersample"`` leaves images of the larger class
        out (counted in ``dropped["undersampled"]``); ``"oversample"`` repeats rows.
    by_source : bool, default=False
        Also give every source of a class the same share (see :func:`balance_indices`); needs
        ``balance="undersample"`` or ``"oversample"``.
    sizes : tuple, default=(0.70, 0.15, 0.15)
        Train, validation and test fractions.
    balanced_test : bool, default=True
        Exactly as many real as fake images in the test split.
    random_state : int, RandomState instance or None, default=None
        One seed for the split and the resampling; the seed used is returned in
        ``random_state``, so a run can be repeated.
    source_from : {"folder", "subfolder"}, default="folder"
        As in :func:`load_faces`.
    as_frame : bool, default=False
        Also return a pandas DataFrame in ``frame``.
    max_pixels : int, default=89_478_485
        Decompression-bomb limit.
    n_jobs : int, default=None
        joblib workers for scanning.
    progress : bool, default=True
        Show progress bars.
    cache : str or path, default=None
        Passed to :func:`load_faces`: a folder that keeps what the scan learned about each
        image (created when missing). A later scan, after Ctrl-C or with more folders, reads
        only the files not described there, or changed since; None scans every file.

    Returns
    -------
    data : Bunch
        ``filenames``, ``target``, ``target_names``, ``source``, ``group``, ``split``
        (``"train"``/``"val"``/``"test"``), ``resampled`` (``"added"`` on each row that
        oversampling added, a repeat of an earlier row of its split; ``""`` on the others), the
        metadata of :func:`load_faces`, ``skipped``, ``empty_folders`` (as in
        :func:`load_faces`),
        ``duplicates`` (the :class:`DuplicateReport` of every scanned image, those left out
        included: its ``pairs`` index ``duplicates.filenames``, not the rows returned; the
        rows' ``group`` ids are its group ids), ``dropped`` (counts of images left out
        by de-duplication, label conflicts and undersampling), ``dropped_files`` (every image
        left out: ``filenames``, ``reasons`` -- ``"duplicate: ..."``, ``"label conflict: ..."``
        or ``"undersampled: ..."`` --, ``copy_of`` (for a duplicate the copy that was kept, for
        a label conflict a copy under the other label, dropped as well; ``""`` otherwise),
        ``counts`` per reason and ``n``), ``class_weight`` (dict for the training split before
        resampling), ``random_state`` (the int seed used) and ``DESCR``.
        Rows are ordered train, then val, then test; oversampling repeats rows. Ready for
        :func:`write_manifest`.

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C during the scan. A data set of part of the files would mislead, so nothing
        partial is returned; with ``cache`` the next call reads only the files the scan had
        not finished, without it every file again.
    """
    # every argument is checked before the scan, which can take hours on a large set
    _check_balance(balance, by_source)
    check_threshold(threshold)
    _check_sizes(sizes)
    seed = check_seed(random_state)
    data = load_faces(real, fake, source_from=source_from, max_pixels=max_pixels, n_jobs=n_jobs,
                      progress=progress, cache=cache)
    # a data set of part of the folders must not look finished (nor fail on the part missing)
    stop_if_interrupted(data.skipped.reasons, "the folder scan")
    y = data.target
    groups, report = find_duplicates(data, threshold=threshold, progress=progress)

    files = data.filenames
    records, copy_of = [], []  # one per image left out: (path, reason), and the copy it matches
    keep = np.ones(len(y), dtype=bool)
    conflicts = np.isin(groups, report.mixed_label_groups)
    if conflicts.any():
        warnings.warn(
            f"{int(conflicts.sum())} image(s) in {len(report.mixed_label_groups)} group(s) appear "
            "as both real and fake; they are dropped.", LabelConflictWarning, stacklevel=2)
        keep &= ~conflicts
        members_of = {}  # each mixed group's images, gathered in one pass
        for i in np.flatnonzero(conflicts):
            members_of.setdefault(groups[i], []).append(i)
        for i in np.flatnonzero(conflicts):
            members = np.array(members_of[groups[i]])
            other = members[y[members] != y[i]][0]
            records.append((files[i], f"label conflict: also under {data.target_names[y[other]]}"))
            copy_of.append(files[other])
    n_dupes = 0
    if dedupe:
        uniq, first_idx = np.unique(groups, return_index=True)
        first = np.zeros(len(y), dtype=bool)
        first[first_idx] = True
        first |= groups < 0  # a file find_duplicates could not read is nobody's copy
        kept_of = dict(zip(uniq.tolist(), first_idx.tolist()))
        dupes = np.flatnonzero(keep & ~first)
        n_dupes = len(dupes)
        keep &= first
        for i in dupes:
            records.append((files[i], "duplicate: another copy is kept"))
            copy_of.append(files[kept_of[groups[i]]])
    idx = np.flatnonzero(keep)
    for label, role in ((0, "real"), (1, "fake")):
        if not np.any(y[idx] == label):
            raise ValueError(f"No {role} image is left after removing duplicates and conflicts.")

    tr, va, te = train_val_test_split(data.filenames[idx], y[idx], groups=groups[idx],
                                      sizes=sizes, balanced_test=balanced_test,
                                      random_state=seed)
    classes = np.unique(y[idx][tr])
    class_weight = dict(zip(classes.tolist(),
                            compute_class_weight("balanced", classes=classes, y=y[idx][tr])))
    parts, labels, added = [], [], []
    n_under = 0
    for k, (part, name) in enumerate(((tr, "train"), (va, "val"))):
        if len(part) == 0:
            continue
        if len(np.unique(y[idx][part])) < 2:
            chosen = part  # one class only (tiny val split): nothing to balance
            repeat = np.zeros(len(part), dtype=bool)
        else:
            sel = balance_indices(y[idx][part], source=data.source[idx][part], balance=balance,
                                  by_source=by_source, random_state=seed + k + 1)
            chosen = part[sel]
            repeat = np.ones(len(sel), dtype=bool)  # every occurrence after an index's first
            repeat[np.unique(sel, return_index=True)[1]] = False
            left_out = np.setdiff1d(np.arange(len(part)), sel)
            n_under += len(left_out)
            records += [(files[i], f"undersampled: {name} split") for i in idx[part[left_out]]]
            copy_of += [""] * len(left_out)
        parts.append(chosen)
        labels += [name] * len(chosen)
        added.append(repeat)
    parts.append(te)
    labels += ["test"] * len(te)
    added.append(np.zeros(len(te), dtype=bool))
    rows = idx[np.concatenate(parts)]
    added = np.concatenate(added)

    out = Bunch(
        filenames=data.filenames[rows], target=y[rows], target_names=data.target_names,
        source=data.source[rows], group=groups[rows], split=np.array(labels, dtype=object),
        resampled=np.where(added, "added", "").astype(object),
        skipped=data.skipped, empty_folders=data.empty_folders, duplicates=report,
        dropped={"duplicates": n_dupes, "label_conflicts": int(conflicts.sum()),
                 "undersampled": int(n_under)},
        dropped_files=_dropped_bunch(records, copy_of),
        class_weight=class_weight, random_state=seed, balance=balance,
    )
    for col in METADATA_COLUMNS:
        out[col] = data[col][rows]
    counts = {s: (int(np.sum((out.split == s) & (out.target == 0))),
                  int(np.sum((out.split == s) & (out.target == 1))))
              for s in ("train", "val", "test")}
    out.DESCR = (
        f"{len(rows)} rows"
        + (f" ({len(rows) - added.sum()} distinct images, {added.sum()} added by oversampling)"
           if added.any() else "")
        + f" from {len(set(out.source))} sources (seed {seed}, balance={balance}); "
        + ", ".join(f"{s}: {r} real / {f} fake" for s, (r, f) in counts.items())
        + f"; dropped {out.dropped}; skipped {data.skipped.n} file(s)."
    )
    if as_frame:
        out.frame = to_frame(out)
    return out
