"""Private, temporary home of the image decoding that skface.datasets needs.

The project rule is that images are decoded only in ``skface/preprocessing/_loader.py``. That
module was not on ``main`` when this subpackage was written, so the few decoding steps the data
set tools need (reading the header, checking the whole file decodes, making a small grey
thumbnail for perceptual hashing) live here, in one place, behind :func:`inspect_image` and
:func:`hash_image`. When the loader lands, these two functions should call it instead.
"""

import hashlib
import io
import os
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

#: Default largest accepted image, in pixels (Pillow's own bomb limit).
DEFAULT_MAX_PIXELS = 89_478_485

#: Side of the grey thumbnail the perceptual hash is computed from.
_THUMB = 64
#: Side of the low-frequency DCT block kept by the hash (16 -> 256-bit hash).
_HASH = 16

# Magic numbers of the image formats Pillow reads that we accept ("recognise by content").
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)

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


class SkipImage(Exception):
    """Raised by the inspectors for a file that must be skipped; ``str(exc)`` is the reason."""


def sniff_format(head):
    """Return the image format named by the first bytes of a file, or None."""
    for magic, name in _SIGNATURES:
        if head.startswith(magic):
            return name
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


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
    """Open bytes with Pillow, refuse bombs, and fully decode (at reduced scale for JPEG)."""
    fmt = sniff_format(data[:16])
    if fmt is None:
        raise SkipImage("not an image (content not recognised)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=[fmt])
            width, height = im.size
            if width * height > max_pixels:
                raise SkipImage(
                    f"decompression bomb: {width}x{height} = {width * height} pixels exceeds "
                    f"max_pixels={max_pixels}"
                )
            if width == 0 or height == 0:
                raise SkipImage("image has zero width or height")
            info = {
                "width": int(width),
                "height": int(height),
                "format": im.format or fmt,
                "jpeg_quality": (
                    estimate_jpeg_quality(getattr(im, "quantization", None))
                    if im.format == "JPEG"
                    else float("nan")
                ),
                "exif": bool("exif" in im.info or len(im.getexif()) > 0),
            }
            if im.format == "JPEG":
                # Decoding at 1/8 scale still reads every entropy-coded byte, so truncation
                # and corruption are still caught, at a fraction of the cost.
                im.draft(None, (max(_THUMB, width // 8), max(_THUMB, height // 8)))
            im.load()
        except SkipImage:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise SkipImage(f"decompression bomb: {exc}") from None
        except UnidentifiedImageError:
            raise SkipImage(f"not an image ({fmt} signature but Pillow cannot identify it)") from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
            raise SkipImage(f"corrupt or truncated {fmt}: {exc}") from None
    return im, info


def _phash_from_image(im):
    """256-bit DCT perceptual hash of a decoded PIL image, as 32 uint8 bytes."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # Pillow's convert("L") clips high-bit-depth values at 255; scale them instead.
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        im = Image.fromarray(np.clip(arr / top * 255.0, 0, 255).astype(np.uint8))
    grey = im.convert("L").resize((_THUMB, _THUMB), Image.Resampling.BOX)
    pixels = np.asarray(grey, dtype=np.float64)
    # Only the low-frequency block is needed: two small matrix products instead of a full DCT.
    coeffs = (_DCT @ pixels @ _DCT.T).ravel()
    # Leave the DC term out of the median so the hash ignores overall brightness.
    bits = coeffs > np.median(coeffs[1:])
    return np.packbits(bits)


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
        info["phash"] = _phash_from_image(im).tobytes().hex()
    return info


def hash_image(path, *, max_pixels=DEFAULT_MAX_PIXELS):
    """Return ``(sha256 hex, phash hex)`` of one image file; raises :class:`SkipImage`."""
    data = _read_bytes(path)
    im, _ = _open_checked(data, max_pixels)
    return hashlib.sha256(data).hexdigest(), _phash_from_image(im).tobytes().hex()
