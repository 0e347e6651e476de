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

import importlib
from typing import TYPE_CHECKING

# Where each top-level name lives. They are imported on first use (PEP 562), so that
# ``import skface`` and the ``skface`` command start without loading PyTorch: ``skface --help``
# answers at once, and Ctrl-C during the first seconds reaches the command's own handler.
_SUBPACKAGES = ("datasets", "experiments", "metrics", "nn", "preprocessing")
_LAZY = {
    "FaceCNNClassifier": "._classifier",
    "RECOMMENDED_AUGMENT_PARAMS": "._recommended",
    "RECOMMENDED_CLASSIFIER_PARAMS": "._recommended",
    "RECOMMENDED_JPEG_QUALITY": "._recommended",
    "make_recommended_pipeline": "._recommended",
    "load_demo_faces": ".datasets",
    "evaluate": ".metrics",
    "AugmentSampler": ".preprocessing",
    "Augmenter": ".preprocessing",
    "FormatNormalizer": ".preprocessing",
    "ImageLoader": ".preprocessing",
    "ResidualCooccurrence": ".preprocessing",
    "SpectrumFeatures": ".preprocessing",
}

if TYPE_CHECKING:  # what static tools and IDEs see
    from . import datasets, experiments, metrics, nn, preprocessing  # noqa: F401
    from ._classifier import FaceCNNClassifier  # noqa: F401
    from ._recommended import (  # noqa: F401
        RECOMMENDED_AUGMENT_PARAMS,
        RECOMMENDED_CLASSIFIER_PARAMS,
        RECOMMENDED_JPEG_QUALITY,
        make_recommended_pipeline,
    )
    from .datasets import load_demo_faces  # noqa: F401
    from .metrics import evaluate  # noqa: F401
    from .preprocessing import (  # noqa: F401
        AugmentSampler,
        Augmenter,
        FormatNormalizer,
        ImageLoader,
        ResidualCooccurrence,
        SpectrumFeatures,
    )


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


# every name above: the subpackages, the names imported on first use, and the version
__all__ = sorted(["__version__", *_SUBPACKAGES, *_LAZY])
