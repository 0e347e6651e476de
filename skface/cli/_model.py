"""The model folder written by ``skface train``: preprocessing settings + the saved classifier.

Layout::

    MODEL_DIR/
      skface-model.json   format tag, skface version, the preprocessing steps (class + params)
      config.json         FaceCNNClassifier.save: parameters, classes, history (JSON)
      weights.pt          FaceCNNClassifier.save: tensors only (loaded with weights_only=True)

Nothing in it is pickled, so loading a model folder never runs code from it: preprocessing
steps are rebuilt only from classes of :mod:`skface.preprocessing`, by name.
``FaceCNNClassifier.load(MODEL_DIR)`` works on it directly as well.
"""

import json
from pathlib import Path

import numpy as np

from ._common import PATH_BATCH, CLIError, atomic_dir, check_device

MODEL_FILE = "skface-model.json"
MODEL_KIND = "skface-cli-model"
MODEL_FORMAT = 1


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _step_spec(name, step):
    import skface.preprocessing as pre

    cls = type(step).__name__
    if cls not in pre.__all__:
        raise CLIError(f"cannot save pipeline step {name!r}: {cls} is not a skface.preprocessing "
                       "class")
    params = {k: _jsonable(v) for k, v in step.get_params(deep=False).items()}
    if "memory" in params:
        params["memory"] = None  # a cache folder belongs to one machine
    try:
        json.dumps(params)
    except TypeError as exc:
        raise CLIError(f"cannot save pipeline step {name!r}: {exc}") from None
    return {"name": name, "class": cls, "params": params}


def _active_steps(steps):
    """The steps that do something: ``"passthrough"`` and ``None`` steps pass images on as they
    are, so they are not saved."""
    return [(name, step) for name, step in steps if step not in (None, "passthrough")]


def save_model(path, pipeline, *, info=None):
    """Write a model folder atomically (temporary folder, then rename).

    ``pipeline`` is a :class:`~sklearn.pipeline.Pipeline` of stateless
    :mod:`skface.preprocessing` steps (or ``"passthrough"`` ones, which are left out) ending in
    a fitted :class:`skface.FaceCNNClassifier`.
    """
    from skface import __version__

    *pre, (clf_name, clf) = pipeline.steps
    meta = {
        "kind": MODEL_KIND,
        "format": MODEL_FORMAT,
        "skface_version": __version__,
        "steps": [_step_spec(n, s) for n, s in _active_steps(pre)],
        "classifier": {"name": clf_name, "class": type(clf).__name__},
        "info": info or {},
    }
    with atomic_dir(path, "train") as tmp:
        clf.save(tmp)
        (tmp / MODEL_FILE).write_text(json.dumps(meta, indent=2, default=str))
    return Path(path)


def load_model(path, device="auto"):
    """Read a model folder, its network on ``device``; return ``(pipeline, meta)``.

    Every problem (missing folder, a folder that is not a skface model, another format version,
    damaged files) raises :class:`CLIError` with one readable line.
    """
    import skface.preprocessing as pre
    from sklearn.pipeline import Pipeline

    from skface import FaceCNNClassifier

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
        steps = []
        for spec in meta["steps"]:
            if spec["class"] not in pre.__all__:
                raise ValueError(f"unknown step class {spec['class']!r}")
            steps.append((spec["name"], getattr(pre, spec["class"])(**spec["params"])))
        clf_name = meta["classifier"]["name"]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CLIError(f"{meta_path} is corrupted: bad preprocessing steps ({exc})") from None
    if not steps or type(steps[0][1]).__name__ != "ImageLoader":
        raise CLIError(f"{meta_path} is corrupted: the first step must be an ImageLoader")
    try:
        clf = FaceCNNClassifier.load(path, device=check_device(device))
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    # the commands draw their own progress bars (a model saved by `skface train` keeps its
    # training verbosity, which would add the classifier's bar inside theirs)
    clf.set_params(verbose=0)
    pipeline = Pipeline(steps + [(clf_name, clf)])
    if len(steps) > 1:
        # the steps between the loader and the network are stateless but, like a
        # FormatNormalizer, note the shape they are fitted on: fit them as training did, on
        # one blank image of the loader's output, so that the pipeline predicts as a whole
        from skface.preprocessing._loader import _check_size

        loader = steps[0][1]
        blank = np.zeros((1, 3 if loader.color == "rgb" else 1, *_check_size(loader.size)),
                         dtype=np.uint8)
        pipeline[1:-1].fit(blank)
    return pipeline, meta


def transform_paths(pipeline, paths):
    """Run image paths through the pipeline's preprocessing steps (all stateless; the
    :class:`~sklearn.pipeline.Pipeline` itself skips ``"passthrough"`` ones)."""
    return pipeline[:-1].fit_transform(list(paths))


def fake_column(clf):
    """Column of ``predict_proba`` that holds P(fake) (label 1)."""
    classes = list(clf.classes_)
    return classes.index(1) if 1 in classes else len(classes) - 1


def predict_paths(pipeline, paths, *, batch_size=PATH_BATCH, progress=True):
    """P(fake) for image files, in batches of ``batch_size`` files so memory stays flat; a
    progress bar counts the files (``progress=False``: none)."""
    from tqdm.auto import tqdm

    clf = pipeline.steps[-1][1]
    col = fake_column(clf)
    out = []
    with tqdm(total=len(paths), desc="predict", unit="image", disable=not progress) as bar:
        for start in range(0, len(paths), batch_size):
            X = transform_paths(pipeline, paths[start:start + batch_size])
            out.append(clf.predict_proba(X)[:, col])
            bar.update(len(X))
    return np.concatenate(out)
