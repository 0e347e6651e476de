"""benchmarks/bench_scale.py runs end to end on tiny sizes and reports what it measured."""

from ._benchmarks import load_benchmark


def test_bench_scale_runs_and_its_two_threshold_searches_agree(capsys):
    bench = load_benchmark("bench_scale")
    bench.main(["--scores", "2000", "--loop-scores", "300", "--cluster", "50", "--images", "40",
                "--cached", "600", "--paths", "40"])
    out = capsys.readouterr().out
    assert "same cut: True" in out
    assert "1,225 near pairs counted, 49 links kept, 1 group" in out
    assert "600 hits" in out and "plot_misclassified, 40 uint8 images" in out
    assert "evaluate, 40 image paths" in out and "same accuracy: True" in out
