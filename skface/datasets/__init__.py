"""Data sets: scanning folders, fetching, duplicates, splits, audits, manifests and the demo set."""

from ._demo import load_demo_faces

__all__ = ["load_demo_faces"]
