"""Validation and random-number helpers shared across skface."""

from ._random import check_seed, make_torch_generator, torch_seeded
from ._validation import check_image_array, resolve_device

__all__ = [
    "check_image_array",
    "check_seed",
    "make_torch_generator",
    "resolve_device",
    "torch_seeded",
]
