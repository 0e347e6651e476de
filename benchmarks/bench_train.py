"""Training and inference speed of FaceCNNClassifier against a hand-written PyTorch loop.

Both sides train the same :class:`skface.nn.FaceCNN` (same width, depth, seed) on the same
uint8 images with the same batch size, optimiser (AdamW), one-cycle schedule, loss
(cross-entropy through :class:`skface.nn.FocalLoss` with ``gamma=0``) and torch thread count.
The hand-written loop is the floor: shuffle indices, slice the uint8 array, divide by 255,
forward, backward, step. Nothing else (no validation, no early stopping, no augmentation).
Both sides use channels-last tensors, as the classifier does on every device.

Both sides run inside :func:`skface.utils.reuse_freed_memory` (glibc keeps freed large
blocks for reuse), as the classifier does on a CPU. A third side runs in each round, in a
fresh subprocess (the reuse leaves freed blocks in glibc's heap behind it, so the parent's
allocation is no longer glibc's default): the hand-written loop with glibc's default
allocation, which maps every block of 32 MiB or more afresh; the ``allocator`` line prints
the speed-up of reusing them. In float32 a fourth side runs, in a subprocess too: the
hand-written loop in the layout before the fifteenth round of ``RESULTS.md`` (contiguous NCHW
tensors, each stage's ReLU before its max pooling). The ``layout`` line prints the speed-up of
the current layout over it (both with default allocation).

Timings alternate between the two sides (``--repeats`` rounds) and the median is reported,
because other processes share the CPU. The ratio printed is ``classifier / hand-written``
images per second, the classifier timed over its whole ``fit`` call; the goal is >= 0.9.
Inference runs both sides at the same batch size (the classifier's). Both sides compute in
float32, and, on CPUs with native bfloat16 units (Intel AMX or AVX-512 BF16), also in bfloat16
autocast on channels-last tensors (what the classifier's ``precision="auto"`` picks there); the
speed-up of bfloat16 is printed too.

Usage::

    PYTHONPATH=. python benchmarks/bench_train.py            # 4096 random 64 px images
    PYTHONPATH=. python benchmarks/bench_train.py --n 2048 --size 32 --epochs 1 --repeats 1
    PYTHONPATH=. python benchmarks/bench_train.py --memory   # also peak RSS (subprocesses)
    PYTHONPATH=. python benchmarks/bench_train.py --memory-only --width 8 --memory-n 1000 16000

``--memory`` runs :func:`memory_probe` in fresh subprocesses: the peak resident memory of
``fit`` for N images of size S, minus the process's memory just before ``X`` was made, set
against the uint8 array plus the model (parameters, gradients and the two AdamW moments).
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from skface import FaceCNNClassifier  # noqa: E402
from skface.nn import FaceCNN, FocalLoss  # noqa: E402
from skface.utils import native_bfloat16, reuse_freed_memory  # noqa: E402


def make_data(n, size, seed=0):
    """Random uint8 images with a learnable signal (brighter centre for class 1)."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 200, size=(n, 3, size, size), dtype=np.uint8)
    y = np.arange(n) % 2
    c = size // 4
    X[y == 1, :, c:-c, c:-c] += 40
    return X, y


def _textbook_forward(stage, x):
    """A stage in the textbook order: convolution, batch-norm, ReLU, then max pooling (the
    library pools before the ReLU, which gives the same numbers)."""
    x = stage.conv(x)
    if stage.attention is not None:
        x = stage.attention(x)
    return F.max_pool2d(x, 2, ceil_mode=True) if stage.pool else x


def handwritten_fit(X, y, *, width, depth, epochs, batch_size, lr, weight_decay, seed,
                    precision="float32", textbook=False, reuse=True, device="cpu"):
    """The reference loop; returns (seconds, module). Channels-last tensors, freed blocks
    reused (``reuse``, on a CPU) and, with ``precision="bfloat16"``, bf16 autocast, as the
    classifier does. On CUDA (``bench_gpu.py``) each uint8 batch is pinned, then copied without
    blocking, as the classifier's DataLoader does.

    ``textbook=True`` is the layout before the fifteenth round of ``RESULTS.md``: contiguous
    (NCHW) float32 tensors and each stage in the order conv, ReLU, pool.
    """
    dev = torch.device(device)
    cuda = dev.type == "cuda"

    def to_device(t):
        # a gathered batch is new pageable memory, copied synchronously: pinned, its copy is
        # asynchronous (torch's caching host allocator reuses a pinned block once it is done)
        return t.pin_memory().to(dev, non_blocking=True) if cuda else t

    torch.manual_seed(seed)
    module = FaceCNN(in_channels=X.shape[1], n_classes=2, width=width, depth=depth).to(dev)
    bf16 = precision == "bfloat16"
    channels_last = not textbook
    if textbook:
        if bf16:
            raise ValueError("textbook=True is a float32 baseline.")
        for stage in module.stages:
            stage.forward = types.MethodType(_textbook_forward, stage)
    else:
        module = module.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay)
    steps = math.ceil(len(X) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps)
    crit = FocalLoss()
    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(y).long()
    g = torch.Generator().manual_seed(seed)
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    module.train()
    with reuse_freed_memory(enabled=reuse and not cuda):
        for _ in range(epochs):
            perm = torch.randperm(len(X), generator=g)
            for b in range(steps):
                idx = perm[b * batch_size:(b + 1) * batch_size]
                xb = to_device(Xt[idx]).float().div_(255.0)
                if channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                    out = module(xb)
                loss = crit(out.float(), to_device(yt[idx]))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start, module


def classifier_fit(X, y, *, width, depth, epochs, batch_size, lr, weight_decay, seed,
                   precision="float32"):
    clf = FaceCNNClassifier(width=width, depth=depth, max_epochs=epochs, batch_size=batch_size,
                            lr=lr, weight_decay=weight_decay, lr_schedule="onecycle",
                            early_stopping=False, device="cpu", random_state=seed,
                            precision=precision)
    start = time.perf_counter()
    clf.fit(X, y)
    return time.perf_counter() - start, clf


def handwritten_predict(module, X, batch_size=64, precision="float32"):
    """Inference images/s of a module trained by :func:`handwritten_fit` (channels-last)."""
    module.eval()
    Xt = torch.from_numpy(X)
    bf16 = precision == "bfloat16"
    start = time.perf_counter()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16), \
            reuse_freed_memory():
        for b in range(0, len(X), batch_size):
            xb = Xt[b:b + batch_size].float().div_(255.0)
            xb = xb.contiguous(memory_format=torch.channels_last)
            torch.softmax(module(xb).float(), 1)
    return time.perf_counter() - start


def rss_now():
    """The process's resident set now, in bytes (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_rss_peak():
    """Reset the process's resident high-water mark (Linux: "5" into /proc/self/clear_refs)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def rss_peak():
    """The resident high-water mark (``VmHWM``) since the start or :func:`reset_rss_peak`."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def memory_probe(n, size, width, depth, epochs):
    """Run in a subprocess: peak RSS of one ``fit`` (JSON on stdout)."""
    import resource

    torch.set_num_threads(1)
    before = rss_now()
    X, y = make_data(n, size)
    clf = FaceCNNClassifier(width=width, depth=depth, max_epochs=epochs, batch_size=64,
                            early_stopping=False, device="cpu", random_state=0)
    clf.fit(X, y)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    n_params = sum(p.numel() for p in clf.net_.module_.parameters())
    model_bytes = n_params * 4 * 4  # weights, gradients, two AdamW moments
    # then predict_proba on the same images, its peak measured from here
    reset_rss_peak()
    before_predict = rss_now()
    clf.predict_proba(X)
    hwm = rss_peak()
    print(json.dumps({"n": n, "size": size, "precision": clf.precision_,
                      "x_bytes": int(X.nbytes), "model_bytes": model_bytes,
                      "rss_before": before, "peak": peak, "extra": peak - before,
                      "predict_extra": hwm - before_predict}))


def default_allocation_rate(args, precision, textbook=False):
    """Training images/s of :func:`handwritten_fit` with glibc's default allocation, in a fresh
    subprocess (same data, settings and thread count)."""
    cmd = [sys.executable, __file__, "--_default-alloc", precision, "--n", str(args.n),
           "--size", str(args.size), "--width", str(args.width), "--depth", str(args.depth),
           "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
           "--threads", str(args.threads)] + (["--_textbook"] if textbook else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def _fit_kwargs(args, precision):
    return dict(width=args.width, depth=args.depth, epochs=args.epochs,
                batch_size=args.batch_size, lr=1e-3, weight_decay=1e-4, seed=0,
                precision=precision)


def run_memory(args):
    rows = []
    for n in args.memory_n:
        cmd = [sys.executable, __file__, "--_probe", str(n), "--size", str(args.size),
               "--width", str(args.width), "--depth", str(args.depth)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("\nPeak memory of fit (fresh subprocess, 1 epoch, batch 64, 1 thread, precision "
          f"{rows[0]['precision']}; --epochs, --batch-size and --threads apply to the speed "
          "comparison only)")
    print(f"{'N':>7} {'S':>4} {'uint8 MiB':>10} {'model MiB':>10} {'extra MiB':>10} "
          f"{'extra/(X+model)':>16}")
    for r in rows:
        base = r["x_bytes"] + r["model_bytes"]
        print(f"{r['n']:>7} {r['size']:>4} {r['x_bytes'] / 2**20:>10.1f} "
              f"{r['model_bytes'] / 2**20:>10.1f} {r['extra'] / 2**20:>10.1f} "
              f"{r['extra'] / base:>16.2f}")
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        slope = (b["extra"] - a["extra"]) / (b["x_bytes"] - a["x_bytes"])
        print(f"marginal memory per byte of uint8 images: {slope:.2f} "
              "(1.0 = images kept uint8, no float copy of the data set)")
    print("\nPeak memory of predict_proba on the same images, over the fitted process")
    print(f"{'N':>7} {'uint8 MiB':>10} {'extra MiB':>10} {'extra/X':>8}")
    for r in rows:
        print(f"{r['n']:>7} {r['x_bytes'] / 2**20:>10.1f} {r['predict_extra'] / 2**20:>10.1f} "
              f"{r['predict_extra'] / r['x_bytes']:>8.2f}")
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=4096)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--precision", nargs="+", choices=["float32", "bfloat16"], default=None,
                   help="default: float32, and bfloat16 too on CPUs that compute it natively")
    p.add_argument("--memory", action="store_true")
    p.add_argument("--memory-only", action="store_true", help="skip the speed comparison")
    p.add_argument("--memory-n", type=int, nargs="+", default=[2000, 20000])
    p.add_argument("--_probe", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--_default-alloc", default=None, help=argparse.SUPPRESS)
    p.add_argument("--_textbook", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._probe is not None:
        memory_probe(args._probe, args.size, args.width, args.depth, 1)
        return
    if args._default_alloc is not None:  # a subprocess of default_allocation_rate
        torch.set_num_threads(args.threads)
        X, y = make_data(args.n, args.size)
        kw = _fit_kwargs(args, args._default_alloc)
        handwritten_fit(X[:256], y[:256], **{**kw, "epochs": 1}, reuse=False,
                        textbook=args._textbook)
        seconds = handwritten_fit(X, y, **kw, reuse=False, textbook=args._textbook)[0]
        print(args.n * args.epochs / seconds)
        return
    if args.memory_only:
        run_memory(args)
        return
    torch.set_num_threads(args.threads)
    X, y = make_data(args.n, args.size)
    precisions = args.precision or (["float32", "bfloat16"] if native_bfloat16("cpu")
                                    else ["float32"])
    print(f"{args.n} images {args.size}px, width {args.width}, depth {args.depth}, "
          f"{args.epochs} epochs, batch {args.batch_size}, {args.threads} threads")
    rates = {p: compare(X, y, args, p) for p in precisions}
    if len(rates) == 2:
        (h32, c32), (h16, c16) = rates["float32"], rates["bfloat16"]
        print(f"bfloat16 over float32, training images/s: hand-written {h16 / h32:.2f}x, "
              f"FaceCNNClassifier {c16 / c32:.2f}x")
    if args.memory:
        run_memory(args)


def compare(X, y, args, precision):
    """Train and predict with both sides in ``precision``; return their training images/s."""
    kw = _fit_kwargs(args, precision)
    n_img = args.n * args.epochs
    print(f"precision {precision}:")
    # warm-up (allocator, oneDNN kernels)
    handwritten_fit(X[:256], y[:256], **{**kw, "epochs": 1})
    hand, clf_t, default_alloc, textbook = [], [], [], []
    module = clf = None
    for r in range(args.repeats):
        t, module = handwritten_fit(X, y, **kw)
        hand.append(n_img / t)
        t, clf = classifier_fit(X, y, **kw)
        # the whole fit call (checks, channel statistics, building the net, the loop, the
        # end of fit), as a user pays it; the hand-written timer covers all of its own work
        clf_t.append(n_img / t)
        line = (f"  round {r + 1}: hand-written {hand[-1]:.0f} img/s, "
                f"FaceCNNClassifier {clf_t[-1]:.0f} img/s (whole fit call), "
                f"{n_img / clf.fit_time_:.0f} img/s (its training loop alone)")
        default_alloc.append(default_allocation_rate(args, precision))
        line += f", hand-written default allocation {default_alloc[-1]:.0f} img/s"
        if precision == "float32":
            textbook.append(default_allocation_rate(args, precision, textbook=True))
            line += f", hand-written textbook layout {textbook[-1]:.0f} img/s"
        print(line)
    train_rates = h, c = statistics.median(hand), statistics.median(clf_t)
    print(f"train  hand-written {h:.0f} img/s | FaceCNNClassifier {c:.0f} img/s | "
          f"ratio {c / h:.2f}")
    a = statistics.median(default_alloc)
    print(f"allocator hand-written, glibc's default allocation {a:.0f} img/s | "
          f"freed blocks reused (the library's) {h:.0f} img/s | ratio {h / a:.2f}")
    if textbook:
        b = statistics.median(textbook)
        print(f"layout hand-written, default allocation: contiguous tensors and ReLU before "
              f"pooling {b:.0f} img/s | channels-last, pooling first {a:.0f} img/s | "
              f"ratio {a / b:.2f}")
    hp, cp = [], []
    for _ in range(args.repeats):
        # the classifier's batch size (predict_proba runs at clf.batch_size)
        hp.append(args.n / handwritten_predict(module, X, batch_size=clf.batch_size,
                                               precision=precision))
        start = time.perf_counter()
        clf.predict_proba(X)
        cp.append(args.n / (time.perf_counter() - start))
    h, c = statistics.median(hp), statistics.median(cp)
    print(f"infer  hand-written {h:.0f} img/s | FaceCNNClassifier.predict_proba {c:.0f} img/s | "
          f"ratio {c / h:.2f}")
    return train_rates


if __name__ == "__main__":
    main()
