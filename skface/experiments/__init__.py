"""Experiments: the ablation runner, cross-source tests, figures, model explanations and reports."""

from ._ablation import (
    AblationDetails,
    check_split,
    default_param_grid,
    run_ablation,
    validation_fit_params,
)
from ._cross_source import CrossSourceDetails, cross_source_evaluate
from ._explain import attention_maps, find_face_classifier, grad_cam, plot_attention
from ._plots import (
    plot_confusion_matrix,
    plot_misclassified,
    plot_pr_curves,
    plot_roc_curves,
    plot_training_curves,
    save_figure,
)
from ._report import write_report

__all__ = [
    "AblationDetails",
    "attention_maps",
    "check_split",
    "CrossSourceDetails",
    "cross_source_evaluate",
    "default_param_grid",
    "find_face_classifier",
    "grad_cam",
    "plot_attention",
    "plot_confusion_matrix",
    "plot_misclassified",
    "plot_pr_curves",
    "plot_roc_curves",
    "plot_training_curves",
    "run_ablation",
    "save_figure",
    "validation_fit_params",
    "write_report",
]
