"""Loss functions."""

import torch
import torch.nn.functional as F
from torch import nn


class FocalLoss(nn.Module):
    """Focal loss (Lin et al., 2017) with class weights and optional label smoothing.

    ``FL = -alpha_t (1 - p_t)^gamma log p_t``, where ``alpha_t`` is the weight of the true class.
    The weighted mean divides by the sum of the weights, as
    :func:`torch.nn.functional.cross_entropy` does, so with ``gamma=0`` this equals weighted
    cross-entropy.

    Parameters
    ----------
    gamma : float, default=0.0
        Focusing parameter; 0 gives cross-entropy, larger values down-weight easy examples.
    weight : torch.Tensor of shape (n_classes,), optional
        Per-class weights ``alpha``.
    label_smoothing : float, default=0.0
        Mixes the one-hot target with the uniform distribution, as in ``cross_entropy``.
    reduction : {"mean", "sum", "none"}, default="mean"
    """

    def __init__(self, gamma=0.0, weight=None, label_smoothing=0.0, reduction="mean"):
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma!r}.")
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")
        self.gamma = float(gamma)
        self.label_smoothing = float(label_smoothing)
        self.reduction = reduction
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight).float())

    def forward(self, logits, target):
        logp = F.log_softmax(logits.float(), dim=1)
        n_classes = logits.shape[1]
        target = target.long()
        onehot = F.one_hot(target, n_classes).to(logp.dtype)
        if self.label_smoothing:
            onehot = onehot * (1 - self.label_smoothing) + self.label_smoothing / n_classes
        # per-class term: (1 - p_c)^gamma * log p_c, weighted by the (smoothed) target
        if self.gamma:
            modulator = (1 - logp.exp()).clamp_min(0).pow(self.gamma)
            per_class = -onehot * modulator * logp
        else:
            per_class = -onehot * logp
        if self.weight is not None:
            w = self.weight.to(logp.device)
            loss = (per_class * w).sum(dim=1)
            norm = w[target]
        else:
            loss = per_class.sum(dim=1)
            norm = None
        if self.reduction == "none":
            return loss
        if self.reduction == "sum":
            return loss.sum()
        return loss.sum() / norm.sum() if norm is not None else loss.mean()
