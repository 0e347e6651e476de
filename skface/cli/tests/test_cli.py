import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from skface.cli import build_parser, main
from skface.cli._main import SUBCOMMANDS

from .conftest import make_faces

REPO = Path(__file__).resolve().parents[3]
COMMANDS = [name for name, _ in SUBCOMMANDS]


def run_cli(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status, err, expected_status=None):
    assert status != 0
    if expected_status is not None:
        assert status == expected_status
    lines = [line for line in err.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1, err
    assert "Traceback" not in err
    return errors[0]


def no_partial_files(folder):
    return [p for p in Path(folder).rglob("*") if ".part" in p.name or ".tmp" in p.name]


# ------------------------------------------------------------------------------------ help


@pytest.mark.parametrize("command", COMMANDS)
def test_help_in_process(capsys, command):
    status, out, _ = run_cli(capsys, command, "--help")
    assert status == 0
    assert f"usage: skface {command}" in out
    assert "examples:" in out and f"skface {command}" in out.split("examples:")[1]


def test_top_level_help_and_version(capsys):
    status, out, _ = run_cli(capsys, "--help")
    assert status == 0
    for command in COMMANDS:
        assert command in out
    status, out, _ = run_cli(capsys, "--version")
    assert status == 0 and out.startswith("skface ")
    status, _, err = run_cli(capsys)
    assert status == 2 and "usage" in err


@pytest.mark.parametrize("command", COMMANDS)
def test_help_subprocess(command):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "skface.cli", command, "--help"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "examples:" in proc.stdout


def test_python_m_skface_is_the_cli():
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "skface", "--version"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("skface "), proc.stderr


def test_bad_input_subprocess(tmp_path):
    """Through the real entry point: exit status 2, one line on stderr, no traceback."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "skface.cli", "predict", "--model",
                           str(tmp_path / "no-model"), str(tmp_path / "x.png")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("skface predict: error: model folder does not exist")


def test_usage_error_is_one_line(capsys):
    status, _, err = run_cli(capsys, "train", "--manifest", "m.csv")
    line = assert_one_line_error(status, err, 2)
    assert "--out" in line
    status, _, err = run_cli(capsys, "build", "--real", "a", "--fake", "b", "--out", "m.csv",
                             "--balance", "sideways")
    assert "sideways" in assert_one_line_error(status, err, 2)
    status, _, err = run_cli(capsys, "train", "--manifest", "m", "--out", "o", "--size", "0")
    assert "--size: expected a whole number >= 8" in assert_one_line_error(status, err, 2)
    # values out of range are usage errors named by their flag, before any work (the library
    # refused them later, with exit 1, in its own parameter names)
    for argv, said in ((["train", "--manifest", "m", "--out", "o", "--seed", "-1"], "--seed"),
                       (["ablate", "--manifest", "m", "--out", "o", "--size", "4"], "--size"),
                       (["build", "--real", "a", "--fake", "b", "--out", "m.csv", "--seed",
                         str(2**32)], "--seed: expected a seed"),
                       (["audit", "--real", "a", "--fake", "b", "--cv", "1"], "--cv"),
                       (["evaluate", "--model", "m", "--manifest", "m", "--out", "o",
                         "--threshold", "1"], "--threshold: expected a number in (0, 1)"),
                       (["predict", "--model", "m", "x.png", "--threshold", "nan"],
                        "--threshold"),
                       (["fetch", "tpdne", "--dest", "d", "--seed", "x"], "--seed")):
        status, _, err = run_cli(capsys, *argv)
        assert said in assert_one_line_error(status, err, 2), argv


def test_parser_is_documented():
    parser = build_parser()
    assert parser.prog == "skface"


# ------------------------------------------------------------------- the workflow, tiny


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    """build -> train on tiny generated folders, once for the module."""
    root = tmp_path_factory.mktemp("wf")
    real, fake = make_faces(root / "faces", n=24)
    manifest = root / "manifest.csv"
    assert main(["build", "--real", str(real), "--fake", str(fake), "--out", str(manifest),
                 "--seed", "0"]) == 0
    model = root / "model"
    assert main(["train", "--manifest", str(manifest), "--out", str(model), "--size", "16",
                 "--max-epochs", "6", "--batch-size", "8", "--seed", "0", "--device", "cpu",
                 "--quiet"]) == 0
    return {"root": root, "real": real, "fake": fake, "manifest": manifest, "model": model}


def test_build_writes_split_manifest(workflow):
    from skface.datasets import read_manifest

    data = read_manifest(workflow["manifest"])
    splits = np.asarray(data.split).astype(str)
    assert set(splits) == {"train", "val", "test"}
    test = data.target[splits == "test"]
    assert (test == 0).sum() == (test == 1).sum()  # balanced test set
    assert set(data.source) == {"cam", "gan"}


def test_train_writes_loadable_model_folder(workflow):
    from skface import FaceCNNClassifier
    from skface.cli._model import MODEL_FILE, load_model

    model = workflow["model"]
    assert (model / MODEL_FILE).is_file()
    assert (model / "config.json").is_file() and (model / "weights.pt").is_file()
    pipeline, meta = load_model(model)
    assert pipeline.steps[0][1].get_params()["size"] == 16
    # the recipe's "format" step passes images through: it is neither saved nor rebuilt
    assert [spec["class"] for spec in meta["steps"]] == ["ImageLoader"]
    assert [name for name, _ in pipeline.steps] == ["load", "clf"]
    assert meta["info"]["n_train"] > 0
    assert isinstance(FaceCNNClassifier.load(model), FaceCNNClassifier)
    assert not no_partial_files(workflow["root"])


def test_train_flags_override_the_recipe():
    from skface._recommended import RECOMMENDED_CLASSIFIER_PARAMS
    from skface.cli._train import make_pipeline

    clf = make_pipeline()[-1]
    assert clf.balance == RECOMMENDED_CLASSIFIER_PARAMS.get("balance")
    assert clf.class_weight == RECOMMENDED_CLASSIFIER_PARAMS.get("class_weight")
    clf = make_pipeline(balance="oversample", class_weight="balanced", attention="se")[-1]
    assert (clf.balance, clf.class_weight, clf.attention) == ("oversample", "balanced", "se")
    clf = make_pipeline(balance="none", class_weight="none", attention="none")[-1]
    assert (clf.balance, clf.class_weight, clf.attention) == (None, None, None)


def test_train_augment_flag():
    from skface._recommended import RECOMMENDED_AUGMENT_PARAMS
    from skface.cli._train import make_pipeline
    from skface.preprocessing import Augmenter

    base = ["train", "--manifest", "m.csv", "--out", "model"]
    assert build_parser().parse_args(base).augment is False
    assert build_parser().parse_args(base + ["--augment"]).augment is True
    assert build_parser().parse_args(base + ["--no-augment"]).augment is False
    assert make_pipeline()[-1].augment is None  # the recipe trains without augmentation
    aug = make_pipeline(augment=True)[-1].augment
    assert isinstance(aug, Augmenter)
    assert {k: aug.get_params()[k] for k in RECOMMENDED_AUGMENT_PARAMS} == \
        RECOMMENDED_AUGMENT_PARAMS


def test_train_normalize_format_flag(workflow, tmp_path, capsys):
    from skface.cli._model import load_model
    from skface.cli._train import make_pipeline
    from skface.preprocessing import FormatNormalizer

    base = ["train", "--manifest", "m.csv", "--out", "model"]
    assert build_parser().parse_args(base).normalize_format is False
    assert build_parser().parse_args(base + ["--normalize-format"]).normalize_format is True
    assert make_pipeline()["format"] == "passthrough"  # the recipe does not re-encode
    assert isinstance(make_pipeline(normalize_format=True)["format"], FormatNormalizer)
    out = tmp_path / "reencoded"
    assert main(["train", "--manifest", str(workflow["manifest"]), "--out", str(out),
                 "--size", "16", "--max-epochs", "1", "--batch-size", "8", "--members", "1",
                 "--normalize-format", "--seed", "0", "--device", "cpu", "--quiet"]) == 0
    pipeline, meta = load_model(out)
    assert [spec["class"] for spec in meta["steps"]] == ["ImageLoader", "FormatNormalizer"]
    assert isinstance(pipeline["format"], FormatNormalizer) and pipeline["format"].quality == 90
    capsys.readouterr()
    images = sorted(str(p) for p in workflow["fake"].iterdir())[:3]
    assert main(["predict", "--model", str(out), *images]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) >= 3
    # the loaded pipeline is fitted whole: evaluate (and sklearn's own calls) could not use it
    assert pipeline.predict_proba(images).shape == (3, 2)
    assert main(["evaluate", "--model", str(out), "--manifest", str(workflow["manifest"]),
                 "--out", str(tmp_path / "eval"), "--quiet"]) == 0


def test_train_members_flag_saves_an_ensemble(workflow, tmp_path):
    from skface import FaceCNNClassifier

    out = tmp_path / "ensemble"
    assert main(["train", "--manifest", str(workflow["manifest"]), "--out", str(out),
                 "--size", "16", "--max-epochs", "2", "--batch-size", "8", "--members", "2",
                 "--device", "cpu", "--precision", "float32", "--quiet"]) == 0
    loaded = FaceCNNClassifier.load(out)
    assert loaded.n_members == 2 and len(loaded.members_) == 2
    assert loaded.precision == "float32" and loaded.precision_ == "float32"


def test_train_depth_flag_sets_the_number_of_stages(workflow, tmp_path, capsys):
    from skface import FaceCNNClassifier
    from skface.cli._train import make_pipeline

    out = tmp_path / "deep"
    assert main(["train", "--manifest", str(workflow["manifest"]), "--out", str(out),
                 "--size", "16", "--max-epochs", "1", "--batch-size", "8", "--members", "1",
                 "--depth", "5", "--device", "cpu", "--quiet"]) == 0
    loaded = FaceCNNClassifier.load(out)
    assert loaded.depth == 5 and len(loaded.net_.module_.stages) == 5
    assert "Decoding images" not in capsys.readouterr().err  # --quiet: no progress bars
    assert make_pipeline()[-1].depth == 4  # without the flag: the recipe's
    status, _, err = run_cli(capsys, "train", "--manifest", workflow["manifest"], "--out",
                             tmp_path / "bad", "--depth", "0")
    assert_one_line_error(status, err, 2)
    assert "--depth" in err


def test_evaluate_on_manifest(workflow, capsys):
    out = workflow["root"] / "results"
    status, stdout, err = run_cli(capsys, "evaluate", "--model", workflow["model"],
                                  "--manifest", workflow["manifest"], "--out", out)
    assert status == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "confusion_matrix",
                "per_source"):
        assert key in metrics
    assert set(metrics["per_source"]) == {"cam", "gan"}
    assert (out / "report.html").is_file()
    # every file the folder holds is listed, predictions.csv (written after the report) too
    assert set(metrics["files"]) >= {"report.html", "metrics.json", "predictions.csv"}
    assert all((out / name).is_file() for name in metrics["files"])
    rows = (out / "predictions.csv").read_text().splitlines()
    assert rows[0] == "path,true_label,p_fake,predicted"
    assert "accuracy" in stdout
    # the report names the split it scored ("Test-set evaluation" for any split before)
    assert metrics["evaluated_on"] == f"the test split of {workflow['manifest']}"
    val = workflow["root"] / "results-val"
    assert run_cli(capsys, "evaluate", "--model", workflow["model"], "--manifest",
                   workflow["manifest"], "--split", "val", "--out", val, "--quiet")[0] == 0
    report = (val / "report.md").read_text()
    assert "Evaluation on the val split of" in report
    assert "test split" not in report and "test images" not in report
    assert json.loads((val / "metrics.json").read_text())["evaluated_on"].startswith(
        "the val split")


def test_evaluate_on_folders(workflow, capsys):
    out = workflow["root"] / "results-folders"
    status, _, err = run_cli(capsys, "evaluate", "--model", workflow["model"], "--real",
                             workflow["real"], "--fake", workflow["fake"], "--out", out)
    assert status == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_samples"] == 48


def test_evaluate_decodes_a_slice_at_a_time(workflow, capsys, monkeypatch):
    # the whole set was decoded into one array before scoring (memory grew with the set); now
    # PATH_BATCH files at a time, and the report decodes again only the images it draws
    import skface.cli._evaluate as evaluate_module
    import skface.preprocessing as pre

    argv = ["evaluate", "--model", workflow["model"], "--real", workflow["real"], "--fake",
            workflow["fake"], "--out"]
    assert run_cli(capsys, *argv, workflow["root"] / "results-whole")[0] == 0
    whole = json.loads((workflow["root"] / "results-whole" / "metrics.json").read_text())
    sizes = []
    original = pre.ImageLoader.transform

    def counted(self, X):
        sizes.append(len(X))
        return original(self, X)

    monkeypatch.setattr(pre.ImageLoader, "transform", counted)
    monkeypatch.setattr(evaluate_module, "PATH_BATCH", 5)
    out = workflow["root"] / "results-sliced"
    status, _, err = run_cli(capsys, *argv, out)
    assert status == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_samples"] == 48
    assert sizes[:10] == [5] * 9 + [3] and max(sizes) <= 16  # then the report's few
    assert (out / "report.html").is_file() and (out / "figures" / "misclassified.png").is_file()
    for key in ("accuracy", "f1", "roc_auc", "confusion_matrix", "per_source"):
        assert metrics[key] == whole[key]


def test_evaluate_copies_the_manifest_under_its_own_name_with_usable_paths(
        workflow, capsys, tmp_path):
    """A manifest named per_source.csv or predictions.csv was overwritten by the table of that
    name; a manifest with relative paths was copied verbatim, and its copy could not be read
    from the report folder."""
    import shutil

    from skface.datasets import read_manifest

    data = tmp_path / "data"
    shutil.copytree(workflow["real"], data / "real")
    shutil.copytree(workflow["fake"], data / "fake")
    rel = data / "per_source.csv"
    assert run_cli(capsys, "build", "--real", data / "real", "--fake", data / "fake", "--out",
                   rel, "--relative", "--quiet")[0] == 0
    assert "real/" in rel.read_text()  # paths relative to the manifest's folder
    out = tmp_path / "ev"
    status, _, err = run_cli(capsys, "evaluate", "--model", workflow["model"], "--manifest",
                             rel, "--out", out, "--quiet")
    assert status == 0, err
    assert (out / "per_source.csv").read_text().startswith("source,")  # the table, kept
    copy = read_manifest(out / "manifest.csv", verify=True)  # every image found from here
    original = read_manifest(rel)
    assert list(copy.filenames) == [str(Path(f).resolve()) for f in original.filenames]
    assert list(copy.split) == list(original.split)
    metrics = json.loads((out / "metrics.json").read_text())
    assert "manifest.csv" in metrics["files"]
    status, _, err = run_cli(capsys, "evaluate", "--model", workflow["model"], "--manifest",
                             out / "manifest.csv", "--out", tmp_path / "ev2", "--quiet")
    assert status == 0, err


def test_evaluate_out_inside_an_image_folder_is_refused(workflow, capsys, tmp_path):
    """--out inside --real was accepted, and the next run scored the report's figures as real
    faces (54 images instead of 48)."""
    import shutil

    real = tmp_path / "real"
    shutil.copytree(workflow["real"], real)
    for out in (real / "results", real / "sub" / "results"):
        status, _, err = run_cli(capsys, "evaluate", "--model", workflow["model"], "--real",
                                 f"cam={real}", "--fake", workflow["fake"], "--out", out)
        assert "lies inside the --real folder" in assert_one_line_error(status, err, 2)
    assert not (real / "results").exists()


def test_real_and_fake_folders_of_one_name_are_not_merged(capsys, tmp_path, faces, workflow):
    """ffhq/images and tpdne/images both became the source 'images', one source holding both
    labels (per-source figures of each generator were lost)."""
    import shutil

    real, fake = faces
    a, b = tmp_path / "ffhq" / "images", tmp_path / "tpdne" / "images"
    shutil.copytree(real, a)
    shutil.copytree(fake, b)
    for argv in (["build", "--out", tmp_path / "m.csv"], ["audit"],
                 ["evaluate", "--model", workflow["model"], "--out", tmp_path / "ev"]):
        status, _, err = run_cli(capsys, *argv, "--real", a, "--fake", b)
        line = assert_one_line_error(status, err, 2)
        assert "both named 'images'" in line and "--real images-real=" in line
    # named on purpose on both sides: the user's choice
    status, _, err = run_cli(capsys, "build", "--out", tmp_path / "m.csv", "--real",
                             f"x={a}", "--fake", f"x={b}")
    assert status == 0, err


def test_train_on_a_manifest_without_a_val_split(capsys, tmp_path, faces, monkeypatch):
    """`skface build --sizes 0.85 0 0.15` (VAL may be 0, its help says) wrote a manifest that
    `skface train` refused: "has no rows in split 'val'"."""
    real, fake = faces
    manifest = tmp_path / "noval.csv"
    assert run_cli(capsys, "build", "--real", real, "--fake", fake, "--out", manifest,
                   "--sizes", "0.85", "0", "0.15", "--quiet")[0] == 0
    argv = ["train", "--manifest", manifest, "--size", "16", "--max-epochs", "2", "--members",
            "1", "--device", "cpu", "--quiet", "--out"]
    status, out, err = run_cli(capsys, *argv, tmp_path / "m1")
    assert status == 0, err
    assert "no val split: early stopping holds out 15% of the train split" in err
    status, out, err = run_cli(capsys, *argv, tmp_path / "m2", "--no-early-stopping")
    assert status == 0, err
    assert "with no validation score" in err
    # an oversampled manifest: the added rows would repeat training images in the part held
    # out for early stopping; the images train once and the classifier oversamples after
    import skface.cli._train as train_mod

    manifest2 = tmp_path / "noval-over.csv"
    for f in sorted(fake.glob("*"))[:12]:
        f.unlink()
    assert run_cli(capsys, "build", "--real", real, "--fake", fake, "--out", manifest2,
                   "--sizes", "0.85", "0", "0.15", "--balance", "oversample", "--quiet")[0] == 0
    from skface.datasets import read_manifest
    from skface.datasets._manifest import added_rows

    built = read_manifest(manifest2)
    added = added_rows(built)[built.split == "train"]  # the train split's repeats
    assert added.any()
    fitted = {}
    original = train_mod.make_pipeline

    def recording(**kwargs):
        pipe = original(**kwargs)
        clf = pipe.steps[-1][1]
        real_fit = clf.fit

        def fit(X, y, **kw):
            fitted.update(n=len(X), balance=clf.balance, val="X_val" in kw)
            return real_fit(X, y, **kw)

        clf.fit = fit
        return pipe

    monkeypatch.setattr(train_mod, "make_pipeline", recording)
    status, out, err = run_cli(capsys, "train", "--manifest", manifest2, "--size", "16",
                               "--max-epochs", "2", "--members", "1", "--device", "cpu",
                               "--quiet", "--out", tmp_path / "m3")
    assert status == 0, err
    assert fitted == {"n": int((~added).sum()), "balance": "oversample", "val": False}
    assert "oversamples after holding out" in err


def oversampled_manifest(capsys, tmp_path, workflow):
    """``skface build --balance oversample`` on 24 real and 14 fake faces: the manifest's path
    and what read_manifest reads from it."""
    import shutil

    from skface.datasets import read_manifest

    real, fake = tmp_path / "real", tmp_path / "fake"
    shutil.copytree(workflow["real"], real)
    fake.mkdir()
    for f in sorted(workflow["fake"].glob("*.png"))[:14]:
        shutil.copy(f, fake)
    manifest = tmp_path / "m.csv"
    assert run_cli(capsys, "build", "--real", real, "--fake", fake, "--out", manifest,
                   "--balance", "oversample", "--quiet")[0] == 0
    return manifest, read_manifest(manifest)


def test_evaluate_scores_each_image_once_on_an_oversampled_manifest(workflow, capsys,
                                                                    tmp_path):
    """--split all (or train, val) on a --balance oversample manifest counted the rows the
    oversampling added (repeats of other images) as more test images."""
    manifest, data = oversampled_manifest(capsys, tmp_path, workflow)
    added = int((np.asarray(data.resampled, dtype=object) == "added").sum())
    assert added > 0
    status, _, err = run_cli(capsys, "evaluate", "--model", workflow["model"], "--manifest",
                             manifest, "--split", "all", "--out", tmp_path / "ev", "--quiet")
    assert status == 0, err
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["n_samples"] == len(data.filenames) - added == 24 + 14
    assert f"left out {added} row(s)" in err


def test_skipped_files_are_listed_for_the_shell_user(workflow, capsys, tmp_path, faces):
    import csv
    import shutil

    real, fake = faces
    (fake / "notes.txt").write_text("not an image")
    (fake / "cut.png").write_bytes(next(fake.glob("*.png")).read_bytes()[:60])
    manifest = tmp_path / "m.csv"
    status, out, err = run_cli(capsys, "build", "--real", real, "--fake", fake, "--out", manifest)
    assert status == 0, err
    listing = tmp_path / "m.skipped.csv"
    with open(listing, newline="") as fh:
        rows = {Path(r["path"]).name: r["reason"] for r in csv.DictReader(fh)}
    assert rows == {"cut.png": rows["cut.png"], "notes.txt": "not an image file (.txt, ignored)"}
    assert "truncated" in rows["cut.png"]
    assert "notes.txt (not an image file (.txt, ignored))" in err and str(listing) in err
    assert "`skipped` field" not in err  # the library's hint names a Python field
    assert str(listing) in out  # the summary says where they are
    # the same folders through evaluate: the list goes into the report folder
    results = tmp_path / "results"
    status, _, err = run_cli(capsys, "evaluate", "--model", workflow["model"], "--real", real,
                             "--fake", fake, "--out", results)
    assert status == 0, err
    assert (results / "skipped.csv").read_text().count("\n") == 3
    assert json.loads((results / "metrics.json").read_text())["skipped_files"] == 2
    # a later build that skips nothing leaves no stale list behind
    shutil.move(fake / "notes.txt", tmp_path / "notes.txt")
    (fake / "cut.png").unlink()
    assert run_cli(capsys, "build", "--real", real, "--fake", fake, "--out", manifest)[0] == 0
    assert not listing.exists()


def test_ctrl_c_while_build_writes_leaves_no_stale_listing(capsys, tmp_path, faces,
                                                           monkeypatch):
    """Ctrl-C after the manifest was written left an earlier build's skipped.csv beside it,
    naming files the new manifest knows nothing of; the three files are now written together
    and the interruption comes after them."""
    import os
    import signal

    import skface.datasets as datasets

    real, fake = faces
    (fake / "cut.png").write_bytes(next(fake.glob("*.png")).read_bytes()[:60])
    manifest = tmp_path / "m.csv"
    assert run_cli(capsys, "build", "--real", real, "--fake", fake, "--out", manifest)[0] == 0
    listing = tmp_path / "m.skipped.csv"
    assert listing.is_file()
    (fake / "cut.png").unlink()
    original = datasets.write_manifest

    def then_ctrl_c(*args, **kwargs):
        result = original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        return result

    monkeypatch.setattr(datasets, "write_manifest", then_ctrl_c)
    status, _, err = run_cli(capsys, "build", "--real", real, "--fake", fake, "--out", manifest)
    assert status == 130 and "interrupted" in err
    assert not listing.exists()  # the new build skipped nothing
    assert "cut.png" not in manifest.read_text()


def test_build_lists_every_image_it_left_out(capsys, tmp_path, faces):
    """Duplicates and label conflicts were counted in the summary but named nowhere."""
    import csv
    import shutil

    real, fake = faces
    shutil.copy(real / "r000.png", real / "r000_copy.png")
    shutil.copy(real / "r001.png", fake / "f_is_real.png")
    manifest = tmp_path / "m.csv"
    status, out, err = run_cli(capsys, "build", "--real", real, "--fake", fake, "--out", manifest,
                               "--quiet")
    assert status == 0, err
    listing = tmp_path / "m.dropped.csv"
    with open(listing, newline="") as fh:
        rows = {Path(r["path"]).name: (r["reason"], Path(r["copy_of"]).name)
                for r in csv.DictReader(fh)}
    assert rows == {"r000_copy.png": ("duplicate: another copy is kept", "r000.png"),
                    "r001.png": ("label conflict: also under fake", "f_is_real.png"),
                    "f_is_real.png": ("label conflict: also under real", "r001.png")}
    assert f"each listed in {listing}" in out
    # a later build that leaves nothing out leaves no stale list behind
    (real / "r000_copy.png").unlink()
    (fake / "f_is_real.png").unlink()
    status, out, _ = run_cli(capsys, "build", "--real", real, "--fake", fake, "--out", manifest,
                             "--quiet")
    assert status == 0 and not listing.exists() and "each listed" not in out


def test_build_summary_counts_oversampled_rows_apart(capsys, tmp_path, faces):
    """'wrote ...: 80 images' was printed for 50 distinct images and 30 repeats."""
    import shutil

    real, fake = faces
    for extra in sorted(fake.glob("*.png"))[8:]:
        shutil.move(extra, tmp_path / extra.name)  # 20 real, 8 fake
    manifest = tmp_path / "m.csv"
    status, out, err = run_cli(capsys, "build", "--real", real, "--fake", fake, "--out", manifest,
                               "--balance", "oversample", "--quiet")
    assert status == 0, err
    from skface.datasets import read_manifest

    data = read_manifest(manifest)
    n, n_added = len(data.filenames), int((data.resampled == "added").sum())
    assert n_added > 0 and n - n_added == 28
    assert f"wrote {manifest}: {n} rows (28 distinct images, {n_added} added by oversampling)" \
        in out
    assert "added by oversampling)" in out.splitlines()[1]  # the train line


def test_predict_files_and_folders(workflow, capsys, tmp_path):
    out = tmp_path / "preds.csv"
    one = sorted(workflow["real"].glob("*.png"))[0]
    status, _, err = run_cli(capsys, "predict", "--model", workflow["model"], one,
                             workflow["fake"], "--out", out)
    assert status == 0, err
    lines = out.read_text().splitlines()
    assert lines[0] == "path,p_fake,predicted"
    assert len(lines) == 1 + 1 + 24
    p = [float(line.split(",")[1]) for line in lines[1:]]
    assert all(0.0 <= v <= 1.0 for v in p)
    assert {line.split(",")[2] for line in lines[1:]} <= {"real", "fake"}
    # to stdout without --out
    status, stdout, _ = run_cli(capsys, "predict", "--model", workflow["model"], one)
    assert status == 0 and stdout.splitlines()[0] == "path,p_fake,predicted"


def test_device_flag_is_checked_before_any_work(workflow, capsys, tmp_path, monkeypatch):
    import skface.cli._model as model_module

    # a GPU that is not there is named at once: no image decoded, no output written
    def no_decoding(*args, **kwargs):
        raise AssertionError("images were decoded before the device was checked")

    monkeypatch.setattr(model_module, "transform_paths", no_decoding)
    missing = "cuda:7" if torch.cuda.is_available() else "cuda"
    status, _, err = run_cli(capsys, "train", "--manifest", workflow["manifest"], "--out",
                             tmp_path / "m", "--device", missing)
    assert "--device:" in assert_one_line_error(status, err) and not (tmp_path / "m").exists()
    one = sorted(workflow["real"].glob("*.png"))[0]
    status, _, err = run_cli(capsys, "predict", "--model", workflow["model"], one,
                             "--device", missing)
    assert "--device:" in assert_one_line_error(status, err)
    monkeypatch.undo()
    status, stdout, err = run_cli(capsys, "predict", "--model", workflow["model"], one,
                                  "--device", "cpu")
    assert status == 0, err
    assert len(stdout.splitlines()) == 2


def test_predict_scores_each_file_once_and_checks_out_first(workflow, capsys, tmp_path,
                                                            monkeypatch):
    """A file given directly and through its folder (or twice) got one row per mention; an
    --out that could not be written was found only after every image was scored."""
    import shutil

    import skface.cli._model as model_module

    good = tmp_path / "good"
    good.mkdir()
    for f in sorted(workflow["real"].glob("*.png"))[:3]:
        shutil.copy(f, good)
    one = good / sorted(p.name for p in good.iterdir())[0]
    status, out, err = run_cli(capsys, "predict", "--model", workflow["model"], one, good, good,
                               tmp_path / "." / "good" / one.name, "--quiet")
    assert status == 0, err
    rows = out.splitlines()[1:]
    assert len(rows) == 3 and len({r.split(",")[0] for r in rows}) == 3
    assert "given again" in err or "already scanned" in err

    def no_scoring(*args, **kwargs):
        raise AssertionError("images were scored before --out was checked")

    monkeypatch.setattr(model_module, "predict_paths", no_scoring)
    for bad, said in ((tmp_path, "is a folder"), (tmp_path / "nope" / "p.csv", "does not exist"),
                      (one / "p.csv", "is a file, not a folder"),
                      # a file that is no earlier output (a manifest) had been replaced
                      (workflow["manifest"], "is not an earlier `skface predict` output"),
                      (one, "is not an earlier `skface predict` output")):
        status, _, err = run_cli(capsys, "predict", "--model", workflow["model"], good, "--out",
                                 bad)
        assert said in assert_one_line_error(status, err, 2)
    assert workflow["manifest"].read_text().startswith("path,label")
    monkeypatch.undo()
    earlier = tmp_path / "preds.csv"
    for _ in range(2):  # an earlier output is replaced
        status, _, err = run_cli(capsys, "predict", "--model", workflow["model"], good, "--out",
                                 earlier, "--quiet")
        assert status == 0, err
    assert len(earlier.read_text().splitlines()) == 4


def test_predict_walks_folders_as_the_scan_does(workflow, capsys, tmp_path):
    """Each file once (symlink loops too), images found by content, the rest named."""
    import shutil

    folder = tmp_path / "photos"
    (folder / "a").mkdir(parents=True)
    pngs = sorted(workflow["real"].glob("*.png"))[:2]
    shutil.copy(pngs[0], folder / "a" / "one.png")
    shutil.copy(pngs[1], folder / "a" / "saved_without_suffix")
    (folder / "a" / "notes.txt").write_text("not an image")
    (folder / "a" / "back").symlink_to("..")  # a loop
    status, stdout, err = run_cli(capsys, "predict", "--model", workflow["model"], folder)
    assert status == 0, err
    rows = stdout.splitlines()[1:]
    names = sorted(Path(r.split(",")[0]).name for r in rows)
    assert names == ["one.png", "saved_without_suffix"]
    assert "left out 2 file(s)" in err and "notes.txt (not an image)" in err
    assert "symlink loop" in err


def test_trained_model_beats_chance(workflow, capsys, tmp_path):
    out = tmp_path / "preds.csv"
    status, _, _ = run_cli(capsys, "predict", "--model", workflow["model"], workflow["real"],
                           workflow["fake"], "--out", out)
    assert status == 0
    rows = [line.split(",") for line in out.read_text().splitlines()[1:]]
    correct = [(r[2] == "fake") == ("/gan/" in r[0].replace(os.sep, "/")) for r in rows]
    assert np.mean(correct) > 0.6


# ------------------------------------------------------------------------- bad input


def test_missing_folders(capsys, tmp_path, faces):
    real, fake = faces
    for cmd in (["build", "--out", tmp_path / "m.csv"], ["audit"]):
        status, _, err = run_cli(capsys, *cmd, "--real", tmp_path / "nope", "--fake", fake)
        line = assert_one_line_error(status, err)
        assert "nope" in line and "does not exist" in line
    assert not (tmp_path / "m.csv").exists()


def test_empty_folder_is_an_error(capsys, tmp_path, faces):
    real, _ = faces
    empty = tmp_path / "empty"
    empty.mkdir()
    status, _, err = run_cli(capsys, "build", "--real", real, "--fake", empty, "--out",
                             tmp_path / "m.csv")
    assert_one_line_error(status, err)
    assert not (tmp_path / "m.csv").exists()


def test_an_empty_folder_beside_others_is_named(capsys, tmp_path, faces):
    real, fake = faces
    empty = tmp_path / "empty"
    empty.mkdir()
    status, out, err = run_cli(capsys, "build", "--real", real, empty, "--fake", fake, "--out",
                               tmp_path / "m.csv", "--quiet")
    assert status == 0, err
    assert f"no usable image in the folder {empty}" in out
    assert f"warning: The real folder {empty} (source 'empty') gave no image" in err


def test_sources_are_named_with_name_equals_dir(capsys, tmp_path, faces):
    """Two folders with one name were refused with advice the CLI could not follow."""
    import shutil

    from skface.datasets import read_manifest

    real, fake = faces
    other = tmp_path / "other" / real.name  # a second folder called "cam"
    other.mkdir(parents=True)
    for f in sorted(real.glob("*.png"))[:6]:
        shutil.move(f, other / f.name)
    manifest = tmp_path / "m.csv"
    status, _, err = run_cli(capsys, "build", "--real", real, other, "--fake", fake, "--out",
                             manifest)
    line = assert_one_line_error(status, err, 2)
    assert "both named 'cam'" in line and f"--real cam-1={real} cam-2={other}" in line
    assert "mapping" not in line
    status, _, err = run_cli(capsys, "build", "--real", real, real, "--fake", fake, "--out",
                             manifest)
    assert f"The --real folder {real} is given twice." in assert_one_line_error(status, err, 2)
    status, _, err = run_cli(capsys, "build", "--real", f"cam={tmp_path / 'nope'}", "--fake",
                             fake, "--out", manifest)
    assert "does not exist" in assert_one_line_error(status, err, 2)
    assert not manifest.exists()
    status, _, err = run_cli(capsys, "build", "--real", f"ffhq={real}", f"lfw={other}",
                             "--fake", fake, "--out", manifest, "--quiet")
    assert status == 0, err
    data = read_manifest(manifest)
    assert {s: int((data.source == s).sum()) for s in set(data.source)} == {
        "ffhq": 14, "lfw": 6, "gan": 20}
    status, out, err = run_cli(capsys, "audit", "--real", f"ffhq={real}", f"lfw={other}",
                               "--fake", f"sdxl={fake}", "--cv", "2", "--quiet")
    assert status == 0, err
    table = [line.split()[0] for line in out.splitlines()[2:5]]
    assert sorted(table) == ["ffhq", "lfw", "sdxl"]


def test_build_checks_out_and_relative_before_scanning(capsys, monkeypatch, tmp_path, faces):
    """A folder as --out, or --relative with the images outside the manifest's folder, was
    refused only after the whole scan."""
    import skface.datasets

    def no_scan(*args, **kwargs):
        raise AssertionError("scanned before checking the arguments")

    monkeypatch.setattr(skface.datasets, "build_dataset", no_scan)
    real, fake = faces
    folders = ["--real", real, "--fake", fake]
    status, _, err = run_cli(capsys, "build", *folders, "--out", tmp_path)
    assert "is a folder" in assert_one_line_error(status, err, 2)
    elsewhere = tmp_path / "elsewhere"
    status, _, err = run_cli(capsys, "build", *folders, "--out", elsewhere / "m.csv",
                             "--relative")
    line = assert_one_line_error(status, err, 2)
    assert f"the image folder {real} is not inside {elsewhere}" in line
    assert not elsewhere.exists()
    monkeypatch.undo()
    # images under the manifest's folder, also through a link to it: accepted
    (tmp_path / "link").symlink_to(real.parents[1], target_is_directory=True)
    for manifest in (real.parents[1] / "m.csv", tmp_path / "link" / "m.csv"):
        status, _, err = run_cli(capsys, "build", *folders, "--out", manifest, "--relative",
                                 "--quiet")
        assert status == 0, err


def test_a_set_too_small_to_split_says_what_to_do(capsys, tmp_path, faces):
    """The error advised a larger test fraction, which skface build had no option for."""
    real, fake = faces
    for folder in (real, fake):
        for f in sorted(folder.glob("*.png"))[3:]:
            f.unlink()  # 3 real, 3 fake
    manifest = tmp_path / "m.csv"
    status, _, err = run_cli(capsys, "build", "--real", real, "--fake", fake, "--out", manifest)
    line = assert_one_line_error(status, err)
    assert "add images (7 or more in all)" in line and "(--sizes)" in line
    status, _, err = run_cli(capsys, "build", "--real", real, "--fake", fake, "--out", manifest,
                             "--sizes", "0.5", "0.5", "0.5")
    assert "--sizes: sizes must sum to 1" in assert_one_line_error(status, err, 2)
    status, out, err = run_cli(capsys, "build", "--real", real, "--fake", fake, "--out",
                               manifest, "--sizes", "0.5", "0", "0.5", "--quiet")
    assert status == 0, err
    assert "test       2 images  (1 real, 1 fake)" in out


def test_empty_manifest(capsys, tmp_path, workflow):
    empty = tmp_path / "empty.csv"
    empty.write_text("path,label,source,split\n")
    status, _, err = run_cli(capsys, "train", "--manifest", empty, "--out", tmp_path / "m")
    assert_one_line_error(status, err)
    assert not (tmp_path / "m").exists()
    status, _, err = run_cli(capsys, "evaluate", "--model", workflow["model"], "--manifest",
                             empty, "--out", tmp_path / "r")
    assert_one_line_error(status, err)
    assert not (tmp_path / "r").exists()


def test_missing_manifest(capsys, tmp_path):
    status, _, err = run_cli(capsys, "train", "--manifest", tmp_path / "none.csv", "--out",
                             tmp_path / "m")
    assert "does not exist" in assert_one_line_error(status, err)


def test_model_folder_problems(capsys, tmp_path, workflow):
    import shutil

    img = sorted(workflow["real"].glob("*.png"))[0]
    cases = {}
    # not there
    cases["missing"] = tmp_path / "nomodel"
    # a folder that is not a model
    cases["not a model"] = tmp_path / "plain"
    cases["not a model"].mkdir()
    # another format version
    other = tmp_path / "other"
    shutil.copytree(workflow["model"], other)
    meta = json.loads((other / "skface-model.json").read_text())
    meta["format"] = 999
    (other / "skface-model.json").write_text(json.dumps(meta))
    cases["version"] = other
    # corrupted metadata, corrupted config, truncated weights
    for name, fname, content in (("meta", "skface-model.json", "{not json"),
                                 ("config", "config.json", "[]"),
                                 ("weights", "weights.pt", None)):
        broken = tmp_path / f"broken-{name}"
        shutil.copytree(workflow["model"], broken)
        target = broken / fname
        if content is None:
            target.write_bytes(target.read_bytes()[:100])
        else:
            target.write_text(content)
        cases[name] = broken
    for label, model in cases.items():
        out = tmp_path / f"preds-{label}.csv"
        status, _, err = run_cli(capsys, "predict", "--model", model, img, "--out", out)
        line = assert_one_line_error(status, err)
        assert str(model.name) in line, (label, line)
        assert not out.exists()
    assert "999" in assert_one_line_error(
        *run_cli(capsys, "predict", "--model", cases["version"], img)[::2])


def test_predict_bad_image_paths(capsys, tmp_path, workflow):
    out = tmp_path / "preds.csv"
    status, _, err = run_cli(capsys, "predict", "--model", workflow["model"],
                             tmp_path / "ghost.png", "--out", out)
    assert "ghost.png" in assert_one_line_error(status, err)
    assert not out.exists()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    status, _, err = run_cli(capsys, "predict", "--model", workflow["model"], broken,
                             "--out", out)
    assert "broken.png" in assert_one_line_error(status, err)
    assert not out.exists() and not no_partial_files(tmp_path)
    for threshold in ("0", "1", "1.5"):  # the same range as evaluate's
        status, _, err = run_cli(capsys, "predict", "--model", workflow["model"],
                                 workflow["real"], "--threshold", threshold)
        assert "--threshold: expected a number in (0, 1)" in assert_one_line_error(status, err, 2)


def test_outputs_are_replaced_only_when_complete(capsys, tmp_path, workflow):
    out = tmp_path / "preds.csv"
    out.write_text("old\n")
    status, _, _ = run_cli(capsys, "predict", "--model", workflow["model"],
                           tmp_path / "ghost.png", "--out", out)
    assert status != 0
    assert out.read_text() == "old\n"


def test_out_folder_with_other_files_is_refused_before_any_work(capsys, tmp_path, workflow):
    """An ``--out`` folder is replaced whole, so one holding anything else is never touched."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "thesis.txt").write_text("keep me")
    (project / "manifest.csv").write_bytes(workflow["manifest"].read_bytes())
    status, _, err = run_cli(capsys, "train", "--manifest", project / "manifest.csv", "--out",
                             project, "--size", "16", "--max-epochs", "1", "--quiet")
    line = assert_one_line_error(status, err, 2)
    assert "did not write" in line and "'thesis.txt'" in line and "'manifest.csv'" in line
    assert "loading" not in err  # refused before loading a single image
    assert sorted(p.name for p in project.iterdir()) == ["manifest.csv", "thesis.txt"]
    for argv in (["evaluate", "--model", workflow["model"], "--manifest", workflow["manifest"]],
                 ["ablate", "--manifest", workflow["manifest"], "--max-epochs", "1"],
                 ["demo"]):
        status, _, err = run_cli(capsys, *argv, "--out", project)
        assert "did not write" in assert_one_line_error(status, err, 2)
    assert (project / "thesis.txt").read_text() == "keep me"
    assert not no_partial_files(tmp_path) and not (tmp_path / "project.partial").exists()


def test_out_folder_of_another_command_is_refused(capsys, workflow):
    model = workflow["model"]
    before = sorted(p.name for p in model.iterdir())
    status, _, err = run_cli(capsys, "evaluate", "--model", model, "--manifest",
                             workflow["manifest"], "--out", model)
    assert "holds the output of `skface train`" in assert_one_line_error(status, err, 2)
    assert sorted(p.name for p in model.iterdir()) == before


def test_earlier_output_of_the_same_command_is_replaced(capsys, tmp_path, workflow):
    from skface.cli._common import OUTPUT_MARKER

    out = tmp_path / "results"
    argv = ["evaluate", "--model", workflow["model"], "--manifest", workflow["manifest"],
            "--out", out]
    assert run_cli(capsys, *argv)[0] == 0
    marker = json.loads((out / OUTPUT_MARKER).read_text())
    assert marker["command"] == "evaluate" and "metrics.json" in marker["files"]
    (out / "metrics.json").write_text("stale")
    assert run_cli(capsys, *argv)[0] == 0  # its own earlier output: replaced
    assert json.loads((out / "metrics.json").read_text())["n_samples"] > 0
    (out / "notes.txt").write_text("mine")  # added by hand: no longer replaced
    status, _, err = run_cli(capsys, *argv)
    assert "'notes.txt'" in assert_one_line_error(status, err, 2)
    assert (out / "notes.txt").read_text() == "mine"
    (out / OUTPUT_MARKER).write_text("{not json")
    status, _, err = run_cli(capsys, *argv)
    assert "unreadable" in assert_one_line_error(status, err, 2)


def test_atomic_dir_keeps_the_output_when_a_file_appears_meanwhile(tmp_path):
    from skface.cli._common import CLIError, atomic_dir

    out = tmp_path / "out"
    with atomic_dir(out, "evaluate") as tmp:
        (tmp / "metrics.json").write_text("{}")
    with pytest.raises(CLIError, match="written to .*out.new-") as info:
        with atomic_dir(out, "evaluate") as tmp:
            (tmp / "metrics.json").write_text("{}")
            (out / "late.txt").write_text("added during the run")
    kept = Path(str(info.value).rsplit(" ", 2)[-2])
    assert (kept / "metrics.json").is_file()
    assert (out / "late.txt").is_file() and (out / "metrics.json").is_file()


def test_atomic_dir_puts_back_the_earlier_output_when_stopped_between_renames(
        monkeypatch, tmp_path):
    """Ctrl-C after the earlier output was moved aside and before the new one took its place
    deleted the new output and left the earlier one under a hidden name."""
    import skface.cli._common as common

    out = tmp_path / "out"
    with common.atomic_dir(out, "evaluate") as tmp:
        (tmp / "metrics.json").write_text("first")
    real_replace, calls = common.os.replace, {"n": 0}

    def replace(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:  # the new output into place
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(common.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        with common.atomic_dir(out, "evaluate") as tmp:
            (tmp / "metrics.json").write_text("second")
    monkeypatch.undo()
    assert (out / "metrics.json").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing hidden left


def test_printed_next_commands_quote_paths(capsys, tmp_path, faces):
    """`next: skface train --manifest my data/m.csv` could not be pasted into a shell."""
    import shlex

    real, fake = faces
    folder = tmp_path / "my data"
    folder.mkdir()
    status, out, err = run_cli(capsys, "build", "--real", real, "--fake", fake, "--out",
                               folder / "m.csv", "--quiet")
    assert status == 0, err
    line = next(x for x in out.splitlines() if x.startswith("next: "))
    assert shlex.split(line[len("next: "):])[3] == str(folder / "m.csv")


def test_a_closed_pipe_ends_the_command_quietly(capsys, monkeypatch, tmp_path, faces):
    """`skface predict ... | head` printed "error: [Errno 32] Broken pipe" and exited 1."""
    import skface.cli._build as build_mod

    def closed(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(build_mod, "build", closed)
    real, fake = faces
    status, _, err = run_cli(capsys, "build", "--real", real, "--fake", fake, "--out",
                             tmp_path / "m.csv")
    assert status == 141 and err == ""


def test_unexpected_errors_are_one_line(capsys, monkeypatch, tmp_path, faces):
    import skface.cli._build as build_mod

    def boom(*args, **kwargs):
        raise TypeError("something odd")

    monkeypatch.setattr(build_mod, "build", boom)
    real, fake = faces
    status, _, err = run_cli(capsys, "build", "--real", real, "--fake", fake, "--out",
                             tmp_path / "m.csv")
    line = assert_one_line_error(status, err, 1)
    assert "--debug" in line
    with pytest.raises(TypeError):
        main(["build", "--debug", "--real", str(real), "--fake", str(fake), "--out",
              str(tmp_path / "m.csv")])


def ctrl_c_after_batches(monkeypatch, stop):
    """Make `skface train` press Ctrl-C in the training batch after the first ``stop`` (an
    augmenter that counts its batches, in batches of 8); return the counter, whose ``stop``
    a test may change between runs."""
    import skface.cli._train as train_mod
    from skface.preprocessing import Augmenter

    calls = {"n": 0, "stop": stop}

    def interrupting(self, X, rng):
        calls["n"] += 1
        if calls["n"] > calls["stop"]:
            raise KeyboardInterrupt
        return X

    monkeypatch.setattr(Augmenter, "augment_batch", interrupting)
    original = train_mod.make_pipeline

    def patched(**kwargs):
        pipe = original(**kwargs)
        pipe.steps[-1][1].set_params(augment=Augmenter(), batch_size=8)
        return pipe

    monkeypatch.setattr(train_mod, "make_pipeline", patched)
    return calls


def test_keyboard_interrupt_keeps_best_model(capsys, monkeypatch, tmp_path, workflow):
    """Ctrl-C during training: the best epoch so far is saved, exit status 130."""
    calls = ctrl_c_after_batches(monkeypatch, 4)  # a few batches in: past the first epoch
    model = tmp_path / "model"
    status, out, err = run_cli(capsys, "train", "--manifest", workflow["manifest"], "--out",
                               model, "--size", "16", "--max-epochs", "20", "--device", "cpu",
                               "--quiet")
    assert status == 130, err
    assert "interrupted" in out
    from skface.cli._model import load_model

    pipeline, meta = load_model(model)
    clf = pipeline.steps[-1][1]
    assert meta["info"]["interrupted"] is True
    assert clf.n_epochs_ < 20
    # Ctrl-C in the first epoch: nothing to save, and the earlier model stays (an untrained
    # network was saved over it, as "the best model so far (epoch 0)")
    saved = {f.name: f.read_bytes() for f in model.iterdir() if f.is_file()}
    calls.update(n=0, stop=1)
    status, out, err = run_cli(capsys, "train", "--manifest", workflow["manifest"], "--out",
                               model, "--size", "16", "--max-epochs", "20", "--device", "cpu",
                               "--quiet")
    assert status == 130 and "interrupted" in err and "saved" not in out
    assert {f.name: f.read_bytes() for f in model.iterdir() if f.is_file()} == saved
    # its evaluation says the model is the best epoch before Ctrl-C, not a finished run
    monkeypatch.undo()
    status, _, err = run_cli(capsys, "evaluate", "--model", model, "--manifest",
                             workflow["manifest"], "--out", tmp_path / "ev", "--quiet")
    assert status == 0, err
    assert f"training was interrupted (Ctrl-C) after {clf.n_epochs_} of 20 epochs" in (
        tmp_path / "ev" / "report.md").read_text()
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["model_interrupted"]


def test_keyboard_interrupt_in_an_ensemble_says_what_was_saved(capsys, monkeypatch, tmp_path,
                                                               workflow):
    """The message said "the last at its best epoch so far" when every network saved had
    finished (a network cut short is dropped unless it is the first)."""
    from skface.cli._model import load_model

    calls = ctrl_c_after_batches(monkeypatch, 0)
    argv = ["train", "--manifest", workflow["manifest"], "--size", "16", "--max-epochs", "3",
            "--members", "2", "--no-early-stopping", "--device", "cpu", "--quiet", "--out"]
    # count the batches of one network's run
    calls.update(n=0, stop=10**9)
    assert run_cli(capsys, *argv, tmp_path / "whole")[0] == 0
    per_network = calls["n"] // 2
    for stop, model, said in ((per_network + 2, "second", "saved the 1 of 2 networks that "
                                                          "finished"),
                              (per_network - 2, "first", "in the first of 2 networks after 2 "
                                                         "epoch(s); saved it alone")):
        calls.update(n=0, stop=stop)
        status, out, err = run_cli(capsys, *argv, tmp_path / model)
        assert status == 130, err
        assert said in out and "the last at its best epoch" not in out
        clf = load_model(tmp_path / model)[0].steps[-1][1]
        assert len(clf.members_) == 1


def test_train_names_the_epoch_rule_only_where_it_applied(capsys, tmp_path, workflow):
    """With --max-epochs 2 it said "the lowest validation loss after the first 2 of 2
    epochs": the high-rate epochs covered the run, and the last epoch was kept."""
    argv = ["train", "--manifest", workflow["manifest"], "--size", "16", "--device", "cpu",
            "--members", "1", "--quiet", "--max-epochs"]
    status, out, err = run_cli(capsys, *argv, "2", "--out", tmp_path / "short")
    assert status == 0, err
    assert "kept epoch 2" in out and "lowest validation loss" not in out
    status, out, err = run_cli(capsys, *argv, "8", "--out", tmp_path / "longer")
    assert status == 0, err
    assert "lowest validation loss after the first" in out


def test_ablate_scores_each_validation_image_once(capsys, monkeypatch, tmp_path, workflow):
    """On a --balance oversample manifest the ablation's validation part held the rows the
    oversampling added, so some images counted two or three times in the selection score."""
    import skface.experiments
    from skface.cli._ablate import run_protocol_ablation

    manifest, data = oversampled_manifest(capsys, tmp_path, workflow)
    added = np.asarray(data.resampled, dtype=object) == "added"
    split = np.asarray(data.split, dtype=object)
    assert added[split == "val"].any()
    seen = {}

    def capture(pipe, grid, X, y, parts, **kwargs):
        seen["parts"] = parts
        raise KeyboardInterrupt

    monkeypatch.setattr(skface.experiments, "run_ablation", capture)
    with pytest.raises(KeyboardInterrupt):
        run_protocol_ablation(manifest, tmp_path / "ab", grid={"n_members": [1]}, seeds=[0],
                              size=16, max_epochs=1, device="cpu", progress=False)
    train, val, test = seen["parts"]
    assert not added[val].any() and not added[test].any()
    assert len(val) == int(((split == "val") & ~added).sum())
    assert added[train].sum() == added[split == "train"].sum()  # training keeps its repeats


def test_a_failed_ablate_leaves_nothing_that_blocks_the_next(capsys, monkeypatch, tmp_path,
                                                             workflow):
    """An error (a bad grid value, seeds given twice, a failed fit) left an empty
    <out>.partial, and every later run was refused as "an earlier interrupted ablation"."""
    from skface import FaceCNNClassifier

    argv = ["ablate", "--manifest", workflow["manifest"], "--size", "16", "--max-epochs", "1",
            "--device", "cpu", "--quiet", "--out"]
    out = tmp_path / "ab"
    for bad in (["--grid", "attention=foo", "--seeds", "0"], ["--seeds", "0", "0"],
                ["--grid", "gamma=2,2", "--seeds", "0"]):
        status, _, err = run_cli(capsys, *argv, out, *bad)
        assert status in (1, 2), err
        assert not (tmp_path / "ab.partial").exists() and not out.exists()
    # a failure after a run finished keeps that run, and says where
    original, calls = FaceCNNClassifier.fit, {"n": 0}

    def failing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("out of memory")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FaceCNNClassifier, "fit", failing)
    status, _, err = run_cli(capsys, *argv, out, "--grid", "attention=none,se", "--seeds", "0")
    assert status == 1 and "out of memory" in err
    assert "finished before the error are in" in err
    runs = (tmp_path / "ab.partial" / "ablation_runs.csv").read_text().splitlines()
    assert len(runs) == 2  # header and the one run that finished


def test_keyboard_interrupt_during_ablate(capsys, monkeypatch, tmp_path, workflow):
    """Ctrl-C: no finished-looking --out folder; the finished runs and a report marked
    interrupted stay in <out>.partial; exit status 130."""
    from skface import FaceCNNClassifier

    original, calls = FaceCNNClassifier.fit, {"n": 0}

    def interrupting(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FaceCNNClassifier, "fit", interrupting)
    out = tmp_path / "ablation"
    status, _, err = run_cli(capsys, "ablate", "--manifest", workflow["manifest"], "--out", out,
                             "--grid", "attention=none,se", "--seeds", "0", "--size", "16",
                             "--max-epochs", "1", "--device", "cpu")
    assert status == 130, err
    assert not out.exists() and "was not written" in err
    partial = tmp_path / "ablation.partial"
    report = (partial / "report" / "report.md").read_text()
    assert "Interrupted (Ctrl-C): only the 1 run(s)" in report
    metrics = json.loads((partial / "report" / "metrics.json").read_text())
    assert metrics["ablation_interrupted"] is True and len(metrics["ablation_runs"]) == 1
    # a second run into the same --out leaves the kept runs alone (it blanked ablation.csv,
    # replaced the runs, and once finished deleted the folder)
    kept = {f: f.read_bytes() for f in partial.rglob("*") if f.is_file()}
    status, _, err = run_cli(capsys, "ablate", "--manifest", workflow["manifest"], "--out", out,
                             "--grid", "attention=none", "--seeds", "0", "--size", "16",
                             "--max-epochs", "1", "--device", "cpu")
    line = assert_one_line_error(status, err, 2)
    assert "earlier ablation" in line and "interrupted or failed" in line
    assert str(partial) in line
    assert {f: f.read_bytes() for f in partial.rglob("*") if f.is_file()} == kept
    # before any run finished: nothing is claimed, and no empty folder is left
    calls["n"] = 1
    out2 = tmp_path / "ablation2"
    status, _, err = run_cli(capsys, "ablate", "--manifest", workflow["manifest"], "--out", out2,
                             "--grid", "attention=none,se", "--seeds", "0", "--size", "16",
                             "--max-epochs", "1", "--device", "cpu")
    assert status == 130 and "before any run finished" in err and "no run had finished" in err
    assert not out2.exists() and not (tmp_path / "ablation2.partial").exists()


@pytest.mark.parametrize("checked", [30, 2])
def test_ctrl_c_during_a_scan_writes_nothing_finished_looking(capsys, monkeypatch, tmp_path,
                                                              workflow, checked):
    """build / evaluate / audit: a scan cut short by Ctrl-C exits 130 and writes no manifest
    or report of part of the folders (early on, before any fake was checked, too)."""
    import skface.datasets._scan as scan

    original = scan.inspect_files

    def cut_short(paths, **kwargs):
        paths = list(paths)
        done = original(paths[:checked], **kwargs)
        return done + [(p, None, scan.INTERRUPTED) for p in paths[checked:]]

    monkeypatch.setattr(scan, "inspect_files", cut_short)
    folders = ["--real", workflow["real"], "--fake", workflow["fake"]]
    manifest = tmp_path / "m.csv"
    assert run_cli(capsys, "build", *folders, "--out", manifest)[0] == 130
    assert not manifest.exists() and not (tmp_path / "m.skipped.csv").exists()
    results = tmp_path / "results"
    status, _, err = run_cli(capsys, "evaluate", "--model", workflow["model"], *folders,
                             "--out", results)
    assert status == 130 and not results.exists(), err
    assert run_cli(capsys, "audit", *folders)[0] == 130


def test_quiet_silences_every_progress_bar(capsys, tmp_path, workflow):
    folders = ["--real", workflow["real"], "--fake", workflow["fake"]]
    runs = [["build", *folders, "--out", tmp_path / "m.csv"],
            ["audit", *folders, "--cv", "2"],
            ["evaluate", "--model", workflow["model"], *folders, "--out", tmp_path / "r"],
            ["ablate", "--manifest", workflow["manifest"], "--out", tmp_path / "a", "--grid",
             "attention=none", "--seeds", "0", "--size", "16", "--max-epochs", "1",
             "--device", "cpu"]]
    for argv in runs:
        status, _, err = run_cli(capsys, *argv)
        assert status == 0 and "%|" in err, (argv[0], err)  # a progress bar without --quiet
        status, _, err = run_cli(capsys, *argv, "--quiet")
        assert status == 0 and "%|" not in err, (argv[0], err)


# --------------------------------------------------------------------------- the demo


@pytest.mark.slow
def test_demo_end_to_end(capsys, tmp_path):
    out = tmp_path / "demo"
    status, stdout, err = run_cli(capsys, "demo", "--out", out, "--max-epochs", "2",
                                  "--ablation-epochs", "1", "--device", "cpu")
    assert status == 0, err
    assert "proxy" in err
    # one number per step (the report step repeated the last one: [7/7] twice)
    steps = [line.split("]")[0] + "]" for line in err.splitlines() if line.startswith("[")]
    assert steps == [f"[{i}/8]" for i in range(1, 9)], steps
    for rel in ("manifest.csv", "audit.txt", "README.txt", "model/skface-model.json",
                "report/report.html", "report/metrics.json", "data/real/lfw"):
        assert (out / rel).exists(), rel
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    assert metrics  # the report's metrics
    assert "proxy" in (out / "README.txt").read_text()
    # the manifest uses paths relative to the demo folder, so the folder can move
    from skface.datasets import read_manifest

    data = read_manifest(out / "manifest.csv")
    assert all(Path(f).is_file() for f in data.filenames)
    assert not no_partial_files(tmp_path)
    # the saved model predicts from paths
    status, stdout, _ = run_cli(capsys, "predict", "--model", out / "model", out / "data" / "real")
    assert status == 0 and len(stdout.splitlines()) == 101


def test_demo_stops_on_ctrl_c_in_a_later_step(capsys, monkeypatch, tmp_path):
    """cross_source_evaluate and run_ablation keep their finished rows and return on Ctrl-C;
    the demo went on and wrote a complete-looking folder (exit 0) from part of the runs."""
    import skface.experiments
    from skface.experiments import CrossSourceDetails

    def interrupted(*args, **kwargs):
        return None, CrossSourceDetails(interrupted=True)

    monkeypatch.setattr(skface.experiments, "cross_source_evaluate", interrupted)
    out = tmp_path / "demo"
    status, _, err = run_cli(capsys, "demo", "--out", out, "--max-epochs", "1", "--no-ablation",
                             "--device", "cpu")
    assert status == 130 and "interrupted" in err
    assert not out.exists() and not no_partial_files(tmp_path)


# ------------------------------------------------------------------ fetch, audit, ablate


def test_fetch_links_images_into_dest(capsys, monkeypatch, tmp_path, faces):
    import skface.datasets as ds

    real, _ = faces
    seen = {}

    def fake_fetch(*, data_home=None, max_images=None, random_state=0):
        seen.update(data_home=data_home, max_images=max_images, random_state=random_state)
        return real

    monkeypatch.setattr(ds, "fetch_tpdne", fake_fetch)
    dest = tmp_path / "data" / "fake" / "tpdne"
    status, out, err = run_cli(capsys, "fetch", "tpdne", "--dest", dest, "--max-images", "5",
                               "--data-home", tmp_path / "cache")
    assert status == 0, err
    assert seen == {"data_home": str(tmp_path / "cache"), "max_images": 5, "random_state": 0}
    files = sorted(dest.iterdir())
    assert len(files) == 20 and all(f.is_symlink() or f.is_file() for f in files)
    assert "fake images of tpdne" in out
    # a non-empty destination is refused, nothing is fetched
    status, _, err = run_cli(capsys, "fetch", "tpdne", "--dest", dest)
    assert "not an empty folder" in assert_one_line_error(status, err, 2)
    # an unknown name is a usage error
    status, _, err = run_cli(capsys, "fetch", "celebx", "--dest", tmp_path / "x")
    assert_one_line_error(status, err, 2)
    # a --dest inside the download cache is refused before any download (its links were
    # found by the next fetch as downloaded images)
    seen.clear()
    status, _, err = run_cli(capsys, "fetch", "tpdne", "--dest", tmp_path / "cache" / "x" / "y",
                             "--data-home", tmp_path / "cache")
    assert "inside the download cache" in assert_one_line_error(status, err, 2)
    assert seen == {}


def test_fetch_copy_and_missing_kagglehub(capsys, monkeypatch, tmp_path, faces):
    import skface.datasets as ds

    real, _ = faces
    monkeypatch.setattr(ds, "fetch_ffhq", lambda **kw: real)
    dest = tmp_path / "ffhq"
    assert run_cli(capsys, "fetch", "ffhq", "--dest", dest, "--copy")[0] == 0
    assert not any(f.is_symlink() for f in dest.iterdir())

    def no_kagglehub(**kw):
        raise ImportError("Downloading from Kaggle needs the optional 'kagglehub' package")

    monkeypatch.setattr(ds, "fetch_tpdne", no_kagglehub)
    status, _, err = run_cli(capsys, "fetch", "tpdne", "--dest", tmp_path / "t")
    assert "kagglehub" in assert_one_line_error(status, err, 1)
    assert not (tmp_path / "t").exists()


def test_audit_prints_a_table(capsys, faces):
    real, fake = faces
    status, out, err = run_cli(capsys, "audit", "--real", real, "--fake", fake, "--cv", "3")
    assert status == 0, err
    header = out.splitlines()[0].split()
    assert header[:3] == ["source", "label", "n"]
    assert "cam" in out and "gan" in out and "Shortcut audit" in out


def test_audit_states_a_shortcut_once(capsys, faces):
    # every fake re-saved as JPEG: the format gives the label away; the laid-out summary says
    # so, without a one-line copy of it on stderr first
    real, fake = faces
    for f in sorted(fake.glob("*.png")):
        Image.open(f).convert("RGB").save(f.with_suffix(".jpg"), quality=90)
        f.unlink()
    status, out, err = run_cli(capsys, "audit", "--real", real, "--fake", fake, "--cv", "3")
    assert status == 0, err
    assert "FLAGGED" in out and "FLAGGED" not in err and "shortcut" not in err.lower()


def test_ablate_tiny_grid(capsys, tmp_path, workflow):
    out = tmp_path / "ablation"
    status, stdout, err = run_cli(capsys, "ablate", "--manifest", workflow["manifest"], "--out",
                                  out, "--grid", "attention=none,se", "--seeds", "0",
                                  "--size", "16", "--max-epochs", "1", "--device", "cpu")
    assert status == 0, err
    assert (out / "report.html").is_file() and (out / "ablation.csv").is_file()
    assert not (tmp_path / "ablation.partial").exists()
    status, _, err = run_cli(capsys, "ablate", "--manifest", workflow["manifest"], "--out",
                             tmp_path / "a2", "--grid", "colour=red")
    assert "colour" in assert_one_line_error(status, err, 2)
    assert not (tmp_path / "a2").exists()


def test_predictions_csv_says_what_the_metrics_counted(tmp_path):
    # at P(fake) = 0.5 exactly the model's own decision (argmax: the first class, real) is
    # what metrics.json counts; predictions.csv used to call those images fake (>= 0.5)
    from sklearn.base import BaseEstimator, ClassifierMixin

    from skface.cli._evaluate import write_predictions
    from skface.metrics import evaluate

    class Undecided(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.classes_ = np.array([0, 1])
            return self

        def predict_proba(self, X):
            return np.full((len(X), 2), 0.5)

        def predict(self, X):
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    X, y = np.zeros((4, 1)), np.array([0, 1, 0, 1])
    result = evaluate(Undecided().fit(X, y), X, y)
    assert result.confusion_matrix == [[2, 0], [2, 0]]
    write_predictions(tmp_path / "p.csv", ["a", "b", "c", "d"], result)
    rows = [line.split(",") for line in (tmp_path / "p.csv").read_text().splitlines()[1:]]
    assert [r[1] for r in rows] == ["real", "fake", "real", "fake"]
    assert [r[3] for r in rows] == ["real"] * 4 and {r[2] for r in rows} == {"0.500000"}


def test_predict_shows_progress_unless_quiet(workflow, capsys):
    one = sorted(workflow["real"].glob("*.png"))[0]
    status, _, err = run_cli(capsys, "predict", "--model", workflow["model"], one)
    assert status == 0 and "predict: 100%" in err  # every run, not only 2+ batches of 512
    status, stdout, err = run_cli(capsys, "predict", "--model", workflow["model"], one, "--quiet")
    assert status == 0 and "predict:" not in err and len(stdout.splitlines()) == 2


@pytest.mark.parametrize("content, match", [("path,label,split\n", "has a header but no rows"),
                                            ("", "is empty (no header row)")])
def test_an_empty_manifest_is_bad_input(capsys, tmp_path, workflow, content, match):
    """docs/cli.rst lists an empty manifest under exit status 2; train, evaluate and ablate
    exited with 1, and ablate printed its plan first."""
    manifest = tmp_path / "m.csv"
    manifest.write_text(content)
    for argv in (("train", "--manifest", manifest, "--out", tmp_path / "model"),
                 ("evaluate", "--model", workflow["model"], "--manifest", manifest, "--out",
                  tmp_path / "results"),
                 ("ablate", "--manifest", manifest, "--out", tmp_path / "abl")):
        status, out, err = run_cli(capsys, *argv)
        assert match in assert_one_line_error(status, err, 2), argv
        assert "ablation:" not in err


def test_files_added_inside_an_earlier_outputs_subfolder_are_kept(capsys, tmp_path, workflow):
    """Only the top-level names were compared with the marker: a file added under figures/
    was deleted when the folder was replaced."""
    out = tmp_path / "results"
    argv = ["evaluate", "--model", workflow["model"], "--manifest", workflow["manifest"],
            "--out", out]
    assert run_cli(capsys, *argv)[0] == 0
    (out / "figures" / "my_notes.txt").write_text("mine")
    status, _, err = run_cli(capsys, *argv)
    assert "figures/my_notes.txt" in assert_one_line_error(status, err, 2)
    assert (out / "figures" / "my_notes.txt").read_text() == "mine"
    (out / "figures" / "my_notes.txt").unlink()
    assert run_cli(capsys, *argv)[0] == 0  # its own files only: replaced


def test_a_symlinked_out_folder_is_replaced_through_the_link(capsys, tmp_path, workflow):
    target = tmp_path / "target"
    link = tmp_path / "link"
    argv = ["evaluate", "--model", workflow["model"], "--manifest", workflow["manifest"],
            "--out", link]
    assert run_cli(capsys, "evaluate", "--model", workflow["model"], "--manifest",
                   workflow["manifest"], "--out", target)[0] == 0
    (target / "metrics.json").write_text("stale")
    link.symlink_to(target, target_is_directory=True)
    assert run_cli(capsys, *argv)[0] == 0
    assert link.is_symlink() and json.loads((target / "metrics.json").read_text())["n_samples"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "target"]


def test_build_out_never_replaces_a_file_that_is_not_a_manifest(capsys, tmp_path, faces):
    real, fake = faces
    notes = tmp_path / "mypreds.csv"
    notes.write_text("id,score\n1,0.5\n")
    image = sorted(real.iterdir())[0]
    before = image.read_bytes()
    for out in (notes, image):
        status, _, err = run_cli(capsys, "build", "--real", real, "--fake", fake, "--out", out)
        assert_one_line_error(status, err, 2)
    assert notes.read_text() == "id,score\n1,0.5\n" and image.read_bytes() == before
    status, _, err = run_cli(capsys, "build", "--real", real, "--fake", fake, "--out",
                             real / "m.csv")  # a manifest inside a folder it scans
    assert "inside" in assert_one_line_error(status, err, 2)
    afile = tmp_path / "afile"
    afile.write_text("")
    status, _, err = run_cli(capsys, "build", "--real", real, "--fake", fake, "--out",
                             afile / "m.csv")
    assert "is a file" in assert_one_line_error(status, err, 2)
    manifest = tmp_path / "m.csv"
    for _ in range(2):  # an earlier manifest is replaced
        assert run_cli(capsys, "build", "--real", real, "--fake", fake, "--out", manifest)[0] == 0


def test_listings_hold_file_names_that_are_not_utf8(tmp_path, faces):
    real, fake = faces
    odd = os.fsencode(str(real)) + b"/notes\xe4.txt"
    try:
        with open(odd, "wb") as fh:
            fh.write(b"not an image")
    except OSError:
        pytest.skip("this file system takes UTF-8 names only")
    manifest = tmp_path / "m.csv"
    # in a process of its own: pytest's captured stderr, unlike sys.stderr, refuses the name
    done = subprocess.run([sys.executable, "-m", "skface", "build", "--real", str(real),
                           "--fake", str(fake), "--out", str(manifest), "--quiet"],
                          capture_output=True)
    assert done.returncode == 0, done.stderr
    listing = (tmp_path / "m.skipped.csv").read_bytes()
    assert b"notes\xe4.txt" in listing


def test_evaluate_and_ablate_refuse_out_inside_the_manifests_image_folders(capsys, workflow):
    real = workflow["real"]
    for argv in (["evaluate", "--model", workflow["model"]], ["ablate", "--max-epochs", "1"]):
        status, _, err = run_cli(capsys, *argv, "--manifest", workflow["manifest"], "--out",
                                 real / "results")
        assert "inside" in assert_one_line_error(status, err, 2)
        assert not (real / "results").exists()


def test_demo_size_and_ablate_seeds_are_checked_first(capsys, tmp_path):
    status, _, err = run_cli(capsys, "demo", "--size", "4", "--out", tmp_path / "d")
    assert_one_line_error(status, err, 2)
    assert not (tmp_path / "d").exists()
    for bad in ("-1", "99999999999"):
        status, _, err = run_cli(capsys, "ablate", "--manifest", tmp_path / "missing.csv",
                                 "--out", tmp_path / "a", "--seeds", bad)
        assert "--seeds" in assert_one_line_error(status, err, 2)


def test_fetch_checks_dest_before_downloading(capsys, monkeypatch, tmp_path, faces):
    import skface.datasets as ds

    real, _ = faces
    seen = []
    monkeypatch.setattr(ds, "fetch_tpdne", lambda **kw: seen.append(kw) or real)
    afile = tmp_path / "afile"
    afile.write_text("")
    for argv in (["--dest", afile / "sub"],  # a file on the way
                 ["--dest", tmp_path / "d", "--data-home", tmp_path / "d" / "cache"]):
        status, _, err = run_cli(capsys, "fetch", "tpdne", *argv)
        assert_one_line_error(status, err, 2)
    assert seen == [] and not (tmp_path / "d").exists()
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    status, _, err = run_cli(capsys, "fetch", "tpdne", "--dest", ".", "--data-home",
                             tmp_path / "cache")
    assert status == 0, err
    assert len(list((tmp_path / "here").iterdir())) == 20
    assert not list(tmp_path.glob(".*.part")) and not list(tmp_path.glob("*.new-*"))


def test_predictions_csv_paths_resolve_from_anywhere(capsys, monkeypatch, tmp_path, workflow):
    """The paths were written as the command got them (relative to where it ran), so that
    predictions.csv could not be read back from the results folder."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    rel = os.path.relpath(workflow["real"], elsewhere)
    fake = os.path.relpath(workflow["fake"], elsewhere)
    assert run_cli(capsys, "evaluate", "--model", workflow["model"], "--real", rel, "--fake",
                   fake, "--out", "res", "--quiet")[0] == 0
    paths = [line.split(",")[0] for line in
             (elsewhere / "res" / "predictions.csv").read_text().splitlines()[1:]]
    assert paths and all(os.path.isabs(p) and os.path.isfile(p) for p in paths)


def test_one_folder_as_real_and_fake_is_called_an_overlap(capsys, tmp_path, faces):
    real, _ = faces  # the advice to name the folders (NAME=DIR) led to the overlap error
    status, _, err = run_cli(capsys, "build", "--real", real, "--fake", real, "--out",
                             tmp_path / "m.csv")
    line = assert_one_line_error(status, err, 2)
    assert "overlap" in line and "NAME=DIR" not in line


def test_build_cache_lets_a_rerun_read_only_new_files(capsys, tmp_path, faces, monkeypatch):
    from skface.datasets import _scan

    real, fake = faces
    cache = tmp_path / "cache"
    argv = ["build", "--real", real, "--fake", fake, "--cache", cache, "--quiet"]
    assert run_cli(capsys, *argv, "--out", tmp_path / "a.csv")[0] == 0
    read = []
    original = _scan._inspect_chunk

    def counting(paths, max_pixels):
        read.extend(paths)
        return original(paths, max_pixels)

    monkeypatch.setattr(_scan, "_inspect_chunk", counting)
    assert run_cli(capsys, *argv, "--out", tmp_path / "b.csv")[0] == 0
    assert read == []  # every image was described in the cache
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    assert run_cli(capsys, "audit", "--real", real, "--fake", fake, "--cache", cache,
                   "--quiet")[0] == 0
    assert read == []


def test_out_beside_the_image_folders_of_a_manifest_is_accepted(capsys, tmp_path, workflow):
    """A manifest without a source column (every source '') or with one name under both
    labels made the common folder of real/ and fake/ count as an image folder."""
    from skface.datasets import read_manifest

    data = read_manifest(workflow["manifest"])
    plain = tmp_path / "plain.csv"
    rows = ["path,label,split"] + [f"{p},{'fake' if t else 'real'},{s}" for p, t, s in
                                   zip(data.filenames, data.target, data.split)]
    plain.write_text("\n".join(rows) + "\n")
    out = workflow["real"].parents[1] / "beside"  # beside real/ and fake/, in their parent
    assert run_cli(capsys, "evaluate", "--model", workflow["model"], "--manifest", plain,
                   "--out", out, "--quiet")[0] == 0


def test_ablate_out_dot_and_train_out_inside_an_image_folder(capsys, monkeypatch, tmp_path,
                                                             workflow):
    status, _, err = run_cli(capsys, "train", "--manifest", workflow["manifest"], "--out",
                             workflow["real"] / "model", "--size", "16", "--max-epochs", "1")
    assert "inside" in assert_one_line_error(status, err, 2)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    status, _, err = run_cli(capsys, "ablate", "--manifest", workflow["manifest"], "--out", ".",
                             "--grid", "gamma=0", "--seeds", "0", "--max-epochs", "1",
                             "--size", "16", "--quiet")
    assert status == 0, err
    assert (here / "report.html").is_file() and not (tmp_path / "here.partial").exists()


def test_predict_rewrites_and_prints_non_utf8_names(tmp_path, workflow):
    odd = os.fsencode(str(tmp_path)) + b"/caf\xe9.png"
    try:
        with open(odd, "wb") as fh:
            fh.write(sorted(workflow["real"].iterdir())[0].read_bytes())
    except OSError:
        pytest.skip("this file system takes UTF-8 names only")
    out = tmp_path / "p.csv"
    argv = [sys.executable, "-m", "skface", "predict", "--model", str(workflow["model"]),
            os.fsdecode(odd), "--quiet"]
    env = dict(os.environ, LC_ALL="C.UTF-8", PYTHONIOENCODING="utf-8")
    for _ in range(2):  # the second run replaces the first's output
        done = subprocess.run(argv + ["--out", str(out)], capture_output=True, env=env)
        assert done.returncode == 0, done.stderr
    assert b"caf\xe9.png" in out.read_bytes()
    done = subprocess.run(argv, capture_output=True, env=env)
    assert done.returncode == 0, done.stderr
    assert b"caf\xe9.png" in done.stdout


def test_build_out_replaces_a_bom_manifest_or_an_empty_file(capsys, tmp_path, faces):
    real, fake = faces
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfpath, label\nx.png,real\n")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    for out in (bom, empty):
        assert run_cli(capsys, "build", "--real", real, "--fake", fake, "--out", out,
                       "--quiet")[0] == 0


def test_cache_inside_a_scanned_folder_is_refused(capsys, tmp_path, faces):
    real, fake = faces
    for argv in (["build", "--out", tmp_path / "m.csv"], ["audit"]):
        status, _, err = run_cli(capsys, *argv, "--real", real, "--fake", fake, "--cache",
                                 real / ".scancache", "--quiet")
        assert "--cache" in assert_one_line_error(status, err, 2)
    assert not (real / ".scancache").exists()
