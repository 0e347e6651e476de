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
from joblib import cpu_count
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


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


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
    t_naive = best_of(lambda: naive(files, size), rep)
    t_floor = best_of(lambda: decode_floor(files, size), rep)
    single = ImageLoader(size)
    t_single = best_of(lambda: single.transform(files), rep)
    parallel = ImageLoader(size, n_jobs=-1)
    parallel.transform(files)  # start the worker pool once
    t_par = best_of(lambda: parallel.transform(files), rep)

    tmp = tempfile.mkdtemp(prefix="skface-bench-cache-")
    try:
        cached = ImageLoader(size, memory=tmp)
        start = time.perf_counter()
        first = cached.transform(files)
        t_cold = time.perf_counter() - start
        t_hit = best_of(lambda: cached.transform(files), rep)
        assert np.array_equal(first, cached.transform(files))
        assert np.array_equal(first, single.transform(files))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def per_img(t):
        return f"{t / n * 1e6:8.1f} us/img"

    print(f"naive Image.open().convert().resize() {per_img(t_naive)}")
    print(f"decode-only floor (draft + load)      {per_img(t_floor)}")
    print(f"ImageLoader, 1 process                {per_img(t_single)}")
    print(f"ImageLoader, n_jobs=-1                {per_img(t_par)}")
    print(f"ImageLoader, cache, first pass        {per_img(t_cold)}")
    print(f"ImageLoader, cache, second pass       {per_img(t_hit)}")
    print()
    print(f"speed-up over naive loop:             {t_naive / t_single:6.2f}x   (goal >= 2.2x)")
    print(f"fraction of decode-only floor speed:  {t_floor / t_single:6.1%}   (goal >= 85%)")
    print(f"n_jobs=-1 speed-up over 1 process:    {t_single / t_par:6.2f}x   ({cpu_count()} cores)")
    print(f"cache hit speed-up over decoding:     {t_single / t_hit:6.1f}x   (goal >= 30x)")
    if hasattr(os, "getloadavg"):
        print("load average after the run:  %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
