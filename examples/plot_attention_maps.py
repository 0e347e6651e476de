"""
Explaining predictions: Grad-CAM and attention maps
===================================================

Where does the network look? :func:`skface.experiments.plot_attention` overlays, for each
model, its Grad-CAM heat map (the regions that pushed the score towards the *fake* class,
whatever the prediction; :func:`skface.experiments.grad_cam` with ``target=`` shows the evidence
for another class) and the spatial map of its deepest attention block. We compare a plain CNN
with a CBAM model trained on the demo set.
"""

# %%
import matplotlib.pyplot as plt

from skface import FaceCNNClassifier
from skface.datasets import load_demo_faces, train_val_test_split
from skface.experiments import attention_maps, plot_attention

demo = load_demo_faces()
X, y = demo.images, demo.target
train, val, test = train_val_test_split(X, y, random_state=0)

models = {}
for attention in (None, "cbam"):
    clf = FaceCNNClassifier(attention=attention, batch_size=16, max_epochs=10, random_state=0)
    models[f"attention={attention}"] = clf.fit(X[train], y[train], X_val=X[val], y_val=y[val])
    print(f"attention={attention}: test accuracy {clf.score(X[test], y[test]):.3f}")

# %%
# The raw maps
# ------------
# One map per attention block, at the image size.
maps = attention_maps(models["attention=cbam"], X[test][:4])
for name, m in maps.items():
    print(f"{name}: {m.shape}")

# %%
# Overlays: two real faces and two fakes from the test split
# ----------------------------------------------------------
real = test[y[test] == 0][:2]
fake = test[y[test] == 1][:2]
show = X[list(real) + list(fake)]
fig = plot_attention(models, show, n_images=4)
plt.show()
