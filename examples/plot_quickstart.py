"""
Quickstart: from image files to test metrics
============================================

A scikit-learn :class:`~sklearn.pipeline.Pipeline` that takes **file paths**:
:class:`~skface.preprocessing.ImageLoader` decodes and resizes the images and
:class:`~skface.FaceCNNClassifier` (a small CNN) tells real (0) from AI-generated (1) faces.
We train on the offline demo set, keep the epoch with the lowest loss on a validation split
(early stopping, which at 12 epochs runs them all), and evaluate on a balanced test split.

The demo data are a proxy: 100 LFW face crops that scikit-image ships, and 100 fakes made by
small up-sampling generators that skface runs on them.
"""

# %%
# Write the demo faces as PNG files
# ---------------------------------
# ``out_dir`` writes ``real/lfw/*.png`` and ``fake/<generator>/*.png``; ``filenames`` holds the
# paths, ``target`` the labels (0 = real, 1 = fake) and ``source`` where each image comes from.
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from sklearn.pipeline import make_pipeline

from skface import FaceCNNClassifier
from skface.datasets import load_demo_faces, train_val_test_split
from skface.experiments import plot_confusion_matrix
from skface.metrics import evaluate
from skface.preprocessing import ImageLoader

folder = tempfile.mkdtemp(prefix="skface-demo-")
demo = load_demo_faces(out_dir=folder)
print(demo.DESCR.splitlines()[0])
print(f"{len(demo.filenames)} images, sources: {sorted(set(demo.source))}")

# %%
# Split 70/15/15
# --------------
# The test split is balanced: as many real as fake faces.
train, val, test = train_val_test_split(demo.filenames, demo.target, random_state=0)
paths = np.asarray(demo.filenames)
y = demo.target

# %%
# Fit the pipeline
# ----------------
# ``X_val``/``y_val`` drive early stopping; they pass through the loader first.
loader = ImageLoader(size=24, color="gray")
model = make_pipeline(
    loader, FaceCNNClassifier(batch_size=16, max_epochs=12, random_state=0)
)
model.fit(paths[train], y[train],
          facecnnclassifier__X_val=loader.fit_transform(paths[val]),
          facecnnclassifier__y_val=y[val])
clf = model[-1]
print(f"trained {clf.n_epochs_} epochs, kept epoch {clf.best_epoch_}")

# %%
# Evaluate on the balanced test split
# -----------------------------------
result = evaluate(model, paths[test], y[test], sources=demo.source[test])
print(result)
plot_confusion_matrix(result, title="Demo test split")
plt.show()
