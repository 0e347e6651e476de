import csv
import os

import numpy as np
import pytest

from skface.datasets import MANIFEST_COLUMNS, build_dataset, read_manifest, write_manifest
from skface.datasets import _manifest

from .conftest import make_folder


@pytest.fixture
def built(tmp_path):
    make_folder(tmp_path / "data" / "real", 12, seed0=0)
    make_folder(tmp_path / "data" / "fake", 12, seed0=100)
    return build_dataset(tmp_path / "data" / "real", tmp_path / "data" / "fake",
                         random_state=0, progress=False)


def test_round_trip(tmp_path, built):
    out = write_manifest(built, tmp_path / "m" / "manifest.csv")
    with open(out, newline="") as fh:
        header = next(csv.reader(fh))
    assert tuple(header) == MANIFEST_COLUMNS
    back = read_manifest(out, verify=True)
    assert list(back.filenames) == [os.path.abspath(f) for f in built.filenames]
    for key in ("target", "group", "width", "height", "bytes", "exif"):
        assert np.array_equal(back[key], built[key]), key
    for key in ("source", "split", "sha256", "format"):
        assert list(back[key]) == list(built[key]), key
    assert np.allclose(back.jpeg_quality, built.jpeg_quality, equal_nan=True)
    assert not [f for f in os.listdir(out.parent) if f.endswith(".tmp")]


def test_relative_paths(tmp_path, built):
    out = write_manifest(built, tmp_path / "data" / "manifest.csv", root=tmp_path / "data")
    rows = list(csv.DictReader(open(out, newline="")))
    assert rows[0]["path"].startswith(("real/", "fake/"))
    back = read_manifest(out, verify=True)
    assert all(os.path.isfile(f) for f in back.filenames)
    with pytest.raises(ValueError, match="not under root"):
        write_manifest(built, tmp_path / "x.csv", root=tmp_path / "elsewhere")
    # a root reached through a symbolic link
    (tmp_path / "link").symlink_to(tmp_path / "data", target_is_directory=True)
    linked = write_manifest(built, tmp_path / "link" / "m2.csv", root=tmp_path / "link")
    assert [r["path"] for r in csv.DictReader(open(linked, newline=""))] == \
        [r["path"] for r in rows]


def test_paths_and_sources_round_trip_exactly(tmp_path):
    """Blanks around a file or source name are part of it; a spreadsheet's BOM is not."""
    from PIL import Image

    for sub in (" real", "fake "):
        (tmp_path / sub).mkdir()
        Image.new("RGB", (8, 8), (9, 9, 9)).save(tmp_path / sub / " a.png")
    text = ("path,label,source\n"
            " real/ a.png,real, cam \n"
            "fake / a.png, fake ,gan\n")
    for name, encoding in (("m.csv", "utf-8"), ("bom.csv", "utf-8-sig")):
        (tmp_path / name).write_text(text, encoding=encoding)
        back = read_manifest(tmp_path / name, verify=True)
        assert list(back.filenames) == [str(tmp_path / " real" / " a.png"),
                                        str(tmp_path / "fake " / " a.png")]
        assert list(back.source) == [" cam ", "gan"] and list(back.target) == [0, 1]


def test_atomic_write_keeps_old_file_on_failure(tmp_path, built, monkeypatch):
    path = tmp_path / "manifest.csv"
    path.write_text("old content\n")

    class Boom:
        def __init__(self, fh):
            pass

        def writerow(self, row):
            raise KeyboardInterrupt

    monkeypatch.setattr(_manifest.csv, "writer", Boom)
    with pytest.raises(KeyboardInterrupt):
        write_manifest(built, path)
    assert path.read_text() == "old content\n"
    assert os.listdir(tmp_path) == ["manifest.csv"] or "manifest.csv" in os.listdir(tmp_path)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def _write(path, text):
    path.write_text(text)
    return path


def test_read_errors(tmp_path, built):
    with pytest.raises(ValueError, match="not found"):
        read_manifest(tmp_path / "none.csv")
    with pytest.raises(ValueError, match="empty"):
        read_manifest(_write(tmp_path / "a.csv", ""))
    with pytest.raises(ValueError, match=r"lacks required column\(s\) \['label'\]"):
        read_manifest(_write(tmp_path / "b.csv", "path,source\nx.jpg,s\n"))
    with pytest.raises(ValueError, match="no rows"):
        read_manifest(_write(tmp_path / "c.csv", "path,label\n"))
    with pytest.raises(ValueError, match=r"line 3: label 'maybe' is not one of \['real', 'fake'\]"):
        read_manifest(_write(tmp_path / "d.csv", "path,label\na.jpg,real\nb.jpg,maybe\n"))
    with pytest.raises(ValueError, match="unknown split"):
        read_manifest(_write(tmp_path / "e.csv", "path,label,split\na.jpg,real,dev\n"))
    with pytest.raises(ValueError, match="column 'width' has 'wide'"):
        read_manifest(_write(tmp_path / "f.csv", "path,label,width\na.jpg,fake,wide\n"))
    minimal = read_manifest(_write(tmp_path / "g.csv", "path,label\na.jpg,fake\n"))
    assert minimal.filenames[0] == str(tmp_path / "a.jpg") and minimal.target[0] == 1
    out = write_manifest(built, tmp_path / "m.csv")
    with open(built.filenames[0], "ab") as fh:
        fh.write(b"changed")
    with pytest.raises(ValueError, match="sha256 differs"):
        read_manifest(out, verify=True)
    os.remove(built.filenames[1])
    with pytest.raises(ValueError, match="missing"):
        read_manifest(out, verify=True)
    with pytest.raises(ValueError, match="filenames"):
        write_manifest({"target": [0]}, tmp_path / "z.csv")
    with pytest.raises(ValueError, match="targets"):
        write_manifest({"filenames": ["a"], "target": [0, 1]}, tmp_path / "z.csv")


def test_as_frame(tmp_path, built):
    pytest.importorskip("pandas")
    back = read_manifest(write_manifest(built, tmp_path / "m.csv"), as_frame=True)
    assert set(back.frame.split) == {"train", "val", "test"}


def test_rows_added_by_oversampling_are_marked(tmp_path):
    """Oversampled rows could not be told from an image's own row."""
    make_folder(tmp_path / "real", 24, seed0=0)
    make_folder(tmp_path / "fake", 8, seed0=100)
    data = build_dataset(tmp_path / "real", tmp_path / "fake", balance="oversample",
                         random_state=0, progress=False)
    added = data.resampled == "added"
    assert set(data.resampled) == {"", "added"}
    assert not added[data.split == "test"].any()
    for split in ("train", "val"):
        m = data.split == split
        own = list(data.filenames[m & ~added])
        assert len(own) == len(set(own))  # each image once without the added rows
        assert set(data.filenames[m & added]) <= set(own)  # which only repeat its images
    assert (~added).sum() == len(set(data.filenames)) == 32
    assert f"{added.sum()} added by oversampling" in data.DESCR
    back = read_manifest(write_manifest(data, tmp_path / "m.csv"), as_frame=True)
    assert list(back.resampled) == list(data.resampled)
    assert list(back.frame["resampled"]) == list(data.resampled)
    none = build_dataset(tmp_path / "real", tmp_path / "fake", random_state=0, progress=False)
    assert set(none.resampled) == {""}
    # a manifest written before the column existed reads as before; a bad value is named
    rows = list(csv.reader(open(tmp_path / "m.csv", newline="")))
    with open(tmp_path / "old.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(r[:-1] for r in rows)
    assert "resampled" not in read_manifest(tmp_path / "old.csv")
    rows[1][-1] = "twice"
    with open(tmp_path / "bad.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    with pytest.raises(ValueError, match="resampled value.*'twice'"):
        read_manifest(tmp_path / "bad.csv")


def test_write_manifest_names_targets_it_cannot_write(tmp_path):
    """Boolean targets were written as the labels '[]' and "[['real' 'fake']]"; floats, text
    and None failed with raw numpy errors; a None path became '<cwd>/None'; a split or
    resampled value read_manifest refuses was written."""
    files = ["a.png", "b.png"]
    back = read_manifest(write_manifest({"filenames": files, "target": np.array([False, True])},
                                        tmp_path / "bool.csv"))
    assert back.target.tolist() == [0, 1]
    for target in ([0.0, 1.0], ["real", "fake"], [0, None], [0, 2]):
        with pytest.raises(ValueError, match="target values must be 0 .real. or 1 .fake."):
            write_manifest({"filenames": files, "target": target}, tmp_path / "x.csv")
    with pytest.raises(ValueError, match="no path at position"):
        write_manifest({"filenames": ["a.png", None], "target": [0, 1]}, tmp_path / "x.csv")
    for key, value in (("split", ["train", "bogus"]), ("resampled", ["x", ""])):
        with pytest.raises(ValueError, match=f"dataset\\['{key}'\\] holds"):
            write_manifest({"filenames": files, "target": [0, 1], key: value},
                           tmp_path / "x.csv")
    with pytest.raises(ValueError, match="target_names must be"):
        write_manifest({"filenames": files, "target": [0, 1], "target_names": ["a", "b"]},
                       tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_read_manifest_refuses_what_it_would_misread(tmp_path):
    """A second label column won silently (labels flipped), extra fields in a row were
    dropped, and a binary file gave a UnicodeDecodeError without the file name."""
    twice = tmp_path / "twice.csv"
    twice.write_text("path,label,label\nx.png,real,fake\n")
    with pytest.raises(ValueError, match=r"names the column\(s\) \['label'\] more than once"):
        read_manifest(twice)
    extra = tmp_path / "extra.csv"
    extra.write_text("path,label\nx.png,real\ny.png,fake,EXTRA\n")
    with pytest.raises(ValueError, match="extra.csv, line 3: 3 fields for the 2 columns"):
        read_manifest(extra)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"path,label\n\x89PNG\xff\xfe,real\n")
    with pytest.raises(ValueError, match="binary.csv is not UTF-8 text"):
        read_manifest(binary)


def test_verify_names_a_folder_as_a_folder(tmp_path):
    (tmp_path / "imgs").mkdir()
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\nimgs,real\n")
    with pytest.raises(ValueError, match="a folder, not a file: "):
        read_manifest(manifest, verify=True)


def test_read_manifest_refuses_short_rows(tmp_path):
    """A row with fewer fields than the header was read with no split and group -1: a filter
    on split == 'train' then dropped it without a word."""
    short = tmp_path / "short.csv"
    short.write_text("path,label,source,split,group\na.jpg,real,lfw,train,3\nb.jpg,fake\n")
    with pytest.raises(ValueError, match="short.csv, line 3: 2 fields for the 5 columns"):
        read_manifest(short)


def test_write_manifest_refuses_what_it_would_write_wrongly(tmp_path):
    """A missing source was written as a source named 'nan', and float group or size columns
    (a pandas column with a NaN) as '3.0', which read_manifest then refused."""
    base = {"filenames": np.array(["a.jpg", "b.jpg"], dtype=object), "target": np.array([0, 1])}
    with pytest.raises(ValueError, match=r"dataset\['source'\] has missing values .* \[1\]"):
        write_manifest({**base, "source": np.array(["ffhq", np.nan], dtype=object)},
                       tmp_path / "m.csv")
    with pytest.raises(ValueError, match=r"dataset\['group'\] holds 3.5 at position 0"):
        write_manifest({**base, "group": np.array([3.5, 4.0])}, tmp_path / "m.csv")
    assert not (tmp_path / "m.csv").exists()
    path = write_manifest({**base, "group": np.array([3.0, np.nan]),
                           "width": np.array([32.0, np.nan]), "height": [32, 32],
                           "bytes": np.array([100, 200], dtype=np.uint32)}, tmp_path / "m.csv")
    data = read_manifest(path)
    assert data.group.tolist() == [3, -1] and data.width.tolist() == [32, -1]
    assert data.height.tolist() == [32, 32] and data.bytes.tolist() == [100, 200]


def test_write_manifest_keeps_missing_metadata_missing_and_numbers_whole(tmp_path):
    """A missing exif (NaN) was written as 1, and jpeg_quality was cut to 6 digits."""
    base = {"filenames": ["a.jpg", "b.jpg", "c.jpg"], "target": [0, 1, 1]}
    exif = np.array([np.nan, None, True], dtype=object)
    data = read_manifest(write_manifest(
        {**base, "exif": exif, "jpeg_quality": [87.123456789, 1234567.0, np.nan]},
        tmp_path / "m.csv"))
    assert data.exif.tolist() == [False, False, True]  # blank reads as False, not written as 1
    assert "a.jpg,real,,,,,,,,,87.123456789,,\n" in (tmp_path / "m.csv").read_text()
    assert data.jpeg_quality[1] == 1234567.0 and np.isnan(data.jpeg_quality[2])


def test_write_manifest_names_a_file_name_that_is_not_utf8(tmp_path):
    """It failed with UnicodeEncodeError at a position in the CSV text, after the whole
    build."""
    bad = os.fsdecode(b"/tmp/\xff\xfe.png")
    with pytest.raises(ValueError, match=r"dataset\['filenames'\] holds .* at position 1, which "
                                         r"is not valid UTF-8"):
        write_manifest({"filenames": ["/tmp/a.png", bad], "target": [0, 1]}, tmp_path / "m.csv")
    assert not (tmp_path / "m.csv").exists()
