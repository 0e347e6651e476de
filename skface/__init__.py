"""skface: tell real face photographs from AI-generated faces with scikit-learn estimators.

The estimator, the transformers and the recommended pipeline live at the top level; data-set
tools, metrics, experiments and the PyTorch modules live in their subpackages:

- :mod:`skface.datasets` -- scanning, fetching, duplicates, balancing, splits, audits, manifests;
- :mod:`skface.preprocessing` -- image loading, format normalisation, augmentation,
  spectra and residual co-occurrences;
- :mod:`skface.metrics` -- evaluation of a real-vs-fake detector;
- :mod:`skface.experiments` -- ablations, cross-source tests, figures and reports;
- :mod:`skface.nn` -- the backbone, attention blocks and focal loss (pure PyTorch).
"""

__version__ = "0.1.0.dev0"

from . import datasets, experiments, metrics, nn, preprocessing  # noqa: E402
from ._classifier import FaceCNNClassifier  # noqa: E402
from ._recommended import (  # noqa: E402
    RECOMMENDED_AUGMENT_PARAMS,
    RECOMMENDED_CLASSIFIER_PARAMS,
    RECOMMENDED_JPEG_QUALITY,
    make_recommended_pipeline,
)
from .datasets import load_demo_faces  # noqa: E402
from .metrics import evaluate  # noqa: E402
from .preprocessing import (  # noqa: E402
    AugmentSampler,
    Augmenter,
    FormatNormalizer,
    ImageLoader,
    ResidualCooccurrence,
    SpectrumFeatures,
)

__all__ = [
    "RECOMMENDED_AUGMENT_PARAMS",
    "RECOMMENDED_CLASSIFIER_PARAMS",
    "RECOMMENDED_JPEG_QUALITY",
    "AugmentSampler",
    "Augmenter",
    "FaceCNNClassifier",
    "FormatNormalizer",
    "ImageLoader",
    "ResidualCooccurrence",
    "SpectrumFeatures",
    "__version__",
    "datasets",
    "evaluate",
    "experiments",
    "load_demo_faces",
    "make_recommended_pipeline",
    "metrics",
    "nn",
    "preprocessing",
]
