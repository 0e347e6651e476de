"""Build real-vs-AI face data sets: scan, fetch, de-duplicate, balance, split, audit, record."""

from ._audit import ShortcutAudit, ShortcutWarning, audit_shortcuts
from ._balance import balance_indices, make_sampler
from ._build import LabelConflictWarning, build_dataset
from ._demo import load_demo_faces
from ._duplicates import DuplicateReport, find_duplicates
from ._fetch import (
    fetch_ai_generated_faces,
    fetch_all_these_people,
    fetch_ffhq,
    fetch_lfw,
    fetch_tpdne,
    get_data_home,
)
from ._manifest import MANIFEST_COLUMNS, read_manifest, write_manifest
from ._scan import EmptySourceWarning, SkippedFilesWarning, load_faces
from ._split import LeaveOneSourceOut, predefined_split, train_val_test_split

__all__ = [
    "DuplicateReport",
    "EmptySourceWarning",
    "LabelConflictWarning",
    "LeaveOneSourceOut",
    "MANIFEST_COLUMNS",
    "ShortcutAudit",
    "ShortcutWarning",
    "SkippedFilesWarning",
    "audit_shortcuts",
    "balance_indices",
    "build_dataset",
    "fetch_ai_generated_faces",
    "fetch_all_these_people",
    "fetch_ffhq",
    "fetch_lfw",
    "fetch_tpdne",
    "find_duplicates",
    "get_data_home",
    "load_demo_faces",
    "load_faces",
    "make_sampler",
    "predefined_split",
    "read_manifest",
    "train_val_test_split",
    "write_manifest",
]
