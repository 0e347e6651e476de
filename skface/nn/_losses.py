"""Loss functions."""

import math

import torch
import torch.nn.functional as F
from torch import nn


class FocalLoss(nn.Module):
    """Focal loss (Lin et al., 2017) with class weights and optional label smoothing.

    ``FL = -alpha_t (1 - p_t)^gamma log p_t``, where ``alpha_t`` is the weight of the true class.
    The weighted mean divides by the sum of the weights, as
    :func:`torch.nn.functional.cross_entropy` does, so with ``gamma=0`` this equals weighted
    cross-entropy (except that a batch whose weights sum to 0 has loss 0, not NaN).

    Parameters
    ----------
    gamma : float, default=0.0
        Focusing parameter (>= 0); 0 gives cross-entropy, larger values down-weight easy
        examples.
    weight : torch.Tensor of shape (n_classes,), optional
        Per-class weights ``alpha``.
    label_smoothing : float in [0, 1], default=0.0
        Mixes the one-hot target with the uniform distribution, as in ``cross_entropy``.
    reduction : {"mean", "sum", "none"}, default="mean"

    Notes
    -----
    ``logits`` are ``(N, n_classes)`` and ``target`` ``(N,)`` class indices.
    """

    def __init__(self, gamma=0.0, weight=None, label_smoothing=0.0, reduction="mean"):
        super().__init__()
        if not (math.isfinite(float(gamma)) and float(gamma) >= 0):  # NaN; inf gave NaN grads
            raise ValueError(f"gamma must be a finite number >= 0, got {gamma!r}.")
        if not 0.0 <= float(label_smoothing) <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}.")
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")
        self.gamma = float(gamma)
        self.label_smoothing = float(label_smoothing)
        self.reduction = reduction
        if weight is not None:
            weight = torch.as_tensor(weight).float()
            if weight.ndim != 1 or not bool(torch.isfinite(weight).all()) or bool(
                    (weight < 0).any()):  # a negative weight made the loss -5e35, NaN made it NaN
                raise ValueError(f"weight must be one finite weight >= 0 per class; got "
                                 f"{weight.tolist()}.")
        self.register_buffer("weight", weight)

    def forward(self, logits, target):
        """The focal loss of a batch.

        Parameters
        ----------
        logits : torch.Tensor of shape (N, n_classes)
            Unnormalised class scores.
        target : torch.Tensor of shape (N,)
            Class indices (integers).

        Returns
        -------
        loss : torch.Tensor
            A scalar with ``reduction="mean"`` or ``"sum"``; shape ``(N,)`` with ``"none"``.
        """
        if logits.ndim != 2 or target.ndim != 1 or len(target) != len(logits):
            raise ValueError(
                "FocalLoss takes logits of shape (N, n_classes) and targets of shape (N,); got "
                f"{tuple(logits.shape)} and {tuple(target.shape)}.")
        n_classes = logits.shape[1]
        if target.is_floating_point() or target.is_complex():  # 0.5 was cut to class 0
            raise ValueError(f"FocalLoss takes class indices as targets; got {target.dtype}.")
        if self.weight is not None and len(self.weight) != n_classes:
            raise ValueError(f"FocalLoss has {len(self.weight)} class weights for logits of "
                             f"{n_classes} classes.")
        # a probability of exactly 0 (a -inf logit, or float32 overflow) has log -inf, and its
        # weight 0 made 0 * -inf = NaN where cross_entropy gives a finite loss: keep it finite
        logp = F.log_softmax(logits.float(), dim=1).clamp_min(torch.finfo(torch.float32).min)
        target = target.long()
        onehot = F.one_hot(target, n_classes).to(logp.dtype)
        if self.label_smoothing:
            onehot = onehot * (1 - self.label_smoothing) + self.label_smoothing / n_classes
        # per-class term: (1 - p_c)^gamma * log p_c, weighted by the (smoothed) target
        if self.gamma:
            # below gamma 1, x^gamma has an infinite slope at x = 0 (a sure prediction), which
            # would turn the gradient into NaN: keep x off 0 there
            floor = 1e-12 if self.gamma < 1 else 0.0
            modulator = (1 - logp.exp()).clamp_min(floor).pow(self.gamma)
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
        if norm is None:
            return loss.mean()
        # weights summing to 0 (a batch of a class weighted 0) give loss 0, not 0 / 0
        return loss.sum() / norm.sum().clamp_min(torch.finfo(loss.dtype).tiny)
