import numpy as np
import pytest
from PIL import Image

from skface.datasets import load_demo_faces
from skface.datasets._demo import DEMO_GENERATORS, _bilinear_kernel


def test_default_shapes_labels_sources():
    demo = load_demo_faces()
    assert demo.images.shape == (200, 1, 24, 24)
    assert demo.images.dtype == np.uint8
    assert demo.target.tolist() == [0] * 100 + [1] * 100
    assert list(demo.target_names) == ["real", "fake"]
    assert demo.source[:100].tolist() == ["lfw"] * 100
    assert sorted(set(demo.source[100:])) == sorted(DEMO_GENERATORS)
    assert demo.face_index.shape == (200,)
    assert demo.face_index[:100].tolist() == list(range(100))
    assert demo.face_index.min() >= 0 and demo.face_index.max() < 100
    assert demo.filenames is None
    assert "proxy" in demo.DESCR


def test_real_faces_are_the_lfw_crops():
    from skimage.data import lfw_subset

    faces = lfw_subset()[:100, :24, :24]
    demo = load_demo_faces()
    np.testing.assert_array_equal(demo.images[:100, 0], np.rint(faces * 255).astype(np.uint8))


def test_deterministic_and_seed_dependent():
    a = load_demo_faces()
    b = load_demo_faces()
    np.testing.assert_array_equal(a.images, b.images)
    c = load_demo_faces(random_state=1)
    np.testing.assert_array_equal(a.images[:100], c.images[:100])  # the real faces never change
    assert not np.array_equal(a.images[100:], c.images[100:])


def test_generators_are_independent_streams():
    both = load_demo_faces(n_fake_per_generator=10)
    one = load_demo_faces(generators=["resize-conv"], n_fake_per_generator=10)
    np.testing.assert_array_equal(
        both.images[both.source == "resize-conv"], one.images[one.source == "resize-conv"]
    )
    assert one.images.shape[0] == 110


def test_fakes_are_new_images_with_upsampling_traces():
    demo = load_demo_faces()
    real = demo.images[:100, 0].astype(float) / 255
    for name in DEMO_GENERATORS:
        fake = demo.images[demo.source == name, 0].astype(float) / 255
        # no fake is a copy of a real face
        dists = np.abs(fake[:, None] - real[None]).mean(axis=(2, 3))
        assert dists.min() > 0.02
        # brightness and contrast are matched to real faces (no global shortcut)
        assert abs(fake.mean() - real.mean()) < 0.05
        assert abs(fake.std(axis=(1, 2)).mean() - real.std(axis=(1, 2)).mean()) < 0.05

    # the transposed convolution leaves a peak at the Nyquist frequency that real faces lack
    def nyquist_peak(imgs):
        spec = np.abs(np.fft.fft2(imgs - imgs.mean(axis=(1, 2), keepdims=True)))
        spec = np.log(spec + 1e-6).mean(axis=0)
        return spec[12, 12] - np.median(spec[8:17, 8:17])

    tconv = demo.images[demo.source == "tconv", 0].astype(float) / 255
    assert nyquist_peak(tconv) > nyquist_peak(real) + 1.0


def test_return_X_y():
    X, y = load_demo_faces(return_X_y=True, n_fake_per_generator=5)
    assert X.shape == (110, 1, 24, 24) and y.shape == (110,)


def test_write_files(tmp_path):
    demo = load_demo_faces(n_fake_per_generator=3, out_dir=tmp_path / "demo")
    assert len(demo.filenames) == 106
    reals = sorted((tmp_path / "demo" / "real" / "lfw").glob("*.png"))
    assert len(reals) == 100
    for name in DEMO_GENERATORS:
        assert len(list((tmp_path / "demo" / "fake" / name).glob("*.png"))) == 3
    assert not list((tmp_path / "demo").rglob("*.part"))
    for path, img in zip(demo.filenames[[0, 105]], demo.images[[0, 105]]):
        with Image.open(path) as im:
            np.testing.assert_array_equal(np.asarray(im), img[0])
    # writing again replaces the files in place
    load_demo_faces(n_fake_per_generator=3, out_dir=tmp_path / "demo")
    assert len(list((tmp_path / "demo").rglob("*.png"))) == 106
    # a smaller set would leave files a folder scan mixes in: refused, nothing written
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "demo").rglob("*.png")}
    with pytest.raises(ValueError, match=r"holds 3 file\(s\) this call does not write"):
        load_demo_faces(n_fake_per_generator=3, generators=("tconv",),
                        out_dir=tmp_path / "demo")
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "demo").rglob("*.png")} == before
    (tmp_path / "demo" / "real" / "lfw" / "mine.jpg").write_bytes(b"x")
    with pytest.raises(ValueError, match="mine.jpg"):
        load_demo_faces(n_fake_per_generator=3, out_dir=tmp_path / "demo")


def test_out_dir_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        load_demo_faces(out_dir=f)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"generators": ["stylegan"]}, "Unknown demo generator 'stylegan'"),
        ({"generators": []}, "at least one"),
        ({"generators": ["tconv", "tconv"]}, "repeated"),
        ({"n_fake_per_generator": 0}, "positive int"),
        ({"n_fake_per_generator": 2.5}, "positive int"),
        ({"n_fake_per_generator": True}, "positive int"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_demo_faces(**kwargs)


def test_bilinear_kernel_partitions_unity():
    k = _bilinear_kernel(4)
    # every output phase of a stride-2 transposed conv sums to one: flat in, flat out
    for i in range(2):
        for j in range(2):
            assert k[i::2, j::2].sum() == pytest.approx(1.0)


def test_splits_and_duplicate_finder_accept_the_demo(tmp_path):
    """No real/fake pair is a duplicate, so the protocol's split runs on the demo as is."""
    from skface.datasets import find_duplicates, train_val_test_split

    demo = load_demo_faces(out_dir=tmp_path)
    groups, report = find_duplicates(demo.filenames, y=demo.target, progress=False)
    assert len(report.mixed_label_groups) == 0
    train, val, test = train_val_test_split(demo.filenames, demo.target, groups=groups,
                                            random_state=0)
    assert len(train) + len(val) + len(test) == 200
