"""Benchmark ImageLoader against a naive Pillow loop, the decode-only floor, joblib and its cache.

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/bench_loader.py [--faces DIR] [--n 1000] [--size 64] [--repeat 3]

All ratios are measured in the same run on the same files (the 256 px JPEGs of the development
set); each timing is the best of ``--repeat`` runs, after one warm-up pass that fills the OS page
cache, so disk speed is not measured.
"""

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from joblib import cpu_count, parallel_config
from PIL import Image

from skface.preprocessing import ImageLoader


def default_faces():
    """$SKFACE_FACES_DIR, else the first ``shared/data/faces`` beside the repo or a parent of it."""
    if os.environ.get("SKFACE_FACES_DIR"):
        return Path(os.environ["SKFACE_FACES_DIR"])
    for parent in Path(__file__).resolve().parents[1:]:
        candidate = parent / "shared" / "data" / "faces"
        if candidate.is_dir():
            return candidate
    return Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "faces"


def timed(fn):
    """(wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def interleaved(methods, repeat):
    """Best (wall, cpu) per method over ``repeat`` rounds that run every method once each.

    Interleaving spreads the noise of a shared machine evenly over the methods; CPU time
    (``time.process_time``) is what a single process really spends, and other processes on the
    machine barely change it.
    """
    best = {name: [float("inf"), float("inf")] for name in methods}
    for _ in range(repeat):
        for name, fn in methods.items():
            wall, cpu = timed(fn)
            best[name][0] = min(best[name][0], wall)
            best[name][1] = min(best[name][1], cpu)
    return best


def naive(files, size):
    for f in files:
        Image.open(f).convert("RGB").resize((size, size))


def decode_floor(files, size):
    # The least work that yields pixels at >= the output size: DCT-domain draft decode, no
    # resize, no array copy.
    for f in files:
        with Image.open(f) as im:
            im.draft("RGB", (size, size))
            im.load()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", default=default_faces())
    parser.add_argument("--n", type=int, default=1000, help="number of 256 px JPEGs")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    faces = Path(args.faces)
    files = sorted(str(p) for p in faces.glob("*/*/*.jpg"))
    files = [f for f in files if "zoya2244" in f][: args.n]  # the 256x256 sources
    if not files:
        raise SystemExit(f"No 256 px JPEGs found under {faces}")
    with Image.open(files[0]) as im:
        first_size = im.size
    n, size, rep = len(files), args.size, args.repeat
    print(f"{n} JPEGs of {first_size[0]}x{first_size[1]} px -> {size} px; cores: {cpu_count()}")
    if hasattr(os, "getloadavg"):
        print("load average before the run: %.2f %.2f %.2f" % os.getloadavg())

    naive(files, size)  # warm the page cache
    single = ImageLoader(size)
    parallel = ImageLoader(size, n_jobs=-1)

    def processes():
        with parallel_config(backend="loky"):
            parallel.transform(files)

    processes()  # start the worker processes once (each imports skface and torch)
    tmp = tempfile.mkdtemp(prefix="skface-bench-cache-")
    try:
        cached = ImageLoader(size, memory=tmp)
        t_cold = timed(lambda: cached.transform(files))
        best = interleaved(
            {
                "naive": lambda: naive(files, size),
                "floor": lambda: decode_floor(files, size),
                "single": lambda: single.transform(files),
                "parallel": lambda: parallel.transform(files),
                "processes": processes,
                "hit": lambda: cached.transform(files),
            },
            rep,
        )
        assert np.array_equal(cached.transform(files), single.transform(files))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def line(label, t):
        print(f"{label:40s} {t[0] / n * 1e6:8.1f} us/img wall {t[1] / n * 1e6:8.1f} us/img CPU")

    line("naive Image.open().convert().resize()", best["naive"])
    line("decode-only floor (draft + load)", best["floor"])
    line("ImageLoader, 1 process", best["single"])
    line("ImageLoader, n_jobs=-1 (threads)", best["parallel"])
    line("ImageLoader, n_jobs=-1, loky processes", best["processes"])
    line("ImageLoader, cache, first pass", t_cold)
    line("ImageLoader, cache, second pass", best["hit"])
    print()
    print("ratio                                      wall      CPU   goal")

    def ratio(label, a, b, goal, pct=False):
        w, c = a[0] / b[0], a[1] / b[1]
        fmt = (lambda v: f"{v:7.1%}") if pct else (lambda v: f"{v:6.2f}x")
        print(f"{label:40s} {fmt(w):>8s} {fmt(c):>8s}   {goal}")

    ratio("speed-up over the naive loop", best["naive"], best["single"], ">= 2.2x")
    ratio("fraction of the decode-only floor", best["floor"], best["single"], ">= 85%", True)
    for key, label in [("parallel", "threads"), ("processes", "loky processes")]:
        wall_par = best["single"][0] / best[key][0]
        print(f"{'n_jobs=-1 (' + label + ') over 1 process':40s} {wall_par:7.2f}x {'':8s}   "
              f"near {cpu_count()}x (wall; needs idle cores)")
    ratio("cache second pass over decoding", best["single"], best["hit"], ">= 30x")
    print("(CPU = this process only; the loky workers' CPU time is not counted.)")
    if hasattr(os, "getloadavg"):
        print("load average after the run:  %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
