"""``skface evaluate``: score a model on a manifest split or on folders; metrics.json + report."""

import json
import os
from pathlib import Path

import numpy as np

from ._common import (PATH_BATCH, CLIError, _split_source, add_device_argument,
                      add_folder_arguments, add_quiet_argument, atomic_dir, check_out_outside,
                      check_output_dir, image_folders, probability_threshold, report_skipped,
                      scan_folders, write_skipped)

HELP = "score a model on a split or on folders; write metrics.json and a report"
DESCRIPTION = """\
Load MODEL_DIR, score the images of a manifest split (default: test) or of folders of real and
fake faces, and write into DIR: metrics.json (accuracy, precision, recall, f1, roc_auc,
confusion_matrix, per_source...; fake is the positive class), report.html / report.md with ROC
and precision-recall curves, the confusion matrix, the training curves and the worst mistakes,
and predictions.csv (one row per image)."""
EXAMPLES = (
    "skface evaluate --model model --manifest manifest.csv --out results",
    "skface evaluate --model model --real new/real --fake new/fake-sdxl --out results-sdxl",
)


def add_arguments(p):
    p.add_argument("--model", required=True, metavar="MODEL_DIR", help="from `skface train`")
    add_device_argument(p, "where the network predicts")
    p.add_argument("--manifest", help="manifest CSV; evaluates its --split")
    p.add_argument("--split", default="test", choices=("train", "val", "test", "all"),
                   help="which manifest split to score")
    add_folder_arguments(p, required=False)
    p.add_argument("--out", required=True, metavar="DIR", help="report folder to write")
    p.add_argument("--threshold", type=probability_threshold, default=None,
                   help="P(fake) threshold (default: the model's own decision, 0.5)")
    add_quiet_argument(p)


def gather(args):
    """Paths, labels, sources, a description of what is scored, and the ``(path, reason)`` of
    every file the folder scan skipped."""
    if args.manifest and (args.real or args.fake):
        raise CLIError("give either --manifest or --real/--fake, not both")
    if args.manifest:
        from ._train import read_split

        split = None if args.split == "all" else args.split
        files, y, source = read_split(args.manifest, split, own_rows_only=True)
        return files, y, source, (f"all rows of {args.manifest}" if args.split == "all" else
                                  f"the {args.split} split of {args.manifest}"), []
    if not (args.real and args.fake):
        raise CLIError("give --manifest, or both --real and --fake folders")
    data = scan_folders(args)
    return (np.asarray(data.filenames, dtype=object), np.asarray(data.target),
            np.asarray(data.source, dtype=object),
            "the folders " + " ".join(args.real + args.fake),
            list(zip(data.skipped.filenames, data.skipped.reasons)))


def evaluate_and_report(pipeline, files, y, source, out, *, title, notes=None,
                        manifest=None, threshold=None, progress=True,
                        evaluated_on="the test split"):
    """Score ``files`` and write the report folder; return the EvaluationResult.

    The files are decoded and scored ``PATH_BATCH`` at a time (memory stays flat however many
    there are); the report loads again only the images it draws.
    """
    from skface.experiments import write_report
    from skface.metrics import evaluate

    from ._model import transform_paths

    clf = pipeline.steps[-1][1]
    loader = pipeline.steps[0][1]
    if "verbose" in loader.get_params():  # one bar for the whole set, drawn by evaluate
        loader.set_params(verbose=0)
    paths = np.asarray(files, dtype=object)
    result = evaluate(pipeline, list(paths), y, sources=source, threshold=threshold,
                      batch_size=PATH_BATCH, progress=progress)

    def images(index):  # the few images the report draws, decoded again
        return transform_paths(pipeline, paths[index])

    write_report(out, title=title, evaluation=result, models={"model": clf}, images=images,
                 manifest=manifest, notes=notes, overwrite=True, evaluated_on=evaluated_on)
    return result


def write_predictions(path, files, result):
    """predictions.csv: path, true_label, p_fake, predicted, as ``result`` (an
    EvaluationResult) counted them, so that the file and metrics.json never disagree (at
    P(fake) = 0.5 exactly, the model's own decision without --threshold)."""
    from ._common import write_csv

    def name(label):
        return "fake" if label == result.pos_label else "real"

    rows = [(f, name(t), f"{s:.6f}", name(p))
            for f, t, s, p in zip(files, result.y_true, result.y_score, result.y_pred)]
    write_csv(path, ("path", "true_label", "p_fake", "predicted"), rows)


def format_metrics(result):
    def f(v):
        return "n/a" if v is None else f"{v:.4f}"

    lines = [f"{result.n_samples} images: accuracy {f(result.accuracy)}  precision "
             f"{f(result.precision)}  recall {f(result.recall)}  f1 {f(result.f1)}  "
             f"roc_auc {f(result.roc_auc)}",
             f"confusion matrix [[tn, fp], [fn, tp]] (positive = fake): "
             f"{result.confusion_matrix}"]
    for src, r in sorted(result.per_source.items()):
        lines.append(f"  {src:<24} n={r.n_samples:<6} accuracy {f(r.accuracy)}")
    return "\n".join(lines)


def run(args):
    from ._model import load_model

    out = Path(args.out)
    check_output_dir(out, "evaluate")
    check_out_outside(out, [(flag, _split_source(item)[1])
                            for flag, items in (("--real", args.real), ("--fake", args.fake))
                            for item in items or ()])
    pipeline, meta = load_model(args.model, args.device)
    files, y, source, what, skipped = gather(args)
    if args.manifest is not None:  # the folders given as --real/--fake were checked above
        check_out_outside(out, image_folders(files, source, y))
    with atomic_dir(out, "evaluate") as tmp:
        result = evaluate_and_report(
            pipeline, files, y, source, tmp,
            title=f"skface evaluation of {args.model}",
            notes=f"Model {args.model} scored on {what}.",
            manifest=args.manifest, threshold=args.threshold, progress=not args.quiet,
            evaluated_on=what)
        if skipped:  # after the report, which fills the folder afresh
            write_skipped(tmp / "skipped.csv", skipped)
        if result.y_score is not None:
            # absolute, as the manifest copy beside it: the folder is read from elsewhere
            write_predictions(tmp / "predictions.csv", [os.path.abspath(f) for f in files],
                              result)
        # metrics.json: the report's own record, with the test metrics also at the top level
        metrics_path = tmp / "metrics.json"
        record = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
        record.update(result.to_dict())
        record.update({"model": str(args.model), "data": what, "skipped_files": len(skipped),
                       "model_interrupted": bool(getattr(pipeline.steps[-1][1], "interrupted_",
                                                         False))})
        # the report's list of files, with the ones written here after it
        listed = list(record.get("files", []))
        record["files"] = listed + [name for name in ("predictions.csv", "skipped.csv")
                                    if (tmp / name).is_file() and name not in listed]
        metrics_path.write_text(json.dumps(record, indent=2))
    report_skipped(skipped, "skface evaluate: the scan skipped",
                   out / "skipped.csv" if skipped else None)
    print(format_metrics(result))
    print(f"report: {out / 'report.html'}; metrics: {out / 'metrics.json'}")
