"""The monitoring history: one Parquet file that every monthly run appends to.

One row per month, local authority, outcome, check and subject (see :data:`COLUMNS`).
Re-running a month replaces that month's rows and nothing else; the file is written
to a temporary name beside it and swapped in with :func:`os.replace`, so a run that
dies leaves the previous history whole.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "ALL_AREAS",
    "ANY_OUTCOME",
    "COLUMNS",
    "HISTORY",
    "JUDGED",
    "STATUSES",
    "HistoryError",
    "empty_history",
    "merge_months",
    "read_history",
    "write_history",
]

HISTORY = "history.parquet"
#: ``local_authority`` of rows pooled over every area
ALL_AREAS = "All areas"
#: ``outcome`` of the data checks (they concern the records, not one model)
ANY_OUTCOME = "any"
#: statuses, mildest first: ``info`` (recorded, not judged), ``too few`` (below the plan's
#: minimum numbers), ``not yet`` (no outcome window has closed), then the judged ones
STATUSES = ("info", "too few", "not yet", "green", "amber", "red")
JUDGED = ("green", "amber", "red")

#: the history's columns and their Arrow types
COLUMNS: dict[str, pa.DataType] = {
    "as_of": pa.date32(),  # the month's as-of date: records made before it
    "local_authority": pa.string(),  # or ALL_AREAS
    "outcome": pa.string(),  # victim, perpetrator, or ANY_OUTCOME for the data checks
    "model_version": pa.string(),  # "" for the data checks
    "check": pa.string(),  # a key of monitoring.plan.CHECKS, "list_composition" or "status"
    "subject": pa.string(),  # source, band, list, group ("ethnicity: Black"), input ...
    "value": pa.float64(),  # the figure the check judges (NaN when there is none)
    "low": pa.float64(),  # its interval at the plan's confidence (NaN when none)
    "high": pa.float64(),
    "observed": pa.float64(),  # the count behind it, where there is one
    "expected": pa.float64(),  # what the reference or the estimates expected
    "n": pa.int64(),  # people (or records) behind the figure
    "status": pa.string(),  # one of STATUSES
    "enforced": pa.bool_(),  # red on this check suspends the model version
    "amber": pa.float64(),  # the plan's limits (NaN for info rows)
    "red": pa.float64(),
    "words": pa.string(),  # one plain sentence for a partnership board
}
SCHEMA = pa.schema(list(COLUMNS.items()))


class HistoryError(RuntimeError):
    """The history file cannot be read or written (one line)."""


def empty_history() -> pd.DataFrame:
    """A history with no rows and every column."""
    return SCHEMA.empty_table().to_pandas()


def _frame(rows: pd.DataFrame) -> pa.Table:
    missing = [c for c in COLUMNS if c not in rows.columns]
    if missing:
        raise HistoryError(f"monitoring rows lack the column {missing[0]!r}")
    rows = rows[list(COLUMNS)].copy()
    rows["as_of"] = pd.to_datetime(rows["as_of"]).dt.date
    return pa.Table.from_pandas(rows, schema=SCHEMA, preserve_index=False)


def read_history(folder: Path) -> pd.DataFrame:
    """The history kept in ``folder`` (empty when there is none yet)."""
    path = folder / HISTORY
    if not path.exists():
        return empty_history()
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise HistoryError(f"cannot read the monitoring history {path}: {exc}") from None
    if table.schema.names != list(COLUMNS):
        raise HistoryError(
            f"{path} is not a monitoring history of this version (columns "
            f"{', '.join(table.schema.names[:4])}…)"
        )
    return table.to_pandas()


def merge_months(
    history: pd.DataFrame, rows: pd.DataFrame, months: Sequence[dt.date]
) -> pd.DataFrame:
    """``history`` with every row of ``months`` replaced by ``rows``, sorted by month."""
    keep = history[~pd.to_datetime(history["as_of"]).dt.date.isin(set(months))]
    parts = [p for p in (keep, rows[list(COLUMNS)]) if len(p)]
    merged = pd.concat(parts, ignore_index=True) if parts else empty_history()
    merged["as_of"] = pd.to_datetime(merged["as_of"]).dt.date
    return merged.sort_values(
        ["as_of", "outcome", "check", "local_authority", "subject"], kind="mergesort"
    ).reset_index(drop=True)


def write_history(folder: Path, history: pd.DataFrame) -> Path:
    """Write ``history`` to ``folder`` atomically (temporary file, then :func:`os.replace`)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / HISTORY
    partial = folder / f".{HISTORY}.partial"
    table = _frame(history)
    pq.write_table(table, partial, compression="zstd")
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, path)
    return path
