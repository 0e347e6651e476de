"""Scan folders of real and AI-generated face images into a scikit-learn ``Bunch``."""

import os
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch
from tqdm.auto import tqdm

from ..preprocessing._loader import check_max_pixels
from ..utils._io import path_within
from ..utils._parallel import as_completed
from ._decode import DEFAULT_MAX_PIXELS, SkipImage, inspect_image
from ._scan_cache import ScanCache

#: Names of the two classes, in target order (0 = real, 1 = fake).
TARGET_NAMES = np.array(["real", "fake"])

#: Per-image metadata columns returned by :func:`load_faces`.
METADATA_COLUMNS = ("width", "height", "format", "bytes", "jpeg_quality", "exif", "sha256", "phash",
                    "phash_mirror")

# Suffixes that announce an image; files with these suffixes that are not images are reported.
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"}
)


class SkippedFilesWarning(UserWarning):
    """Warned when a scan passed over files (corrupt, not images, unreadable, ...)."""


class EmptySourceWarning(UserWarning):
    """Warned when a folder given to a scan yields no usable image while its class has some."""


def _folder_name(folder):
    return os.path.basename(os.path.abspath(folder))


def check_no_overlap(real, fake):
    """Refuse a real folder inside a fake one (or the reverse): its files would get two labels."""
    for r in real:
        for f in fake:
            if path_within(r, f) or path_within(f, r):
                raise ValueError(f"The real folder {r} and the fake folder {f} overlap; their "
                                 "images would get both labels.")


def given_twice(folder, given, role):
    """The message for ``folder`` given a second time, or ``""`` after recording it.

    ``given`` maps the real path of each folder met so far to the folder as given; two items
    are one folder when their real paths are equal (the same folder, or a link to it).
    """
    real_path = os.path.realpath(folder)
    if real_path not in given:
        given[real_path] = folder
        return ""
    again = given[real_path]
    return (f"The {role} folder {folder} is given twice"
            + ("." if str(again) == str(folder) else f" (also as {again})."))


def _as_folder(value, role, kinds):
    """``value`` as a Path, or an error naming it: not a path, or an empty one (which Path
    would read as the working folder)."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"`{role}` must be {kinds}; got the {type(value).__name__} {value!r} "
                        "where a folder was expected.")
    if not os.fspath(value):
        raise ValueError(f"`{role}` holds an empty folder name; give the folder's path (\".\" "
                         "for the working folder).")
    return Path(value)


def _normalise_sources(spec, role, source_from):
    """Turn ``real``/``fake`` into a list of ``(source_name, folder, recursive)``.

    With ``source_from="subfolder"`` the files lying directly in a folder with sub-folders are
    a source of their own, read without recursing (the sub-folders are sources already).
    """
    if spec is None:
        raise ValueError(f"`{role}` is required: give a folder, a list of folders or a mapping.")
    kinds = "a folder (str or Path), a list of folders or a mapping {source_name: folder}"
    if isinstance(spec, Mapping):
        items = [(str(k), _as_folder(v, role, kinds)) for k, v in spec.items()]
    elif isinstance(spec, (str, os.PathLike)):
        items = [(None, _as_folder(spec, role, kinds))]
    elif isinstance(spec, Iterable) and not isinstance(spec, (bytes, bytearray)):
        items = [(None, _as_folder(p, role, kinds)) for p in spec]
    else:
        raise TypeError(f"`{role}` must be {kinds}; got {type(spec).__name__} {spec!r}.")
    if not items:
        raise ValueError(f"`{role}` is empty: give at least one folder.")
    out = []
    given = {}  # real path -> the folder as given first
    for name, folder in items:
        if not folder.exists():
            raise ValueError(f"{role} folder does not exist: {folder}")
        if not folder.is_dir():
            raise ValueError(f"{role} path is not a folder: {folder}")
        twice = given_twice(folder, given, role)
        if twice:
            raise ValueError(twice)
        if source_from == "subfolder" and name is None:
            subs = sorted(p for p in folder.iterdir() if p.is_dir())
            loose = [p for p in folder.iterdir() if not p.is_dir()]
            out.extend((p.name, p, True) for p in subs)
            if loose or not subs:
                out.append((_folder_name(folder), folder, not subs))
        else:
            out.append((name if name is not None else _folder_name(folder), folder, True))
    names = [n for n, _, _ in out]
    dup = [n for n, c in Counter(names).items() if c > 1]
    if dup:
        raise ValueError(
            f"Two {role} folders share the source name(s) {dup}; pass a mapping "
            "{source_name: folder} to name them apart."
        )
    return out


def iter_files(folder, skipped, *, recursive=True, seen_files=None):
    """Yield every regular file under ``folder`` (recursive, sorted, symlink-loop safe).

    Directories reached twice (a symlink loop or two links to one folder) are entered once; broken
    links and unreadable folders are appended to ``skipped`` as ``(path, reason)``. With
    ``recursive=False`` only the files directly in ``folder`` are yielded. With a dict
    ``seen_files`` (real path -> path as found; share it between calls to cover several
    folders), a file reached again through another path or link is appended to ``skipped``
    instead of yielded.
    """
    seen = set()

    def onerror(exc):
        skipped.append((str(getattr(exc, "filename", folder)), f"unreadable folder: {exc}"))

    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True, onerror=onerror):
        try:
            st = os.stat(dirpath)
        except OSError as exc:
            skipped.append((dirpath, f"unreadable folder: {exc}"))
            dirnames[:] = []
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            skipped.append((dirpath, "folder already scanned (symlink loop or repeated link)"))
            dirnames[:] = []
            continue
        seen.add(key)
        if not recursive:
            dirnames[:] = []
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if os.path.islink(path) and not os.path.exists(path):
                skipped.append((path, "broken symbolic link"))
                continue
            if not os.path.isfile(path):
                skipped.append((path, "not a regular file"))
                continue
            if seen_files is not None:
                real = os.path.realpath(path)
                if real in seen_files:
                    skipped.append((path, f"same file already scanned: as {seen_files[real]}"))
                    continue
                seen_files[real] = path
            yield path


def _inspect_chunk(paths, max_pixels):
    out = []
    for path in paths:
        try:
            out.append((path, inspect_image(path, max_pixels=max_pixels), None))
        except SkipImage as exc:
            out.append((path, None, str(exc)))
        except Exception as exc:  # noqa: BLE001 -- one odd file must never stop a scan
            out.append((path, None, f"unexpected error: {exc.__class__.__name__}: {exc}"))
    return out


def inspect_files(paths, *, max_pixels=DEFAULT_MAX_PIXELS, n_jobs=None, progress=True,
                  desc="Scanning images", cache=None):
    """Inspect many files in parallel; return a list of ``(path, info or None, reason or None)``.

    Results keep the order of ``paths``. With ``cache`` (a folder, see
    :class:`~skface.datasets._scan_cache.ScanCache`), files described there are not read
    again, and each finished chunk is recorded as it finishes.
    """
    paths = list(paths)
    if not paths:
        return []
    if cache is None:
        return run_chunked(_inspect_chunk, paths, (max_pixels,), n_jobs=n_jobs,
                           progress=progress, desc=desc)
    store = ScanCache(cache, max_pixels)
    keys = {p: store.key(p) for p in paths}
    known = {p: store.get(keys[p]) for p in paths}
    todo = [p for p in paths if known[p] is None]

    def record(part):
        store.put((keys[path], info) for path, info, _ in part)

    found = {path: (path, info, reason) for path, info, reason in
             run_chunked(_inspect_chunk, todo, (max_pixels,), n_jobs=n_jobs,
                         progress=progress, desc=desc, on_part=record)}
    return [(p, known[p], None) if known[p] is not None else found[p] for p in paths]


#: Reason given to files not reached because the user pressed Ctrl-C.
INTERRUPTED = "not scanned: interrupted by the user (Ctrl-C)"


def run_chunked(worker, paths, args, *, n_jobs=None, progress=True, desc="", chunk=64,
                on_part=None):
    """Run ``worker(chunk_of_paths, *args)`` over ``paths`` in parallel; results in path order.

    Each worker returns one ``(path, info, reason)`` triple per path. On Ctrl-C every chunk
    that finished is kept (in whatever order the chunks finished) and every path not reached
    gets ``(path, None, INTERRUPTED)``, so callers report them as skipped, or stop (see
    :func:`stop_if_interrupted`), instead of losing the finished part. ``on_part`` is called
    with each chunk's results as it finishes (to store them).
    """
    chunks = [paths[i:i + chunk] for i in range(0, len(paths), chunk)]
    done = {}
    with tqdm(total=len(paths), desc=desc, unit="img", disable=not progress) as bar:
        gen = as_completed(worker, [(c, *args) for c in chunks], n_jobs=n_jobs)
        try:
            for k, part in gen:
                done[k] = part
                if on_part is not None:
                    on_part(part)
                bar.update(len(part))
        except KeyboardInterrupt:
            gen.close()
    results = []
    for k, c in enumerate(chunks):
        results.extend(done[k] if k in done else ((p, None, INTERRUPTED) for p in c))
    n_done = sum(len(part) for part in done.values())
    if n_done < len(paths):  # after the bar is closed, which the warning would run into
        warnings.warn(f"Interrupted (Ctrl-C) after {n_done} of {len(paths)} files were read.",
                      SkippedFilesWarning, stacklevel=3)
    return results


def stop_if_interrupted(reasons, what):
    """Raise ``KeyboardInterrupt`` when Ctrl-C cut :func:`run_chunked` short (some reason is
    :data:`INTERRUPTED`): for work whose result means nothing on part of the files (duplicate
    groups, an audit, a data set), so that the files not reached are not passed off as
    unreadable ones."""
    missed = sum(r == INTERRUPTED for r in reasons)
    if missed:
        raise KeyboardInterrupt(f"{what} was interrupted (Ctrl-C) with {missed} file(s) not "
                                "reached")


def _skipped_bunch(records):
    paths = [p for p, _ in records]
    reasons = [r for _, r in records]
    counts = Counter(r.split(":")[0] for r in reasons)
    return Bunch(filenames=np.array(paths, dtype=object), reasons=np.array(reasons, dtype=object),
                 counts=dict(counts), n=len(paths),
                 interrupted=any(r == INTERRUPTED for r in reasons))


def warn_skipped(skipped, what="scan"):
    """Warn once with the number of skipped files and the reasons."""
    if skipped.n:
        summary = ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.counts.items()))
        warnings.warn(
            f"The {what} skipped {skipped.n} file(s): {summary}. See the `skipped` field "
            "for each path and its reason.",
            SkippedFilesWarning,
            stacklevel=3,
        )


def load_faces(real, fake, *, source_from="folder", as_frame=False, max_pixels=DEFAULT_MAX_PIXELS,
               n_jobs=None, progress=True, cache=None):
    """Scan folders of real and AI-generated face images.

    Folders are searched recursively (symbolic links followed, loops entered once). Files are
    recognised as images by their content, not their suffix, and every image is decoded once to
    make sure it is whole. Files that cannot be used are listed in ``skipped`` with a reason and
    a :class:`SkippedFilesWarning` is issued; nothing is dropped silently. Pressing Ctrl-C
    during the scan keeps the images already checked and reports the rest as skipped
    (``"not scanned: interrupted ..."``). A file reached twice under one label (through a
    link or two overlapping folders) is scanned once and the second path is skipped; a file
    reached under both labels is returned under each, as a copy would be, and
    :func:`build_dataset` drops both as a label conflict.

    Parameters
    ----------
    real, fake : str, path, list of paths or dict
        Folders of real (label 0) and AI-generated (label 1) faces. A single folder or a list of
        folders names each source after its folder; a mapping ``{source_name: folder}`` names
        them explicitly.
    source_from : {"folder", "subfolder"}, default="folder"
        With ``"subfolder"``, each immediate sub-folder of an unnamed folder is its own source
        (handy for a ``real/<source>/`` layout); files lying directly in the folder take the
        folder's name.
    as_frame : bool, default=False
        Also return a pandas ``DataFrame`` in ``frame`` (needs pandas).
    max_pixels : int, default=89_478_485
        Images with more pixels are skipped as decompression bombs.
    n_jobs : int, default=None
        Parallel workers (joblib semantics).
    progress : bool, default=True
        Show a tqdm progress bar.
    cache : str or path, default=None
        A folder that keeps what the scan learned about each image (created when missing).
        A later scan, after Ctrl-C or with more folders, reads only the files not described
        there, or changed since; None scans every file.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``filenames`` (object array of str), ``target`` (0 = real, 1 = fake), ``target_names``
        (``["real", "fake"]``), ``source`` (one name per file), per-image metadata ``width``,
        ``height``, ``format``, ``bytes``, ``jpeg_quality`` (estimated IJG quality, NaN when not
        JPEG), ``exif`` (bool), ``sha256``, ``phash`` (256-bit perceptual hash as hex),
        ``phash_mirror`` (the same of the image flipped left-right), ``skipped`` (a Bunch with
        ``filenames``, ``reasons``, ``counts``, ``n`` and ``interrupted``, True when Ctrl-C
        cut the scan short), ``empty_folders`` (the folders that gave no usable image, each
        also warned about with an :class:`EmptySourceWarning`) and, with ``as_frame=True``,
        ``frame``.

    Raises
    ------
    ValueError
        If a folder is missing, a class has no usable image, or nothing was found at all.
    KeyboardInterrupt
        If Ctrl-C came before any image of a class was checked.
    """
    check_max_pixels(max_pixels)  # a bad value reported every file as corrupt
    if source_from not in ("folder", "subfolder"):
        raise ValueError(f"source_from must be 'folder' or 'subfolder', got {source_from!r}.")
    specs = [(label, name, folder, recursive)
             for label, role, spec in ((0, "real", real), (1, "fake", fake))
             for name, folder, recursive in _normalise_sources(spec, role, source_from)]

    check_no_overlap([f for label, _, f, _ in specs if label == 0],
                     [f for label, _, f, _ in specs if label == 1])
    # a name both classes take from their folders (real/ffhq/images and fake/tpdne/images)
    # made one source with both labels, which leave-one-source-out then held out as one
    named = {str(k) for spec in (real, fake) if isinstance(spec, Mapping) for k in spec}
    both = sorted({n for lab, n, _, _ in specs if lab == 0}
                  & {n for lab, n, _, _ in specs if lab == 1} - named)
    if both:
        folders = {(lab, n): f for lab, n, f, _ in specs}
        raise ValueError(
            f"A real and a fake folder take the source name {both[0]!r} ({folders[0, both[0]]} "
            f"and {folders[1, both[0]]}), which would make one source with both labels; pass "
            "mappings {source_name: folder} to name them apart.")

    skipped_records = []
    candidates = []  # (path, label, source)
    # One record of files seen per label: a file reached twice under one label is scanned once,
    # but one reached under both (a link from a real folder into a fake one) is kept under each,
    # like a copy, so that build_dataset drops it as a label conflict instead of it taking the
    # label of whichever folder was scanned first.
    seen_files = {0: {}, 1: {}}
    for label, name, folder, recursive in specs:
        for path in iter_files(folder, skipped_records, recursive=recursive,
                               seen_files=seen_files[label]):
            candidates.append((path, label, name))
    if not candidates:
        raise ValueError(
            "No files found under the given folders: "
            + ", ".join(str(f) for _, _, f, _ in specs)
        )

    results = inspect_files([c[0] for c in candidates], max_pixels=max_pixels, n_jobs=n_jobs,
                            progress=progress, cache=cache)
    keep = []
    for (path, label, name), (_, info, reason) in zip(candidates, results):
        if info is None:
            suffix = os.path.splitext(path)[1].lower()
            if reason.startswith("not an image") and suffix not in IMAGE_SUFFIXES:
                reason = f"not an image file ({suffix or 'no suffix'}, ignored)"
            skipped_records.append((path, reason))
        else:
            keep.append((path, label, name, info))

    skipped = _skipped_bunch(skipped_records)
    warn_skipped(skipped, "image scan")
    for label, role in ((0, "real"), (1, "fake")):
        if not any(k[1] == label for k in keep):
            # Ctrl-C came before any image of the class was checked
            stop_if_interrupted(skipped.reasons, "the folder scan")
            raise ValueError(
                f"No usable {role} image was found ({skipped.n} file(s) skipped). "
                "Both classes need at least one image."
            )

    data = Bunch(
        filenames=np.array([k[0] for k in keep], dtype=object),
        target=np.array([k[1] for k in keep], dtype=np.int64),
        target_names=TARGET_NAMES.copy(),
        source=np.array([k[2] for k in keep], dtype=object),
        skipped=skipped,
        empty_folders=_warn_empty_sources(specs, skipped.filenames, keep),
    )
    _attach_metadata(data, [k[3] for k in keep])
    data.DESCR = (
        f"{len(keep)} face images ({int((data.target == 0).sum())} real, "
        f"{int((data.target == 1).sum())} fake) from {len(set(data.source))} sources; "
        f"{skipped.n} file(s) skipped."
    )
    if as_frame:
        data.frame = to_frame(data)
    return data


def _warn_empty_sources(specs, skipped, keep):
    """Warn (:class:`EmptySourceWarning`) for each folder that gave no usable image; return
    those folders as str. ``skipped`` holds the paths skipped anywhere in the scan."""
    kept = Counter((k[1], k[2]) for k in keep)
    empty = []
    for label, name, folder, recursive in specs:
        if kept[(label, name)]:
            continue
        top = str(folder)
        n = sum(1 for p in skipped if (p.startswith(top + os.sep) if recursive
                                       else os.path.dirname(p) == top))
        detail = (f"all {n} file(s) found in it were skipped (see `skipped`)" if n
                  else "it holds no file")
        warnings.warn(f"The {TARGET_NAMES[label]} folder {folder} (source {name!r}) gave no "
                      f"image: {detail}.", EmptySourceWarning, stacklevel=3)
        empty.append(str(folder))
    return np.array(empty, dtype=object)


def _attach_metadata(data, infos):
    data.width = np.array([i["width"] for i in infos], dtype=np.int64)
    data.height = np.array([i["height"] for i in infos], dtype=np.int64)
    data.format = np.array([i["format"] for i in infos], dtype=object)
    data.bytes = np.array([i["bytes"] for i in infos], dtype=np.int64)
    data.jpeg_quality = np.array([i["jpeg_quality"] for i in infos], dtype=np.float64)
    data.exif = np.array([i["exif"] for i in infos], dtype=bool)
    data.sha256 = np.array([i["sha256"] for i in infos], dtype=object)
    data.phash = np.array([i.get("phash", "") for i in infos], dtype=object)
    data.phash_mirror = np.array([i.get("phash_mirror", "") for i in infos], dtype=object)


def to_frame(data):
    """Return a pandas DataFrame with one row per image of a :func:`load_faces` Bunch."""
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas is a test dependency
        raise ImportError("as_frame=True needs pandas: pip install pandas") from exc
    cols = {"filename": data.filenames, "target": data.target,
            "label": np.asarray(data.target_names)[data.target], "source": data.source}
    for extra in ("group", "split", "resampled"):
        if extra in data:
            cols[extra] = data[extra]
    for col in METADATA_COLUMNS:
        if col in data:
            cols[col] = data[col]
    return pd.DataFrame(cols)
