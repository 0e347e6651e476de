"""Metrics for real-vs-fake face classifiers: :func:`evaluate`, :func:`tune_threshold`."""

from ._evaluate import EvaluationResult, evaluate, resolve_pos_label, tune_threshold

__all__ = ["EvaluationResult", "evaluate", "resolve_pos_label", "tune_threshold"]
