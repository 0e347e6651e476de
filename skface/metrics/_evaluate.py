"""Evaluate a fitted binary classifier: the brief's metrics, ranking metrics and per-source figures.

Label convention
----------------
skface treats *fake* (AI-generated) as the positive class. :func:`resolve_pos_label` decides which
of an estimator's two ``classes_`` that is:

- labels ``{0, 1}`` (also ``{0.0, 1.0}`` or ``{False, True}``): the positive class is ``1``
  (= ``classes_[1]``);
- labels ``{"real", "fake"}`` (any letter case): the positive class is ``"fake"``. Note that sorting
  puts ``"fake"`` first, so here the positive class is ``classes_[0]``;
- anything else must be named with ``pos_label=``; otherwise a ``ValueError`` says so.
"""

import json
import math
import numbers
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ..utils import python_value
from ..utils._labels import check_label_kinds, one_label_per_sample, resolve_pos_label
from ..utils._validation import is_whole_number, missing_positions

__all__ = ["EvaluationResult", "best_threshold", "evaluate", "evaluate_scores",
           "resolve_pos_label", "tune_threshold"]

_METRIC_NAMES = (
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "specificity",
    "f1",
    "roc_auc",
    "average_precision",
    "eer",
    "eer_threshold",
)


def _check_proba_estimator(estimator):
    if not hasattr(estimator, "predict_proba"):
        raise TypeError(
            f"{type(estimator).__name__} has no predict_proba; skface metrics need probabilities "
            f"for ROC-AUC, average precision, EER and threshold tuning. Wrap it in "
            f"sklearn.calibration.CalibratedClassifierCV or use a probabilistic classifier."
        )
    check_is_fitted(estimator)
    if not hasattr(estimator, "classes_"):
        raise TypeError(f"{type(estimator).__name__} has no classes_; is it a classifier?")


def _checked_proba(estimator, X):
    """Return ``predict_proba(X)`` as float64, checked: one column per class, all finite."""
    proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    n_classes = len(estimator.classes_)
    if proba.ndim != 2 or proba.shape[1] != n_classes:
        raise ValueError(
            f"predict_proba returned shape {proba.shape}; expected (n_samples, {n_classes})."
        )
    if not np.all(np.isfinite(proba)):
        raise ValueError("predict_proba returned NaN or infinite values.")
    return proba


def _positive_column(estimator, pos_label):
    """Index of ``pos_label`` among the estimator's ``classes_``."""
    return [python_value(c) for c in np.asarray(estimator.classes_, dtype=object)].index(pos_label)


def _predicts_by_argmax(estimator):
    """Whether ``estimator.predict`` is the class of highest ``predict_proba``, so that one
    prediction pass gives both. True for :class:`skface.FaceCNNClassifier` (which marks itself
    with ``_predict_is_proba_argmax``) and pipelines ending in one; other estimators (threshold
    wrappers, searches, third-party classifiers) keep their own ``predict``, and so does a
    subclass that redefines ``predict`` or ``predict_proba``."""
    while isinstance(estimator, Pipeline):
        estimator = estimator[-1]
    cls = type(estimator)
    for base in cls.__mro__:
        if "_predict_is_proba_argmax" in vars(base):
            return (vars(base)["_predict_is_proba_argmax"] is True
                    and cls.predict is base.predict and cls.predict_proba is base.predict_proba)
    return False


def _equal_error_rate(is_pos, scores):
    """EER: the error rate where the false-positive and false-negative rates are equal.

    The threshold is a cut at which they are equal when one exists; otherwise the rates cross
    between two cuts, the EER is interpolated there, and the nearer of the two cuts is given.
    """
    is_pos = np.asarray(is_pos, dtype=bool)
    n_pos, n_neg = int(is_pos.sum()), int((~is_pos).sum())
    # every cut (no collinear point dropped: an exact crossing may lie on a straight run)
    fpr, tpr, thr = roc_curve(is_pos, scores, drop_intermediate=False)
    fnr = 1.0 - tpr
    # the sign of FNR - FPR from whole counts, so that an exact crossing is found exactly
    fn = n_pos - np.rint(tpr * n_pos)
    fp = np.rint(fpr * n_neg)
    diff = fn * n_neg - fp * n_pos  # starts > 0 (nothing flagged), ends < 0 (all flagged)
    i = int(np.argmax(diff <= 0))
    if diff[i] == 0 or i == 0:
        eer, threshold = fpr[i], thr[i]
    else:
        d0, d1 = fnr[i - 1] - fpr[i - 1], fnr[i] - fpr[i]
        t = d0 / (d0 - d1)
        eer = fpr[i - 1] + t * (fpr[i] - fpr[i - 1])
        threshold = thr[i - 1] if t < 0.5 else thr[i]
    threshold = float(threshold)
    if not math.isfinite(threshold):
        threshold = 1.0
    return float(eer), threshold


def _ratio(num, den):
    return float(num) / float(den) if den else None


@dataclass(eq=False)
class EvaluationResult:
    """Metrics of a binary real-vs-fake classifier on one labelled set (fake = positive class).

    Metrics that are undefined on the evaluated set are ``None`` (for example precision when nothing
    was predicted fake, recall on a set without fakes, ROC-AUC on a set with only one class).

    Attributes
    ----------
    n_samples : int
    pos_label, neg_label : int or str
        The fake (positive) and real (negative) labels.
    threshold : float or None
        The probability threshold used (``P(fake) >= threshold`` means fake), or ``None`` when the
        estimator's own ``predict`` decided.
    accuracy, balanced_accuracy, precision, recall, specificity, f1 : float or None
        Threshold metrics from the confusion matrix; recall is the share of fakes caught,
        specificity the share of real faces kept. ``None`` where undefined: in the per-source
        results of a source holding one class, balanced accuracy, precision and F1 (and recall
        or specificity, whichever class is absent).
    roc_auc, average_precision : float or None
        Ranking metrics of ``P(fake)``.
    eer, eer_threshold : float or None
        Equal error rate and the threshold where it occurs.
    confusion_matrix : list of list of int
        ``[[tn, fp], [fn, tp]]``: rows are true ``[neg_label, pos_label]``, columns predicted.
    per_source : dict of str to EvaluationResult
        The same figures for each source (empty when no sources were given).
    y_true, y_score, y_pred, sources : ndarray or None
        The evaluated labels, ``P(fake)``, predictions and sources, kept for plots. They are written
        by ``to_dict(include_predictions=True)`` only.
    """

    n_samples: int
    pos_label: object
    neg_label: object
    threshold: object = None
    accuracy: object = None
    balanced_accuracy: object = None
    precision: object = None
    recall: object = None
    specificity: object = None
    f1: object = None
    roc_auc: object = None
    average_precision: object = None
    eer: object = None
    eer_threshold: object = None
    confusion_matrix: list = field(default_factory=list)
    per_source: dict = field(default_factory=dict)
    y_true: object = field(default=None, repr=False)
    y_score: object = field(default=None, repr=False)
    y_pred: object = field(default=None, repr=False)
    sources: object = field(default=None, repr=False)

    _ARRAY_FIELDS = ("y_true", "y_score", "y_pred", "sources")

    @property
    def labels(self):
        """``[neg_label, pos_label]``, the row/column order of ``confusion_matrix``."""
        return [self.neg_label, self.pos_label]

    @property
    def tn(self):
        """True negatives: real faces kept as real."""
        return self.confusion_matrix[0][0]

    @property
    def fp(self):
        """False positives: real faces called fake."""
        return self.confusion_matrix[0][1]

    @property
    def fn(self):
        """False negatives: fakes that passed as real."""
        return self.confusion_matrix[1][0]

    @property
    def tp(self):
        """True positives: fakes caught."""
        return self.confusion_matrix[1][1]

    def metrics(self):
        """Return the scalar metrics as a flat ``dict`` (no arrays, no per-source part).

        Returns
        -------
        metrics : dict
            ``n_samples``, ``threshold``, the metrics (``accuracy``, ``precision``, ...; None
            where undefined) and the confusion counts ``tn``, ``fp``, ``fn``, ``tp``.
        """
        out = {"n_samples": self.n_samples, "threshold": self.threshold}
        out.update({name: getattr(self, name) for name in _METRIC_NAMES})
        out.update({"tn": self.tn, "fp": self.fp, "fn": self.fn, "tp": self.tp})
        return out

    def to_dict(self, include_predictions=False):
        """Return a JSON-able ``dict``; :meth:`from_dict` reverses it.

        Parameters
        ----------
        include_predictions : bool, default=False
            Also write ``y_true``, ``y_score``, ``y_pred`` and ``sources`` (one entry per
            sample), here and in each ``per_source`` result.

        Returns
        -------
        data : dict
            Plain Python values (lists, not arrays).
        """
        out = {}
        for f in fields(self):
            if f.name in self._ARRAY_FIELDS:
                continue
            value = getattr(self, f.name)
            if f.name == "per_source":
                value = {
                    # with the predictions too: a round trip lost each source's curves
                    str(k): v.to_dict(include_predictions=include_predictions)
                    for k, v in value.items()
                }
            elif f.name == "confusion_matrix":
                value = [[int(c) for c in row] for row in value]
            else:
                value = python_value(value)
            out[f.name] = value
        if include_predictions:
            for name in self._ARRAY_FIELDS:
                arr = getattr(self, name)
                out[name] = (None if arr is None
                             else [python_value(v) for v in np.asarray(arr).tolist()])
        return out

    @classmethod
    def from_dict(cls, data):
        """Rebuild a result from :meth:`to_dict` output.

        Parameters
        ----------
        data : dict
            What :meth:`to_dict` returned (or its JSON, parsed).

        Returns
        -------
        result : EvaluationResult

        Raises
        ------
        ValueError
            On unknown or missing fields.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"EvaluationResult.from_dict takes a dict; got {type(data).__name__}.")
        data = dict(data)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"Unknown EvaluationResult fields: {sorted(unknown)}.")
        missing = [k for k in ("n_samples", "pos_label", "neg_label") if k not in data]
        if missing:
            raise ValueError(f"EvaluationResult fields {missing} are missing.")
        cm = data.get("confusion_matrix")
        if cm is not None and cm != [] and np.shape(cm) != (2, 2):
            raise ValueError(f"confusion_matrix must be [[tn, fp], [fn, tp]]; got {cm!r}.")
        if not isinstance(data.get("per_source") or {}, Mapping):
            raise ValueError("per_source must be a dict {source: result}.")
        data["per_source"] = {
            k: cls.from_dict(v) for k, v in (data.get("per_source") or {}).items()
        }
        for name in cls._ARRAY_FIELDS:
            if data.get(name) is not None:
                arr = np.asarray(data[name])
                if name == "y_score":
                    arr = arr.astype(np.float64)
                data[name] = arr
        return cls(**data)

    def to_json(self, include_predictions=False, **kwargs):
        """Return the result as a JSON string (see :meth:`to_dict`).

        Parameters
        ----------
        include_predictions : bool, default=False
            Also write the per-sample arrays.
        **kwargs
            Passed to :func:`json.dumps` (``indent=2`` unless given).

        Returns
        -------
        text : str
        """
        kwargs.setdefault("indent", 2)
        return json.dumps(self.to_dict(include_predictions=include_predictions), **kwargs)

    @classmethod
    def from_json(cls, text):
        """Rebuild a result from :meth:`to_json` output.

        Parameters
        ----------
        text : str
            The JSON text.

        Returns
        -------
        result : EvaluationResult
        """
        return cls.from_dict(json.loads(text))

    def __eq__(self, other):
        if not isinstance(other, EvaluationResult):
            return NotImplemented
        return self.to_dict(include_predictions=True) == other.to_dict(include_predictions=True)

    def __str__(self):
        def fmt(v):
            return "n/a" if v is None else f"{v:.4f}"

        lines = [f"EvaluationResult on {self.n_samples} images (positive = {self.pos_label!r})"]
        shown = ("accuracy", "precision", "recall", "f1", "roc_auc", "average_precision", "eer")
        for name in shown:
            lines.append(f"  {name:<18}{fmt(getattr(self, name))}")
        lines.append(f"  confusion matrix (rows true {self.labels!r}): {self.confusion_matrix}")
        for src, res in self.per_source.items():
            lines.append(
                f"  source {src}: n={res.n_samples} accuracy={fmt(res.accuracy)} "
                f"roc_auc={fmt(res.roc_auc)}"
            )
        return "\n".join(lines)


def _result_from_scores(y_true, y_score, y_pred, pos_label, neg_label, threshold, sources=None):
    """Compute every figure from labels, ``P(fake)`` and predictions; one class is allowed."""
    is_pos = y_true == pos_label
    pred_pos = y_pred == pos_label
    tp = int(np.sum(is_pos & pred_pos))
    fn = int(np.sum(is_pos & ~pred_pos))
    fp = int(np.sum(~is_pos & pred_pos))
    tn = int(np.sum(~is_pos & ~pred_pos))
    n = len(y_true)
    recall = _ratio(tp, tp + fn)
    specificity = _ratio(tn, tn + fp)
    both = bool(is_pos.any() and (~is_pos).any())
    res = EvaluationResult(
        n_samples=int(n),
        pos_label=pos_label,
        neg_label=neg_label,
        threshold=None if threshold is None else float(threshold),
        accuracy=_ratio(tp + tn, n),
        balanced_accuracy=(recall + specificity) / 2 if both else None,
        # on a source of one class (the per-source figures), precision is 0 or 1 by construction
        # and F1 follows it: neither says anything, so both are undefined there
        precision=_ratio(tp, tp + fp) if both else None,
        recall=recall,
        specificity=specificity,
        f1=_ratio(2 * tp, 2 * tp + fp + fn) if both else None,
        confusion_matrix=[[tn, fp], [fn, tp]],
        y_true=y_true,
        y_score=y_score,
        y_pred=y_pred,
        sources=sources,
    )
    if both:
        res.roc_auc = float(roc_auc_score(is_pos, y_score))
        res.average_precision = float(average_precision_score(is_pos, y_score))
        res.eer, res.eer_threshold = _equal_error_rate(is_pos, y_score)
    return res


def _as_label_array(y, name="y"):
    """Labels as a 1-D object array of Python values. A column ``(n, 1)`` is one label per
    sample; other shapes are refused (flattening a ``(n, 2)`` array doubled the samples), and
    an iterator is read once into a list (``np.asarray`` made it a single label)."""
    arr = one_label_per_sample(y, name, dtype=object)
    if arr.size == 0:
        raise ValueError(f"{name} is empty.")
    # None (or a NaN) had become the other class, with full figures and no word
    check_label_kinds(arr, name)
    return np.array([python_value(v) for v in arr], dtype=object)


def _known_labels(y_true, pos, neg, name="y"):
    """``y_true`` as the estimator's own class objects; labels it does not know are refused.
    Compared by value, as scikit-learn does (1.0 is the class 1; "1" is not)."""
    unknown = sorted({repr(v) for v in y_true if not (v == pos or v == neg)})
    if unknown:
        raise ValueError(
            f"{name} holds labels {', '.join(unknown)} that the estimator does not know; its "
            f"classes are {[neg, pos]!r}."
        )
    return np.array([pos if v == pos else neg for v in y_true], dtype=object)


def _as_source_array(sources, n):
    """Sources as an object array of ``str``, one per sample.

    A missing source (None, NaN, pandas NA) raises ``ValueError`` instead of becoming a source
    named ``"None"`` or ``"nan"``.
    """
    raw = np.asarray(sources, dtype=object).ravel()
    if len(raw) != n:
        raise ValueError(f"sources has {len(raw)} entries but y has {n}; they must match.")
    missing = missing_positions(raw)
    if missing:
        raise ValueError(
            f"sources holds {len(missing)} missing values (None or NaN, first at index "
            f"{missing[0]}); every sample needs the name of its source.")
    return np.asarray([str(s) for s in raw], dtype=object)


_EVALUATION_NEEDS_BOTH = (
    "accuracy, precision, recall, F1, ROC-AUC and the confusion matrix need real and fake "
    "samples. Use a balanced split; to study one source, pass sources= or use "
    "skface.experiments.cross_source_evaluate.")
_TUNING_NEEDS_BOTH = ("a threshold can only be chosen on validation samples of both classes, "
                      "real and fake.")


def _check_both_classes(y_true, what="The evaluation set", why=_EVALUATION_NEEDS_BOTH):
    """Raise unless ``y_true`` holds exactly two labels; return them. ``why`` ends the
    one-class message."""
    present = set(y_true.tolist())
    if len(present) < 2:
        raise ValueError(
            f"{what} holds only one class ({next(iter(present))!r}, {len(y_true)} samples): "
            f"{why}"
        )
    if len(present) > 2:
        raise ValueError(
            f"{what} holds {len(present)} labels {sorted(map(repr, present))}; skface metrics "
            f"are for two classes, real and fake."
        )
    return list(present)


def _check_threshold(threshold):
    if not isinstance(threshold, numbers.Real) or not 0.0 < float(threshold) < 1.0:
        raise ValueError(f"threshold must be a float in (0, 1); got {threshold!r}.")
    return float(threshold)


def _checked_scores(y_score, n, name="y_score"):
    """``P(fake)`` as a 1-D float64 array of ``n`` finite values in [0, 1]."""
    try:
        scores = np.asarray(y_score, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold numbers (P(fake) of each sample): {exc}") from exc
    if scores.ndim != 1:
        raise ValueError(
            f"{name} must be one P(fake) per sample, shape (n_samples,); got shape "
            f"{scores.shape}. For predict_proba output, pass the fake class's column.")
    if len(scores) != n:
        raise ValueError(f"{name} has {len(scores)} entries but y_true has {n}; they must match.")
    bad = np.flatnonzero(~np.isfinite(scores))
    if len(bad):
        raise ValueError(f"{name} holds {len(bad)} NaN or infinite values (first at index "
                         f"{bad[0]}); every sample needs a P(fake).")
    outside = np.flatnonzero((scores < 0.0) | (scores > 1.0))
    if len(outside):
        raise ValueError(
            f"{name} must be probabilities P(fake) in [0, 1]; {len(outside)} of {len(scores)} "
            f"are outside (first: {float(scores[outside[0]]):g} at index {outside[0]}). Pass "
            f"predict_proba's fake column, not decision_function scores or logits.")
    return scores


def _evaluation(y_true, scores, y_pred, pos, neg, threshold, sources):
    """The :class:`EvaluationResult` of decided predictions, with per-source figures."""
    result = _result_from_scores(y_true, scores, y_pred, pos, neg, threshold, sources)
    if sources is not None:
        for src in sorted(set(sources.tolist())):
            mask = sources == src
            result.per_source[src] = _result_from_scores(
                y_true[mask], scores[mask], y_pred[mask], pos, neg, threshold, sources[mask]
            )
    return result


def evaluate(estimator, X, y, *, sources=None, threshold=None, pos_label=None, batch_size=None,
             progress=False):
    """Evaluate a fitted probabilistic classifier on a labelled, two-class set.

    Parameters
    ----------
    estimator : fitted classifier or pipeline
        Must have ``predict_proba`` and two ``classes_``.
    X : array-like or list
        Whatever the estimator takes (images, or paths for a pipeline starting with an ImageLoader).
    y : array-like of shape (n_samples,)
        True labels; both classes must be present.
    sources : array-like of shape (n_samples,), optional
        The source (data set / generator) of every sample; adds ``per_source`` results. A source may
        hold one class only; its undefined metrics are ``None``.
    threshold : float in (0, 1), optional
        Predict fake when ``P(fake) >= threshold``. By default the estimator's own ``predict`` is
        used, so wrappers such as ``TunedThresholdClassifierCV`` keep their threshold. For a
        :class:`~skface.FaceCNNClassifier`, or a pipeline ending in one, whose ``predict`` is the
        class of highest probability, that decision is taken from the probabilities already
        computed, so ``X`` is loaded and run through the network once.
    pos_label : int or str, optional
        The fake label when it cannot be inferred (see :func:`resolve_pos_label`).
    batch_size : int >= 1, optional
        Score ``X`` in consecutive slices of this many samples, so that a pipeline starting with
        an :class:`~skface.preprocessing.ImageLoader` decodes one slice at a time and memory
        stays flat however many paths ``X`` holds. By default ``X`` goes to the estimator in
        one call. The figures are the same either way.
    progress : bool, default=False
        Show a progress bar counting the samples scored (with ``batch_size``: one step per
        slice).

    Returns
    -------
    result : EvaluationResult
        It keeps every sample's label and ``P(fake)``: ``evaluate_scores(result.y_true,
        result.y_score, threshold=t)`` gives the figures at another threshold without running
        the estimator again.

    Raises
    ------
    TypeError
        The estimator has no ``predict_proba``.
    ValueError
        ``y`` holds one class only, labels unknown to the estimator, lengths disagree, the
        threshold is outside (0, 1), or ``batch_size`` is not a whole number >= 1.

    See Also
    --------
    evaluate_scores : the same figures from saved ``P(fake)`` scores.
    """
    _check_proba_estimator(estimator)
    pos, neg = resolve_pos_label(estimator.classes_, pos_label)
    y_true = _known_labels(_as_label_array(y), pos, neg)
    _check_both_classes(y_true)
    if threshold is not None:
        threshold = _check_threshold(threshold)
    if sources is not None:
        sources = _as_source_array(sources, len(y_true))
    if batch_size is not None:
        if not is_whole_number(batch_size) or batch_size < 1:
            raise ValueError(f"batch_size must be a whole number >= 1 or None; got "
                             f"{batch_size!r}.")
        batch_size = int(batch_size)  # 3.0 is 3
        if isinstance(X, Iterator):  # sliced below; a generator of paths is listed once
            X = list(X)
        if len(X) != len(y_true):  # before any sample is decoded
            raise ValueError(f"X has {len(X)} samples but y has {len(y_true)}.")
    own_decision = threshold is None and not _predicts_by_argmax(estimator)
    proba, decided = _scored(estimator, X, len(y_true), batch_size, progress, own_decision)
    scores = proba[:, _positive_column(estimator, pos)]
    if len(scores) != len(y_true):
        raise ValueError(f"X has {len(scores)} samples but y has {len(y_true)}.")
    if own_decision:
        y_pred = _as_label_array(decided, name="predictions")
    elif threshold is None:  # predict is the argmax: one pass over X, not two
        classes = np.asarray(estimator.classes_, dtype=object)
        y_pred = _as_label_array(classes[np.argmax(proba, axis=1)], name="predictions")
    else:
        y_pred = np.where(scores >= threshold, pos, neg).astype(object)
    return _evaluation(y_true, scores, y_pred, pos, neg, threshold, sources)


def _scored(estimator, X, n, batch_size, progress, predict):
    """``predict_proba(X)`` checked (and with ``predict``, ``estimator.predict(X)``), in slices
    of ``batch_size`` samples when given, under one progress bar."""
    from tqdm.auto import tqdm

    starts = [0] if batch_size is None else range(0, max(n, 1), batch_size)
    probas, decisions = [], []
    with tqdm(total=n, desc="evaluate", unit="image", disable=not progress) as bar:
        for start in starts:
            part = X if batch_size is None else X[start:start + batch_size]
            probas.append(_checked_proba(estimator, part))
            if predict:
                decisions.append(estimator.predict(part))
            bar.update(len(probas[-1]))
    proba = probas[0] if len(probas) == 1 else np.concatenate(probas)
    if not predict:
        return proba, None
    return proba, decisions[0] if len(decisions) == 1 else np.concatenate(decisions)


def evaluate_scores(y_true, y_score, *, threshold=0.5, sources=None, pos_label=None):
    """Evaluate saved ``P(fake)`` scores at a threshold, without running a model.

    The figures are those :func:`evaluate` gives with ``threshold=threshold`` for an estimator
    whose ``P(fake)`` are ``y_score``: use it to compare decision thresholds, or to score the
    ``p_fake`` column of ``skface predict`` against labels, without a second pass over the
    images.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; both classes must be present.
    y_score : array-like of shape (n_samples,)
        ``P(fake)`` of every sample, in [0, 1] (the fake column of ``predict_proba``).
    threshold : float in (0, 1), default=0.5
        Predict fake when ``P(fake) >= threshold``.
    sources : array-like of shape (n_samples,), optional
        The source of every sample; adds ``per_source`` results.
    pos_label : int or str, optional
        The fake label when it cannot be inferred from the labels (see
        :func:`resolve_pos_label`).

    Returns
    -------
    result : EvaluationResult

    Raises
    ------
    ValueError
        ``y_true`` holds one class only or more than two, lengths disagree, a score is NaN,
        infinite or outside [0, 1], or the threshold is outside (0, 1).

    Examples
    --------
    >>> from skface.metrics import evaluate_scores
    >>> res = evaluate_scores([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], threshold=0.5)
    >>> res.accuracy, res.confusion_matrix
    (0.5, [[1, 1], [1, 1]])
    >>> evaluate_scores([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], threshold=0.35).accuracy
    0.75
    """
    y_true = _as_label_array(y_true, name="y_true")
    pos, neg = resolve_pos_label(_check_both_classes(y_true), pos_label)
    threshold = _check_threshold(threshold)
    scores = _checked_scores(y_score, len(y_true))
    if sources is not None:
        sources = _as_source_array(sources, len(y_true))
    y_pred = np.where(scores >= threshold, pos, neg).astype(object)
    return _evaluation(y_true, scores, y_pred, pos, neg, threshold, sources)


def _symmetric(func):
    """Let a metric without ``pos_label`` accept it, so every tuning metric is called alike."""

    def score(y_true, y_pred, pos_label=None):
        return func(y_true, y_pred)

    score.__name__ = func.__name__
    return score


_TUNING_METRICS = {
    "balanced_accuracy": _symmetric(balanced_accuracy_score),
    "accuracy": _symmetric(accuracy_score),
    "mcc": _symmetric(matthews_corrcoef),
    "f1": f1_score,
    "precision": precision_score,
    "recall": recall_score,
}


def _counts_at(scores, is_pos, candidates):
    """``tp, fp, tn, fn`` (float arrays, one entry per candidate) of the rule
    ``P(fake) >= t``, from two sorted score arrays: O((n + k) log n) instead of k passes."""
    pos = np.sort(scores[is_pos])
    neg = np.sort(scores[~is_pos])
    tp = len(pos) - np.searchsorted(pos, candidates, side="left")
    fp = len(neg) - np.searchsorted(neg, candidates, side="left")
    return (tp.astype(float), fp.astype(float), (len(neg) - fp).astype(float),
            (len(pos) - tp).astype(float))


def _ratios(num, den):
    """``num / den``, 0 where ``den`` is 0 (scikit-learn's value for an undefined score)."""
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den != 0)
    return out


#: The built-in tuning metrics from the confusion counts of every candidate at once, with
#: scikit-learn's values where a metric is undefined (0).
_FROM_COUNTS = {
    "balanced_accuracy": lambda tp, fp, tn, fn: (_ratios(tn, tn + fp) + _ratios(tp, tp + fn)) / 2,
    "accuracy": lambda tp, fp, tn, fn: (tp + tn) / (tp + fp + tn + fn),
    "mcc": lambda tp, fp, tn, fn: _ratios(
        tp * tn - fp * fn, np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))),
    "f1": lambda tp, fp, tn, fn: _ratios(2 * tp, 2 * tp + fp + fn),
    "precision": lambda tp, fp, tn, fn: _ratios(tp, tp + fp),
    "recall": lambda tp, fp, tn, fn: _ratios(tp, tp + fn),
}


def _tuning_metric(metric):
    if callable(metric):
        return _symmetric(metric)
    if isinstance(metric, str) and metric in _TUNING_METRICS:
        return _TUNING_METRICS[metric]
    raise ValueError(
        f"Unknown metric {metric!r}; choose one of {sorted(_TUNING_METRICS)} or pass a callable."
    )


#: Most midpoints between distinct scores that :func:`best_threshold` adds to its grid.
_MAX_MIDPOINTS = 2000


def best_threshold(y_true, y_score, *, metric="balanced_accuracy", pos_label=None,
                   thresholds=200):
    """The ``P(fake)`` threshold at which saved scores reach the highest value of a metric.

    The search of scikit-learn's :class:`~sklearn.model_selection.TunedThresholdClassifierCV`
    (``cv="prefit"``) on scores already computed: every candidate threshold cuts ``y_score``
    (fake when ``P(fake) >= threshold``), the metric is computed on each cut, and the first
    candidate with the highest value is returned. :func:`tune_threshold` is this function on an
    estimator's validation predictions.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; both classes must be present.
    y_score : array-like of shape (n_samples,)
        ``P(fake)`` of every sample, in [0, 1].
    metric : {"balanced_accuracy", "accuracy", "mcc", "f1", "precision", "recall"} or callable
        A callable is called as ``metric(y_true, y_pred)`` and must return higher-is-better.
    pos_label : int or str, optional
        The fake label when it cannot be inferred from the labels.
    thresholds : int or array-like, default=200
        Number of evenly spaced candidates between the lowest and highest score (those at 0
        or 1 left out), to which the midpoints between consecutive distinct scores are added
        (at most 2,000, spread evenly over the sorted scores), so that scores closer together
        than the grid's step, such as a network's saturated outputs, still get a cut between
        them; or the candidates themselves, each strictly between 0 and 1.

    Returns
    -------
    threshold : float
        Predict fake when ``P(fake) >= threshold``.

    Raises
    ------
    ValueError
        One class only, an unknown metric, invalid scores, every score the same (no threshold
        can separate the classes), or no valid candidate.

    Examples
    --------
    >>> from skface.metrics import best_threshold
    >>> best_threshold([0, 0, 1, 1], [0.1, 0.3, 0.4, 0.9], thresholds=[0.2, 0.35, 0.5])
    0.35
    """
    y_true = _as_label_array(y_true, name="y_true")
    pos, neg = resolve_pos_label(_check_both_classes(y_true, "y_true", _TUNING_NEEDS_BOTH),
                                 pos_label)
    scores = _checked_scores(y_score, len(y_true))
    func = _tuning_metric(metric)
    a_count = isinstance(thresholds, numbers.Integral) and not isinstance(thresholds, bool)
    if a_count and thresholds < 1:
        raise ValueError(f"thresholds must be at least 1; got {thresholds}.")
    if scores.min() == scores.max():  # with given candidates too: the first was returned
        raise ValueError(
            f"Every sample has the same P(fake) ({scores[0]:g}), so no threshold can "
            f"separate the classes.")
    if a_count:
        candidates = np.linspace(scores.min(), scores.max(), int(thresholds))
        # every cut the scores allow: halfway between neighbours, so that the cut keeps a
        # margin on both sides (a cut at a score itself would sit on a validation sample)
        distinct = np.unique(scores)
        middles = (distinct[:-1] + distinct[1:]) / 2.0
        if len(middles) > _MAX_MIDPOINTS:
            middles = middles[np.linspace(0, len(middles) - 1, _MAX_MIDPOINTS).round().astype(int)]
        candidates = np.unique(np.concatenate([candidates, middles]))
        # a cut at 0 or 1 is no threshold evaluate() takes: keep those strictly between
        candidates = candidates[(candidates > 0) & (candidates < 1)]
        if candidates.size == 0:
            raise ValueError("No candidate threshold lies strictly between 0 and 1; pass "
                             "thresholds=[...] explicitly.")
    else:
        try:
            candidates = np.asarray(thresholds, dtype=np.float64).ravel()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"thresholds must be an int or numbers: {exc}") from exc
        if candidates.size == 0 or not np.all(np.isfinite(candidates)):
            raise ValueError("thresholds must be a non-empty list of finite numbers.")
        if not np.all((candidates > 0) & (candidates < 1)):
            raise ValueError("thresholds must lie strictly between 0 and 1 (a cut of P(fake) "
                             f"that evaluate() takes); got {candidates.tolist()}.")
    labels = np.asarray(y_true.tolist())
    if isinstance(metric, str):
        # every candidate from one sort of the scores (a metric call per candidate took 23 s
        # for 100,000 scores); values equal to 12 places count as a tie, won by the lowest cut
        values = _FROM_COUNTS[metric](*_counts_at(scores, labels == pos, candidates))
        return float(candidates[int(np.argmax(np.round(values, 12)))])
    values = []
    with warnings.catch_warnings():  # a cut above every score predicts no fake: precision 0
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for t in candidates:
            y_pred = np.where(scores >= t, pos, neg)
            values.append(float(func(labels, y_pred, pos_label=pos)))
    nan = [float(t) for t, v in zip(candidates, values) if math.isnan(v)]
    if nan:  # argmax would take the first NaN as the best
        raise ValueError(f"The metric returned NaN at {len(nan)} threshold(s) (first "
                         f"{nan[0]:.4g}); it must return a number for every cut.")
    return float(candidates[int(np.argmax(values))])


def tune_threshold(estimator, X_val, y_val, *, metric="balanced_accuracy", pos_label=None,
                   thresholds=200):
    """Pick the ``P(fake)`` threshold that maximises a metric on the validation split.

    Nothing is refitted: the fitted estimator's ``P(fake)`` on ``X_val`` is computed once and
    :func:`best_threshold` searches the cut, as scikit-learn's
    :class:`~sklearn.model_selection.TunedThresholdClassifierCV` does with ``cv="prefit"``.
    Pass the result as ``evaluate(..., threshold=...)`` or wrap the estimator in
    :class:`~sklearn.model_selection.FixedThresholdClassifier`.

    Parameters
    ----------
    estimator : fitted classifier or pipeline with ``predict_proba``
    X_val, y_val : validation data (both classes)
    metric : {"balanced_accuracy", "accuracy", "mcc", "f1", "precision", "recall"} or callable
        A callable is called as ``metric(y_true, y_pred)`` and must return higher-is-better.
    pos_label : int or str, optional
        The fake label when it cannot be inferred.
    thresholds : int or array-like, default=200
        Number of evenly spaced candidates between the lowest and highest score (those at 0
        or 1 left out), to which the midpoints between consecutive distinct scores are added
        (at most 2,000, spread evenly over the sorted scores), so that scores closer together
        than the grid's step, such as a network's saturated outputs, still get a cut between
        them; or the candidates themselves, each strictly between 0 and 1.

    Returns
    -------
    threshold : float
        Predict fake when ``P(fake) >= threshold``.

    See Also
    --------
    best_threshold : the same search on saved scores (for example an
        :class:`EvaluationResult`'s ``y_true`` and ``y_score``).
    """
    _check_proba_estimator(estimator)
    pos, neg = resolve_pos_label(estimator.classes_, pos_label)
    # labels the model does not know were counted as real (evaluate refuses them too)
    y_val = _known_labels(_as_label_array(y_val, name="y_val"), pos, neg, name="y_val")
    _check_both_classes(y_val, "y_val", _TUNING_NEEDS_BOTH)
    _tuning_metric(metric)  # an unknown metric fails before the images are scored
    scores = _checked_proba(estimator, X_val)[:, _positive_column(estimator, pos)]
    if len(scores) != len(y_val):
        raise ValueError(f"X_val has {len(scores)} samples but y_val has {len(y_val)}.")
    return best_threshold(y_val, scores, metric=metric, pos_label=pos, thresholds=thresholds)
