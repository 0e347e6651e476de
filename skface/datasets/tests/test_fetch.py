import sys
import types
from pathlib import Path

import pytest

from skface.datasets import (fetch_ai_generated_faces, fetch_all_these_people, fetch_ffhq,
                             fetch_lfw, fetch_tpdne, get_data_home, load_faces)

from .conftest import face_like, make_folder, save


def _layout(root, slug):
    """Lay out a tiny fixture like the real Kaggle download of ``slug``."""
    if slug == "arnaud58/flickrfaceshq-dataset-ffhq":
        for i in range(6):
            save(face_like(i), root / f"{i:05d}.png", "PNG")
    elif slug == "almightyj/person-face-dataset-thispersondoesnotexist":
        make_folder(root / "thispersondoesnotexist.10k", 5, seed0=100)
    elif slug == "bwandowando/all-these-people-dont-exist":
        make_folder(root / "ThisPersonDoesNotExist" / "Female", 3, seed0=200)
        make_folder(root / "ThisPersonDoesNotExist" / "Male", 3, seed0=300)
    elif slug == "chelove4draste/ai-generated-faces":
        make_folder(root / "AI-faces" / "images", 4, seed0=400)
    elif slug == "jessicali9530/lfw-dataset":
        make_folder(root / "lfw-deepfunneled" / "lfw-deepfunneled" / "Ann_Person", 2, seed0=500)
        (root / "lfw-deepfunneled" / "pairs.csv").parent.mkdir(parents=True, exist_ok=True)
        (root / "pairs.csv").write_text("name,imagenum\n")
    else:  # pragma: no cover
        raise AssertionError(slug)


@pytest.fixture
def fake_kagglehub(monkeypatch, tmp_path):
    calls = []

    def dataset_download(handle, *args, **kwargs):
        calls.append(handle)
        cache = Path(__import__("os").environ["KAGGLEHUB_CACHE"])
        owner, name = handle.split("/")
        root = cache / "datasets" / owner / name / "versions" / "1"
        _layout(root, handle)
        # kagglehub's mark of a finished download (kagglehub/cache.py, 1.0.3)
        (cache / "datasets" / owner / name / "1.complete").touch()
        return str(root)

    module = types.ModuleType("kagglehub")
    module.dataset_download = dataset_download
    monkeypatch.setitem(sys.modules, "kagglehub", module)
    monkeypatch.setenv("SKFACE_DATA", str(tmp_path / "home"))
    return calls


@pytest.mark.parametrize("fetch, expected, n", [
    (fetch_ffhq, "1", 6),
    (fetch_tpdne, "thispersondoesnotexist.10k", 5),
    (fetch_all_these_people, "ThisPersonDoesNotExist", 6),
    (fetch_ai_generated_faces, "1", 4),
])
def test_kaggle_fetchers_return_image_folder(fake_kagglehub, tmp_path, fetch, expected, n):
    folder = fetch()
    assert folder.name == expected
    assert str(folder).startswith(str(tmp_path / "home" / "kaggle"))
    data = load_faces(folder, make_folder(tmp_path / "other", 1, seed0=999)[0].parent,
                      progress=False)
    assert (data.target == 0).sum() == n
    # second call reuses the local copy without calling kagglehub
    before = len(fake_kagglehub)
    assert fetch() == folder and len(fake_kagglehub) == before


def test_max_images_subset_is_seeded(fake_kagglehub, tmp_path):
    a = fetch_all_these_people(max_images=4, random_state=1)
    b = fetch_all_these_people(max_images=4, random_state=1)
    assert a == b and a.parent.name == "subsets"
    files = sorted(p.name for p in a.iterdir())
    assert len(files) == 4 and all("__" in f for f in files)
    c = fetch_all_these_people(max_images=4, random_state=2)
    assert c != a
    assert fetch_all_these_people(max_images=100) .name == "ThisPersonDoesNotExist"
    data = load_faces(a, fetch_tpdne(), progress=False)
    assert (data.target == 0).sum() == 4
    with pytest.raises(ValueError, match="max_images"):
        fetch_tpdne(max_images=0)


def test_place_files_gives_every_file_its_own_entry(tmp_path):
    import hashlib

    from skface.datasets._fetch import place_files

    src = tmp_path / "download"
    for rel, seed in (("x__a.png", 1), ("x/a.png", 2), ("X/A.png", 3), ("y.png", 4)):
        save(face_like(seed), src / rel, "PNG")
    files = sorted(p for p in src.rglob("*.png"))
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    for copy in (False, True):
        dest = tmp_path / f"dest-{copy}"
        dest.mkdir()
        assert place_files(files, src, dest, copy=copy) == 4
        placed = sorted(dest.iterdir())
        assert len(placed) == 4 and all(p.is_symlink() != copy for p in placed)
        # each entry shows a different original, and no original was written through a link
        assert len({hashlib.sha256(p.read_bytes()).hexdigest() for p in placed}) == 4
        assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in files} == before


def test_subsets_of_two_downloads_of_one_set_stay_apart(fake_kagglehub, tmp_path, monkeypatch):
    from sklearn.datasets import _lfw

    def fake_sklearn_lfw(data_home=None, funneled=True, download_if_missing=True):
        folder = Path(data_home) / "lfw_home" / "lfw_funneled"
        make_folder(folder / "Sk_Person", 4, seed0=600)
        return str(Path(data_home) / "lfw_home"), str(folder)

    monkeypatch.setattr(_lfw, "_check_fetch_lfw", fake_sklearn_lfw)
    sk = fetch_lfw(max_images=1, random_state=0)
    kaggle = fetch_lfw(max_images=1, random_state=0, backend="kaggle")
    assert sk != kaggle
    assert [p.name.split("__")[0] for p in sk.iterdir()] == ["Sk_Person"]
    assert [p.name.split("__")[0] for p in kaggle.iterdir()] == ["Ann_Person"]


def test_lfw_through_kaggle_and_data_home(fake_kagglehub, tmp_path):
    folder = fetch_lfw(backend="kaggle", data_home=tmp_path / "explicit")
    assert folder.name == "lfw-deepfunneled" and folder.parent.name == "lfw-deepfunneled"
    assert str(folder).startswith(str(tmp_path / "explicit"))
    with pytest.raises(ValueError, match="backend"):
        fetch_lfw(backend="web")


def test_lfw_through_sklearn(monkeypatch, tmp_path):
    from sklearn.datasets import _lfw

    seen = {}

    def fake_check(data_home=None, funneled=True, download_if_missing=True, **kw):
        seen.update(data_home=data_home, funneled=funneled)
        folder = Path(data_home) / "lfw_home" / "lfw_funneled"
        make_folder(folder / "Aaron_Peirsol", 2)
        make_folder(folder / "Zoe_Ball", 1, seed0=7)
        return str(Path(data_home) / "lfw_home"), str(folder)

    monkeypatch.setattr(_lfw, "_check_fetch_lfw", fake_check)
    folder = fetch_lfw(data_home=tmp_path)
    assert folder.name == "lfw_funneled" and seen["funneled"]
    assert seen["data_home"] == str(tmp_path / "sklearn")
    sub = fetch_lfw(data_home=tmp_path, max_images=2, random_state=0)
    assert len(list(sub.iterdir())) == 2


def test_missing_kagglehub_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "kagglehub", None)
    with pytest.raises(ImportError, match=r'skface\[fetch\]'):
        fetch_tpdne(data_home=tmp_path)


def test_an_interrupted_download_is_not_reused(fake_kagglehub, tmp_path):
    folder = fetch_tpdne()
    marker = tmp_path / "home" / "kaggle" / "datasets" / "almightyj" / \
        "person-face-dataset-thispersondoesnotexist" / "1.complete"
    assert marker.is_file()
    marker.unlink()  # as after a download cut short: files there, no mark
    before = len(fake_kagglehub)
    assert fetch_tpdne() == folder and len(fake_kagglehub) == before + 1  # downloaded again


def test_download_if_missing_false(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "kagglehub", None)
    with pytest.raises(OSError, match="download_if_missing=False"):
        fetch_ffhq(data_home=tmp_path, download_if_missing=False)


def test_unexpected_layout_warns(monkeypatch, tmp_path):
    def dataset_download(handle):
        root = tmp_path / "dl"
        make_folder(root / "other_name", 2)
        return str(root)

    module = types.ModuleType("kagglehub")
    module.dataset_download = dataset_download
    monkeypatch.setitem(sys.modules, "kagglehub", module)
    with pytest.warns(UserWarning, match="expected layout"):
        folder = fetch_tpdne(data_home=tmp_path / "h")
    assert folder == tmp_path / "dl"


def test_get_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("SKFACE_DATA", str(tmp_path / "env"))
    assert get_data_home() == tmp_path / "env" and (tmp_path / "env").is_dir()
    assert get_data_home(tmp_path / "x") == tmp_path / "x"


def test_a_partly_unpacked_lfw_is_unpacked_again(tmp_path, monkeypatch):
    """scikit-learn unpacks LFW and then deletes the archive; an unpacking cut short left a
    folder of part of the images that was returned as the whole set, without a word. Runs
    scikit-learn's own downloader on a local archive (nothing is downloaded)."""
    import tarfile

    from sklearn.datasets import _lfw

    lfw_home = tmp_path / "sklearn" / "lfw_home"
    source = tmp_path / "src" / "lfw_funneled"
    make_folder(source / "Ann_Person", 3, seed0=700)
    make_folder(source / "Bob_Person", 2, seed0=800)
    lfw_home.mkdir(parents=True)
    with tarfile.open(lfw_home / _lfw.FUNNELED_ARCHIVE.filename, "w:gz") as tar:
        tar.add(source, arcname="lfw_funneled")
    for target in _lfw.TARGETS:  # the metadata files scikit-learn wants beside it
        (lfw_home / target.filename).write_text("")
    from skface.utils._io import file_sha256

    monkeypatch.setattr(_lfw, "FUNNELED_ARCHIVE", _lfw.FUNNELED_ARCHIVE._replace(
        checksum=file_sha256(lfw_home / _lfw.FUNNELED_ARCHIVE.filename)))  # this one is LFW
    make_folder(lfw_home / "lfw_funneled" / "Ann_Person", 1, seed0=700)  # the cut-short part
    with pytest.warns(UserWarning, match="only partly unpacked"):
        folder = fetch_lfw(data_home=tmp_path, download_if_missing=False)
    assert len(list(folder.rglob("*.jpg"))) == 5
    assert not (lfw_home / _lfw.FUNNELED_ARCHIVE.filename).exists()


def test_subset_arguments_are_checked_before_any_download(monkeypatch, tmp_path):
    """max_images and random_state were checked only once the whole set was downloaded."""
    import skface.datasets._fetch as fetch_mod

    def no_download(*args, **kwargs):
        raise AssertionError("downloaded before checking the arguments")

    monkeypatch.setattr(fetch_mod, "_kaggle_download", no_download)
    for kwargs, match in (({"max_images": -1}, "max_images must be"),
                          ({"max_images": 2.5}, "max_images must be"),
                          ({"random_state": -3}, "random_state must be"),
                          ({"random_state": "x"}, "random_state must be")):
        with pytest.raises(ValueError, match=match):
            fetch_tpdne(data_home=tmp_path, **kwargs)
        with pytest.raises(ValueError, match=match):
            fetch_lfw(data_home=tmp_path, **kwargs)


def _lfw_archive(tmp_path, good=True):
    """A local LFW archive in scikit-learn's cache, with its metadata files."""
    import tarfile

    from sklearn.datasets import _lfw

    lfw_home = tmp_path / "sklearn" / "lfw_home"
    source = tmp_path / "src" / "lfw_funneled"
    make_folder(source / "Ann_Person", 3, seed0=700)
    lfw_home.mkdir(parents=True)
    archive = lfw_home / _lfw.FUNNELED_ARCHIVE.filename
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname="lfw_funneled")
    if not good:  # cut short, as a download placed there by hand can be
        archive.write_bytes(archive.read_bytes()[:len(archive.read_bytes()) // 2])
    for target in _lfw.TARGETS:
        (lfw_home / target.filename).write_text("")
    return archive


def test_a_damaged_lfw_archive_in_the_cache_is_named_and_removed(tmp_path):
    """scikit-learn unpacks an archive it finds without checking its checksum: a truncated
    one failed on every run with an EOFError that named no file."""
    archive = _lfw_archive(tmp_path, good=False)
    with pytest.warns(UserWarning, match="checksum"):
        with pytest.raises(OSError, match="lfw-funneled.tgz"):
            fetch_lfw(data_home=tmp_path, download_if_missing=False)
    assert not archive.exists()  # the next run downloads it again


def test_a_subset_finished_by_another_fetch_meanwhile_is_used(fake_kagglehub, tmp_path,
                                                              monkeypatch):
    from skface.datasets import _fetch

    calls = []

    def racing_replace(src, dst, _real=_fetch.os.replace):
        if not calls and str(dst).endswith("-n3-seed0"):
            calls.append(dst)
            Path(dst).mkdir(parents=True)
            (Path(dst) / "done.png").write_bytes(b"x")
        return _real(src, dst)

    monkeypatch.setattr(_fetch.os, "replace", racing_replace)
    folder = fetch_tpdne(max_images=3)
    assert folder.name.endswith("-n3-seed0") and calls
    assert not [p for p in folder.parent.iterdir() if ".part" in p.name or "tmp" in p.name]


def test_an_empty_skface_data_is_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("SKFACE_DATA", "")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_data_home() == tmp_path / "skface_data"
