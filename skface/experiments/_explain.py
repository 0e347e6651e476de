"""Where does a FaceCNNClassifier look? Grad-CAM and attention-block maps.

Both work on a fitted :class:`skface.FaceCNNClassifier` or a pipeline ending in one (earlier
steps are applied with ``transform``). Maps are returned at the input image size, scaled to
[0, 1] per image.
"""

import numpy as np
import torch
import torch.nn.functional as F

from .._classifier import _warn_if_float_pixels
from ..utils import check_image_array
from ._plots import _check_positive_int, _closes_its_figures_on_error

__all__ = ["attention_maps", "find_face_classifier", "grad_cam", "plot_attention"]


def _inner(model):
    """The estimator that ``model`` predicts with, one wrapper down; None for a leaf."""
    if hasattr(model, "steps"):
        return model.steps[-1][1]
    if hasattr(model, "best_estimator_"):  # a fitted search: not its template .estimator
        return model.best_estimator_
    if hasattr(model, "estimator_"):
        return model.estimator_
    if hasattr(model, "param_grid") or hasattr(model, "param_distributions"):
        fitted = hasattr(model, "cv_results_")
        raise TypeError(
            f"{type(model).__name__} " + ("was fitted with refit=False, so it keeps no model"
                                          if fitted else "is not fitted")
            + "; its estimator is only the template it clones. Pass best_estimator_ of a "
            "search fitted with refit=True, or the fitted model itself.")
    if hasattr(model, "estimator"):
        return model.estimator
    return None


def find_face_classifier(model):
    """Return the fitted FaceCNNClassifier inside ``model``.

    Parameters
    ----------
    model : FaceCNNClassifier, Pipeline ending in one, or a fitted wrapper
        A search (``GridSearchCV``) is followed to its ``best_estimator_``; other wrappers to
        ``estimator_`` (e.g. ``TunedThresholdClassifierCV``) or ``estimator``
        (``FixedThresholdClassifier``, ``FrozenEstimator``).

    Returns
    -------
    clf : FaceCNNClassifier

    Raises
    ------
    TypeError
        When no fitted FaceCNNClassifier (an estimator with ``net_`` and ``history_``) is found,
        or ``model`` is a search without a refitted model (``refit=False``, or not fitted).
    """
    seen = model
    for _ in range(8):
        if hasattr(seen, "net_") and hasattr(seen, "history_"):
            return seen
        seen = _inner(seen)
        if seen is None:
            break
    raise TypeError(
        f"{type(model).__name__} is not (and does not end in) a fitted FaceCNNClassifier; "
        f"training curves, Grad-CAM and attention maps need one."
    )


def _prefix_transform(model, X):
    """Apply the steps before the classifier (for pipelines); return ``(clf, Xt)``."""
    clf = find_face_classifier(model)
    current = model
    Xt = X
    while current is not clf:  # the path find_face_classifier took
        if hasattr(current, "steps") and len(current.steps) > 1:
            Xt = current[:-1].transform(Xt)
        current = _inner(current)
    return clf, Xt


def _as_tensor(clf, Xt):
    shape = getattr(clf, "image_shape_", None)
    X4 = check_image_array(Xt, image_shape=shape, reset_shape=shape, name="X")
    _warn_if_float_pixels(X4, "X")  # as predict does: 0-255 floats would be 255x too bright
    T = torch.as_tensor(np.ascontiguousarray(X4)).float()
    if X4.dtype == np.uint8:
        T = T / 255.0
    return X4, T


def _normalise(maps, size):
    """Upsample ``(N, h, w)`` maps to ``size`` and scale each to [0, 1]."""
    maps = F.interpolate(maps[:, None].float(), size=size, mode="bilinear",
                         align_corners=False)[:, 0]
    flat = maps.reshape(len(maps), -1)
    lo = flat.min(dim=1, keepdim=True).values
    hi = flat.max(dim=1, keepdim=True).values
    flat = (flat - lo) / torch.clamp(hi - lo, min=1e-12)
    return flat.reshape(maps.shape).cpu().numpy()


def _place(maps, module, size):
    """Maps ``(N, h, w)`` of what ``module`` saw, at their place in images of ``size``.

    A network that looks at a zoomed view (``FaceCNN.zoom > 1``) saw only the centre of the
    image: its maps are scaled to that region and the rest is 0.
    """
    top, left, h, w = module.view_box(*size)
    if (h, w) == tuple(size):
        return _normalise(maps, size)
    out = np.zeros((len(maps), *size), dtype=np.float32)
    out[:, top:top + h, left:left + w] = _normalise(maps, (h, w))
    return out


def _target_index(clf, target):
    from ..metrics import resolve_pos_label

    classes = list(np.asarray(clf.classes_).tolist())
    if target is None:
        try:
            target, _ = resolve_pos_label(clf.classes_)
        except ValueError as exc:  # its advice names pos_label, which grad_cam does not take
            raise ValueError(f"Cannot tell which class is 'fake' among {classes!r}; pass "
                             f"target=<the class whose evidence to map>. ({exc})") from None
    if target not in classes:
        raise ValueError(f"target={target!r} is not one of the classes {classes!r}.")
    return classes.index(target)


def _module_and_device(clf):
    module = clf.net_.module_
    try:
        device = next(module.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    return module, device


def grad_cam(model, X, *, target=None, batch_size=32):
    """Grad-CAM heat maps of the last convolutional stage.

    The gradient of the target class's score with respect to the last stage's feature map,
    averaged over space, weights the feature channels; the ReLU of the weighted sum is the map
    (Selvaraju et al., 2017). With two classes the score is the target logit minus the other
    one, the log-odds that the predicted probability depends on (the target logit alone also
    moves with evidence that raises both logits and changes no prediction); with more classes
    it is the target logit.

    Parameters
    ----------
    model : fitted FaceCNNClassifier or pipeline ending in one
    X : array-like
        Inputs as the model takes them.
    target : label, optional
        The class whose evidence is shown; by default the fake class.
    batch_size : int >= 1, default=32

    Returns
    -------
    maps : ndarray of shape (n_samples, H, W)
        In [0, 1] per image (a flat map is all zeros). For an ensemble (``n_members > 1``),
        the mean of its networks' maps; a network that looks at a zoomed view
        (``FaceCNNClassifier(views=...)``) contributes its map on that view and 0 around it.
    """
    batch_size = _check_positive_int(batch_size, "batch_size")
    clf, Xt = _prefix_transform(model, X)
    _, T = _as_tensor(clf, Xt)
    idx = _target_index(clf, target)
    module, device = _module_and_device(clf)
    # an ensemble (skface.nn.ProbabilityAverage): the mean of its networks' maps
    networks = list(module.members) if hasattr(module, "members") else [module]
    maps = [_grad_cam_one(network, T, idx, device, batch_size) for network in networks]
    return maps[0] if len(maps) == 1 else np.mean(maps, axis=0)


def _grad_cam_one(module, T, idx, device, batch_size):
    layer = module.stages[-1]
    store = {}

    def hook(_mod, _inp, out):
        out.retain_grad()
        store["act"] = out

    handle = layer.register_forward_hook(hook)
    was_training = module.training
    module.eval()
    out_maps = []
    try:
        with torch.enable_grad():
            for start in range(0, len(T), batch_size):
                xb = T[start:start + batch_size].to(device).requires_grad_(True)
                logits = module(xb)
                if logits.ndim == 1 or logits.shape[1] == 1:
                    score = logits.reshape(-1) * (1.0 if idx == 1 else -1.0)
                elif logits.shape[1] == 2:  # the log-odds P(target) depends on
                    score = logits[:, idx] - logits[:, 1 - idx]
                else:
                    score = logits[:, idx]
                module.zero_grad(set_to_none=True)
                score.sum().backward()
                act, grad = store["act"], store["act"].grad
                weights = grad.mean(dim=(2, 3), keepdim=True)
                cam = torch.relu((weights * act).sum(dim=1)).detach()
                out_maps.append(_place(cam, module, tuple(T.shape[-2:])))
    finally:
        handle.remove()
        module.train(was_training)
        module.zero_grad(set_to_none=True)
    return np.concatenate(out_maps, axis=0)


def attention_maps(model, X, *, batch_size=32):
    """Spatial maps of every attention block, at the image size.

    - CBAM: the spatial attention map (``block.spatial``'s output).
    - Non-local: the attention each position *receives*, the softmax weights averaged over all
      query positions.
    - SE (channel attention only): the gate-weighted mean absolute activation of the block's input,
      i.e. where the channels the gate keeps are active.

    Parameters
    ----------
    model : fitted FaceCNNClassifier or pipeline ending in one
    X : array-like
    batch_size : int >= 1, default=32

    Returns
    -------
    maps : dict of str to ndarray of shape (n_samples, H, W)
        Keyed ``"<block name> (<kind>)"``; empty for a model without attention. A block of a
        network that looks at a zoomed view (``FaceCNNClassifier(views=...)``) maps that view,
        in its place, with 0 around it.
    """
    from ..nn import attention_modules

    batch_size = _check_positive_int(batch_size, "batch_size")
    clf, Xt = _prefix_transform(model, X)
    _, T = _as_tensor(clf, Xt)
    module, device = _module_and_device(clf)
    blocks = attention_modules(module)
    networks = list(module.members) if hasattr(module, "members") else [module]
    # the network each block belongs to: a network on a zoomed view saw only its middle
    owner = {id(block): network for network in networks
             for _, block in attention_modules(network)}
    results = {}
    handles = []
    store = {}

    def keep(key):
        def hook(_mod, inp, out):
            store[key] = (inp[0].detach() if inp else None, out.detach())
        return hook

    kinds = {}
    blocks_by_name = dict(blocks)
    for name, block in blocks:
        if hasattr(block, "spatial"):
            kinds[name] = "cbam"
            handles.append(block.spatial.register_forward_hook(keep((name, "map"))))
        elif hasattr(block, "softmax"):
            kinds[name] = "nonlocal"
            handles.append(block.softmax.register_forward_hook(keep((name, "map"))))
            handles.append(block.register_forward_hook(keep((name, "block"))))
        elif hasattr(block, "gate"):
            kinds[name] = "se"
            handles.append(block.gate.register_forward_hook(keep((name, "map"))))
            handles.append(block.register_forward_hook(keep((name, "block"))))
        else:
            raise TypeError(f"Attention block {name!r} ({type(block).__name__}) exposes no map.")
    was_training = module.training
    module.eval()
    collected = {name: [] for name in kinds}
    try:
        with torch.no_grad():
            for start in range(0, len(T), batch_size):
                store.clear()
                module(T[start:start + batch_size].to(device))
                for name, kind in kinds.items():
                    _, out = store[(name, "map")]
                    if kind == "cbam":
                        m = out.reshape(out.shape[0], *out.shape[-2:])
                    elif kind == "nonlocal":
                        feat = store[(name, "block")][0]
                        h, w = feat.shape[-2:]
                        m = out.mean(dim=1).reshape(out.shape[0], h, w)
                    else:
                        feat = store[(name, "block")][0]
                        gate = out.reshape(out.shape[0], -1, 1, 1)
                        m = (gate * feat.abs()).sum(dim=1) / torch.clamp(gate.sum(dim=1), min=1e-12)
                    collected[name].append(_place(m, owner[id(blocks_by_name[name])],
                                                  tuple(T.shape[-2:])))
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    for name, kind in kinds.items():
        results[f"{name} ({kind})"] = np.concatenate(collected[name], axis=0)
    return results


@_closes_its_figures_on_error
def plot_attention(models, X, *, n_images=4, alpha=0.45, target=None):
    """Overlay Grad-CAM and the last attention block's map for each model variant.

    Parameters
    ----------
    models : dict of str to fitted model
        FaceCNNClassifiers or pipelines ending in one (e.g. one per ``attention`` setting). All must
        accept ``X``.
    X : array-like
        Inputs as the models take them; the first ``n_images`` are shown.
    n_images : int >= 1, default=4
    alpha : float, default=0.45
        Opacity of the heat map.
    target : label, optional
        The class whose evidence Grad-CAM shows (see :func:`grad_cam`); by default the fake
        class, which needs labels that say which class is fake.

    Returns
    -------
    fig : Figure
        One column per image. The first row shows the images as the first model takes them;
        then each model gets a row with its Grad-CAM overlay and, when it has attention blocks, a
        row with the deepest block's map. A model's maps are drawn over the images as that model
        takes them (after its pipeline's earlier steps), so models that take different image
        sizes each line up with their own pictures.
    """
    from ._plots import _new_figure, _to_display

    if not isinstance(models, dict):
        models = {"model": models}
    if not models:
        raise ValueError("No models to plot.")
    X = X[:_check_positive_int(n_images, "n_images")]
    panels = []
    for label, model in models.items():
        clf, shown = _prefix_transform(model, X)
        pics = _to_display(check_image_array(shown, image_shape=clf.image_shape_))
        if not panels:
            panels.append(("image", pics, None))
        # the images as this model takes them, decoded once for both kinds of map
        panels.append((f"{label}\nGrad-CAM", pics, grad_cam(clf, shown, target=target)))
        maps = attention_maps(clf, shown)
        if maps:
            key = list(maps)[-1]
            panels.append((f"{label}\n{key}", pics, maps[key]))
    cols = len(panels[0][1])
    fig = _new_figure(1.7 * cols + 2.4, 1.75 * len(panels) + 0.5)
    axes = fig.subplots(len(panels), cols, squeeze=False)
    for r, (title, pics, maps) in enumerate(panels):
        for c in range(cols):
            ax = axes[r, c]
            ax.imshow(pics[c], cmap="gray" if pics[c].ndim == 2 else None, vmin=0, vmax=1)
            if maps is not None:
                ax.imshow(maps[c], cmap="jet", alpha=alpha, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(title, rotation=0, ha="right", va="center", fontsize="small")
    fig.suptitle("Where each model looks (red = strong evidence)")
    return fig
