"""Scale checks: work that must grow no faster than the data.

Each line prints a figure and, where a slower way of doing the same work exists in the library,
that way measured in the same run (the ratio is the speed-up):

- ``best_threshold`` on N scores: the confusion counts of every cut at once (built-in metric)
  against one metric call per cut (the same metric passed as a callable);
- ``find_duplicates`` on a cluster of N distinct but near-identical perceptual hashes, every
  pair within the threshold (bursts, re-encoded copies): time, pairs counted, links kept;
- ``plot_misclassified`` on N uint8 images: peak of Python-tracked memory against the images'
  bytes (only the images shown are converted);
- the ``ImageLoader`` disk cache: looking up N cached images spread over N / 256 packs;
- ``evaluate`` on N image paths through an ImageLoader pipeline: peak of Python-tracked memory
  in one call against slices of 512 paths (``batch_size``, what ``skface evaluate`` does).

Usage::

    PYTHONPATH=. python benchmarks/bench_scale.py
    PYTHONPATH=. python benchmarks/bench_scale.py --scores 100000 --loop-scores 20000 \
        --cluster 1000 4000 --images 4000 --cached 200000 --paths 8000
"""

import argparse
import hashlib
import sys
import tempfile
import time
import tracemalloc
import warnings
from itertools import combinations
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sklearn.metrics import balanced_accuracy_score  # noqa: E402
from sklearn.utils import Bunch  # noqa: E402

from skface.datasets import find_duplicates  # noqa: E402
from skface.metrics import best_threshold, evaluate_scores  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import reset_rss_peak, rss_now, rss_peak  # noqa: E402  (the memory probe's)


def _seconds(func):
    start = time.perf_counter()
    out = func()
    return time.perf_counter() - start, out


def bench_threshold(n, n_loop):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    p = np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0.001, 0.999)
    s_all, _ = _seconds(lambda: best_threshold(y, p))
    # the per-cut loop on a smaller set (it is linear in the cuts times the scores)
    s_counts, cut_counts = _seconds(lambda: best_threshold(y[:n_loop], p[:n_loop]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s_loop, cut_loop = _seconds(lambda: best_threshold(
            y[:n_loop], p[:n_loop], metric=lambda a, b: balanced_accuracy_score(a, b)))
    print(f"best_threshold, {n:,} scores: {s_all:.2f} s; on {n_loop:,} scores {s_counts:.3f} s "
          f"against {s_loop:.2f} s for one metric call per cut ({s_loop / s_counts:.0f}x; "
          f"same cut: {cut_counts == cut_loop})")


def bench_cluster(sizes):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2, 256)
    flips = list(combinations(range(256), 2))
    for n in sizes:
        hashes = []
        for flip in flips[:n]:
            bits = base.copy()
            bits[list(flip)] ^= 1
            hashes.append(np.packbits(bits.astype(np.uint8)).tobytes().hex())
        data = Bunch(filenames=np.array([f"f{k}.png" for k in range(n)], dtype=object),
                     sha256=[f"sha{k}" for k in range(n)], phash=hashes,
                     source=np.array([f"s{k % 3}" for k in range(n)], dtype=object),
                     target=np.zeros(n, dtype=int))
        seconds, (groups, report) = _seconds(
            lambda: find_duplicates(data, threshold=4, progress=False))
        print(f"find_duplicates, cluster of {n:,} near-identical pictures: {seconds:.2f} s, "
              f"{report.n_near_pairs:,} near pairs counted, {len(report.pairs):,} links kept, "
              f"{report.n_groups} group")


def bench_misclassified(n):
    import matplotlib

    matplotlib.use("Agg")
    from skface.experiments import plot_misclassified

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    result = evaluate_scores(np.arange(n) % 2, rng.random(n))
    plot_misclassified(result, X, n_images=2)  # imports outside the measure
    tracemalloc.start()
    plot_misclassified(result, X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"plot_misclassified, {n:,} uint8 images of {X.nbytes / 2**20:.1f} MiB: peak "
          f"{peak / 2**20:.1f} MiB of Python-tracked memory ({peak / X.nbytes:.2f}x the images)")


def bench_cache(n, per=256):
    from skface.preprocessing._loader import _PackCache

    with tempfile.TemporaryDirectory() as folder:
        cache = _PackCache(folder, {"bench": 1})
        keys = [hashlib.blake2b(str(i).encode(), digest_size=16).digest() for i in range(n)]
        for start in range(0, n, per):
            part = keys[start:start + per]
            cache.put(part, np.zeros((len(part), 1, 1, 1), np.uint8))
        out = np.empty((n, 1, 1, 1), np.uint8)
        cache.get(keys[:1], out[:1])  # the index is built outside the measure
        seconds, hits = _seconds(lambda: cache.get(keys, out))
        print(f"ImageLoader cache, {n:,} cached images in {n // per:,} packs: lookup "
              f"{seconds:.2f} s, {int(hits.sum()):,} hits")


def bench_evaluate(n, batch=512, size=64, width=4):
    """Peak of Python-tracked memory (what NumPy allocates: the decoded images; tracemalloc does
    not see torch's allocations) and growth of the process's resident peak (everything) while
    ``evaluate`` scores N image paths through an ImageLoader pipeline: in one call (the whole
    set decoded at once, as ``skface evaluate`` did) against ``batch_size`` slices (what it
    does now)."""
    from PIL import Image
    from sklearn.pipeline import make_pipeline

    from skface import FaceCNNClassifier
    from skface.metrics import evaluate
    from skface.preprocessing import ImageLoader

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(n):
            path = Path(folder) / f"{i:06d}.png"
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
            paths.append(str(path))
        y = np.arange(n) % 2
        loader = ImageLoader(size=size)
        pixels = loader.fit_transform(paths[:64])
        clf = FaceCNNClassifier(width=width, depth=2 if width == 4 else 4, max_epochs=1,
                                batch_size=32 if width == 4 else 64, random_state=0,
                                verbose=0).fit(pixels, y[:64])
        pipe = make_pipeline(loader, clf)
        figures = {}
        # sliced first: memory the first call leaves in the allocator can only make the second
        # one's growth look smaller, so the one-call figure is the conservative one
        for name, batch_size in (("sliced", batch), ("whole", None)):
            rss_before = _rss_reset()
            tracemalloc.start()
            seconds, result = _seconds(lambda: evaluate(pipe, paths, y, batch_size=batch_size))
            figures[name] = (tracemalloc.get_traced_memory()[1], seconds, result.accuracy,
                             None if rss_before is None else rss_peak() - rss_before)
            tracemalloc.stop()
    pixels_bytes = n * 3 * size * size
    (w_peak, w_s, w_acc, w_rss), (s_peak, s_s, s_acc, s_rss) = figures["whole"], figures["sliced"]
    print(f"evaluate, {n:,} image paths at {size} px ({pixels_bytes / 2**20:.1f} MiB of uint8 "
          f"pixels): Python-tracked peak (NumPy, not torch) {w_peak / 2**20:.1f} MiB in one call, "
          f"{s_peak / 2**20:.1f} MiB in slices of {batch} ({w_peak / max(s_peak, 1):.1f}x less); "
          f"{w_s:.1f} s vs {s_s:.1f} s; same accuracy: {w_acc == s_acc}")
    if w_rss is not None:
        print(f"  growth of the process's resident peak (torch included): {w_rss / 2**20:.1f} MiB "
              f"in one call, {s_rss / 2**20:.1f} MiB in slices "
              f"({w_rss / max(s_rss, 1):.1f}x less; width-{width} network)")


def _rss_reset():
    """The resident set now, after resetting the process's high-water mark; None where that
    cannot be done (not Linux)."""
    try:
        reset_rss_peak()
        return rss_now()
    except OSError:
        return None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scores", type=int, default=100_000)
    p.add_argument("--loop-scores", type=int, default=20_000)
    p.add_argument("--cluster", type=int, nargs="+", default=[1000, 4000])
    p.add_argument("--images", type=int, default=4000)
    p.add_argument("--cached", type=int, default=200_000)
    p.add_argument("--paths", type=int, default=8000,
                   help="image files evaluate scores (written to a temporary folder)")
    p.add_argument("--eval-width", type=int, default=4,
                   help="width of the network evaluate scores with (4: depth 2, batch 32; "
                        "otherwise the default network's depth 4 and batch 64)")
    args = p.parse_args(argv)
    bench_threshold(args.scores, args.loop_scores)
    bench_cluster(args.cluster)
    bench_misclassified(args.images)
    bench_cache(args.cached)
    bench_evaluate(args.paths, width=args.eval_width)


if __name__ == "__main__":
    main()
