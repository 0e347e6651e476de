"""
Does attention help? A GridSearchCV ablation of attention x focal loss
======================================================================

The protocol asks whether attention improves a plain CNN, and whether focal loss helps. Both
are parameters of :class:`~skface.FaceCNNClassifier` (``attention`` and ``gamma``), so a
:class:`~sklearn.model_selection.GridSearchCV` answers the question with the same data, split
and seed for every configuration. Here the validation part of the protocol's split is the one
"fold" (:func:`skface.datasets.predefined_split`).

On the tiny demo set every configuration may score the same; on real data, run the same grid
with several seeds (``skface ablate`` or :func:`skface.experiments.run_ablation`) before
drawing conclusions.
"""

# %%
import matplotlib.pyplot as plt
from sklearn.model_selection import GridSearchCV

from skface import FaceCNNClassifier
from skface.datasets import load_demo_faces, predefined_split, train_val_test_split

demo = load_demo_faces()
X, y = demo.images, demo.target  # (200, 1, 24, 24) uint8 arrays: no files needed
train, val, test = train_val_test_split(X, y, random_state=0)

# %%
# One validation fold, as in the protocol
# ---------------------------------------
# ``predefined_split`` gives the rows to fit on (train, then val) and a cross-validator whose
# only split is ``train`` vs ``val``.
dev, cv = predefined_split(train, val)

grid = GridSearchCV(
    FaceCNNClassifier(batch_size=16, max_epochs=8, early_stopping=False, random_state=0),
    {"attention": [None, "se", "cbam"], "gamma": [0.0, 2.0]},
    cv=cv, scoring="balanced_accuracy", refit=True,
)
grid.fit(X[dev], y[dev])

# %%
# Results
# -------
labels = [f"{p['attention']}, gamma={p['gamma']:g}" for p in grid.cv_results_["params"]]
scores = grid.cv_results_["mean_test_score"]
for label, score in zip(labels, scores):
    print(f"{label:<22} validation balanced accuracy {score:.3f}")
print("best:", grid.best_params_, f"test accuracy {grid.score(X[test], y[test]):.3f}")

fig, ax = plt.subplots(figsize=(6, 3))
ax.barh(labels, scores, color="tab:blue")
ax.set_xlabel("validation balanced accuracy")
ax.set_xlim(0, 1.05)
ax.set_title("attention x focal loss (demo data)")
fig.tight_layout()
plt.show()
