"""Rotation prediction: a self-supervised task trained beside the classifier."""

import torch
from torch import nn

#: The rotations the task tells apart, in quarter turns (0, 90, 180 and 270 degrees).
N_ROTATIONS = 4


def rotated_copies(x, fraction=0.5):
    """Append rotated copies of the first images of a batch.

    Parameters
    ----------
    x : torch.Tensor of shape (N, C, S, S)
        A batch of square images (a training batch is already shuffled, so its first images are
        a random subset).
    fraction : float in (0, 1], default=0.5
        Share of the batch that is copied: ``max(1, round(N * fraction))`` images.

    Returns
    -------
    batch : torch.Tensor of shape (N + M, C, S, S)
        ``x`` followed by the M copies, each turned by 90, 180 or 270 degrees, drawn uniformly
        from torch's global generator (seed it for reproducible draws).
    quarter_turns : torch.Tensor of shape (N + M,)
        The rotation of every row in quarter turns: 0 for the N originals, 1-3 for the copies.
        Both outputs are on ``x``'s device.
    """
    if x.ndim != 4 or x.shape[-1] != x.shape[-2]:
        raise ValueError(
            f"Rotated copies need a batch of square images (N, C, S, S); got shape "
            f"{tuple(x.shape)}.")
    if not 0.0 < float(fraction) <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}.")
    n = len(x)
    if n == 0:
        raise ValueError("Rotated copies need at least one image; the batch is empty.")
    m = max(1, int(round(n * float(fraction))))
    turns = torch.randint(1, N_ROTATIONS, (m,)).to(x.device)
    copies = torch.empty_like(x[:m])  # every copy gets a turn of 1-3 below
    for r in range(1, N_ROTATIONS):
        chosen = turns == r
        if chosen.any():
            copies[chosen] = torch.rot90(x[:m][chosen], r, dims=(-2, -1))
    upright = torch.zeros(n, dtype=torch.long, device=x.device)
    return torch.cat([x, copies]), torch.cat([upright, turns])


class RotationTask(nn.Module):
    """A network and a linear head that tells how far an image was turned.

    Training a network to recognise the rotation of its inputs beside its own task (Gidaris
    et al. 2018, "Unsupervised representation learning by predicting image rotations";
    Hendrycks et al. 2019, "Using self-supervised learning can improve model robustness and
    uncertainty") makes it learn the layout of the image as a whole, which helps most when
    labelled images are few. The head exists only during training.

    Parameters
    ----------
    backbone : FaceCNN
        The classifier. Its :meth:`~FaceCNN.forward_features` map, averaged over space, feeds
        the rotation head.

    Attributes
    ----------
    backbone : FaceCNN
    head : torch.nn.Linear
        ``backbone.n_features_out`` -> 4 rotation logits.
    """

    def __init__(self, backbone):
        super().__init__()
        if not hasattr(backbone, "n_features_out") or not hasattr(backbone, "forward_features"):
            raise TypeError(f"RotationTask wraps a skface.nn.FaceCNN (it needs n_features_out "
                            f"and forward_features); got {type(backbone).__name__}.")
        self.backbone = backbone
        self.head = nn.Linear(backbone.n_features_out, N_ROTATIONS)

    def forward(self, x):
        """The backbone's class logits (validation and prediction see upright images only).

        Parameters
        ----------
        x : torch.Tensor of shape (N, C, H, W)
            Images.

        Returns
        -------
        logits : torch.Tensor of shape (N, n_classes)
        """
        return self.backbone(x)

    def forward_with_rotation(self, x, n_upright):
        """Class logits of the first ``n_upright`` rows and rotation logits of every row.

        The class loss is computed on the upright images alone, so the classifier never
        learns from a turned face; all rows pass through the network once.

        Parameters
        ----------
        x : torch.Tensor of shape (N, C, H, W)
            The upright images first, then the turned ones.
        n_upright : int
            How many leading rows are upright.

        Returns
        -------
        logits : torch.Tensor of shape (n_upright, n_classes)
            Class logits of the upright rows.
        rotation_logits : torch.Tensor of shape (N, 4)
            Rotation logits of every row (0, 90, 180 and 270 degrees).
        """
        features = self.backbone.forward_features(x)
        logits = self.backbone.classify(features[:n_upright])
        return logits, self.head(features.mean(dim=(2, 3)))
