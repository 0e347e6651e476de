"""The attention x focal-loss x class-weighting ablation, on the protocol's fixed split."""

import inspect
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, ParameterGrid
from sklearn.utils import _safe_indexing

from ..datasets import predefined_split
from ..metrics import best_threshold, evaluate, resolve_pos_label
from ..metrics._evaluate import (_as_label_array, _as_source_array, _check_threshold,
                                 _tuning_metric)
from ..utils._validation import check_row_indices, is_whole_number
from ._io import to_table, write_csv

__all__ = ["AblationDetails", "check_split", "default_param_grid", "run_ablation"]

_TEST_METRICS = (
    "accuracy", "balanced_accuracy", "precision", "recall", "specificity", "f1",
    "roc_auc", "average_precision", "eer",
)
_SUMMARY_METRICS = _TEST_METRICS + ("val_score",)


def _classifier_step(pipeline):
    """Return ``(step_name or "", final estimator)``."""
    if hasattr(pipeline, "steps"):
        return pipeline.steps[-1][0], pipeline.steps[-1][1]
    return "", pipeline


def _key(step, name):
    return f"{step}__{name}" if step else name


def validation_fit_params(estimator, X_train, y_train, X_val, y_val):
    """Fit parameters that make the classifier early-stop on a given validation part.

    When the last step's ``fit`` accepts ``X_val`` and ``y_val`` (as FaceCNNClassifier's does),
    returns ``{"<step>__X_val": ..., "<step>__y_val": ...}`` (no prefix for a bare classifier),
    with ``X_val`` passed through the pipeline's earlier steps after fitting a clone of them on
    ``(X_train, y_train)``. Otherwise returns ``{}``.

    Parameters
    ----------
    estimator : estimator or Pipeline
        The classifier, or a pipeline ending with it.
    X_train, y_train : array-like
        The training part, which the pipeline's earlier steps are fitted on.
    X_val, y_val : array-like
        The validation part, as the pipeline takes its input.

    Returns
    -------
    fit_params : dict
        For ``estimator.fit(X_train, y_train, **fit_params)``.
    """
    step, clf = _classifier_step(estimator)
    if not {"X_val", "y_val"} <= set(inspect.signature(clf.fit).parameters):
        return {}
    if step and len(estimator.steps) > 1:
        X_val = clone(estimator[:-1]).fit(X_train, y_train).transform(X_val)
    return {_key(step, "X_val"): X_val, _key(step, "y_val"): y_val}


def default_param_grid(step="classifier"):
    """The brief's ablation: attention x focal-loss gamma x class weighting (24 configurations).

    Parameters
    ----------
    step : str, default="classifier"
        Name of the FaceCNNClassifier step in the pipeline (``""`` for a bare classifier).

    Returns
    -------
    param_grid : dict
        ``attention`` in {None, "se", "cbam", "nonlocal"}, ``gamma`` in {0, 1, 2} and
        ``class_weight`` in {None, "balanced"}, prefixed ``"<step>__"``.
    """
    return {
        _key(step, "attention"): [None, "se", "cbam", "nonlocal"],
        _key(step, "gamma"): [0.0, 1.0, 2.0],
        _key(step, "class_weight"): [None, "balanced"],
    }


def check_n_samples(X, n_samples):
    """Refuse an ``X`` with another number of samples than ``y`` (more rows were ignored
    without a word, fewer failed with an index error deep in scikit-learn)."""
    from sklearn.utils.validation import _num_samples

    try:
        n_x = _num_samples(X)
    except TypeError:
        return  # not a sized collection: the estimator names what it is
    if n_x != n_samples:
        raise ValueError(f"X has {n_x} samples but y has {n_samples}; they must match.")


def check_split(split, n_samples):
    """Validate ``(train_idx, val_idx, test_idx)`` and return them as int arrays.

    Parameters
    ----------
    split : tuple of three array-like of int
        ``(train_idx, val_idx, test_idx)``, e.g. from :func:`~skface.datasets.train_val_test_split`.
    n_samples : int
        Number of samples the indices point into.

    Returns
    -------
    train_idx, val_idx, test_idx : ndarray of int

    Raises
    ------
    ValueError
        Wrong structure, empty parts, out-of-range or non-integer indices, or overlapping parts.
    """
    if not isinstance(split, (tuple, list)) or len(split) != 3:
        raise ValueError(
            "split must be a tuple (train_idx, val_idx, test_idx) of index arrays; got "
            f"{type(split).__name__} of length {len(split) if hasattr(split, '__len__') else '?'}."
        )
    parts = []
    for name, idx in zip(("train", "val", "test"), split):
        arr = np.asarray(list(idx) if isinstance(idx, Iterator) else idx)
        if arr.dtype == bool:
            if arr.shape != (n_samples,):
                raise ValueError(f"The {name} mask has shape {arr.shape}; expected ({n_samples},).")
            arr = np.flatnonzero(arr)
        arr = check_row_indices(arr, f"The {name} part of split", n_samples)
        if arr.size == 0:
            raise ValueError(f"The {name} part of split is empty.")
        parts.append(arr)
    for (a, na), (b, nb) in (((0, "train"), (1, "val")), ((0, "train"), (2, "test")),
                             ((1, "val"), (2, "test"))):
        common = np.intersect1d(parts[a], parts[b])
        if common.size:
            raise ValueError(
                f"The {na} and {nb} parts share {common.size} samples (e.g. {common[:5]})."
            )
    return tuple(parts)


def _check_grid(pipeline, param_grid):
    grids = [param_grid] if isinstance(param_grid, dict) else list(param_grid)
    if not grids:
        raise ValueError("param_grid is empty.")
    valid = pipeline.get_params(deep=True)
    for grid in grids:
        if not isinstance(grid, dict) or not grid:
            raise ValueError(f"param_grid entries must be non-empty dicts; got {grid!r}.")
        for name, values in grid.items():
            if name not in valid:
                step, _ = _classifier_step(pipeline)
                hint = sorted(k for k in valid if k.startswith(_key(step, "")) and "__" not in
                              k[len(_key(step, "")):]) if step else sorted(valid)
                raise ValueError(
                    f"param_grid has an unknown parameter {name!r} for {type(pipeline).__name__}. "
                    f"Parameters of the classifier step are named like: {hint}."
                )
            if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
                raise ValueError(f"param_grid[{name!r}] must be a list of values; got {values!r}.")
            if len(list(values)) == 0:
                raise ValueError(f"param_grid[{name!r}] is an empty list.")
    return grids


def _same_config(a, b):
    try:
        return bool(a == b)
    except (ValueError, TypeError):  # values without a plain == (arrays): not the same
        return False


def _check_distinct(configs, names):
    """Refuse a configuration given twice: its runs were counted as extra seeds (two seeds
    with zero spread in the table, the report and metrics.json)."""
    for i, config in enumerate(configs):
        for other in configs[:i]:
            if _same_config(config, other):
                raise ValueError(
                    f"param_grid gives the configuration {_config_label(config, names)!r} "
                    "twice (a value repeated in a list, or grids that overlap); give each "
                    "value once.")


def _fmt_value(v):
    if isinstance(v, float) and float(v).is_integer():
        return str(int(v))
    return str(v)


#: Columns of the runs and summary tables that a grid parameter's column must not take (a
#: parameter called ``threshold`` or ``precision`` had its values overwritten by the results).
_RESULT_COLUMNS = frozenset(
    ("config", "seed", "val_score", "val_accuracy", "val_roc_auc", "threshold", "tn", "fp",
     "fn", "tp", "n_params", "n_epochs", "best_epoch", "fit_time_s", "n_seeds", "undefined",
     "selected")
    + _TEST_METRICS
    + tuple(f"{m}_{kind}" for m in _SUMMARY_METRICS for kind in ("mean", "std"))
    + tuple(f"{m}_mean" for m in ("n_epochs", "best_epoch", "fit_time_s")))


def _short_names(keys):
    """Column names for grid keys: the part after the last ``__`` unless two keys share it or
    it names a result column; then the whole key (``param_`` before a key without ``__``)."""
    short = [k.rsplit("__", 1)[-1] for k in keys]
    names = {}
    for k, s in zip(keys, short):
        if short.count(s) == 1 and s not in _RESULT_COLUMNS:
            names[k] = s
        else:
            names[k] = k if k not in _RESULT_COLUMNS else f"param_{k}"
    return names


def _config_label(config, names):
    return ", ".join(f"{names[k]}={_fmt_value(config[k])}" for k in names)


@dataclass
class AblationDetails:
    """Everything :func:`run_ablation` learned, for plots and reports.

    Attributes
    ----------
    table : DataFrame or list of dict
        Per-configuration mean and std over seeds (also returned alone by ``run_ablation``).
    runs : DataFrame or list of dict
        One row per (configuration, seed).
    configs : list of str
        Configuration labels in grid order.
    params : dict of str to dict
        The parameter values of each configuration.
    evaluations : dict of (str, int) to EvaluationResult
        Test-split results with predictions, keyed ``(config, seed)``.
    val_evaluations : dict of (str, int) to EvaluationResult
        Validation-split results, same keys.
    estimators : dict of (str, int) to fitted estimator
        Empty when ``keep_estimators=False``.
    grid_searches : list of GridSearchCV
        The fitted searches (their ``cv_results_`` hold the validation scores).
    selected : str or None
        The configuration with the best mean validation score.
    interrupted : bool
        Ctrl-C stopped the run; the tables hold the finished runs only.
    csv_path, runs_csv_path : Path or None
    """

    table: object = None
    runs: object = None
    configs: list = field(default_factory=list)
    params: dict = field(default_factory=dict)
    evaluations: dict = field(default_factory=dict)
    val_evaluations: dict = field(default_factory=dict)
    estimators: dict = field(default_factory=dict)
    grid_searches: list = field(default_factory=list)
    selected: object = None
    interrupted: bool = False
    csv_path: object = None
    runs_csv_path: object = None
    selection_metric: str = "balanced_accuracy"

    def evaluations_for_seed(self, seed=None):
        """Return ``{config: EvaluationResult}`` for one seed.

        Parameters
        ----------
        seed : int, optional
            One of the run's seeds; default: the first one that finished.

        Returns
        -------
        evaluations : dict of str to EvaluationResult
            In the order of ``configs``; configurations without a result for that seed are
            left out.
        """
        seed = self._seed(seed)
        return {c: self.evaluations[(c, seed)] for c in self.configs
                if (c, seed) in self.evaluations}

    def estimators_for_seed(self, seed=None):
        """Return ``{config: fitted estimator}`` for one seed.

        Parameters
        ----------
        seed : int, optional
            One of the run's seeds; default: the first one that finished.

        Returns
        -------
        estimators : dict of str to estimator
            In the order of ``configs``; only those the run kept.
        """
        seed = self._seed(seed)
        return {c: self.estimators[(c, seed)] for c in self.configs if (c, seed) in self.estimators}

    def representatives(self, limit=6):
        """Configurations worth a picture when the grid is large.

        With an ``attention`` parameter in the grid: for every attention setting, the
        configuration with the best mean validation score (so each model variant appears once).
        Otherwise the ``limit`` best by mean validation score. Model selection only, never the
        test split.

        Parameters
        ----------
        limit : int, default=6
            Most configurations returned without an ``attention`` parameter in the grid.

        Returns
        -------
        configs : list of str
        """
        from ._io import as_records

        score = {r["config"]: (r.get("val_score_mean") if r.get("val_score_mean") is not None
                               else float("-inf")) for r in as_records(self.table)}
        ranked = sorted((c for c in self.configs if c in score), key=lambda c: -score[c])
        att_key = next((k for c in self.configs for k in self.params[c]
                        if k.rsplit("__", 1)[-1] == "attention"), None)
        if att_key is None:
            return ranked[:limit]
        best = {}
        for c in ranked:
            best.setdefault(repr(self.params[c][att_key]), c)
        return [c for c in self.configs if c in set(best.values())]

    def _seed(self, seed):
        if seed is not None:
            return seed
        if not self.evaluations:
            raise ValueError("No finished runs.")
        return next(iter(self.evaluations))[1]


class _Recorder:
    """GridSearchCV scorer: scores the validation fold for model selection and, as a side effect,
    evaluates the same fitted estimator on the test split and records the row."""

    def __init__(self, runner, seed):
        self.runner = runner
        self.seed = seed

    def __call__(self, estimator, X_val, y_val):
        r = self.runner
        started = time.perf_counter()
        fit_time = started - r.last_mark
        _, clf = _classifier_step(estimator)
        params = estimator.get_params(deep=True)
        config = {k: params[k] for k in r.keys}
        label = _config_label(config, r.names)
        val_ev = evaluate(estimator, X_val, y_val, pos_label=r.pos_label)
        threshold = r.threshold
        if isinstance(threshold, str):
            # the search on the validation scores just computed: no second pass
            threshold = best_threshold(val_ev.y_true, val_ev.y_score, metric=r.tune_metric,
                                       pos_label=val_ev.pos_label)
        test_ev = evaluate(estimator, r.X_test, r.y_test, sources=r.src_test,
                           threshold=threshold, pos_label=r.pos_label)
        val_score = getattr(val_ev, r.selection_metric)
        row = {"config": label}
        # None is written as "None" so tables and CSVs tell "no attention" from a missing value
        row.update({r.names[k]: "None" if config[k] is None else config[k] for k in r.keys})
        row["seed"] = self.seed
        row["val_score"] = val_score
        row["val_accuracy"] = val_ev.accuracy
        row["val_roc_auc"] = val_ev.roc_auc
        row["threshold"] = threshold
        row.update({m: getattr(test_ev, m) for m in _TEST_METRICS})
        row.update({"tn": test_ev.tn, "fp": test_ev.fp, "fn": test_ev.fn, "tp": test_ev.tp})
        row["n_params"] = getattr(clf, "n_params_", None)
        row["n_epochs"] = getattr(clf, "n_epochs_", None)
        row["best_epoch"] = getattr(clf, "best_epoch_", None)
        row["fit_time_s"] = getattr(clf, "fit_time_", None) or fit_time
        r.record(label, config, self.seed, row, estimator, test_ev, val_ev)
        r.last_mark = time.perf_counter()
        nan = float("nan")
        return {
            "score": nan if val_score is None else float(val_score),
            "accuracy": nan if val_ev.accuracy is None else float(val_ev.accuracy),
            "roc_auc": nan if val_ev.roc_auc is None else float(val_ev.roc_auc),
        }


class _Runner:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)
        self.rows = []
        self.last_mark = time.perf_counter()

    def record(self, label, config, seed, row, estimator, test_ev, val_ev):
        self.rows.append(row)
        d = self.details
        if label not in d.params:
            d.configs.append(label)
            d.params[label] = dict(config)
        d.evaluations[(label, seed)] = test_ev
        d.val_evaluations[(label, seed)] = val_ev
        if self.keep_estimators:
            d.estimators[(label, seed)] = estimator
        if self.runs_csv_path is not None:
            write_csv(self.runs_csv_path, self.rows)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(f"{label} seed={seed}", refresh=False)


def _summarise(rows, names, configs):
    out = []
    for label in configs:
        group = [r for r in rows if r["config"] == label]
        if not group:
            continue
        rec = {"config": label}
        rec.update({col: group[0][col] for col in names.values()})
        rec["n_seeds"] = len(group)
        undefined = []
        for m in _SUMMARY_METRICS:
            vals = np.array([np.nan if r[m] is None else r[m] for r in group], dtype=float)
            finite = vals[np.isfinite(vals)]
            # over the seeds where the metric is defined (precision is not when nothing is
            # predicted fake), which "undefined" names; a sample std needs two values
            rec[f"{m}_mean"] = float(finite.mean()) if finite.size else None
            rec[f"{m}_std"] = float(finite.std(ddof=1)) if finite.size > 1 else None
            if finite.size < len(group):
                undefined.append(f"{m} in {len(group) - finite.size} of {len(group)} seeds")
        rec["undefined"] = "; ".join(undefined)
        for m in ("n_params", "n_epochs", "best_epoch", "fit_time_s"):
            vals = [r[m] for r in group if r[m] is not None]
            if m == "n_params":
                rec[m] = int(vals[0]) if vals else None
            else:
                rec[f"{m}_mean"] = float(np.mean(vals)) if vals else None
        out.append(rec)
    scored = [r for r in out if r["val_score_mean"] is not None]
    best = max(scored, key=lambda r: r["val_score_mean"])["config"] if scored else None
    for rec in out:
        rec["selected"] = rec["config"] == best
    return out, best


def run_ablation(pipeline, param_grid, X, y, split, *, seeds=(0, 1, 2), sources=None,
                 selection_metric="balanced_accuracy", threshold=None,
                 tune_metric="balanced_accuracy", pos_label=None, csv_path="ablation.csv",
                 overwrite=False, keep_estimators=True, return_details=False, progress=True):
    """Fit every configuration of a grid on the protocol's split, for several seeds.

    For each seed, a :class:`~sklearn.model_selection.GridSearchCV` with a
    :class:`~sklearn.model_selection.PredefinedSplit` (the protocol's train part vs. its validation
    part) fits every configuration on the training part and scores it on the validation part (the
    model-selection score, ``selection_metric``). Its scorer also evaluates each fitted
    configuration on the test part, so every configuration gets test figures, not only the best.

    **Early stopping on the protocol's validation split.** When the classifier's ``fit`` accepts
    ``X_val`` and ``y_val`` (as :class:`skface.FaceCNNClassifier` does), the runner passes the
    validation part as fit parameters ``<step>__X_val`` / ``<step>__y_val``; so the classifier
    stops on the protocol's validation loss instead of carving its own internal split. The
    validation images are first transformed by the pipeline's earlier steps, fitted on the
    training part (once per setting of those steps' parameters).

    Parameters
    ----------
    pipeline : estimator or Pipeline
        Its last step is the classifier (a FaceCNNClassifier or any classifier with
        ``predict_proba``); it is cloned, never fitted in place.
    param_grid : dict, list of dict or None
        Parameter names as ``pipeline.set_params`` takes them. ``None`` uses
        :func:`default_param_grid` for the last step (attention x gamma x class weighting).
    X : array-like or list
        All samples (images or paths); indexed with the split.
    y : array-like of shape (n_samples,)
    split : tuple of (train_idx, val_idx, test_idx)
        Integer index arrays (or boolean masks) into ``X``; disjoint; every part holds both classes.
        :func:`skface.datasets.train_val_test_split` makes a leak-free one.
    seeds : iterable of int, default=(0, 1, 2)
        Each is set as the classifier step's ``random_state``.
    sources : array-like of shape (n_samples,), optional
        Adds per-source test figures to the stored evaluations.
    selection_metric : str, default="balanced_accuracy"
        An :class:`~skface.metrics.EvaluationResult` attribute used on the validation part to pick
        the ``selected`` configuration (highest mean over seeds).
    threshold : None, float or "tune"
        Decision threshold on the test part: the estimator's ``predict`` (None), a fixed
        ``P(fake)`` threshold, or one tuned on the validation part per run
        (:func:`~skface.metrics.best_threshold` on the validation scores, the search of
        :func:`~skface.metrics.tune_threshold`; ``tune_metric``).
    tune_metric : str, default="balanced_accuracy"
    pos_label : int or str, optional
        The fake label when it cannot be inferred.
    csv_path : str, Path or None, default="ablation.csv"
        Where the per-configuration table goes; the per-run rows go to ``<stem>_runs.csv`` next to
        it, rewritten after every finished run, so Ctrl-C keeps what finished. ``None`` writes
        nothing. Neither file may exist unless ``overwrite=True``; a run in which no
        configuration finishes leaves existing files as they were.
    overwrite : bool, default=False
        Replace existing ``csv_path`` and ``<stem>_runs.csv`` files.
    keep_estimators : bool, default=True
        Keep every fitted estimator in the details (for Grad-CAM and training curves).
    return_details : bool, default=False
        Also return an :class:`AblationDetails`.
    progress : bool, default=True
        Show a tqdm progress bar.

    Returns
    -------
    table : DataFrame (or list of dict without pandas)
        One row per configuration: its parameters, ``n_seeds``, ``<metric>_mean`` and
        ``<metric>_std`` (sample std over seeds; None with one seed) for the test metrics and
        ``val_score``, ``undefined`` (the metrics undefined for some seeds, which their mean
        leaves out, e.g. ``"precision in 1 of 3 seeds"``; empty when none), ``n_params``,
        ``n_epochs_mean``, ``best_epoch_mean``, ``fit_time_s_mean`` and ``selected``.
    details : AblationDetails
        Only with ``return_details=True``.

    Raises
    ------
    ValueError
        Unknown grid parameters, a bad split, a split part with one class, ``csv_path`` a
        folder.
    FileExistsError
        ``csv_path`` or ``<stem>_runs.csv`` exists and ``overwrite`` is False.
    TypeError
        The classifier has no ``predict_proba``.

    Notes
    -----
    Ctrl-C stops the run after a warning; the returned table and the CSV files hold the runs that
    finished (``details.interrupted`` is True). ``n_params``, ``n_epochs`` and ``best_epoch`` come
    from the classifier's ``n_params_``, ``n_epochs_`` and ``best_epoch_`` when it has them.
    Training time is the classifier's ``fit_time_`` when it has one (FaceCNNClassifier), otherwise
    the wall time from the end of the previous run's scoring to the start of this run's scoring
    (cloning plus fitting), as measured in this process.
    """
    step, clf = _classifier_step(pipeline)
    if not hasattr(clf, "predict_proba"):
        raise TypeError(
            f"The classifier {type(clf).__name__} has no predict_proba; the ablation needs "
            f"probabilities for ROC-AUC, average precision and threshold tuning."
        )
    if param_grid is None:
        param_grid = default_param_grid(step)
    grids = _check_grid(pipeline, param_grid)
    y_arr = _as_label_array(y)
    n = len(y_arr)
    check_n_samples(X, n)
    train_idx, val_idx, test_idx = check_split(split, n)
    labels = sorted(set(y_arr.tolist()), key=repr)
    if len(labels) != 2:
        raise ValueError(f"y must hold exactly two classes (real and fake); got {labels!r}.")
    for name, idx in (("train", train_idx), ("validation", val_idx), ("test", test_idx)):
        present = set(y_arr[idx].tolist())
        if len(present) < 2:
            raise ValueError(
                f"The {name} split holds only one class ({present.pop()!r}); every part of the "
                f"split needs real and fake images."
            )
    pos, _ = resolve_pos_label(labels, pos_label)
    y_fit = np.asarray(y_arr.tolist())
    if sources is not None:
        sources = _as_source_array(sources, n)
    # checked before any training, not when the first run is scored
    if isinstance(threshold, str) and threshold == "tune":
        _tuning_metric(tune_metric)  # raises on an unknown metric
    elif threshold is not None:
        try:
            _check_threshold(threshold)  # evaluate()'s own check, here before any training
        except ValueError:
            raise ValueError(f"threshold must be None, a float in (0, 1) or 'tune'; got "
                             f"{threshold!r}.") from None
    if selection_metric not in ("accuracy", "balanced_accuracy", "f1", "roc_auc",
                                "average_precision", "precision", "recall"):
        raise ValueError(f"Unknown selection_metric {selection_metric!r}.")
    if isinstance(seeds, (int, np.integer, str)) or not hasattr(seeds, "__iter__"):
        raise ValueError(f"seeds must be a list of ints, e.g. (0, 1, 2); got {seeds!r}.")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds is empty.")
    bad = [s for s in seeds if not is_whole_number(s) or s < 0]
    if bad:  # 0.7 was taken as 0
        raise ValueError(f"seeds must be ints >= 0; got {bad}.")
    seeds = [int(s) for s in seeds]
    if len(set(seeds)) != len(seeds):  # a repeat counted as another seed in the std
        raise ValueError(f"seeds names a seed more than once: {seeds}.")
    seed_key = _key(step, "random_state")
    has_seed = seed_key in pipeline.get_params(deep=True)
    if any(seed_key in grid for grid in grids):  # it overrode every seed: repeats of one fit
        raise ValueError(f"param_grid sets {seed_key!r}, which the seeds set; pass the seeds "
                         "as seeds=... instead.")
    if not has_seed and len(seeds) > 1:
        warnings.warn(
            f"{type(clf).__name__} has no random_state; the {len(seeds)} seeds only repeat the "
            f"same fit.", UserWarning, stacklevel=2,
        )

    keys = []
    for grid in grids:
        for k in grid:
            if k not in keys:
                keys.append(k)
    configs = list(ParameterGrid(grids))
    for c in configs:
        for k in keys:
            c.setdefault(k, pipeline.get_params(deep=True)[k])
    _check_distinct(configs, _short_names(keys))
    prefix_keys = [k for k in keys if step and not k.startswith(step + "__")]

    trval_idx, cv = predefined_split(train_idx, val_idx)
    X_trval = _safe_indexing(X, trval_idx)
    y_trval = y_fit[trval_idx]

    runs_csv = None
    if csv_path is not None:
        from pathlib import Path

        csv_path = Path(csv_path)
        runs_csv = csv_path.with_name(csv_path.stem + "_runs" + (csv_path.suffix or ".csv"))
        for path in (csv_path, runs_csv):  # before any training, not after the first run
            if path.is_dir():
                raise ValueError(f"{path} is a folder; csv_path must name a CSV file.")
            if path.exists() and not overwrite:
                raise FileExistsError(f"{path} already exists; choose a new csv_path or pass "
                                      "overwrite=True to replace it.")
    details = AblationDetails(csv_path=csv_path, runs_csv_path=runs_csv,
                              selection_metric=selection_metric)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(configs) * len(seeds), desc="ablation", unit="run")
    names = _short_names(keys)
    runner = _Runner(
        keys=keys, names=names, pos_label=pos, threshold=threshold, tune_metric=tune_metric,
        selection_metric=selection_metric, X_test=_safe_indexing(X, test_idx),
        y_test=y_fit[test_idx], src_test=None if sources is None else sources[test_idx],
        details=details, keep_estimators=keep_estimators, runs_csv_path=runs_csv, bar=bar,
    )
    # group configurations by the settings of the steps before the classifier
    groups = {}
    for c in configs:
        groups.setdefault(tuple(repr(c[k]) for k in prefix_keys), []).append(c)
    X_train = _safe_indexing(X, train_idx)
    X_val_raw = _safe_indexing(X, val_idx)
    try:
        for seed in seeds:
            for group in groups.values():
                base = clone(pipeline)
                prefix_params = {k: group[0][k] for k in prefix_keys}
                base.set_params(**prefix_params)
                if has_seed:
                    base.set_params(**{seed_key: seed})
                fit_params = validation_fit_params(base, X_train, y_fit[train_idx], X_val_raw,
                                                   y_fit[val_idx])
                search = GridSearchCV(
                    base,
                    [{k: [v] for k, v in c.items()} for c in group],
                    scoring=_Recorder(runner, seed),
                    cv=cv,
                    refit=False,
                    # in this process: the scorer records each run as it ends (under a joblib
                    # backend of worker processes, n_jobs=None lost every row, silently)
                    n_jobs=1,
                    error_score="raise",
                )
                runner.last_mark = time.perf_counter()
                search.fit(X_trval, y_trval, **fit_params)
                details.grid_searches.append(search)
                if csv_path is not None:
                    write_csv(csv_path, _summarise(runner.rows, names, details.configs)[0])
    except KeyboardInterrupt:
        details.interrupted = True
    finally:
        if bar is not None:
            bar.close()
    if details.interrupted:  # once the bar is closed: written into it, the two ran together
        kept = (f" in {runs_csv}" if runs_csv else "") if runner.rows else \
            ": no run had finished"
        warnings.warn(
            f"Ablation interrupted: {len(runner.rows)} of {len(configs) * len(seeds)} runs "
            f"finished and are kept{kept}.", UserWarning, stacklevel=2,
        )
    summary, best = _summarise(runner.rows, names, details.configs)
    if csv_path is not None and runner.rows:  # no run finished: existing files stay as they were
        write_csv(csv_path, summary)
    details.table = to_table(summary)
    details.runs = to_table(runner.rows)
    details.selected = best
    if return_details:
        return details.table, details
    return details.table
