"""One data-as-of date everywhere (issue 20): the service reads each source's latest
recorded date from the snapshot file, the dates the panel packs print."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from features.build import write_feature_table
from features.snapshot import FRESHNESS_KEY, read_freshness, with_freshness

FRESH = {"incidents": dt.date(2024, 12, 31), "school_events": dt.date(2024, 12, 20)}


def test_the_recorded_dates_travel_with_the_snapshot_file(tmp_path: Path) -> None:
    table = pa.table({"person_id": ["YP1"], "x": [1.0]}, metadata={b"other": b"kept"})
    path = write_feature_table(with_freshness(table, FRESH), tmp_path / "features.parquet")
    metadata = pq.read_schema(path).metadata
    assert read_freshness(metadata) == FRESH
    assert metadata[b"other"] == b"kept"  # nothing else in the metadata is lost
    assert pq.read_table(path).equals(table)  # and no row or column changes


def test_a_file_without_them_or_with_bad_ones_gives_none() -> None:
    assert read_freshness(None) is None
    assert read_freshness({b"other": b"x"}) is None
    assert read_freshness({FRESHNESS_KEY: b"not json"}) is None
    assert read_freshness({FRESHNESS_KEY: b'{"incidents": "31/12/2024"}'}) is None
