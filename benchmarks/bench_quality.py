"""Detection quality of the recommended configuration on the shared face folder.

Trains :func:`skface.make_recommended_pipeline` (the configuration ``skface train`` uses by
default) on ``../shared/data/faces`` with the 70/15/15 protocol of
:func:`skface.datasets.train_val_test_split` for seeds 0, 1 and 2, and prints for each seed and
as mean +- std over the seeds: test accuracy, F1 (fake = positive) and ROC-AUC, accuracy per
source, and the training wall and CPU time.

The validation split is used the way ``skface train`` uses it: early stopping watches its loss
(through :func:`skface.experiments.validation_fit_params`). Its scores are printed too, so that
recipe choices can be made on it and never on the test split.

Each seed also prints test accuracy and F1 at the ``P(fake)`` threshold that maximises
balanced accuracy on the validation split (:func:`skface.metrics.best_threshold` on the
validation scores already computed), beside the default 0.5, and ``--json`` rows keep every
scored image's label, ``P(fake)`` and source (``"scores"``), so that other decision rules can
be compared later without training again.

``--hold-out SOURCE ...`` checks generalisation to sources never seen in training: the named
sources leave the training, validation and test parts of every split, and all their images
are scored on their own ("held-out" accuracy, ROC-AUC and per-source accuracy).

``--balance undersample`` (or ``oversample``) resamples the training and validation parts the
way ``skface build --balance ...`` does (:func:`skface.datasets.balance_indices`, same seeds as
:func:`skface.datasets.build_dataset`), so that the figures are those of a user who builds the
data set that way with the CLI (on the shared faces, which hold no duplicates, the three parts
are then exactly those of ``build_dataset(..., random_state=seed)``; checked for seed 0). The
test part is never resampled, so the rows pair with ``--balance none`` (the default, and
``skface build``'s: every training image, 59 % of them real on the shared faces). Early
stopping watches the resampled validation part, as ``skface train`` would; the validation
scores are computed on every validation image once, so that they pair too.

``--train-fraction F`` trains on a stratified share ``F`` of the training part (the same
validation and test parts; for one seed the smaller shares are subsets of the larger ones), for
a learning curve of the recipe.

``--augment`` trains with the optional augmentation (``make_recommended_pipeline(augment=True)``:
blur on half the training images since the twenty-second round of ``RESULTS.md``); pair it
with a run without. The rows of earlier rounds used the full augmentation, which the recipe
had until the fourteenth round: ``--augment --set clf__augment__flip_prob=0.5
clf__augment__crop_prob=0.5 clf__augment__jitter_prob=0.5 clf__augment__blur_prob=0.1
clf__augment__jpeg_prob=0.1`` gives it again.

``--normalize-format`` puts the optional format step back
(``make_recommended_pipeline(normalize_format=True)``: every loaded image re-encoded as a JPEG
of quality 90). The recipe had it until the twenty-third round of ``RESULTS.md``, so every row
of the earlier rounds was measured with it; pass the flag to reproduce them.

``--merge-val`` trains on the training and validation parts together, for the recipe's full
``max_epochs`` without early stopping (nothing is left to stop on), and scores the same test
part. The validation scores it prints are then on trained images and mean nothing; pair it
with ``--set clf__early_stopping=false``, which trains the same fixed schedule on the training
part alone.

``--robustness`` also scores the test images of every seed after each of a fixed set of
re-savings (:data:`RESAVINGS`: PNG, JPEG at quality 50 and 30, a 1.5 px Gaussian blur, a
shrink to 37.5 % of the side), written to a temporary folder and fed to the fitted pipeline
like any other files; it prints their accuracy, F1 and ROC-AUC beside the clean ones. The
validation images are re-saved the same way, and each re-saving also prints the test accuracy
and F1 at the threshold tuned on its re-saved validation images (balanced accuracy, as above):
what a user who knows how the images to judge were treated can do without training again.

Timings are noisy: the machine this was developed on has 2 cores shared with other jobs, so the
CPU time of the training process (user + system, all threads) is printed beside the wall time,
and so is the machine's speed at the time: the milliseconds of one training step of a fixed
workload (:func:`reference_step_ms`), measured before and after each fit.

Usage::

    PYTHONPATH=. python benchmarks/bench_quality.py
    PYTHONPATH=. python benchmarks/bench_quality.py --seeds 0 --data /path/to/faces
    PYTHONPATH=. python benchmarks/bench_quality.py --json results.json
    PYTHONPATH=. python benchmarks/bench_quality.py --set clf__weight_decay=0.05  # a lever
    PYTHONPATH=. python benchmarks/bench_quality.py --hold-out tpdne-u1i celebahq-clovaai
    PYTHONPATH=. python benchmarks/bench_quality.py --robustness   # re-saved test images
    PYTHONPATH=. python benchmarks/bench_quality.py --spectrum   # classical baselines
    PYTHONPATH=. python benchmarks/bench_quality.py --residual

The data folder is found from ``--data``, the ``SKFACE_FACES_DIR`` environment variable or
``../shared/data/faces`` next to the repository; the script exits with a message when none
exists.
"""

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from skface import make_recommended_pipeline  # noqa: E402
from skface.datasets import (  # noqa: E402
    balance_indices, load_faces, train_val_test_split)
from skface.experiments import validation_fit_params  # noqa: E402
from skface.metrics import best_threshold, evaluate, evaluate_scores  # noqa: E402


def find_data(arg):
    """The faces folder: ``arg`` when given (and only it), else ``SKFACE_FACES_DIR``, else
    ``../shared/data/faces``; None when the chosen one has no ``real/`` and ``fake/``."""
    cands = [arg] if arg else [os.environ.get("SKFACE_FACES_DIR"),
                               ROOT / ".." / "shared" / "data" / "faces"]
    for cand in cands:
        if cand and (Path(cand) / "real").is_dir() and (Path(cand) / "fake").is_dir():
            return Path(cand).resolve()
    return None


def pipeline_param(text):
    """``"clf__weight_decay=0.05"`` -> ``("clf__weight_decay", 0.05)``, for ``--set``."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected PARAM=VALUE, got {text!r}")
    try:
        value = json.loads(value)
    except json.JSONDecodeError:
        pass
    return name, tuple(value) if isinstance(value, list) else value


def fraction(text):
    """argparse type: a float in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1]")
    return value


def cpu_seconds():
    t = os.times()
    return t.user + t.system


def reference_step_ms(n_steps=20):
    """Milliseconds per training step of a fixed workload: the recipe's 64 px network, one
    AdamW step on a batch of 64 random images, in this process's torch threads.

    Printed beside every fit time, so that wall times measured on a shared machine whose speed
    drifts (2x swings were seen on the development host) can be compared across runs.
    """
    from skface.nn import FaceCNN

    gen = torch.Generator().manual_seed(0)
    net = FaceCNN(width=32, depth=4, dropout=0.3)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    xb = torch.rand(64, 3, 64, 64, generator=gen)
    yb = torch.randint(0, 2, (64,), generator=gen)
    times = []
    for i in range(n_steps + 3):
        start = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xb), yb).backward()
        opt.step()
        if i >= 3:  # warm-up steps are not counted
            times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def scores_of(result):
    """The per-image record of an :class:`~skface.metrics.EvaluationResult` for the JSON rows:
    labels (1 = fake), ``P(fake)`` to 5 decimals and sources, so that decision rules can be
    compared afterwards without training again."""
    return {"y": [int(v) for v in result.y_true],
            "p_fake": [round(float(v), 5) for v in result.y_score],
            "source": None if result.sources is None else [str(v) for v in result.sources]}


def at_threshold(result, threshold):
    """Accuracy and F1 (fake = positive) of an :class:`~skface.metrics.EvaluationResult`'s
    kept ``P(fake)`` cut at ``threshold``, without running the networks again."""
    cut = evaluate_scores(result.y_true, result.y_score, threshold=threshold,
                          pos_label=result.pos_label)
    return cut.accuracy, cut.f1


def _blur(img):
    from PIL import ImageFilter
    return img.filter(ImageFilter.GaussianBlur(radius=1.5)), "PNG", {}


def _shrink(img):
    from PIL import Image
    side = (max(1, round(0.375 * img.width)), max(1, round(0.375 * img.height)))
    return img.resize(side, Image.Resampling.LANCZOS), "PNG", {}


#: ``--robustness``: name -> function of a Pillow RGB image returning the image to save, its
#: format and the save options. The blurred and shrunk copies are saved losslessly, so that
#: each row changes one thing.
RESAVINGS = {
    "png": lambda img: (img, "PNG", {}),
    "jpeg50": lambda img: (img, "JPEG", {"quality": 50}),
    "jpeg30": lambda img: (img, "JPEG", {"quality": 30}),
    "blur1.5": _blur,
    "shrink0.375": _shrink,
}


def resaved_copies(paths, folder, name):
    """Write ``RESAVINGS[name]`` of every file in ``paths`` into ``folder``; return the new
    paths, in the same order."""
    from skface.preprocessing import open_image

    out_dir = Path(folder) / name
    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for i, path in enumerate(paths):
        img, fmt, options = RESAVINGS[name](open_image(path))
        target = out_dir / f"{i:05d}.{'png' if fmt == 'PNG' else 'jpg'}"
        img.save(target, format=fmt, **options)
        out.append(str(target))
    return out


def robustness(pipe, paths, y, val_paths=None, val_y=None):
    """Test figures of the fitted ``pipe`` on every re-saving of ``paths`` (a dict of
    name -> {accuracy, f1, roc_auc, p_fake}). The copies are decoded without the loader's
    cache, which is restored afterwards.

    With ``val_paths`` and ``val_y``, the validation images are re-saved the same way too, and
    each entry also holds the ``P(fake)`` threshold that maximises balanced accuracy on them
    (``val_threshold``) and the test accuracy and F1 at it: the decision rule of a user who
    knows how the images to judge were re-saved and tunes the threshold on validation images
    treated alike."""
    import tempfile

    memory = pipe.get_params()["load__memory"]
    pipe.set_params(load__memory=None)
    out = {}
    try:
        with tempfile.TemporaryDirectory(prefix="skface-resaved-") as folder:
            for name in RESAVINGS:
                res = evaluate(pipe, resaved_copies(paths, Path(folder) / "test", name), y)
                out[name] = {"accuracy": res.accuracy, "f1": res.f1, "roc_auc": res.roc_auc,
                             "p_fake": scores_of(res)["p_fake"]}
                if val_paths is None:
                    continue
                res_val = evaluate(pipe, resaved_copies(val_paths, Path(folder) / "val", name),
                                   val_y)
                threshold = best_threshold(res_val.y_true, res_val.y_score,
                                           pos_label=res_val.pos_label)
                acc, f1 = at_threshold(res, threshold)
                out[name].update({"val_accuracy": res_val.accuracy, "val_threshold": threshold,
                                  "accuracy_at_val_threshold": acc,
                                  "f1_at_val_threshold": f1,
                                  "val_p_fake": scores_of(res_val)["p_fake"]})
    finally:
        pipe.set_params(load__memory=memory)
    return out


def run_seed(data, seed, args):
    train, val, test = train_val_test_split(data.filenames, data.target, random_state=seed)
    files = np.asarray(data.filenames)
    held = np.isin(data.source, args.hold_out or [])
    if held.any():  # the sources to generalise to: out of all three parts, scored on their own
        train, val, test = (idx[~held[idx]] for idx in (train, val, test))
    if args.train_fraction < 1:  # learning curve: the first F of each class, seeded shuffle
        rng = np.random.default_rng(seed)
        train = np.sort(np.concatenate([
            rng.permutation(part)[:max(1, round(args.train_fraction * len(part)))]
            for part in (train[data.target[train] == c] for c in np.unique(data.target))]))
    val_scored = val  # validation scores: every validation image once, resampled or not
    if args.merge_val:  # a fixed schedule on train + val; val_scored is then trained on
        train = np.sort(np.concatenate([train, val]))
    if args.balance != "none":  # as build_dataset resamples: train with seed + 1, val seed + 2
        train, val = (part[balance_indices(data.target[part], balance=args.balance,
                                           random_state=seed + k + 1)]
                      for k, part in enumerate((train, val)))
    pipe = make_recommended_pipeline(size=args.size, augment=args.augment,
                                     normalize_format=args.normalize_format,
                                     random_state=seed, verbose=args.verbose)
    if args.memory:
        pipe.set_params(load__memory=args.memory)
    if args.max_epochs is not None:
        pipe.set_params(clf__max_epochs=args.max_epochs)
    if args.views:  # each view at the side the recipe's view_size="auto" gives it
        pipe.set_params(clf__views=tuple(args.views), clf__n_members=len(args.views))
    if args.members is not None:
        pipe.set_params(clf__n_members=args.members)
    if args.precision:
        pipe.set_params(clf__precision=args.precision)
    if args.set:
        pipe.set_params(**args.set)
    if args.merge_val:
        pipe.set_params(clf__early_stopping=False)
    ref_before = reference_step_ms()
    # the timer covers decoding the validation images for early stopping too (it had started
    # after it, and with --memory the training images were decoded there and read from the
    # cache by the timed fit)
    wall, cpu = time.perf_counter(), cpu_seconds()
    fit_params = {}
    if pipe[-1].early_stopping:  # as `skface train` does: stop on the protocol's val split
        fit_params = validation_fit_params(pipe, files[train], data.target[train],
                                           files[val], data.target[val])
    pipe.fit(files[train], data.target[train], **fit_params)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    ref_step = (ref_before + reference_step_ms()) / 2
    res_val = evaluate(pipe, files[val_scored], data.target[val_scored],
                       sources=data.source[val_scored])
    res = evaluate(pipe, files[test], data.target[test], sources=data.source[test])
    # The decision threshold as a lever: P(fake) cut where balanced accuracy peaks on the
    # validation split (best_threshold on its kept scores), applied unchanged to the test
    # (and held-out) images; not with --merge-val, whose validation images were trained on
    threshold = at_thr = None
    if not args.merge_val:
        threshold = best_threshold(res_val.y_true, res_val.y_score,
                                   pos_label=res_val.pos_label)
        at_thr = at_threshold(res, threshold)
    row = {
        "seed": seed, "n_train": len(train), "n_val": len(val), "n_val_scored": len(val_scored),
        "n_test": len(test),
        "balance": args.balance, "n_train_fake": int(data.target[train].sum()),
        "train_fraction": args.train_fraction, "merge_val": args.merge_val,
        "augment": args.augment, "normalize_format": args.normalize_format,
        "val_accuracy": res_val.accuracy, "val_roc_auc": res_val.roc_auc,
        "accuracy": res.accuracy, "f1": res.f1, "roc_auc": res.roc_auc,
        "per_source": {s: r.accuracy for s, r in sorted(res.per_source.items())},
        "per_source_n": {s: r.n_samples for s, r in sorted(res.per_source.items())},
        "val_threshold": threshold,
        "accuracy_at_val_threshold": None if at_thr is None else at_thr[0],
        "f1_at_val_threshold": None if at_thr is None else at_thr[1],
        "scores": {"val": scores_of(res_val), "test": scores_of(res)},
        "fit_wall_s": wall, "fit_cpu_s": cpu, "ref_step_ms": ref_step,
        "n_epochs": pipe[-1].n_epochs_, "best_epoch": pipe[-1].best_epoch_,
        "members": [{"n_epochs": m["n_epochs"], "best_epoch": m["best_epoch"],
                     "fit_time": m["fit_time"]} for m in pipe[-1].members_],
    }
    if args.robustness:
        # no threshold from validation images that --merge-val trained on
        val_paths, val_y = ((None, None) if args.merge_val
                            else (files[val_scored], data.target[val_scored]))
        row["robustness"] = robustness(pipe, files[test], data.target[test],
                                       val_paths=val_paths, val_y=val_y)
    if held.any():
        unseen = np.flatnonzero(held)
        res_unseen = evaluate(pipe, files[unseen], data.target[unseen],
                              sources=data.source[unseen])
        row.update({
            "held_out": sorted(set(args.hold_out)), "n_unseen": len(unseen),
            "unseen_accuracy": res_unseen.accuracy, "unseen_roc_auc": res_unseen.roc_auc,
            "unseen_per_source": {s: r.accuracy
                                  for s, r in sorted(res_unseen.per_source.items())},
            "unseen_accuracy_at_val_threshold": (
                None if threshold is None else at_threshold(res_unseen, threshold)[0]),
        })
        row["scores"]["unseen"] = scores_of(res_unseen)
    print(f"seed {seed}: train {len(train)} / val {len(val)} / test {len(test)} | "
          f"val acc {res_val.accuracy:.3f} auc {res_val.roc_auc:.3f} | "
          f"test acc {res.accuracy:.3f} F1 {res.f1:.3f} AUC {res.roc_auc:.3f} | "
          f"fit {wall:.0f} s wall, {cpu:.0f} s CPU (reference step {ref_step:.0f} ms), epochs "
          + ", ".join(f"{m['n_epochs']} (kept {m['best_epoch']})" for m in row["members"]),
          flush=True)
    if threshold is not None:
        print(f"  at the threshold tuned on validation (P(fake) >= {threshold:.3f}): test acc "
              f"{at_thr[0]:.3f} F1 {at_thr[1]:.3f}")
    for s, acc in row["per_source"].items():
        print(f"    {s:<24} n={row['per_source_n'][s]:>4}  acc {acc:.3f}")
    for name, r in row.get("robustness", {}).items():
        print(f"  test images re-saved as {name:<12} acc {r['accuracy']:.3f} F1 {r['f1']:.3f} "
              f"AUC {r['roc_auc']:.3f}"
              + ("" if "val_threshold" not in r else
                 f" | threshold tuned on validation images re-saved alike "
                 f"{r['val_threshold']:.3f}: acc {r['accuracy_at_val_threshold']:.3f} "
                 f"F1 {r['f1_at_val_threshold']:.3f}"))
    if held.any():
        tuned = row["unseen_accuracy_at_val_threshold"]
        print(f"  held-out sources, {len(unseen)} images never trained or validated on: acc "
              f"{res_unseen.accuracy:.3f} AUC {res_unseen.roc_auc:.3f}"
              + ("" if tuned is None else f" (acc {tuned:.3f} at the tuned threshold)"))
        for s, acc in row["unseen_per_source"].items():
            print(f"    {s:<24} n={res_unseen.per_source[s].n_samples:>4}  acc {acc:.3f}")
    return row


#: The classical baselines: name -> (feature transformer factory, C of the logistic regression,
#: title). The residual baseline's C was picked by 5-fold cross-validation on the training
#: part of seeds 0 and 1 (LogisticRegressionCV over 11 values 1e-4..10 chose 0.01 both times).
CLASSICAL = {
    "spectrum": ("SpectrumFeatures", 1.0, "SpectrumFeatures + LogisticRegression"),
    "residual": ("ResidualCooccurrence", 0.01, "ResidualCooccurrence + LogisticRegression"),
}


def run_classical(data, seed, args):
    """Classical baseline: ImageLoader -> FormatNormalizer -> features -> logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skface import preprocessing

    name, C, _ = CLASSICAL[args.baseline]
    train, val, test = train_val_test_split(data.filenames, data.target, random_state=seed)
    files = np.asarray(data.filenames)
    pipe = make_pipeline(preprocessing.ImageLoader(size=args.spectrum_size, memory=args.memory),
                         preprocessing.FormatNormalizer(quality=90),
                         getattr(preprocessing, name)(), StandardScaler(),
                         LogisticRegression(C=C, max_iter=5000))
    wall, cpu = time.perf_counter(), cpu_seconds()
    pipe.fit(files[train], data.target[train])
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    res_val = evaluate(pipe, files[val], data.target[val])
    res = evaluate(pipe, files[test], data.target[test], sources=data.source[test])
    print(f"{args.baseline} baseline ({args.spectrum_size}px), seed {seed}: "
          f"val acc {res_val.accuracy:.3f} | test acc {res.accuracy:.3f} F1 {res.f1:.3f} "
          f"AUC {res.roc_auc:.3f} | fit {wall:.0f} s wall, {cpu:.0f} s CPU", flush=True)
    for s, r in sorted(res.per_source.items()):
        print(f"    {s:<24} acc {r.accuracy:.3f}")
    return {"seed": seed, "val_accuracy": res_val.accuracy, "accuracy": res.accuracy,
            "f1": res.f1, "roc_auc": res.roc_auc, "fit_wall_s": wall, "fit_cpu_s": cpu,
            "per_source": {s: r.accuracy for s, r in sorted(res.per_source.items())}}


def summarise(rows, title="Recommended configuration"):
    def ms(key):
        vals = [r[key] for r in rows if r.get(key) is not None and r[key] == r[key]]
        if not vals:
            return float("nan"), float("nan")
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        return statistics.mean(vals), sd

    print(f"\n{title}, seeds {[r['seed'] for r in rows]} (mean +- std)")
    val = [] if any(r.get("merge_val") for r in rows) else [("val_accuracy", "val accuracy")]
    if not val:
        print("  (trained on the validation part too: no validation scores)")
    for key, name in (("accuracy", "test accuracy"), ("f1", "test F1"),
                      ("roc_auc", "test ROC-AUC"), *val,
                      ("val_threshold", "val-tuned threshold"),
                      ("accuracy_at_val_threshold", "  test accuracy"),
                      ("f1_at_val_threshold", "  test F1"),
                      ("fit_wall_s", "fit wall time (s)"), ("fit_cpu_s", "fit CPU time (s)"),
                      ("ref_step_ms", "reference step (ms)")):
        m, sd = ms(key)
        if m != m:  # in no row (rows written before the key existed, or --merge-val)
            continue
        print(f"  {name:<20} {m:8.3f} +- {sd:.3f}")

    def per_source(key, name):
        print(f"  per-source {name} accuracy:")
        for s in rows[0][key]:
            vals = [r[key][s] for r in rows if r[key].get(s) is not None]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            print(f"    {s:<24} {statistics.mean(vals):.3f} +- {sd:.3f}")

    per_source("per_source", "test")
    if all("robustness" in r for r in rows):  # --robustness runs
        tuned = all("val_threshold" in r["robustness"][name]
                    for r in rows for name in r["robustness"])
        print("  re-saved test images (accuracy / F1 / ROC-AUC"
              + ("; at the threshold tuned on validation images re-saved alike: "
                 "threshold, accuracy / F1" if tuned else "") + "):")
        for name in rows[0]["robustness"]:
            keys = ("accuracy", "f1", "roc_auc") + (
                ("val_threshold", "accuracy_at_val_threshold", "f1_at_val_threshold")
                if tuned else ())
            means = [statistics.mean(r["robustness"][name][k] for r in rows) for k in keys]
            print(f"    {name:<24} {means[0]:.3f} / {means[1]:.3f} / {means[2]:.3f}"
                  + ("" if not tuned else
                     f"; {means[3]:.3f}, {means[4]:.3f} / {means[5]:.3f}"))
    if all("unseen_accuracy" in r for r in rows):  # --hold-out runs
        for key, name in (("unseen_accuracy", "held-out accuracy"),
                          ("unseen_roc_auc", "held-out ROC-AUC"),
                          ("unseen_accuracy_at_val_threshold", "  at the tuned threshold")):
            m, sd = ms(key)
            if m != m:
                continue
            print(f"  {name:<20} {m:8.3f} +- {sd:.3f}")
        per_source("unseen_per_source", "held-out")


def _at_least_1(text):
    """An int >= 1 (argparse type): 0 had been taken as "not given" and run the full recipe."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="faces folder with real/ and fake/")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--size", type=_at_least_1, default=128,
                   help="loaded image side (the recipe's, 128)")
    p.add_argument("--max-epochs", type=_at_least_1, default=None,
                   help="override (quick runs only)")
    p.add_argument("--members", type=_at_least_1, default=None,
                   help="override the number of networks averaged (lever measurements)")
    p.add_argument("--views", type=float, nargs="+", default=None,
                   help="override the networks' zoom factors, one network each, each view "
                        "at the side the recipe gives it: half the loaded side, or the view's "
                        "own side where smaller (lever measurements)")
    p.add_argument("--precision", choices=["auto", "float32", "bfloat16"], default=None,
                   help="override the classifier's precision (default: the recipe's, auto)")
    p.add_argument("--augment", action="store_true",
                   help="train with the optional augmentation "
                        "(make_recommended_pipeline(augment=True): blur on half the training "
                        "images; the recipe trains without)")
    p.add_argument("--normalize-format", action="store_true",
                   help="re-encode every loaded image as a JPEG of quality 90 first "
                        "(make_recommended_pipeline(normalize_format=True); the recipe until "
                        "the twenty-third round of RESULTS.md)")
    p.add_argument("--set", nargs="+", default=None, metavar="PARAM=VALUE", type=pipeline_param,
                   help="override any pipeline parameter, e.g. clf__weight_decay=0.05 "
                        "(values are read as JSON where they parse, else as strings)")
    p.add_argument("--hold-out", nargs="+", default=None, metavar="SOURCE",
                   help="leave these sources out of training, validation and test, and score "
                        "all their images as unseen sources (generalisation check)")
    p.add_argument("--balance", choices=["none", "undersample", "oversample"], default="none",
                   help="resample the training and validation parts as `skface build "
                        "--balance` does (its default, none, keeps every image); the test part "
                        "is never resampled")
    p.add_argument("--train-fraction", type=fraction, default=1.0, metavar="F",
                   help="train on this stratified share of the training part, in (0, 1] "
                        "(learning curves); validation and test parts are unchanged")
    p.add_argument("--robustness", action="store_true",
                   help="also score the test images re-saved as PNG, JPEG q50 and q30, blurred "
                        "(1.5 px) and shrunk (37.5 %%)")
    p.add_argument("--merge-val", action="store_true",
                   help="train on the training and validation parts together for the full "
                        "schedule, without early stopping (validation scores then mean "
                        "nothing); the test part is unchanged")
    p.add_argument("--memory", default=None, help="ImageLoader cache folder")
    p.add_argument("--json", default=None, help="write the per-seed rows here")
    p.add_argument("--threads", type=_at_least_1, default=None,
                   help="torch threads (default: torch's)")
    p.add_argument("--summarise", nargs="+", default=None, metavar="JSON",
                   help="only print the summary of rows saved by earlier --json runs")
    p.add_argument("--spectrum", dest="baseline", action="store_const", const="spectrum",
                   help="run the SpectrumFeatures + LogisticRegression baseline instead")
    p.add_argument("--residual", dest="baseline", action="store_const", const="residual",
                   help="run the ResidualCooccurrence + LogisticRegression baseline instead")
    p.add_argument("--spectrum-size", type=int, default=256,
                   help="image side of the classical baselines")
    p.add_argument("--verbose", type=int, default=0)
    args = p.parse_args(argv)
    if args.set:
        args.set = dict(args.set)
    if args.summarise:
        summarise([row for f in args.summarise for row in json.loads(Path(f).read_text())])
        return 0
    if args.baseline:  # the recipe-only options, refused before any image is read
        for flag, used in (("--hold-out", args.hold_out), ("--balance", args.balance != "none"),
                           ("--train-fraction", args.train_fraction < 1),
                           ("--merge-val", args.merge_val),
                           ("--robustness", args.robustness), ("--augment", args.augment),
                           ("--normalize-format", args.normalize_format),
                           # these had been dropped without a word by the baselines
                           ("--size", args.size != 128),
                           ("--max-epochs", args.max_epochs is not None),
                           ("--members", args.members is not None),
                           ("--views", args.views), ("--precision", args.precision),
                           ("--set", args.set)):
            if used:
                hint = " (they take --spectrum-size)" if flag == "--size" else ""
                print(f"bench_quality: {flag} applies to the CNN recipe, not the "
                      f"baselines{hint}.")
                return 1
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    data_dir = find_data(args.data)
    if data_dir is None:
        where = (f"{args.data} has no real/ and fake/ folders" if args.data
                 else "no face folder found")
        print(f"bench_quality: {where} (use --data or SKFACE_FACES_DIR).")
        return 1
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        data = load_faces(data_dir / "real", data_dir / "fake", source_from="subfolder",
                          progress=False)
    if args.hold_out:
        sources = set(np.asarray(data.source).tolist())
        unknown = sorted(set(args.hold_out) - sources)
        if unknown:
            print(f"bench_quality: --hold-out names unknown source(s) {unknown}; the sources "
                  f"are {sorted(sources)}.")
            return 1
        held_labels = set(data.target[np.isin(data.source, args.hold_out)].tolist())
        if len(held_labels) < 2:
            print("bench_quality: --hold-out needs at least one real and one fake source (the "
                  "held-out images are scored with accuracy and ROC-AUC, which need both "
                  "classes); add a source of the other class, or use "
                  "skface.experiments.cross_source_evaluate for one source at a time.")
            return 1
    print(f"{len(data.target)} images from {data_dir} "
          f"({int((data.target == 0).sum())} real, {int((data.target == 1).sum())} fake)")
    rows = []
    try:
        for seed in args.seeds:
            rows.append((run_classical if args.baseline else run_seed)(data, seed, args))
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=2))
    except KeyboardInterrupt:
        print(f"\ninterrupted; {len(rows)} seed(s) finished")
    if rows:
        summarise(rows, CLASSICAL[args.baseline][2] if args.baseline
                  else "Recommended configuration")
    return 0


if __name__ == "__main__":
    sys.exit(main())
