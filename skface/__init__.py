"""skface: tell real face photographs from AI-generated faces with scikit-learn estimators.

The public API is re-exported here; see ``__all__``.
"""

__version__ = "0.1.0.dev0"

from ._classifier import FaceCNNClassifier  # noqa: E402
from .experiments import cross_source_evaluate, run_ablation, write_report  # noqa: E402
from .metrics import EvaluationResult, evaluate, tune_threshold  # noqa: E402

__all__ = [
    "EvaluationResult",
    "FaceCNNClassifier",
    "cross_source_evaluate",
    "evaluate",
    "run_ablation",
    "tune_threshold",
    "write_report",
    "__version__",
]
