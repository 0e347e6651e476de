"""``skface predict``: P(AI-generated) for image files and folders."""

import os
import sys
from pathlib import Path

from ._common import (CLIError, add_device_argument, add_quiet_argument, check_output_file,
                      check_replaceable, probability_threshold, report_skipped, write_csv,
                      write_csv_to_stdout)

HELP = "score new images or folders of images"
DESCRIPTION = """\
Score image files, or every image under the given folders (recursively, each file once,
found by suffix or content as `skface build` finds them; other files are named on stderr),
with a model from `skface train`. Writes one CSV row per image: path, p_fake (the probability
that the image is AI-generated) and predicted (real or fake, at --threshold; the column name
`skface evaluate`'s predictions.csv uses too). Without --out the
CSV goes to stdout. An unreadable or missing image is an error: nothing is written."""
EXAMPLES = (
    "skface predict --model model photo1.jpg photo2.png",
    "skface predict --model model new-photos/ --out preds.csv",
)


def add_arguments(p):
    p.add_argument("--model", required=True, metavar="MODEL_DIR", help="from `skface train`")
    add_device_argument(p, "where the network predicts")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    p.add_argument("--out", default=None, metavar="preds.csv",
                   help="CSV to write (default: stdout); an existing file is replaced only "
                   "when it is an earlier `skface predict` output")
    p.add_argument("--threshold", type=probability_threshold, default=0.5,
                   help="P(fake) at or above which an image is labelled fake")
    add_quiet_argument(p)


def expand_paths(paths):
    """Files as given; folders expanded to the image files under them, each file once.

    Folders are walked as ``skface build`` scans them (:func:`skface.datasets._scan.iter_files`:
    sorted, symbolic links followed, loops entered once). A file is taken when its suffix names
    an image format or its first bytes do (a photo saved without a suffix); the others, and
    anything the walk could not enter, are named on stderr instead of being dropped silently.
    """
    from skface.datasets._scan import IMAGE_SUFFIXES, iter_files
    from skface.preprocessing._loader import _head_bytes, sniff_format

    out, skipped = [], []
    seen = {}  # real path -> the path it was first met as: each file is scored once
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise CLIError(f"image path does not exist: {p}")
        if not path.is_dir():
            real = os.path.realpath(path)
            if real in seen:
                skipped.append((str(path), f"given again (scored once, as {seen[real]})"))
            else:
                seen[real] = str(path)
                out.append(str(path))
            continue
        found, before = [], len(skipped)
        for file in iter_files(path, skipped, seen_files=seen):
            if (os.path.splitext(file)[1].lower() in IMAGE_SUFFIXES
                    or sniff_format(_head_bytes(file)) is not None):
                found.append(file)
            else:
                skipped.append((file, "not an image"))
        again = any(reason.startswith("same file already scanned")
                    for _, reason in skipped[before:])
        if not found and not again:  # a folder given twice is not empty the second time
            raise CLIError(f"folder holds no image files: {p}")
        out += found
    report_skipped(skipped, "skface predict: left out")
    return out


#: The columns ``skface predict`` writes.
HEADER = ("path", "p_fake", "predicted")


def run(args):
    from ._model import load_model, predict_paths

    if args.out is not None:
        check_output_file(args.out)  # before the images are scored, not after
        check_replaceable(args.out, HEADER, "an earlier `skface predict` output")
    pipeline, _ = load_model(args.model, args.device)
    files = expand_paths(args.paths)
    p_fake = predict_paths(pipeline, files, progress=not args.quiet)
    rows = [(f, f"{p:.6f}", "fake" if p >= args.threshold else "real")
            for f, p in zip(files, p_fake)]
    if args.out is None:
        write_csv_to_stdout(HEADER, rows)
    else:
        write_csv(args.out, HEADER, rows)
        n_fake = sum(r[2] == "fake" for r in rows)
        print(f"wrote {args.out}: {len(rows)} images, {n_fake} labelled fake", file=sys.stderr)
