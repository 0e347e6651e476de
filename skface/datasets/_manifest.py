"""Manifest CSV: one row per image, so an experiment can be rebuilt exactly."""

import csv
import io
import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ..utils import atomic_write_text
from ..utils._io import file_sha256
from ..utils._validation import is_missing, is_whole_number, missing_positions
from ._scan import TARGET_NAMES

#: Columns written by :func:`write_manifest`, in order.
MANIFEST_COLUMNS = ("path", "label", "source", "split", "group", "sha256", "width", "height",
                    "format", "bytes", "jpeg_quality", "exif", "resampled")
#: Columns :func:`read_manifest` cannot do without.
REQUIRED_COLUMNS = ("path", "label")
_SPLITS = ("train", "val", "test", "")
#: Values of the ``resampled`` column: blank for an image's own row, ``added`` for a row that
#: oversampling added (a repeat of an earlier row).
_RESAMPLED = ("", "added")


def added_rows(data):
    """Which rows of a data set (:func:`build_dataset`'s or :func:`read_manifest`'s Bunch)
    oversampling added, repeats of an earlier row: a boolean array, all False without a
    ``resampled`` column."""
    resampled = data.get("resampled")
    if resampled is None:  # a plain dict as well as a Bunch
        return np.zeros(len(data["filenames"]), dtype=bool)
    return np.asarray(resampled, dtype=object) == _RESAMPLED[1]


def _blank(value):
    """Whether a metadata value is to be written as an empty field: ``""`` or missing."""
    return (isinstance(value, str) and value == "") or is_missing(value)


def _whole_field(value, key, position):
    """A manifest field of the integer column ``key``: ``""`` for a missing value, the whole
    number as an int; anything else refused, naming the column and the row."""
    if is_missing(value):
        return ""
    if isinstance(value, str):
        text = value.strip()
        if text == "" or text.lstrip("-").isdigit():
            return text
    elif is_whole_number(value):
        return str(int(value))
    raise ValueError(f"dataset['{key}'] holds {value!r} at position {position}; it takes whole "
                     "numbers (or a missing value).")


def _column(dataset, key, n, default=""):
    value = dataset.get(key)
    if value is None:
        return [default] * n
    value = list(np.asarray(value, dtype=object).ravel())
    if len(value) != n:
        raise ValueError(f"dataset['{key}'] has {len(value)} entries for {n} files.")
    return value


def manifest_roots(root):
    """``root`` as given (absolute) and with symbolic links resolved, for
    :func:`relative_to_roots`."""
    return Path(os.path.abspath(root)), Path(os.path.realpath(root))


def relative_to_roots(path, roots):
    """``path`` relative to the root of :func:`manifest_roots`, as a POSIX string, or None where
    it is not under it.

    Tried as given, then with symbolic links resolved (a root or a file reached through a link):
    the rule :func:`write_manifest` uses for ``root``, so that a caller can check a folder before
    the scan.
    """
    for resolve, base in zip((os.path.abspath, os.path.realpath), roots):
        try:
            return Path(resolve(path)).relative_to(base).as_posix()
        except ValueError:
            continue
    return None


def write_manifest(dataset, path, *, root=None):
    """Write a data set to a manifest CSV, atomically.

    Parameters
    ----------
    dataset : Bunch or dict
        From :func:`build_dataset` or :func:`load_faces`: needs ``filenames`` and ``target``;
        ``source``, ``split``, ``group``, ``sha256``, the metadata columns and ``resampled``
        (``"added"`` on the rows oversampling added) are written when present.
    path : str or path
        The CSV to write. It is written to a temporary file in the same folder and then renamed,
        so a crash never leaves half a manifest.
    root : str or path, optional
        Write image paths relative to this folder (portable manifests). By default paths are
        written absolute.

    Returns
    -------
    path : pathlib.Path
        The written file.
    """
    if "filenames" not in dataset or "target" not in dataset:
        raise ValueError("dataset needs 'filenames' and 'target' (e.g. from build_dataset).")
    raw_files = np.asarray(dataset["filenames"], dtype=object).ravel()
    empty = [i for i, f in enumerate(raw_files) if f is None or str(f) == ""]
    if empty:
        raise ValueError(f"dataset['filenames'] has no path at position(s) {empty[:5]}.")
    files = [str(f) for f in raw_files]
    n = len(files)
    target = np.asarray(dataset["target"]).ravel()
    if len(target) != n:
        raise ValueError(f"dataset has {n} filenames but {len(target)} targets.")
    names = np.asarray(dataset.get("target_names", TARGET_NAMES), dtype=object)
    if list(names) != list(TARGET_NAMES):
        raise ValueError(f"target_names must be {TARGET_NAMES.tolist()} (what read_manifest "
                         f"reads back); got {names.tolist()}.")
    # the class index of each row: ints 0/1 (or bools); anything else is named, not cast
    if target.dtype.kind == "b":
        target = target.astype(np.int64)
    if target.dtype.kind not in "iu" or not np.isin(target, (0, 1)).all():
        bad = [v for v in target.tolist() if not (isinstance(v, int) and v in (0, 1))]
        raise ValueError(f"target values must be 0 (real) or 1 (fake); got {bad[:5]}.")
    if root is not None:
        roots = manifest_roots(root)
        rel = []
        for f in files:
            r = relative_to_roots(f, roots)
            if r is None:
                raise ValueError(f"{f} is not under root {roots[0]}.")
            rel.append(r)
        files = rel
    else:
        files = [os.path.abspath(f) for f in files]
    cols = {"path": files, "label": [str(names[t]) for t in target]}
    for key in MANIFEST_COLUMNS[2:]:
        cols[key] = _column(dataset, key, n)
    # what read_manifest would refuse is refused here, before a file is written
    for key, allowed in (("split", _SPLITS), ("resampled", _RESAMPLED)):
        bad = sorted({str(v) for v in cols[key]} - set(allowed))
        if bad:
            raise ValueError(f"dataset['{key}'] holds {bad}; allowed: {list(allowed)}.")
    missing = missing_positions(cols["source"])
    if missing:  # written as a source named "nan", which the rest of skface refuses
        raise ValueError(f"dataset['source'] has missing values (None or NaN) at position(s) "
                         f"{missing[:5]}; name the source of every image, or leave the column "
                         "out.")
    for key in ("group", "width", "height", "bytes"):
        # whole numbers as integers (a pandas column with a NaN is float: 3.0 was written, and
        # read_manifest then refused it), a missing value as a blank field
        cols[key] = [_whole_field(v, key, i) for i, v in enumerate(cols[key])]
    q = cols["jpeg_quality"]
    # 15 digits: f"{v:g}" cut 87.123456789 to 87.1235 and 1234567 to 1.23457e+06
    cols["jpeg_quality"] = ["" if _blank(v) else f"{float(v):.15g}" for v in q]
    # a missing value is blank (bool(NaN) is True: it had been written as 1)
    cols["exif"] = ["" if _blank(v) else str(int(bool(v))) for v in cols["exif"]]
    for key in ("path", "source"):
        for i, v in enumerate(cols[key]):
            try:
                str(v).encode("utf-8")
            except UnicodeEncodeError:  # a file name in another encoding: no UTF-8 CSV holds it
                raise ValueError(f"dataset['{'filenames' if key == 'path' else key}'] holds "
                                 f"{str(v)!r} at position {i}, which is not valid UTF-8 text "
                                 "(a name in another encoding); rename it.") from None

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(MANIFEST_COLUMNS)
    for row in zip(*(cols[c] for c in MANIFEST_COLUMNS)):
        writer.writerow(row)
    return atomic_write_text(path, buf.getvalue())


#: Columns whose values are read verbatim, blanks included.
_VERBATIM = ("path", "source")


def _read_rows(path):
    """The header and the rows (dicts) of the manifest CSV ``path``, checked as
    :func:`read_manifest` describes (required columns, no column twice, no extra fields, UTF-8,
    at least one row); paths and source names verbatim, other fields stripped."""
    if not path.is_file():
        raise ValueError(f"Manifest not found: {path}")
    # utf-8-sig: the byte-order mark a spreadsheet may save is not part of the first column name
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None:
                raise ValueError(f"Manifest {path} is empty (no header row).")
            header = [h.strip() for h in reader.fieldnames]
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise ValueError(f"Manifest {path} lacks required column(s) {missing}; "
                                 f"found {header}. Expected at least {list(REQUIRED_COLUMNS)}.")
            twice = sorted({h for h in header if header.count(h) > 1})
            if twice:  # csv would keep the last one: a second label column could flip labels
                raise ValueError(f"Manifest {path} names the column(s) {twice} more than once.")
            # paths and source names are kept exactly as written (a file name may start or
            # end with a space); the other fields are names and numbers, read without blanks
            rows = []
            for line, r in enumerate(reader, start=2):
                if r.get(None):  # more fields than the header names: nothing is dropped unsaid
                    raise ValueError(f"{path}, line {line}: {len(header) + len(r[None])} "
                                     f"fields for the {len(header)} columns of the header.")
                short = sum(v is None for k, v in r.items() if k is not None)
                if short:  # fewer: csv gave None, which read as blank (no split, no group)
                    raise ValueError(f"{path}, line {line}: {len(header) - short} fields for "
                                     f"the {len(header)} columns of the header.")
                rows.append({k.strip(): (v or "") if k.strip() in _VERBATIM
                             else (v or "").strip() for k, v in r.items() if k is not None})
    except UnicodeDecodeError as exc:
        raise ValueError(f"Manifest {path} is not UTF-8 text (byte {exc.start}); is it a "
                         "CSV file?") from None
    if not rows:
        raise ValueError(f"Manifest {path} has a header but no rows.")
    return header, rows


def absolute_manifest_text(path):
    """The text of a copy of the manifest ``path`` whose relative image paths are made
    absolute, so that the copy reads the same images from wherever it is written; every column
    and value is kept. Reading it checks the manifest as :func:`read_manifest` does."""
    path = Path(path)
    header, rows = _read_rows(path)
    base = path.parent.resolve()
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        p = Path(r["path"])
        writer.writerow({**r, "path": str(p if p.is_absolute() else base / p)})
    return buf.getvalue()


def read_manifest(path, *, root=None, verify=False, as_frame=False):
    """Read a manifest CSV written by :func:`write_manifest`.

    Parameters
    ----------
    path : str or path
        The CSV.
    root : str or path, optional
        Folder that relative image paths are resolved against; default: the manifest's folder.
    verify : bool, default=False
        Check that every file exists and, where the manifest has one, that its sha256 matches.
    as_frame : bool, default=False
        Also return a pandas DataFrame in ``frame``.

    Returns
    -------
    data : Bunch
        ``filenames``, ``target`` (0 = real, 1 = fake), ``target_names``, ``source``, ``split``,
        ``group`` (int, -1 when empty), ``sha256``, the metadata columns and ``resampled``
        (``"added"`` on each row oversampling added, ``""`` on the others), those that are
        present (a manifest written before ``resampled`` existed has no such column).

    Raises
    ------
    ValueError
        If the file is empty, a required column (``path``, ``label``) is missing, a label is not
        ``real``/``fake``, a split is not ``train``/``val``/``test``, ``resampled`` is not blank
        or ``added``, a number does not parse,
        or (with ``verify``) a file is missing or changed.
    """
    path = Path(path)
    header, rows = _read_rows(path)
    base = Path(root) if root is not None else path.parent
    names = TARGET_NAMES.tolist()  # plain str, so messages read 'real', not np.str_('real')
    files, target = [], []
    for line, r in enumerate(rows, start=2):
        if r["label"] not in names:
            raise ValueError(f"{path}, line {line}: label {r['label']!r} is not one of {names}.")
        if not r["path"]:
            raise ValueError(f"{path}, line {line}: empty path.")
        p = Path(r["path"])
        files.append(str(p if p.is_absolute() else base / p))
        target.append(names.index(r["label"]))
    data = Bunch(filenames=np.array(files, dtype=object), target=np.array(target, dtype=np.int64),
                 target_names=TARGET_NAMES.copy())

    def parse(col, kind, line_rows):
        out = []
        for line, r in enumerate(line_rows, start=2):
            v = r.get(col, "")
            try:
                out.append(kind(v))
            except ValueError:
                raise ValueError(f"{path}, line {line}: column {col!r} has {v!r}, "
                                 f"which is not a valid {kind.__name__}.") from None
        return out

    def as_int(v):
        return int(v) if v != "" else -1
    as_int.__name__ = "integer"

    def as_float(v):
        return float(v) if v != "" else float("nan")
    as_float.__name__ = "number"

    def as_bool(v):
        if v not in ("", "0", "1", "True", "False", "true", "false"):
            raise ValueError(v)
        return v in ("1", "True", "true")
    as_bool.__name__ = "boolean (0/1)"

    data.source = np.array([r.get("source", "") for r in rows], dtype=object)
    if "split" in header:
        bad = sorted({r["split"] for r in rows} - set(_SPLITS))
        if bad:
            raise ValueError(f"{path}: unknown split value(s) {bad}; use train, val or test.")
        data.split = np.array([r["split"] for r in rows], dtype=object)
    if "resampled" in header:
        bad = sorted({r["resampled"] for r in rows} - set(_RESAMPLED))
        if bad:
            raise ValueError(f"{path}: unknown resampled value(s) {bad}; use added or leave it "
                             "blank.")
        data.resampled = np.array([r["resampled"] for r in rows], dtype=object)
    if "group" in header:
        data.group = np.array(parse("group", as_int, rows), dtype=np.int64)
    if "sha256" in header:
        data.sha256 = np.array([r["sha256"] for r in rows], dtype=object)
    for col, kind, dtype in (("width", as_int, np.int64), ("height", as_int, np.int64),
                             ("bytes", as_int, np.int64), ("jpeg_quality", as_float, np.float64),
                             ("exif", as_bool, bool)):
        if col in header:
            data[col] = np.array(parse(col, kind, rows), dtype=dtype)
    if "format" in header:
        data.format = np.array([r["format"] for r in rows], dtype=object)

    if verify:
        problems = []
        for i, f in enumerate(data.filenames):
            if not os.path.isfile(f):
                problems.append(f"{'a folder, not a file' if os.path.isdir(f) else 'missing'}: "
                                f"{f}")
                continue
            want = data.get("sha256", [""] * len(files))[i]
            if want:
                if file_sha256(f) != want:
                    problems.append(f"changed (sha256 differs): {f}")
        if problems:
            raise ValueError(f"{len(problems)} manifest file(s) fail verification: "
                             + "; ".join(problems[:5]) + (" ..." if len(problems) > 5 else ""))
    if as_frame:
        from ._scan import to_frame

        data.frame = to_frame(data)
    return data
