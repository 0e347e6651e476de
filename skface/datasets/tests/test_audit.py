import numpy as np
import pytest

from skface.datasets import ShortcutWarning, audit_shortcuts, load_faces

from .conftest import face_like, save


def _write(folder, seeds, size, quality, fmt="JPEG"):
    return [save(face_like(s, size), folder / f"{s}.{'jpg' if fmt == 'JPEG' else 'png'}", fmt,
                 quality) for s in seeds]


def test_mixed_pipelines_are_flagged(tmp_path):
    # LFW-like reals (small, q90) beside TPDNE-like fakes (larger, q99)
    real = _write(tmp_path / "lfw", range(0, 30), 25, 90)
    fake = _write(tmp_path / "tpdne", range(100, 130), 48, 99)
    files = real + fake
    y = np.array([0] * 30 + [1] * 30)
    with pytest.warns(ShortcutWarning, match="shortcut"):
        audit = audit_shortcuts(files, y, progress=False)
    assert audit.flagged
    assert audit.balanced_accuracy > 0.9
    assert audit.feature_scores["pixel size"] > 0.9
    assert audit.feature_scores["jpeg quality"] > 0.9
    assert audit.feature_scores["exif"] == pytest.approx(0.5)
    assert audit.share_label_fixed == 1.0 and audit.n_label_fixed == 60
    text = str(audit)
    assert "FLAGGED" in text and "pixel size" in text and "only real: 30 images at 25x25" in text
    assert audit.table()[0][0] == "all metadata"


def test_one_pipeline_is_not_flagged(tmp_path, recwarn):
    real = _write(tmp_path / "r", range(0, 40), 32, 85)
    fake = _write(tmp_path / "f", range(500, 540), 32, 85)
    audit = audit_shortcuts(real + fake, [0] * 40 + [1] * 40, progress=False)
    assert not audit.flagged, audit.summary()
    assert audit.share_label_fixed == 0.0
    assert audit.best_balanced_accuracy < audit.threshold
    assert not [w for w in recwarn if issubclass(w.category, ShortcutWarning)]
    assert "not flagged" in audit.summary()


def test_bunch_input_and_format_shortcut(tmp_path):
    _write(tmp_path / "r", range(0, 12), 32, 90)
    _write(tmp_path / "f", range(50, 62), 32, None, fmt="PNG")
    data = load_faces(tmp_path / "r", tmp_path / "f", progress=False)
    with pytest.warns(ShortcutWarning):
        audit = audit_shortcuts(data)
    assert audit.flagged and audit.feature_scores["format"] == pytest.approx(1.0)
    pd = pytest.importorskip("pandas")
    assert isinstance(audit.to_frame(), pd.DataFrame)


def test_audit_errors(tmp_path):
    files = _write(tmp_path / "r", range(3), 16, 90)
    with pytest.raises(ValueError, match="needs y"):
        audit_shortcuts(files)
    with pytest.raises(ValueError, match="labels"):
        audit_shortcuts(files, [0, 1])
    with pytest.raises(ValueError, match="two classes"):
        audit_shortcuts(files, [0, 0, 0], progress=False)
    with pytest.raises(ValueError, match="at least two"):
        audit_shortcuts(files, [0, 0, 1], progress=False)


def test_string_labels_name_the_right_class(tmp_path):
    # sorted, "fake" comes before "real": the label-fixed cells must still say which is which
    real = _write(tmp_path / "r", range(0, 8), 24, None, fmt="PNG")
    fake = _write(tmp_path / "f", range(50, 58), 24, 90)
    y = ["real"] * 8 + ["fake"] * 8
    with pytest.warns(ShortcutWarning):
        audit = audit_shortcuts(real + fake, y, cv=2, progress=False)
    named = {c["format"]: c["label"] for c in audit.fixed_cells}
    assert named == {"PNG": "real", "JPEG": "fake"}
    # other labels need pos_label, which then decides the names
    with pytest.raises(ValueError, match="pos_label"):
        audit_shortcuts(real + fake, [1] * 8 + [2] * 8, cv=2, progress=False)
    with pytest.warns(ShortcutWarning):
        audit = audit_shortcuts(real + fake, [1] * 8 + [2] * 8, cv=2, progress=False, pos_label=2)
    assert {c["format"]: c["label"] for c in audit.fixed_cells} == named


def _faces(tmp_path):
    _write(tmp_path / "r", range(0, 30), 32, 85)
    _write(tmp_path / "f", range(500, 510), 32, 85)
    return load_faces(tmp_path / "r", tmp_path / "f", progress=False)


def test_rows_oversampling_added_are_left_out(tmp_path, recwarn):
    """Repeats landed on both sides of the folds: an oversampled set of one pipeline scored
    0.70 and was flagged, the same images without repeats 0.45."""
    from skface.datasets import read_manifest, write_manifest

    data = _faces(tmp_path)
    plain = audit_shortcuts(data, progress=False)
    extra = np.r_[np.arange(len(data.filenames)), np.flatnonzero(data.target == 1).repeat(2)]
    n = len(data.filenames)
    over = type(data)(**{k: np.asarray(v)[extra] if isinstance(v, np.ndarray) and len(v) == n
                         else v for k, v in data.items()})
    over.resampled = np.where(np.arange(len(extra)) < len(data.filenames), "", "added")
    for bunch in (over, dict(over), read_manifest(write_manifest(over, tmp_path / "m.csv"))):
        audit = audit_shortcuts(bunch, progress=False)
        assert audit.n_samples == plain.n_samples == 40
        assert audit.balanced_accuracy == plain.balanced_accuracy
        assert audit.flagged == plain.flagged
    # the same repeats as plain file names: counted once, with a warning
    with pytest.warns(UserWarning, match="20 repeated file name"):
        audit = audit_shortcuts(over.filenames, over.target, progress=False)
    assert audit.balanced_accuracy == plain.balanced_accuracy
    with pytest.raises(ValueError, match="given twice with different labels"):
        audit_shortcuts(list(data.filenames[:2]) * 2, [0, 1, 1, 0], progress=False)


def test_a_manifest_without_metadata_is_named(tmp_path):
    """A manifest of paths and labels only failed inside the forest ('Input X contains
    infinity'), and a Bunch without metadata with KeyError: 'width'."""
    from skface.datasets import read_manifest, write_manifest

    data = _faces(tmp_path)
    bare = {"filenames": data.filenames, "target": data.target}
    with pytest.raises(ValueError, match=r"no width, height, format, bytes, jpeg_quality, exif"):
        audit_shortcuts(bare)
    with pytest.raises(ValueError, match=r"40 row\(s\) .* have no metadata.*data\.filenames"):
        audit_shortcuts(read_manifest(write_manifest(bare, tmp_path / "bare.csv")))


@pytest.mark.parametrize("kw, match", [
    ({"min_cell_size": float("nan")}, "min_cell_size must be a whole number"),
    ({"min_cell_size": 0}, "min_cell_size must be a whole number"),
    ({"cv": "abc"}, "cv must be a whole number of folds"),
    ({"cv": 1}, "cv must be a whole number of folds"),
])
def test_bad_parameters_are_named(tmp_path, kw, match):
    files = _write(tmp_path / "r", range(4), 16, 90)
    with pytest.raises(ValueError, match=match):
        audit_shortcuts(files, [0, 0, 1, 1], progress=False, **kw)


def test_missing_labels_are_named(tmp_path):
    files = _write(tmp_path / "r", range(4), 16, 90)
    with pytest.raises(ValueError, match="missing labels"):
        audit_shortcuts(files, [0, np.nan, 1, 1], progress=False)
