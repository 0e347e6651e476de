"""
Attention x focal-loss ablation and a report, on generated images
=================================================================

This example runs the protocol end to end on small generated images (no download): a fixed
train / validation / test split, the ablation over attention blocks and focal-loss ``gamma`` with
early stopping on the validation split, a leave-one-source-out test, and a report folder with
``report.html`` (open it in a browser), ``report.md``, ``metrics.json`` and the CSV tables.

Real data works the same way: replace ``X, y, sources`` with images (or paths and an
``ImageLoader`` step) and their labels and sources, and ``split`` with the protocol's split.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline

from skface import FaceCNNClassifier
from skface.datasets import train_val_test_split
from skface.experiments import cross_source_evaluate, run_ablation, write_report
from skface.metrics import evaluate, tune_threshold

# %%
# Generated "faces": fakes carry a faint periodic pattern, as GAN up-sampling leaves behind.
rng = np.random.default_rng(0)
n, size = 160, 16
y = np.tile(np.array(["real", "fake"]), n // 2)
X = (rng.random((n, 3, size, size)) * 200).astype(np.uint8)
grid = ((np.indices((size, size)).sum(axis=0) % 2) * 40).astype(np.uint8)
X[y == "fake"] = np.clip(X[y == "fake"].astype(int) + grid, 0, 255).astype(np.uint8)
sources = np.where(y == "fake", rng.choice(["stylegan2", "gan_faces"], n),
                   rng.choice(["ffhq", "lfw"], n))
# 70 / 15 / 15, with an exactly balanced test set
split = train_val_test_split(X, y, random_state=0)

# %%
# The ablation: every configuration is fitted on the training part, early-stopped on the
# validation part, selected on the validation score and evaluated on the test part.
out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "run"
pipe = Pipeline([("classifier", FaceCNNClassifier(width=8, depth=2, max_epochs=4,
                                                  batch_size=32, device="cpu"))])
param_grid = {"classifier__attention": [None, "se", "cbam"], "classifier__gamma": [0.0, 2.0]}
table, details = run_ablation(pipe, param_grid, X, y, split, seeds=(0, 1), sources=sources,
                              csv_path=out.parent / "ablation.csv", overwrite=True,
                              return_details=True)
print(table[["config", "accuracy_mean", "accuracy_std", "roc_auc_mean", "selected"]])

# %%
# The selected configuration, with a threshold tuned on the validation split.
best = details.estimators_for_seed(0)[details.selected]
threshold = tune_threshold(best, X[split[1]], y[split[1]])
result = evaluate(best, X[split[2]], y[split[2]], sources=sources[split[2]], threshold=threshold)
print(result)

# %%
# Leave one source out: train without a generator, test on it.
cross = cross_source_evaluate(pipe.set_params(classifier__attention="se"), X, y, sources,
                              split=split, return_details=True)

# %%
# One folder with everything.
write_report(out, title="skface example: attention x focal loss", evaluation=result,
             ablation=(table, details), cross_source=cross, images=X[split[2]],
             overwrite=True)
print("report written to", out / "report.html")
