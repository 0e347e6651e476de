import shutil
import warnings

import numpy as np
import pytest
from PIL import Image

from skface.datasets import SkippedFilesWarning, find_duplicates, load_faces
from skface.datasets._duplicates import hamming_pairs

from .conftest import face_like, make_folder, save


@pytest.fixture
def overlap(tmp_path):
    """tpdne/ and atpde/ fakes sharing pictures (exact copy, resized re-encode, PNG copy)."""
    tp = make_folder(tmp_path / "tpdne", 6, seed0=100, size=128, quality=95)
    make_folder(tmp_path / "atpde", 4, seed0=200, size=128, quality=95)
    shutil.copy(tp[0], tmp_path / "atpde" / "exact.jpg")
    Image.open(tp[1]).resize((64, 64), Image.Resampling.LANCZOS).save(
        tmp_path / "atpde" / "resized.jpg", "JPEG", quality=70)
    Image.open(tp[2]).save(tmp_path / "atpde" / "as_png.png", "PNG")
    make_folder(tmp_path / "real", 6, seed0=300, size=64)
    return tmp_path


def test_finds_exact_and_near_duplicates_across_sources(overlap):
    data = load_faces(overlap / "real", {"tpdne": overlap / "tpdne", "atpde": overlap / "atpde"},
                      progress=False)
    groups, report = find_duplicates(data.filenames, source=data.source, progress=False)
    name = {f.split("/")[-2] + "/" + f.split("/")[-1]: g for f, g in zip(data.filenames, groups)}
    assert name["atpde/exact.jpg"] == name["tpdne/img000.jpg"]
    assert name["atpde/resized.jpg"] == name["tpdne/img001.jpg"]
    assert name["atpde/as_png.png"] == name["tpdne/img002.jpg"]
    assert report.n_groups == len(data.filenames) - 3
    assert report.n_redundant == 3 and report.n_duplicate_images == 6
    assert report.n_exact_pairs == 1 and report.n_near_pairs == 2
    assert report.by_source_pair == {("atpde", "tpdne"): {"exact": 1, "near": 2}}
    # Ids are 0..G-1 in order of first appearance.
    first = [g for i, g in enumerate(groups) if g not in groups[:i]]
    assert first == list(range(report.n_groups))
    assert "distinct pictures" in str(report)


def test_bunch_input_reuses_hashes_and_matches_paths(overlap):
    data = load_faces(overlap / "real", [overlap / "tpdne", overlap / "atpde"], progress=False)
    g1, r1 = find_duplicates(data, progress=False)
    g2, r2 = find_duplicates(list(data.filenames), source=data.source, y=data.target,
                             progress=False)
    assert np.array_equal(g1, g2)
    assert r1.by_source_pair == r2.by_source_pair
    assert len(r1.mixed_label_groups) == 0


def test_distinct_pictures_are_not_grouped(tmp_path):
    paths = make_folder(tmp_path / "a", 30, size=48)
    groups, report = find_duplicates(paths, progress=False)
    assert len(set(groups)) == 30 and report.n_near_pairs == 0
    # threshold=0 still joins byte-identical files
    shutil.copy(paths[0], tmp_path / "copy.jpg")
    groups, _ = find_duplicates(paths + [tmp_path / "copy.jpg"], threshold=0, progress=False)
    assert groups[0] == groups[-1]


def test_mixed_label_group_reported(tmp_path):
    p = save(face_like(1, 48), tmp_path / "r" / "a.jpg")
    shutil.copy(p, tmp_path / "f.jpg")
    q = save(face_like(2, 48), tmp_path / "r" / "b.jpg")
    groups, report = find_duplicates([p, tmp_path / "f.jpg", q], y=[0, 1, 0], progress=False)
    assert list(report.mixed_label_groups) == [groups[0]]
    assert "both real and fake" in str(report)


def test_unreadable_file_gets_minus_one(tmp_path):
    p = save(face_like(1, 32), tmp_path / "a.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    with pytest.warns(SkippedFilesWarning):
        groups, report = find_duplicates([p, tmp_path / "bad.jpg"], progress=False)
    assert list(groups) == [0, -1] and report.skipped.n == 1


def test_bad_arguments(tmp_path):
    p = save(face_like(1, 32), tmp_path / "a.jpg")
    with pytest.raises(ValueError, match="threshold"):
        find_duplicates([p], threshold=300)
    with pytest.raises(ValueError, match="at least one"):
        find_duplicates([])
    with pytest.raises(ValueError, match="source has"):
        find_duplicates([p], source=["a", "b"])


def test_hamming_pairs_matches_brute_force():
    rng = np.random.RandomState(0)
    h = rng.randint(0, 256, size=(70, 32)).astype(np.uint8)
    h[5] = h[3]
    h[9] = h[3] ^ np.eye(32, dtype=np.uint8)[0]
    i, j, d = hamming_pairs(h, 120, block=16)
    bits = np.unpackbits(h, axis=1).astype(int)
    full = (bits[:, None, :] != bits[None, :, :]).sum(axis=2)
    ii, jj = np.nonzero(np.triu(full <= 120, k=1))
    assert set(zip(i.tolist(), j.tolist())) == set(zip(ii.tolist(), jj.tolist()))
    assert np.array_equal(d, full[i, j])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        i, j, d = hamming_pairs(h, 0)
    assert (3, 5) in set(zip(i.tolist(), j.tolist()))


def test_exif_rotated_copy_joins_its_picture(tmp_path):
    # The hash is taken from the image as viewers show it (the loader applies EXIF orientation),
    # so a copy stored turned, with an orientation tag that turns it back, is a near duplicate,
    # while the same picture physically turned without a tag is not.
    img = face_like(3, 64)
    p = save(img, tmp_path / "upright.jpg", quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6  # display: rotate 90 degrees clockwise
    q = save(img.transpose(Image.Transpose.ROTATE_90), tmp_path / "tagged.jpg", quality=95,
             exif=exif.tobytes())
    r = save(img.transpose(Image.Transpose.ROTATE_90), tmp_path / "turned.jpg", quality=95)
    groups, _ = find_duplicates([p, q, r], progress=False)
    assert groups[0] == groups[1] and groups[2] != groups[0]
