"""One folder per run: report.html (self-contained), report.md, metrics.json, CSVs, figures."""

import base64
import datetime as _dt
import html
import json
import math
import os
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..datasets._manifest import absolute_manifest_text
from ..metrics import EvaluationResult
from ..utils import atomic_write_text
from ..utils._io import interrupt_deferred, temp_dir_beside
from ._ablation import AblationDetails
from ._cross_source import COUNT_COLUMNS, INTERRUPTED_STATUS, CrossSourceDetails
from ._io import as_records, records_to_csv_text
from ._plots import (
    _check_positive_int,
    _close_figure,
    plot_confusion_matrix,
    plot_misclassified,
    plot_pr_curves,
    plot_roc_curves,
    plot_training_curves,
    save_figure,
)

__all__ = ["write_report"]

MANIFEST_COPY = "manifest.csv"  # the report folder's copy of the data manifest
_MAPPED_IMAGES = 4  # images drawn with their Grad-CAM and attention maps

_CSS = """
body{font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;padding:0 1.2em;color:#1f2328;line-height:1.45;background:#fff}
h1{border-bottom:2px solid #d0d7de;padding-bottom:.3em}
h2{margin-top:1.8em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}
.meta{color:#57606a;font-size:.9em}
.cards{display:flex;flex-wrap:wrap;gap:.8em;margin:1em 0}
.card{border:1px solid #d0d7de;border-radius:8px;padding:.6em 1em;min-width:110px;
background:#f6f8fa}
.card .v{font-size:1.6em;font-weight:600}.card .k{color:#57606a;font-size:.85em}
.tw{overflow-x:auto}table{border-collapse:collapse;margin:.8em 0;font-size:.88em}
th,td{border:1px solid #d0d7de;padding:.3em .6em;text-align:right;white-space:nowrap}
th{background:#f6f8fa}td:first-child,th:first-child{text-align:left}
tr.sel td{background:#dafbe1;font-weight:600}
tr:nth-child(even) td{background-color:#fbfcfd}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eaeef2}
figcaption{color:#57606a;font-size:.88em}
.note{background:#fff8c5;border:1px solid #eed888;padding:.5em .8em;border-radius:6px;\
white-space:pre-wrap}
"""

_MAIN_METRICS = (
    ("accuracy", "Accuracy"), ("precision", "Precision"), ("recall", "Recall"), ("f1", "F1"),
    ("roc_auc", "ROC-AUC"), ("average_precision", "Avg. precision"), ("eer", "EER"),
)


def _fmt(v, digits=4):
    if v is None:
        return "n/a"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else ""
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return "n/a"
        return f"{v:.{digits}f}"
    return str(v)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


class _Doc:
    """Builds the HTML and Markdown versions side by side."""

    def __init__(self):
        self.html = []
        self.md = []

    def heading(self, text, level=2):
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")
        self.md.append(f"{'#' * level} {text}\n")

    def para(self, text, cls=None):
        attr = f' class="{cls}"' if cls else ""
        self.html.append(f"<p{attr}>{html.escape(text)}</p>")
        self.md.append(f"{text}\n")

    def cards(self, items):
        self.html.append('<div class="cards">' + "".join(
            f'<div class="card"><div class="v">{html.escape(v)}</div>'
            f'<div class="k">{html.escape(k)}</div></div>' for k, v in items) + "</div>")
        self.md.append(" | ".join(f"**{k}**: {v}" for k, v in items) + "\n")

    def table(self, header, rows, selected=None):
        selected = selected or [False] * len(rows)
        heads = "".join(f"<th>{html.escape(str(c))}</th>" for c in header)
        h = ['<div class="tw"><table><thead><tr>' + heads
             + "</tr></thead><tbody>"]
        for row, sel in zip(rows, selected):
            cls = ' class="sel"' if sel else ""
            h.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row)
                     + "</tr>")
        h.append("</tbody></table></div>")
        self.html.append("".join(h))

        def md_cell(c):
            return str(c).replace("|", "\\|").replace("\n", " ")

        md = ["| " + " | ".join(md_cell(c) for c in header) + " |",
              "|" + "|".join("---" for _ in header) + "|"]
        for row, sel in zip(rows, selected):
            cells = [md_cell(c) for c in row]
            if sel:
                cells = [f"**{c}**" if c else c for c in cells]
            md.append("| " + " | ".join(cells) + " |")
        self.md.append("\n".join(md) + "\n")

    def figure(self, png_bytes, rel_path, caption):
        b64 = base64.b64encode(png_bytes).decode("ascii")
        self.html.append(
            f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
        self.md.append(f"![{caption}]({rel_path})\n\n*{caption}*\n")


def _evaluation_section(doc, result, evaluated_on="the test split"):
    doc.heading(f"Evaluation on {evaluated_on}")
    doc.cards([(label, _fmt(getattr(result, key), 3)) for key, label in _MAIN_METRICS])
    if result.threshold is None:
        thr = "the estimator's own predict"
    else:
        thr = f"P(fake) >= {result.threshold:.3f}"
    doc.para(
        f"{result.n_samples} images ({evaluated_on}); fake = {result.pos_label!r} is the "
        "positive class; "
        f"decision rule: {thr}. Confusion matrix (rows true, columns predicted): "
        f"TN={result.tn}, FP={result.fp}, FN={result.fn}, TP={result.tp}."
    )
    if result.per_source:
        doc.heading("Per source", 3)
        header = ["source", "n", "accuracy", "precision", "recall", "specificity", "F1",
                  "ROC-AUC", "TN", "FP", "FN", "TP"]
        rows = []
        for src, r in result.per_source.items():
            rows.append([src, r.n_samples, _fmt(r.accuracy), _fmt(r.precision), _fmt(r.recall),
                         _fmt(r.specificity), _fmt(r.f1), _fmt(r.roc_auc), r.tn, r.fp, r.fn, r.tp])
        doc.table(header, rows)
        doc.para("n/a: undefined on that source (e.g. recall on a source without fakes).", "meta")


def _pm(rec, metric):
    m, s = rec.get(f"{metric}_mean"), rec.get(f"{metric}_std")
    if m is None:
        return "n/a"
    return f"{m:.3f} ± {s:.3f}" if s is not None else f"{m:.3f}"


def _ablation_section(doc, records, selection_metric=None):
    params = []
    if records and "accuracy_mean" in records[0]:
        params = [k for k in records[0] if k not in ("config", "n_seeds", "selected", "n_params",
                                                     "undefined")
                  and not k.endswith(("_mean", "_std"))]
    doc.heading("Ablation" + (f": {', '.join(params)}" if params else ""))
    val_name = ("val score" if selection_metric is None
                else f"val {selection_metric.replace('_', ' ')}")
    if params:
        header = params + ["seeds", "accuracy", "precision", "recall", "F1", "ROC-AUC",
                           val_name, "params", "epochs (best)", "fit s"]
        rows, sel = [], []
        for r in records:
            epochs = "n/a"
            if r.get("n_epochs_mean") is not None:
                epochs = f"{r['n_epochs_mean']:.1f}"
                if r.get("best_epoch_mean") is not None:
                    epochs += f" ({r['best_epoch_mean']:.1f})"
            rows.append([str(r[p]) for p in params] + [
                r.get("n_seeds"), _pm(r, "accuracy"), _pm(r, "precision"), _pm(r, "recall"),
                _pm(r, "f1"), _pm(r, "roc_auc"), _pm(r, "val_score"),
                _fmt(r.get("n_params")), epochs, _fmt(r.get("fit_time_s_mean"), 1),
            ])
            sel.append(bool(r.get("selected")))
        doc.table(header, rows, sel)
        doc.para("Test-split metrics, mean ± sample std over seeds (the mean alone for one seed). "
                 f"The highlighted row has the best mean {val_name} (the validation split's "
                 "score that selects the model; selection never looks at the test split). "
                 "\"fit s\" of the first run also holds one-time start-up costs.", "meta")
        gaps = [f"{r['config']}: {r['undefined']}" for r in records if r.get("undefined")]
        if gaps:
            doc.para("Undefined for some seeds (e.g. precision when no image was called fake), "
                     "so averaged over the other seeds only: " + "; ".join(gaps) + ".", "note")
    else:
        _generic_table(doc, records)


def _generic_table(doc, records):
    if not records:
        doc.para("(no rows)")
        return
    cols = []
    for r in records:
        for k in r:
            if k not in cols:
                cols.append(k)
    doc.table(cols, [[_fmt(r.get(c)) for c in cols] for r in records])


def _cross_section(doc, records):
    doc.heading("Cross-source: leave one source out")
    doc.para("Each row trains on all other sources and tests on the held-out one. "
             "held-out accuracy = share of the held-out source classified correctly; ROC-AUC "
             "compares it with the other class's test images; in-dist = the same model on the "
             "test images of the sources it was trained on.")
    header = ["held out", "class", "n held out", "held-out accuracy", "mean P(fake)", "ROC-AUC",
              "avg. precision", "in-dist accuracy", "in-dist ROC-AUC", "status"]
    rows = [[r.get("held_out"), r.get("held_out_class"), _fmt(r.get("n_held_out")),
             _fmt(r.get("held_out_accuracy")), _fmt(r.get("held_out_mean_p_fake")),
             _fmt(r.get("roc_auc")), _fmt(r.get("average_precision")),
             _fmt(r.get("in_dist_accuracy")), _fmt(r.get("in_dist_roc_auc")), r.get("status")]
            for r in records]
    doc.table(header, rows)


def _unpack(obj, details_type, int_columns=()):
    """Accept a table, a details object or a ``(table, details)`` tuple."""
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[1], details_type):
        return as_records(obj[0], int_columns), obj[1]
    if isinstance(obj, details_type):
        return as_records(obj.table, int_columns), obj
    table_like = obj is None or (hasattr(obj, "to_dict") and hasattr(obj, "columns")) or (
        isinstance(obj, (list, tuple)) and all(isinstance(r, Mapping) for r in obj))
    if not table_like:  # an int or a string failed deep in dict() with a riddle
        raise ValueError(f"Expected a table (DataFrame or list of dicts), a "
                         f"{details_type.__name__} or a (table, {details_type.__name__}) pair; "
                         f"got {type(obj).__name__}.")
    return as_records(obj, int_columns), None


def _face_models(models):
    from ._explain import find_face_classifier

    out = {}
    for label, m in (models or {}).items():
        try:
            find_face_classifier(m)
        except TypeError:
            continue
        out[label] = m
    return out


def write_report(out_dir, *, title="skface report", evaluation=None, evaluations=None,
                 ablation=None, cross_source=None, models=None, images=None, model_inputs=None,
                 figures=None, manifest=None, notes=None, n_images=16, max_curves=8,
                 overwrite=False, evaluated_on="the test split"):
    """Write one run's report folder.

    The folder holds ``report.html`` (self-contained: figures embedded as base64 PNG),
    ``report.md`` (figures under ``figures/``), ``metrics.json``, the tables as CSV
    (``ablation.csv``, ``ablation_runs.csv``, ``cross_source.csv``, ``per_source.csv``) and a copy
    of the manifest. Everything is written into a temporary sibling folder that is renamed into
    place at the end, so a folder named ``out_dir`` is always complete.

    Parameters
    ----------
    out_dir : str or Path
        The run folder. It must not exist unless ``overwrite=True``.
    title : str
    evaluation : EvaluationResult, optional
        The main test-set result: metric cards, per-source table, confusion matrix, ROC and PR
        curves, and with ``images`` the most confidently misclassified images.
    evaluations : dict of str to EvaluationResult, optional
        Results to compare in ROC / PR plots (one curve each). Taken from ``ablation`` details
        (first seed) when not given.
    ablation : table, AblationDetails or (table, AblationDetails), optional
        :func:`run_ablation` output. With details, its estimators feed the training curves and
        attention maps.
    cross_source : table, CrossSourceDetails or (table, CrossSourceDetails), optional
    models : dict of str to fitted model, optional
        FaceCNNClassifier models (or pipelines ending in one) for training curves and, with
        ``images``, Grad-CAM / attention maps. Defaults to the ablation's estimators (first seed).
        Other models are left out of the report with a ``UserWarning`` naming them.
    images : array-like of images or callable, optional
        The test images in the order of ``evaluation`` (uint8 or floats in [0, 1]), or a
        function that takes an array of indices into them and returns those images, so that
        only the images drawn are loaded (see :func:`plot_misclassified`).
    model_inputs : array-like, optional
        What the models take for those images (e.g. paths for a pipeline starting with an
        ImageLoader); the first four are drawn with their maps. Defaults to ``images`` (with a
        function, to the first four images it returns).
    figures : dict of str to (Figure or path to PNG), optional
        Extra figures, added at the end, saved as ``figures/extra_<name>.png`` with characters
        other than letters, digits, ``-`` and ``_`` replaced by ``_``; a name that gives the
        file name of an earlier figure gets a suffix ``_2``, ``_3``, ...
    manifest : str or Path, optional
        The data manifest used (:func:`skface.datasets.write_manifest`); copied into the folder
        as ``manifest.csv``, every column kept and relative image paths made absolute.
    notes : str, optional
        A paragraph shown under the title.
    n_images : int >= 1, default=16
        Misclassified images shown.
    max_curves : int, default=8
        With more ablation configurations than this, the curves, training curves and attention
        maps show :meth:`AblationDetails.representatives` only (one per attention setting).
    overwrite : bool, default=False
        Replace an existing ``out_dir`` (only after the new report is complete). Only an
        empty folder or an earlier report (one with ``report.html`` or ``metrics.json``) is
        replaced; any other folder is refused, since the whole folder is replaced.
    evaluated_on : str, default="the test split"
        What ``evaluation`` scored, as the report's headings and captions name it and
        ``metrics.json`` records it (``"evaluated_on"``), e.g. ``"the val split of m.csv"``.

    Returns
    -------
    out_dir : Path

    Raises
    ------
    FileExistsError
        ``out_dir`` exists and ``overwrite`` is False, or it is neither empty nor a report.
    FileNotFoundError
        ``manifest`` or a figure path does not exist.
    TypeError
        ``evaluation`` is not an :class:`~skface.metrics.EvaluationResult`, or ``n_images`` is
        not an int.
    ValueError
        Nothing to report: every one of ``evaluation``, ``evaluations``, the ablation and
        cross-source rows, the FaceCNNClassifier models in ``models`` and ``figures`` is missing
        or empty; or another argument of the wrong kind (``title``, ``notes``, a figure that is
        not a PNG file or a Figure, ``n_images`` below 1).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(
            f"Report folder {out_dir} already exists; choose a new folder or pass overwrite=True."
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} exists and is not a folder.")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not any(
            (out_dir / name).is_file() for name in ("report.html", "metrics.json")):
        # overwrite replaces the whole folder: one wrong path would have deleted a project
        raise FileExistsError(
            f"{out_dir} holds files but no skface report (report.html, metrics.json); "
            "overwrite=True replaces only an earlier report. Choose a new folder.")
    _check_positive_int(n_images, "n_images")
    if evaluation is not None and not isinstance(evaluation, EvaluationResult):
        raise TypeError("evaluation must be an EvaluationResult (skface.metrics.evaluate).")
    if manifest is not None and not Path(manifest).is_file():
        raise FileNotFoundError(f"manifest {manifest} does not exist.")
    # read once, now: a file that is no manifest is named before any work
    manifest_text = None if manifest is None else absolute_manifest_text(manifest)
    if not isinstance(title, str):
        raise ValueError(f"title must be a string; got {title!r}.")
    if not isinstance(evaluated_on, str) or not evaluated_on.strip():
        raise ValueError(f"evaluated_on must be a non-empty string; got {evaluated_on!r}.")
    if notes is not None and not isinstance(notes, str):
        raise ValueError(f"notes must be a string or None; got {notes!r}.")
    for arg, value in (("evaluations", evaluations), ("models", models), ("figures", figures)):
        if value is not None and not isinstance(value, Mapping):
            raise ValueError(f"{arg} must be a dict {{name: ...}}; got {type(value).__name__}.")
    bad = [k for k, v in (evaluations or {}).items() if not isinstance(v, EvaluationResult)]
    if bad:
        raise ValueError(f"evaluations {bad} are not EvaluationResult objects.")
    for name, fig in (figures or {}).items():
        if isinstance(fig, (str, os.PathLike)):
            if not Path(fig).is_file():
                raise FileNotFoundError(f"figure {name!r}: {fig} does not exist.")
            with open(fig, "rb") as f:  # embedded as image/png: anything else shows broken
                if f.read(8) != b"\x89PNG\r\n\x1a\n":
                    raise ValueError(f"figure {name!r}: {fig} is not a PNG file.")
        elif not hasattr(fig, "savefig"):
            raise ValueError(f"figure {name!r} must be a matplotlib Figure or the path of a PNG "
                             f"file; got {type(fig).__name__}.")

    ab_records, ab_details = _unpack(ablation, AblationDetails)
    given_models = models
    # sample counts stay integers (23, not 23.0 or 23.0000) even from a float table
    cs_records, cs_details = _unpack(cross_source, CrossSourceDetails, int_columns=COUNT_COLUMNS)
    cs_interrupted = bool(getattr(cs_details, "interrupted", False)) or any(
        r.get("status") == INTERRUPTED_STATUS for r in cs_records)
    picked_note = None
    if ab_details is not None and ab_details.evaluations:
        shown = ab_details.configs
        if len(shown) > max_curves:
            shown = ab_details.representatives()
            picked_note = (f"{len(shown)} of {len(ab_details.configs)} configurations are drawn: "
                           f"per attention setting, the one with the best validation score "
                           f"(seed {ab_details._seed(None)}).")
        if evaluations is None:
            evaluations = {c: e for c, e in ab_details.evaluations_for_seed().items()
                           if c in shown}
        if models is None and ab_details.estimators:
            models = {c: m for c, m in ab_details.estimators_for_seed().items() if c in shown}
    face_models = _face_models(models)
    passed_over = sorted(map(str, set(given_models or {}) - set(face_models)))
    # checked after the ablation's defaults are taken and the models filtered, so that empty
    # containers or models without a FaceCNNClassifier never give an empty report
    if not (evaluation is not None or evaluations or ab_records or cs_records or face_models
            or figures):
        raise ValueError(
            "write_report got nothing to report: no evaluation, evaluations, ablation or "
            "cross-source rows, FaceCNNClassifier models or figures"
            + (f" (models {passed_over} hold no fitted FaceCNNClassifier)." if passed_over
               else "."))
    if passed_over:
        warnings.warn(f"write_report: models {passed_over} hold no fitted FaceCNNClassifier, so "
                      "the report has no training curves or maps for them.", UserWarning,
                      stacklevel=2)
    if model_inputs is None and callable(images) and evaluation is not None:
        model_inputs = images(np.arange(min(_MAPPED_IMAGES, evaluation.n_samples)))
    elif model_inputs is None and not callable(images):
        model_inputs = images

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_beside(out_dir, "tmp")
    try:
        fig_dir = tmp / "figures"
        fig_dir.mkdir()
        doc = _Doc()
        created = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        from .. import __version__

        doc.html.append(f"<h1>{html.escape(title)}</h1>")
        doc.md.append(f"# {title}\n")
        doc.para(f"Created {created} with skface {__version__}.", "meta")
        if notes:
            doc.para(notes, "note")
        run_records = None if ab_details is None else as_records(ab_details.runs)
        interrupted = ab_details is not None and ab_details.interrupted
        if interrupted:
            doc.para(f"Interrupted (Ctrl-C): only the {len(run_records)} run(s) that finished are "
                     "reported; the means and the selected configuration cover those runs only.",
                     "note")
        saved = []

        def add_figure(name, fig, caption, made_here=True):
            # names that clean to the same file ("loss curve", "loss/curve") get _2, _3, ...;
            # compared without case, for case-insensitive file systems
            taken = {p.lower() for p in saved}
            stem, k = name, 1
            while f"figures/{name}.png".lower() in taken:
                k += 1
                name = f"{stem}_{k}"
            path = fig_dir / f"{name}.png"
            if isinstance(fig, (str, os.PathLike)):
                shutil.copyfile(fig, path)
            else:
                save_figure(fig, path)
                if made_here:  # the caller's own figures stay open for the caller
                    _close_figure(fig)
            doc.figure(path.read_bytes(), f"figures/{name}.png", caption)
            saved.append(f"figures/{name}.png")

        if evaluation is not None:
            _evaluation_section(doc, evaluation, evaluated_on)
            add_figure("confusion_matrix", plot_confusion_matrix(evaluation),
                       f"Confusion matrix on {evaluated_on}.")
            if evaluation.y_score is not None:
                add_figure("roc", plot_roc_curves({"model": evaluation}),
                           f"ROC curve on {evaluated_on}.")
                add_figure("pr", plot_pr_curves({"model": evaluation}),
                           f"Precision-recall curve on {evaluated_on} (fake = positive).")
            if images is not None and evaluation.y_score is not None:
                add_figure("misclassified",
                           plot_misclassified(evaluation, images, n_images=n_images),
                           f"The images of {evaluated_on} misclassified with the highest "
                           "confidence.")
        if ablation is not None:
            _ablation_section(doc, ab_records, None if ab_details is None
                              else ab_details.selection_metric)
        if evaluations:
            doc.heading("ROC and precision-recall curves", 2)
            if picked_note:
                doc.para(picked_note, "meta")
            add_figure("roc_curves", plot_roc_curves(evaluations),
                       "ROC curves on the test split, one per configuration.")
            add_figure("pr_curves", plot_pr_curves(evaluations),
                       "Precision-recall curves on the test split, one per configuration.")
        if face_models:
            from ._explain import find_face_classifier

            doc.heading("Training", 2)
            # the classifier inside each model: a pipeline has no interrupted_ of its own
            stopped = {name: clf for name, clf in
                       ((name, find_face_classifier(m)) for name, m in face_models.items())
                       if getattr(clf, "interrupted_", False)}
            for name, clf in stopped.items():
                doc.para(f"Model {name!r}: training was interrupted (Ctrl-C) after "
                         f"{clf.n_epochs_} of {clf.max_epochs} epochs"
                         + (f", with {len(clf.members_)} of {clf.n_members} networks"
                            if len(clf.members_) < clf.n_members else "")
                         + f"; it keeps the weights of epoch {clf.best_epoch_}, the best so far, "
                         "not of a finished run.", "note")
            add_figure("training_curves", plot_training_curves(face_models),
                       "Train and validation loss per epoch; the dashed line marks the epoch "
                       "whose weights were kept (early stopping on validation loss"
                       + ("; for an interrupted model, the best epoch before Ctrl-C" if stopped
                          else "") + ").")
            if model_inputs is not None:
                from ._explain import plot_attention

                # the positive class of the results shown, when every model knows it (labels
                # such as "human" / "ai" do not say which is fake)
                shown = [evaluation, *(evaluations or {}).values()]
                fake = next((e.pos_label for e in shown if e is not None), None)
                if fake is not None and not all(
                        fake in list(find_face_classifier(m).classes_)
                        for m in face_models.values()):
                    fake = None
                doc.heading("Where the models look", 2)
                add_figure("attention", plot_attention(face_models, model_inputs,
                                                       n_images=_MAPPED_IMAGES, target=fake),
                           "Grad-CAM of the evidence for the fake class (its logit against "
                           "the other's) and the deepest attention block's map, per model "
                           "variant.")
        if cross_source is not None:
            if cs_interrupted:
                n_ok = sum(r.get("status") == "ok" for r in cs_records)
                doc.para(f"Cross-source evaluation interrupted (Ctrl-C): {n_ok} of "
                         f"{len(cs_records)} held-out sources finished; the rows marked "
                         "\"not run\" were never trained.", "note")
            _cross_section(doc, cs_records)
        for name, fig in (figures or {}).items():
            doc.heading(str(name), 2)
            safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(name))
            add_figure(f"extra_{safe}", fig, str(name), made_here=False)

        files = ["report.html", "report.md", "metrics.json"]
        if ab_records:
            atomic_write_text(tmp / "ablation.csv", records_to_csv_text(ab_records))
            files.append("ablation.csv")
        if ab_details is not None and ab_details.runs is not None:
            atomic_write_text(tmp / "ablation_runs.csv", records_to_csv_text(run_records))
            files.append("ablation_runs.csv")
        if cs_records:
            atomic_write_text(tmp / "cross_source.csv", records_to_csv_text(cs_records))
            files.append("cross_source.csv")
        if evaluation is not None and evaluation.per_source:
            per = [{"source": s, **r.metrics()} for s, r in evaluation.per_source.items()]
            atomic_write_text(tmp / "per_source.csv", records_to_csv_text(per))
            files.append("per_source.csv")
        if manifest is not None:
            # under one name, which no table of the report takes (a manifest called
            # per_source.csv was overwritten by the table), with its relative image paths
            # made absolute, so that the copy reads the same images from this folder
            atomic_write_text(tmp / MANIFEST_COPY, manifest_text)
            files.append(MANIFEST_COPY)
            doc.para(f"Data manifest used: {manifest}, copied into this folder as "
                     f"{MANIFEST_COPY} (image paths made absolute).", "meta")

        metrics = {
            "title": title,
            "created": created,
            "skface_version": __version__,
            "evaluation": None if evaluation is None else evaluation.to_dict(),
            "evaluated_on": None if evaluation is None else evaluated_on,
            "evaluations": {k: v.to_dict() for k, v in (evaluations or {}).items()},
            "ablation": ab_records,
            "ablation_runs": run_records,
            "ablation_selected": None if ab_details is None else ab_details.selected,
            "ablation_interrupted": interrupted,
            "cross_source": cs_records,
            "cross_source_interrupted": cs_interrupted,
            "figures": saved,
            "files": files,
        }
        atomic_write_text(tmp / "metrics.json", json.dumps(_jsonable(metrics), indent=2))
        body = "\n".join(doc.html)
        page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>"
                f"<body>\n{body}\n</body></html>\n")
        atomic_write_text(tmp / "report.html", page)
        atomic_write_text(tmp / "report.md", "\n".join(doc.md))
        if out_dir.exists():
            old = temp_dir_beside(out_dir, "old")
            old.rmdir()
            with interrupt_deferred():  # a Ctrl-C between the renames left no report at all
                os.replace(out_dir, old)
                os.replace(tmp, out_dir)
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
