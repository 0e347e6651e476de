"""Re-encode every image as JPEG at one quality, so that all classes share one file format."""

from numbers import Integral

import numpy as np
from PIL import Image
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ..utils import check_image_array
from ._common import ImageOutputMixin, check_fit_images, check_unit_floats
from ._loader import _check_size, jpeg_roundtrip


def _to_uint8(X, name):
    """uint8 stays; float images must be in [0, 1] and are scaled to 0..255."""
    if X.dtype == np.uint8:
        return X
    check_unit_floats(X, name)
    return np.rint(X * 255.0).astype(np.uint8)


def _jpeg_channels(images):
    """``images``, checked to have the 1 or 3 channels a JPEG can hold."""
    if images.shape[1] not in (1, 3):
        raise ValueError(
            f"FormatNormalizer encodes 1- or 3-channel images as JPEG; got {images.shape[1]} "
            "channels."
        )
    return images


class FormatNormalizer(ImageOutputMixin, TransformerMixin, BaseEstimator,
                       auto_wrap_output_keys=None):
    """Re-encode images as JPEG at a single quality, in memory.

    When real and generated faces come in different formats (PNG against JPEG, or JPEGs of
    different qualities), a classifier can learn the compression instead of the face. Passing
    every image through one JPEG encoder evens out the compression the network sees; it cannot
    undo an earlier, stronger compression of one class, so check a model trained with it on
    sources left out of training (:func:`skface.datasets.audit_shortcuts` measures how much
    file metadata such as the format and JPEG quality alone tells the classes apart). Use it after
    :class:`ImageLoader`: ``make_pipeline(ImageLoader(64), FormatNormalizer(90), model)``.

    Parameters
    ----------
    quality : int in [1, 100], default=90
        JPEG quality (Pillow's scale); chroma subsampling is Pillow's default for that quality
        (4:2:0).
    size : int, (height, width) or None, default=None
        Resize (bicubic) before encoding; ``None`` keeps the input size.

    Attributes
    ----------
    n_features_in_ : int
        ``C * H * W`` of the images seen by ``fit``.
    feature_names_in_ : ndarray of str
        The column names (``n_features_in_`` of them) of a data frame of flattened images given
        to ``fit``; only then defined.
    image_shape_ : tuple of int
        ``(C, H, W)`` seen by ``fit``; ``transform`` needs the same shape.

    Notes
    -----
    Input: ``uint8`` or float images in [0, 1], shaped ``(N, C, H, W)``, ``(N, H, W, C)``,
    ``(N, H, W)`` or flattened ``(N, F)`` (read as ``1 x F`` gray images), with one or three
    channels. The output has the input's dtype (floats come back as ``float32`` in [0, 1]);
    image input gives ``(N, C, H, W)``, flattened input gives flattened output.
    ``fit`` learns nothing except the input shape.
    """

    _parameter_constraints = {
        "quality": [Interval(Integral, 1, 100, closed="both")],
        "size": [Interval(Integral, 1, None, closed="left"), tuple, list, None],
    }

    def __init__(self, quality=90, size=None):
        self.quality = quality
        self.size = size

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Record the input shape (nothing is learned).

        Parameters
        ----------
        X : array-like of images
            See Notes in the class docstring.
        y : None
            Ignored.

        Returns
        -------
        self : FormatNormalizer
        """
        if self.size is not None:
            _check_size(self.size)
        self._check(X, reset=True)
        return self

    def _check(self, X, reset):
        images, flat = check_fit_images(self, X, reset=reset)
        return _jpeg_channels(images), flat

    def transform(self, X):
        """Re-encode every image.

        Parameters
        ----------
        X : array-like of images
            Same shape as seen by ``fit``.

        Returns
        -------
        X_new : ndarray
            Re-encoded images, ``(N, C, H', W')`` (or flattened for flattened input), with the
            input's dtype (uint8, or float32 in [0, 1]).
        """
        check_is_fitted(self)
        images, flat = self._check(X, reset=False)
        is_float = images.dtype != np.uint8
        pixels = _to_uint8(images, "FormatNormalizer")
        out = self._encode(pixels)
        if is_float:
            out = out.astype(np.float32) / np.float32(255.0)
        return out.reshape(out.shape[0], -1) if flat else out

    def _encode(self, pixels):
        n, c, h, w = pixels.shape
        out_h, out_w = (h, w) if self.size is None else _check_size(self.size)
        out = np.empty((n, c, out_h, out_w), dtype=np.uint8)
        for i in range(n):
            img = pixels[i, 0] if c == 1 else pixels[i].transpose(1, 2, 0)
            if (out_h, out_w) != (h, w):
                img = np.asarray(
                    Image.fromarray(np.ascontiguousarray(img)).resize(
                        (out_w, out_h), Image.Resampling.BICUBIC
                    )
                )
            enc, _ = jpeg_roundtrip(img, self.quality)
            out[i] = enc[None] if c == 1 else enc.transpose(2, 0, 1)
        return out

    def encoded_sizes(self, X):
        """Size in bytes of each image's JPEG stream at this quality (for audits).

        Parameters
        ----------
        X : array-like of images

        Returns
        -------
        nbytes : ndarray of shape (N,), dtype int64
        """
        self._validate_params()  # no fit needed, so the parameters are checked here
        images = _jpeg_channels(check_image_array(X, name="FormatNormalizer input"))
        pixels = _to_uint8(images, "FormatNormalizer")
        sizes = np.empty(len(pixels), dtype=np.int64)
        for i, px in enumerate(pixels):
            img = px[0] if px.shape[0] == 1 else px.transpose(1, 2, 0)
            sizes[i] = jpeg_roundtrip(img, self.quality)[1]
        return sizes

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def get_feature_names_out(self, input_features=None):
        """Names ``formatnormalizer{i}`` of the flattened output features.

        Parameters
        ----------
        input_features : array-like of str, optional
            Ignored: the output is pixels, named by position.

        Returns
        -------
        names : ndarray of str
            One name per output pixel value, ``C * H * W`` of them.
        """
        check_is_fitted(self)
        c = self.image_shape_[0]
        h, w = self.image_shape_[1:] if self.size is None else _check_size(self.size)
        return np.asarray([f"formatnormalizer{i}" for i in range(c * h * w)], dtype=object)
