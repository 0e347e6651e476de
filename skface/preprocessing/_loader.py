"""Decode image files into arrays: the one place in skface that reads image files.

Everything else in skface that needs pixels from a file (the data-set scan, the duplicate finder,
report grids) imports :func:`open_image` or :func:`load_image` from here instead of calling Pillow.
The JPEG re-encoding helper :func:`jpeg_roundtrip` (used by :class:`FormatNormalizer` and
:class:`Augmenter`) lives here for the same reason.
"""

import hashlib
import io
import json
import math
import os
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from joblib import effective_n_jobs
from PIL import Image, ImageCms, JpegImagePlugin
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_memory

from ..utils._labels import one_label_per_sample
from ..utils._parallel import as_completed
from ..utils._validation import is_whole_number
from ._common import ImageOutputMixin

__all__ = [
    "BACKGROUND",
    "ImageLoadError",
    "ImageLoader",
    "image_header",
    "jpeg_roundtrip",
    "load_image",
    "load_images",
    "open_image",
]

#: Colour that transparent pixels are composited on (opaque white, as image viewers show them).
BACKGROUND = (255, 255, 255)

_ORIENTATION_TAG = 0x0112
_EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_INT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
# Bumped whenever the decoded pixels for the same parameters change, so old caches are not reused.
_CACHE_FORMAT = 3  # 3: MPO JPEGs drafted as JPEG, PNG transparency keys rescaled
_KEY_BYTES = 16

# Magic numbers of the formats skface recognises by content (Pillow format names).
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),  # BigTIFF
    (b"MM\x00+", "TIFF"),
)


class ImageLoadError(ValueError):
    """An image file could not be read or decoded.

    Attributes
    ----------
    path : str
        The offending file.
    reason : str
        What went wrong, in words.
    kind : str
        The kind of failure, for callers that sort failures: ``"missing"`` (no such file),
        ``"unreadable"`` (the file cannot be read, e.g. no permission), ``"empty"`` (0 bytes),
        ``"unrecognised"`` (Pillow cannot identify the file: not an image format, or one whose
        header is cut short or broken, which the reason then says), ``"bomb"`` (too many
        pixels), ``"corrupt"`` (truncated or broken data, unsupported mode) or ``"resize"``.
        The original exception, when there is one, is the ``__cause__``.
    """

    def __init__(self, path, reason, kind="corrupt"):
        self.path = str(path)
        self.reason = str(reason)
        self.kind = str(kind)
        super().__init__(f"Cannot load image {self.path!r}: {self.reason}")

    def __reduce__(self):  # keep the arguments when pickled across processes
        return (type(self), (self.path, self.reason, self.kind))


# --------------------------------------------------------------------------------------------
# Single images
# --------------------------------------------------------------------------------------------


def _check_size(size):
    if isinstance(size, Integral) and not isinstance(size, bool):
        if size <= 0:
            raise ValueError(f"size must be positive, got {size!r}.")
        return int(size), int(size)
    if isinstance(size, (tuple, list)) and len(size) == 2:
        if all(isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in size):
            return int(size[0]), int(size[1])
    raise ValueError(f"size must be a positive int or a (height, width) pair, got {size!r}.")


def _is_jpeg(img):
    """JPEG, including JPEGs with a Multi-Picture extension (Pillow's "MPO": phone photos)."""
    return isinstance(img, JpegImagePlugin.JpegImageFile)


_EXIF_IFD_TAG = 0x8769  # the pointer to a TIFF's EXIF block


def _exif(img):
    """``img.getexif()``, or an empty one where reading it would decode pixels or fails."""
    if img.format == "PNG" and "exif" not in img.info and getattr(img, "tile", None):
        # Pillow decodes a PNG not yet loaded to look for an EXIF chunk after the pixels; a
        # decoding error there was swallowed and the later load kept half-decoded pixels
        return Image.Exif()
    try:
        return img.getexif()
    except Exception:  # a broken EXIF block must not make an otherwise good image unreadable
        return Image.Exif()


def _orientation(img, exif=None):
    """The EXIF orientation (1 when absent or unknown); ``exif``: ``_exif(img)``, if read."""
    # JPEG keeps its orientation in info["exif"] or info["xmp"]; skipping getexif() when both
    # are absent saves time
    if exif is None and _is_jpeg(img) and "exif" not in img.info and "xmp" not in img.info:
        return 1
    value = (_exif(img) if exif is None else exif).get(_ORIENTATION_TAG, 1)
    return value if value in _EXIF_TRANSPOSE else 1


def _exif_fields(img):
    """The header's ``orientation`` and ``has_exif``, from one read of the EXIF."""
    exif = _exif(img)
    if "exif" in img.info:
        has_exif = True
    elif img.format == "TIFF":  # a TIFF's own tags are its structure, not EXIF
        has_exif = _EXIF_IFD_TAG in exif
    else:
        has_exif = len(exif) > 0
    return {"orientation": _orientation(img, exif), "has_exif": bool(has_exif)}


def _png_rawmode(img):
    """How a PNG not yet loaded stores its samples (``"L;4"``, ``"RGB;16B"``, ...), or None."""
    if img.format != "PNG" or not getattr(img, "tile", None):
        return None
    args = img.tile[0][3]
    return args if isinstance(args, str) else None


def _rescale_png_key(img, rawmode):
    """Give a loaded PNG's transparency key the scale of its 8-bit pixels.

    Pillow scales 2- and 4-bit grey samples to 0-255 and keeps the high byte of 16-bit RGB
    samples, but leaves the key in the file's units, so that it matched other pixels or none.
    A 16-bit RGB key is matched on the high bytes too: colours within 1/256 of it count as
    transparent (the low bytes are gone by then).
    """
    key = img.info.get("transparency")
    if rawmode in ("L;2", "L;4") and isinstance(key, int):
        img.info["transparency"] = key * (255 // (2 ** int(rawmode[-1]) - 1))
    elif rawmode == "RGB;16B" and isinstance(key, tuple) and len(key) == 3:
        img.info["transparency"] = tuple(int(k) >> 8 for k in key)


class _BadPixels(ValueError):
    """Pixel values no 8-bit image can stand for; its text is the reason given."""


def _int_to_l(img):
    """Map 16/32-bit integer and float images to 8-bit ``L``.

    ``I;16*`` images are scaled by 255/65535. ``I`` images are read as 16-bit data when any value
    exceeds 255 and as 8-bit data otherwise. ``F`` images are read as [0, 1] data when no value
    exceeds 1 and as [0, 255] data otherwise. Everything is clipped to the 8-bit range. A
    transparency key (a 16-bit grey PNG's tRNS value) becomes an alpha channel (``LA``), since
    the key cannot name the scaled values.
    """
    arr = np.asarray(img)
    key = img.info.get("transparency")
    transparent = (arr == key if isinstance(key, (int, float)) and not isinstance(key, bool)
                   else None)
    if img.mode == "F":
        arr = arr.astype(np.float64)
        finite = np.isfinite(arr)
        if not finite.all():
            # NaN became black, and one infinite pixel made the whole image read as [0, 255]
            # data (every 0.5 black): no reading of such a file is right
            raise _BadPixels(f"{int(arr.size - finite.sum())} of its {arr.size} pixels are not "
                             "finite (NaN or infinity) in a 32-bit float image")
        scale = 255.0 if arr.max(initial=0.0) <= 1.0 else 1.0
        arr = arr * scale
    else:
        arr = arr.astype(np.float64)
        if img.mode != "I" or arr.max(initial=0) > 255:
            arr = arr / 257.0
    grey = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    if transparent is not None and transparent.any():
        alpha = np.where(transparent, 0, 255).astype(np.uint8)
        return Image.fromarray(np.stack([grey, alpha], axis=-1), mode="LA")
    return Image.fromarray(grey, mode="L")


def _normalize_mode(img, color):
    """Convert any Pillow mode to ``RGB`` (``color="rgb"``) or ``L`` (``color="gray"``)."""
    target = "RGB" if color == "rgb" else "L"
    mode = img.mode
    if mode == target:
        if "transparency" not in img.info:
            return img
    if mode in _INT_MODES or mode == "F":
        img = _int_to_l(img)
        mode = img.mode
    if mode == "LAB":
        lab = ImageCms.createProfile("LAB")
        srgb = ImageCms.createProfile("sRGB")
        img = ImageCms.applyTransform(img, ImageCms.buildTransform(lab, srgb, "LAB", "RGB"))
        mode = "RGB"
    if mode in ("La", "RGBa"):  # premultiplied alpha: undo the multiplication first
        img = img.convert("RGBA") if mode == "RGBa" else _unpremultiply_la(img)
        mode = img.mode
    if mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        canvas.alpha_composite(rgba)
        img = canvas
        mode = "RGBA"
    if mode == target:
        return img
    if target == "L" and mode not in ("1", "L", "P", "RGB"):
        img = img.convert("RGB")
    return img.convert(target)


def _unpremultiply_la(img):
    arr = np.asarray(img).astype(np.float64)
    alpha = arr[..., 1:2]
    with np.errstate(divide="ignore", invalid="ignore"):
        lum = np.where(alpha > 0, arr[..., :1] * 255.0 / alpha, 0.0)
    out = np.concatenate([np.clip(np.rint(lum), 0, 255), alpha], axis=-1).astype(np.uint8)
    return Image.fromarray(out, mode="LA")


def _crop_box(width, height, out_h, out_w, crop):
    """``(left, top, right, bottom)`` in whole pixels: the whole image, or the largest centred
    box of the output's aspect ratio. Its size is rounded once and the box then placed, so that
    a square output always gets a square crop (rounding both edges apart could make it a pixel
    wider or narrower, and the image a little stretched)."""
    if crop is None:
        return (0, 0, width, height)
    aspect = out_w / out_h
    if width / height > aspect:  # too wide: trim left and right
        new_w = max(1, min(width, round(height * aspect)))
        left = (width - new_w) // 2
        return (left, 0, left + new_w, height)
    new_h = max(1, min(height, round(width / aspect)))
    top = (height - new_h) // 2
    return (0, top, width, top + new_h)


def _source_name(source):
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, "name", "<in-memory image>"))


def _raise_load_error(source, exc, formats=None):
    """Re-raise any failure to read ``source`` as an :class:`ImageLoadError` naming it
    (``formats``: those Pillow was allowed to try)."""
    name = _source_name(source)
    if isinstance(exc, ImageLoadError):
        raise exc
    if isinstance(exc, Image.DecompressionBombError):
        raise ImageLoadError(
            name,
            f"decompression bomb refused by Pillow ({exc}). Raise PIL.Image.MAX_IMAGE_PIXELS "
            "only for files you trust.",
            "bomb",
        ) from exc
    if isinstance(exc, FileNotFoundError):
        raise ImageLoadError(name, "file not found", "missing") from exc
    if isinstance(exc, Image.UnidentifiedImageError):
        empty = _file_size(source) == 0 if isinstance(source, (str, os.PathLike)) else False
        if empty:
            raise ImageLoadError(name, "the file is empty (0 bytes)", "empty") from exc
        fmt = sniff_format(_head_bytes(source))
        if fmt is not None and (formats is None or fmt in formats):
            # an allowed format's signature is there, a readable header is not: cut or damaged
            raise ImageLoadError(
                name, f"corrupt or truncated {fmt}: it starts like one, but Pillow cannot "
                "identify it", "unrecognised") from exc
        raise ImageLoadError(name, "not a recognised image format", "unrecognised") from exc
    if isinstance(exc, (PermissionError, IsADirectoryError)):
        raise ImageLoadError(name, f"{type(exc).__name__}: {exc}", "unreadable") from exc
    if isinstance(exc, _BadPixels):
        raise ImageLoadError(name, str(exc), "corrupt") from exc
    # truncated data, broken headers, unsupported modes...
    raise ImageLoadError(name, f"{type(exc).__name__}: {exc}", "corrupt") from exc


def check_max_pixels(max_pixels):
    """``max_pixels`` as an int >= 1, or None; anything else is a ValueError naming it (a
    string failed inside the decoder, so that every file was reported corrupt; 0 reported
    every file as a decompression bomb; NaN switched the limit off)."""
    if max_pixels is None:
        return None
    if not is_whole_number(max_pixels) or max_pixels < 1:
        raise ValueError(f"max_pixels must be an int >= 1 or None; got {max_pixels!r}.")
    return int(max_pixels)


def _check_open_arguments(draft_size, max_pixels, formats):
    """Check ``open_image``'s arguments before any file is opened, so that a bad argument is
    named as one instead of being reported as a corrupt file."""
    check_max_pixels(max_pixels)
    if draft_size is not None:
        pair = np.asarray(draft_size, dtype=object).ravel()
        if len(pair) != 2 or not all(is_whole_number(v) and v >= 1 for v in pair):
            raise ValueError(f"draft_size must be (width, height), two ints >= 1; got "
                             f"{draft_size!r}.")
    if formats is not None:
        if isinstance(formats, str) or not all(isinstance(f, str) for f in formats):
            raise ValueError(f"formats must be a list of Pillow format names; got {formats!r}.")
        Image.init()
        unknown = [f for f in formats if f.upper() not in Image.OPEN]
        if unknown:
            raise ValueError(f"formats names {unknown}, which Pillow cannot open.")


def _check_pixels(img, source, max_pixels):
    width, height = img.size
    if max_pixels is not None and width * height > max_pixels:
        raise ImageLoadError(
            _source_name(source),
            f"decompression bomb: {width}x{height} = {width * height} pixels exceeds "
            f"max_pixels={max_pixels}",
            "bomb",
        )
    if width == 0 or height == 0:
        raise ImageLoadError(_source_name(source), "image has zero width or height", "corrupt")


def sniff_format(head):
    """Name the image format from a file's first bytes (its magic number).

    Parameters
    ----------
    head : bytes
        The first bytes of the file (16 are enough).

    Returns
    -------
    format : str or None
        Pillow's format name (``"JPEG"``, ``"PNG"``, ``"GIF"``, ``"BMP"``, ``"TIFF"`` or
        ``"WEBP"``), or None when the bytes start none of these formats. Pass it on as
        ``formats=[format]`` to :func:`open_image` or :func:`image_header` to accept files by
        content, whatever their suffix, and only in these formats.
    """
    for magic, name in _SIGNATURES:
        if head.startswith(magic):
            return name
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def _header_of(img):
    """The header dict of an opened, not yet drafted or loaded, Pillow image."""
    quant = getattr(img, "quantization", None)
    return {
        "format": img.format,
        "width": img.size[0],
        "height": img.size[1],
        "mode": img.mode,
        "n_frames": int(getattr(img, "n_frames", 1)),
        **_exif_fields(img),
        "quantization": {int(k): list(v) for k, v in quant.items()} if quant else None,
    }


def image_header(source, *, max_pixels=None, formats=None):
    """Read an image's header without decoding its pixels.

    Parameters
    ----------
    source : str, path-like or binary file object
        The image (a file object, e.g. ``io.BytesIO(data)``, lets callers hash and inspect the
        same bytes).
    max_pixels : int, optional
        Refuse images with more pixels than this (besides Pillow's own bomb limit).
    formats : sequence of str, optional
        Pillow format names to try (``"JPEG"``, ``"PNG"``, ``"WEBP"``, ...); None
        tries all.

    Returns
    -------
    header : dict
        ``format`` (Pillow's name, e.g. ``"JPEG"``), ``width``, ``height`` (as stored, before
        EXIF rotation), ``mode``, ``n_frames``, ``orientation`` (EXIF, 1 when absent),
        ``has_exif`` and ``quantization`` (JPEG quantization tables as ``{index: list}``, else
        ``None``).

    Raises
    ------
    ImageLoadError
        When the header cannot be read; the message names the file.
    """
    _check_open_arguments(None, max_pixels, formats)
    try:
        with Image.open(source, formats=formats) as img:
            _check_pixels(img, source, max_pixels)
            return _header_of(img)
    except Exception as exc:
        _raise_load_error(source, exc, formats)


def open_image(source, *, color="rgb", draft_size=None, max_pixels=None, formats=None,
               with_header=False):
    """Open one image as an 8-bit ``RGB`` or ``L`` Pillow image.

    EXIF orientation is applied and every Pillow mode is converted (see Notes).

    Parameters
    ----------
    source : str, path-like or binary file object
        The image file (or its bytes wrapped in ``io.BytesIO``).
    color : {"rgb", "gray"}, default="rgb"
        Output mode: ``"rgb"`` gives a Pillow ``RGB`` image, ``"gray"`` an ``L`` image.
    draft_size : (width, height), optional
        When given, JPEG files are decoded with DCT-domain downscaling (``Image.draft``) to the
        smallest scale (1/1, 1/2, 1/4 or 1/8) whose result is still at least this large (after
        EXIF rotation). Other formats are decoded at full size.
    max_pixels : int, optional
        Refuse images with more pixels than this, checked from the header before decoding
        (Pillow's own ``PIL.Image.MAX_IMAGE_PIXELS`` limit always applies too).
    formats : sequence of str, optional
        Pillow format names to try (``"JPEG"``, ``"PNG"``, ``"WEBP"``, ...); None
        tries all.
    with_header : bool, default=False
        Also return the header (as :func:`image_header` gives it), read from the same open.

    Returns
    -------
    image : PIL.Image.Image
        A loaded image (the file is closed). The whole file is decoded (at reduced scale with
        ``draft_size``, which still reads every compressed byte), so truncated or corrupt data
        raises here.
    header : dict
        Only with ``with_header=True``.

    Raises
    ------
    ImageLoadError
        When the file is missing, empty, truncated, not an image, a decompression bomb or in an
        unsupported mode. The message names the file.

    Notes
    -----
    Mode handling: ``1``, ``L``, ``P``, ``CMYK``, ``YCbCr``, ``RGBX`` and ``LAB`` are converted to
    RGB the usual way; images with transparency (``LA``, ``PA``, ``RGBA``, ``P`` or ``L``/``RGB``
    with a transparency key) are alpha-composited on opaque white,
    :data:`~skface.preprocessing.BACKGROUND` (the key of a 16-bit RGB PNG is matched on the 8
    bits per channel kept, so colours within 1/256 of it count as transparent too); 16-bit
    ``I;16*`` images are scaled by
    255/65535; 32-bit ``I`` images are scaled the same way when any value exceeds 255; ``F``
    images are read as [0, 1] data unless a value exceeds 1. Gray output uses Pillow's ITU-R
    601-2 luma transform. Multi-frame files give their first frame.
    """
    if color not in ("rgb", "gray"):
        raise ValueError(f"color must be 'rgb' or 'gray', got {color!r}.")
    _check_open_arguments(draft_size, max_pixels, formats)
    try:
        with Image.open(source, formats=formats) as img:
            _check_pixels(img, source, max_pixels)
            header = _header_of(img) if with_header else None
            rawmode = _png_rawmode(img)
            if draft_size is not None and _is_jpeg(img):
                req_w, req_h = draft_size
                if req_w != req_h and _orientation(img) in (5, 6, 7, 8):
                    req_w, req_h = req_h, req_w
                img.draft("L" if color == "gray" else "RGB", (int(req_w), int(req_h)))
            img.load()
            _rescale_png_key(img, rawmode)
            if header is not None and img.format == "PNG":
                header.update(_exif_fields(img))  # its EXIF may follow the pixels: read now
            orientation = _orientation(img)
            if orientation != 1:
                img = img.transpose(_EXIF_TRANSPOSE[orientation])
            out = _normalize_mode(img, color)
            if out is img and img.format != "JPEG" and getattr(img, "n_frames", 1) > 1:
                out = img.copy()  # detach the first frame from the still-open multi-frame file
            return (out, header) if with_header else out
    except Exception as exc:
        _raise_load_error(source, exc, formats)


def _head_bytes(source, n=16):
    """The first ``n`` bytes of a path or seekable file object; empty when unreadable."""
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as f:
                return f.read(n)
        source.seek(0)
        return bytes(source.read(n))
    except (AttributeError, OSError, ValueError, TypeError):
        return b""


def _file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def _decode_array(path, out_h, out_w, color, crop, reducing_gap):
    """Decode one file to a (H, W) or (H, W, 3) uint8 array of the requested size."""
    if reducing_gap is None:
        draft = None
    else:
        draft = (math.ceil(out_w * reducing_gap), math.ceil(out_h * reducing_gap))
    img = open_image(path, color=color, draft_size=draft)
    width, height = img.size
    if (width, height) != (out_w, out_h):
        if crop is not None:
            box = _crop_box(width, height, out_h, out_w, crop)
            if box != (0, 0, width, height):
                img = img.crop(box)  # a real crop: no bleeding from outside the box
        try:
            img = img.resize((out_w, out_h), Image.Resampling.BICUBIC, reducing_gap=reducing_gap)
        except Exception as exc:
            raise ImageLoadError(path, f"resize failed: {type(exc).__name__}: {exc}",
                                 "resize") from exc
    # tobytes + frombuffer is the cheapest way out of Pillow (read-only; callers copy).
    return np.frombuffer(img.tobytes(), dtype=np.uint8).reshape(out_h, out_w, -1)


def load_image(path, size=64, *, color="rgb", crop="center", reducing_gap=1.0):
    """Decode one image file into a ``uint8`` array of shape ``(C, H, W)``.

    Parameters
    ----------
    path : str or path-like
        The image file.
    size : int or (height, width), default=64
        Output size.
    color : {"rgb", "gray"}, default="rgb"
        Three channels or one.
    crop : {"center"} or None, default="center"
        ``"center"`` cuts the largest centred region with the output's aspect ratio before
        resizing; ``None`` stretches the whole image to the output size.
    reducing_gap : float >= 1 or None, default=1.0
        Speed/quality trade-off: JPEGs are DCT-downscaled to at least ``reducing_gap`` times the
        output size and the resize first shrinks by an integer factor down to that size (Pillow's
        ``reducing_gap``). ``None`` decodes at full size and resamples in one step.

    Returns
    -------
    image : ndarray of shape (C, H, W), dtype uint8

    Raises
    ------
    ImageLoadError
        When the file cannot be decoded; the message names it.
    """
    out_h, out_w = _check_size(size)
    if crop not in ("center", None):
        raise ValueError(f"crop must be 'center' or None, got {crop!r}.")
    if reducing_gap is not None and (
            isinstance(reducing_gap, bool) or not isinstance(reducing_gap, Real)
            or not math.isfinite(reducing_gap) or reducing_gap < 1):  # 0.5 read as a bad file
        raise ValueError(f"reducing_gap must be a finite number >= 1 or None, got "
                         f"{reducing_gap!r}.")
    arr = _decode_array(path, out_h, out_w, color, crop, reducing_gap)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def jpeg_roundtrip(image, quality):
    """Encode one image as JPEG in memory and decode it again.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, 3), dtype uint8
        The pixels.
    quality : int in [1, 100]
        JPEG quality (Pillow's scale). Chroma subsampling is Pillow's default (4:2:0).

    Returns
    -------
    image : ndarray, same shape, dtype uint8
    nbytes : int
        The size of the JPEG stream.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:  # a cast made 0.7 black, 300 into 44 and NaN 0
        raise ValueError(f"jpeg_roundtrip takes uint8 pixels; got {image.dtype}.")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3) or 0 in image.shape:
        raise ValueError(f"jpeg_roundtrip takes one (H, W) or (H, W, 3) image; got shape "
                         f"{image.shape}.")
    if not is_whole_number(quality) or not 1 <= quality <= 100:
        raise ValueError(f"quality must be an int in [1, 100]; got {quality!r}.")
    image = np.ascontiguousarray(image)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality))
    nbytes = buf.tell()
    buf.seek(0)
    with Image.open(buf) as img:
        out = np.array(img)  # a writable copy
    return out, nbytes


# --------------------------------------------------------------------------------------------
# On-disk cache: packs of decoded images keyed by file identity, one folder per parameter set
# --------------------------------------------------------------------------------------------

_INDEX_LOCK = threading.Lock()
# folder -> {"packs": [pack names], "maps": {pack id: memmap}, "keys": {key: (pack id, row)}}
#: Most packs a process keeps memory-mapped per cache folder (each holds a file descriptor).
_MAX_MAPPED = 64
#: Cache folders this process has already warned it could not write to.
_WRITE_WARNED = set()
#: Cache folders this process has already cleared of what killed writers left.
_CLEANED = set()
_INDEX = {}
#: Seconds after which a cache file no process can be writing any more (a killed writer's
#: leftover, a damaged pack) is deleted; younger ones may be another process's write.
_STALE_AFTER = 3600.0


def _file_key(path):
    """Key of one file, hashed; None if missing.

    Absolute path, size, modification time, inode and status-change time (ns): a file replaced
    by one that keeps the old size and modification time (``cp -p``, ``rsync -t``, unpacking an
    archive) is a new inode with a new status-change time, so it is decoded again.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    ident = (f"{os.path.abspath(path)}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}"
             f"\0{st.st_ctime_ns}").encode("utf-8", "replace")
    return hashlib.blake2b(ident, digest_size=_KEY_BYTES).digest()


def _pack_holds(path, n_rows):
    """Whether ``path`` is a whole ``.npy`` file of ``n_rows`` images (header and data)."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = {(1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read is None:
                return False
            shape, fortran, dtype = read(f)
            start = f.tell()
        size = os.stat(path).st_size
    except Exception:  # missing, truncated header, not an .npy file
        return False
    return (len(shape) == 4 and shape[0] == n_rows and dtype == np.uint8 and not fortran
            and size >= start + int(np.prod(shape)))


class _PackCache:
    """Decoded images stored as ``pack-*.npy`` (images) + ``pack-*.keys.npy`` (file keys).

    A pack is written once, atomically (images first, the keys file last as the commit mark), so
    readers never see half a pack, and parallel writers at worst store an image twice.
    """

    def __init__(self, location, params):
        blob = json.dumps(params, sort_keys=True).encode()
        tag = hashlib.blake2b(blob, digest_size=8).hexdigest()
        self.folder = Path(location) / "skface-imageloader" / tag
        self.folder.mkdir(parents=True, exist_ok=True)
        info = self.folder / "params.json"
        if not info.exists():
            info.write_text(json.dumps(params, sort_keys=True, indent=1))
        self._remove_leftovers()

    def _remove_leftovers(self, age=_STALE_AFTER):
        """Delete what a process killed mid-write left (Ctrl-C cleans up itself; SIGKILL, the
        OOM killer or a job's time limit do not): temporary files, and images without their
        keys file, once older than ``age`` seconds, so that a write in progress elsewhere is
        never touched."""
        with _INDEX_LOCK:  # once per folder and process (a loader makes a cache per call)
            if str(self.folder) in _CLEANED:
                return
            _CLEANED.add(str(self.folder))
        now = time.time()
        try:
            names = set(os.listdir(self.folder))
        except OSError:
            return
        for name in names:
            stale = name.startswith(".pack-") and name.endswith(".tmp")
            if name.startswith("pack-") and name.endswith(".npy") \
                    and not name.endswith(".keys.npy"):
                stale = f"{name[:-len('.npy')]}.keys.npy" not in names
            if not stale:
                continue
            path = self.folder / name
            try:
                if now - path.stat().st_mtime > age:
                    path.unlink()
            except OSError:
                pass  # another process removed it first, or the folder is read-only

    def _index(self):
        """The in-process index of this folder, updated with packs written since the last call
        (the folder is listed again only when its modification time changed: listing a folder
        of thousands of packs on every call made each call slower)."""
        with _INDEX_LOCK:
            entry = _INDEX.setdefault(str(self.folder),
                                      {"packs": [], "maps": {}, "keys": {}, "mtime": None})
            try:
                mtime = os.stat(self.folder).st_mtime_ns
                if mtime == entry.get("mtime"):
                    return entry
                names = os.listdir(self.folder)
            except OSError:
                mtime, names = None, []
            entry["mtime"] = mtime
            known = set(entry["packs"])
            for name in sorted(names):
                if not name.endswith(".keys.npy") or name[: -len(".keys.npy")] in known:
                    continue
                pack = name[: -len(".keys.npy")]
                try:
                    # Keys are stored as raw (n, 16) bytes: a NumPy "S16" array would drop
                    # trailing zero bytes of a digest.
                    raw = np.load(self.folder / name).tobytes()
                    whole = _pack_holds(self.folder / f"{pack}.npy", len(raw) // _KEY_BYTES)
                except Exception:
                    whole = False
                if not whole:
                    # a damaged pack is not used (registered last, it took its keys from a
                    # good copy, and every new process decoded those images again); its images
                    # are decoded again and stored in a new pack
                    self._remove_damaged(pack)
                    continue
                pack_id = len(entry["packs"])
                entry["packs"].append(pack)
                index = entry["keys"]
                for row in range(len(raw) // _KEY_BYTES):
                    index[raw[row * _KEY_BYTES : (row + 1) * _KEY_BYTES]] = (pack_id, row)
            return entry

    def _remove_damaged(self, pack, age=_STALE_AFTER):
        """Delete a committed pack that cannot be read (its keys file is written last, so the
        pack was whole once: a disk error, a copy cut short), so that later processes do not
        read it again; left alone while younger than ``age`` seconds, in case a shared file
        system shows it before all its bytes."""
        keys_file = self.folder / f"{pack}.keys.npy"
        try:
            if time.time() - keys_file.stat().st_mtime <= age:
                return
            keys_file.unlink()  # first: without its keys the images file is a leftover
            (self.folder / f"{pack}.npy").unlink(missing_ok=True)
        except OSError:
            pass  # another process removed it first, or the folder is read-only

    def get(self, keys, out):
        """Fill ``out[i]`` for every cached key; return a boolean mask of hits."""
        entry = self._index()
        lookup = entry["keys"].get
        found = [(i,) + loc for i, loc in enumerate(map(lookup, keys)) if loc is not None]
        hits = np.zeros(len(keys), dtype=bool)
        if not found:
            return hits
        found = np.asarray(found, dtype=np.int64)
        # grouped by pack in one sort (a scan of every hit per pack was quadratic in the packs),
        # each pack's hits kept in the order of ``keys``
        found = found[np.argsort(found[:, 1], kind="stable")]
        pack_ids, starts = np.unique(found[:, 1], return_index=True)
        for pack_id, sel in zip(pack_ids, np.split(found, starts[1:])):
            dst, rows = sel[:, 0], sel[:, 2]
            try:
                data = self._mapped(entry, int(pack_id))
                if len(rows) == data.shape[0] and np.array_equal(rows, np.arange(len(rows))):
                    out[dst] = data  # the whole pack, in order: one sequential copy
                else:
                    out[dst] = data[rows]
            except Exception:
                continue  # unreadable pack: these images are decoded again
            hits[dst] = True
        return hits

    def _mapped(self, entry, pack_id):
        # The packs used last stay memory-mapped, so a second pass reads pages that are
        # already mapped; at most _MAX_MAPPED of them, since every map holds a file
        # descriptor (all of them kept ran a process with 1,100 packs out of descriptors:
        # later packs were decoded again each time, and subprocesses failed to start).
        with _INDEX_LOCK:
            maps = entry["maps"]
            data = maps.pop(pack_id, None)
            path = self.folder / f"{entry['packs'][pack_id]}.npy"
            if data is not None and os.stat(path).st_size < data.offset + data.nbytes:
                # cut short on disk since it was mapped: reading the missing pages would kill
                # the process (SIGBUS); its images are decoded again instead
                raise OSError(f"cache pack {path} shrank on disk")
            if data is None:
                data = np.load(path, mmap_mode="r")
                while len(maps) >= _MAX_MAPPED:  # the least recently used goes first
                    maps.pop(next(iter(maps)))
            maps[pack_id] = data  # (re)inserted last: dicts keep insertion order
        return data

    def put(self, keys, images):
        """Store decoded images under their keys as one new pack."""
        if len(keys) == 0:
            return
        pack = f"pack-{uuid.uuid4().hex}"
        tmp_img = self.folder / f".{pack}.npy.tmp"
        tmp_key = self.folder / f".{pack}.keys.npy.tmp"
        # until the keys file (the commit mark) is in place, everything written is removed on
        # any failure, Ctrl-C included, so no unused file is left behind
        uncommitted = (tmp_img, tmp_key, self.folder / f"{pack}.npy")
        try:
            with open(tmp_img, "wb") as fh:
                np.save(fh, np.ascontiguousarray(images))
            os.replace(tmp_img, self.folder / f"{pack}.npy")
            with open(tmp_key, "wb") as fh:
                raw = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(-1, _KEY_BYTES)
                np.save(fh, raw)
            os.replace(tmp_key, self.folder / f"{pack}.keys.npy")
            with _INDEX_LOCK:  # list the folder again next time, however coarse its clock
                entry = _INDEX.get(str(self.folder))
                if entry is not None:
                    entry["mtime"] = None
        except BaseException as exc:
            for path in uncommitted:
                path.unlink(missing_ok=True)
            if not isinstance(exc, OSError):
                raise
            # a full disk or a read-only folder must not stop loading; the images are still
            # returned. One warning per folder and process: each chunk's message named another
            # temporary file, so Python's filter never held back the repeats
            with _INDEX_LOCK:
                first = str(self.folder) not in _WRITE_WARNED
                _WRITE_WARNED.add(str(self.folder))
            if first:
                warnings.warn(f"ImageLoader could not write its cache in {self.folder} "
                              f"({exc.strerror or exc}); images are decoded without storing "
                              "them (said once per folder).")


# --------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------


def _check_paths(X):
    """Turn 1-D / (n, 1) input of str or Path (list, array, Series, DataFrame) into a list."""
    if hasattr(X, "iloc") and getattr(X, "ndim", 1) == 2:  # pandas DataFrame
        if X.shape[1] != 1:
            raise ValueError(
                f"ImageLoader takes one column of file paths; the DataFrame has {X.shape[1]} "
                f"columns ({list(X.columns)})."
            )
        X = X.iloc[:, 0]
    if isinstance(X, (str, os.PathLike)):
        raise TypeError(
            "ImageLoader expects a sequence of file paths, got a single path; wrap it in a list."
        )
    arr = np.asarray(list(X) if not hasattr(X, "__array__") else X, dtype=object)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            f"ImageLoader expects a 1-D array or one column of file paths; got shape {arr.shape}."
        )
    if arr.shape[0] == 0:
        raise ValueError("ImageLoader got no file paths (empty input).")
    paths = []
    for i, p in enumerate(arr):
        if isinstance(p, Path):
            paths.append(str(p))
        elif isinstance(p, str):
            paths.append(p)
        elif isinstance(p, os.PathLike):
            paths.append(os.fspath(p))
        else:
            raise TypeError(
                f"ImageLoader expects file paths (str or pathlib.Path); item {i} is "
                f"{type(p).__name__} {p!r}."
            )
    return paths


def _decode_chunk(paths, out_h, out_w, color, crop, reducing_gap, skip):
    """Decode a list of files into one (n, C, H, W) array; failures become (position, reason)."""
    channels = 3 if color == "rgb" else 1
    # Filled channels-last (contiguous per-image copies), transposed once at the end.
    hwc = np.zeros((len(paths), out_h, out_w, channels), dtype=np.uint8)
    failed = []
    for i, path in enumerate(paths):
        try:
            hwc[i] = _decode_array(path, out_h, out_w, color, crop, reducing_gap)
        except ImageLoadError as exc:
            if not skip:
                raise
            failed.append((i, exc.reason))
    return np.ascontiguousarray(hwc.transpose(0, 3, 1, 2)), failed


class ImageLoader(ImageOutputMixin, TransformerMixin, BaseEstimator):
    """Load image files into ``uint8`` arrays of shape ``(N, C, H, W)``.

    A stateless scikit-learn transformer for the start of a pipeline:
    ``make_pipeline(ImageLoader(64), FaceCNNClassifier())`` fits on file paths. JPEGs are
    downscaled in the DCT domain while decoding (``Image.draft``), EXIF orientation is applied,
    every Pillow mode is converted (see :func:`open_image`), files are decoded in parallel with
    joblib, and decoded images can be cached on disk so that repeated fits (a grid search)
    decode each file once.

    Parameters
    ----------
    size : int or (height, width), default=64
        Output image size.
    color : {"rgb", "gray"}, default="rgb"
        Three channels (C=3) or one (C=1, ITU-R 601-2 luma).
    crop : {"center"} or None, default="center"
        ``"center"`` cuts the largest centred region with the output's aspect ratio, then resizes;
        ``None`` stretches the whole image.
    reducing_gap : float >= 1 or None, default=1.0
        JPEGs are DCT-downscaled to at least ``reducing_gap`` times the output size, and the
        resize first shrinks by an integer factor down to that size (Pillow's
        ``reducing_gap``). Larger is slower and closer to an exact resize; ``None`` decodes at full
        size and resamples (bicubic) in one step.
    n_jobs : int, default=None
        Parallel decoding with joblib (``None`` means 1 unless in a ``joblib.parallel_config``
        context; ``-1`` uses all cores). Threads are preferred, since Pillow releases the GIL
        while decoding; ``joblib.parallel_config(backend="loky")`` switches to processes.
    memory : str, path-like or joblib.Memory, default=None
        Folder for the on-disk cache of decoded images (as in ``Pipeline(memory=...)``). An
        image is found in the cache by its absolute path, file size, modification time, inode,
        status-change time and the loader's parameters, so an edited or replaced file is decoded
        again (also one that keeps the old size and modification time). ``None`` disables caching.
        Images are stored in chunks as they are decoded, so an interrupted run (Ctrl-C) keeps
        what it finished. A chunk that can no longer be read (a disk error, a copy cut short) is
        not used: its images are decoded again, and it is deleted once an hour old.
    on_error : {"raise", "skip"}, default="raise"
        ``"raise"``: a file that cannot be decoded raises :class:`ImageLoadError` naming it.
        ``"skip"``: such files are left out of the output, a warning names them, and the
        attributes ``skipped_`` and ``valid_mask_`` describe the last ``transform``, so labels can
        be aligned with ``y[loader.valid_mask_]``; :func:`load_images` does that for you.
    verbose : int, default=0
        Show a tqdm progress bar when > 0.

    Attributes
    ----------
    n_features_in_ : int
        Always 1 (one column of paths), set by ``fit``.
    skipped_ : list of (int, str, str)
        Set by every ``transform``: ``(index, path, reason)`` for each file left out (empty when
        none or with ``on_error="raise"``).
    valid_mask_ : ndarray of shape (n_paths,), dtype bool
        Set by every ``transform``: which input rows are in the output.

    See Also
    --------
    load_images : Load files and return labels aligned with the images kept.
    open_image : Decode one file to a Pillow image.

    Examples
    --------
    >>> from skface.preprocessing import ImageLoader
    >>> loader = ImageLoader(size=32)  # doctest: +SKIP
    >>> X = loader.fit_transform(["a.jpg", "b.png"])  # doctest: +SKIP
    >>> X.shape, X.dtype  # doctest: +SKIP
    ((2, 3, 32, 32), dtype('uint8'))
    """

    _parameter_constraints = {
        "size": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "color": [StrOptions({"rgb", "gray"})],
        "crop": [StrOptions({"center"}), None],
        "reducing_gap": [Interval(Real, 1, None, closed="left"), None],
        "n_jobs": [Integral, None],
        "memory": [None, str, os.PathLike, HasMethods(["cache"])],
        "on_error": [StrOptions({"raise", "skip"})],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        size=64,
        *,
        color="rgb",
        crop="center",
        reducing_gap=1.0,
        n_jobs=None,
        memory=None,
        on_error="raise",
        verbose=0,
    ):
        self.size = size
        self.color = color
        self.crop = crop
        self.reducing_gap = reducing_gap
        self.n_jobs = n_jobs
        self.memory = memory
        self.on_error = on_error
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X=None, y=None):
        """Check the parameters (the loader learns nothing).

        Parameters
        ----------
        X : array-like of str or Path, shape (n_paths,) or (n_paths, 1), optional
            File paths; only their container is checked (files are read in ``transform``).
        y : None
            Ignored.

        Returns
        -------
        self : ImageLoader
        """
        _check_size(self.size)
        if X is not None and not isinstance(X, Iterator):
            # an iterator is left for transform: checking it here used it up, so that
            # fit_transform(generator) said "no file paths (empty input)"
            _check_paths(X)
        self.n_features_in_ = 1
        return self

    def __sklearn_is_fitted__(self):
        return True  # stateless: transform works without fit

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags

    def _cache_params(self):
        out_h, out_w = _check_size(self.size)
        return {
            "format": _CACHE_FORMAT,
            "size": [out_h, out_w],
            "color": self.color,
            "crop": self.crop,
            # a NumPy float is no JSON number (and 1 and 1.0 are one setting)
            "reducing_gap": None if self.reducing_gap is None else float(self.reducing_gap),
            "pillow": Image.__version__,
        }

    def transform(self, X):
        """Decode the files.

        Parameters
        ----------
        X : array-like of str or Path, shape (n_paths,) or (n_paths, 1)
            File paths: a list, 1-D array, (n, 1) array, pandas Series or one-column DataFrame.

        Returns
        -------
        images : ndarray of shape (n_kept, C, H, W), dtype uint8
            ``n_kept`` is ``n_paths`` unless ``on_error="skip"`` left files out.
        """
        self._validate_params()
        out_h, out_w = _check_size(self.size)
        paths = _check_paths(X)
        n = len(paths)
        channels = 3 if self.color == "rgb" else 1
        skip = self.on_error == "skip"
        out = np.empty((n, channels, out_h, out_w), dtype=np.uint8)
        ok = np.ones(n, dtype=bool)
        reasons = {}

        memory = os.fspath(self.memory) if isinstance(self.memory, os.PathLike) else self.memory
        cache = None
        if memory is not None:
            try:
                checked = check_memory(memory)
                if not hasattr(checked, "location"):
                    # an object with cache() but no folder: what Pipeline(memory=...) takes,
                    # but this cache stores files in a folder of its own
                    raise ValueError(f"memory={memory!r} has no folder (a .location); give a "
                                     "folder path or a joblib.Memory.")
                location = checked.location
                if location is not None:
                    cache = _PackCache(location, self._cache_params())
            except OSError as exc:  # e.g. a read-only folder: load without the cache
                warnings.warn(f"ImageLoader cannot use the cache {memory!r}: {exc}")
        if cache is not None:
            keys = [_file_key(p) for p in paths]
            hits = cache.get(keys, out)
            todo = np.flatnonzero(~hits)
        else:
            keys = None
            todo = np.arange(n)

        if len(todo):
            self._decode_into(paths, todo, out, ok, reasons, keys, cache, skip)

        self.valid_mask_ = ok
        self.skipped_ = [(int(i), paths[i], reasons[i]) for i in np.flatnonzero(~ok)]
        if self.skipped_:
            listed = "; ".join(f"{p!r}: {r}" for _, p, r in self.skipped_[:5])
            more = f" (and {len(self.skipped_) - 5} more)" if len(self.skipped_) > 5 else ""
            warnings.warn(
                f"ImageLoader skipped {len(self.skipped_)} of {n} files that could not be "
                f"decoded: {listed}{more}. See the loader's skipped_ and valid_mask_ attributes "
                "to align labels (or use skface.preprocessing.load_images).",
                UserWarning,
                stacklevel=2,
            )
            # close the gaps in place: out[ok] would hold a second copy of every image
            kept = np.flatnonzero(ok)
            for i, j in enumerate(kept):
                if i != j:
                    out[i] = out[j]
            return out[:len(kept)]
        return out

    def _decode_into(self, paths, todo, out, ok, reasons, keys, cache, skip):
        out_h, out_w = out.shape[2:]
        args = (out_h, out_w, self.color, self.crop, self.reducing_gap, skip)
        workers = effective_n_jobs(self.n_jobs)
        chunk = int(max(1, min(256, math.ceil(len(todo) / (4 * workers)))))
        chunks = [todo[i : i + chunk] for i in range(0, len(todo), chunk)]

        def consume(idx, result):
            arr, failed = result
            out[idx] = arr
            bad = np.zeros(len(idx), dtype=bool)
            for pos, reason in failed:
                bad[pos] = True
                ok[idx[pos]] = False
                reasons[int(idx[pos])] = reason
            if cache is not None:
                store = ~bad & np.array([keys[i] is not None for i in idx])
                cache.put([keys[i] for i in idx[store]], arr[store])

        progress = None
        if self.verbose:
            from tqdm.auto import tqdm

            progress = tqdm(total=len(todo), desc="Decoding images", unit="img")
        try:
            if workers == 1 or len(chunks) == 1:
                for idx in chunks:
                    consume(idx, _decode_chunk([paths[i] for i in idx], *args))
                    if progress is not None:
                        progress.update(len(idx))
            else:
                # Threads: Pillow releases the GIL while decoding, and worker processes would
                # have to import skface (and torch) and send every array back. Each chunk is
                # kept (and cached) as it finishes: in input order, a Ctrl-C lost the finished
                # chunks that waited behind a slow one.
                results = as_completed(_decode_chunk,
                                       [([paths[i] for i in idx], *args) for idx in chunks],
                                       n_jobs=self.n_jobs, prefer="threads")
                try:
                    for k, result in results:
                        consume(chunks[k], result)
                        if progress is not None:
                            progress.update(len(chunks[k]))
                finally:
                    results.close()
        finally:
            if progress is not None:
                progress.close()


def load_images(paths, y=None, **params):
    """Load image files and keep the labels aligned with the images that could be decoded.

    Parameters
    ----------
    paths : array-like of str or Path
        File paths (as for :class:`ImageLoader`).
    y : array-like of shape (n_paths,), optional
        Labels, one per path.
    **params
        :class:`ImageLoader` parameters (``size``, ``color``, ``crop``, ``memory``, ``n_jobs``...).
        ``on_error`` defaults to ``"skip"`` here.

    Returns
    -------
    X : ndarray of shape (n_kept, C, H, W), dtype uint8
    y : ndarray of shape (n_kept,) or None
        The labels of the kept images (``None`` when ``y`` was not given).
    skipped : list of (int, str, str)
        ``(index, path, reason)`` of each file left out.
    """
    if y is not None:
        if np.ndim(y) == 0:  # load_images(paths, 64) failed with an IndexError
            raise ValueError(f"y must hold one label per path; got the single value {y!r}. "
                             "ImageLoader parameters are keywords: load_images(paths, "
                             f"size={y!r}).")
        y = one_label_per_sample(y)  # a 2-D y had been indexed by rows, without a word
    params.setdefault("on_error", "skip")
    loader = ImageLoader(**params)
    X = loader.fit_transform(paths)
    if y is not None:
        if y.shape[0] != loader.valid_mask_.shape[0]:
            raise ValueError(
                f"y has {y.shape[0]} labels but {loader.valid_mask_.shape[0]} paths were given."
            )
        y = y[loader.valid_mask_]
    return X, y, loader.skipped_
