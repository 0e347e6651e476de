import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from matplotlib.figure import Figure

from skface.experiments import (
    plot_confusion_matrix,
    plot_misclassified,
    plot_pr_curves,
    plot_roc_curves,
    plot_training_curves,
    run_ablation,
    save_figure,
    write_report,
)
from skface.experiments import _report
from skface.metrics import EvaluationResult, evaluate

from .conftest import make_split

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def run(faces, lr_pipeline):
    X, y, src = faces
    split = make_split(len(y))
    table, details = run_ablation(lr_pipeline, {"classifier__C": [0.01, 1.0]}, X, y, split,
                                  seeds=(0,), sources=src, csv_path=None, return_details=True,
                                  progress=False)
    ev = details.evaluations[(details.selected, 0)]
    return X, y, src, split, table, details, ev


def _is_png(path):
    with open(path, "rb") as fh:
        return fh.read(8) == PNG


def test_every_figure(run, tmp_path):
    X, y, src, split, table, details, ev = run
    history = [{"epoch": e, "train_loss": 1.0 / e, "valid_loss": 0.5 + 0.1 * abs(e - 3)}
               for e in range(1, 7)]
    figs = {
        "cm": plot_confusion_matrix(ev),
        "cm_norm": plot_confusion_matrix(ev, normalize="true"),
        "roc": plot_roc_curves(details.evaluations_for_seed(0)),
        "pr": plot_pr_curves(details.evaluations_for_seed(0)),
        "train": plot_training_curves({"a": history, "b": history[:4]}),
        "wrong": plot_misclassified(ev, X[split[2]], n_images=6),
    }
    for name, fig in figs.items():
        assert isinstance(fig, Figure)
        path = save_figure(fig, tmp_path / f"{name}.png")
        assert _is_png(path) and path.stat().st_size > 2000
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    roc_ax = figs["roc"].axes[0]
    assert len(roc_ax.get_legend().get_texts()) == 2  # one curve per configuration
    # the early-stopping epoch is marked
    lines = figs["train"].axes[0].get_lines()
    assert any(list(line.get_xdata()) == [3, 3] for line in lines)


def test_misclassified_orders_by_confidence(run):
    X, y, src, split, table, details, ev = run
    fig = plot_misclassified(ev, X[split[2]], n_images=3)
    wrong = np.flatnonzero(ev.y_pred != ev.y_true)
    shown = [ax for ax in fig.axes if ax.get_title()]
    assert len(shown) == min(3, len(wrong))
    with pytest.raises(ValueError, match="entries"):
        plot_misclassified(ev, X[:3])
    # a function of the indices shown: the same picture, and a wrong count is named
    Xt = X[split[2]]
    same = plot_misclassified(ev, lambda index: Xt[index], n_images=3)
    for a, b in zip(fig.axes, same.axes):
        assert a.get_title() == b.get_title()
        if a.get_images():
            np.testing.assert_array_equal(a.get_images()[0].get_array(),
                                          b.get_images()[0].get_array())
    if len(wrong):
        with pytest.raises(ValueError, match="one image per index"):
            plot_misclassified(ev, lambda index: Xt[np.r_[index, index[:1]]], n_images=3)


def test_misclassified_converts_only_the_images_shown():
    """The whole test set was made float (several copies) to show 16 of its images: 94 MB of
    temporary memory for 12 MB of uint8 pixels."""
    import tracemalloc

    from skface.metrics import evaluate_scores

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (4000, 3, 32, 32), dtype=np.uint8)
    ev = evaluate_scores(np.arange(4000) % 2, rng.random(4000))
    plot_misclassified(ev, X, n_images=2)  # imports and caches outside the measure
    tracemalloc.start()
    try:
        fig = plot_misclassified(ev, X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < X.nbytes, (peak, X.nbytes)
    assert len([ax for ax in fig.axes if ax.get_title()]) == 16
    # float images in 0-255 are scaled by what all of them hold, not only those shown
    dark = np.zeros((4, 3, 8, 8))
    dark[3] = 200.0  # an image that is not shown decides the scale
    ev = evaluate_scores([0, 1, 0, 1], [0.9, 0.1, 0.8, 0.9])
    fig = plot_misclassified(ev, dark + 100.0 * (np.arange(4) < 3)[:, None, None, None])
    shown = [ax.get_images()[0].get_array() for ax in fig.axes if ax.get_title()]
    assert len(shown) == 3 and all(abs(float(a.max()) - 100 / 255) < 1e-6 for a in shown)


def test_plots_need_predictions(run):
    ev = run[-1]
    light = EvaluationResult.from_json(ev.to_json())
    plot_confusion_matrix(light)  # counts suffice
    with pytest.raises(ValueError, match="no stored predictions"):
        plot_roc_curves({"x": light})


def test_write_report(run, tmp_path):
    X, y, src, split, table, details, ev = run
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,label,source\na.png,fake,gan_a\n")
    out = write_report(tmp_path / "run1", title="Toy run", evaluation=ev,
                       ablation=(table, details), images=X[split[2]], manifest=manifest,
                       notes="Generated test images.")
    files = set(os.listdir(out))
    assert {"report.html", "report.md", "metrics.json", "ablation.csv", "ablation_runs.csv",
            "per_source.csv", "manifest.csv", "figures"} <= files
    figs = set(os.listdir(out / "figures"))
    assert {"confusion_matrix.png", "roc_curves.png", "pr_curves.png", "misclassified.png"} <= figs
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(figs)
    assert "src=\"http" not in html and "<link" not in html  # self-contained
    assert "Toy run" in html and "±" in html and "gan_a" in html
    md = (out / "report.md").read_text()
    assert "![" in md and "| accuracy" in md
    metrics = json.loads((out / "metrics.json").read_text())
    back = EvaluationResult.from_dict(metrics["evaluation"])
    assert back.to_dict() == ev.to_dict()
    assert metrics["ablation_selected"] == details.selected
    assert len(metrics["ablation"]) == 2
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".run1")]


def test_existing_folder_is_never_overwritten(run, tmp_path):
    ev = run[-1]
    out = tmp_path / "r"
    write_report(out, evaluation=ev)
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_report(out, evaluation=ev)
    assert (out / "keep.txt").exists()
    write_report(out, evaluation=ev, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "report.html").exists()
    assert sorted(p for p in os.listdir(tmp_path)) == ["r"]
    # a folder that holds no report is never replaced, even with overwrite=True (one wrong
    # path would have deleted a project); an empty one is used
    project = tmp_path / "project"
    project.mkdir()
    (project / "thesis.tex").write_text("mine")
    with pytest.raises(FileExistsError, match="holds files but no skface report"):
        write_report(project, evaluation=ev, overwrite=True)
    assert os.listdir(project) == ["thesis.tex"]
    (tmp_path / "empty").mkdir()
    assert (write_report(tmp_path / "empty", evaluation=ev, overwrite=True)
            / "report.html").is_file()


def test_failed_report_leaves_nothing(run, tmp_path, monkeypatch):
    ev = run[-1]

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(_report, "plot_confusion_matrix", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(tmp_path / "r", evaluation=ev)
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="nothing to report"):
        write_report(tmp_path / "r2")
    with pytest.raises(FileNotFoundError, match="manifest"):
        write_report(tmp_path / "r3", evaluation=ev, manifest=tmp_path / "missing.csv")


def test_cross_source_in_report(faces, lr_pipeline, tmp_path):
    from skface.experiments import cross_source_evaluate

    X, y, src = faces
    cs = cross_source_evaluate(lr_pipeline, X, y, src, split=make_split(len(y)),
                               return_details=True, progress=False)
    out = write_report(tmp_path / "cs", cross_source=cs)
    assert "gan_b" in (out / "report.html").read_text()
    assert (out / "cross_source.csv").read_text().count("\n") == 5


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium is not installed")
def test_report_renders_in_chromium(run, tmp_path):
    from PIL import Image

    X, y, src, split, table, details, ev = run
    out = write_report(tmp_path / "shot", evaluation=ev, ablation=(table, details),
                       images=X[split[2]])
    shot = tmp_path / "report.png"
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        subprocess.run(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={shot}",
             "--window-size=1200,2400", (out / "report.html").as_uri()],
            check=False, capture_output=True, timeout=180,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert shot.exists(), "Chromium wrote no screenshot"
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("L"), dtype=float)
    assert pixels.shape == (2400, 1200)
    assert pixels.std() > 10  # not a blank page: text, tables and figures were drawn
    # figures render: a good share of the page is neither white nor near-white
    assert np.mean(pixels < 200) > 0.02
    if os.environ.get("SKFACE_KEEP_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["SKFACE_KEEP_SCREENSHOT"])


def test_cross_source_counts_stay_integers_with_a_skipped_row(faces, lr_pipeline, tmp_path):
    import pandas as pd

    from skface.experiments import cross_source_evaluate

    X, y, src = faces
    src = src.copy()
    src[y == 0] = "only_real"  # skipped: without it training holds one class
    with pytest.warns(UserWarning, match="only_real"):
        table, details = cross_source_evaluate(lr_pipeline, X, y, src, split=make_split(len(y)),
                                               return_details=True, progress=False)
    counts = ["n_train", "n_val", "n_held_out", "n_other_class_test"]
    for name in counts:
        assert pd.api.types.is_integer_dtype(table[name]), table[name].dtype
    skipped = table.set_index("held_out").loc["only_real"]
    assert all(pd.isna(skipped[name]) for name in counts)
    n_gan_a = int(np.sum(src == "gan_a"))
    for i, given in enumerate([(table, details), pd.DataFrame(table.astype({c: float
                                                                            for c in counts}))]):
        out = write_report(tmp_path / f"cs{i}", cross_source=given)
        rows = (out / "cross_source.csv").read_text().splitlines()
        gan_a = next(r for r in rows if r.startswith("gan_a,")).split(",")
        assert gan_a[4] == str(n_gan_a) and "." not in "".join(gan_a[2:6])
        md = (out / "report.md").read_text()
        assert f"| gan_a | fake | {n_gan_a} |" in md
        assert repr(metrics_counts(out)["gan_a"]) == str(n_gan_a)  # 23, not 23.0


def metrics_counts(out):
    records = json.loads((out / "metrics.json").read_text())["cross_source"]
    return {r["held_out"]: r["n_held_out"] for r in records}


def test_n_images_must_be_a_positive_int(run, tmp_path):
    X, y, src, split, table, details, ev = run
    for bad, error in ((0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match="n_images must be an int >= 1"):
            plot_misclassified(ev, X[split[2]], n_images=bad)
        with pytest.raises(error, match="n_images must be an int >= 1"):
            write_report(tmp_path / "r", evaluation=ev, images=X[split[2]], n_images=bad)
    assert not os.listdir(tmp_path)
    wrong = int(np.sum(ev.y_pred != ev.y_true))
    fig = plot_misclassified(ev, X[split[2]], n_images=np.int64(wrong))
    assert sum(1 for ax in fig.axes if ax.get_images()) == wrong


def test_training_curves_never_mark_a_nan_validation_loss():
    nan = float("nan")
    history = [{"epoch": 1, "train_loss": 1.0, "valid_loss": nan},
               {"epoch": 2, "train_loss": 0.8, "valid_loss": 0.6},
               {"epoch": 3, "train_loss": 0.7, "valid_loss": 0.4},
               {"epoch": 4, "train_loss": 0.6, "valid_loss": float("inf")}]
    fig = plot_training_curves({"a": history, "all nan": [dict(h, valid_loss=nan)
                                                          for h in history]})
    kept = [line.get_label() for line in fig.axes[0].get_lines() if "kept" in line.get_label()]
    assert kept == ["kept epoch 3"]
    assert not [line for line in fig.axes[1].get_lines() if "kept" in line.get_label()]


def test_extra_figures_with_clashing_names_keep_distinct_files(tmp_path):
    figs = {}
    for name in ("loss curve", "loss/curve", "Loss curve", "loss curve 2"):
        fig = Figure()
        fig.add_subplot().set_title(name)
        figs[name] = fig
    out = write_report(tmp_path / "r", figures=figs)
    listed = json.loads((out / "metrics.json").read_text())["figures"]
    assert listed == ["figures/extra_loss_curve.png", "figures/extra_loss_curve_2.png",
                      "figures/extra_Loss_curve_3.png", "figures/extra_loss_curve_2_2.png"]
    assert sorted(os.listdir(out / "figures")) == sorted(p.split("/")[1] for p in listed)
    md = (out / "report.md").read_text()
    for name, path in zip(figs, listed):
        assert f"![{name}]({path})" in md


def test_nothing_to_report_after_filtering(lr_pipeline, faces, tmp_path):
    X, y, _ = faces
    logreg = lr_pipeline.fit(X, y)
    with pytest.raises(ValueError, match=r"nothing to report.*\['logreg'\] hold no fitted"):
        write_report(tmp_path / "r1", models={"logreg": logreg})
    for empty in ({"evaluations": {}}, {"figures": {}}, {"models": {}}, {"ablation": []},
                  {"cross_source": []}):
        with pytest.raises(ValueError, match="nothing to report"):
            write_report(tmp_path / "r2", **empty)
    assert not os.listdir(tmp_path)
    # beside something to report, a model that holds no FaceCNNClassifier is named, not
    # left out without a word
    result = evaluate(logreg, X, y)
    with pytest.warns(UserWarning, match=r"models \['logreg'\] hold no fitted FaceCNNClassifier"):
        write_report(tmp_path / "r3", evaluation=result, models={"logreg": logreg})
    assert (tmp_path / "r3" / "report.html").is_file()


def test_write_report_names_bad_arguments(run, tmp_path):
    """Lists for dicts, None figures, a title of None, an int ablation and a .py file given as
    a figure failed with AttributeErrors and riddles (or showed a broken image)."""
    ev = run[-1]
    not_png = tmp_path / "fig.png"
    not_png.write_text("print('hi')\n")
    for kwargs, match in (({"evaluations": [ev]}, "evaluations must be a dict"),
                          ({"evaluations": {"a": 5}}, "not EvaluationResult"),
                          ({"figures": {"x": None}}, "must be a matplotlib Figure"),
                          ({"figures": {"x": not_png}}, "is not a PNG file"),
                          ({"title": None}, "title must be a string"),
                          ({"notes": 5}, "notes must be a string"),
                          ({"ablation": 5}, "Expected a table"),
                          ({"cross_source": "abc"}, "Expected a table")):
        with pytest.raises(ValueError, match=match):
            write_report(tmp_path / "r", evaluation=ev, **kwargs)
    assert not (tmp_path / "r").exists()


def test_report_draws_the_main_evaluations_curves_beside_the_compared_ones(run, tmp_path):
    X, y, src, split, table, details, ev = run
    out = write_report(tmp_path / "both", evaluation=ev, ablation=(table, details),
                       evaluated_on="the val split")
    figs = set(os.listdir(out / "figures"))
    assert {"roc.png", "pr.png", "roc_curves.png", "pr_curves.png"} <= figs


def test_figures_join_pyplot_when_the_user_works_with_it(run, tmp_path):
    """A script that imports pyplot shows the figures with plt.show() (and sphinx-gallery
    collects them); a report closes the figures it made."""
    import matplotlib.pyplot as plt

    X, y, src, split, table, details, ev = run
    fig = plot_confusion_matrix(ev)
    assert fig.number in plt.get_fignums()
    plt.close(fig)
    before = plt.get_fignums()
    write_report(tmp_path / "rep", evaluation=ev, ablation=(table, details),
                 images=X[split[2]])
    assert plt.get_fignums() == before


def test_figures_need_no_pyplot():
    code = ("import sys\n"
            "from skface.experiments import plot_training_curves\n"
            "h = [{'epoch': 1, 'train_loss': 1.0, 'valid_loss': 1.0}]\n"
            "fig = plot_training_curves({'a': h})\n"
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ctrl_c_between_the_renames_of_a_report_keeps_one(run, tmp_path, monkeypatch):
    import signal

    X, y, src, split, table, details, ev = run
    out = write_report(tmp_path / "rep", evaluation=ev)
    real_replace = os.replace

    def replace_then_ctrl_c(src_path, dst_path):
        real_replace(src_path, dst_path)
        if os.fspath(src_path) == os.fspath(out):  # the old report moved aside, the new one
            signal.raise_signal(signal.SIGINT)  # not yet in place

    monkeypatch.setattr(_report.os, "replace", replace_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        write_report(out, evaluation=ev, overwrite=True)
    assert (out / "report.html").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rep")]


def test_a_plot_that_fails_leaves_no_figure_open():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    for _ in range(3):
        with pytest.raises(ValueError, match="empty training history"):
            plot_training_curves({"a": []})
    assert plt.get_fignums() == before
