"""Co-occurrences of truncated noise residuals (SPAM / rich-model style) as a transformer."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ._common import check_fit_images, check_unit_floats, gray_batch


#: The residual filters, in feature order: name -> function of a gray batch (n, H, W).
_RESIDUALS = {
    # first-order differences
    "d1h": lambda g: g[:, :, :-1] - g[:, :, 1:],
    "d1v": lambda g: g[:, :-1, :] - g[:, 1:, :],
    # second-order differences
    "d2h": lambda g: g[:, :, :-2] - 2 * g[:, :, 1:-1] + g[:, :, 2:],
    "d2v": lambda g: g[:, :-2, :] - 2 * g[:, 1:-1, :] + g[:, 2:, :],
    # the 3x3 "KB" high-pass kernel [[-1, 2, -1], [2, -4, 2], [-1, 2, -1]] / 4
    "kb": lambda g: np.rint((
        -g[:, :-2, :-2] + 2 * g[:, :-2, 1:-1] - g[:, :-2, 2:]
        + 2 * g[:, 1:-1, :-2] - 4 * g[:, 1:-1, 1:-1] + 2 * g[:, 1:-1, 2:]
        - g[:, 2:, :-2] + 2 * g[:, 2:, 1:-1] - g[:, 2:, 2:]
    ) / 4),
}


class ResidualCooccurrence(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Co-occurrence histograms of truncated high-pass residuals of each image.

    The classical steganalysis features (SPAM, Pevny et al. 2010; rich models, Fridrich and
    Kodovsky 2012) applied to generated-image detection: they describe the fine pixel noise
    that a down-scaled CNN input throws away. Each image is turned into 8-bit gray; five
    high-pass residuals are computed (first- and second-order differences along rows and
    columns, and the 3x3 "KB" kernel divided by 4, rounded); each residual is rounded,
    truncated to ``[-truncation, truncation]`` and the joint histogram of three consecutive
    values, read along rows and along columns (counts pooled), is normalised to sum to one.

    Parameters
    ----------
    truncation : int, default=3
        ``T``: residuals are clipped to ``[-T, T]``, so each residual gives ``(2T + 1) ** 3``
        features (343 for ``T=3``) and the transform ``5 * (2T + 1) ** 3``.
    log : bool, default=True
        Return ``log(p + eps)`` instead of the probabilities ``p``: the histograms are very
        skewed (most mass near zero residuals), and linear models read log-probabilities better.
    eps : float, default=1e-4
        Added before the log.

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
    Input: ``uint8`` images, or float images in ``[0, 1]`` (multiplied by 255 and rounded, so
    both give the same features; other floats, such as 0-255, raise ``ValueError``), shaped
    ``(N, C, H, W)``, ``(N, H, W, C)``, ``(N, H, W)`` or flattened ``(N, F)`` (read as
    ``1 x F`` images). Three channels are reduced with ITU-R 601
    luma weights and rounded, others by their mean. A residual that does not fit the image
    along a direction (fewer than 3-5 pixels) contributes no counts there; one that fits in
    no direction gives an all-zero histogram. The transform is per image and adding a
    constant to an image does not change it; ``fit`` only records the shape.

    These statistics describe the whole processing chain of a file (camera or generator,
    resizing, JPEG quality), not only the generator: ``benchmarks/RESULTS.md`` shows them
    helping on sources seen in training and carrying no signal on unseen ones. Decode and
    re-encode every image the same way first (:class:`FormatNormalizer`).

    References
    ----------
    T. Pevny, P. Bas, J. Fridrich. "Steganalysis by Subtractive Pixel Adjacency Matrix",
    IEEE TIFS 5(2), 2010. J. Fridrich, J. Kodovsky. "Rich Models for Steganalysis of Digital
    Images", IEEE TIFS 7(3), 2012.

    Examples
    --------
    >>> import numpy as np
    >>> from skface.preprocessing import ResidualCooccurrence
    >>> X = np.random.default_rng(0).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    >>> ResidualCooccurrence(truncation=2).fit_transform(X).shape
    (4, 625)
    """

    _parameter_constraints = {
        "truncation": [Interval(Integral, 1, None, closed="left")],
        "log": ["boolean"],
        "eps": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, truncation=3, log=True, eps=1e-4):
        self.truncation = truncation
        self.log = log
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
        self : ResidualCooccurrence
        """
        check_fit_images(self, X, reset=True)
        self._n_features_out = len(_RESIDUALS) * (2 * self.truncation + 1) ** 3
        return self

    def transform(self, X):
        """Compute the residual co-occurrence histograms of every image.

        Parameters
        ----------
        X : array-like of images
            Same image shape as seen by ``fit``.

        Returns
        -------
        features : ndarray of shape (N, 5 * (2 * truncation + 1) ** 3), dtype float64
        """
        check_is_fitted(self)
        width = len(_RESIDUALS) * (2 * self.truncation + 1) ** 3
        if width != self._n_features_out:  # the output width and its names were fixed by fit
            raise ValueError(f"truncation changed since fit ({self.truncation} gives {width} "
                             f"features, fit gave {self._n_features_out}); fit again.")
        X, _ = check_fit_images(self, X, reset=False)
        check_unit_floats(X, "ResidualCooccurrence")
        n = X.shape[0]
        out = np.empty((n, self._n_features_out))
        # a few MiB of int32 residuals per chunk, whatever the image size
        chunk = max(1, (1 << 20) // max(1, X.shape[2] * X.shape[3]))
        for start in range(0, n, chunk):
            out[start:start + chunk] = self._histograms(X[start:start + chunk])
        return np.log(out + self.eps) if self.log else out

    def _histograms(self, X):
        n = X.shape[0]
        x = X.astype(np.float64)
        if X.dtype != np.uint8:
            x = np.rint(x * 255.0)  # the 8-bit values, as uint8 input would give them
        gray = gray_batch(x)
        gray = np.rint(gray).astype(np.int32)
        t = self.truncation
        k = 2 * t + 1
        n_bins = k**3
        offsets = (np.arange(n) * n_bins)[:, None, None]
        feats = []
        for residual in _RESIDUALS.values():
            r = np.clip(residual(gray).astype(np.int32), -t, t) + t
            counts = np.zeros(n * n_bins)
            for a, b, cc in ((r[:, :, :-2], r[:, :, 1:-1], r[:, :, 2:]),    # along rows
                             (r[:, :-2, :], r[:, 1:-1, :], r[:, 2:, :])):   # along columns
                if a.size:
                    codes = (a * k + b) * k + cc + offsets
                    counts += np.bincount(codes.ravel(), minlength=n * n_bins)
            counts = counts.reshape(n, n_bins)
            total = counts.sum(axis=1, keepdims=True)
            feats.append(np.divide(counts, total, out=np.zeros_like(counts), where=total > 0))
        return np.concatenate(feats, axis=1)
