"""The GPU benchmark script: its recipe timing runs (on the CPU here), and without CUDA it says
so and exits 0."""

import pytest
import torch

from ._benchmarks import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_gpu")


def test_recipe_timing_trains_the_recommended_classifier(bench):
    clf = bench.recipe_time(48, 16, 32, device="cpu")
    assert len(clf.members_) == 4 and clf.views == (1.0, 4 / 3, 2.0, 4.0)
    assert clf.fit_time_ > 0 and all(m["n_epochs"] >= 1 for m in clf.members_)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is visible: the script would run")
def test_without_cuda_it_says_why_and_exits_0(bench, capsys):
    assert bench.main([]) == 0
    assert "skipped -- no CUDA device" in capsys.readouterr().out


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_reference_loop_runs_in_the_classifiers_precision(bench, precision):
    """The goal ratio had set a bfloat16 classifier against an fp32 loop; the loop now runs in
    the classifier's precision (here on the CPU, as the script runs it on CUDA)."""
    from bench_train import make_data

    X, y = make_data(64, 16)
    seconds = bench.handwritten_fit(X, y, width=4, depth=2, epochs=1, batch_size=32, lr=1e-3,
                                    weight_decay=1e-4, seed=0, precision=precision,
                                    device="cpu")[0]
    assert seconds > 0
    rate, clf = bench.fit_rate(X, y, "cpu", width=4, epochs=1, batch_size=32)
    assert rate > 0 and clf.n_epochs_ == 1
