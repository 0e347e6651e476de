"""GPU path of FaceCNNClassifier: training and inference images/s on CUDA against the CPU.

FaceCNNClassifier with ``device="cuda"`` runs the net with bf16 autocast, channels-last memory
and pinned, non-blocking host-to-device copies. This script measures, in one run:

- training images/s of ``FaceCNNClassifier.fit`` (the whole call) on CUDA, against a
  hand-written loop on the same :class:`skface.nn.FaceCNN` (``bench_train.py``'s, run on
  CUDA: channels-last tensors as the classifier uses on every device, pinned non-blocking
  copies, bfloat16 autocast where the classifier computes in it; ratio, goal >= 0.9), and
  against the CPU (both sides warmed up);
- inference images/s of ``predict_proba`` on CUDA and on the CPU;
- peak CUDA memory of the fit;
- the recommended recipe (``make_recommended_pipeline``'s classifier: four networks, four
  views, 30 epochs with early stopping) trained on CUDA on as many synthetic
  128 px images as the protocol's training part (1,883), with its wall time per network.

It finishes in well under 5 minutes on one GPU (the CPU side uses a small slice of the data).
Without CUDA it prints why and exits with status 0, so it can sit in a benchmark suite; with
``--require-cuda`` (for a run on a lent GPU machine) it exits with status 2 instead, so that a
CPU-only torch or a broken driver cannot pass for a result.

Usage::

    PYTHONPATH=. python benchmarks/bench_gpu.py --require-cuda
    PYTHONPATH=. python benchmarks/bench_gpu.py --n 8192 --size 128 --epochs 3
    PYTHONPATH=. python benchmarks/bench_gpu.py --recipe-n 0     # without the recipe timing
"""

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from skface import FaceCNNClassifier, make_recommended_pipeline  # noqa: E402
from skface.utils import resolve_precision  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import handwritten_fit, make_data  # noqa: E402  (the CPU benchmark's)


def fit_rate(X, y, device, *, width, epochs, batch_size):
    """Training images/s of ``FaceCNNClassifier.fit``, timed over the whole call."""
    clf = FaceCNNClassifier(width=width, max_epochs=epochs, batch_size=batch_size,
                            early_stopping=False, device=device, random_state=0)
    start = time.perf_counter()
    clf.fit(X, y)
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
    return len(X) * epochs / (time.perf_counter() - start), clf


def predict_rate(clf, X):
    clf.predict_proba(X[:256])  # warm-up
    if str(clf.device).startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    clf.predict_proba(X)
    if str(clf.device).startswith("cuda"):
        torch.cuda.synchronize()
    return len(X) / (time.perf_counter() - start)


def recipe_time(n, n_val, size, seed=0, device="cuda"):
    """Fit the recommended classifier on synthetic images; returns the fitted clf.

    The pipeline's loading step runs on the CPU before training and is left out (as is the
    optional format step): the arrays go straight to its ``"clf"`` step, which gets a validation
    part of ``n_val``.
    """
    clf = make_recommended_pipeline(size=size, random_state=seed,
                                    device=device).named_steps["clf"]
    X, y = make_data(n + n_val, size, seed=seed)
    clf.fit(X[:n], y[:n], X_val=X[n:], y_val=y[n:])
    return clf


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=16384)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--cpu-n", type=int, default=1024, help="images for the CPU comparison")
    p.add_argument("--recipe-n", type=int, default=1883,
                   help="training images for the recipe timing (0: skip it)")
    p.add_argument("--require-cuda", action="store_true",
                   help="exit with status 2 (not 0) when no CUDA device is visible")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_gpu: " + ("FAILED" if args.require_cuda else "skipped")
              + " -- no CUDA device is visible to torch "
              f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}).")
        return 2 if args.require_cuda else 0
    major, minor = torch.cuda.get_device_capability(0)
    print(f"device: {torch.cuda.get_device_name(0)} (compute capability {major}.{minor}); "
          f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN "
          f"{torch.backends.cudnn.version()}")
    print(f"{args.n} images {args.size}px, width {args.width}, {args.epochs} epochs, "
          f"batch {args.batch_size}")
    X, y = make_data(args.n, args.size)
    kw = dict(width=args.width, batch_size=args.batch_size)
    precision = resolve_precision("auto", "cuda")  # what the classifier computes in here

    def hand_seconds(X, y, epochs, p):  # bench_train's reference loop, on the GPU
        return handwritten_fit(X, y, depth=4, epochs=epochs, lr=1e-3, weight_decay=1e-4,
                               seed=0, precision=p, device="cuda", **kw)[0]

    for p in {"float32", precision}:  # warm-up: cuDNN autotune, allocator
        hand_seconds(X[:1024], y[:1024], 1, p)
    hand = {p: args.n * args.epochs / hand_seconds(X, y, args.epochs, p)
            for p in sorted({"float32", precision})}
    fit_rate(X[:1024], y[:1024], "cuda", epochs=1, **kw)  # the classifier's warm-up
    torch.cuda.reset_peak_memory_stats()
    gpu, clf_gpu = fit_rate(X, y, "cuda", epochs=args.epochs, **kw)
    peak = torch.cuda.max_memory_allocated() / 2**20
    Xc, yc = X[:args.cpu_n], y[:args.cpu_n]
    # the CPU side warmed up too, and given a few epochs (one cold epoch of 4 steps had read
    # about 1.5x too slow, inflating the GPU/CPU figure)
    fit_rate(Xc[:256], yc[:256], "cpu", epochs=1, **kw)
    cpu, clf_cpu = fit_rate(Xc, yc, "cpu", epochs=3, **kw)
    print(f"train  hand-written CUDA loop in {precision} {hand[precision]:.0f} img/s | "
          f"FaceCNNClassifier CUDA {gpu:.0f} img/s in {clf_gpu.precision_} (ratio "
          f"{gpu / hand[precision]:.2f}, goal >= 0.9) | FaceCNNClassifier CPU {cpu:.0f} img/s "
          f"in {clf_cpu.precision_} (GPU/CPU {gpu / cpu:.1f}x)")
    if precision != "float32":
        print(f"       hand-written CUDA loop in float32 {hand['float32']:.0f} img/s "
              f"({precision} speed-up {hand[precision] / hand['float32']:.2f}x)")
    print(f"peak CUDA memory of fit: {peak:.0f} MiB")
    pg = predict_rate(clf_gpu, X)
    pc = predict_rate(clf_cpu, Xc)
    print(f"infer  CUDA {pg:.0f} img/s | CPU {pc:.0f} img/s (GPU/CPU {pg / pc:.1f}x)")
    if args.recipe_n:
        clf = recipe_time(args.recipe_n, 404, 128)
        epochs = [m["n_epochs"] for m in clf.members_]
        per_net = [round(m["fit_time"], 1) for m in clf.members_]
        print(f"recipe {args.recipe_n} images 128px on CUDA in {clf.precision_}: fit "
              f"{clf.fit_time_:.0f} s ({len(epochs)} networks: {per_net} s, epochs {epochs}; "
              f"{args.recipe_n * sum(epochs) / clf.fit_time_:.0f} training img/s, not counting "
              f"the 404 validation images scored after each epoch)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
