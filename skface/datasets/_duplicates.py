"""Exact (sha256) and near (perceptual hash) duplicate detection across image sources."""

import warnings
from collections import Counter

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.utils import Bunch

from ..preprocessing._loader import check_max_pixels
from ._decode import _HASH, DEFAULT_MAX_PIXELS, SkipImage, hash_image
from ._scan import SkippedFilesWarning, run_chunked, stop_if_interrupted


def _hash_chunk(paths, max_pixels):
    out = []
    for p in paths:
        try:
            out.append((p, hash_image(p, max_pixels=max_pixels), None))
        except SkipImage as exc:
            out.append((p, None, str(exc)))
        except Exception as exc:  # noqa: BLE001
            out.append((p, None, f"unexpected error: {exc.__class__.__name__}: {exc}"))
    return out


#: Bytes of a perceptual hash (a 16 x 16 grid of bits).
_HASH_BYTES = _HASH * _HASH // 8


def check_threshold(threshold):
    """Refuse a near-duplicate threshold that is not an int in [0, 255] (bits of 256)."""
    if not isinstance(threshold, (int, np.integer)) or isinstance(threshold, bool) \
            or not 0 <= threshold < 256:
        raise ValueError(f"threshold must be an int in [0, 255], got {threshold!r}.")


def _is_hash(value):
    """Whether ``value`` is a hexadecimal string of the perceptual hash's length (a data set
    with a file that could not be hashed is hashed again, so None never reaches it)."""
    try:
        return isinstance(value, str) and len(bytes.fromhex(value)) == _HASH_BYTES
    except ValueError:
        return False


def _hex_to_bytes(hexes):
    return np.frombuffer(bytes.fromhex("".join(hexes)), dtype=np.uint8).reshape(len(hexes), -1)


def hamming_pairs(hashes, threshold, *, block=1024, progress=False):
    """Return ``(i, j, distance)`` for all pairs ``i < j`` of packed hashes within ``threshold``.

    ``hashes`` is a ``(n, n_bytes)`` uint8 array. With the bits ``B`` as a 0/1 matrix, the
    Hamming distance is ``|b_i| + |b_j| - 2 b_i . b_j``, so all pairs come from one BLAS matrix
    product per block of rows (exact in float32 for hashes up to 2**24 bits). Memory stays at
    the unpacked bits (``n x bits`` float32), one ``block x n`` float32 matrix and a boolean
    mask of the same shape (10,000 256-bit hashes: 84 MB). ``progress`` shows a tqdm bar of
    the pairs compared (the work grows with the square of ``n``).
    """
    from tqdm.auto import tqdm

    hashes = np.ascontiguousarray(hashes, dtype=np.uint8)
    n = hashes.shape[0]
    bits = np.unpackbits(hashes, axis=1).astype(np.float32)
    ones = bits.sum(axis=1)
    rows, cols, dists = [], [], []
    with tqdm(total=n * (n + 1) // 2, desc="Comparing images", unit="pair", unit_scale=True,
              disable=not progress) as bar:
        for start in range(0, n, block):
            stop = min(n, start + block)
            rows_i, cols_j, d = _block_pairs(bits, ones, start, stop, threshold)
            rows.append(rows_i)
            cols.append(cols_j)
            dists.append(d)
            bar.update((stop - start) * (n - start) - (stop - start) * (stop - start - 1) // 2)
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return (np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64),
            np.concatenate(dists))


def _block_pairs(bits, ones, start, stop, threshold):
    """The pairs of :func:`hamming_pairs` whose first image is in rows ``start:stop``."""
    d = bits[start:stop] @ bits[start:].T  # then in place: no second block-sized array
    d *= -2.0
    d += ones[start:stop, None]
    d += ones[None, start:]
    i, j = np.nonzero(d <= threshold + 0.5)
    upper = j > i  # both are relative to `start` here
    i, j = i[upper], j[upper]
    return i + start, j + start, np.rint(d[i, j]).astype(np.int64)


def _source_pairs(a, b=None):
    """Image pairs per sorted source pair: within one multiset of sources (``a``, a
    ``Counter``), or between two (``a`` and ``b``)."""
    out = Counter()
    if b is None:
        names = sorted(a)
        for k, s in enumerate(names):
            if a[s] > 1:
                out[(s, s)] += a[s] * (a[s] - 1) // 2
            for t in names[k + 1:]:
                out[(s, t)] += a[s] * a[t]
    else:
        for s, m in a.items():
            for t, k in b.items():
                out[tuple(sorted((s, t)))] += m * k
    return out


def _near_pairs(hashes, mirrors, threshold, progress=False):
    """``(i, j, distance)`` for the pairs ``i < j`` of pictures within ``threshold``, as they
    are or one of them flipped left-right (``mirrors`` holds the hashes of the mirror images;
    None: as they are only): the smaller of the two distances. One :func:`hamming_pairs` over
    both sets of hashes."""
    if mirrors is None:
        return hamming_pairs(hashes, threshold, progress=progress)
    r = len(hashes)
    a, b, d = hamming_pairs(np.concatenate([hashes, mirrors]), threshold, progress=progress)
    keep = (a < r) & (b % r != a)  # a picture against another, or another's mirror image
    i, j, d = a[keep], b[keep] % r, d[keep]
    i, j = np.minimum(i, j), np.maximum(i, j)
    order = np.lexsort((d, j, i))  # per pair, the smaller distance first
    i, j, d = i[order], j[order], d[order]
    first = np.ones(len(i), dtype=bool)
    first[1:] = (i[1:] != i[:-1]) | (j[1:] != j[:-1])
    return i[first], j[first], d[first]


def _pair_counts_between(reps, ri, rj, group_sources):
    """Image pairs per sorted source pair over the group pairs ``(reps[ri], reps[rj])``,
    each the product of the two groups' source counts, summed as matrix products."""
    names = sorted({s for r in reps.tolist() for s in group_sources[r]})
    col = {s: k for k, s in enumerate(names)}
    counts = np.zeros((len(reps), len(names)))
    for row, r in enumerate(reps.tolist()):
        for s, k in group_sources[r].items():
            counts[row, col[s]] = k
    total = np.zeros((len(names), len(names)))
    for start in range(0, len(ri), 1 << 20):  # bounded memory for huge clusters
        part = slice(start, start + (1 << 20))
        total += counts[ri[part]].T @ counts[rj[part]]
    out = Counter()
    for a in range(len(names)):
        for b in range(a, len(names)):
            k = int(round(total[a, b] + (total[b, a] if b != a else 0.0)))
            if k:
                out[(names[a], names[b])] = k
    return out


def _spanning_links(n, ri, rj, rd):
    """The ``(i, j, distance)`` edges of a minimum spanning forest of the graph of ``n`` nodes
    with edges ``(ri, rj)`` weighted by distance: the closest links that join each group."""
    from scipy.sparse.csgraph import minimum_spanning_tree

    # distinct hashes are at least one bit apart; +1 keeps every weight above zero (a zero
    # weight is no edge to scipy)
    graph = coo_matrix((rd.astype(np.float64) + 1.0, (ri, rj)), shape=(n, n)).tocsr()
    forest = minimum_spanning_tree(graph).tocoo()
    lo, hi = np.minimum(forest.row, forest.col), np.maximum(forest.row, forest.col)
    order = np.lexsort((hi, lo))
    return [(int(a), int(b), int(round(w - 1.0)))
            for a, b, w in zip(lo[order], hi[order], forest.data[order])]


class DuplicateReport(Bunch):
    """Summary of :func:`find_duplicates` (a ``Bunch``; ``str()`` gives a readable table).

    Keys: ``n_images``, ``filenames`` (the images in the order given, which ``pairs`` index),
    ``n_groups``, ``n_duplicate_images`` (images in a group of two or more),
    ``n_redundant`` (images that keeping one per group would drop), ``n_exact_pairs``,
    ``n_near_pairs`` (every pair of images, counted), ``by_source_pair``
    (``{(source_a, source_b): {"exact": n, "near": n}}``, pairs within one source use
    ``(a, a)``), ``pairs`` (the links that form the groups, ``(i, j, distance, kind)`` rows
    where ``i`` and ``j`` index ``filenames`` (not the rows of a data set built from them):
    each extra copy of a file to its first copy, ``"exact"``; each first copy to the first
    image of its perceptual hash, ``"near"`` at distance 0; and among the first images of
    different hashes within ``threshold`` the closest links that join them (a minimum spanning
    forest), ``"near"``; one row per image of a group, not one per pair: the pair counts above
    count every pair),
    ``mixed_label_groups`` (group ids whose members carry both labels, when labels were given),
    ``threshold`` and ``skipped``.
    """

    def __str__(self):
        lines = [
            f"{self.n_images} images, {self.n_groups} distinct pictures; "
            f"{self.n_duplicate_images} images have a duplicate ({self.n_exact_pairs} exact "
            f"pairs, {self.n_near_pairs} near pairs at Hamming <= {self.threshold}); "
            f"keeping one per group drops {self.n_redundant}."
        ]
        if self.by_source_pair:
            lines.append(f"{'source A':<28} {'source B':<28} {'exact':>7} {'near':>7}")
            for (a, b), c in sorted(self.by_source_pair.items()):
                lines.append(f"{a:<28} {b:<28} {c['exact']:>7} {c['near']:>7}")
        if len(self.mixed_label_groups):
            lines.append(f"{len(self.mixed_label_groups)} group(s) hold both real and fake labels.")
        return "\n".join(lines)

    __repr__ = __str__


def find_duplicates(filenames, *, source=None, y=None, threshold=24,
                    max_pixels=DEFAULT_MAX_PIXELS, n_jobs=None, progress=True):
    """Group exact and near-duplicate images, across all sources.

    Exact duplicates share a sha256 of the file bytes. Near duplicates (re-encoded, resized,
    lightly edited copies) have 256-bit DCT perceptual hashes (16x16 low frequencies of a 64x64
    grey thumbnail) within ``threshold`` bits; a copy flipped left-right is a near duplicate
    too, its hash compared with the hash of the other image's mirror image (a flipped copy is
    as far from the original, as it is, as an unrelated picture, and a model that averages
    each face with its mirror, ``tta=True``, would see it). Images are linked and groups are
    the connected components, so a chain of near copies ends up in one group. Copies of one
    file, or of one perceptual hash, are linked through their first image: a thousand identical
    placeholder images cost a thousand links, not half a million pairs (the pair counts are
    still given).

    Parameters
    ----------
    filenames : array-like of str or Bunch
        Image paths, or a Bunch from :func:`load_faces` (its ``filenames``, ``source``,
        ``target``, ``sha256`` and ``phash`` are reused, so nothing is decoded again).
    source : array-like of str, optional
        Source name per image, for the per-source-pair counts.
    y : array-like, optional
        Labels; groups holding both labels are listed in ``mixed_label_groups``.
    threshold : int, default=24
        Largest Hamming distance (out of 256 bits) still counted as the same picture. A resize
        plus JPEG re-encode of a photo-sized image moves its hash by at most about 8 bits (a
        slight crop can move it by 40: crops are not reliably caught); different aligned faces
        (FFHQ, CelebA-HQ, StyleGAN) were never closer than 42 bits on the development set.
    max_pixels : int, default=89_478_485
        Larger images are skipped as decompression bombs.
    n_jobs : int, default=None
        joblib workers for hashing.
    progress : bool, default=True
        Show tqdm progress bars while hashing and while comparing the hashes (whose cost grows
        with the square of the number of images).

    Returns
    -------
    groups : ndarray of shape (n_images,)
        Group id per image; equal ids mean the same picture. Ids are numbered ``0, 1, ...`` in
        order of first appearance. Images that could not be read get ``-1`` and are listed in
        ``report.skipped``.
    report : DuplicateReport
        Counts overall and per source pair, and the links between images (``pairs``, indices
        into ``filenames``, which the report holds).

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C while hashing. Duplicate groups of part of the files would mislead, so
        nothing partial is returned and the next call reads every file again;
        :func:`load_faces` keeps the part it finished.
    """
    check_max_pixels(max_pixels)
    check_threshold(threshold)

    sha = phash = mirror = None
    if isinstance(filenames, dict):  # a Bunch from load_faces / build_dataset
        bunch = filenames
        if "filenames" not in bunch:
            raise ValueError("find_duplicates needs 'filenames' in the data set it is given.")
        filenames = bunch["filenames"]
        source = bunch.get("source") if source is None else source
        y = bunch.get("target") if y is None else y
        if "sha256" in bunch and "phash" in bunch and all(bunch["phash"]):
            sha, phash = list(bunch["sha256"]), list(bunch["phash"])
            # hashes of the mirror images (load_faces writes them): without them, as in a data
            # set made by hand, flipped copies are not looked for
            mirror = (list(bunch["phash_mirror"]) if "phash_mirror" in bunch
                      and all(bunch["phash_mirror"]) else None)
            for key, column in (("sha256", sha), ("phash", phash), ("phash_mirror", mirror)):
                if column is None:
                    continue
                # a short column left the last files unhashed, counted as unreadable unsaid
                if len(column) != len(bunch["filenames"]):
                    raise ValueError(f"The data set has {len(column)} '{key}' entries for "
                                     f"{len(bunch['filenames'])} filenames.")
            for key, column in (("phash", phash), ("phash_mirror", mirror or [])):
                bad = [h for h in column if not _is_hash(h)]
                if bad:
                    raise ValueError(f"'{key}' holds {bad[0]!r}, not a hexadecimal perceptual "
                                     "hash as load_faces writes it.")
    filenames = np.asarray(filenames, dtype=object).ravel()
    n = len(filenames)
    if n == 0:
        raise ValueError("find_duplicates needs at least one file name.")
    if source is not None:
        source = np.asarray(source, dtype=object).ravel()
        if len(source) != n:
            raise ValueError(f"source has {len(source)} entries for {n} file names.")
    if y is not None:
        y = np.asarray(y).ravel()
        if len(y) != n:
            raise ValueError(f"y has {len(y)} entries for {n} file names.")

    skipped = []
    if sha is None:
        sha, phash, mirror = [], [], []
        for path, hashes, reason in run_chunked(_hash_chunk, list(filenames), (max_pixels,),
                                                n_jobs=n_jobs, progress=progress,
                                                desc="Hashing images"):
            sha.append(hashes[0] if hashes else None)
            phash.append(hashes[1] if hashes else None)
            mirror.append(hashes[2] if hashes else None)
            if reason is not None:
                skipped.append((path, reason))
        stop_if_interrupted((r for _, r in skipped), "find_duplicates")
    ok = np.array([s is not None for s in sha])
    idx_ok = np.flatnonzero(ok)
    src = source if source is not None else np.array(["all"] * n, dtype=object)
    src = np.array([str(v) for v in src], dtype=object)

    # Images are linked in three layers, so that n copies of one picture cost n links, not
    # n * (n - 1) / 2 pairs: each image to the first image with its bytes (exact), each such
    # first image to the first image with its perceptual hash (near, distance 0), and the first
    # images of different hashes within ``threshold`` to each other (near). The pair counts,
    # overall and per source pair, are computed from the sizes of the layers.
    by_sha = {}
    for i in idx_ok:
        by_sha.setdefault(sha[i], []).append(int(i))
    by_hash = {}  # perceptual hash -> first images of its byte contents
    for members in by_sha.values():
        by_hash.setdefault(phash[members[0]], []).append(members[0])
    sha_members = {members[0]: members for members in by_sha.values()}
    hash_members = {firsts[0]: [i for f in firsts for i in sha_members[f]]
                    for firsts in by_hash.values()}

    links = []  # (i, j, distance, kind)
    by_pair = {}
    n_exact = n_near = 0

    def count(kind, pairs):
        for key, k in pairs.items():
            by_pair.setdefault(key, {"exact": 0, "near": 0})[kind] += k
        return sum(pairs.values())

    # the sources of each layer's groups, counted once
    sha_sources = {f: Counter(src[members]) for f, members in sha_members.items()}
    hash_sources = {f: Counter(src[members]) for f, members in hash_members.items()}
    for first, members in sha_members.items():
        links += [(first, i, 0, "exact") for i in members[1:]]
        n_exact += count("exact", _source_pairs(sha_sources[first]))
    for firsts in by_hash.values():
        if len(firsts) > 1:
            links += [(firsts[0], f, 0, "near") for f in firsts[1:]]
            within = _source_pairs(hash_sources[firsts[0]])
            for f in firsts:
                within.subtract(_source_pairs(sha_sources[f]))
            n_near += count("near", +within)
    reps = np.array(sorted(hash_members), dtype=np.int64)
    if len(reps) > 1:
        ri, rj, rd = _near_pairs(_hex_to_bytes([phash[i] for i in reps]),
                                 None if mirror is None else
                                 _hex_to_bytes([mirror[i] for i in reps]), threshold,
                                 progress=progress)
        if len(ri):
            # every pair within the threshold is counted, from arrays (a cluster of n
            # near-identical pictures has n * (n - 1) / 2 of them: per-pair Python objects
            # took 25 s and 2.5 GB for 4,000), but only the closest links that join them (a
            # minimum spanning forest) are kept as links
            n_near += count("near", _pair_counts_between(reps, ri, rj, hash_sources))
            for a, b, d in _spanning_links(len(reps), ri, rj, rd):
                links.append((int(reps[a]), int(reps[b]), d, "near"))

    edges = np.array([(a, b) for a, b, _, _ in links], dtype=np.int64).reshape(-1, 2)
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    groups = np.full(n, -1, dtype=np.int64)
    relabel = {}
    for i in idx_ok:
        groups[i] = relabel.setdefault(comp[i], len(relabel))

    sizes = Counter(groups[idx_ok])
    mixed = []
    if y is not None:
        labels = {}
        for i in idx_ok:
            labels.setdefault(groups[i], set()).add(y[i])
        mixed = sorted(g for g, s in labels.items() if len(s) > 1)
    pairs = np.array(sorted(links, key=lambda r: (r[3] != "exact", r[0], r[1])),
                     dtype=object).reshape(-1, 4)
    skipped_b = Bunch(filenames=np.array([p for p, _ in skipped], dtype=object),
                      reasons=np.array([r for _, r in skipped], dtype=object), n=len(skipped))
    if skipped:
        warnings.warn(f"find_duplicates could not read {len(skipped)} file(s); they get group -1. "
                      "See report.skipped.", SkippedFilesWarning, stacklevel=2)
    report = DuplicateReport(
        n_images=n,
        filenames=filenames,
        n_groups=len(sizes),
        n_duplicate_images=int(sum(c for c in sizes.values() if c > 1)),
        n_redundant=int(sum(c - 1 for c in sizes.values())),
        n_exact_pairs=int(n_exact),
        n_near_pairs=int(n_near),
        by_source_pair=by_pair,
        pairs=pairs,
        mixed_label_groups=np.array(mixed, dtype=np.int64),
        threshold=int(threshold),
        skipped=skipped_b,
    )
    return groups, report
