import shutil
from pathlib import Path
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


def test_mirrored_copies_are_near_duplicates(tmp_path):
    """A copy flipped left-right was 126 of 256 bits from its original (as far as unrelated
    pictures), so it was kept and could land in another split; a model with tta=True, which
    averages each face with its mirror, then tested on a training image."""
    from PIL import ImageOps

    from skface.datasets import build_dataset

    originals = make_folder(tmp_path / "r1", 20, seed0=400, size=64)
    for p in originals:
        flipped = ImageOps.mirror(Image.open(p))
        save(flipped, tmp_path / "r2" / f"flip_{p.name}", quality=85)
    make_folder(tmp_path / "f", 40, seed0=900, size=64)
    data = load_faces({"r1": tmp_path / "r1", "r2": tmp_path / "r2"}, tmp_path / "f",
                      progress=False)
    groups, report = find_duplicates(data, progress=False)
    group = {Path(f).resolve(): g for f, g in zip(data.filenames, groups)}
    flips = [(tmp_path / "r2" / f"flip_{p.name}").resolve() for p in originals]
    assert all(group[p.resolve()] == group[q] for p, q in zip(originals, flips))
    assert report.n_near_pairs == 20 and report.by_source_pair == {("r1", "r2"): {
        "exact": 0, "near": 20}}
    # distinct pictures stay apart, mirrored or not
    assert report.n_groups == 60
    built = build_dataset({"r1": tmp_path / "r1", "r2": tmp_path / "r2"}, tmp_path / "f",
                          random_state=0, progress=False)
    assert built.duplicates.n_redundant == 20
    kept = {Path(f).resolve() for f in built.filenames}
    assert all((p.resolve() in kept) != (q in kept) for p, q in zip(originals, flips))
    # a data set made by hand without the mirror hashes still works, without that check
    hand = {k: data[k] for k in ("filenames", "source", "target", "sha256", "phash")}
    groups_hand, report_hand = find_duplicates(hand, progress=False)
    assert report_hand.n_groups == 80


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


def _brute_force_counts(sha, phash, source, threshold):
    """Every pair of images, the definition the report's counts follow."""
    bits = [np.unpackbits(np.frombuffer(bytes.fromhex(h), dtype=np.uint8)) for h in phash]
    exact = near = 0
    by_pair = {}
    for i in range(len(sha)):
        for j in range(i + 1, len(sha)):
            d = int((bits[i] != bits[j]).sum())
            kind = "exact" if sha[i] == sha[j] else "near" if d <= threshold else None
            if kind:
                key = tuple(sorted((source[i], source[j])))
                by_pair.setdefault(key, {"exact": 0, "near": 0})[kind] += 1
                exact += kind == "exact"
                near += kind == "near"
    return exact, near, by_pair


@pytest.mark.parametrize("seed", range(4))
def test_counts_from_links_match_every_pair(seed):
    # repeated files (same sha), re-encodes (same phash, other sha) and near hashes, spread
    # over three sources; the groups and counts must be those of the all-pairs definition
    rng = np.random.default_rng(seed)
    pictures = rng.integers(0, 256, (12, 32), dtype=np.uint8)
    pictures[1] = pictures[0]
    pictures[1, :2] ^= 0x01  # 2 bits from picture 0
    hashes, shas, sources = [], [], []
    for k in range(60):
        pic = int(rng.integers(0, 12))
        variant = int(rng.integers(0, 3))  # files of one picture: few distinct byte contents
        h = pictures[pic].copy()
        if variant == 2 and rng.random() < 0.5:
            h[5] ^= 0x10  # a re-encode whose hash moved by one bit
        hashes.append(h.tobytes().hex())
        shas.append(f"{pic}-{variant}-{h[5]}")
        sources.append(["a", "b", "c"][int(rng.integers(0, 3))])
    bunch = {"filenames": [f"f{k}.jpg" for k in range(60)], "sha256": shas, "phash": hashes,
             "source": np.array(sources, dtype=object)}
    groups, report = find_duplicates(bunch, threshold=3, progress=False)
    exact, near, by_pair = _brute_force_counts(shas, hashes, sources, 3)
    assert (report.n_exact_pairs, report.n_near_pairs) == (exact, near)
    assert report.by_source_pair == by_pair
    # the groups are the connected components of every linked pair
    pic_of = [int(s.split("-")[0]) for s in shas]
    merged = [0 if p == 1 else p for p in pic_of]  # pictures 0 and 1 are 2 bits apart
    for i in range(60):
        for j in range(60):
            assert (groups[i] == groups[j]) == (merged[i] == merged[j])
    assert len(report.pairs) >= 60 - report.n_groups  # enough links to join every group


def test_many_identical_files_cost_links_not_pairs():
    n = 3000
    bunch = {"filenames": [f"placeholder{k}.png" for k in range(n)], "sha256": ["same"] * n,
             "phash": ["ab" * 32] * n, "source": np.array(["s"] * n, dtype=object)}
    groups, report = find_duplicates(bunch, progress=False)
    assert (groups == 0).all() and report.n_redundant == n - 1
    assert report.n_exact_pairs == n * (n - 1) // 2 and report.n_near_pairs == 0
    assert len(report.pairs) == n - 1  # each copy linked to the first, not 4.5 million rows
    assert report.by_source_pair == {("s", "s"): {"exact": n * (n - 1) // 2, "near": 0}}


def test_a_cluster_of_near_copies_is_counted_in_full_and_linked_once_per_image():
    """n distinct but near-identical hashes (bursts, re-encodes): every pair is within the
    threshold, and each pair was a Python tuple and a Counter (4,000 images: 25 s, 2.5 GB).
    The counts still cover every pair; the links are a spanning forest, one per image."""
    from itertools import combinations

    from sklearn.utils import Bunch

    rng = np.random.default_rng(0)
    base = rng.integers(0, 2, 256)
    n = 300
    hashes = []
    for flip in list(combinations(range(256), 2))[:n]:
        bits = base.copy()
        bits[list(flip)] ^= 1  # distinct hashes, all within 4 bits of each other
        hashes.append(np.packbits(bits.astype(np.uint8)).tobytes().hex())
    assert len(set(hashes)) == n
    sources = np.array([f"s{k % 3}" for k in range(n)], dtype=object)
    data = Bunch(filenames=np.array([f"f{k}.png" for k in range(n)], dtype=object),
                 sha256=[f"sha{k}" for k in range(n)], phash=hashes, source=sources,
                 target=np.zeros(n, dtype=int))
    groups, report = find_duplicates(data, threshold=4, progress=False)
    assert (groups == 0).all() and report.n_groups == 1
    assert report.n_near_pairs == n * (n - 1) // 2 and report.n_exact_pairs == 0
    expected = {}
    for a, b in combinations(range(n), 2):
        key = tuple(sorted((sources[a], sources[b])))
        expected[key] = expected.get(key, 0) + 1
    assert {k: v["near"] for k, v in report.by_source_pair.items()} == expected
    assert len(report.pairs) == n - 1  # a spanning tree: the closest links that join them
    assert all(0 < d <= 4 and kind == "near" for _, _, d, kind in report.pairs.tolist())


def test_a_data_set_with_short_or_bad_hash_columns_is_refused():
    """A phash column shorter than filenames left the last files unhashed and counted as
    unreadable without a word; a bad hash failed in bytes.fromhex."""
    from sklearn.utils import Bunch

    files = np.array(["a.png", "b.png", "c.png"], dtype=object)
    good = ["00" * 32, "ff" * 32]
    with pytest.raises(ValueError, match="2 'sha256' entries for 3 filenames"):
        find_duplicates(Bunch(filenames=files, sha256=["x", "y"], phash=good), progress=False)
    with pytest.raises(ValueError, match="'phash' holds 'zz', not a hexadecimal"):
        find_duplicates(Bunch(filenames=files, sha256=["x", "y", "z"], phash=good + ["zz"]),
                        progress=False)
    with pytest.raises(ValueError, match="needs 'filenames'"):
        find_duplicates(Bunch(target=[0, 1]), progress=False)


def test_comparing_the_hashes_shows_progress(capsys):
    """The all-pairs comparison (whose cost grows with the square of the image count) ran
    silently after the hashing bar had finished."""
    rng = np.random.default_rng(0)
    h = rng.integers(0, 256, size=(50, 32), dtype=np.uint8)
    quiet = hamming_pairs(h, 120, block=16)
    shown = hamming_pairs(h, 120, block=16, progress=True)
    err = capsys.readouterr().err
    assert "Comparing images" in err and "1.27k/1.27k" in err  # 50 * 51 / 2 pairs
    for a, b in zip(quiet, shown):
        np.testing.assert_array_equal(a, b)
