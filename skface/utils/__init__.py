"""Validation, random-number and memory helpers shared across skface."""

from ._io import atomic_write_bytes, atomic_write_text, python_value
from ._memory import reuse_freed_memory
from ._random import check_seed, make_torch_generator, torch_seeded
from ._validation import check_image_array, native_bfloat16, resolve_device, resolve_precision

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "check_image_array",
    "check_seed",
    "make_torch_generator",
    "native_bfloat16",
    "python_value",
    "resolve_device",
    "resolve_precision",
    "reuse_freed_memory",
    "torch_seeded",
]
