"""PyTorch building blocks: the backbone, attention blocks, focal loss, the rotation task and the
ensemble average (no scikit-learn)."""

from ._attention import CBAM, NonLocalBlock, SEBlock
from ._backbone import (FaceCNN, attention_modules, crop_view, default_attention_stages,
                        view_box)
from ._ensemble import ProbabilityAverage
from ._losses import FocalLoss
from ._rotation import RotationTask, rotated_copies

__all__ = [
    "CBAM",
    "FaceCNN",
    "FocalLoss",
    "NonLocalBlock",
    "ProbabilityAverage",
    "RotationTask",
    "SEBlock",
    "attention_modules",
    "crop_view",
    "default_attention_stages",
    "rotated_copies",
    "view_box",
]
