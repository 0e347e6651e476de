"""Metrics for real-vs-fake face classifiers: :func:`evaluate` a fitted model or
:func:`evaluate_scores` saved ``P(fake)``, and choose a decision threshold with
:func:`tune_threshold` or :func:`best_threshold`."""

from ._evaluate import (
    EvaluationResult,
    best_threshold,
    evaluate,
    evaluate_scores,
    resolve_pos_label,
    tune_threshold,
)

__all__ = [
    "EvaluationResult",
    "best_threshold",
    "evaluate",
    "evaluate_scores",
    "resolve_pos_label",
    "tune_threshold",
]
