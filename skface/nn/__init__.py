"""PyTorch building blocks: the backbone, attention blocks and focal loss (no scikit-learn)."""

from ._attention import CBAM, NonLocalBlock, SEBlock
from ._backbone import FaceCNN, attention_modules, default_attention_stages
from ._losses import FocalLoss

__all__ = [
    "CBAM",
    "FaceCNN",
    "FocalLoss",
    "NonLocalBlock",
    "SEBlock",
    "attention_modules",
    "default_attention_stages",
]
