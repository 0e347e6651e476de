"""Benchmark skface.datasets on the shared development faces.

Scans /work/shared/data/faces (about 2.7k images, 5 sources), finds duplicates, splits, audits
for shortcuts and prints times and findings. find_duplicates is also timed on a 10k-long list
(the paths repeated), and its hashing is compared with a baseline measured in the same run:
``imagehash.phash`` on fully decoded images (the usual way to do it). ``load_faces`` with a scan
cache is timed against the plain scan of the same run (first scan, then a scan again).

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_datasets.py [--faces DIR] [--n-jobs 1]
"""

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np

from skface.datasets import (LeaveOneSourceOut, audit_shortcuts, build_dataset, find_duplicates,
                             load_faces, train_val_test_split)
from skface.datasets._duplicates import hamming_pairs


def _default_faces():
    env = os.environ.get("SKFACE_FACES_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[1]
    for cand in (here / ".." / "shared" / "data" / "faces",
                 here / ".." / ".." / "shared" / "data" / "faces"):
        if (cand / "real").is_dir():
            return cand.resolve()
    return Path("/work/shared/data/faces")


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    c = time.process_time()
    out = fn(*args, **kwargs)
    timed.cpu = time.process_time() - c  # CPU seconds of this process (n_jobs=1: all the work)
    return out, time.perf_counter() - t


def baseline_imagehash(paths):
    import imagehash
    from PIL import Image

    out = []
    for p in paths:
        with Image.open(p) as im:
            out.append(imagehash.phash(im, hash_size=16))
    return out


def recall_check(paths, step=27):
    """Re-encode every ``step``-th image (half size, JPEG q80) and check each copy is found."""
    import tempfile

    from PIL import Image

    picked = paths[::step]
    with tempfile.TemporaryDirectory() as tmp:
        copies = []
        for k, p in enumerate(picked):
            with Image.open(p) as im:
                im = im.convert("RGB")
                out = os.path.join(tmp, f"copy{k}.jpg")
                im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS).save(
                    out, "JPEG", quality=80)
            copies.append(out)
        groups, report = find_duplicates(paths + copies, progress=False)
    n = len(paths)
    found = sum(groups[n + k] == groups[paths.index(p)] for k, p in enumerate(picked))
    print(f"near-duplicate recall: {found}/{len(picked)} half-size q80 copies joined their "
          f"original; {report.n_groups} groups for {n} distinct pictures "
          f"({n - report.n_groups} false merges)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=Path, default=_default_faces())
    ap.add_argument("--n-jobs", type=int, default=1)
    args = ap.parse_args()
    root = args.faces
    warnings.simplefilter("ignore")
    print(f"faces: {root}  n_jobs={args.n_jobs}")

    data, t_scan = timed(load_faces, root / "real", root / "fake", source_from="subfolder",
                         n_jobs=args.n_jobs, progress=False)
    n = len(data.filenames)
    print(f"load_faces: {n} images, {data.skipped.n} skipped, {t_scan:.2f} s "
          f"({1000 * t_scan / n:.2f} ms/image; decode check + metadata + hashes)")
    for s in sorted(set(data.source)):
        m = data.source == s
        print(f"  {s:<24} {int(m.sum()):>5} {data.target_names[data.target[m][0]]:<5} "
              f"{sorted(set(data.width[m].tolist()))} px, "
              f"q{sorted(set(data.jpeg_quality[m].tolist()))}")

    paths = list(data.filenames)
    (groups, report), t_dup = timed(find_duplicates, paths, source=data.source, y=data.target,
                                    n_jobs=args.n_jobs, progress=False)
    cpu_dup = timed.cpu
    print(f"find_duplicates (from paths, hashing included): {t_dup:.2f} s wall, "
          f"{cpu_dup:.2f} s CPU for {n} images")
    print("  " + str(report).replace("\n", "\n  "))
    _, t_reuse = timed(find_duplicates, data, progress=False)
    print(f"find_duplicates (reusing load_faces hashes): {t_reuse:.3f} s")

    try:
        base, t_base = timed(baseline_imagehash, paths)
    except ImportError:
        base = None
        print("baseline skipped: imagehash is not installed (pip install imagehash)")
    if base is not None:
        print(f"baseline imagehash.phash(hash_size=16), full decode, hashing only: "
              f"{t_base:.2f} s wall "
              f"({timed.cpu:.2f} s CPU) -> find_duplicates (hash + compare + group) is "
              f"{t_base / t_dup:.1f}x faster in wall time, {timed.cpu / cpu_dup:.1f}x in CPU time")

    recall_check(paths)

    reps = int(np.ceil(10_000 / n))
    big = (paths * reps)[:10_000]
    (_, big_report), t_big = timed(find_duplicates, big, n_jobs=args.n_jobs, progress=False)
    print(f"find_duplicates on 10,000 paths (the {n} repeated): {t_big:.2f} s wall, "
          f"{timed.cpu:.2f} s CPU ({big_report.n_exact_pairs} exact pairs found)")
    rng = np.random.RandomState(0)
    hashes = rng.randint(0, 256, size=(10_000, 32)).astype(np.uint8)
    _, t_pairs = timed(hamming_pairs, hashes, 24)
    print(f"  of which all-pairs Hamming comparison for 10k hashes: {t_pairs:.2f} s wall, "
          f"{timed.cpu:.2f} s CPU")
    print(f"  machine load average while running: {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores (wall times stretch with load)")

    (tr, va, te), t_split = timed(train_val_test_split, data.filenames, data.target,
                                  groups=groups, random_state=0)
    print(f"train_val_test_split: {t_split * 1000:.1f} ms -> train {len(tr)}, val {len(va)}, "
          f"test {len(te)} ({int((data.target[te] == 0).sum())} real / "
          f"{int((data.target[te] == 1).sum())} fake)")
    cv = LeaveOneSourceOut(random_state=0)
    folds = list(cv.split(None, data.target, data.source))
    print(f"LeaveOneSourceOut: {len(folds)} folds; test sizes {[len(t) for _, t in folds]}")

    audit, t_audit = timed(audit_shortcuts, data)
    print(f"audit_shortcuts: {t_audit:.2f} s")
    print("  " + audit.summary().replace("\n", "\n  "))
    same = np.isin(data.source, ["ffhq140k-zoya2244", "stylegan140k-zoya2244"])
    sub = {k: (v[same] if isinstance(v, np.ndarray) and len(v) == n else v)
           for k, v in data.items()}
    audit2 = audit_shortcuts(sub)
    print(f"audit on the same-pipeline pair only (FFHQ-140k vs StyleGAN-140k, {int(same.sum())} "
          f"images): flagged={audit2.flagged}, balanced accuracy "
          f"{audit2.best_balanced_accuracy:.3f}")

    # the scan cache: a first scan that records, a second that reads nothing, against the plain
    # scan timed above (the baseline, in this run); the cached data set must be the same
    import tempfile

    _, t_plain = timed(load_faces, root / "real", root / "fake", source_from="subfolder",
                       n_jobs=args.n_jobs, progress=False)  # warm, as the cached scans are
    with tempfile.TemporaryDirectory() as cache:
        _, t_fill = timed(load_faces, root / "real", root / "fake", source_from="subfolder",
                          n_jobs=args.n_jobs, progress=False, cache=cache)
        again, t_hit = timed(load_faces, root / "real", root / "fake", source_from="subfolder",
                             n_jobs=args.n_jobs, progress=False, cache=cache)
    same_data = all(np.array_equal(np.asarray(again[k]), np.asarray(data[k]), equal_nan=k in (
        "jpeg_quality",)) for k in ("filenames", "target", "source", "sha256", "phash",
                                    "width", "jpeg_quality"))
    print(f"load_faces with cache=DIR: first scan {t_fill:.2f} s (plain scan, warm, "
          f"{t_plain:.2f} s: {t_fill / t_plain:.2f}x), scan again {t_hit:.2f} s "
          f"({t_plain / t_hit:.1f}x faster than the plain scan); same data: {same_data}")

    # undersampling, as recorded in RESULTS.md (build_dataset's default keeps every image now)
    built, t_build = timed(build_dataset, root / "real", root / "fake", source_from="subfolder",
                           balance="undersample", random_state=0, n_jobs=args.n_jobs,
                           progress=False)
    print(f"build_dataset (scan + dedupe + split + undersample): {t_build:.2f} s")
    print("  " + built.DESCR)


if __name__ == "__main__":
    main()
