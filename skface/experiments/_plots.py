"""Figures for evaluations and ablations.

Every function returns a :class:`matplotlib.figure.Figure`. Where ``matplotlib.pyplot`` has been
imported (a script or notebook that works with it), the figure is made through pyplot, so that
``plt.show()`` shows it and ``plt.close`` closes it; otherwise it is built without pyplot, on the
Agg canvas (it works headless, never picks or changes a backend, and needs no closing).
:func:`save_figure` writes a figure as a PNG through a temporary file.
"""

import functools
import inspect
import io
import numbers
import sys

import numpy as np
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    PrecisionRecallDisplay,
    RocCurveDisplay,
)

from ..metrics import EvaluationResult
from ..utils import atomic_write_bytes

__all__ = [
    "plot_confusion_matrix",
    "plot_misclassified",
    "plot_pr_curves",
    "plot_roc_curves",
    "plot_training_curves",
    "save_figure",
]


def _new_figure(width, height):
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:  # plt.show() shows it (a figure pyplot does not hold, it did not)
        return plt.figure(figsize=(width, height), dpi=100, layout="constrained")
    # matplotlib is imported on first use, so ``import skface`` stays light
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _closes_its_figures_on_error(plot):
    """Decorate a plotting function: figures it made through pyplot are closed when it raises
    (a failed call left them open in pyplot, one per call)."""
    @functools.wraps(plot)
    def wrapper(*args, **kwargs):
        plt = sys.modules.get("matplotlib.pyplot")
        before = set(plt.get_fignums()) if plt is not None else set()
        try:
            return plot(*args, **kwargs)
        except BaseException:
            plt = sys.modules.get("matplotlib.pyplot")
            if plt is not None:
                for number in set(plt.get_fignums()) - before:
                    plt.close(number)
            raise
    return wrapper


def _close_figure(fig):
    """Close a figure made by :func:`_new_figure` once it is saved (pyplot holds it, if any)."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close(fig)


def save_figure(fig, path, *, dpi=100):
    """Write ``fig`` to ``path`` as PNG, via a temporary file renamed into place.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or Path
    dpi : int, default=100

    Returns
    -------
    path : Path
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return atomic_write_bytes(path, buf.getvalue())


def _check_result(result, name="result", need_scores=True):
    if not isinstance(result, EvaluationResult):
        raise TypeError(f"{name} must be an EvaluationResult from skface.metrics.evaluate.")
    if need_scores and (result.y_true is None or result.y_score is None):
        raise ValueError(
            f"{name} has no stored predictions (it was probably read back from JSON without "
            f"include_predictions=True); curves need y_true and y_score."
        )


def _check_positive_int(value, name):
    """Return ``value`` as an int >= 1; raise naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 1; got {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be an int >= 1; got {value!r}.")
    return int(value)


def _line_kwargs(display):
    """Line style for a curve display; ``curve_kwargs`` where this scikit-learn has it."""
    if "curve_kwargs" in inspect.signature(display.from_predictions).parameters:
        return {"curve_kwargs": {"lw": 1.5}}
    return {"lw": 1.5}


def _check_results_dict(results):
    if isinstance(results, EvaluationResult):
        results = {"model": results}
    if not results:
        raise ValueError("No results to plot.")
    for label, res in results.items():
        _check_result(res, name=f"results[{label!r}]")
        if res.roc_auc is None:
            raise ValueError(f"results[{label!r}] holds one class only; curves need both.")
    return results


@_closes_its_figures_on_error
def plot_confusion_matrix(result, *, normalize=None, title=None):
    """Plot the confusion matrix of an :class:`~skface.metrics.EvaluationResult`.

    Parameters
    ----------
    result : EvaluationResult
    normalize : {None, "true", "pred", "all"}, default=None
        Show counts (``None``) or shares normalised over true rows, predicted columns or all.
    title : str, optional

    Returns
    -------
    fig : Figure
    """
    _check_result(result, need_scores=False)
    cm = np.asarray(result.confusion_matrix, dtype=float)
    if normalize == "true":
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    elif normalize == "pred":
        cm = cm / np.maximum(cm.sum(axis=0, keepdims=True), 1)
    elif normalize == "all":
        cm = cm / max(cm.sum(), 1)
    elif normalize is not None:
        raise ValueError(f"normalize must be None, 'true', 'pred' or 'all'; got {normalize!r}.")
    else:
        cm = cm.astype(int)
    fig = _new_figure(4.2, 3.6)
    ax = fig.add_subplot()
    labels = [f"{result.neg_label} (real)", f"{result.pos_label} (fake)"]
    if {str(result.neg_label).lower(), str(result.pos_label).lower()} == {"real", "fake"}:
        labels = [str(result.neg_label), str(result.pos_label)]
    disp = ConfusionMatrixDisplay(cm, display_labels=labels)
    disp.plot(ax=ax, cmap="Blues", colorbar=False,
              values_format=None if normalize is None else ".2f")
    acc = "n/a" if result.accuracy is None else f"{result.accuracy:.3f}"
    ax.set_title(title or f"Confusion matrix (n={result.n_samples}, accuracy {acc})")
    return fig


def _curves(results, display):
    """One ``display.from_predictions`` curve per result on a new figure."""
    results = _check_results_dict(results)
    fig = _new_figure(6.0, 4.6 + 0.22 * len(results))
    ax = fig.add_subplot()
    for label, res in results.items():
        display.from_predictions(
            res.y_true == res.pos_label, res.y_score, pos_label=True, ax=ax,
            name=str(label), **_line_kwargs(display),
        )
    return fig, ax


def _legend_below(ax):
    """Put the legend under the axes, where long configuration names hide no curve."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize="small", frameon=False)


@_closes_its_figures_on_error
def plot_roc_curves(results, *, title="ROC curves"):
    """Plot one ROC curve per configuration.

    Parameters
    ----------
    results : EvaluationResult or dict of str to EvaluationResult
        Results with stored predictions (as :func:`~skface.metrics.evaluate` returns them).
    title : str

    Returns
    -------
    fig : Figure
    """
    fig, ax = _curves(results, RocCurveDisplay)
    ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1)
    ax.set_title(title)
    ax.set_xlabel("False-positive rate (real called fake)")
    ax.set_ylabel("True-positive rate (fakes caught)")
    _legend_below(ax)
    return fig


@_closes_its_figures_on_error
def plot_pr_curves(results, *, title="Precision-recall curves"):
    """Plot one precision-recall curve (fake = positive) per configuration.

    Parameters
    ----------
    results : EvaluationResult or dict of str to EvaluationResult
    title : str

    Returns
    -------
    fig : Figure
    """
    fig, ax = _curves(results, PrecisionRecallDisplay)
    ax.set_title(title)
    ax.set_xlabel("Recall (fakes caught)")
    ax.set_ylabel("Precision")
    _legend_below(ax)
    return fig


def _integer_locator():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _history_of(model):
    """Return ``(history, best_epoch)`` from a FaceCNNClassifier, a pipeline ending in one, or
    a plain list of epoch dicts."""
    if isinstance(model, (list, tuple)):
        return list(model), None
    from ._explain import find_face_classifier

    clf = find_face_classifier(model)
    return list(clf.history_), getattr(clf, "best_epoch_", None)


def _finite(value):
    return value is not None and bool(np.isfinite(value))


@_closes_its_figures_on_error
def plot_training_curves(models, *, title="Training curves"):
    """Plot train and validation loss per epoch, marking the early-stopping (best) epoch.

    Parameters
    ----------
    models : dict of str to (fitted FaceCNNClassifier, pipeline ending in one, or history list)
        One panel per entry. A history is a list of dicts with ``epoch``, ``train_loss`` and
        ``valid_loss`` (``None`` without validation), as ``FaceCNNClassifier.history_`` holds.
        For a history, the kept epoch marked is the one with the lowest finite validation loss
        (NaN or infinite losses are never marked).
    title : str

    Returns
    -------
    fig : Figure
    """
    if not isinstance(models, dict):
        models = {"model": models}
    if not models:
        raise ValueError("No models to plot.")
    n = len(models)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig = _new_figure(4.2 * cols, 3.2 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, (label, model) in zip(axes, models.items()):
        history, best = _history_of(model)
        if not history:
            raise ValueError(f"{label!r} has an empty training history.")
        epochs = [h["epoch"] for h in history]
        ax.plot(epochs, [h["train_loss"] for h in history], "o-", ms=3, label="train loss")
        valid = [h.get("valid_loss") for h in history]
        if any(v is not None for v in valid):
            ax.plot(
                epochs, [np.nan if v is None else v for v in valid], "s-", ms=3,
                label="validation loss",
            )
            if best is None:  # a history list: the epoch of the lowest finite validation loss
                finite = [(v, e) for v, e in zip(valid, epochs) if _finite(v)]
                best = min(finite)[1] if finite else None
        if best is not None:
            ax.axvline(best, color="crimson", ls="--", lw=1.2, label=f"kept epoch {best}")
            at = [v for e, v in zip(epochs, valid) if e == best and _finite(v)]
            if at:
                ax.plot([best], at, "*", color="crimson", ms=12)
        ax.xaxis.set_major_locator(_integer_locator())
        ax.set_title(str(label), fontsize="medium")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend(fontsize="x-small")
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig


def _to_display(images, index=None):
    """Return images (those at ``index``, by default all) as float ``(n, H, W, C)`` or
    ``(n, H, W)`` in [0, 1] for ``imshow``.

    Whether float images are 0-255 is decided on all of them; only the images shown are
    converted (a float copy of a whole test set cost eight times its uint8 pixels).
    """
    from ..utils import check_image_array

    X = check_image_array(images, name="images")
    scaled = X.dtype == np.uint8 or (X.size and float(X.max()) > 1.0 + 1e-6)
    if index is not None:
        X = X[np.asarray(index, dtype=np.intp)]
    Xf = X.astype(np.float32)
    if scaled:
        Xf /= 255.0
    Xf = np.clip(Xf, 0.0, 1.0, out=Xf).transpose(0, 2, 3, 1)
    if Xf.shape[-1] == 1:
        Xf = Xf[..., 0]
    elif Xf.shape[-1] == 4:
        Xf = Xf[..., :3]
    return Xf


def _class_name(result, label):
    """``"fake"``/``"real"`` for 0/1 labels; string labels as they are."""
    if isinstance(label, str):
        return label
    return "fake" if label == result.pos_label else "real"


@_closes_its_figures_on_error
def plot_misclassified(result, images, *, n_images=16, title=None):
    """Show the test images the model got wrong with the highest confidence.

    Parameters
    ----------
    result : EvaluationResult
        With stored predictions, in the same order as ``images``.
    images : array-like of shape (n_samples, C, H, W), (n_samples, H, W, C) or (n_samples, H, W), \
            or callable
        The evaluated images (uint8 or floats in [0, 1]), or a function that takes an array of
        sample indices and returns those images (so that a large test set need not be held in
        memory: only the images shown are loaded, e.g. from their paths).
    n_images : int >= 1, default=16
        Show at most this many.
    title : str, optional

    Returns
    -------
    fig : Figure
        A grid titled with true label and ``P(fake)``; a note when nothing was misclassified.
    """
    _check_result(result)
    n_images = _check_positive_int(n_images, "n_images")
    if not callable(images) and len(images) != result.n_samples:
        raise ValueError(
            f"images has {len(images)} entries but the result covers {result.n_samples} samples."
        )
    wrong = np.flatnonzero(result.y_pred != result.y_true)
    is_pos = result.y_true == result.pos_label
    confidence = np.where(is_pos, 1.0 - result.y_score, result.y_score)  # confidence in the error
    order = wrong[np.argsort(-confidence[wrong], kind="stable")][:n_images]
    if not callable(images):
        shown = _to_display(images, order)  # only the images shown are converted
    elif len(order):
        shown = _to_display(images(order))
        if len(shown) != len(order):
            raise ValueError(f"images(index) returned {len(shown)} images for {len(order)} "
                             "indices; it must return one image per index, in order.")
    cols = int(min(max(len(order), 1), 6))
    rows = int(np.ceil(max(len(order), 1) / cols))
    fig = _new_figure(max(1.9 * cols + 0.4, 4.5), 2.1 * rows + 0.5)
    if len(order) == 0:
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, "No misclassified images", ha="center", va="center")
    else:
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax, i, pic in zip(axes, order, shown):
            ax.imshow(pic, cmap="gray" if pic.ndim == 2 else None, vmin=0, vmax=1)
            ax.set_title(f"true {_class_name(result, result.y_true[i])}\n"
                         f"P(fake)={result.y_score[i]:.2f}",
                         fontsize="x-small")
            ax.axis("off")
        for ax in axes[len(order):]:
            ax.axis("off")
    fig.suptitle(
        title or f"Most confident mistakes ({len(wrong)} of {result.n_samples} wrong)"
    )
    return fig
