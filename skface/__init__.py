"""skface: tell real face photographs from AI-generated faces with scikit-learn estimators.

The public API is re-exported here; see ``__all__``.
"""

__version__ = "0.1.0.dev0"

from ._classifier import FaceCNNClassifier  # noqa: E402
from ._recommended import make_recommended_pipeline  # noqa: E402

__all__ = [
    "FaceCNNClassifier",
    "make_recommended_pipeline",
    "__version__",
]
