"""The quality benchmark's options (leave-sources-out, balancing, training share), on the
offline demo faces."""

import json
import shutil

import numpy as np
import pytest

from skface import make_recommended_pipeline
from skface.datasets import load_demo_faces

from ._benchmarks import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_quality")


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """Demo faces in two real and two fake source folders."""
    root = tmp_path_factory.mktemp("faces")
    load_demo_faces(n_fake_per_generator=40, out_dir=root)
    other = root / "real" / "lfw-b"
    other.mkdir()
    for path in sorted((root / "real" / "lfw").iterdir())[::3]:
        shutil.move(str(path), other / path.name)
    return root


def one_epoch_rows(bench, faces, tmp_path, flag, *values):
    """The benchmark's row for seed 0 (32 px, one epoch) with ``flag`` set to each value."""
    rows = []
    for k, value in enumerate(values):
        out = tmp_path / f"rows{k}.json"
        rc = bench.main(["--data", str(faces), "--seeds", "0", "--size", "32",
                         "--max-epochs", "1", flag, value, "--json", str(out)])
        assert rc == 0
        rows += json.loads(out.read_text())
    return rows


def test_views_get_the_recipes_sides(bench, faces, tmp_path, monkeypatch):
    """``--views`` of another length than the recipe's gives each view the side the recipe
    would: half the loaded side, or the view's own where smaller."""
    pipes = []

    def recording(*args, **kwargs):
        pipes.append(make_recommended_pipeline(*args, **kwargs))
        return pipes[-1]

    monkeypatch.setattr(bench, "make_recommended_pipeline", recording)
    assert bench.main(["--data", str(faces), "--seeds", "0", "--size", "32", "--max-epochs",
                       "1", "--views", "1", "4", "--json", str(tmp_path / "rows.json")]) == 0
    members = pipes[0].named_steps["clf"].net_.module_.members
    assert [(m.zoom, m.view_size) for m in members] == [(1.0, 16), (4.0, 8)]


def test_normalize_format_puts_the_format_step_back(bench, faces, tmp_path, monkeypatch):
    """The recipe passes the loaded pixels on; ``--normalize-format`` re-encodes them as the
    recipe did until the twenty-third round, and the row says which was measured."""
    from skface.preprocessing import FormatNormalizer

    pipes = []

    def recording(*args, **kwargs):
        pipes.append(make_recommended_pipeline(*args, **kwargs))
        return pipes[-1]

    monkeypatch.setattr(bench, "make_recommended_pipeline", recording)
    rows = []
    for k, flags in enumerate(([], ["--normalize-format"])):
        out = tmp_path / f"rows{k}.json"
        assert bench.main(["--data", str(faces), "--seeds", "0", "--size", "32", "--max-epochs",
                           "1", "--members", "1", *flags, "--json", str(out)]) == 0
        rows += json.loads(out.read_text())
    assert pipes[0].named_steps["format"] == "passthrough"
    assert isinstance(pipes[1].named_steps["format"], FormatNormalizer)
    assert pipes[1].named_steps["format"].quality == 90
    assert [row["normalize_format"] for row in rows] == [False, True]
    # the same seed and data: only the re-encoding differs, and it changes the scores
    assert rows[0]["scores"]["test"]["p_fake"] != rows[1]["scores"]["test"]["p_fake"]


def test_hold_out_scores_unseen_sources_apart(bench, faces, tmp_path, capsys):
    out = tmp_path / "rows.json"
    rc = bench.main(["--data", str(faces), "--seeds", "0", "--size", "32", "--max-epochs", "1",
                     "--hold-out", "lfw-b", "resize-conv", "--json", str(out)])
    assert rc == 0
    (row,) = json.loads(out.read_text())
    n_held = len(list((faces / "real" / "lfw-b").iterdir())) + 40
    assert row["n_unseen"] == n_held
    assert row["held_out"] == ["lfw-b", "resize-conv"]
    assert set(row["unseen_per_source"]) == {"lfw-b", "resize-conv"}
    # the held-out images are in none of the protocol's parts
    assert row["n_train"] + row["n_val"] + row["n_test"] == 100 + 80 - n_held
    assert set(row["per_source"]) == {"lfw", "tconv"}
    assert 0.0 <= row["unseen_accuracy"] <= 1.0 and 0.0 <= row["unseen_roc_auc"] <= 1.0
    text = capsys.readouterr().out
    assert f"held-out sources, {n_held} images" in text
    assert "per-source held-out accuracy" in text


def test_rows_keep_the_scores_and_the_validation_threshold(bench, faces, tmp_path):
    """Every row records P(fake) per image (so decision rules can be compared afterwards) and
    the test figures at the threshold tuned on the validation split, which the scores
    reproduce."""
    out = tmp_path / "rows.json"
    assert bench.main(["--data", str(faces), "--seeds", "0", "--size", "32", "--max-epochs", "1",
                       "--hold-out", "lfw-b", "resize-conv", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    scores = row["scores"]
    for part, n in (("val", row["n_val_scored"]), ("test", row["n_test"]),
                    ("unseen", row["n_unseen"])):
        assert len(scores[part]["y"]) == len(scores[part]["p_fake"]) == n, part
        assert all(0.0 <= p <= 1.0 for p in scores[part]["p_fake"]), part
    assert set(scores["unseen"]["source"]) == {"lfw-b", "resize-conv"}
    assert 0.0 < row["val_threshold"] < 1.0
    for part, key in (("test", "accuracy_at_val_threshold"),
                      ("unseen", "unseen_accuracy_at_val_threshold")):
        y, p = np.array(scores[part]["y"]), np.array(scores[part]["p_fake"])
        # scores are rounded to 5 decimals in the JSON: allow one image of disagreement
        acc = np.mean((p >= row["val_threshold"]) == (y == 1))
        assert abs(acc - row[key]) <= 1.0 / len(y) + 1e-9, part


def test_hold_out_needs_both_classes(bench, faces, capsys):
    rc = bench.main(["--data", str(faces), "--seeds", "0", "--hold-out", "resize-conv"])
    assert rc == 1
    assert "needs at least one real and one fake source" in capsys.readouterr().out


def test_hold_out_rejects_unknown_source(bench, faces, capsys):
    rc = bench.main(["--data", str(faces), "--seeds", "0", "--hold-out", "nope"])
    assert rc == 1
    assert "unknown source(s) ['nope']" in capsys.readouterr().out


def test_balance_resamples_train_and_val_but_not_test(bench, faces, tmp_path):
    none, under = one_epoch_rows(bench, faces, tmp_path, "--balance", "none", "undersample")
    assert none["balance"] == "none" and under["balance"] == "undersample"
    # 100 real and 80 fake demo faces: the training part is imbalanced until resampled
    assert none["n_train_fake"] < none["n_train"] - none["n_train_fake"]
    assert under["n_train"] == 2 * under["n_train_fake"] < none["n_train"]
    assert under["n_val"] <= none["n_val"]
    # validation scores come from every validation image once, resampled or not
    assert under["n_val_scored"] == none["n_val_scored"] == none["n_val"]
    assert under["n_test"] == none["n_test"]
    assert under["per_source_n"] == none["per_source_n"]


def test_train_fraction_trains_on_a_stratified_share(bench, faces, tmp_path):
    full, half = one_epoch_rows(bench, faces, tmp_path, "--train-fraction", "1", "0.5")
    assert (full["train_fraction"], half["train_fraction"]) == (1.0, 0.5)
    for key in ("n_train", "n_train_fake"):
        assert abs(half[key] - full[key] / 2) <= 1, key
    assert half["n_val"] == full["n_val"] and half["n_test"] == full["n_test"]
    assert half["per_source_n"] == full["per_source_n"]


def test_merge_val_trains_on_train_and_val_without_early_stopping(bench, faces, tmp_path,
                                                                  capsys):
    rows = []
    for k, flags in enumerate(([], ["--merge-val"])):
        out = tmp_path / f"rows{k}.json"
        assert bench.main(["--data", str(faces), "--seeds", "0", "--size", "32",
                           "--max-epochs", "2", "--set", "clf__early_stopping=false",
                           "--json", str(out), *flags]) == 0
        rows += json.loads(out.read_text())
    alone, merged = rows
    assert (alone["merge_val"], merged["merge_val"]) == (False, True)
    assert merged["n_train"] == alone["n_train"] + alone["n_val"]
    assert merged["n_test"] == alone["n_test"] and merged["per_source_n"] == alone["per_source_n"]
    assert merged["n_epochs"] == 2  # the full schedule: nothing to stop on
    # no threshold is tuned on validation images that were trained on
    assert merged["val_threshold"] is None and merged["accuracy_at_val_threshold"] is None
    assert 0.0 < alone["val_threshold"] < 1.0
    text = capsys.readouterr().out
    assert "no validation scores" in text
    assert "nan" not in text  # the summary leaves out what no row has


def test_robustness_scores_resaved_test_images(bench, faces, tmp_path, capsys):
    """``--robustness`` scores every re-saving of the test images. The demo faces are PNG
    files, so their PNG copies hold the same pixels and give the clean images' P(fake)
    exactly (a JPEG original is decoded at a reduced scale and would differ slightly)."""
    out = tmp_path / "rows.json"
    cache = tmp_path / "cache"
    assert bench.main(["--data", str(faces), "--seeds", "0", "--size", "32", "--max-epochs", "1",
                       "--robustness", "--memory", str(cache), "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    assert list(row["robustness"]) == list(bench.RESAVINGS)
    for name, r in row["robustness"].items():
        assert len(r["p_fake"]) == row["n_test"], name
        assert all(0.0 <= r[k] <= 1.0 for k in ("accuracy", "f1", "roc_auc")), name
    assert row["robustness"]["png"]["p_fake"] == row["scores"]["test"]["p_fake"]
    assert row["robustness"]["blur1.5"]["p_fake"] != row["scores"]["test"]["p_fake"]
    # the validation images are re-saved alike, and a threshold is tuned on each re-saving:
    # on the PNG copies it is the clean images' threshold, with the same test figures
    for name, r in row["robustness"].items():
        assert len(r["val_p_fake"]) == row["n_val_scored"], name
        assert 0.0 < r["val_threshold"] < 1.0, name
    png, blur = row["robustness"]["png"], row["robustness"]["blur1.5"]
    assert png["val_p_fake"] == row["scores"]["val"]["p_fake"]
    assert png["val_threshold"] == row["val_threshold"]
    assert (png["accuracy_at_val_threshold"], png["f1_at_val_threshold"]) == (
        row["accuracy_at_val_threshold"], row["f1_at_val_threshold"])
    assert blur["val_p_fake"] != row["scores"]["val"]["p_fake"]
    text = capsys.readouterr().out
    assert "re-saved as blur1.5" in text and "re-saved test images" in text
    assert "threshold tuned on validation images re-saved alike" in text


def test_resaved_copies_change_one_thing(bench, faces, tmp_path):
    from PIL import Image

    paths = sorted(str(p) for p in (faces / "real" / "lfw").iterdir())[:2]
    with Image.open(paths[0]) as img:
        side = img.size
    for name, fmt in (("png", "PNG"), ("jpeg30", "JPEG"), ("blur1.5", "PNG"),
                      ("shrink0.375", "PNG")):
        copies = bench.resaved_copies(paths, tmp_path, name)
        assert len(copies) == 2
        with Image.open(copies[0]) as img:
            assert img.format == fmt, name
            expected = tuple(round(0.375 * v) for v in side) if name == "shrink0.375" else side
            assert img.size == expected, name


@pytest.mark.parametrize("value", ["0", "1.5", "half"])
def test_train_fraction_must_be_in_0_1(bench, faces, value, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--data", str(faces), "--train-fraction", value])
    assert "--train-fraction" in capsys.readouterr().err


@pytest.mark.parametrize("baseline, option", [
    ("--spectrum", ["--balance", "undersample"]),
    ("--residual", ["--hold-out", "lfw-b", "tconv"]),
    ("--spectrum", ["--train-fraction", "0.5"]),
    ("--residual", ["--merge-val"]),
    ("--spectrum", ["--robustness"]),
    ("--residual", ["--augment"]),
    ("--spectrum", ["--normalize-format"]),
    # these were dropped without a word
    ("--spectrum", ["--size", "64"]),
    ("--residual", ["--max-epochs", "3"]),
    ("--spectrum", ["--members", "2"]),
    ("--residual", ["--views", "1", "2"]),
    ("--spectrum", ["--precision", "float32"]),
    ("--residual", ["--set", "clf__lr=5"]),
])
def test_recipe_only_options_are_refused_for_the_baselines(bench, faces, capsys, baseline,
                                                           option):
    rc = bench.main(["--data", str(faces), baseline, *option])
    assert rc == 1
    assert f"{option[0]} applies to the CNN recipe" in capsys.readouterr().out


@pytest.mark.parametrize("option", ["--max-epochs", "--members", "--threads", "--size"])
def test_counts_below_one_are_refused(bench, option, capsys):
    """--max-epochs 0 had been taken as "not given" and run the full recipe."""
    with pytest.raises(SystemExit) as info:
        bench.main([option, "0"])
    assert info.value.code == 2 and "must be 1 or more" in capsys.readouterr().err
