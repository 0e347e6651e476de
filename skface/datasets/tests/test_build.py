import shutil
import warnings

import pytest
from PIL import Image

from skface.datasets import (LabelConflictWarning, LeaveOneSourceOut, audit_shortcuts,
                             build_dataset, find_duplicates, load_faces, read_manifest,
                             train_val_test_split, write_manifest)

from .conftest import make_folder


@pytest.fixture
def sources(tmp_path):
    make_folder(tmp_path / "real" / "ffhq", 30, seed0=0, size=64)
    make_folder(tmp_path / "real" / "lfw", 14, seed0=100, size=64)
    tp = make_folder(tmp_path / "fake" / "tpdne", 16, seed0=200, size=128)
    make_folder(tmp_path / "fake" / "atpde", 8, seed0=300, size=128)
    for k in range(4):  # All These People re-serves TPDNE pictures
        Image.open(tp[k]).resize((64, 64), Image.Resampling.LANCZOS).save(
            tmp_path / "fake" / "atpde" / f"dup{k}.jpg", "JPEG", quality=80)
    return tmp_path


def test_build_dataset_end_to_end(sources, tmp_path):
    data = build_dataset(sources / "real", sources / "fake", source_from="subfolder",
                         balance="undersample", random_state=0, progress=False)
    assert set(data.source) == {"ffhq", "lfw", "tpdne", "atpde"}
    assert data.dropped["duplicates"] == 4 and data.duplicates.n_redundant == 4
    assert data.duplicates.by_source_pair[("atpde", "tpdne")]["near"] == 4
    assert len(set(data.filenames)) == len(data.filenames)  # undersampling repeats nothing
    for split in ("train", "val", "test"):
        m = data.split == split
        assert (data.target[m] == 0).sum() == (data.target[m] == 1).sum() > 0, split
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not set(data.group[data.split == a]) & set(data.group[data.split == b])
    assert data.random_state == 0 and set(data.class_weight) == {0, 1}
    again = build_dataset(sources / "real", sources / "fake", source_from="subfolder",
                          balance="undersample", random_state=0, progress=False)
    assert list(again.filenames) == list(data.filenames)
    assert list(again.split) == list(data.split)
    back = read_manifest(write_manifest(data, tmp_path / "manifest.csv"), verify=True)
    assert list(back.split) == list(data.split)
    assert "train:" in data.DESCR


def test_build_oversample_none_and_keep_duplicates(sources):
    over = build_dataset(sources / "real", sources / "fake", source_from="subfolder",
                         balance="oversample", dedupe=False, random_state=1, progress=False)
    tr = over.split == "train"
    assert (over.target[tr] == 0).sum() == (over.target[tr] == 1).sum()
    assert len(set(over.filenames[tr])) < tr.sum()  # oversampling repeats rows
    assert over.dropped["duplicates"] == 0
    # duplicates kept, but each group stays in one split
    for a, b in (("train", "test"), ("val", "test"), ("train", "val")):
        assert not set(over.group[over.split == a]) & set(over.group[over.split == b])
    none = build_dataset(sources / "real", sources / "fake", source_from="subfolder",
                         balance="none", random_state=1, progress=False)
    assert len(none.filenames) == len(set(none.filenames)) == 72 - 4  # every image, once
    assert none.dropped["undersampled"] == 0
    assert none.class_weight[0] < 1 < none.class_weight[1]
    default = build_dataset(sources / "real", sources / "fake", source_from="subfolder",
                            random_state=1, progress=False)
    assert default.balance == "none" and list(default.filenames) == list(none.filenames)
    with pytest.raises(ValueError, match="balance must be"):
        build_dataset(sources / "real", sources / "fake", balance="smote")


def test_build_drops_label_conflicts(sources):
    shutil.copy(sources / "real" / "ffhq" / "img000.jpg", sources / "fake" / "tpdne" / "oops.jpg")
    with pytest.warns(LabelConflictWarning, match="both real and fake"):
        data = build_dataset(sources / "real", sources / "fake", source_from="subfolder",
                             random_state=0, progress=False)
    assert data.dropped["label_conflicts"] == 2
    assert not any(f.endswith("oops.jpg") for f in data.filenames)


@pytest.mark.data
def test_shared_faces(faces_dir):
    root = faces_dir
    data = load_faces(root / "real", root / "fake", source_from="subfolder", progress=False)
    assert len(data.filenames) == 2691 and data.skipped.n == 0
    assert set(data.jpeg_quality) == {75.0, 90.0, 99.0}
    groups, report = find_duplicates(data, progress=False)
    assert report.n_exact_pairs == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        audit = audit_shortcuts(data)
    assert audit.flagged and audit.share_label_fixed > 0.2
    tr, va, te = train_val_test_split(data.filenames, data.target, groups=groups, random_state=0)
    assert (data.target[te] == 0).sum() == (data.target[te] == 1).sum()
    cv = LeaveOneSourceOut(random_state=0)
    assert cv.get_n_splits(None, data.target, data.source) == 5


def test_a_file_linked_under_both_labels_is_a_label_conflict(tmp_path):
    """A link from a real folder into a fake one gave the fake the label real."""
    import os

    make_folder(tmp_path / "real", 12, seed0=0)
    fakes = make_folder(tmp_path / "fake" / "a", 12, seed0=500)
    make_folder(tmp_path / "fake" / "b", 4, seed0=700)
    os.symlink(fakes[3], tmp_path / "real" / "link.jpg")  # one fake file, also under real
    os.symlink(tmp_path / "fake" / "b", tmp_path / "real" / "zz_fakes")  # a whole fake folder
    scanned = load_faces(tmp_path / "real", tmp_path / "fake", progress=False)
    assert scanned.skipped.n == 0
    assert (scanned.target == 1).sum() == 16  # every fake file keeps its fake row
    with pytest.warns(LabelConflictWarning, match="both real and fake"):
        data = build_dataset(tmp_path / "real", tmp_path / "fake", random_state=0,
                             progress=False)
    assert data.dropped["label_conflicts"] == 10
    assert (data.target == 0).sum() == 12 and (data.target == 1).sum() == 11
    kept = {str(f) for f in data.filenames}
    assert not kept & {str(tmp_path / "real" / "link.jpg"), str(fakes[3])}
    assert not any("zz_fakes" in f or "/b/" in f for f in kept)


def test_every_dropped_image_is_named_with_its_reason(sources):
    """Duplicates, label conflicts and undersampled images were counted but never named."""
    oops = shutil.copy(sources / "real" / "ffhq" / "img001.jpg",
                       sources / "fake" / "tpdne" / "oops.jpg")
    with pytest.warns(LabelConflictWarning):
        data = build_dataset(sources / "real", sources / "fake", source_from="subfolder",
                             balance="undersample", random_state=0, progress=False)
    gone = data.dropped_files
    assert gone.n == len(gone.filenames) == len(gone.reasons) == len(gone.copy_of)
    assert gone.counts == {"label conflict": 2, "duplicate": 4,
                           "undersampled": data.dropped["undersampled"]}
    assert gone.n == sum(data.dropped.values())
    by_path = {str(f): (r, str(c)) for f, r, c in zip(gone.filenames, gone.reasons, gone.copy_of)}
    assert by_path[str(oops)] == ("label conflict: also under real",
                                  str(sources / "real" / "ffhq" / "img001.jpg"))
    for k in range(4):  # atpde's copies of tpdne pictures: atpde, scanned first, is kept
        reason, kept = by_path[str(sources / "fake" / "tpdne" / f"img{k:03d}.jpg")]
        assert reason.startswith("duplicate") and kept == str(
            sources / "fake" / "atpde" / f"dup{k}.jpg")
        assert kept in set(data.filenames) or any(
            p == kept and r.startswith("undersampled") for p, (r, _) in by_path.items())
    # nothing is both kept and dropped, and every scanned image is one or the other
    assert not set(map(str, gone.filenames)) & set(map(str, data.filenames))
    assert len(set(data.filenames)) + gone.n == data.duplicates.n_images == 73


def test_duplicate_pairs_index_the_files_the_report_holds(tmp_path):
    """report.pairs indexed the scan order, which is not the order of the returned rows."""
    make_folder(tmp_path / "real" / "a", 12, seed0=0)
    make_folder(tmp_path / "real" / "c", 6, seed0=50)
    make_folder(tmp_path / "fake" / "b", 12, seed0=100)
    copies = {"fake/b/zz_conflict.jpg": "real/a/img000.jpg",
              "real/c/aa_dup.jpg": "real/a/img001.jpg",
              "fake/b/img002_copy.jpg": "fake/b/img002.jpg"}
    for copy, original in copies.items():
        shutil.copy(tmp_path / original, tmp_path / copy)
    with pytest.warns(LabelConflictWarning):
        data = build_dataset([tmp_path / "real" / "a", tmp_path / "real" / "c"],
                             tmp_path / "fake" / "b", random_state=0, progress=False)
    report = data.duplicates
    assert len(report.filenames) == report.n_images == 33
    linked = {frozenset(str(report.filenames[k]) for k in (i, j))
              for i, j, _, _ in report.pairs}
    assert linked == {frozenset(str(tmp_path / p) for p in pair) for pair in copies.items()}


def _interrupt_at(monkeypatch, module, name, call):
    """Make ``module.name`` raise KeyboardInterrupt (Ctrl-C) on its ``call``-th call."""
    original = getattr(module, name)
    calls = {"n": 0}

    def interrupting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= call:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, interrupting)


@pytest.mark.filterwarnings("ignore::skface.datasets.SkippedFilesWarning")
def test_ctrl_c_stops_work_that_means_nothing_on_part_of_the_files(two_sources, monkeypatch):
    """build_dataset went on with the files scanned before Ctrl-C (a data set of part of the
    folders, or a misleading 'too few images' error), and find_duplicates and audit_shortcuts
    reported the files not reached as unreadable."""
    import skface.datasets._duplicates as dup_mod
    import skface.datasets._scan as scan_mod
    from skface.datasets import audit_shortcuts, find_duplicates

    real, fake = two_sources / "real", two_sources / "fake"
    paths = sorted(real.iterdir()) + sorted(fake.iterdir())
    y = [0] * 10 + [1] * 8
    with monkeypatch.context() as m:
        _interrupt_at(m, scan_mod, "inspect_image", 5)
        with pytest.raises(KeyboardInterrupt, match="the folder scan was interrupted"):
            build_dataset(real, fake, random_state=0, progress=False)
        with pytest.raises(KeyboardInterrupt, match="audit_shortcuts was interrupted"):
            audit_shortcuts(paths, y, progress=False)
    with monkeypatch.context() as m:
        _interrupt_at(m, dup_mod, "hash_image", 5)
        with pytest.raises(KeyboardInterrupt, match="find_duplicates was interrupted"):
            find_duplicates(paths, progress=False)
    # the scan works in chunks of 64 files: here the first chunk holds both classes, and
    # Ctrl-C comes in the second
    make_folder(real, 40, seed0=100, suffix=".jpeg")  # 50 real, 8 fake: 58 files
    make_folder(fake, 30, seed0=2000, suffix=".jpeg")  # 38 fake, 24 of them in a second chunk
    with monkeypatch.context() as m:
        _interrupt_at(m, scan_mod, "inspect_image", 70)
        with pytest.raises(KeyboardInterrupt, match=r"the folder scan was interrupted \(Ctrl-C\) "
                                                    "with 24 file"):
            build_dataset(real, fake, random_state=0, progress=False)


@pytest.mark.parametrize("kw, match", [({"threshold": 999}, "threshold must be an int"),
                                       ({"sizes": (0.5, 0.5, 0.5)}, "sum to 1"),
                                       ({"by_source": True}, "by_source=True")])
def test_arguments_are_checked_before_the_scan(tmp_path, monkeypatch, kw, match):
    """threshold and sizes were checked only after every image was scanned and hashed, and
    by_source=True with the default balance='none' was ignored."""
    import skface.datasets._build as build

    def no_scan(*args, **kwargs):
        raise AssertionError("the folders were scanned before the arguments were checked")

    monkeypatch.setattr(build, "load_faces", no_scan)
    with pytest.raises(ValueError, match=match):
        build.build_dataset(tmp_path, tmp_path, **kw)
