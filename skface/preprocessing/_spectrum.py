"""Azimuthally averaged log power spectrum (Durall et al., 2020) as a scikit-learn transformer."""

from numbers import Integral, Real

import numpy as np
from scipy import sparse
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ._common import check_fit_images, check_unit_floats, gray_batch

_R_MAX = np.sqrt(0.5)  # radius of the corner frequency (0.5, 0.5) in cycles per pixel


def _radial_matrix(h, w, n_bins):
    """Sparse (H*W, n_bins) averaging matrix and the mask of non-empty bins."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    radius = np.sqrt(fy**2 + fx**2).ravel()
    bins = np.minimum((radius / _R_MAX * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins).astype(np.float64)
    weights = 1.0 / counts[bins]
    matrix = sparse.csr_matrix((weights, (np.arange(h * w), bins)), shape=(h * w, n_bins))
    return matrix, counts > 0


class SpectrumFeatures(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Azimuthally averaged log power spectrum of each image (Durall et al., 2020).

    Up-sampling layers of generators leave periodic traces (checkerboards) that show up as
    excess power at high spatial frequencies. Each image is turned into gray, Fourier
    transformed in 2-D, and its log power ``log |F|^2`` averaged over rings of equal frequency
    radius: a 1-D profile from the lowest to the highest frequency that a linear model can read.

    Parameters
    ----------
    n_bins : int, default=64
        Number of rings. Ring ``k`` covers radii ``[k, k + 1) * r_max / n_bins`` where
        ``r_max = sqrt(0.5)`` cycles per pixel (the corner of the spectrum), so features mean the
        same at every image size. Rings that hold no frequency (small images, many bins) are
        filled by linear interpolation from their neighbours.
    normalize : bool, default=True
        Subtract the first ring from every ring, i.e. divide the power by the first ring's
        (geometric mean) power. The first ring holds the mean brightness (DC) and, for images
        wider than about ``1.4 * n_bins`` pixels, the lowest other frequencies too. The profile
        then no longer depends on overall intensity or contrast scale (uint8 and [0, 1] input
        give the same features). Durall et al. divide the log
        profile by its first value instead; the difference of logs is the scale-free version.
    eps : float, default=1e-8
        Added to the power before the log.

    Attributes
    ----------
    n_features_in_ : int
        ``C * H * W`` seen by ``fit``.
    feature_names_in_ : ndarray of str
        The column names (``n_features_in_`` of them) of a data frame of flattened images given
        to ``fit``; only then defined.
    image_shape_ : tuple of int
        ``(C, H, W)`` seen by ``fit``; ``transform`` needs the same shape.

    Notes
    -----
    Input: ``uint8`` images (scaled to [0, 1]) or float images in [0, 1] (others are refused),
    shaped ``(N, C, H, W)``, ``(N, H, W, C)``, ``(N, H, W)`` or flattened ``(N, F)`` (read as
    ``1 x F`` images, whose spectrum is one-dimensional). Three-channel images are reduced
    with ITU-R 601 luma weights, others by the channel mean. The transform is per image;
    ``fit`` only records the shape.

    References
    ----------
    R. Durall, M. Keuper, J. Keuper. "Watch your Up-Convolution: CNN Based Generative Deep
    Neural Networks are Failing to Reproduce Spectral Distributions", CVPR 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skface.preprocessing import SpectrumFeatures
    >>> X = np.random.default_rng(0).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    >>> SpectrumFeatures(n_bins=16).fit_transform(X).shape
    (4, 16)
    """

    _parameter_constraints = {
        "n_bins": [Interval(Integral, 2, None, closed="left")],
        "normalize": ["boolean"],
        "eps": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, n_bins=64, normalize=True, eps=1e-8):
        self.n_bins = n_bins
        self.normalize = normalize
        self.eps = eps

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Record the image shape (nothing is learned).

        Parameters
        ----------
        X : array-like of images
            See Notes.
        y : None
            Ignored.

        Returns
        -------
        self : SpectrumFeatures
        """
        check_fit_images(self, X, reset=True)
        self._n_features_out = self.n_bins
        return self

    def transform(self, X):
        """Compute the radial log power profile of every image.

        Parameters
        ----------
        X : array-like of images
            Same image shape as seen by ``fit``.

        Returns
        -------
        features : ndarray of shape (N, n_bins), dtype float64
        """
        check_is_fitted(self)
        if self.n_bins != self._n_features_out:  # the output width and its names were fixed by fit
            raise ValueError(f"n_bins changed since fit ({self.n_bins}, fitted with "
                             f"{self._n_features_out}); fit again.")
        X, _ = check_fit_images(self, X, reset=False)
        # 0-255 floats shifted every feature by log(255 ** 2) without a word
        check_unit_floats(X, "SpectrumFeatures")
        n, c, h, w = X.shape
        gray = X.astype(np.float64)
        if X.dtype == np.uint8:
            gray /= 255.0
        gray = gray_batch(gray)
        power = np.abs(np.fft.fft2(gray)) ** 2
        log_power = np.log(power + self.eps).reshape(n, h * w)
        matrix, filled = _radial_matrix(h, w, self.n_bins)
        profile = np.asarray((matrix.T @ log_power.T).T)
        if not filled.all():
            centres = np.arange(self.n_bins)
            for row in profile:
                row[~filled] = np.interp(centres[~filled], centres[filled], row[filled])
        if self.normalize:
            profile = profile - profile[:, :1]
        return profile
