"""Turn image files into model input: loading, format normalisation, augmentation, and
classical features (spectra, residual co-occurrences).

:mod:`skface.preprocessing._loader` is the only module in skface that decodes image files; other
subpackages call :func:`open_image` / :func:`load_image` from here.
"""

from ._augment import Augmenter, AugmentSampler
from ._format import FormatNormalizer
from ._loader import (
    BACKGROUND,
    ImageLoader,
    ImageLoadError,
    image_header,
    jpeg_roundtrip,
    load_image,
    load_images,
    open_image,
)
from ._residual import ResidualCooccurrence
from ._spectrum import SpectrumFeatures

__all__ = [
    "BACKGROUND",
    "AugmentSampler",
    "Augmenter",
    "FormatNormalizer",
    "ImageLoadError",
    "ImageLoader",
    "ResidualCooccurrence",
    "SpectrumFeatures",
    "image_header",
    "jpeg_roundtrip",
    "load_image",
    "load_images",
    "open_image",
]
