"""What skface.datasets learns from one image file: checks, metadata and hashes.

Decoding itself happens only in ``skface/preprocessing/_loader.py``: this module reads the bytes
(for the sha256 and so that the file is read once), recognises the format by content with
:func:`~skface.preprocessing._loader.sniff_format`, and lets
:func:`~skface.preprocessing._loader.open_image` check that the whole file decodes (JPEGs at
reduced scale) and give the header and a grey image. What stays here is arithmetic on what the
loader returns: the JPEG quality estimate from the quantisation tables and the perceptual hash
(a DCT of a grey thumbnail), and the translation of loader errors into skip reasons.
"""

import hashlib
import io
import os

import numpy as np

from ..preprocessing._loader import ImageLoadError, open_image, sniff_format

#: Default largest accepted image, in pixels (Pillow's own bomb limit).
DEFAULT_MAX_PIXELS = 89_478_485

#: Side of the grey thumbnail the perceptual hash is computed from.
_THUMB = 64
#: Side of the low-frequency DCT block kept by the hash (16 -> 256-bit hash).
_HASH = 16

# IJG standard luminance quantisation table (natural order), used to estimate JPEG quality.
_STD_LUMA = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
     14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
     18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    dtype=np.float64,
)
_ZIGZAG = np.array(
    [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34,
     27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37,
     44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63]
)


def _scaled_tables():
    q = np.arange(1, 101, dtype=np.float64)
    scale = np.where(q < 50, 5000.0 / q, 200.0 - 2.0 * q)
    tables = np.floor((_STD_LUMA[None, :] * scale[:, None] + 50.0) / 100.0)
    return np.clip(tables, 1, 255)


_QUALITY_TABLES = _scaled_tables()


def _dct_matrix(n_out, n_in):
    """Rows of the orthonormal DCT-II basis: ``M @ x`` gives the first ``n_out`` coefficients."""
    k = np.arange(n_out)[:, None]
    i = np.arange(n_in)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n_in)) * np.sqrt(2.0 / n_in)
    m[0] /= np.sqrt(2.0)
    return m


_DCT = _dct_matrix(_HASH, _THUMB)
# flipping an image left-right multiplies its DCT coefficient of horizontal frequency v by (-1)**v
_MIRROR_SIGNS = (-1.0) ** np.arange(_HASH)[None, :]
# PIL.Image.Resampling.BOX, an IntEnum, given by value so that only the loader imports Pillow.
_BOX = 4


class SkipImage(Exception):
    """Raised by the inspectors for a file that must be skipped; ``str(exc)`` is the reason."""


def estimate_jpeg_quality(quantization):
    """Estimate the IJG quality (1-100) from a JPEG's luminance quantisation table.

    Returns NaN when the table is missing or has the wrong size.
    """
    if not quantization or 0 not in quantization:
        return float("nan")
    table = np.asarray(quantization[0], dtype=np.float64)
    if table.size != 64:
        return float("nan")
    # Pillow gives natural order; compare against the zigzag order too, to be safe.
    err = np.minimum(
        np.abs(_QUALITY_TABLES - table[None, :]).sum(axis=1),
        np.abs(_QUALITY_TABLES[:, _ZIGZAG] - table[None, :]).sum(axis=1),
    )
    return float(np.argmin(err) + 1)


def _read_bytes(path):
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise SkipImage(f"unreadable: {exc.__class__.__name__}: {exc}") from None
    if size == 0:
        raise SkipImage("empty file (0 bytes)")
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise SkipImage(f"unreadable: {exc.__class__.__name__}: {exc}") from None


def _open_checked(data, max_pixels):
    """Decode bytes with the loader (whole file, JPEG at reduced scale) into a grey image.

    Returns ``(grey PIL image, info dict)``; raises :class:`SkipImage` with the reason.
    """
    fmt = sniff_format(data[:16])
    if fmt is None:
        raise SkipImage("not an image (content not recognised)")
    try:
        # A 64 px draft request gives the largest JPEG DCT scale-down (up to 1/8) that still
        # leaves the hash thumbnail at least 64 px; every entropy-coded byte is still read, so
        # truncation and corruption are caught at a fraction of the cost.
        grey, head = open_image(io.BytesIO(data), color="gray", draft_size=(_THUMB, _THUMB),
                                max_pixels=max_pixels, formats=[fmt], with_header=True)
    except ImageLoadError as err:
        raise SkipImage(_skip_reason(err, fmt)) from None
    info = {
        "width": int(head["width"]),
        "height": int(head["height"]),
        "format": head["format"] or fmt,
        "jpeg_quality": (
            estimate_jpeg_quality(head["quantization"])
            if head["quantization"]  # JPEG, and JPEG with a Multi-Picture extension ("MPO")
            else float("nan")
        ),
        "exif": bool(head["has_exif"]),
    }
    return grey, info


def _skip_reason(err, fmt):
    """Turn a loader error into a skip reason whose first words (before ':') name the kind."""
    detail = err.__cause__ if err.__cause__ is not None else err.reason
    if err.kind == "bomb":
        return err.reason if err.__cause__ is None else f"decompression bomb: {detail}"
    if err.kind == "unrecognised":
        # the file starts like a {fmt} (sniffed above) but its header does not parse, which the
        # loader's reason says (Pillow versions differ in how far a cut header gets)
        return err.reason
    return f"corrupt or truncated {fmt}: {detail}"


def _phash_from_image(grey):
    """256-bit DCT perceptual hashes of a grey (mode ``L``) PIL image and of its mirror image,
    each as 32 uint8 bytes: ``(hash, mirror_hash)``.

    ``grey`` comes from :func:`~skface.preprocessing._loader.open_image`, so EXIF orientation is
    applied, transparency is composited on white and 16-bit data is scaled, not clipped. The
    mirror image's coefficients are this image's with the odd horizontal frequencies negated
    (the DCT basis is even or odd about the centre), so it costs no second transform; a
    left-right flipped copy of a picture then matches it (its plain hash is as far from the
    original's as an unrelated picture's).
    """
    thumb = grey.resize((_THUMB, _THUMB), _BOX)
    pixels = np.asarray(thumb, dtype=np.float64)
    # Only the low-frequency block is needed: two small matrix products instead of a full DCT.
    coeffs = _DCT @ pixels @ _DCT.T  # [vertical frequency, horizontal frequency]
    hashes = []
    for grid in (coeffs, coeffs * _MIRROR_SIGNS):
        flat = grid.ravel()
        # Leave the DC term out of the median so the hash ignores overall brightness.
        hashes.append(np.packbits(flat > np.median(flat[1:])))
    return tuple(hashes)


def inspect_image(path, *, max_pixels=DEFAULT_MAX_PIXELS, with_hash=True):
    """Read, check and describe one image file.

    Returns a dict with ``width``, ``height``, ``format``, ``bytes``, ``jpeg_quality``,
    ``exif``, ``sha256`` and (with ``with_hash``) ``phash`` (64 hex digits). Raises
    :class:`SkipImage` with a readable reason for anything that is not a whole, sane image.
    """
    data = _read_bytes(path)
    im, info = _open_checked(data, max_pixels)
    info["bytes"] = len(data)
    info["sha256"] = hashlib.sha256(data).hexdigest()
    if with_hash:
        plain, mirror = _phash_from_image(im)
        info["phash"], info["phash_mirror"] = plain.tobytes().hex(), mirror.tobytes().hex()
    return info


def hash_image(path, *, max_pixels=DEFAULT_MAX_PIXELS):
    """Return ``(sha256 hex, phash hex, phash of the mirror image hex)`` of one image file;
    raises :class:`SkipImage`."""
    data = _read_bytes(path)
    im, _ = _open_checked(data, max_pixels)
    plain, mirror = _phash_from_image(im)
    return hashlib.sha256(data).hexdigest(), plain.tobytes().hex(), mirror.tobytes().hex()
