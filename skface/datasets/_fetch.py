"""Downloaders for the public real and AI-generated face sets named in the project brief.

Kaggle sets come through ``kagglehub`` (an optional extra: ``pip install "skface[fetch]"``),
LFW through scikit-learn's downloader, which keeps the JPEG files on disk. Each fetcher knows
where its set keeps the images and returns that folder, ready for :func:`load_faces`.
"""

import hashlib
import os
import shutil
import tarfile
import warnings
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..utils import check_seed
from ..utils._io import file_sha256, temp_dir_beside
from ._scan import IMAGE_SUFFIXES

#: Kaggle slug and the image folder inside the download, per source.
KAGGLE_SOURCES = {
    "ffhq": ("arnaud58/flickrfaceshq-dataset-ffhq", ("",)),
    "tpdne": ("almightyj/person-face-dataset-thispersondoesnotexist",
              ("thispersondoesnotexist.10k",)),
    "all_these_people": ("bwandowando/all-these-people-dont-exist",
                         ("ThisPersonDoesNotExist",)),
    "ai_generated_faces": ("chelove4draste/ai-generated-faces", ("",)),
    "lfw": ("jessicali9530/lfw-dataset", ("lfw-deepfunneled/lfw-deepfunneled",
                                          "lfw-deepfunneled")),
}


def get_data_home(data_home=None):
    """Return the skface data folder, creating it.

    Parameters
    ----------
    data_home : str or path, optional
        Explicit folder. Default: the ``SKFACE_DATA`` environment variable, else
        ``~/skface_data``.

    Returns
    -------
    path : pathlib.Path
    """
    path = data_home_path(data_home)
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_home_path(data_home=None):
    """The folder :func:`get_data_home` gives, without creating it."""
    if data_home is None:  # set but empty is unset (it had made the current folder the cache)
        data_home = os.environ.get("SKFACE_DATA") or os.path.join("~", "skface_data")
    return Path(data_home).expanduser()


def _import_kagglehub():
    try:
        import kagglehub
    except ImportError as exc:
        raise ImportError(
            "Downloading from Kaggle needs the optional 'kagglehub' package: "
            'pip install "skface[fetch]" (or pip install kagglehub), then set up a Kaggle API '
            "token (see the kagglehub documentation)."
        ) from exc
    return kagglehub


@contextmanager
def _env(name, value):
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _local_kaggle_copy(slug, cache):
    """Return the newest complete cached version folder of ``slug`` under ``cache``, or None.

    kagglehub marks a finished download with the file ``<version>.complete`` beside the
    ``versions`` folder; a version without it (an interrupted download) is not used.
    """
    owner, name = slug.split("/")
    base = cache / "datasets" / owner / name / "versions"
    if not base.is_dir():
        return None
    versions = [p for p in base.iterdir() if p.is_dir() and p.name.isdigit()
                and (base.parent / f"{p.name}.complete").is_file() and any(p.iterdir())]
    return max(versions, key=lambda p: int(p.name)) if versions else None


def _kaggle_download(slug, data_home, download_if_missing):
    """Download (or reuse) a Kaggle data set under ``data_home/kaggle``; return its folder."""
    cache = data_home / "kaggle"
    local = _local_kaggle_copy(slug, cache)
    if local is not None:
        return local
    if not download_if_missing:
        raise OSError(f"Kaggle data set {slug} is not in {cache} and download_if_missing=False.")
    kagglehub = _import_kagglehub()
    with _env("KAGGLEHUB_CACHE", str(cache)):
        path = kagglehub.dataset_download(slug)
    path = Path(path)
    if not path.is_dir():
        raise OSError(f"kagglehub returned {path} for {slug}, which is not a folder.")
    return path


def _locate(root, candidates, name):
    """Return the first existing candidate sub-folder of ``root`` (the set's known layout)."""
    for rel in candidates:
        path = root / rel if rel else root
        if path.is_dir() and any(_iter_images(path)):
            return path
    warnings.warn(
        f"The {name} download at {root} does not have the expected layout ({list(candidates)}); "
        "using the whole download folder.", UserWarning, stacklevel=3)
    return root


def _iter_images(folder):
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for f in sorted(filenames):
            if os.path.splitext(f)[1].lower() in IMAGE_SUFFIXES:
                yield os.path.join(dirpath, f)


def place_files(files, root, dest, *, copy=False):
    """Put ``files`` (paths under ``root``) into the empty folder ``dest``, side by side.

    Each file becomes a symbolic link to the original (a copy with ``copy=True``, or where the
    file system allows no links), named after its path under ``root`` with ``/`` written as
    ``__``; when two paths give one name (``a/b.png`` and ``a__b.png``, or names differing only
    in case), the later gets ``-2``, ``-3``, ... before its suffix. So every file gets its own
    entry and nothing is ever written through an existing link into the originals.

    Returns
    -------
    n : int
        The number of files placed.
    """
    dest = Path(dest)
    used = set()
    n = 0
    for src in files:
        src = Path(src)
        base = src.relative_to(root).as_posix().replace("/", "__")
        stem, suffix = os.path.splitext(base)
        name, k = base, 1
        while name.lower() in used:
            k += 1
            name = f"{stem}-{k}{suffix}"
        used.add(name.lower())
        target = dest / name
        if not copy:
            try:
                target.symlink_to(src.resolve())
                n += 1
                continue
            except OSError:
                if os.path.lexists(target):
                    raise
        shutil.copyfile(src, target, follow_symlinks=True)
        shutil.copystat(src, target)
        n += 1
    return n


def _check_subset_arguments(max_images, random_state):
    """Check ``max_images`` and ``random_state`` before anything is downloaded (they were
    checked only once the whole set was there, and ``random_state`` not at all when the
    subset was the whole set)."""
    if max_images is not None and (not isinstance(max_images, (int, np.integer))
                                   or isinstance(max_images, bool) or max_images < 1):
        raise ValueError(f"max_images must be a positive int or None, got {max_images!r}.")
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        check_seed(random_state)  # an int's range; a RandomState is drawn from only once
    elif random_state is not None and not isinstance(random_state, np.random.RandomState):
        raise ValueError(f"random_state must be an int, a numpy RandomState or None; got "
                         f"{random_state!r}.")


def _subset(folder, name, max_images, random_state, data_home):
    """Return a folder with a seeded random subset of ``max_images`` images of ``folder``.

    The subset is a folder of symbolic links (copies where links are not allowed) under
    ``data_home/subsets``; it is built in a temporary folder and renamed when complete, so an
    interrupted build never leaves a half subset behind.
    """
    _check_subset_arguments(max_images, random_state)
    if max_images is None:
        return folder
    files = list(_iter_images(folder))
    if not files:
        raise ValueError(f"No image files under {folder}.")
    if max_images >= len(files):
        return folder
    seed = check_seed(random_state)
    # the download's own path in the name: two downloads of one set (LFW from scikit-learn and
    # from Kaggle) never share a subset
    origin = hashlib.sha1(str(Path(folder).resolve()).encode()).hexdigest()[:8]
    target = data_home / "subsets" / f"{name}-{origin}-n{max_images}-seed{seed}"
    if target.is_dir():
        return target
    rng = np.random.RandomState(seed)
    chosen = sorted(rng.choice(len(files), size=max_images, replace=False))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_beside(target, "tmp")
    try:
        place_files([files[i] for i in chosen], folder, tmp)
        try:
            os.replace(tmp, target)
        except OSError:
            if not target.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another fetch finished the same subset
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _fetch_kaggle(name, *, data_home, max_images, random_state, download_if_missing):
    _check_subset_arguments(max_images, random_state)
    slug, layout = KAGGLE_SOURCES[name]
    home = get_data_home(data_home)
    root = _kaggle_download(slug, home, download_if_missing)
    folder = _locate(root, layout, name)
    return _subset(folder, name, max_images, random_state, home)


_COMMON_DOC = """
    Parameters
    ----------
    data_home : str or path, optional
        Where downloads and subsets are kept. Default: ``$SKFACE_DATA`` or ``~/skface_data``.
    max_images : int, optional
        Take a seeded random subset of this many images (a folder of links under
        ``data_home/subsets``). Default: all images.
    random_state : int, RandomState instance or None, default=0
        Seed of the subset.
    download_if_missing : bool, default=True
        If False, raise OSError instead of downloading when the set is not in ``data_home``.

    Returns
    -------
    folder : pathlib.Path
        The image folder, ready for :func:`load_faces`.
"""


def fetch_ffhq(*, data_home=None, max_images=None, random_state=0, download_if_missing=True):
    return _fetch_kaggle("ffhq", data_home=data_home, max_images=max_images,
                         random_state=random_state, download_if_missing=download_if_missing)


fetch_ffhq.__doc__ = """Fetch real faces from FFHQ (Kaggle ``arnaud58/flickrfaceshq-dataset-ffhq``).

    The Kaggle copy keeps the PNG files (``00000.png`` ...) at the top of the download.
""" + _COMMON_DOC


def fetch_tpdne(*, data_home=None, max_images=None, random_state=0, download_if_missing=True):
    return _fetch_kaggle("tpdne", data_home=data_home, max_images=max_images,
                         random_state=random_state, download_if_missing=download_if_missing)


fetch_tpdne.__doc__ = """Fetch AI faces from This Person Does Not Exist (StyleGAN2).

    Kaggle ``almightyj/person-face-dataset-thispersondoesnotexist``; its 10,000 1024-pixel
    images sit in ``thispersondoesnotexist.10k/``. It overlaps with
    :func:`fetch_all_these_people`: run :func:`find_duplicates` on the union.
""" + _COMMON_DOC


def fetch_all_these_people(*, data_home=None, max_images=None, random_state=0,
                           download_if_missing=True):
    return _fetch_kaggle("all_these_people", data_home=data_home, max_images=max_images,
                         random_state=random_state, download_if_missing=download_if_missing)


fetch_all_these_people.__doc__ = """Fetch AI faces from "All These People Don't Exist".

    Kaggle ``bwandowando/all-these-people-dont-exist``: thispersondoesnotexist.com faces in
    ``ThisPersonDoesNotExist/Female`` and ``ThisPersonDoesNotExist/Male``; the returned folder is
    ``ThisPersonDoesNotExist`` (both sub-folders, one source).
""" + _COMMON_DOC


def fetch_ai_generated_faces(*, data_home=None, max_images=None, random_state=0,
                             download_if_missing=True):
    return _fetch_kaggle("ai_generated_faces", data_home=data_home, max_images=max_images,
                         random_state=random_state, download_if_missing=download_if_missing)


fetch_ai_generated_faces.__doc__ = """\
Fetch Kaggle's "AI-Generated Faces" (``chelove4draste/ai-generated-faces``).

    The whole download folder is returned (scanned recursively by :func:`load_faces`).
""" + _COMMON_DOC


def fetch_lfw(*, data_home=None, max_images=None, random_state=0, download_if_missing=True,
              backend="sklearn"):
    home = get_data_home(data_home)
    if backend == "kaggle":
        return _fetch_kaggle("lfw", data_home=data_home, max_images=max_images,
                             random_state=random_state, download_if_missing=download_if_missing)
    if backend != "sklearn":
        raise ValueError(f"backend must be 'sklearn' or 'kaggle', got {backend!r}.")
    _check_subset_arguments(max_images, random_state)
    from sklearn.datasets import _lfw

    lfw_home = home / "sklearn" / "lfw_home"
    partial = lfw_home / "lfw_funneled"
    if partial.is_dir() and (lfw_home / _lfw.FUNNELED_ARCHIVE.filename).is_file():
        # scikit-learn deletes the archive once it is unpacked: both there means the unpacking
        # was cut short, and scikit-learn would take the part unpacked as the whole set
        warnings.warn(f"{partial} was only partly unpacked (the archive is still beside it); "
                      "unpacking it again.", UserWarning, stacklevel=2)
        shutil.rmtree(partial)
    archive = lfw_home / _lfw.FUNNELED_ARCHIVE.filename
    if archive.is_file() and file_sha256(archive) != _lfw.FUNNELED_ARCHIVE.checksum:
        # scikit-learn unpacks an archive it finds without checking it: a truncated one
        # failed on every later run
        warnings.warn(f"{archive} does not match LFW's checksum (cut short, or another file); "
                      "deleting it, so that it is downloaded again.", UserWarning, stacklevel=2)
        archive.unlink()
    try:
        _, folder = _lfw._check_fetch_lfw(data_home=str(home / "sklearn"), funneled=True,
                                          download_if_missing=download_if_missing)
    except (EOFError, tarfile.TarError, zlib.error) as exc:
        raise OSError(f"LFW's archive {archive} could not be unpacked ({type(exc).__name__}: "
                      f"{exc}); delete it and fetch again.") from exc
    except OSError as exc:  # the archive's own checksum (not that of a metadata file)
        if "checksum" not in str(exc).lower() or archive.name not in str(exc):
            raise
        raise OSError(f"{exc}. The file downloaded from {_lfw.FUNNELED_ARCHIVE.url} is not "
                      "LFW's archive: a proxy or login page may have answered instead.") from exc
    folder = Path(folder)
    if not folder.is_dir():
        raise OSError(f"scikit-learn's LFW download did not produce {folder}.")
    return _subset(folder, "lfw", max_images, random_state, home)


fetch_lfw.__doc__ = """Fetch real faces from LFW (Labeled Faces in the Wild, 250x250 JPEG).

    With ``backend="sklearn"`` scikit-learn's downloader fetches the funnelled archive into
    ``data_home/sklearn/lfw_home`` and keeps the JPEG files (``lfw_funneled/<Person>/*.jpg``);
    ``backend="kaggle"`` uses ``jessicali9530/lfw-dataset`` (``lfw-deepfunneled/``).
""" + _COMMON_DOC.replace(
    "        If False, raise OSError instead of downloading when the set is not in "
    "``data_home``.\n",
    """\
        If False, raise OSError instead of downloading when the set is not in ``data_home``.
    backend : {"sklearn", "kaggle"}, default="sklearn"
        Where to download from.
""")
