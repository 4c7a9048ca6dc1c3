"""The one way in from a data folder to a feature frame: :func:`build_snapshot`.

Load and validate the raw tables, check the as-of dates against the data, build
the point-in-time features, and return the frame with what every consumer needs
beside it: each source's freshness, the data fingerprint and the data's end.
Training, the fairness gate, the monthly batch, ``vru explain`` and
``vru features`` all come in here, so they refuse the same inputs with the same
words. Labels are kept only when asked for: a scoring path never sees them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from features.build import build_feature_table, source_freshness, to_frame
from features.labels import LABELS
from features.schemas import (
    EVENT_TABLES,
    RAW_TABLES,
    ContractError,
    check_extract_date,
    data_end,
    extract_date_of,
    load_raw,
)

__all__ = [
    "FRESHNESS_KEY",
    "MSG_AFTER_END",
    "MSG_BEFORE_START",
    "FeatureSnapshot",
    "SnapshotError",
    "build_snapshot",
    "data_fingerprint",
    "data_start",
    "load_tables",
    "read_freshness",
    "with_freshness",
]

MSG_NO_RAW = "no raw tables in {folder} (expected {raw}; make one with vru synth)"
MSG_AFTER_END = "--as-of {as_of} is after the data ends ({end}); nothing would be visible later"
MSG_BEFORE_START = "--as-of {as_of} is before the data begins ({start}); nothing is on record yet"


class SnapshotError(ContractError):
    """The folder or the dates cannot give a snapshot (one line naming the problem)."""


@dataclass(frozen=True)
class Tables:
    """The validated raw tables of one data folder, with their span and fingerprint."""

    folder: Path
    tables: Mapping[str, pd.DataFrame]
    start: dt.date
    end: dt.date
    fingerprint: str

    @property
    def people(self) -> pd.DataFrame:
        return self.tables["people"]


@dataclass(frozen=True)
class FeatureSnapshot:
    """Features for everyone on the spine at each as-of date, and where they came from."""

    frame: pd.DataFrame
    #: the Arrow table behind ``frame`` (written as is by ``vru features``)
    table: pa.Table
    data: Tables
    as_of: tuple[dt.date, ...]
    #: per source, the latest record known on the last as-of date
    freshness: Mapping[str, dt.date]

    @property
    def fingerprint(self) -> str:
        return self.data.fingerprint

    @property
    def data_end(self) -> dt.date:
        return self.data.end


def data_fingerprint(folder: Path) -> str:
    """SHA-256 over the raw Parquet files (the pipeline's only input)."""
    digest = hashlib.sha256()
    for table in RAW_TABLES:
        path = folder / "raw" / f"{table}.parquet"
        digest.update(table.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def data_start(tables: Mapping[str, pd.DataFrame]) -> dt.date:
    """The earliest recorded date of any event."""
    return min(pd.Timestamp(tables[t]["recorded_date"].min()) for t in EVENT_TABLES).date()


def load_tables(folder: Path) -> Tables:
    """Read and validate ``folder/raw``; :class:`SnapshotError` or ``ContractError`` on refusal."""
    if not (folder / "raw").is_dir():
        raise SnapshotError(MSG_NO_RAW.format(folder=folder, raw=folder / "raw"))
    tables = load_raw(folder)
    check_extract_date(tables, extract_date_of(folder))
    return Tables(folder, tables, data_start(tables), data_end(tables), data_fingerprint(folder))


def check_dates(as_of_dates: Sequence[dt.date], data: Tables) -> None:
    """Refuse an as-of date after the data ends or on/before its first record."""
    for as_of in as_of_dates:
        if as_of > data.end:
            raise SnapshotError(MSG_AFTER_END.format(as_of=as_of, end=data.end))
        if as_of <= data.start:
            raise SnapshotError(MSG_BEFORE_START.format(as_of=as_of, start=data.start))


def build_snapshot(
    source: Path | Tables,
    as_of_dates: Sequence[dt.date],
    *,
    labels: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> FeatureSnapshot:
    """Features (and, with ``labels``, the labels) at each as-of date.

    Parameters
    ----------
    source
        A data folder (``folder/raw/*.parquet``) or tables already loaded with
        :func:`load_tables` (several snapshots of one folder load it once).
    as_of_dates
        Snapshot dates; each must lie inside the data.
    labels
        Keep the label columns (training, the gate, ``vru features``).
    progress
        Called as ``progress(done, total, stage)`` while building.

    Raises
    ------
    SnapshotError, features.schemas.ContractError
        One line naming the problem; nothing is built.
    """
    data = source if isinstance(source, Tables) else load_tables(source)
    dates = tuple(sorted(set(as_of_dates)))
    if not dates:
        raise SnapshotError("at least one --as-of date is needed")
    check_dates(dates, data)
    table = build_feature_table(data.tables, dates, data.end, progress=progress)
    if not labels:
        table = table.drop_columns(list(LABELS))
    freshness = source_freshness(data.tables, dates[-1])
    table = with_freshness(table, freshness)
    return FeatureSnapshot(
        frame=to_frame(table), table=table, data=data, as_of=dates, freshness=freshness
    )


#: Parquet metadata key of each source's latest recorded date (JSON), so that the service
#: reads the same "records to" dates as the panel packs
FRESHNESS_KEY = b"vru.freshness"


def with_freshness(table: pa.Table, freshness: Mapping[str, dt.date]) -> pa.Table:
    """``table`` carrying each source's latest recorded date in its schema metadata."""
    metadata = dict(table.schema.metadata or {})
    metadata[FRESHNESS_KEY] = json.dumps(
        {k: v.isoformat() for k, v in sorted(freshness.items())}
    ).encode()
    return table.replace_schema_metadata(metadata)


def read_freshness(metadata: Mapping[bytes, bytes] | None) -> dict[str, dt.date] | None:
    """The dates :func:`with_freshness` wrote, or ``None`` (a file written before them, or
    unreadable metadata)."""
    raw = (metadata or {}).get(FRESHNESS_KEY)
    if raw is None:
        return None
    try:
        return {str(k): dt.date.fromisoformat(str(v)) for k, v in json.loads(raw).items()}
    except (ValueError, TypeError, AttributeError):
        return None
