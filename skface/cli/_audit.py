"""``skface audit``: look for metadata that gives the label away (format, size, JPEG quality)."""

from collections import Counter

import numpy as np

from ._common import (add_cache_argument, add_folder_arguments, add_quiet_argument, int_at_least,
                      report_skipped, scan_folders, seed_arg)

HELP = "look for format, size and metadata shortcuts, per source"
DESCRIPTION = """\
Scan the folders and report, per source, the image formats, pixel sizes, JPEG qualities and
EXIF presence, then how well a classifier that sees only this metadata (never a pixel) tells
real from fake. A high score means a network could learn the file format instead of the face:
pick other sources, or re-encode both classes the same way (FormatNormalizer;
`skface train --normalize-format`) and check on held-out sources that it helps.
Each folder is one source, named after the folder or, given as NAME=DIR, NAME."""
EXAMPLES = (
    "skface audit --real data/real/ffhq data/real/lfw --fake data/fake/tpdne",
    "skface audit --real data/real/* --fake data/fake/* --cv 3",
)


def add_arguments(p):
    add_folder_arguments(p)
    p.add_argument("--cv", type=int_at_least(2), default=5,
                   help="cross-validation folds of the audit")
    p.add_argument("--seed", type=seed_arg, default=0, help="seed of the folds and the forest")
    add_cache_argument(p)
    add_quiet_argument(p)


def _top(values, n=2, fmt=str):
    counts = Counter(values)
    total = sum(counts.values())
    parts = [f"{fmt(v)} {c / total:.0%}" for v, c in counts.most_common(n)]
    if len(counts) > n:
        parts.append(f"+{len(counts) - n} more")
    return ", ".join(parts)


def source_table(data):
    """Rows (source, label, n, formats, sizes, JPEG quality, EXIF share) of a scanned set."""
    rows = []
    names = np.asarray(data.target_names)
    for src in sorted(set(data.source)):
        m = np.asarray(data.source == src)
        label = names[int(np.bincount(data.target[m]).argmax())]
        q = np.asarray(data.jpeg_quality[m], dtype=float)
        q = q[~np.isnan(q)]
        quality = "-" if q.size == 0 else (
            f"{np.median(q):.0f}" if q.min() == q.max() else f"{q.min():.0f}-{q.max():.0f}")
        sizes = [f"{w}x{h}" for w, h in zip(data.width[m], data.height[m])]
        rows.append((src, label, int(m.sum()), _top(data.format[m]), _top(sizes), quality,
                     f"{np.mean(np.asarray(data.exif[m], dtype=bool)):.0%}"))
    return rows


def format_table(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*header), line.format(*("-" * w for w in widths))]
    out += [line.format(*map(str, r)) for r in rows]
    return "\n".join(out)


def run(args):
    from skface.datasets import audit_shortcuts

    data = scan_folders(args)
    print(format_table(("source", "label", "n", "format", "pixel size", "JPEG q", "EXIF"),
                       source_table(data)))
    print()
    import warnings

    from skface.datasets import ShortcutWarning

    with warnings.catch_warnings():  # the summary below says it all, laid out: no one-line copy
        warnings.simplefilter("ignore", ShortcutWarning)
        audit = audit_shortcuts(data, cv=args.cv, random_state=args.seed)
    print(audit.summary())
    if data.skipped.n:
        print(f"\n{data.skipped.n} file(s) were skipped while scanning; `skface build` lists "
              "each, with its reason, next to the manifest.")
        report_skipped(zip(data.skipped.filenames, data.skipped.reasons),
                       "skface audit: the scan skipped")
