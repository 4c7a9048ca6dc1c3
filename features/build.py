"""Build the feature table: spine + one builder per source + labels, on embedded DuckDB.

This is the only place that executes the builders' Ibis expressions. Each raw
table is loaded into one DuckDB connection once, with people keyed by integers (the
spine's ``person_key``) rather than by their string ids, which makes the joins
cheaper. Each builder's result is streamed back in batches and scattered into spine
order, and the table stays in Arrow until it is written. DuckDB works within
:data:`DUCKDB_MEMORY_LIMIT` and spills to a temporary folder beyond it.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from ibis.backends.duckdb import Backend as DuckDBBackend

from features._engine import DaysSinceLast, FirstAge
from features.contacts import build_contact_features
from features.incidents import build_incident_features
from features.labels import LABELS, build_labels
from features.registry import AGE, AUDIT_ONLY, FEATURES
from features.school import build_school_features
from features.spine import Spine, build_spine

#: snapshots computed in one pass; longer lists are built in batches (progress per batch)
BATCH_SNAPSHOTS = 12
STAGES = ("school", "contacts", "incidents", "labels")
#: DuckDB's working memory; beyond it, it spills to a temporary folder (its own
#: buffers only: the feature table itself is held outside it)
DUCKDB_MEMORY_LIMIT = "4GB"
#: rows per batch streamed back from DuckDB
BATCH_ROWS = 1 << 17
KEY_COLUMNS = ("person_id", "as_of")


class FeatureBuildError(RuntimeError):
    """A builder broke its contract (e.g. not one row per spine row)."""


def feature_columns() -> list[str]:
    """Feature columns in table order (age first, then school, contacts, incidents)."""
    return [AGE.name, *(f.info.name for f in FEATURES)]


def table_columns() -> list[str]:
    """All columns of the feature table, in order."""
    return [*KEY_COLUMNS, *feature_columns(), *LABELS, *AUDIT_ONLY]


def _load(con: DuckDBBackend, name: str, frame: pd.DataFrame, people: ibis.Table) -> ibis.Table:
    """``frame`` as a DuckDB table whose ``person_id`` is the person's integer key: the
    position of the person in the ``people`` table (the spine's ``person_key``)."""
    events = ibis.memtable(pa.Table.from_pandas(frame, preserve_index=False))
    keyed = events.join(people, "person_id").drop("person_id").rename(person_id="person_key")
    # (create_table's overwrite=True emits SQL that DuckDB 2.0 rejects: use fresh names)
    return con.create_table(name, keyed)


def _stream(con: DuckDBBackend, name: str, part: ibis.Table) -> pa.RecordBatchReader:
    """Run ``part`` and read its result in batches.

    (Ibis 12's ``to_pyarrow_batches`` calls a cursor method DuckDB 2.0 no longer has; a
    view registers the in-memory tables the query reads, then DuckDB streams it.)
    """
    con.create_view(name, part)
    return con.con.sql(f'SELECT * FROM "{name}"').to_arrow_reader(BATCH_ROWS)


def _in_spine_order(
    reader: pa.RecordBatchReader, n_rows: int, stage: str, dtypes: Mapping[str, np.dtype[Any]]
) -> dict[str, pa.Array]:
    """A builder's columns (after ``row``, ``person_id``, ``snapshot``) read from its
    result and put in spine order as ``dtypes`` says; refused unless the result gives each
    spine row exactly once.

    The result is streamed in batches and each batch scattered to its spine rows, so no
    full-size intermediate exists: DuckDB never sorts the wide rows (which costs more
    than the query) nor materialises the whole result, and nothing is copied twice.
    """
    names = reader.schema.names[3:]
    values = {name: np.zeros(n_rows, dtype=dtypes[name]) for name in names}
    valid = {name: np.ones(n_rows, dtype=bool) for name in names}
    seen = np.zeros(n_rows, dtype=np.int8)
    received = 0
    for batch in reader:
        rows = batch.column("row").to_numpy()
        received += len(rows)
        if received > n_rows or rows.min(initial=0) < 0 or rows.max(initial=-1) >= n_rows:
            break
        seen[rows] += 1
        for name in names:
            # a safe cast: refused (never wrapped) if a value does not fit
            column = batch.column(name).cast(pa.from_numpy_dtype(values[name].dtype))
            if column.null_count:
                valid[name][rows] = column.is_valid().to_numpy(zero_copy_only=False)
                column = column.fill_null(0)
            values[name][rows] = column.to_numpy()
    reader.close()
    if received != n_rows or not (seen == 1).all():
        raise FeatureBuildError(
            f"the {stage} builder did not return exactly one row per spine row "
            f"({received} rows for {n_rows})"
        )
    return {
        name: pa.array(values[name], mask=None if valid[name].all() else ~valid[name])
        for name in names
    }


def _batch(
    con: DuckDBBackend,
    tables: Mapping[str, ibis.Table],
    spine: Spine,
    end: dt.date,
    tick: Callable[[str], None],
) -> pa.Table:
    rows = spine.rows
    n_rows = len(rows)
    # what the builders read of the spine, keyed by integers (faster joins, less memory)
    spine_t = ibis.memtable(
        pa.table(
            {
                "row": pa.array(rows["row"].to_numpy(), pa.int64()),
                "person_id": pa.array(rows["person_key"].to_numpy(), pa.int64()),
                "snapshot": pa.array(rows["snapshot"].to_numpy(), pa.int32()),
                "as_of": pa.array(rows["as_of"].to_numpy(), pa.timestamp("ns")),
                "birth_month": pa.array(rows["birth_month"].to_numpy(), pa.timestamp("ns")),
            }
        )
    )
    parts = {
        "school": build_school_features(tables["school_events"], spine_t, spine),
        "contacts": build_contact_features(tables["agency_contacts"], spine_t, spine),
        "incidents": build_incident_features(tables["incidents"], spine_t, spine),
        "labels": build_labels(tables["incidents"], spine_t, spine, end),
    }
    spine_arrow = pa.Table.from_pandas(
        rows[["person_id", "as_of", *AUDIT_ONLY]], preserve_index=False
    )
    columns: dict[str, pa.ChunkedArray | pa.Array] = {
        name: spine_arrow.column(name) for name in spine_arrow.column_names
    }
    columns[AGE.name] = pa.array(rows["age_months"].to_numpy() // 12, pa.int64())
    dtypes: dict[str, np.dtype[Any]] = {name: np.dtype(np.int64) for name in feature_columns()}
    dtypes.update({name: np.dtype(np.int8) for name in LABELS})
    for stage in STAGES:
        reader = _stream(con, f"{stage}_{spine.as_of_dates[0]:%Y%m%d}", parts[stage])
        columns.update(_in_spine_order(reader, n_rows, stage, dtypes))
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

    ids = tables["people"]["person_id"]
    people = ibis.memtable(
        pa.table(
            {
                "person_id": pa.array(ids, pa.large_string()),
                "person_key": pa.array(np.arange(len(ids), dtype=np.int64)),
            }
        )
    )
    spill = tempfile.TemporaryDirectory(prefix="vru-duckdb-")
    con = ibis.duckdb.connect(
        # a large population spills to disk rather than failing or crowding out the rest
        memory_limit=DUCKDB_MEMORY_LIMIT,
        temp_directory=spill.name,
        # every builder's rows are put in spine order here, by their row numbers
        preserve_insertion_order=False,
    )
    try:
        loaded = {
            name: _load(con, name, tables[name], people)
            for name in ("school_events", "agency_contacts", "incidents")
        }
        pieces = [
            _batch(con, loaded, build_spine(tables["people"], batch), data_end, tick)
            for batch in batches
        ]
    finally:
        con.disconnect()
        spill.cleanup()
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
