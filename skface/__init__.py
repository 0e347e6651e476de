"""skface: tell real face photographs from AI-generated faces with scikit-learn estimators.

The public API is re-exported here; see ``__all__``.
"""

__version__ = "0.1.0.dev0"

from ._classifier import FaceCNNClassifier  # noqa: E402
from .datasets import (  # noqa: E402
    LeaveOneSourceOut,
    audit_shortcuts,
    build_dataset,
    fetch_ai_generated_faces,
    fetch_all_these_people,
    fetch_ffhq,
    fetch_lfw,
    fetch_tpdne,
    find_duplicates,
    load_faces,
    predefined_split,
    read_manifest,
    train_val_test_split,
    write_manifest,
)
from .preprocessing import (  # noqa: E402
    AugmentSampler,
    Augmenter,
    FormatNormalizer,
    ImageLoader,
    SpectrumFeatures,
    load_images,
)
from .metrics import EvaluationResult, evaluate, tune_threshold  # noqa: E402
from .experiments import cross_source_evaluate, run_ablation, write_report  # noqa: E402
from ._recommended import make_recommended_pipeline  # noqa: E402

__all__ = [
    "FaceCNNClassifier",
    "make_recommended_pipeline",
    "__version__",
]
# skface.datasets
__all__ += [
    "LeaveOneSourceOut",
    "audit_shortcuts",
    "build_dataset",
    "fetch_ai_generated_faces",
    "fetch_all_these_people",
    "fetch_ffhq",
    "fetch_lfw",
    "fetch_tpdne",
    "find_duplicates",
    "load_faces",
    "predefined_split",
    "read_manifest",
    "train_val_test_split",
    "write_manifest",
]
# skface.datasets (demo data, by the product helper)
from .datasets import load_demo_faces  # noqa: E402

__all__ += ["load_demo_faces"]
# skface.preprocessing
__all__ += [
    "AugmentSampler",
    "Augmenter",
    "FormatNormalizer",
    "ImageLoader",
    "SpectrumFeatures",
    "load_images",
]
# skface.metrics and skface.experiments
__all__ += [
    "EvaluationResult",
    "cross_source_evaluate",
    "evaluate",
    "run_ablation",
    "tune_threshold",
    "write_report",
]
