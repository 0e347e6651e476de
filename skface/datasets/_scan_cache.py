"""What a scan learned about each image file, kept in a folder so that a re-run (after Ctrl-C,
or with more folders) reads only the files it has not seen.

A record is keyed by the file's real path, size, modification and change times (nanoseconds),
inode, the scan's ``max_pixels`` and the Pillow version, so that a file changed in any way, even
rewritten with its old times put back, is read again. Only images the scan accepted are kept:
a file it skipped is read again next time (its reason may have been passing, such as a
permission). Each finished chunk of a scan is written as its own small file, renamed into place
when whole, so an interrupted write leaves nothing half-written and several processes can share
the folder. Once more than 64 such files are there, opening the cache merges them into one and
leaves out the records of files deleted or changed since.
"""

import json
import os
import uuid
import warnings
from pathlib import Path

import PIL

#: Bumped whenever the scan describes the same file differently.
CACHE_VERSION = 1
_SUFFIX = ".jsonl"
_MERGE_AFTER = 64  # record files; more are merged into one when the cache is opened


def _default(value):  # NumPy scalars in the records
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class ScanCache:
    """The records of one cache folder for scans with one ``max_pixels``.

    Parameters
    ----------
    location : str or path
        The cache folder (created when missing); records go to a versioned subfolder.
    max_pixels : int
        The scan's decompression-bomb limit, part of every key.
    """

    def __init__(self, location, max_pixels):
        self.folder = Path(location) / f"skface-scan-v{CACHE_VERSION}"
        self.max_pixels = int(max_pixels)
        self.records = {}
        self.usable = True
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._give_up(exc)
            return
        files = sorted(self.folder.glob(f"*{_SUFFIX}"))
        for path in files:
            self._read(path)
        if len(files) > _MERGE_AFTER:
            self._merge(files)

    def key(self, path):
        """The record key of ``path`` as it is now, or None when it cannot be read."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        return "|".join(map(str, (os.path.realpath(path), st.st_size, st.st_mtime_ns,
                                  st.st_ctime_ns, st.st_ino, self.max_pixels,
                                  PIL.__version__)))

    def get(self, key):
        """The recorded description of the file with ``key``, or None."""
        return None if key is None else self.records.get(key)

    def put(self, pairs):
        """Record ``(key, info)`` pairs (one file, renamed into place when written)."""
        pairs = [(k, info) for k, info in pairs if k is not None and info is not None]
        if not pairs or not self.usable:
            return
        text = "".join(json.dumps([k, info], default=_default) + "\n" for k, info in pairs)
        final = self.folder / f"{uuid.uuid4().hex}{_SUFFIX}"
        tmp = self.folder / f".{final.name}.part"
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, final)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            self._give_up(exc)
            return
        self.records.update(pairs)

    def _read(self, path):
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):  # merged away by another process, or damaged
            return
        for line in lines:
            try:
                key, info = json.loads(line)
            except (ValueError, TypeError):
                continue
            if isinstance(key, str) and isinstance(info, dict):
                self.records[key] = info

    def _current(self, key):
        """Whether a record still describes its file as it is (any ``max_pixels``), for this
        Pillow."""
        now = self.key(key.rsplit("|", 6)[0])  # the path may hold "|" itself
        if now is None:
            return False
        file_now, file_then = now.rsplit("|", 2), key.rsplit("|", 2)
        return file_now[0] == file_then[0] and file_then[2] == PIL.__version__

    def _merge(self, files):
        """Write the records of files as they are now into one file and remove the files read
        (keeps opening fast, and drops the records of files deleted or changed since)."""
        before = dict(self.records)
        self.records = {}
        self.put((k, info) for k, info in before.items() if self._current(k))
        if not self.usable:
            self.records = before
            return
        for path in files:
            try:
                path.unlink()
            except OSError:
                pass

    def _give_up(self, exc):
        self.usable = False
        warnings.warn(f"The scan cache {self.folder} cannot be used ({exc}); scanning without "
                      "it.", UserWarning, stacklevel=4)
