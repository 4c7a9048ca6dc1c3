"""Small helpers to run feature specs on hand-built frames through both paths."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import pandas as pd

from features._engine import Spec, ibis_features, memtable, pandas_features

BIRTH = pd.Timestamp("2008-01-01")


def spine_frame(as_of: Sequence[str], people: Sequence[str] = ("P1",)) -> pd.DataFrame:
    rows = [
        {"person_id": p, "snapshot": k, "as_of": pd.Timestamp(d), "birth_month": BIRTH}
        for k, d in enumerate(as_of)
        for p in people
    ]
    frame = pd.DataFrame(rows).sort_values(["snapshot", "person_id"], ignore_index=True)
    frame.insert(0, "row", range(len(frame)))
    return frame


def events_frame(rows: Sequence[dict[str, object]], columns: Sequence[str] = ()) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=list(columns) or None)
    for column in ("event_date", "recorded_date"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    return frame


def run_both(
    events: pd.DataFrame,
    as_of: Sequence[str],
    specs: Sequence[Spec],
    people: Sequence[str] = ("P1",),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (ibis result, pandas result), both sorted by snapshot and person."""
    spine = spine_frame(as_of, people)
    dates = [dt.date.fromisoformat(d) for d in as_of]
    con = ibis.duckdb.connect()
    try:
        ev = con.create_table("events", memtable(events))
        sp = con.create_table("spine", memtable(spine))
        got = ibis_features(ev, sp, specs, dates).to_pyarrow().to_pandas()
    finally:
        con.disconnect()
    ref = pandas_features(events, spine, specs, dates)
    key = ["snapshot", "person_id"]
    return (
        got.drop(columns="row").sort_values(key, ignore_index=True),
        ref.sort_values(key, ignore_index=True),
    )


def same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Equal values, treating missing as equal and ignoring integer dtypes."""
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    for column in a.columns:
        x, y = a[column], b[column]
        if column == "person_id":
            if not (x.to_numpy() == y.to_numpy()).all():
                return False
            continue
        xf = pd.to_numeric(x).astype("Float64")
        yf = pd.to_numeric(y).astype("Float64")
        if not ((xf == yf) | (xf.isna() & yf.isna())).fillna(False).all():
            return False
    return True
