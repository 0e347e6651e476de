"""Input validation for image arrays and devices."""

from collections.abc import Iterator

import numpy as np
import torch
from sklearn.utils import check_array

_CHANNEL_COUNTS = (1, 3, 4)


def integer_pixels_as_uint8(X, name):
    """Integer images in any container as a ``uint8`` array; refuse values that are not 8-bit.

    uint8 pixels are scaled by 1/255 downstream and floats are used as given, so what decides
    the scale must be the pixels' type, not the container's: a list of uint8 images, a uint8
    tensor and an integer DataFrame all become the ``uint8`` array a stacked ndarray would be.
    Input that NumPy cannot turn into a numeric array (ragged lists, strings, objects) is
    returned as is, for :func:`sklearn.utils.check_array` to name the problem.
    """
    if isinstance(X, np.ndarray):
        arr = X
    else:
        try:
            arr = np.asarray(X)
        except (ValueError, TypeError, RuntimeError):  # ragged, or a tensor that needs .cpu()
            return X
    if arr.dtype.kind not in "iu":
        return X
    if arr.dtype == np.uint8:
        return arr
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise ValueError(
                f"{name} holds integers from {lo} to {hi}; integer images must hold 8-bit pixel "
                "values 0-255 (pass uint8, or floats scaled to [0, 1] for other bit depths)."
            )
    return arr.astype(np.uint8)


def is_missing(value):
    """Whether ``value`` is a missing entry: None, a float NaN, or pandas' NA / NaT."""
    if value is None:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    return type(value).__name__ in ("NAType", "NaTType")


def missing_positions(values):
    """Positions of the missing entries (:func:`is_missing`) of a 1-D array-like."""
    return [i for i, v in enumerate(np.asarray(values, dtype=object).ravel().tolist())
            if is_missing(v)]


def is_whole_number(value):
    """Whether ``value`` is a whole number: an int, or a float or NumPy scalar equal to one.

    ``bool`` is not a number here, and what ``int()`` cannot read (strings, None, NaN,
    infinity) is not one either, so that callers can name the bad value instead of letting
    ``int()`` raise its own message.
    """
    if isinstance(value, (bool, np.bool_)):
        return False
    try:
        return int(value) == value
    except (TypeError, ValueError, OverflowError):
        return False


def as_1d(values, name, what, dtype=None):
    """``values`` as a 1-D array (of ``dtype``): an iterator is read once into a list
    (``np.asarray`` made it a single entry) and a column ``(n, 1)`` is read as 1-D; other
    shapes are refused, the message saying that ``name`` must hold ``what`` (a string was one
    entry, a ``(n, 2)`` array flattened doubled the entries)."""
    if isinstance(values, Iterator):
        values = list(values)
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must {what}; got shape {arr.shape}.")
    return arr


def check_row_indices(idx, name, n_samples=None):
    """Row indices as an ``intp`` array: whole non-negative numbers (whole floats, as a pandas
    column holds them, too), each once, below ``n_samples`` when it is given. A boolean mask,
    0.5 or -1 was cast to other rows without a word; a column ``(n, 1)`` is read as 1-D."""
    arr = as_1d(idx, name, "be a 1-D array of row numbers")
    if arr.dtype.kind == "b":
        raise ValueError(f"{name} is a boolean mask; pass indices (np.flatnonzero(mask)).")
    if arr.size and (arr.dtype.kind not in "iuf" or not np.all(arr == np.round(arr))):
        raise ValueError(f"{name} must hold whole row numbers; got {arr[:5].tolist()}.")
    arr = arr.astype(np.intp)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} holds negative indices {arr[arr < 0][:5].tolist()}.")
    if n_samples is not None and arr.size and arr.max() >= n_samples:
        raise ValueError(f"{name} holds indices beyond the {n_samples} rows: "
                         f"{arr[arr >= n_samples][:5].tolist()}.")
    if len(np.unique(arr)) != len(arr):
        raise ValueError(f"{name} names some rows more than once.")
    return arr


def float_pixel_range(X):
    """``(lowest, highest)`` value of float images as Python floats; None for uint8 images
    (their scale is known) and for empty arrays.

    The one range pass behind the checks that float images hold values in [0, 1], the scale
    ``uint8`` pixels are mapped to.
    """
    if X.dtype == np.uint8 or not X.size:
        return None
    return float(X.min()), float(X.max())


def check_image_array(X, *, image_shape=None, reset_shape=None, name="X"):
    """Validate an image batch and return it as ``(N, C, H, W)``.

    Parameters
    ----------
    X : array-like
        One of

        - ``(N, C, H, W)`` or ``(N, H, W, C)`` images. The layout is channels-last when the last
          axis has 1, 3 or 4 entries and the second axis does not; otherwise channels-first.
        - ``(N, H, W)`` grayscale images.
        - ``(N, F)`` flattened images, reshaped to ``image_shape`` when given, otherwise read as
          ``1 x F`` one-row, one-channel images.
    image_shape : tuple of int, optional
        ``(C, H, W)`` or ``(H, W)`` used to unflatten 2-D input.
    reset_shape : tuple of int, optional
        The ``(C, H, W)`` seen at fit time; when given, the result must match it.
    name : str
        Name used in error messages.

    Returns
    -------
    X : ndarray of shape (N, C, H, W)
        ``uint8`` input stays ``uint8`` (and may be a view of the input). Other integer input
        (``int64`` arrays, nested lists of ints) holds 8-bit pixel values too: it becomes
        ``uint8``, so that it is scaled like ``uint8`` downstream, and values outside 0-255
        raise ``ValueError``. Anything else becomes ``float32``. Non-finite values, empty input
        and unsupported ranks raise ``ValueError``.
    """
    X = integer_pixels_as_uint8(X, name)
    X = check_array(
        X,
        accept_sparse=False,
        allow_nd=True,
        dtype=[np.float32, np.uint8],
        ensure_all_finite=True,
        ensure_min_samples=1,
        ensure_min_features=1,
        input_name=name,
    )
    if X.ndim == 2:
        n = X.shape[0]
        if image_shape is not None:
            try:
                shape = tuple(int(s) for s in image_shape)
            except (TypeError, ValueError):
                raise ValueError(f"image_shape must be (C, H, W) or (H, W) of positive ints, "
                                 f"got {image_shape!r}.") from None
            if len(shape) == 2:
                shape = (1,) + shape
            if len(shape) != 3 or any(s <= 0 for s in shape):
                raise ValueError(
                    "image_shape must be (C, H, W) or (H, W) of positive ints, "
                    f"got {image_shape!r}."
                )
            if int(np.prod(shape)) != X.shape[1]:
                raise ValueError(
                    f"{name} has {X.shape[1]} features per row, which cannot be reshaped to "
                    f"image_shape={image_shape!r} ({int(np.prod(shape))} values)."
                )
            X = X.reshape((n,) + shape)
        else:
            X = X.reshape(n, 1, 1, X.shape[1])
    elif X.ndim == 3:
        X = X[:, None, :, :]
    elif X.ndim == 4:
        if X.shape[-1] in _CHANNEL_COUNTS and X.shape[1] not in _CHANNEL_COUNTS:
            X = X.transpose(0, 3, 1, 2)
    else:
        raise ValueError(
            f"{name} must be a 2-D (flattened), 3-D (N, H, W) or 4-D (N, C, H, W) / (N, H, W, C) "
            f"array; got a {X.ndim}-D array of shape {X.shape}."
        )
    empty = [axis for axis, size in zip(("channels", "height", "width"), X.shape[1:]) if size == 0]
    if empty:  # they reached torch, or gave NaN features, instead of an error
        raise ValueError(f"{name} has images with no {' and no '.join(empty)} (shape "
                         f"{tuple(X.shape)} as (N, C, H, W)).")
    if reset_shape is not None and tuple(X.shape[1:]) != tuple(reset_shape):
        raise ValueError(
            f"{name} has image shape (C, H, W) = {tuple(X.shape[1:])}, but the estimator was "
            f"fitted on {tuple(reset_shape)} ({int(np.prod(reset_shape))} features)."
        )
    return X


def resolve_device(device):
    """Resolve ``"auto"`` to ``"cuda"`` when a GPU is present, else ``"cpu"``.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``...

    Returns
    -------
    device : str
    """
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(str(device))
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device={device!r} is not a device name (try 'auto', 'cpu', 'cuda', "
                         "'cuda:1', 'mps').") from None
    kind = parsed.type
    if kind not in ("cpu", "cuda", "mps"):  # meta, xla...: they failed deep in training
        raise ValueError(f"device={device!r}: skface runs on 'cpu', 'cuda' or 'mps' devices "
                         f"(or 'auto'), not {kind!r}.")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was requested but CUDA is not available here.")
        index, count = parsed.index, torch.cuda.device_count()
        if index is not None and index >= count:
            raise ValueError(f"device={device!r} was requested but this machine has {count} "
                             f"CUDA device{'s' if count != 1 else ''} (cuda:0 to "
                             f"cuda:{count - 1}).")
    if kind == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError(f"device={device!r} was requested but MPS is not available here.")
    return str(device)


#: Private ``torch.cpu`` helpers that tell whether the CPU has bfloat16 units oneDNN uses:
#: Intel AMX tiles and the AVX-512 BF16 instructions.
_CPU_BF16_QUERIES = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")


def native_bfloat16(device):
    """Whether ``device`` computes bfloat16 matrix products natively (so autocast is faster).

    True for CUDA devices of compute capability 8.0 or higher (Ampere and later: A100, H100,
    RTX 30xx...; cuDNN computes bfloat16 convolutions only there, and older cards such as the
    T4 or V100 fall back to slower kernels), and for CPUs with bfloat16 units that oneDNN uses for
    convolutions: Intel AMX tiles (Xeon 4th generation and later) or the AVX-512 BF16
    instructions (AMD EPYC and Ryzen from Zen 4 on, Intel Xeon 3rd generation "Cooper Lake").
    False elsewhere, where PyTorch emulates bf16 and float32 is faster.

    Parameters
    ----------
    device : str
        A resolved device (see :func:`resolve_device`).

    Returns
    -------
    native : bool

    Notes
    -----
    The CPU is asked through private helpers of ``torch.cpu``; one that is absent (torch
    2.2 has neither) or fails counts as "not known to be native", so with such a torch
    ``"auto"`` is float32 on every CPU.
    """
    device = str(device)
    if device.startswith("cuda"):
        try:
            index = torch.device(device).index
            index = torch.cuda.current_device() if index is None else index
            return tuple(torch.cuda.get_device_capability(index)) >= (8, 0)
        except Exception:  # no usable CUDA: nothing is native
            return False
    try:
        if torch.device(device).type != "cpu":  # "cpu:0" is the CPU too
            return False
    except (RuntimeError, TypeError):
        return False
    for query in _CPU_BF16_QUERIES:
        try:
            if getattr(torch.cpu, query)():
                return True
        except Exception:
            pass
    return False


def resolve_precision(precision, device):
    """``"bfloat16"`` or ``"float32"``: what a network on ``device`` computes in.

    Parameters
    ----------
    precision : {"auto", "float32", "bfloat16"}
        ``"auto"`` is bfloat16 autocast where the device computes it natively
        (:func:`native_bfloat16`), float32 elsewhere.
    device : str
        A resolved device.

    Returns
    -------
    precision : str
    """
    if precision == "auto":
        return "bfloat16" if native_bfloat16(device) else "float32"
    if precision not in ("float32", "bfloat16"):
        raise ValueError(
            f"precision must be 'auto', 'float32' or 'bfloat16', got {precision!r}.")
    return precision
