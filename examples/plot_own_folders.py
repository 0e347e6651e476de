"""
Using your own folders
======================

The whole protocol on folders of your own: scan, de-duplicate and split
(:func:`skface.datasets.build_dataset`), train with the classes balanced, evaluate per source
and write a report (:func:`skface.experiments.write_report`).

Set ``SKFACE_REAL_DIR`` and ``SKFACE_FAKE_DIR`` to your folders of real and AI-generated
faces (several folders separated by ``:``; each folder is one source). Without them the
script writes the offline demo set to a temporary folder and uses that. The shell equivalent
is ``skface build`` + ``skface train`` + ``skface evaluate``.
"""

# %%
import os
import tempfile
from pathlib import Path

import numpy as np
from sklearn.pipeline import make_pipeline

from skface import FaceCNNClassifier
from skface.datasets import build_dataset, load_demo_faces, write_manifest
from skface.experiments import write_report
from skface.metrics import evaluate
from skface.preprocessing import ImageLoader

work = Path(tempfile.mkdtemp(prefix="skface-own-"))
real_dirs = [d for d in os.environ.get("SKFACE_REAL_DIR", "").split(os.pathsep) if d]
fake_dirs = [d for d in os.environ.get("SKFACE_FAKE_DIR", "").split(os.pathsep) if d]
if real_dirs and fake_dirs:
    size, color, batch_size = 64, "rgb", 32
else:
    print("SKFACE_REAL_DIR / SKFACE_FAKE_DIR not set: using the offline demo data (a proxy)")
    load_demo_faces(out_dir=work / "data")
    real_dirs = [str(work / "data" / "real" / "lfw")]
    fake_dirs = sorted(str(p) for p in (work / "data" / "fake").iterdir())
    size, color, batch_size = 24, "gray", 16
print("real:", real_dirs)
print("fake:", fake_dirs)

# %%
# Build the data set and write its manifest
# -----------------------------------------
# Every image is kept (``balance="none"``, the default); the test split is exactly balanced.
data = build_dataset(real_dirs, fake_dirs, dedupe=True, random_state=0, progress=False)
manifest = write_manifest(data, work / "manifest.csv")
split = np.asarray(data.split)
for part in ("train", "val", "test"):
    m = split == part
    print(f"{part:<5} {m.sum():>5} images, {int(data.target[m].sum())} fake")

# %%
# Train with early stopping on the validation split
# -------------------------------------------------
# Your folders may hold far more images of one class than of the other. ``balance="oversample"``
# repeats images of the smaller class in training (and in the validation loss) until the
# classes are even; nothing is dropped. On mildly uneven data (the development faces are 59 %
# real) the recommended configuration does better without it; see the user guide, "Focal loss
# and class weights".
paths, y, sources = np.asarray(data.filenames), data.target, np.asarray(data.source)
tr, va, te = (split == s for s in ("train", "val", "test"))
loader = ImageLoader(size=size, color=color)
model = make_pipeline(loader, FaceCNNClassifier(balance="oversample", batch_size=batch_size,
                                                max_epochs=12, random_state=0))
model.fit(paths[tr], y[tr], facecnnclassifier__X_val=loader.fit_transform(paths[va]),
          facecnnclassifier__y_val=y[va])

# %%
# Evaluate per source and write the report
# ----------------------------------------
X_test = loader.transform(paths[te])
result = evaluate(model[-1], X_test, y[te], sources=sources[te])
print(result)
report = write_report(work / "report", title="My folders", evaluation=result,
                      models={"model": model[-1]}, images=X_test, manifest=manifest)
print("report written to", report)
