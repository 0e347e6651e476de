import io
import os
import warnings

import numpy as np
import pytest
from PIL import Image

from skface.datasets import EmptySourceWarning, SkippedFilesWarning, load_faces
from skface.datasets._decode import estimate_jpeg_quality

from .conftest import face_like, make_folder, save


def test_load_faces_basic(two_sources):
    data = load_faces(two_sources / "real", two_sources / "fake", progress=False)
    assert len(data.filenames) == 18
    assert list(data.target_names) == ["real", "fake"]
    assert (data.target == 0).sum() == 10 and (data.target == 1).sum() == 8
    assert set(data.source) == {"real", "fake"}
    assert set(data.format) == {"JPEG", "PNG"}
    assert np.all(data.width == 32) and np.all(data.height == 32)
    assert np.all(np.isnan(data.jpeg_quality[data.format == "PNG"]))
    assert np.all(data.bytes > 0)
    assert data.skipped.n == 0
    assert len(set(data.sha256)) == 18
    assert all(len(h) == 64 for h in data.phash)


def test_sources_from_mapping_list_and_subfolders(tmp_path):
    make_folder(tmp_path / "real" / "ffhq", 3, seed0=0)
    make_folder(tmp_path / "real" / "lfw", 2, seed0=10)
    make_folder(tmp_path / "fake" / "tpdne", 4, seed0=20)
    d1 = load_faces({"A": tmp_path / "real" / "ffhq", "B": tmp_path / "real" / "lfw"},
                    [tmp_path / "fake" / "tpdne"], progress=False)
    assert sorted(set(d1.source)) == ["A", "B", "tpdne"]
    d2 = load_faces(tmp_path / "real", tmp_path / "fake", source_from="subfolder", progress=False)
    assert sorted(set(d2.source)) == ["ffhq", "lfw", "tpdne"]
    d3 = load_faces(tmp_path / "real", tmp_path / "fake", progress=False)
    assert sorted(set(d3.source)) == ["fake", "real"]  # recursive, one source per folder
    assert len(d3.filenames) == 9
    # loose files beside the sub-folders: a source of their own, and nothing reported twice
    make_folder(tmp_path / "real", 2, seed0=30, suffix=".jpeg")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no SkippedFilesWarning
        d4 = load_faces(tmp_path / "real", tmp_path / "fake", source_from="subfolder",
                        progress=False)
    assert d4.skipped.n == 0 and len(d4.filenames) == 11
    assert {s: int((d4.source == s).sum()) for s in set(d4.source)} == {
        "ffhq": 3, "lfw": 2, "real": 2, "tpdne": 4}


def test_a_real_and_a_fake_folder_of_one_name_are_refused(tmp_path):
    """real/ffhq/images and fake/tpdne/images became one source 'images' with both labels,
    which leave-one-source-out then held out as one."""
    make_folder(tmp_path / "real" / "ffhq" / "images", 2)
    make_folder(tmp_path / "fake" / "tpdne" / "images", 2, seed0=5)
    make_folder(tmp_path / "fake" / "sg2", 2, seed0=9)
    fakes = [tmp_path / "fake" / "tpdne" / "images", tmp_path / "fake" / "sg2"]
    with pytest.raises(ValueError, match="take the source name 'images' .* mappings"):
        load_faces(tmp_path / "real" / "ffhq" / "images", fakes, progress=False)
    # names given on purpose are kept
    data = load_faces({"images": tmp_path / "real" / "ffhq" / "images"}, fakes, progress=False)
    assert sorted(set(zip(data.source, data.target))) == [("images", 0), ("images", 1),
                                                          ("sg2", 1)]
    data = load_faces({"ffhq": tmp_path / "real" / "ffhq" / "images"}, fakes, progress=False)
    assert sorted(set(data.source)) == ["ffhq", "images", "sg2"]


def test_same_source_name_twice_is_an_error(tmp_path):
    make_folder(tmp_path / "a" / "x", 1)
    make_folder(tmp_path / "b" / "x", 1, seed0=5)
    make_folder(tmp_path / "f", 1, seed0=9)
    with pytest.raises(ValueError, match="share the source name"):
        load_faces([tmp_path / "a" / "x", tmp_path / "b" / "x"], tmp_path / "f", progress=False)
    # one folder twice is named as such (the advice to name the sources apart did not help)
    os.symlink(tmp_path / "a" / "x", tmp_path / "link")
    for twice in ([tmp_path / "a" / "x", tmp_path / "a" / "x"],
                  {"one": tmp_path / "a" / "x", "two": tmp_path / "a" / "x"},
                  [tmp_path / "a" / "x", tmp_path / "link"]):
        with pytest.raises(ValueError, match="real folder .* is given twice"):
            load_faces(twice, tmp_path / "f", progress=False)


def test_metadata_quality_and_exif(tmp_path):
    img = face_like(1, 48)
    for q in (50, 75, 90, 99):
        save(img, tmp_path / "r" / f"q{q}.jpg", quality=q)
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    save(img, tmp_path / "f" / "exif.jpg", quality=80, exif=exif.tobytes())
    data = load_faces(tmp_path / "r", tmp_path / "f", progress=False)
    by_name = {os.path.basename(f): i for i, f in enumerate(data.filenames)}
    for q in (50, 75, 90, 99):
        assert data.jpeg_quality[by_name[f"q{q}.jpg"]] == q
    assert data.exif[by_name["exif.jpg"]]
    assert not data.exif[by_name["q90.jpg"]]
    assert np.isnan(estimate_jpeg_quality(None))


def test_recognised_by_content_not_suffix(tmp_path):
    save(face_like(1), tmp_path / "r" / "photo.dat", "JPEG")
    save(face_like(2), tmp_path / "r" / "misnamed.jpg", "PNG")
    save(face_like(3), tmp_path / "r" / "noext", "PNG")
    (tmp_path / "r" / "notes.txt").write_text("hello")
    save(face_like(4), tmp_path / "f" / "a.jpg")
    with pytest.warns(SkippedFilesWarning, match="1 file"):
        data = load_faces(tmp_path / "r", tmp_path / "f", progress=False)
    names = sorted(os.path.basename(f) for f in data.filenames[data.target == 0])
    assert names == ["misnamed.jpg", "noext", "photo.dat"]
    assert data.format[[os.path.basename(f) == "misnamed.jpg" for f in data.filenames]][0] == "PNG"
    assert data.skipped.n == 1 and "not an image file" in data.skipped.reasons[0]


def test_bad_files_are_skipped_and_reported(tmp_path):
    real = tmp_path / "real"
    make_folder(real, 3)
    (real / "zero.jpg").write_bytes(b"")
    good = io.BytesIO()
    face_like(7, 48).save(good, "JPEG", quality=90)
    (real / "truncated.jpg").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    (real / "garbage.jpg").write_bytes(np.random.RandomState(0).bytes(500))
    (real / "text.png").write_text("not really a png")
    (real / "fakeheader.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    save(face_like(8, 64), real / "big.png", "PNG")
    os.symlink(real / "missing.jpg", real / "broken.jpg")
    make_folder(tmp_path / "fake", 2, seed0=50)
    with pytest.warns(SkippedFilesWarning) as rec:
        data = load_faces(real, tmp_path / "fake", max_pixels=64 * 64 - 1, progress=False)
    assert "7 file(s)" in str(rec[0].message)
    reasons = dict(zip((os.path.basename(f) for f in data.skipped.filenames),
                       data.skipped.reasons))
    assert reasons["zero.jpg"].startswith("empty file")
    assert reasons["truncated.jpg"].startswith("corrupt or truncated JPEG")
    assert reasons["garbage.jpg"].startswith("not an image")
    assert reasons["text.png"].startswith("not an image")
    assert reasons["fakeheader.png"].startswith(("corrupt", "not an image"))
    assert reasons["big.png"].startswith("decompression bomb")
    assert reasons["broken.jpg"] == "broken symbolic link"
    assert data.skipped.n == 7 and sum(data.skipped.counts.values()) == 7
    assert (data.target == 0).sum() == 3


@pytest.mark.parametrize("keep", [4, 20, 100])
def test_jpeg_cut_short_is_called_truncated_wherever_the_cut_falls(tmp_path, keep):
    # cut inside the header, Pillow cannot even identify the file; cut later, decoding fails:
    # both are reported as a corrupt or truncated JPEG, never as "not an image"
    good = io.BytesIO()
    face_like(3, 48).save(good, "JPEG", quality=90)
    make_folder(tmp_path / "fake", 2, seed0=50)
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "cut.jpg").write_bytes(good.getvalue()[:keep])
    make_folder(tmp_path / "real", 2)
    with pytest.warns(SkippedFilesWarning, match="1 file"):
        data = load_faces(tmp_path / "real", tmp_path / "fake", progress=False)
    assert list(data.skipped.reasons)[0].startswith("corrupt or truncated JPEG"), \
        data.skipped.reasons


def test_unreadable_file_is_skipped(tmp_path, monkeypatch):
    make_folder(tmp_path / "r", 2)
    make_folder(tmp_path / "f", 2, seed0=9)
    from skface.datasets import _decode

    real_read = _decode._read_bytes

    def deny(path):
        if path.endswith("img000.jpg") and "/r/" in path:
            raise _decode.SkipImage("unreadable: PermissionError: denied")
        return real_read(path)

    monkeypatch.setattr(_decode, "_read_bytes", deny)
    with pytest.warns(SkippedFilesWarning):
        data = load_faces(tmp_path / "r", tmp_path / "f", progress=False)
    assert data.skipped.n == 1 and data.skipped.reasons[0].startswith("unreadable")


def test_symlink_loop_is_safe(tmp_path):
    make_folder(tmp_path / "r" / "sub", 2)
    os.symlink(tmp_path / "r", tmp_path / "r" / "sub" / "loop")
    make_folder(tmp_path / "f", 2, seed0=9)
    with pytest.warns(SkippedFilesWarning, match="symlink loop"):
        data = load_faces(tmp_path / "r", tmp_path / "f", progress=False)
    assert (data.target == 0).sum() == 2


def test_missing_empty_and_no_images(tmp_path):
    make_folder(tmp_path / "r", 2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="does not exist"):
        load_faces(tmp_path / "nope", tmp_path / "r", progress=False)
    with pytest.raises(ValueError, match="No usable fake"):
        load_faces(tmp_path / "r", tmp_path / "empty", progress=False)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.txt").write_text("x")
    (tmp_path / "empty2").mkdir()
    with pytest.raises(ValueError, match="No files found"):
        load_faces(tmp_path / "empty", tmp_path / "empty2", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="No usable real"):
            load_faces(tmp_path / "t", tmp_path / "r", progress=False)
    with pytest.raises(ValueError, match="is empty"):
        load_faces([], tmp_path / "r", progress=False)
    with pytest.raises(ValueError, match="source_from"):
        load_faces(tmp_path / "r", tmp_path / "r", source_from="x", progress=False)
    # what is not a folder is named ("'int' object is not iterable" before); an empty name is
    # not taken for the working folder
    for bad in (5, 2.5, b"r", [5], {"cam": 7}, {"cam": b"r"}):
        with pytest.raises(TypeError, match="`fake` must be a folder .*got"):
            load_faces(tmp_path / "r", bad, progress=False)
    for bad in ("", [""], {"cam": ""}):
        with pytest.raises(ValueError, match="`real` holds an empty folder name"):
            load_faces(bad, tmp_path / "empty", progress=False)


def test_parallel_matches_serial_and_frame(two_sources):
    pytest.importorskip("pandas")
    from joblib import parallel_config

    a = load_faces(two_sources / "real", two_sources / "fake", progress=False)
    # Threads exercise the same chunked, order-keeping path without spawning processes.
    with parallel_config(backend="threading"):
        b = load_faces(two_sources / "real", two_sources / "fake", n_jobs=2, progress=False,
                       as_frame=True)
    assert list(a.filenames) == list(b.filenames)
    assert list(a.phash) == list(b.phash)
    assert list(b.frame.columns[:4]) == ["filename", "target", "label", "source"]
    assert len(b.frame) == 18


def test_ctrl_c_keeps_finished_work(tmp_path, monkeypatch):
    make_folder(tmp_path / "r", 70)
    make_folder(tmp_path / "f", 65, seed0=500)
    from skface.datasets import _scan

    real_chunk = _scan._inspect_chunk
    calls = []
    stop_at = [2]

    def chunk(paths, max_pixels):
        calls.append(len(paths))
        if len(calls) == stop_at[0]:
            raise KeyboardInterrupt
        return real_chunk(paths, max_pixels)

    monkeypatch.setattr(_scan, "_inspect_chunk", chunk)
    paths = [str(p) for p in sorted((tmp_path / "r").iterdir())]
    with pytest.warns(SkippedFilesWarning, match="after 64 of 70 files"):
        results = _scan.inspect_files(paths, progress=False)
    assert [p for p, _, _ in results] == paths
    assert sum(info is not None for _, info, _ in results) == 64
    assert sum(reason == _scan.INTERRUPTED for _, _, reason in results) == 6
    # Through load_faces: the finished part is kept, the rest reported as skipped.
    calls.clear()
    stop_at[0] = 3  # chunks: 64 real, 6 real + 58 fake, then 7 fake never scanned
    with pytest.warns(SkippedFilesWarning):
        data = load_faces(tmp_path / "r", tmp_path / "f", progress=False)
    assert len(data.filenames) == 128 and (data.target == 1).sum() == 58
    assert data.skipped.counts["not scanned"] == 7


def test_many_formats_and_modes(tmp_path):
    im = face_like(1, 128)
    r = tmp_path / "r"
    r.mkdir()
    im.convert("CMYK").save(r / "cmyk.jpg", "JPEG")
    im.convert("L").save(r / "grey.jpg", "JPEG")
    Image.fromarray(np.asarray(im.convert("L")).astype(np.uint16) * 257).save(r / "i16.png")
    im.convert("P").save(r / "pal.png")
    im.convert("LA").save(r / "la.png")
    for ext in ("webp", "bmp", "tiff", "gif"):
        im.save(r / f"a.{ext}")
    save(im, tmp_path / "f" / "x.jpg")
    data = load_faces(r, tmp_path / "f", progress=False)
    assert data.skipped.n == 0
    assert sorted(set(data.format)) == ["BMP", "GIF", "JPEG", "PNG", "TIFF", "WEBP"]
    # the same picture in every format and grey/colour mode: one perceptual group (palette
    # images are left out: 256-colour quantisation is a real edit)
    from skface.datasets import find_duplicates

    groups, _ = find_duplicates(data, progress=False)
    names = np.array([os.path.basename(f) for f in data.filenames])
    same = (data.target == 0) & ~np.isin(names, ["pal.png", "a.gif"])
    assert len(set(groups[same])) == 1, dict(zip(names, groups))


def test_overlapping_folders_and_files_reached_twice(tmp_path):
    make_folder(tmp_path / "all" / "fake", 2, seed0=5)
    make_folder(tmp_path / "all" / "real", 2)
    with pytest.raises(ValueError, match="overlap"):
        load_faces(tmp_path / "all", tmp_path / "all" / "fake", progress=False)
    with pytest.raises(ValueError, match="overlap"):
        load_faces(tmp_path / "all" / "real", tmp_path / "all" / "real", progress=False)
    (tmp_path / "links").mkdir()
    os.symlink(tmp_path / "all" / "real" / "img000.jpg", tmp_path / "links" / "again.jpg")
    with pytest.warns(SkippedFilesWarning, match="same file already scanned"), \
            pytest.warns(EmptySourceWarning, match="links .source 'b'. gave no image: all 1"):
        data = load_faces({"a": tmp_path / "all" / "real", "b": tmp_path / "links"},
                          tmp_path / "all" / "fake", progress=False)
    assert (data.target == 0).sum() == 2 and data.skipped.n == 1
    # counted under one reason, not one reason per file (a warning listed every path)
    assert data.skipped.counts == {"same file already scanned": 1}
    assert data.skipped.reasons[0].startswith("same file already scanned: as ")


def test_a_folder_that_gives_no_image_is_named(tmp_path):
    """An empty folder beside others of its class was accepted without a word."""
    make_folder(tmp_path / "r", 3)
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x")
    make_folder(tmp_path / "f", 3, seed0=9)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        data = load_faces([tmp_path / "r", tmp_path / "empty", tmp_path / "notes"],
                          tmp_path / "f", progress=False)
    messages = [str(w.message) for w in record if w.category is EmptySourceWarning]
    assert len(messages) == 2
    assert str(tmp_path / "empty") in messages[0] and "no file" in messages[0]
    assert str(tmp_path / "notes") in messages[1] and "all 1 file(s)" in messages[1]
    assert list(data.empty_folders) == [str(tmp_path / "empty"), str(tmp_path / "notes")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_faces(tmp_path / "r", tmp_path / "f", progress=False).empty_folders) == 0


def test_a_bad_max_pixels_is_named_not_blamed_on_the_files(two_sources):
    """A string max_pixels failed inside the decoder, so every file was reported corrupt (and
    then 'no usable real image'); 0 reported every file as a decompression bomb."""
    from skface.datasets import audit_shortcuts, find_duplicates

    real, fake = two_sources / "real", two_sources / "fake"
    paths = sorted(real.iterdir()) + sorted(fake.iterdir())
    for bad in ("100", 0, float("nan"), -5):
        with pytest.raises(ValueError, match="max_pixels must be an int >= 1 or None"):
            load_faces(real, fake, max_pixels=bad, progress=False)
        with pytest.raises(ValueError, match="max_pixels must be"):
            find_duplicates(paths, max_pixels=bad, progress=False)
        with pytest.raises(ValueError, match="max_pixels must be"):
            audit_shortcuts(paths, [0] * 10 + [1] * 8, max_pixels=bad, progress=False)
    for name, value in (("threshold", float("nan")), ("threshold", 5), ("max_fixed_share", -1),
                        ("threshold", "a")):
        with pytest.raises(ValueError, match=f"{name} must be a number in"):
            audit_shortcuts(paths, [0] * 10 + [1] * 8, progress=False, **{name: value})


def test_ctrl_c_keeps_chunks_that_finished_before_an_earlier_one(tmp_path, monkeypatch):
    """In parallel, results came back in input order: a Ctrl-C while the first chunk was
    still running lost every later chunk that had already finished."""
    import time

    from joblib import parallel_config

    from skface.datasets import _scan

    make_folder(tmp_path / "r", 135)
    real_chunk = _scan._inspect_chunk
    paths = [str(p) for p in sorted((tmp_path / "r").iterdir())]

    def chunk(chunk_paths, max_pixels):
        if chunk_paths[0] == paths[0]:  # the first chunk is slow, and is interrupted
            time.sleep(1.0)
            raise KeyboardInterrupt
        return real_chunk(chunk_paths, max_pixels)

    monkeypatch.setattr(_scan, "_inspect_chunk", chunk)
    with parallel_config(backend="threading"):
        with pytest.warns(SkippedFilesWarning, match="after 71 of 135 files"):
            results = _scan.inspect_files(paths, n_jobs=2, progress=False)
    assert [p for p, _, _ in results] == paths  # in path order
    assert all(reason == _scan.INTERRUPTED for _, _, reason in results[:64])
    assert all(info is not None for _, info, _ in results[64:])


def _counting_inspect(monkeypatch, stop_after=None):
    from skface.datasets import _scan

    real_chunk = _scan._inspect_chunk
    read = []

    def chunk(paths, max_pixels):
        if stop_after is not None and len(read) >= stop_after:
            raise KeyboardInterrupt
        read.extend(paths)
        return real_chunk(paths, max_pixels)

    monkeypatch.setattr(_scan, "_inspect_chunk", chunk)
    return read


def test_a_scan_cache_keeps_an_interrupted_scan_for_the_next(tmp_path, monkeypatch):
    """build_dataset threw the whole scan away on Ctrl-C and read every file again."""
    from skface.datasets import build_dataset

    make_folder(tmp_path / "r", 70)
    make_folder(tmp_path / "f", 70, seed0=500)
    cache = tmp_path / "cache"
    read = _counting_inspect(monkeypatch, stop_after=64)  # the second chunk is interrupted
    with pytest.warns(SkippedFilesWarning):
        with pytest.raises(KeyboardInterrupt):
            build_dataset(tmp_path / "r", tmp_path / "f", random_state=0, progress=False,
                          cache=cache)
    assert len(read) == 64
    monkeypatch.undo()
    read = _counting_inspect(monkeypatch)
    data = build_dataset(tmp_path / "r", tmp_path / "f", random_state=0, progress=False,
                         cache=cache)
    assert len(read) == 140 - 64  # only what the first scan had not finished
    monkeypatch.undo()
    plain = build_dataset(tmp_path / "r", tmp_path / "f", random_state=0, progress=False)
    for key in ("filenames", "target", "split", "sha256", "phash", "jpeg_quality"):
        np.testing.assert_array_equal(data[key], plain[key])


def test_a_scan_cache_reads_a_changed_file_again(tmp_path, monkeypatch):
    make_folder(tmp_path / "r", 3)
    make_folder(tmp_path / "f", 3, seed0=500)
    cache = tmp_path / "cache"
    first = load_faces(tmp_path / "r", tmp_path / "f", progress=False, cache=cache)
    changed = sorted((tmp_path / "r").iterdir())[0]
    times = changed.stat()
    Image.new("RGB", (40, 40), (200, 10, 10)).save(changed, format="PNG")
    os.utime(changed, ns=(times.st_atime_ns, times.st_mtime_ns))  # its old times put back
    read = _counting_inspect(monkeypatch)
    again = load_faces(tmp_path / "r", tmp_path / "f", progress=False, cache=cache)
    assert read == [str(changed)]
    i = list(again.filenames).index(str(changed))
    assert again.sha256[i] != first.sha256[list(first.filenames).index(str(changed))]
    assert again.width[i] == 40


def test_an_unusable_scan_cache_warns_and_scans(tmp_path):
    make_folder(tmp_path / "r", 2)
    make_folder(tmp_path / "f", 2, seed0=500)
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(UserWarning, match="scan cache .* cannot be used"):
        data = load_faces(tmp_path / "r", tmp_path / "f", progress=False, cache=blocker)
    assert len(data.filenames) == 4


def test_the_scan_cache_merges_its_records_and_drops_stale_ones(tmp_path):
    from skface.datasets._scan_cache import ScanCache

    files = []
    for i in range(70):
        f = tmp_path / "imgs" / f"a|{i}.png"  # a "|" in a name must not confuse the key
        f.parent.mkdir(exist_ok=True)
        f.write_bytes(b"x" * (i + 1))
        files.append(f)
    other = ScanCache(tmp_path / "cache", 5)  # another max_pixels shares the folder
    other.put([(other.key(files[0]), {"bytes": 1})])
    cache = ScanCache(tmp_path / "cache", 1000)
    for f in files:  # one record file per chunk, as a scan writes them
        cache.put([(cache.key(f), {"bytes": f.stat().st_size})])
    files[1].unlink()
    files[2].write_bytes(b"changed")
    reopened = ScanCache(tmp_path / "cache", 1000)
    assert len(list(reopened.folder.glob("*.jsonl"))) == 1
    assert len(reopened.records) == 70 - 2 + 1
    assert reopened.get(reopened.key(files[3])) == {"bytes": 4}
    assert reopened.get(reopened.key(files[2])) is None
    assert ScanCache(tmp_path / "cache", 5).get(other.key(files[0])) == {"bytes": 1}
