"""``skface ablate``: the attention x focal-loss ablation on a manifest, with a report."""

import sys
from pathlib import Path

import numpy as np

from ._common import (CLIError, add_device_argument, add_quiet_argument, atomic_dir, check_device,
                      check_out_outside, check_output_dir, image_folders, int_at_least,
                      output_path, positive_int, read_manifest_arg, seed_arg)

HELP = "attention x focal-loss ablation on a manifest's splits, with a report"
DESCRIPTION = """\
Train the same network once per configuration of a grid and per seed, on the manifest's train
split with early stopping on its val split, and score every configuration on the test split.
Writes ablation.csv (mean +- std over seeds per configuration), ablation_runs.csv (one row per
run, rewritten after each, so Ctrl-C keeps what finished) and a report comparing them.
After Ctrl-C the runs that finished, with a report of them, are in <out>.partial; a new run
into the same --out refuses to start while that folder is there (move or delete it first).

--grid takes NAME=V1,V2,... items for FaceCNNClassifier parameters; `none` means None.
Default grid: attention=none,se,cbam,nonlocal gamma=0,2.

Each run trains the whole recommended configuration (four networks, 30 epochs): the default
grid's 8 configurations x 3 seeds are 24 fits, about 2 to 3 hours for 2,000 images on 2 CPU
cores (attention costs more). n_members=1 in the grid trains the whole-image network alone,
in about a quarter of the time; see the last example for a quick first look."""
EXAMPLES = (
    "skface ablate --manifest manifest.csv --out ablation",
    "skface ablate --manifest manifest.csv --out quick --grid attention=none,se,cbam gamma=0,2 "
    "n_members=1 --seeds 0 --size 64",
    "skface ablate --manifest manifest.csv --out abl --grid attention=none,cbam gamma=0,1,2 "
    "--seeds 0 1",
)

DEFAULT_GRID = {"attention": [None, "se", "cbam", "nonlocal"], "gamma": [0.0, 2.0]}


def add_arguments(p):
    p.add_argument("--manifest", required=True, help="manifest CSV from `skface build`")
    p.add_argument("--out", required=True, metavar="DIR", help="report folder to write")
    p.add_argument("--grid", nargs="+", metavar="NAME=V1,V2", default=None,
                   help="parameter grid (default: attention x gamma)")
    p.add_argument("--seeds", nargs="+", type=seed_arg, default=[0, 1, 2],
                   help="one run per seed")
    p.add_argument("--size", type=int_at_least(8), default=None, metavar="N",
                   help="image side in pixels (default: the recommended size)")
    p.add_argument("--max-epochs", type=positive_int, default=None, metavar="N",
                   help="upper bound on epochs per run")
    add_device_argument(p, "where the networks train")
    add_quiet_argument(p)


def _value(text):
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def parse_grid(items):
    """``["attention=none,se", "gamma=0,2"]`` -> ``{"attention": [None, "se"], ...}``."""
    from skface import FaceCNNClassifier

    valid = set(FaceCNNClassifier().get_params())
    grid = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name or not values.strip():
            raise CLIError(f"--grid item {item!r} is not NAME=V1,V2,...")
        if name not in valid:
            raise CLIError(f"--grid names unknown parameter {name!r}; "
                           f"FaceCNNClassifier takes: {', '.join(sorted(valid))}")
        if name in grid:
            raise CLIError(f"--grid names {name!r} twice")
        grid[name] = [_value(v) for v in values.split(",") if v.strip()]
    return grid


def run_protocol_ablation(manifest, out, *, grid, seeds, size=None, max_epochs=None,
                          device="auto", title="skface ablation", notes=None, progress=True):
    """Run the ablation on a manifest's splits and write the report folder into ``out``."""
    from skface.datasets._manifest import added_rows
    from skface.experiments import run_ablation, write_report

    from ._train import make_pipeline, split_rows

    data = read_manifest_arg(manifest)  # read once; a manifest it refuses stops before the plan
    n_configs = int(np.prod([len(v) for v in grid.values()]))
    print(f"ablation: {n_configs} configuration(s) x {len(seeds)} seed(s)", file=sys.stderr)
    files, y, source = split_rows(data, manifest, None)
    splits = np.asarray(data.split, dtype=object).astype(str)
    # the rows `skface build --balance oversample` added repeat other images: training may
    # see them again, but validation (selection, early stopping) and test score each image once
    added = added_rows(data)
    parts = tuple(np.flatnonzero((splits == s) & (~added if s != "train" else True))
                  for s in ("train", "val", "test"))
    if added[splits != "train"].any():
        sys.stderr.write(f"left out of validation and test {int(added[splits != 'train'].sum())} "
                         f"row(s) of {manifest} that `skface build --balance oversample` added "
                         "(repeats of other images): each image is scored once\n")
    for name, idx in zip(("train", "val", "test"), parts):
        if len(idx) == 0 or len(np.unique(y[idx])) < 2:
            raise CLIError(f"the {name} split of {manifest} needs both real and fake images")
    pipe = make_pipeline(size=size, max_epochs=max_epochs, device=device, verbose=0)
    load_name, clf_name = pipe.steps[0][0], pipe.steps[-1][0]
    param_grid = {f"{clf_name}__{k}": v for k, v in grid.items()}
    import shutil
    import tempfile

    out = output_path(out)  # as atomic_dir resolves it: "." put ".partial" inside it
    check_output_dir(out, "ablate")
    check_out_outside(out, image_folders(files, source, y))
    progress_dir = out.parent / f"{out.name}.partial"
    if progress_dir.exists():
        # an earlier interrupted run's finished runs: never written over (a re-run blanked
        # its ablation.csv, replaced its runs or, once finished, deleted the folder)
        raise CLIError(f"{progress_dir} holds the runs of an earlier ablation into {out} that "
                       "was interrupted or failed; move it away (or delete it) to start again")
    progress_dir.mkdir(parents=True)
    finished = reported = False
    try:
        with (atomic_dir(out, "ablate") as tmp,
              tempfile.TemporaryDirectory(prefix="skface-cache-") as cache):
            pipe.set_params(**{f"{load_name}__memory": cache})  # decode each image once
            table, details = run_ablation(
                pipe, param_grid, list(files), y, parts, seeds=tuple(seeds), sources=source,
                csv_path=progress_dir / "ablation.csv", return_details=True, progress=progress)
            finished = details.runs is not None and len(details.runs) > 0
            if details.interrupted:  # run_ablation kept the finished runs and returned
                if finished:
                    write_report(progress_dir / "report", title=title + " (interrupted)",
                                 ablation=(table, details), manifest=manifest, notes=notes,
                                 overwrite=True)
                    reported = True
                raise KeyboardInterrupt
            write_report(tmp, title=title, ablation=(table, details), manifest=manifest,
                         notes=notes, overwrite=True)
    except KeyboardInterrupt:
        if finished:
            also = ", and a report of them," if reported else ""
            sys.stderr.write(f"interrupted: the runs that finished{also} are in {progress_dir}; "
                             f"{out} was not written\n")
        else:
            shutil.rmtree(progress_dir, ignore_errors=True)
            sys.stderr.write(f"interrupted before any run finished; {out} was not written\n")
        raise
    except Exception:
        # an error (a bad grid value, seeds given twice, a failed fit): the runs that finished
        # before it are kept as after Ctrl-C; an empty folder would only block the next run
        if _holds_runs(progress_dir):
            sys.stderr.write(f"the runs that finished before the error are in {progress_dir}; "
                             f"{out} was not written\n")
        else:
            shutil.rmtree(progress_dir, ignore_errors=True)
        raise
    shutil.rmtree(progress_dir, ignore_errors=True)
    return table


def _holds_runs(progress_dir):
    """Whether an ablation's progress folder holds a run that finished (a row of its CSV)."""
    table = progress_dir / "ablation_runs.csv"
    try:
        return table.is_file() and len(table.read_text().splitlines()) > 1
    except OSError:
        return True  # unreadable: kept, for the user to look at


def run(args):
    grid = DEFAULT_GRID if args.grid is None else parse_grid(args.grid)
    check_device(args.device)  # a missing GPU is named before any work
    table = run_protocol_ablation(args.manifest, Path(args.out), grid=grid, seeds=args.seeds,
                                  size=args.size, max_epochs=args.max_epochs, device=args.device,
                                  progress=not args.quiet)
    print(table.to_string(index=False) if hasattr(table, "to_string") else table)
    print(f"report: {Path(args.out) / 'report.html'}")
