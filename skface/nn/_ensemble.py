"""Several networks averaged in probability space, as one module."""

import math

import torch
import torch.nn.functional as F
from torch import nn


class ProbabilityAverage(nn.Module):
    """Average the softmax outputs of several classifiers (a deep ensemble).

    The forward pass returns ``log(mean_k softmax(member_k(x)))``: log-probabilities, so that a
    softmax of the output gives back the mean of the members' probabilities and any code that
    treats the output as logits (``argmax``, ``softmax``, a log-odds difference) keeps working.

    Parameters
    ----------
    members : sequence of torch.nn.Module
        Networks with the same input and number of classes, each returning logits
        ``(N, n_classes)``. They are kept in ``members`` and trained separately; this module
        only combines them.

    References
    ----------
    Lakshminarayanan, Pritzel and Blundell, "Simple and scalable predictive uncertainty
    estimation using deep ensembles", NeurIPS 2017.
    """

    def __init__(self, members):
        super().__init__()
        members = list(members)
        if not members:
            raise ValueError("ProbabilityAverage needs at least one member network.")
        classes = {getattr(getattr(m, "head", None), "out_features", None) for m in members}
        if len(classes) > 1:  # failed in torch.stack at the first forward pass
            raise ValueError(f"ProbabilityAverage members disagree on the number of classes: "
                             f"{sorted(classes, key=str)}.")
        self.members = nn.ModuleList(members)

    def forward(self, x):
        """Log of the members' average class probabilities.

        Parameters
        ----------
        x : torch.Tensor of shape (N, C, H, W)
            Images, as each member takes them.

        Returns
        -------
        log_proba : torch.Tensor of shape (N, n_classes)
            Float32 log-probabilities (``exp`` sums to 1 per row).
        """
        logp = torch.stack([F.log_softmax(member(x).float(), dim=1) for member in self.members])
        return torch.logsumexp(logp, dim=0) - math.log(len(self.members))
