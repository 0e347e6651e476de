"""The model folder written by ``skface train``: image-loader settings + the saved classifier.

Layout::

    MODEL_DIR/
      skface-model.json   format tag, skface version, ImageLoader parameters, training summary
      config.json         FaceCNNClassifier.save: parameters, classes, history (JSON)
      weights.pt          FaceCNNClassifier.save: tensors only (loaded with weights_only=True)

Nothing in it is pickled, so loading a model folder never runs code from it.
``FaceCNNClassifier.load(MODEL_DIR)`` works on it directly as well.
"""

import json
from pathlib import Path

from ._common import CLIError, atomic_dir

MODEL_FILE = "skface-model.json"
MODEL_KIND = "skface-cli-model"
MODEL_FORMAT = 1


def _jsonable_params(params):
    out = {}
    for k, v in params.items():
        if isinstance(v, tuple):
            v = list(v)
        out[k] = v
    return out


def save_model(path, loader, clf, *, info=None):
    """Write a model folder atomically (temporary folder, then rename)."""
    from skface import __version__

    loader_params = _jsonable_params(loader.get_params(deep=False))
    loader_params["memory"] = None  # a cache folder is local to one machine
    meta = {
        "kind": MODEL_KIND,
        "format": MODEL_FORMAT,
        "skface_version": __version__,
        "loader": {"class": type(loader).__name__, "params": loader_params},
        "classifier": type(clf).__name__,
        "info": info or {},
    }
    with atomic_dir(path) as tmp:
        clf.save(tmp)
        (tmp / MODEL_FILE).write_text(json.dumps(meta, indent=2, default=str))
    return Path(path)


def load_model(path):
    """Read a model folder; return ``(loader, classifier, meta)``.

    Every problem (missing folder, a folder that is not a skface model, another format version,
    damaged files) raises :class:`CLIError` with one readable line.
    """
    from skface import FaceCNNClassifier
    from skface.preprocessing import ImageLoader

    path = Path(path)
    if not path.exists():
        raise CLIError(f"model folder does not exist: {path}")
    if not path.is_dir():
        raise CLIError(f"--model {path} is not a folder")
    meta_path = path / MODEL_FILE
    if not meta_path.is_file():
        raise CLIError(f"{path} is not a skface model folder (no {MODEL_FILE}); "
                       "make one with `skface train`")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise CLIError(f"{meta_path} is corrupted: {exc}") from None
    if not isinstance(meta, dict) or meta.get("kind") != MODEL_KIND:
        raise CLIError(f"{meta_path} does not describe a skface model folder")
    if meta.get("format") != MODEL_FORMAT:
        raise CLIError(
            f"{path} is a model folder of format {meta.get('format')!r} written by skface "
            f"{meta.get('skface_version')}; this skface reads format {MODEL_FORMAT}: retrain it"
        )
    try:
        loader_spec = meta["loader"]
        if loader_spec.get("class") != "ImageLoader":
            raise ValueError(f"unknown loader class {loader_spec.get('class')!r}")
        loader = ImageLoader(**loader_spec["params"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CLIError(f"{meta_path} is corrupted: bad loader settings ({exc})") from None
    try:
        clf = FaceCNNClassifier.load(path)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    return loader, clf, meta


def predict_paths(loader, clf, paths, *, batch_size=512):
    """P(fake) for image files, loaded in batches so that memory stays flat.

    Returns ``(p_fake, images)`` where ``images`` holds the loaded arrays (for reports) only
    when ``batch_size`` covers all paths, else None.
    """
    import numpy as np
    from tqdm.auto import tqdm

    fake_col = list(clf.classes_).index(1) if 1 in list(clf.classes_) else len(clf.classes_) - 1
    out, images = [], []
    starts = range(0, len(paths), batch_size)
    for start in tqdm(starts, desc="predict", unit="batch", disable=len(starts) < 2):
        X = loader.fit_transform(list(paths[start:start + batch_size]))
        out.append(clf.predict_proba(X)[:, fake_col])
        if len(starts) == 1:
            images.append(X)
    return np.concatenate(out), (images[0] if images else None)
