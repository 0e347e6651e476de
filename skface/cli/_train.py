"""``skface train``: train the recommended model on a manifest's train split."""

import sys
from pathlib import Path

import numpy as np

from ._common import (CLIError, add_device_argument, add_quiet_argument, check_device,
                      check_out_outside, check_output_dir, image_folders, int_at_least,
                      non_negative_float, positive_int, read_manifest_arg, seed_arg,
                      shell_quote)

HELP = "train a model on the train split of a manifest (early stopping on val)"
DESCRIPTION = """\
Train on the manifest's train split, stop early when the validation split's loss stops
improving, keep the best epoch's weights, and save everything needed to predict from file paths
into MODEL_DIR (the preprocessing steps and the network, as JSON + tensors: no pickle).

Without tuning flags this trains the library's recommended configuration: four networks on
views of the face (whole, middle 3/4, half and quarter), focal loss with gamma 2, label
smoothing 0.1, a one-cycle schedule over 30 epochs, no augmentation, and test-time flips (each
face is also scored mirrored). Early stopping ignores the first 65 % of the epochs, while the
learning rate is high; `--gamma 0` gives plain cross-entropy. Ctrl-C stops training and saves
the best model so far (exit status 130)."""
EXAMPLES = (
    "skface train --manifest manifest.csv --out model",
    "skface train --manifest manifest.csv --out model-se --attention se --gamma 2 --size 96",
)


def add_arguments(p):
    import argparse

    p.add_argument("--manifest", required=True, help="manifest CSV from `skface build`")
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="model folder to write")
    p.add_argument("--size", type=int_at_least(8), default=None, metavar="N",
                   help="loaded image side in pixels (default: the recommended 128; its "
                        "networks see views of half that side, the middle-quarter one of a "
                        "quarter)")
    p.add_argument("--attention", choices=("none", "se", "cbam", "nonlocal"), default=None,
                   help="attention block (default: the recommended one)")
    p.add_argument("--gamma", type=non_negative_float, default=None, metavar="G",
                   help="focal-loss gamma; 0 is cross-entropy (default: recommended)")
    p.add_argument("--class-weight", choices=("balanced", "none"), default=None,
                   help="class weighting of the loss (default: recommended)")
    p.add_argument("--balance", choices=("oversample", "undersample", "none"), default=None,
                   help="resample the train and val splits so that both classes count the "
                   "same: oversample repeats images of the smaller class, undersample leaves "
                   "images of the larger one out (default: recommended)")
    p.add_argument("--max-epochs", type=positive_int, default=None, metavar="N",
                   help="epochs to train (default: the recipe's 30); early stopping keeps the "
                   "epoch of lowest validation loss after the first 65 %%, and at the recipe's "
                   "patience of 10 runs all 30")
    p.add_argument("--depth", type=positive_int, default=None, metavar="N",
                   help="convolutional stages per network (default: the recommended 4; 5 fits "
                   "the training sources better and generalises worse to unseen ones)")
    p.add_argument("--batch-size", type=positive_int, default=None, metavar="N",
                   help="images per training step (default: recommended)")
    p.add_argument("--members", type=positive_int, default=None, metavar="N",
                   help="networks trained from different seeds and averaged; training time "
                   "grows with N (default: recommended)")
    p.add_argument("--early-stopping", action=argparse.BooleanOptionalAction, default=None,
                   help="stop when the validation loss stops improving and keep the best "
                   "epoch (default: the recommended setting, on)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=False,
                   help="train with a light Gaussian blur on half the training images: "
                   "steadier on blurred images, lower on faces from unseen sources, about "
                   "a fifth slower (default: off, as recommended)")
    p.add_argument("--normalize-format", action=argparse.BooleanOptionalAction, default=False,
                   help="re-encode every loaded image as a JPEG of quality 90 before the "
                   "network sees it; for data whose classes differ in format or JPEG quality "
                   "(see `skface audit`), when it measures better there (default: off, as "
                   "recommended)")
    p.add_argument("--seed", type=seed_arg, default=0, help="seed of initialisation and data order")
    add_device_argument(p, "where the networks train")
    p.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="auto",
                   help="auto: bfloat16 where the hardware computes it natively (CUDA, CPUs "
                   "with Intel AMX or AVX-512 BF16), float32 elsewhere")
    add_quiet_argument(p, "no progress bars or per-epoch lines")


def read_split(manifest, split, **kwargs):
    """Paths, labels and sources of one split of the manifest file ``manifest``: it read by
    :func:`read_manifest_arg`, then :func:`split_rows` (where ``kwargs`` go)."""
    path = Path(manifest)
    return split_rows(read_manifest_arg(path), path, split, **kwargs)


def split_rows(data, path, split, *, own_rows_only=False, may_be_empty=False):
    """Paths, labels and sources of one split (None: every row) of the manifest ``data`` read
    from ``path`` (CLIError when there are none), for a command that needs several splits
    from one read.

    With ``own_rows_only``, the rows ``skface build --balance oversample`` added (marked
    ``added`` in ``resampled``: repeats of other rows) are left out, so that each image is
    scored once; stderr says how many. With ``may_be_empty``, a split with no rows gives
    empty arrays instead of an error.
    """
    from skface.datasets._manifest import added_rows

    n = len(data.filenames)  # never 0: read_manifest refuses a manifest without rows
    if split is None:
        mask = np.ones(n, dtype=bool)
    else:
        splits = np.asarray(data.get("split", [""] * n), dtype=object).astype(str)
        mask = splits == split
        if not mask.any() and may_be_empty:
            empty = np.array([], dtype=object)
            return empty, np.array([], dtype=np.asarray(data.target).dtype), empty
        if not mask.any():
            found = sorted(set(splits) - {""})
            raise CLIError(f"manifest {path} has no rows in split {split!r}"
                           + (f" (it has: {', '.join(found)})" if found else " (no split column)"))
    if own_rows_only:
        added = mask & added_rows(data)
        if added.any():
            mask = mask & ~added
            sys.stderr.write(f"left out {int(added.sum())} row(s) of {path} that "
                             "`skface build --balance oversample` added (repeats of other "
                             "images): each image is scored once\n")
    files = np.asarray(data.filenames, dtype=object)[mask]
    y = np.asarray(data.target)[mask]
    source = np.asarray(data.get("source", ["?"] * n), dtype=object)[mask]
    return files, y, source


def make_pipeline(*, size=None, attention=None, gamma=None, class_weight=None, balance=None,
                  max_epochs=None, depth=None, batch_size=None, members=None,
                  early_stopping=None, augment=False, normalize_format=False, seed=0,
                  device="auto", precision="auto", verbose=1):
    """The recommended pipeline (paths -> preprocessing -> FaceCNNClassifier), unfitted.

    The recipe is the library's (:func:`skface.make_recommended_pipeline`); only the given
    flags override it; early stopping (the recipe's default) stops on the protocol's validation
    split.
    """
    from skface import make_recommended_pipeline

    over = {"random_state": seed, "device": device, "precision": precision,
            "verbose": verbose}
    # classifier parameter -> flag value; an unset flag (None) keeps the recipe's value, and
    # "none" is how the choice flags spell None
    flags = {"early_stopping": early_stopping, "attention": attention, "gamma": gamma,
             "class_weight": class_weight, "balance": balance, "max_epochs": max_epochs,
             "depth": depth, "batch_size": batch_size, "n_members": members}
    over.update({name: None if value == "none" else value
                 for name, value in flags.items() if value is not None})
    pipe = make_recommended_pipeline(**({} if size is None else {"size": size}),
                                     augment=augment, normalize_format=normalize_format)
    pipe.steps[-1][1].set_params(**over)
    return pipe


def train(manifest, out, **kwargs):
    """Load the train/val splits, fit, save the model folder; return the fitted pipeline."""
    from ._model import save_model, transform_paths

    check_output_dir(out, "train")  # before the training, not after it
    check_device(kwargs.get("device", "auto"))  # before the images are decoded
    from skface.datasets._manifest import added_rows

    data = read_manifest_arg(manifest)
    all_files, all_y, all_sources = split_rows(data, manifest, None)
    check_out_outside(out, image_folders(all_files, all_sources, all_y))
    files_tr, y_tr, _ = split_rows(data, manifest, "train")
    # `skface build --sizes TRAIN 0 TEST` writes no val split: the classifier then holds out
    # its own validation_fraction of the train split for early stopping
    files_va, y_va, _ = split_rows(data, manifest, "val", may_be_empty=True)
    for name, y in (("train", y_tr), ("val", y_va)):
        if len(y) and len(np.unique(y)) < 2:
            raise CLIError(f"the {name} split of {manifest} holds one class only; "
                           "both real and fake images are needed")
    pipe = make_pipeline(**kwargs)
    clf = pipe.steps[-1][1]
    if not len(files_va):
        print(f"{manifest} has no val split: "
              + (f"early stopping holds out {clf.validation_fraction:.0%} of the train split "
                 "(stratified) to watch" if clf.early_stopping else
                 "training runs every epoch with no validation score"), file=sys.stderr)
        # the train split's rows, in split_rows' order
        added = added_rows(data)[np.asarray(data.split, dtype=object).astype(str) == "train"]
        if clf.early_stopping and added.any():
            # the rows --balance oversample added repeat other training images: some would
            # land in the held-out part while their originals train. Train on each image once
            # and let the classifier oversample after it has held its part out
            files_tr, y_tr = files_tr[~added], y_tr[~added]
            if kwargs.get("balance") is None:
                clf.set_params(balance="oversample")
            print("  the rows --balance oversample added are left out; the classifier "
                  "oversamples after holding out its validation part", file=sys.stderr)
    pipe.steps[0][1].set_params(verbose=int(kwargs.get("verbose", 1) != 0))  # --quiet: no bars
    print(f"loading {len(files_tr)} train and {len(files_va)} validation images", file=sys.stderr)
    X_tr = transform_paths(pipe, files_tr)
    fit_val = {}
    if len(files_va):
        fit_val = {"X_val": transform_paths(pipe, files_va), "y_val": y_va}
    pipe.steps[0][1].set_params(verbose=0)
    try:
        clf.fit(X_tr, y_tr, **fit_val)
    except KeyboardInterrupt:
        if not getattr(clf, "interrupted_", False):
            raise  # before the first epoch ended: nothing to save
        # the classifier kept the best epoch so far (and the networks that finished): saved
        # below, and `run` exits with status 130
    info = {
        "manifest": str(Path(manifest).resolve()),
        "n_train": int(len(y_tr)),
        "n_val": int(len(y_va)),
        "best_epoch": int(clf.best_epoch_),
        "n_epochs": int(clf.n_epochs_),
        "interrupted": bool(clf.interrupted_),
        "members": [{"n_epochs": int(m["n_epochs"]), "best_epoch": int(m["best_epoch"])}
                    for m in clf.members_],
    }
    save_model(out, pipe, info=info)
    return pipe


def run(args):
    from skface._classifier import _high_lr_epochs

    pipe = train(args.manifest, args.out, size=args.size, attention=args.attention,
                 gamma=args.gamma, class_weight=args.class_weight, balance=args.balance,
                 max_epochs=args.max_epochs, depth=args.depth,
                 batch_size=args.batch_size, members=args.members,
                 early_stopping=args.early_stopping, augment=args.augment,
                 normalize_format=args.normalize_format, seed=args.seed,
                 device=args.device, precision=args.precision, verbose=0 if args.quiet else 2)
    clf = pipe.steps[-1][1]
    best = clf.history_[clf.best_epoch_ - 1] if clf.history_ else {}
    vl, va = best.get("valid_loss"), best.get("valid_accuracy")
    # the history scores each validation face once; predict and `skface evaluate` also
    # average its mirror image when the model uses test-time flips (the recipe does)
    detail = ("" if vl is None else f" (val loss {vl:.4f}, val accuracy {va:.3f}"
              + (" without test-time flips" if clf.tta else "") + ")")
    grace = _high_lr_epochs(clf.lr_schedule, clf.max_epochs) if clf.early_stopping else 0
    # when the high-rate epochs cover the whole run, the last epoch is kept: no rule to tell
    rule = ("" if not grace or grace >= clf.max_epochs or clf.interrupted_ else
            f" (the lowest validation loss after the first {grace} of {clf.max_epochs} epochs, "
            "whose high learning rate makes their losses no guide)")
    if clf.interrupted_ and clf.n_members > 1 and clf.members_[-1]["interrupted"]:
        # a network cut short is kept only when it is the first: nothing else would be left
        print(f"training interrupted in the first of {clf.n_members} networks after "
              f"{clf.n_epochs_} epoch(s); saved it alone, at its best epoch so far (epoch "
              f"{clf.best_epoch_}{detail}), to {args.out}")
        return 130
    if clf.interrupted_ and clf.n_members > 1:
        print(f"training interrupted; saved the {len(clf.members_)} of {clf.n_members} networks "
              f"that finished to {args.out}")
        return 130
    if clf.interrupted_:
        print(f"training interrupted after {clf.n_epochs_} epoch(s); saved the best model so far "
              f"(epoch {clf.best_epoch_}{detail}) to {args.out}")
        return 130
    if len(clf.members_) > 1:
        runs = ", ".join(f"{m['n_epochs']} (kept {m['best_epoch']})" for m in clf.members_)
        print(f"trained {len(clf.members_)} networks, epochs {runs}{rule}; the first one's "
              f"best epoch{detail}; model saved to {args.out}")
    else:
        print(f"trained {clf.n_epochs_} epoch(s), kept epoch {clf.best_epoch_}{detail}{rule}; "
              f"model saved to {args.out}")
    print(f"next: skface evaluate --model {shell_quote(args.out)} --manifest "
          f"{shell_quote(args.manifest)} --out results")
