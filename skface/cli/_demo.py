"""``skface demo``: the whole protocol, offline, on the embedded demo faces (a proxy)."""

import sys
import time
from pathlib import Path

import numpy as np

from ._common import (add_device_argument, atomic_dir, check_device, check_output_dir,
                      int_at_least, positive_int, seed_arg, shell_quote)

HELP = "run the whole protocol offline on the embedded demo data (a proxy)"
PROXY_NOTE = (
    "This is the offline DEMO, a proxy: real faces are the 100 LFW crops that scikit-image "
    "ships, fakes are made by small seeded up-sampling generators that skface runs on them. "
    "It shows the protocol working end to end; its numbers say nothing about detecting "
    "StyleGAN or diffusion faces. For the real protocol run `skface fetch` + `skface build` on "
    "the Kaggle sets, or `skface build` on your own folders."
)
DESCRIPTION = """\
Run every step of the protocol on the embedded demo data, offline: write the demo images,
build a de-duplicated 70/15/15 manifest (balanced test split), audit it for shortcuts, train the
recommended model with early stopping, evaluate it on the test split (overall and per
generator), hold out each generator in turn (cross-source evaluation), run a small
attention x focal-loss ablation, and write a report.

""" + PROXY_NOTE
EXAMPLES = ("skface demo --out demo-report", "skface demo --out quick --max-epochs 5 --no-ablation")


def add_arguments(p):
    import argparse

    p.add_argument("--out", default="skface-demo", metavar="DIR", help="folder to write")
    p.add_argument("--size", type=int_at_least(8), default=24, metavar="N",
                   help="image side in pixels (the demo images are 24x24)")
    p.add_argument("--max-epochs", type=positive_int, default=20, metavar="N",
                   help="epochs of the main model (early stopping keeps the best epoch after "
                   "the first 65 %%, and stops early only when the validation loss stalls for "
                   "its patience after that)")
    p.add_argument("--ablation-epochs", type=positive_int, default=12, metavar="N",
                   help="epoch bound of each ablation and cross-source run")
    p.add_argument("--ablation", action=argparse.BooleanOptionalAction, default=True,
                   help="run the attention x focal-loss ablation")
    p.add_argument("--cross-source", action=argparse.BooleanOptionalAction, default=True,
                   help="hold out each generator in turn")
    p.add_argument("--seed", type=seed_arg, default=0, help="seed of the split and of training")
    p.add_argument("--threads", type=positive_int, default=1, metavar="N",
                   help="CPU threads for PyTorch; the demo's 24-pixel images train fastest on "
                   "one (more threads mostly add synchronisation overhead)")
    add_device_argument(p, "where the networks train")


# The demo's only departures from the recommended configuration, for its tiny gray images:
# one gray channel, small batches so that 140 training images still make ~9 steps an epoch,
# and one network instead of the recipe's ensemble of four, so the demo stays under a minute.
DEMO_LOADER = {"color": "gray"}
# one network on the whole image: the demo stays under a minute
DEMO_CLASSIFIER = {"batch_size": 16, "n_members": 1, "views": None, "view_size": None}


def _demo_pipeline(args, **kwargs):
    """The recommended pipeline with the demo's departures (see DEMO_LOADER/DEMO_CLASSIFIER)."""
    from ._train import make_pipeline

    pipe = make_pipeline(size=args.size, device=args.device, verbose=0, **kwargs)
    pipe.steps[0][1].set_params(**DEMO_LOADER)
    pipe.steps[-1][1].set_params(**DEMO_CLASSIFIER)
    return pipe


def _step(i, n, text):
    print(f"[{i}/{n}] {text}", file=sys.stderr, flush=True)


def run(args):
    import torch

    check_device(args.device)  # a missing GPU is named before any work
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _run(args)
    finally:
        torch.set_num_threads(threads)


def _run(args):
    from skface.datasets import (audit_shortcuts, build_dataset, load_demo_faces, read_manifest,
                                 write_manifest)
    from skface.experiments import cross_source_evaluate, run_ablation, write_report
    from skface.metrics import evaluate

    from ._audit import format_table, source_table
    from ._model import save_model, transform_paths
    from ._train import split_rows

    out = Path(args.out)
    check_output_dir(out, "demo")
    t0 = time.perf_counter()
    n_steps = 6 + bool(args.cross_source) + bool(args.ablation)  # the last writes the report
    print("skface demo: " + PROXY_NOTE, file=sys.stderr)
    with atomic_dir(out, "demo") as tmp:
        _step(1, n_steps, "writing the demo faces (100 real LFW crops, 100 generated)")
        demo = load_demo_faces(out_dir=tmp / "data", random_state=args.seed)
        real = [str(tmp / "data" / "real" / "lfw")]
        fake = [str(tmp / "data" / "fake" / g) for g in sorted(set(demo.source) - {"lfw"})]

        _step(2, n_steps, "building the data set: scan, duplicates, split 70/15/15")
        data = build_dataset(real, fake, dedupe=True, random_state=args.seed)
        manifest = tmp / "manifest.csv"
        write_manifest(data, manifest, root=tmp)  # relative paths: the folder can move

        _step(3, n_steps, "auditing for format and size shortcuts")
        audit = audit_shortcuts(data, random_state=args.seed, progress=False)
        audit_text = (format_table(("source", "label", "n", "format", "pixel size", "JPEG q",
                                    "EXIF"), source_table(data)) + "\n\n" + audit.summary())
        (tmp / "audit.txt").write_text(audit_text + "\n")

        _step(4, n_steps, "training the recommended model (early stopping on val)")
        built = read_manifest(manifest)  # read once for every split below
        files_tr, y_tr, _ = split_rows(built, manifest, "train")
        files_va, y_va, _ = split_rows(built, manifest, "val")
        files_te, y_te, src_te = split_rows(built, manifest, "test")
        pipe = _demo_pipeline(args, max_epochs=args.max_epochs, seed=args.seed)
        clf = pipe.steps[-1][1]
        X_tr, X_va, X_te = (transform_paths(pipe, f) for f in (files_tr, files_va, files_te))
        clf.fit(X_tr, y_tr, X_val=X_va, y_val=y_va)
        save_model(tmp / "model", pipe, info={"manifest": "manifest.csv", "demo": True,
                                              "best_epoch": int(clf.best_epoch_),
                                              "n_epochs": int(clf.n_epochs_)})

        _step(5, n_steps, "evaluating on the balanced test split")
        result = evaluate(clf, X_te, y_te, sources=src_te)

        files_all, y_all, src_all = split_rows(built, manifest, None)
        splits = np.asarray(built.split, dtype=object).astype(str)
        parts = tuple(np.flatnonzero(splits == s) for s in ("train", "val", "test"))
        small = {"max_epochs": args.ablation_epochs}
        step = 5
        cross = ablation = None
        if args.cross_source:
            step += 1
            _step(step, n_steps, "cross-source: train without one generator, test on it")
            held = _demo_pipeline(args, seed=args.seed, **small)
            gens = sorted(set(src_all) - {"lfw"})
            cross = cross_source_evaluate(held, list(files_all), y_all, src_all, split=parts,
                                          held_out=gens, groups=built.get("group"),
                                          return_details=True, progress=True)
            if cross[1].interrupted:  # it keeps the finished rows and returns: stop here too
                raise KeyboardInterrupt
        if args.ablation:
            step += 1
            _step(step, n_steps, "ablation: attention (none, SE, CBAM) x focal loss (0, 2)")
            abl = _demo_pipeline(args, **small)
            name = abl.steps[-1][0]
            grid = {f"{name}__attention": [None, "se", "cbam"], f"{name}__gamma": [0.0, 2.0]}
            ablation = run_ablation(abl, grid, list(files_all), y_all, parts,
                                    seeds=(args.seed,), sources=src_all, csv_path=None,
                                    return_details=True, progress=True)
            if ablation[1].interrupted:
                raise KeyboardInterrupt

        _step(n_steps, n_steps, "writing the report")
        write_report(tmp / "report", title="skface demo report (offline proxy data)",
                     evaluation=result, ablation=ablation, cross_source=cross,
                     models={"recommended": clf}, images=X_te, manifest=manifest,
                     notes=PROXY_NOTE + "\n\nShortcut audit:\n\n" + audit.summary())
        (tmp / "README.txt").write_text(_readme(args, result, time.perf_counter() - t0))

    from ._evaluate import format_metrics

    print(format_metrics(result))
    print(f"done in {time.perf_counter() - t0:.0f} s. Report: {out / 'report' / 'report.html'}; "
          f"model: {out / 'model'}; manifest: {out / 'manifest.csv'}")
    print("Reminder: demo data are a proxy; see README.txt in the output folder.")


def _f(value):
    return "n/a" if value is None else f"{value:.4f}"


def _readme(args, result, seconds):
    model = shell_quote(Path(args.out) / "model")
    return f"""skface demo output
==================

{PROXY_NOTE}

Contents
  data/          the demo images: data/real/lfw/*.png, data/fake/<generator>/*.png
  manifest.csv   the built data set (paths relative to this folder, split, group, metadata)
  audit.txt      the shortcut audit (formats, sizes, metadata-only classifier)
  model/         the trained model; use it with
                   skface predict --model {model} IMAGE_OR_FOLDER ...
  report/        report.html, report.md, metrics.json, figures and tables

Test accuracy {_f(result.accuracy)}, F1 {_f(result.f1)}, ROC AUC {_f(result.roc_auc)} \
({result.n_samples} test images); run time {seconds:.0f} s.

Real protocol:
  skface fetch tpdne --dest data/fake/tpdne --max-images 2000
  skface fetch ffhq --dest data/real/ffhq --max-images 2000
  skface audit --real data/real/* --fake data/fake/*
  skface build --real data/real/* --fake data/fake/* --out manifest.csv
  skface train --manifest manifest.csv --out model
  skface evaluate --model model --manifest manifest.csv --out results
"""
