"""Small file helpers for skface.experiments: atomic writes, CSV tables, records vs. DataFrames."""

import csv
import io

import numpy as np

from ..utils._validation import is_missing
from ..utils import atomic_write_text, python_value


def _cell(value):
    return "" if is_missing(value) else python_value(value)


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


def _record_value(key, value, int_columns):
    if is_missing(value):
        return None
    if (key in int_columns and isinstance(value, (float, np.floating))
            and float(value).is_integer()):
        return int(value)
    return value


def as_records(table, int_columns=()):
    """Return a list of dicts from a DataFrame or an iterable of dicts.

    Missing values (``None``, NaN, pandas ``NA``) become ``None``; in ``int_columns`` (counts),
    whole floats such as ``23.0`` (a float column read back from a CSV) become ``int``.
    """
    if table is None:
        return []
    if hasattr(table, "to_dict") and hasattr(table, "columns"):
        table = table.to_dict(orient="records")
    return [{k: _record_value(k, v, int_columns) for k, v in dict(r).items()} for r in table]


def to_table(records, columns=None, int_columns=()):
    """Return a pandas DataFrame when pandas is installed, else the list of dicts.

    Columns named in ``int_columns`` (counts) get pandas' nullable ``Int64`` type, so that a
    row without a count (e.g. a skipped one) leaves ``<NA>`` rather than turning the column's
    counts into floats.
    """
    records = list(records)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a test dependency
        return records
    table = pd.DataFrame.from_records(records, columns=columns)
    for name in int_columns:
        if name in table.columns:
            table[name] = table[name].astype("Int64")
    return table
