"""``skface build``: folders -> de-duplicated 70/15/15 split, balanced test set -> manifest CSV."""

from pathlib import Path

from ._common import (CLIError, add_cache_argument, add_folder_arguments, add_quiet_argument,
                      check_cache_outside, check_out_outside, check_replaceable,
                      existing_parent, real_and_fake_sources, report_skipped, seed_arg,
                      shell_quote, write_csv, write_skipped)

HELP = "scan folders, remove duplicates, split 70/15/15 (balanced test set), write a manifest"
DESCRIPTION = """\
Build the data set of the protocol from folders of real and AI-generated faces: scan every file
(files that are not whole images are named, and all listed in <manifest>.skipped.csv), find
exact and near duplicates across all folders (groups never straddle two splits; --dedupe keeps
one image per group), split 70/15/15 (--sizes) into train/val/test with a balanced test set,
optionally resample the train and val splits to even classes (--balance), and write one CSV row
per image (path, label, source, split, group, metadata; the rows --balance oversample adds say
"added" in the column resampled). Every image left out -- a duplicate (with the copy kept), a
picture found under both real and fake (both copies), an undersampled image -- is listed with
its reason in <manifest>.dropped.csv. Each folder is one source, named after the folder or,
given as NAME=DIR, NAME."""
EXAMPLES = (
    "skface build --real data/real/ffhq --fake data/fake/tpdne --out manifest.csv",
    "skface build --real r1 r2 --fake f1 --out m.csv --no-dedupe --balance oversample --seed 1",
    "skface build --real ffhq=a/images lfw=b/images --fake sdxl=c/images --out m.csv",
)


def add_arguments(p):
    import argparse

    add_folder_arguments(p)
    p.add_argument("--out", required=True, metavar="manifest.csv", help="manifest CSV to write")
    p.add_argument("--dedupe", action=argparse.BooleanOptionalAction, default=True,
                   help="keep one image per duplicate group (default: on)")
    p.add_argument("--balance", choices=("none", "undersample", "oversample"),
                   default="none",
                   help="resample the train and validation splits to even classes: none keeps "
                   "every image once (default; `skface train --balance` or --class-weight can "
                   "balance at training time), undersample leaves images of the larger class "
                   "out, oversample repeats images of the smaller one")
    p.add_argument("--sizes", nargs=3, type=float, default=(0.70, 0.15, 0.15),
                   metavar=("TRAIN", "VAL", "TEST"),
                   help="fractions of the train, validation and test splits; they sum to 1 "
                   "(VAL may be 0: `skface train` then holds out 15%% of the train split for "
                   "early stopping, and `skface ablate` needs a val split)")
    p.add_argument("--seed", type=seed_arg, default=0, help="seed of the split and the resampling")
    p.add_argument("--relative", action="store_true",
                   help="write image paths relative to the manifest's folder (portable)")
    add_cache_argument(p)
    add_quiet_argument(p)


def build(real, fake, out, *, dedupe=True, balance="none", sizes=(0.70, 0.15, 0.15), seed=0,
          relative=False, progress=True, cache=None):
    """Run build_dataset and write the manifest; return the data set.

    ``real`` and ``fake`` map source names to folders (:func:`folder_sources`).
    """
    from skface.datasets import build_dataset, write_manifest
    from skface.datasets._split import _check_sizes
    from skface.utils._io import interrupt_deferred

    out = Path(out)
    check_out(out, [*real.values(), *fake.values()], relative)  # before the scan, not after
    check_cache_outside(cache, [*real.values(), *fake.values()])
    try:
        _check_sizes(sizes)
    except ValueError as exc:
        raise CLIError(f"--sizes: {exc}") from None
    try:
        data = build_dataset({k: str(v) for k, v in real.items()},
                             {k: str(v) for k, v in fake.items()}, dedupe=dedupe,
                             balance=balance, sizes=sizes, random_state=seed, progress=progress,
                             cache=cache)
    except ValueError as exc:  # the library's advice on sizes, in the flag's own name
        if "(`sizes`)" not in str(exc):
            raise
        raise CLIError(str(exc).replace("(`sizes`)", "(--sizes)"), status=1) from None
    skipped = list(zip(data.skipped.filenames, data.skipped.reasons))
    gone = data.dropped_files
    # the manifest and its two listings agree: a Ctrl-C between them left a new manifest beside
    # an earlier build's listings, so it waits until all three are written
    with interrupt_deferred():
        write_manifest(data, out, root=out.parent.resolve() if relative else None)
        listing = skipped_listing(out)
        if skipped:
            write_skipped(listing, skipped)
        elif listing.is_file():
            listing.unlink()  # from an earlier build of this manifest: nothing is skipped now
        listing = dropped_listing(out)
        if gone.n:
            write_csv(listing, ("path", "reason", "copy_of"),
                      zip(gone.filenames, gone.reasons, gone.copy_of))
        elif listing.is_file():
            listing.unlink()  # from an earlier build of this manifest: nothing is left out now
    if skipped:
        report_skipped(skipped, "skface build: the scan skipped", skipped_listing(out))
    return data


def check_out(out, folders, relative):
    """Refuse a folder as ``--out`` and, with ``--relative``, image ``folders`` outside the
    manifest's folder (write_manifest could not write their paths relative to it)."""
    from skface.datasets._manifest import manifest_roots, relative_to_roots

    out = Path(out)
    if out.is_dir():
        raise CLIError(f"--out {out} is a folder; give a CSV file name")
    existing_parent(out, "--out")  # a missing folder is made; a file on the way cannot be
    check_replaceable(out, ("path", "label"), "an earlier manifest")
    # where it could also replace one of the images being scanned
    check_out_outside(out, [("image", folder) for folder in folders],
                      why="the next scan of that folder would read the manifest with it")
    if not relative:
        return
    root = out.parent.resolve()  # as write_manifest is given it
    roots = manifest_roots(root)
    for folder in folders:
        if relative_to_roots(folder, roots) is None:
            raise CLIError(f"--relative: the image folder {folder} is not inside {root}, the "
                           "manifest's folder, so its paths cannot be written relative to it; "
                           "write the manifest in a folder that holds every image folder, or "
                           "leave out --relative")


def skipped_listing(manifest):
    """``<manifest>.skipped.csv``: where ``build`` lists the files its scan skipped."""
    manifest = Path(manifest)
    return manifest.with_name(manifest.stem + ".skipped.csv")


def dropped_listing(manifest):
    """``<manifest>.dropped.csv``: where ``build`` lists the images it left out of the manifest
    (``path,reason,copy_of``: duplicates with the copy kept, label conflicts with the copy
    under the other label, undersampled images)."""
    manifest = Path(manifest)
    return manifest.with_name(manifest.stem + ".dropped.csv")


def headline(data, manifest):
    """``wrote <manifest>: N images``, or with oversampling how many rows are repeats."""
    from skface.datasets._manifest import added_rows

    n, n_added = len(data.filenames), int(added_rows(data).sum())
    if not n_added:
        return f"wrote {manifest}: {n} images"
    return (f"wrote {manifest}: {n} rows ({n - n_added} distinct images, {n_added} added by "
            "oversampling)")


def summary(data, manifest):
    import numpy as np

    from skface.datasets._manifest import added_rows

    lines = []
    added = added_rows(data)
    for split in ("train", "val", "test"):
        m = np.asarray(data.split) == split
        n_real, n_fake = int((data.target[m] == 0).sum()), int((data.target[m] == 1).sum())
        n_added = int(added[m].sum())
        lines.append(f"  {split:<5} {int(m.sum()):>6} " + (
            f"rows    ({n_real} real, {n_fake} fake; {n_added} added by oversampling)"
            if n_added else f"images  ({n_real} real, {n_fake} fake)"))
    dropped = getattr(data, "dropped", None) or {}
    if dropped:
        lines.append("  left out: " + ", ".join(f"{k} {v}" for k, v in dropped.items())
                     + (f"; each listed in {dropped_listing(manifest)}"
                        if any(dropped.values()) else ""))
    for folder in data.get("empty_folders", ()):
        lines.append(f"  no usable image in the folder {folder}")
    if getattr(data, "skipped", None) is not None and data.skipped.n:
        lines.append(f"  skipped while scanning: {data.skipped.n} file(s), listed in "
                     f"{skipped_listing(manifest)}")
    return "\n".join(lines)


def run(args):
    real, fake = real_and_fake_sources(args)
    data = build(real, fake, args.out, dedupe=args.dedupe, balance=args.balance,
                 sizes=tuple(args.sizes), seed=args.seed, relative=args.relative,
                 progress=not args.quiet, cache=args.cache)
    print(headline(data, args.out))
    print(summary(data, args.out))
    dup = getattr(data, "duplicates", None)
    if dup is not None:
        print("  " + str(dup).splitlines()[0])
    print(f"next: skface train --manifest {shell_quote(args.out)} --out model")
