"""Input checks shared by the array transformers of this subpackage."""

import numpy as np
from sklearn.utils.validation import _check_feature_names

from ..utils import check_image_array
from ..utils._validation import float_pixel_range

#: ITU-R 601 luma weights of R, G and B.
LUMA = (0.299, 0.587, 0.114)


class ImageOutputMixin:
    """``set_output`` for the transformers whose output is images: accepted, so that
    ``Pipeline.set_output`` (which asks every step) works, while the images stay arrays, as no
    data frame holds them."""

    def set_output(self, *, transform=None):
        """Accept a ``set_output`` request; the output stays a NumPy array of images.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"} or None, default=None
            The container asked for; images of shape ``(N, C, H, W)`` have no column form, so
            every choice gives arrays, as under ``sklearn.set_config(transform_output=...)``.

        Returns
        -------
        self : object
        """
        if transform not in (None, "default", "pandas", "polars"):
            raise ValueError(f"transform must be 'default', 'pandas', 'polars' or None; got "
                             f"{transform!r}.")
        return self


def gray_batch(x):
    """``(N, C, H, W)`` float array -> ``(N, H, W)``: luma for 3 channels, else the mean."""
    if x.shape[1] == 3:
        return np.tensordot(x, np.asarray(LUMA), axes=([1], [0]))
    return x.mean(axis=1)


def check_unit_floats(X, name):
    """Refuse float images outside ``[0, 1]`` (uint8 passes unchecked).

    Float images in 0-255 (``np.asarray(pil_image, dtype=float)``) would otherwise be read as
    255 times brighter than they are.
    """
    span = float_pixel_range(X)
    if span is not None:
        lo, hi = span
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"{name} expects uint8 images or float images in [0, 1]; got float values in "
                f"[{lo:.8g}, {hi:.8g}]."
            )
    return X


def check_fit_images(estimator, X, *, reset):
    """Validate an image batch for a stateless image transformer.

    On ``reset`` the batch's ``(C, H, W)`` is stored as ``image_shape_`` and its size as
    ``n_features_in_``; otherwise the batch must match them (the feature-count error uses
    scikit-learn's wording).

    Returns
    -------
    images : ndarray of shape (N, C, H, W)
        uint8 or float32.
    flat : bool
        Whether the input was 2-D (flattened images).
    """
    name = type(estimator).__name__
    # a data frame's column names are kept on reset and checked after, as scikit-learn does
    _check_feature_names(estimator, X, reset=reset)
    if not hasattr(X, "shape") or not hasattr(X, "dtype"):
        X = np.asarray(X)
    flat = len(X.shape) == 2
    images = check_image_array(X, name=f"{name} input")
    n_features = int(np.prod(images.shape[1:]))
    shape = tuple(int(s) for s in images.shape[1:])
    if reset:
        estimator.image_shape_ = shape
        estimator.n_features_in_ = n_features
    else:
        if n_features != estimator.n_features_in_:
            raise ValueError(
                f"X has {n_features} features, but {name} is expecting "
                f"{estimator.n_features_in_} features as input."
            )
        if shape != tuple(estimator.image_shape_):
            raise ValueError(
                f"{name} input has image shape (C, H, W) = {shape}, but it was fitted on "
                f"{tuple(estimator.image_shape_)}."
            )
    return images, flat
