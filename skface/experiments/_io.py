"""Small file helpers for skface.experiments: atomic writes, CSV tables, records vs. DataFrames."""

import csv
import io
import math

import numpy as np

from ..utils import atomic_write_text


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return ""
    return value


def records_to_csv_text(records, columns=None):
    """Render a list of dicts as CSV text; ``None``/NaN become empty cells."""
    records = list(records)
    if columns is None:
        columns = []
        for rec in records:
            for key in rec:
                if key not in columns:
                    columns.append(key)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({k: _cell(rec.get(k)) for k in columns})
    return buf.getvalue()


def write_csv(path, records, columns=None):
    """Write records to ``path`` as CSV, atomically."""
    return atomic_write_text(path, records_to_csv_text(records, columns))


def as_records(table):
    """Return a list of dicts from a DataFrame or an iterable of dicts."""
    if table is None:
        return []
    if hasattr(table, "to_dict") and hasattr(table, "columns"):
        recs = table.to_dict(orient="records")
        return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
                for r in recs]
    return [dict(r) for r in table]


def to_table(records, columns=None):
    """Return a pandas DataFrame when pandas is installed, else the list of dicts."""
    records = list(records)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a test dependency
        return records
    return pd.DataFrame.from_records(records, columns=columns)
