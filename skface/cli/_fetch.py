"""``skface fetch``: download a public face set and lay its images out in a folder."""

import os
from pathlib import Path

from ._common import CLIError, existing_parent, positive_int, seed_arg, shell_quote

HELP = "download a public face data set (Kaggle / LFW) into a folder"
DESCRIPTION = """\
Download one of the public face sets named in the protocol and put its images (or a seeded
random subset of --max-images of them) into DEST, ready for `skface audit` and `skface build`.

Downloads are cached under --data-home (default: $SKFACE_DATA or ~/skface_data) and DEST gets
symbolic links to the cached files (--copy makes copies). The whole set is downloaded once,
whatever --max-images says (the Kaggle FFHQ copy is about 20 GB); the subset is taken from the
cache. The Kaggle sets need the `fetch`
extra (pip install "skface[fetch]") and a Kaggle API token; LFW comes through scikit-learn.
Real sets: ffhq, lfw. AI-generated sets: tpdne, all_these_people, ai_generated_faces."""
EXAMPLES = (
    "skface fetch tpdne --dest data/fake/tpdne --max-images 2000",
    "skface fetch lfw --dest data/real/lfw",
)

# name -> (fetcher name in skface.datasets, label)
NAMES = {
    "ffhq": ("fetch_ffhq", "real"),
    "lfw": ("fetch_lfw", "real"),
    "tpdne": ("fetch_tpdne", "fake"),
    "all_these_people": ("fetch_all_these_people", "fake"),
    "ai_generated_faces": ("fetch_ai_generated_faces", "fake"),
}


def add_arguments(p):
    p.add_argument("name", metavar="NAME", choices=sorted(NAMES),
                   help="data set: " + ", ".join(sorted(NAMES)))
    p.add_argument("--dest", required=True, metavar="DIR",
                   help="folder that receives the images (must be new or empty)")
    p.add_argument("--max-images", type=positive_int, default=None, metavar="N",
                   help="take a seeded random subset of N images (default: all); the whole set is "
                   "still downloaded and cached first")
    p.add_argument("--seed", type=seed_arg, default=0, help="seed of the subset")
    p.add_argument("--data-home", default=None, metavar="DIR",
                   help="download cache (default: $SKFACE_DATA or ~/skface_data)")
    p.add_argument("--copy", action="store_true", help="copy the files instead of linking them")


def run(args):
    import skface.datasets as ds
    from skface.datasets._fetch import _iter_images, place_files

    from skface.datasets._fetch import data_home_path
    from skface.utils._io import path_within

    # everything about --dest is checked before the download (FFHQ is about 20 GB), with an
    # absolute path ("." had put the temporary folder inside --dest)
    dest = Path(os.path.abspath(args.dest))
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise CLIError(f"--dest {dest} exists and is not an empty folder")
    parent = existing_parent(dest, "--dest")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CLIError(f"--dest {dest}: the folder {parent} cannot be written to")
    home = os.path.realpath(data_home_path(args.data_home))  # not created yet
    if path_within(dest, home):
        # links placed in the download cache are found by the next fetch as downloaded images
        raise CLIError(f"--dest {dest} lies inside the download cache {home}; give a folder "
                       "outside it")
    if path_within(home, dest):
        raise CLIError(f"the download cache {home} lies inside --dest {dest}, which is to "
                       "hold the images only; give a cache outside it (--data-home)")
    fetcher_name, label = NAMES[args.name]
    fetcher = getattr(ds, fetcher_name)
    folder = Path(fetcher(data_home=args.data_home, max_images=args.max_images,
                          random_state=args.seed))
    files = list(_iter_images(folder))
    if not files:
        raise CLIError(f"the download of {args.name} holds no image files ({folder})")

    from ._common import atomic_dir

    with atomic_dir(dest, "fetch", marker=False) as tmp:
        place_files(files, folder, tmp, copy=args.copy)
    print(f"{len(files)} {label} images of {args.name} in {dest}"
          f" ({'copies' if args.copy else 'links to ' + str(folder)})")
    print(f"next: skface audit --{label} {shell_quote(dest)} "
          f"--{'fake' if label == 'real' else 'real'} ...")
