"""Training-time augmentation: per batch inside FaceCNNClassifier, or offline (imblearn sampler)."""

import math
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from imblearn.base import BaseSampler
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import column_or_1d

from ..utils import check_image_array, check_seed
from ..utils._labels import check_label_kinds
from ._common import LUMA, check_unit_floats
from ._loader import jpeg_roundtrip

_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float32
)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _check_range(value, name, lo, hi):
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (low, high) pair of numbers, got {value!r}.") from None
    if not (lo <= a <= b <= hi) or not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"{name} must be finite with {lo} <= low <= high <= {hi}, got "
                         f"{value!r}.")
    return a, b


def _gray(x):
    """Luma of the first three channels; the first channel of 1- and 2-channel (grey + alpha)
    images."""
    if x.shape[1] < 3:
        return x[:, 0:1]
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return LUMA[0] * r + LUMA[1] * g + LUMA[2] * b


class Augmenter(BaseEstimator):
    """Random image augmentation for training: flip, resized crop, colour jitter, blur, JPEG.

    :class:`~skface.FaceCNNClassifier` calls :meth:`augment_batch` on every training batch when
    given ``augment=Augmenter(...)``; it is never applied at predict time. The blur and JPEG
    re-compression steps follow Wang et al. (2020), who found that training on blurred and
    re-compressed images makes a fake-image detector hold up on new generators and on images
    that were re-saved.

    Each step is applied to a sample independently with its own probability. All randomness
    comes from the ``numpy.random.Generator`` passed in (or from ``random_state`` in
    :meth:`augment`), so a seed fixes the result.

    Parameters
    ----------
    flip_prob : float in [0, 1], default=0.5
        Probability of a horizontal flip.
    crop_prob : float in [0, 1], default=0.5
        Probability of a random resized crop (bilinear, back to the input size).
    crop_scale : (float, float), default=(0.8, 1.0)
        Range of the crop's area as a fraction of the image.
    crop_ratio : (float, float), default=(3/4, 4/3)
        Range of the crop's aspect ratio (width / height, in pixels), drawn log-uniformly. Where
        the drawn ratio does not fit in the image at the drawn area, the nearest one that fits
        is used, so the area always stays in ``crop_scale``.
    jitter_prob : float in [0, 1], default=0.5
        Probability of colour jitter.
    brightness, contrast, saturation : float in [0, 1], default=0.2
        Factors are drawn from ``[1 - v, 1 + v]`` (saturation and hue need 3 colour
        channels). The jitter changes the colour channels only, never an alpha channel.
    hue : float in [0, 0.5], default=0.0
        Hue rotation drawn from ``[-hue, hue]`` turns (in YIQ space).
    blur_prob : float in [0, 1], default=0.1
        Probability of a Gaussian blur.
    blur_sigma : (float, float), default=(0.1, 1.0)
        Range of the blur's standard deviation in pixels. (Wang et al. draw it from [0, 3] on
        256 px images; the default is scaled for 64 px faces.)
    jpeg_prob : float in [0, 1], default=0.1
        Probability of JPEG re-compression (in memory, with Pillow).
    jpeg_quality : (int, int), default=(30, 100)
        Range of JPEG qualities, drawn uniformly (both ends included).
    random_state : int, RandomState or None, default=None
        Seed for :meth:`augment` (``augment_batch`` uses the generator it is given).

    References
    ----------
    S.-Y. Wang, O. Wang, R. Zhang, A. Owens, A. A. Efros. "CNN-generated images are surprisingly
    easy to spot... for now", CVPR 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skface.preprocessing import Augmenter
    >>> X = np.random.default_rng(0).integers(0, 256, (4, 3, 16, 16), dtype=np.uint8)
    >>> Augmenter(random_state=0).augment(X).shape
    (4, 3, 16, 16)
    """

    _parameter_constraints = {
        "flip_prob": [Interval(Real, 0, 1, closed="both")],
        "crop_prob": [Interval(Real, 0, 1, closed="both")],
        "crop_scale": [tuple, list],
        "crop_ratio": [tuple, list],
        "jitter_prob": [Interval(Real, 0, 1, closed="both")],
        "brightness": [Interval(Real, 0, 1, closed="both")],
        "contrast": [Interval(Real, 0, 1, closed="both")],
        "saturation": [Interval(Real, 0, 1, closed="both")],
        "hue": [Interval(Real, 0, 0.5, closed="both")],
        "blur_prob": [Interval(Real, 0, 1, closed="both")],
        "blur_sigma": [tuple, list],
        "jpeg_prob": [Interval(Real, 0, 1, closed="both")],
        "jpeg_quality": [tuple, list],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        flip_prob=0.5,
        crop_prob=0.5,
        crop_scale=(0.8, 1.0),
        crop_ratio=(3 / 4, 4 / 3),
        jitter_prob=0.5,
        brightness=0.2,
        contrast=0.2,
        saturation=0.2,
        hue=0.0,
        blur_prob=0.1,
        blur_sigma=(0.1, 1.0),
        jpeg_prob=0.1,
        jpeg_quality=(30, 100),
        random_state=None,
    ):
        self.flip_prob = flip_prob
        self.crop_prob = crop_prob
        self.crop_scale = crop_scale
        self.crop_ratio = crop_ratio
        self.jitter_prob = jitter_prob
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue
        self.blur_prob = blur_prob
        self.blur_sigma = blur_sigma
        self.jpeg_prob = jpeg_prob
        self.jpeg_quality = jpeg_quality
        self.random_state = random_state

    def _checked(self):
        self._validate_params()
        scale = _check_range(self.crop_scale, "crop_scale", 1e-6, 1.0)
        ratio = _check_range(self.crop_ratio, "crop_ratio", 1e-6, math.inf)
        sigma = _check_range(self.blur_sigma, "blur_sigma", 0.0, math.inf)
        quality = _check_range(self.jpeg_quality, "jpeg_quality", 1, 100)
        if any(float(q) != int(q) for q in quality):
            raise ValueError(f"jpeg_quality must hold integers, got {self.jpeg_quality!r}.")
        return scale, ratio, sigma, (int(quality[0]), int(quality[1]))

    def augment_batch(self, X, rng):
        """Augment one batch (the contract ``FaceCNNClassifier(augment=...)`` calls).

        Parameters
        ----------
        X : torch.FloatTensor of shape (N, C, H, W)
            Images in [0, 1] on the CPU. Not modified.
        rng : numpy.random.Generator
            Source of all randomness; ``None`` uses ``random_state``.

        Returns
        -------
        X_aug : torch.FloatTensor of shape (N, C, H, W)
            Augmented images in [0, 1].
        """
        scale, ratio, sigma, quality = self._checked()
        if rng is None:
            rng = np.random.default_rng(check_seed(self.random_state))
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator or None; got "
                            f"{type(rng).__name__}.")
        if not isinstance(X, torch.Tensor) or X.ndim != 4:
            raise ValueError(
                "augment_batch expects a 4-D torch tensor (N, C, H, W); got "
                f"{type(X).__name__} of shape {tuple(getattr(X, 'shape', ()))}."
            )
        x = X.detach().to(dtype=torch.float32, copy=True)
        if x.numel() and not (float(x.min()) >= 0.0 and float(x.max()) <= 1.0):
            # the transforms clamp to [0, 1]: 0-255 floats came out white, NaN passed through
            raise ValueError(f"augment_batch takes images in [0, 1]; got values in "
                             f"[{float(x.min()):.8g}, {float(x.max()):.8g}] (pass 8-bit "
                             "pixels as uint8 to the estimator, which scales them).")
        n, c, h, w = x.shape
        if self.jpeg_prob > 0 and c not in (1, 3):  # checked whether or not a JPEG is drawn
            raise ValueError(
                f"JPEG re-compression (jpeg_prob={self.jpeg_prob}) needs 1- or 3-channel images, "
                f"got {c} channels; set jpeg_prob=0 for them."
            )
        if n == 0:
            return x
        # Draw every random number for every sample, in a fixed order, whatever gets applied:
        # the result then depends only on the generator's state.
        apply = rng.random((n, 5)) < np.array(
            [self.flip_prob, self.crop_prob, self.jitter_prob, self.blur_prob, self.jpeg_prob]
        )
        area = rng.uniform(scale[0], scale[1], n)
        log_ratio = rng.uniform(math.log(ratio[0]), math.log(ratio[1]), n)
        offset = rng.random((n, 2))
        factors = rng.uniform(-1.0, 1.0, (n, 4)) * np.array(
            [self.brightness, self.contrast, self.saturation, self.hue]
        )
        sigmas = rng.uniform(sigma[0], sigma[1], n)
        qualities = rng.integers(quality[0], quality[1] + 1, n)

        if apply[:, 0].any():
            flip = torch.from_numpy(apply[:, 0]).view(n, 1, 1, 1)
            x = torch.where(flip, x.flip(-1), x)
        if apply[:, 1].any():
            idx = np.flatnonzero(apply[:, 1])
            x[idx] = self._crop(x[idx], area[idx], log_ratio[idx], offset[idx])
        if apply[:, 2].any():
            idx = np.flatnonzero(apply[:, 2])
            x[idx] = self._jitter(x[idx], factors[idx])
        if apply[:, 3].any():
            idx = np.flatnonzero(apply[:, 3])
            x[idx] = self._blur(x[idx], sigmas[idx])
        if apply[:, 4].any():
            for i in np.flatnonzero(apply[:, 4]):
                x[i] = self._jpeg(x[i], int(qualities[i]))
        return x.clamp_(0.0, 1.0)

    @staticmethod
    def _crop(x, area, log_ratio, offset):
        h, w = x.shape[-2:]
        # the ratio in pixels (it had been taken in fractions of a non-square image), clamped
        # to what fits the image at the drawn area: a side capped at the image's had shrunk
        # the area below crop_scale (0.775 for 0.8) and lost the drawn ratio
        ratio = np.clip(np.exp(log_ratio), area * w / h, w / (area * h))
        cw = np.minimum(np.sqrt(area * ratio * h / w), 1.0)  # fraction of the width kept
        ch = np.minimum(np.sqrt(area / ratio * w / h), 1.0)
        cx = (2.0 * offset[:, 0] - 1.0) * (1.0 - cw)  # crop centre in [-1, 1] coordinates
        cy = (2.0 * offset[:, 1] - 1.0) * (1.0 - ch)
        theta = np.zeros((len(x), 2, 3), dtype=np.float32)
        theta[:, 0, 0], theta[:, 0, 2] = cw, cx
        theta[:, 1, 1], theta[:, 1, 2] = ch, cy
        grid = F.affine_grid(torch.from_numpy(theta), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    @staticmethod
    def _jitter(x, factors):
        # the colour channels only: an alpha channel (grey + alpha, RGBA) is left as it is (the
        # brightness had changed it), and RGBA gets saturation and hue like RGB
        k = 3 if x.shape[1] >= 3 else 1
        x, alpha = x[:, :k], x[:, k:]
        f = torch.from_numpy(factors.astype(np.float32))
        view = (-1, 1, 1, 1)
        x = (x * (1.0 + f[:, 0]).view(view)).clamp(0.0, 1.0)
        mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
        x = ((x - mean) * (1.0 + f[:, 1]).view(view) + mean).clamp(0.0, 1.0)
        if k == 3:
            gray = _gray(x)
            x = ((x - gray) * (1.0 + f[:, 2]).view(view) + gray).clamp(0.0, 1.0)
            if bool((f[:, 3] != 0).any()):
                angle = f[:, 3] * 2.0 * math.pi
                cos, sin = torch.cos(angle), torch.sin(angle)
                rot = torch.zeros(len(x), 3, 3)
                rot[:, 0, 0] = 1.0
                rot[:, 1, 1], rot[:, 1, 2] = cos, -sin
                rot[:, 2, 1], rot[:, 2, 2] = sin, cos
                mats = _YIQ_TO_RGB @ rot @ _RGB_TO_YIQ  # (n, 3, 3)
                x = torch.einsum("nij,njhw->nihw", mats, x).clamp(0.0, 1.0)
        return torch.cat([x, alpha], dim=1) if alpha.shape[1] else x

    @staticmethod
    def _blur(x, sigmas):
        n, c, h, w = x.shape
        radius = max(1, int(math.ceil(3.0 * float(sigmas.max()))))
        taps = torch.arange(-radius, radius + 1, dtype=torch.float32)
        s = torch.from_numpy(np.maximum(sigmas, 1e-3).astype(np.float32)).view(n, 1)
        kernel = torch.exp(-(taps.view(1, -1) ** 2) / (2.0 * s**2))
        kernel = kernel / kernel.sum(dim=1, keepdim=True)  # (n, K)
        kernel = kernel.repeat_interleave(c, dim=0)  # one kernel per (sample, channel)
        mode = "reflect" if radius < min(h, w) else "replicate"
        y = x.reshape(1, n * c, h, w)
        y = F.pad(y, (radius, radius, 0, 0), mode=mode)
        y = F.conv2d(y, kernel.view(n * c, 1, 1, -1), groups=n * c)
        y = F.pad(y, (0, 0, radius, radius), mode=mode)
        y = F.conv2d(y, kernel.view(n * c, 1, -1, 1), groups=n * c)
        return y.view(n, c, h, w)

    @staticmethod
    def _jpeg(img, quality):
        px = (img * 255.0).round_().clamp_(0, 255).to(torch.uint8).numpy()
        px = px[0] if px.shape[0] == 1 else px.transpose(1, 2, 0)
        out, _ = jpeg_roundtrip(px, quality)
        out = out[None] if out.ndim == 2 else out.transpose(2, 0, 1)
        return torch.from_numpy(np.ascontiguousarray(out)).to(torch.float32) / 255.0

    def augment(self, X):
        """Augment a NumPy batch with a generator seeded from ``random_state``.

        Parameters
        ----------
        X : array-like of images
            ``uint8`` or float [0, 1] images, ``(N, C, H, W)`` or ``(N, H, W, C)`` or ``(N, H, W)``.

        Returns
        -------
        X_aug : ndarray of shape (N, C, H, W)
            Same dtype as the input (uint8, or float32 in [0, 1]).
        """
        images = check_image_array(X, name="Augmenter input")
        rng = np.random.default_rng(check_seed(self.random_state))
        return _augment_numpy(self, images, rng)


def _augment_numpy(augmenter, images, rng, batch_size=256):
    """Run ``augmenter.augment_batch`` over a NumPy (N, C, H, W) array, keeping its dtype."""
    is_uint8 = images.dtype == np.uint8
    check_unit_floats(images, "Augmentation")
    out = np.empty(images.shape, dtype=images.dtype)
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
        batch = batch.float() / 255.0 if is_uint8 else batch.float()
        res = augmenter.augment_batch(batch, rng)
        if is_uint8:
            res = (res * 255.0).round_().clamp_(0, 255).to(torch.uint8)
        out[start : start + batch_size] = res.numpy()
    return out


class AugmentSampler(BaseSampler):
    """Append augmented copies of the training images (offline augmentation for imblearn).

    An imbalanced-learn sampler: inside ``imblearn.pipeline.Pipeline`` it runs during ``fit``
    only, so predictions see the original images.

    Parameters
    ----------
    augmenter : Augmenter or None, default=None
        Anything with ``augment_batch(X, rng)``; ``None`` means ``Augmenter()``.
    n_copies : int >= 0 or float > 0, default=1
        An int ``k`` appends ``k`` augmented copies of every sample. A float ``r`` appends
        ``round(r * N)`` augmented samples, picked at random (each image once before any twice).
    image_shape : (C, H, W) or None, default=None
        Needed for flattened ``(N, F)`` input, which is reshaped to images and flattened back.
    random_state : int, RandomState or None, default=None
        Seed for the choice of samples and for the augmentation.

    Attributes
    ----------
    n_features_in_ : int
        ``C * H * W`` of the images seen.
    sample_indices_ : ndarray of shape (n_out,)
        For each output row, the input row it comes from.

    Notes
    -----
    The output keeps the input's layout and dtype (uint8, or float in [0, 1]): the original
    samples first, then the augmented copies.

    Examples
    --------
    >>> import numpy as np
    >>> from skface.preprocessing import AugmentSampler
    >>> X = np.zeros((4, 3, 8, 8), dtype=np.uint8); y = np.array([0, 0, 1, 1])
    >>> X_res, y_res = AugmentSampler(n_copies=2, random_state=0).fit_resample(X, y)
    >>> X_res.shape, y_res.tolist()
    ((12, 3, 8, 8), [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1])
    """

    _sampling_type = "bypass"
    _parameter_constraints = {
        "augmenter": [None, HasMethods(["augment_batch"])],
        "n_copies": [
            Interval(Integral, 0, None, closed="left"),
            Interval(Real, 0, None, closed="neither"),
        ],
        "image_shape": [None, tuple, list],
        "random_state": ["random_state"],
    }

    def __init__(self, augmenter=None, n_copies=1, image_shape=None, random_state=None):
        self.augmenter = augmenter
        self.n_copies = n_copies
        self.image_shape = image_shape
        self.random_state = random_state

    def fit(self, X, y):
        """Check the input (use :meth:`fit_resample`).

        Parameters
        ----------
        X : array-like of images
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : AugmentSampler
        """
        self._validate_params()
        self._check_images(X, y)
        return self

    def _check_images(self, X, y):
        if np.ndim(X) == 2 and self.image_shape is None:
            raise ValueError(
                "AugmentSampler got flattened (n_samples, n_features) input; set image_shape="
                "(C, H, W) so the rows can be read as images."
            )
        images = check_image_array(X, image_shape=self.image_shape, name="AugmentSampler input")
        y = column_or_1d(y, warn=True)
        if len(y) != len(images):
            raise ValueError(f"X has {len(images)} samples but y has {len(y)}.")
        check_label_kinds(y)  # a None or NaN label was copied into the output
        self.n_features_in_ = int(np.prod(images.shape[1:]))
        self.sampling_strategy_ = "bypass"
        return images, y

    @_fit_context(prefer_skip_nested_validation=False)
    def fit_resample(self, X, y):
        """Return the input followed by augmented copies.

        Parameters
        ----------
        X : array-like of images
            ``(N, C, H, W)``, ``(N, H, W, C)``, ``(N, H, W)``, or ``(N, F)`` with ``image_shape``.
        y : array-like of shape (N,)

        Returns
        -------
        X_resampled : ndarray
            Input layout and dtype, ``N + n_added`` rows.
        y_resampled : ndarray of shape (N + n_added,)
        """
        flat = np.ndim(X) == 2
        images, y = self._check_images(X, y)
        out, y_out = self._fit_resample(images, y)
        if flat:
            out = out.reshape(len(out), -1)
        elif np.ndim(X) == 3:
            out = out[:, 0]
        elif np.ndim(X) == 4 and np.shape(X)[1:] != images.shape[1:]:
            out = out.transpose(0, 2, 3, 1)  # give channels-last input back channels-last
        given = np.asarray(X)
        if given.dtype.kind in "fiu" and out.dtype != given.dtype:
            # float64 came back float32 (the originals no longer the input) and int64 as uint8:
            # the input's own rows, then the copies in its dtype
            out = np.concatenate([given, out[len(given):].astype(given.dtype)])
        return out, y_out

    def _fit_resample(self, images, y):
        n = len(images)
        seed = check_seed(self.random_state)
        rng = np.random.default_rng(seed)
        if isinstance(self.n_copies, Integral):
            picks = np.tile(np.arange(n), int(self.n_copies))
        else:
            m = int(round(float(self.n_copies) * n))
            rounds = [rng.permutation(n) for _ in range(-(-m // n))]
            picks = np.concatenate(rounds)[:m] if rounds else np.empty(0, dtype=np.int64)
        augmenter = Augmenter() if self.augmenter is None else self.augmenter
        extra = _augment_numpy(augmenter, images[picks], rng)
        out = np.concatenate([images, extra])
        self.sample_indices_ = np.concatenate([np.arange(n), picks])
        return out, y[self.sample_indices_]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.dataframe = False
        tags.input_tags.three_d_array = True
        return tags
