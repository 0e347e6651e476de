"""An offline demo data set: real LFW faces shipped with scikit-image, and fakes made here.

The real faces are the 100 face crops of :func:`skimage.data.lfw_subset` (images 0-99; images
100-199 of that set are background patches and are not used). The fakes are made by small
generator networks with fixed, seeded weights that this module runs on those faces. Each
generator up-samples a low-resolution face code to full size, as the decoders of GANs do, and so
leaves the periodic up-sampling traces that real GAN detectors pick up.

This is a *proxy* for the real protocol, which runs on face photographs and on faces made by
StyleGAN and friends (``skface fetch`` + ``skface build`` on the Kaggle sets, or your own
folders). It is small enough to train on in seconds on a laptop CPU.
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils import Bunch

from ..utils import atomic_write_bytes, check_seed, make_torch_generator

__all__ = ["load_demo_faces", "DEMO_GENERATORS"]

#: Names of the generators that make the demo fakes; each name is also the fakes' source label.
DEMO_GENERATORS = ("tconv", "resize-conv")

_REAL_SOURCE = "lfw"
_N_FACES = 100  # the first 100 images of skimage.data.lfw_subset are faces
_SIZE = 24  # the 25x25 crops are cut to 24x24 so that they halve evenly
_HIDDEN = 8  # channels inside a generator
_NOISE = 0.017  # strength of the per-pixel noise inputs

_DESCR = """\
skface demo faces (a proxy, not the real protocol)
--------------------------------------------------
Real: the 100 LFW face crops that scikit-image ships (skimage.data.lfw_subset, images 0-99),
cut to {size}x{size} gray. Fake: faces made by small generators with fixed seeded weights run
by skface on mixes of those faces: each fake mixes two real faces in a {low}x{low} code and
up-samples it back to {size}x{size}. Generators: 'tconv' (a stride-2 transposed convolution, the
up-sampler of DCGAN-style decoders, which leaves a checkerboard pattern) and 'resize-conv'
(nearest-neighbour up-sampling followed by convolutions, the up-sampler of StyleGAN-like
decoders). The source of each fake is its generator's name; the real faces have source 'lfw'.
``face_index`` holds, for each image, the index of the real face it is (or the face a fake is
mostly built from). A fake is a new picture, not a copy, and carries the other label, so it is
not a duplicate of its source face: the images can be split without groups.

Use it to learn the library and to check that a pipeline runs end to end. Numbers measured on
it say nothing about photographs versus StyleGAN faces: for that, run the protocol on the
Kaggle data sets (skface fetch + skface build) or on your own folders.
"""


def _real_faces():
    """The 100 LFW face crops as float32 in [0, 1], shape (100, 24, 24)."""
    from skimage.data import lfw_subset

    faces = np.asarray(lfw_subset()[:_N_FACES], dtype=np.float32)
    return np.clip(faces[:, :_SIZE, :_SIZE], 0.0, 1.0)


def _bilinear_kernel(size):
    """A (size, size) kernel that makes a stride-2 transposed convolution bilinear."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    og = np.arange(size, dtype=np.float32)
    filt = 1 - np.abs(og - center) / factor
    return np.outer(filt, filt).astype(np.float32)


def _generator_weights(name, gen):
    """Fixed weights of one generator, drawn from the torch generator ``gen``."""
    if name == "tconv":
        # 1 -> hidden channels, kernel 4, stride 2: a bilinear up-sampler per channel whose taps
        # are perturbed, so the four output phases get different gains (checkerboard).
        base = torch.from_numpy(_bilinear_kernel(4))
        gains = 0.6 + 0.8 * torch.rand(_HIDDEN, generator=gen)
        up = gains[:, None, None] * base + 0.008 * torch.randn(_HIDDEN, 4, 4, generator=gen)
        up = up[None]  # (in=1, out=hidden, 4, 4) for conv_transpose2d
    elif name == "resize-conv":
        # nearest up-sampling, then a 3x3 conv 1 -> hidden: smoothing plus a seeded perturbation.
        smooth = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16.0
        gains = 0.6 + 0.8 * torch.rand(_HIDDEN, generator=gen)
        up = gains[:, None, None] * smooth + 0.015 * torch.randn(_HIDDEN, 3, 3, generator=gen)
        up = up[:, None]  # (out=hidden, in=1, 3, 3) for conv2d
    else:
        raise ValueError(
            f"Unknown demo generator {name!r}; choose from {', '.join(DEMO_GENERATORS)}."
        )
    bias = 0.02 * torch.randn(_HIDDEN, generator=gen)
    # hidden -> 1 channel, 3x3: a sharpening filter that averages the channels (a trained
    # decoder restores detail the code lost), plus a seeded perturbation.
    sharpen = torch.tensor([[0.0, -0.3, 0.0], [-0.3, 2.2, -0.3], [0.0, -0.3, 0.0]])
    share = torch.softmax(torch.randn(_HIDDEN, generator=gen), dim=0)
    mix = share[:, None, None] * sharpen + 0.003 * torch.randn(_HIDDEN, 3, 3, generator=gen)
    mix = mix[None]
    noise_strength = _NOISE * (0.5 + torch.rand(_HIDDEN, generator=gen))
    return up, bias, mix, noise_strength


def _run_generator(name, codes, weights, ref, noise):
    """Up-sample ``codes`` (N, 1, 12, 12) to (N, 1, 24, 24) with generator ``name``.

    ``noise`` (N, 1, 24, 24) is added to the hidden channels with per-channel strengths, as
    StyleGAN's noise inputs add fine texture (skin, hair). The output gets the mean brightness
    and contrast of ``ref`` (N, 1, 24, 24), as a decoder trained to make photo-like faces would.
    """
    up, bias, mix, noise_strength = weights
    if name == "tconv":
        h = F.conv_transpose2d(codes, up, stride=2, padding=1)
    else:
        h = F.conv2d(F.interpolate(codes, scale_factor=2, mode="nearest"), up, padding=1)
    h = h + noise_strength[None, :, None, None] * noise
    h = F.leaky_relu(h + bias[None, :, None, None], negative_slope=0.2)
    out = F.conv2d(h, mix, padding=1)
    out_mean, out_std = out.mean(dim=(2, 3), keepdim=True), out.std(dim=(2, 3), keepdim=True)
    ref_mean, ref_std = ref.mean(dim=(2, 3), keepdim=True), ref.std(dim=(2, 3), keepdim=True)
    out = (out - out_mean) / (out_std + 1e-6) * ref_std + ref_mean
    return out.clamp(0.0, 1.0)


def _make_fakes(faces, name, n_fake, seed):
    """``n_fake`` fakes from generator ``name``: (float images (n, 24, 24), source-face ids)."""
    gen = make_torch_generator(seed)
    weights = _generator_weights(name, gen)
    n = faces.shape[0]
    first = torch.randint(n, (n_fake,), generator=gen)
    offset = torch.randint(1, n, (n_fake,), generator=gen)
    second = (first + offset) % n  # never the same face twice
    alpha = 0.55 + 0.3 * torch.rand(n_fake, generator=gen)
    flip = torch.rand(n_fake, generator=gen) < 0.5
    t = torch.from_numpy(faces)
    mixed = alpha[:, None, None] * t[first] + (1 - alpha[:, None, None]) * t[second]
    mixed = torch.where(flip[:, None, None], mixed.flip(-1), mixed)
    codes = F.avg_pool2d(mixed[:, None], 2)  # (n, 1, 12, 12): the low-resolution face code
    codes = codes + 0.01 * torch.randn(codes.shape, generator=gen)  # per-image latent noise
    with torch.no_grad():
        ref = torch.where(flip[:, None, None], t[first].flip(-1), t[first])[:, None]
        noise = torch.randn((n_fake, 1, _SIZE, _SIZE), generator=gen)
        fakes = _run_generator(name, codes, weights, ref, noise)
    return fakes[:, 0].numpy(), first.numpy()


def _to_uint8(images):
    return np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)


def _write_png(array, path):
    """Write one gray uint8 image to ``path`` atomically (temporary name, then rename)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array, mode="L").save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def load_demo_faces(
    *,
    generators=DEMO_GENERATORS,
    n_fake_per_generator=50,
    random_state=0,
    out_dir=None,
    return_X_y=False,
):
    """Load the offline demo set: real LFW faces and fakes made by small seeded generators.

    The real faces are the 100 LFW face crops that scikit-image ships
    (:func:`skimage.data.lfw_subset`), cut to 24x24 gray. The fakes are made by skface itself:
    each mixes two real faces in a 12x12 code and up-samples it back to 24x24 with a generator
    of fixed, seeded weights, as the decoder of a GAN does. The demo runs offline and trains in
    seconds, but it is only a **proxy**: the real protocol runs on photographs and StyleGAN
    faces, fetched with :func:`skface.datasets.fetch_ffhq`, :func:`skface.datasets.fetch_tpdne`
    and :func:`skface.datasets.fetch_lfw` or read from your own folders.

    Parameters
    ----------
    generators : sequence of str, default=("tconv", "resize-conv")
        The generators that make fakes; each name is the source label of its fakes.
        ``"tconv"`` up-samples with a stride-2 transposed convolution (checkerboard traces);
        ``"resize-conv"`` with nearest-neighbour resizing followed by convolutions.
    n_fake_per_generator : int, default=50
        Fakes made by each generator. With the defaults the set holds 100 real and 100 fake
        faces.
    random_state : int, RandomState instance or None, default=0
        Seeds the generator weights and the choice of faces that each fake mixes. The default
        gives the canonical demo set; the same seed always gives the same images.
    out_dir : str or path-like, optional
        When given, also write the images as PNG files into ``out_dir/real/lfw/`` and
        ``out_dir/fake/<generator>/`` so that path-based pipelines and the ``skface`` command
        line can run on them. Existing files of the same name are replaced; any other file
        in ``out_dir`` (an earlier call's other generators, say) raises ``ValueError``, since
        a scan of the folder would mix it with this set.
    return_X_y : bool, default=False
        If True, return ``(images, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the fields below. With ``return_X_y=True``, the tuple
        ``(images, target)`` instead.

        - ``images``: ndarray of shape (n_samples, 1, 24, 24), dtype uint8 -- gray images,
          channels first (the layout :class:`skface.FaceCNNClassifier` takes).
        - ``target``: ndarray of shape (n_samples,), dtype int64 -- 0 for real, 1 for
          AI-generated.
        - ``target_names``: ``["real", "fake"]``.
        - ``source``: ndarray of str -- ``"lfw"`` for the real faces, otherwise the generator.
        - ``face_index``: ndarray of int64 -- the index (0-99) of the real face each image is
          (real) or is mostly built from (fake), for analyses that pair fakes with their source
          faces. It is not a duplicate group: a fake is a new picture with the other label.
        - ``filenames``: ndarray of str or None -- the written paths when ``out_dir`` is given.
        - ``DESCR``: a description of the set, saying that it is a proxy.

    Examples
    --------
    >>> from skface.datasets import load_demo_faces
    >>> demo = load_demo_faces()
    >>> demo.images.shape, demo.target.mean()
    ((200, 1, 24, 24), np.float64(0.5))
    >>> sorted(set(demo.source))
    ['lfw', 'resize-conv', 'tconv']
    """
    if isinstance(generators, str):
        generators = (generators,)
    generators = tuple(generators)
    if not generators:
        raise ValueError("generators must name at least one demo generator.")
    for name in generators:
        if name not in DEMO_GENERATORS:
            raise ValueError(
                f"Unknown demo generator {name!r}; choose from {', '.join(DEMO_GENERATORS)}."
            )
    if len(set(generators)) != len(generators):
        raise ValueError(f"generators has repeated names: {list(generators)!r}.")
    if (
        isinstance(n_fake_per_generator, bool)
        or not isinstance(n_fake_per_generator, (int, np.integer))
        or n_fake_per_generator < 1
    ):
        raise ValueError(
            f"n_fake_per_generator must be a positive int, got {n_fake_per_generator!r}."
        )
    seed = check_seed(random_state)

    faces = _real_faces()
    images = [_to_uint8(faces)]
    target = [np.zeros(len(faces), dtype=np.int64)]
    source = [np.full(len(faces), _REAL_SOURCE, dtype=object)]
    face_index = [np.arange(len(faces), dtype=np.int64)]
    for k, name in enumerate(generators):
        # each generator gets its own stream, so adding one never changes another's images
        gen_seed = (seed + 7919 * (DEMO_GENERATORS.index(name) + 1)) % (2**31 - 1)
        fakes, first = _make_fakes(faces, name, int(n_fake_per_generator), gen_seed)
        images.append(_to_uint8(fakes))
        target.append(np.ones(len(fakes), dtype=np.int64))
        source.append(np.full(len(fakes), name, dtype=object))
        face_index.append(first.astype(np.int64))
    images = np.concatenate(images)[:, None]
    target = np.concatenate(target)
    source = np.concatenate(source)
    face_index = np.concatenate(face_index)

    filenames = None
    if out_dir is not None:
        filenames = _write_demo_files(Path(out_dir), images, target, source)

    if return_X_y:
        return images, target
    return Bunch(
        images=images,
        target=target,
        target_names=np.array(["real", "fake"]),
        source=source,
        face_index=face_index,
        filenames=filenames,
        DESCR=_DESCR.format(size=_SIZE, low=_SIZE // 2),
    )


def _write_demo_files(root, images, target, source):
    """Write the images under ``root/{real,fake}/<source>/``; return the paths."""
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"out_dir {str(root)!r} exists and is not a folder.")
    paths = []
    counters = {}
    for y, src in zip(target, source):
        label = "fake" if y == 1 else "real"
        i = counters.get(src, 0)
        counters[src] = i + 1
        paths.append(root / label / src / f"{src}_{i:04d}.png")
    # a folder scan must find exactly this set: other files (an earlier call's other
    # generators or sizes, or the user's own) would join it without a word
    if root.is_dir():
        planned = set(paths)
        others = sorted(p for p in root.rglob("*") if not p.is_dir() and p not in planned)
        if others:
            shown = ", ".join(str(p.relative_to(root)) for p in others[:3])
            raise ValueError(
                f"out_dir {str(root)!r} holds {len(others)} file(s) this call does not write "
                f"({shown}{', ...' if len(others) > 3 else ''}); a scan of the folder would "
                "mix them with the demo set. Use an empty folder, or remove them first.")
    for img, path in zip(images, paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_png(img[0], path)
    return np.array([str(p) for p in paths])
