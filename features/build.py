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

from features._engine import DaysSinceLast, FirstAge, memtable
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
    return con.create_table(name, memtable(frame))


def _batch(
    con: ibis.BaseBackend,
    tables: Mapping[str, ibis.Table],
    spine: Spine,
    end: dt.date,
    tick: Callable[[str], None],
) -> pa.Table:
    spine_arrow = pa.Table.from_pandas(spine.rows, preserve_index=False)
    spine_t = con.create_table(f"spine_{spine.as_of_dates[0]:%Y%m%d}", ibis.memtable(spine_arrow))
    parts = {
        "school": build_school_features(tables["school_events"], spine_t, spine),
        "contacts": build_contact_features(tables["agency_contacts"], spine_t, spine),
        "incidents": build_incident_features(tables["incidents"], spine_t, spine),
        "labels": build_labels(tables["incidents"], spine_t, spine, end),
    }
    # every part comes back in spine order, so columns line up without a join; the row
    # numbers are compared to prove one row per spine row
    expected_rows = spine_arrow.column("row").to_numpy()
    columns: dict[str, pa.ChunkedArray | pa.Array] = {
        name: spine_arrow.column(name) for name in spine_arrow.column_names
    }
    columns[AGE.name] = pa.array(spine.rows["age_months"].to_numpy() // 12, pa.int64())
    for stage in STAGES:
        part = parts[stage].order_by("row").to_pyarrow()
        same_rows = part.num_rows == len(expected_rows) and np.array_equal(
            part.column("row").to_numpy(), expected_rows
        )
        if not same_rows:
            raise FeatureBuildError(
                f"the {stage} builder did not return exactly one row per spine row "
                f"({part.num_rows} rows for {len(expected_rows)})"
            )
        for name in part.column_names[3:]:
            columns[name] = part.column(name)
        tick(stage)
    for name in feature_columns():
        columns[name] = columns[name].cast(pa.int64())
    for name in LABELS:
        columns[name] = columns[name].cast(pa.int8())
    columns["as_of"] = columns["as_of"].cast(pa.timestamp("ns"))
    return pa.table({name: columns[name] for name in table_columns()})


def nullable_columns() -> list[str]:
    """Features that are missing when there is no event (days since, first age)."""
    return [f.info.name for f in FEATURES if isinstance(f.spec, DaysSinceLast | FirstAge)]


def to_frame(table: pa.Table) -> pd.DataFrame:
    """The feature table as pandas: counts ``int64``; days-since, first-age ``Int64``;
    labels ``Int8`` (missing where the label window runs past the data)."""
    frame = table.to_pandas()
    for name in nullable_columns():
        frame[name] = frame[name].astype("Int64")
    for name in LABELS:
        if name in frame.columns:
            frame[name] = frame[name].astype("Int8")
    return frame


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


def source_freshness(tables: Mapping[str, pd.DataFrame], as_of: dt.date) -> dict[str, dt.date]:
    """Latest recorded date of each source known on ``as_of`` (what "data as of" means)."""
    when = pd.Timestamp(as_of)
    fresh = {}
    for name in ("school_events", "agency_contacts", "incidents"):
        known = tables[name]["recorded_date"]
        known = known[known < when]
        if len(known):
            fresh[name] = pd.Timestamp(known.max()).date()
    return fresh


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
