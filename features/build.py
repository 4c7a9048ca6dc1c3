"""Build the feature table: spine + one builder per source + labels, on embedded DuckDB.

This is the only place that executes the builders' Ibis expressions. Each raw
table is loaded into one DuckDB connection once; the result stays in Arrow until
it is written.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.contacts import build_contact_features
from features.incidents import build_incident_features
from features.labels import LABELS, build_labels
from features.registry import AGE, AUDIT_ONLY, FEATURES
from features.school import build_school_features
from features.spine import Spine, build_spine

#: snapshots computed in one pass; longer lists are built in batches (progress per batch)
BATCH_SNAPSHOTS = 12
STAGES = ("school", "contacts", "incidents", "labels")
KEY_COLUMNS = ("person_id", "as_of")


class FeatureBuildError(RuntimeError):
    """A builder broke its contract (e.g. not one row per spine row)."""


def feature_columns() -> list[str]:
    """Feature columns in table order (age first, then school, contacts, incidents)."""
    return [AGE.name, *(f.info.name for f in FEATURES)]


def table_columns() -> list[str]:
    """All columns of the feature table, in order."""
    return [*KEY_COLUMNS, *feature_columns(), *LABELS, *AUDIT_ONLY]


def _load(con: ibis.BaseBackend, name: str, frame: pd.DataFrame) -> ibis.Table:
    # (create_table's overwrite=True emits SQL that DuckDB 2.0 rejects: use fresh names)
    return con.create_table(name, ibis.memtable(frame))


def _batch(
    con: ibis.BaseBackend,
    tables: Mapping[str, ibis.Table],
    spine: Spine,
    end: dt.date,
    tick: Callable[[str], None],
) -> pa.Table:
    spine_t = _load(con, f"spine_{spine.as_of_dates[0]:%Y%m%d}", spine.rows)
    parts = {
        "school": build_school_features(tables["school_events"], spine_t, spine),
        "contacts": build_contact_features(tables["agency_contacts"], spine_t, spine),
        "incidents": build_incident_features(tables["incidents"], spine_t, spine),
        "labels": build_labels(tables["incidents"], spine_t, spine, end),
    }
    # every part comes back in spine order, so columns line up without a join; the key
    # columns are compared to prove one row per spine row
    rows = spine.rows
    columns: dict[str, object] = {c: rows[c].to_numpy() for c in rows.columns}
    columns["demo_asof_age_years"] = (rows["age_months"] // 12).to_numpy()
    for stage in STAGES:
        part = parts[stage].order_by("row").to_pyarrow()
        same_rows = part.num_rows == len(rows) and np.array_equal(
            part.column("row").to_numpy(), rows["row"].to_numpy()
        )
        if not same_rows:
            raise FeatureBuildError(
                f"the {stage} builder did not return exactly one row per spine row "
                f"({part.num_rows} rows for {len(rows)})"
            )
        for name in part.column_names[3:]:
            columns[name] = part.column(name).to_pandas()
        tick(stage)
    out = pd.DataFrame(columns)
    for column in feature_columns():
        if out[column].isna().any():
            out[column] = out[column].astype("Int64")
        else:
            out[column] = out[column].astype("int64")
    for column in LABELS:
        out[column] = out[column].astype("Int8")
    return pa.Table.from_pandas(out[table_columns()], preserve_index=False)


def build_feature_table(
    tables: Mapping[str, pd.DataFrame],
    as_of_dates: Sequence[dt.date],
    data_end: dt.date,
    progress: Callable[[int, int, str], None] | None = None,
) -> pa.Table:
    """Features, labels and audit columns for everyone on the spine at each as-of date.

    Parameters
    ----------
    tables
        The four validated raw tables (see :func:`features.schemas.load_raw`).
    as_of_dates
        Snapshot dates.
    data_end
        First day after the data (labels whose window passes it are missing).
    progress
        Called as ``progress(done, total, stage)``.
    """
    dates = sorted(set(as_of_dates))
    batches = [dates[i : i + BATCH_SNAPSHOTS] for i in range(0, len(dates), BATCH_SNAPSHOTS)]
    total = len(batches) * len(STAGES)
    done = 0

    def tick(stage: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, stage)

    con = ibis.duckdb.connect()
    try:
        loaded = {
            name: _load(con, name, tables[name])
            for name in ("school_events", "agency_contacts", "incidents")
        }
        pieces = [
            _batch(con, loaded, build_spine(tables["people"], batch), data_end, tick)
            for batch in batches
        ]
    finally:
        con.disconnect()
    return pa.concat_tables(pieces)


def write_feature_table(table: pa.Table, out: Path) -> Path:
    """Write atomically: a temporary file beside ``out``, renamed when complete."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out
