"""
The ablation on real and AI-generated face photographs
======================================================

Reads a folder laid out as ``real/<source>/`` and ``fake/<source>/`` (its ``manifest.csv``, see
:func:`skface.datasets.write_manifest`, when there is one; otherwise the folders are scanned),
takes up to ``PER_SOURCE`` images per source, splits them 70 / 15 / 15 with a balanced test set,
runs the attention x focal-loss x class-weighting ablation (early stopping on the validation
split), a leave-one-source-out test, and writes a report folder. Without such a folder it says
so and stops (the offline examples, ``plot_*.py``, need no data).

Usage::

    SKFACE_FACES_DIR=/path/to/faces python examples/run_real_faces_ablation.py out/real-run

``PER_SOURCE``, ``SIZE`` and ``EPOCHS`` (environment variables) trade time for quality:
``PER_SOURCE=8 SIZE=16 EPOCHS=1`` runs in under a minute on two CPU cores; the defaults
(150, 32 and 4) train the 24 configurations on up to 150 images per source.
"""

import os
import sys
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline

from skface import FaceCNNClassifier
from skface.datasets import find_duplicates, load_faces, read_manifest, train_val_test_split
from skface.experiments import cross_source_evaluate, run_ablation, write_report
from skface.metrics import evaluate
from skface.preprocessing import ImageLoader

faces = Path(os.environ.get("SKFACE_FACES_DIR", "../shared/data/faces"))
out = Path(sys.argv[1] if len(sys.argv) > 1 else "real-faces-report")
per_source = int(os.environ.get("PER_SOURCE", 150))
size = int(os.environ.get("SIZE", 32))
epochs = int(os.environ.get("EPOCHS", 4))

if not ((faces / "real").is_dir() and (faces / "fake").is_dir()):
    print(f"No real/ and fake/ folders under {faces}; set SKFACE_FACES_DIR to a folder laid out "
          "as real/<source>/ and fake/<source>/. Nothing to do.")
    sys.exit(0)

# %%
# A class-balanced sample, loaded once (the pipeline below starts from pixels).
manifest = faces / "manifest.csv"
if manifest.is_file():
    data = read_manifest(manifest)
else:
    data = load_faces(faces / "real", faces / "fake", source_from="subfolder")
    manifest = None
rng = np.random.default_rng(0)
keep = np.sort(np.concatenate([
    rng.choice(np.flatnonzero(data.source == s), min(per_source, np.sum(data.source == s)),
               replace=False)
    for s in np.unique(data.source)
]))
files = [data.filenames[i] for i in keep]
X = ImageLoader(size=size).fit_transform(files)
y = np.asarray(data.target_names)[np.asarray(data.target)[keep]]
sources = np.asarray(data.source)[keep]
# copies of one picture (exact, re-encoded, resized or mirrored; sources re-post each other's
# faces) form a group, which stays in one split and out of training when its source is held out
groups, duplicates = find_duplicates(files, source=sources, progress=False)
print(duplicates)
split = train_val_test_split(X, y, groups=groups, random_state=0)

# %%
# The default grid: attention in {None, se, cbam, nonlocal} x gamma in {0, 1, 2} x class weighting.
pipe = Pipeline([("classifier", FaceCNNClassifier(width=8, depth=3, max_epochs=epochs,
                                                  n_iter_no_change=2, device="auto"))])
table, details = run_ablation(pipe, None, X, y, split, seeds=(0,), sources=sources,
                              csv_path=out.parent / f"{out.name}-ablation.csv", overwrite=True,
                              return_details=True)
best = details.estimators_for_seed(0)[details.selected]
result = evaluate(best, X[split[2]], y[split[2]], sources=sources[split[2]])
print(result)
cross = cross_source_evaluate(pipe, X, y, sources, split=split, groups=groups,
                              return_details=True)
write_report(out, title=f"skface on {len(y)} faces ({size} px)", evaluation=result,
             ablation=(table, details), cross_source=cross, images=X[split[2]],
             manifest=manifest, overwrite=True)
print("report written to", out / "report.html")
