"""The experiments flow on the real face images (skipped when the folder is absent)."""


import numpy as np
import pytest

pytestmark = pytest.mark.data


def test_paths_pipeline_ablation_cross_source_and_report(tmp_path, faces_dir):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from skface.datasets import read_manifest
    from skface.experiments import cross_source_evaluate, run_ablation, write_report
    from skface.preprocessing import ImageLoader

    data = read_manifest(faces_dir / "manifest.csv")
    rng = np.random.default_rng(0)
    keep = []
    for src in np.unique(data.source):
        idx = np.flatnonzero(data.source == src)
        keep.extend(rng.choice(idx, min(12, len(idx)), replace=False))
    keep = np.array(sorted(keep))
    paths = [str(data.filenames[i]) for i in keep]
    y, sources = np.asarray(data.target)[keep], np.asarray(data.source)[keep]
    order = rng.permutation(len(y))
    a, b = int(0.6 * len(y)), int(0.8 * len(y))
    split = (order[:a], order[a:b], order[b:])

    pipe = Pipeline([
        ("load", ImageLoader(size=16)),
        ("flatten", FunctionTransformer(lambda X: X.reshape(len(X), -1) / 255.0)),
        ("classifier", LogisticRegression(max_iter=500)),
    ])
    table, details = run_ablation(pipe, {"classifier__C": [0.01, 1.0]}, paths, y, split,
                                  seeds=(0,), sources=sources, csv_path=None,
                                  return_details=True, progress=False)
    assert len(table) == 2
    ev = details.evaluations[(details.selected, 0)]
    assert ev.n_samples == len(split[2])
    cs = cross_source_evaluate(pipe, paths, y, sources, split=split, return_details=True,
                               progress=False)
    images = ImageLoader(size=16).fit_transform([paths[i] for i in split[2]])
    out = write_report(tmp_path / "real", evaluation=ev, ablation=(table, details),
                       cross_source=cs, images=images, manifest=faces_dir / "manifest.csv")
    assert (out / "manifest.csv").is_file() and (out / "figures" / "misclassified.png").is_file()
