"""Declarative point-in-time aggregates, compiled to Ibis (DuckDB) or to pandas.

A feature is declared once (:class:`Count`, :class:`DaysSinceLast`,
:class:`FirstAge`, :class:`OpenAtAsOf`, :class:`Distinct`, :class:`Escalation`)
and computed by :func:`ibis_features` — the production path — or by
:func:`pandas_features`, a plain per-snapshot reference used by tests and the
benchmark.

Time rules (the same in both): an event is visible at ``as_of`` only if
``recorded_date < as_of``; a window of ``w`` days covers
``event_date ∈ [as_of − w, as_of)``.

How the Ibis path avoids enumerating person × snapshot × event: each event gets
``k_lo``, the first snapshot that can see it, and ``k_hi``, the last snapshot
whose longest window still covers it, as CASE expressions over the (few)
snapshot dates — one scan. Windowed aggregates expand each event only into
snapshots ``k_lo..k_hi``. All-history aggregates are grouped by
``(person, k_lo)``, accumulated over ``k_lo`` with window functions and
as-of-joined to the spine: every event is touched once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

Where = Mapping[str, tuple[object, ...]]


@dataclass(frozen=True)
class Count:
    """Number of visible events matching ``where`` in the window (or sum of ``sum_of``)."""

    name: str
    window_days: int | None
    where: Where = field(default_factory=dict)
    sum_of: str | None = None


@dataclass(frozen=True)
class DaysSinceLast:
    """Days from the latest visible matching event to ``as_of`` (missing if none)."""

    name: str
    where: Where = field(default_factory=dict)


@dataclass(frozen=True)
class FirstAge:
    """Age in years at the earliest visible matching event (missing if none)."""

    name: str
    where: Where = field(default_factory=dict)


@dataclass(frozen=True)
class OpenAtAsOf:
    """1 if the latest visible start is later than the latest visible end, else 0."""

    name: str
    start: Where
    end: Where


@dataclass(frozen=True)
class EverFlag:
    """1 if any visible matching event exists, else 0."""

    name: str
    where: Where


@dataclass(frozen=True)
class Distinct:
    """Number of distinct values of ``column`` among matching events in the window."""

    name: str
    window_days: int
    column: str
    where: Where = field(default_factory=dict)


@dataclass(frozen=True)
class Escalation:
    """Events in the last ``recent`` days minus those in the ``recent`` days before.

    Computed from two counts: ``2 × count(recent) − count(2 × recent)``.
    """

    name: str
    recent: str
    double: str


def memtable(frame: pd.DataFrame) -> ir.Table:
    """An Ibis in-memory table from pandas, via Arrow (Ibis's pandas path warns on pandas 3)."""
    return ibis.memtable(pa.Table.from_pandas(frame, preserve_index=False))


Spec = Count | DaysSinceLast | FirstAge | OpenAtAsOf | EverFlag | Distinct | Escalation


# ----------------------------------------------------------------------------- Ibis


def _ibis_where(t: ir.Table, where: Where) -> ir.BooleanValue:
    cond: ir.BooleanValue = ibis.literal(True)
    for column, values in where.items():
        cond = cond & t[column].isin(list(values))
    return cond


def _first_visible(recorded: ir.DateValue, dates: Sequence[dt.date]) -> ir.IntegerValue:
    """Index of the first snapshot with ``recorded < as_of`` (len(dates) when none)."""
    branches = [(recorded < ibis.date(d), k) for k, d in enumerate(dates)]
    return ibis.cases(*branches, else_=len(dates))


def _last_covering(event: ir.DateValue, days: int, dates: Sequence[dt.date]) -> ir.IntegerValue:
    """Index of the last snapshot with ``as_of − days <= event`` (−1 when none)."""
    branches = [
        (event >= ibis.date(d - dt.timedelta(days=days)), k)
        for k, d in reversed(list(enumerate(dates)))
    ]
    return ibis.cases(*branches, else_=-1)


def _windowed(
    events: ir.Table, specs: Sequence[Spec], snapshots: ir.Table, dates: Sequence[dt.date]
) -> ir.Table | None:
    windowed = [s for s in specs if isinstance(s, Count | Distinct) and s.window_days is not None]
    if not windowed:
        return None
    longest = max(s.window_days for s in windowed if s.window_days is not None)
    e = events.mutate(k_hi=_last_covering(events.event_date, longest, dates))
    e = e.filter(e.k_hi >= e.k_lo)
    e = e.mutate(snapshot=ibis.range(e.k_lo, e.k_hi + 1).unnest())
    e = e.join(snapshots, "snapshot")
    aggs = {}
    for s in windowed:
        assert s.window_days is not None
        inside = (e.event_date >= e.as_of - ibis.interval(days=s.window_days)) & _ibis_where(
            e, s.where
        )
        if isinstance(s, Count):
            value = e[s.sum_of].cast("int64").fill_null(0) if s.sum_of else ibis.literal(1)
            aggs[s.name] = inside.ifelse(value, 0).sum()
        else:
            aggs[s.name] = inside.ifelse(e[s.column], ibis.null()).nunique()
    return e.group_by(["person_id", "snapshot"]).aggregate(**aggs)


def _history(events: ir.Table, specs: Sequence[Spec]) -> tuple[ir.Table, list[str]] | None:
    """Per (person, k_lo) partial aggregates, accumulated over k_lo."""
    partial: dict[str, ir.Value] = {}
    cumulative: dict[str, str] = {}  # column -> sum | max | min
    e = events
    for s in specs:
        if isinstance(s, Count) and s.window_days is None:
            value = e[s.sum_of].cast("int64").fill_null(0) if s.sum_of else ibis.literal(1)
            partial[s.name] = _ibis_where(e, s.where).ifelse(value, 0).sum()
            cumulative[s.name] = "sum"
        elif isinstance(s, EverFlag):
            partial[s.name] = _ibis_where(e, s.where).ifelse(1, 0).sum()
            cumulative[s.name] = "sum"
        elif isinstance(s, DaysSinceLast):
            partial[f"{s.name}__last"] = _ibis_where(e, s.where).ifelse(e.event_date, None).max()
            cumulative[f"{s.name}__last"] = "max"
        elif isinstance(s, FirstAge):
            partial[f"{s.name}__first"] = _ibis_where(e, s.where).ifelse(e.event_date, None).min()
            cumulative[f"{s.name}__first"] = "min"
        elif isinstance(s, OpenAtAsOf):
            partial[f"{s.name}__start"] = _ibis_where(e, s.start).ifelse(e.event_date, None).max()
            partial[f"{s.name}__end"] = _ibis_where(e, s.end).ifelse(e.event_date, None).max()
            cumulative[f"{s.name}__start"] = "max"
            cumulative[f"{s.name}__end"] = "max"
    if not partial:
        return None
    grouped = e.group_by(["person_id", "k_lo"]).aggregate(**partial)
    w = ibis.window(group_by="person_id", order_by="k_lo", preceding=None, following=0)
    running = {col: getattr(grouped[col], how)().over(w) for col, how in cumulative.items()}
    return grouped.mutate(**running), list(cumulative)


def ibis_features(
    events: ir.Table,
    spine: ir.Table,
    specs: Sequence[Spec],
    dates: Sequence[dt.date],
) -> ir.Table:
    """Compute ``specs`` for every spine row as one Ibis expression.

    Parameters
    ----------
    events
        Event table with ``person_id, event_date, recorded_date`` and the columns
        the specs filter on.
    spine
        Spine with ``row, person_id, snapshot, as_of, birth_month``.
    specs
        Feature declarations.
    dates
        Sorted snapshot dates (``dates[k]`` is the as_of of snapshot ``k``).

    Returns
    -------
    ibis.Table
        ``row`` (the spine row number), ``person_id``, ``snapshot`` and one column per
        spec, one row per spine row.
    """
    snapshots = memtable(
        pd.DataFrame(
            {
                "snapshot": np.arange(len(dates), dtype="int64"),
                "as_of": pd.to_datetime(list(dates)).astype("datetime64[s]"),
            }
        )
    ).mutate(as_of=lambda t: t.as_of.date())
    e = events.mutate(
        event_date=events.event_date.cast("date"), recorded_date=events.recorded_date.cast("date")
    )
    e = e.mutate(k_lo=_first_visible(e.recorded_date, dates)).filter(lambda t: t.k_lo < len(dates))
    base = spine.select("row", "person_id", "snapshot", "as_of", "birth_month").mutate(
        as_of=lambda t: t.as_of.cast("date"), birth_month=lambda t: t.birth_month.cast("date")
    )
    out = base
    win = _windowed(e, specs, snapshots, dates)
    if win is not None:
        out = out.left_join(win, ["person_id", "snapshot"]).drop(
            "person_id_right", "snapshot_right"
        )
    hist = _history(e, specs)
    if hist is not None:
        table, columns = hist
        table = table.select("person_id", "k_lo", *columns)
        out = out.asof_join(table, on=out.snapshot >= table.k_lo, predicates="person_id")
        out = out.drop(*[c for c in out.columns if c.endswith("_right") or c == "k_lo"])
    values: dict[str, ir.Value] = {}
    for s in specs:
        if isinstance(s, Count | Distinct | EverFlag):
            col = out[s.name].fill_null(0)
            values[s.name] = (col > 0).ifelse(1, 0) if isinstance(s, EverFlag) else col
        elif isinstance(s, DaysSinceLast):
            values[s.name] = out.as_of.delta(out[f"{s.name}__last"], unit="day")
        elif isinstance(s, FirstAge):
            first = out[f"{s.name}__first"]
            months = first.delta(out.birth_month, unit="month")
            values[s.name] = (months / 12).floor().cast("int64")
        elif isinstance(s, OpenAtAsOf):
            start, end = out[f"{s.name}__start"], out[f"{s.name}__end"]
            is_open = start.notnull() & (end.isnull() | (start > end))
            values[s.name] = is_open.ifelse(1, 0)
    out = out.mutate(**values)
    derived = {
        s.name: 2 * out[s.recent] - out[s.double] for s in specs if isinstance(s, Escalation)
    }
    out = out.mutate(**derived)
    return out.select("row", "person_id", "snapshot", *[s.name for s in specs])


# ----------------------------------------------------------------------------- pandas


def _pandas_where(df: pd.DataFrame, where: Where) -> pd.Series:
    mask = pd.Series(True, index=df.index)
    for column, values in where.items():
        mask &= df[column].isin(list(values))
    return mask


def pandas_features(
    events: pd.DataFrame, spine: pd.DataFrame, specs: Sequence[Spec], dates: Sequence[dt.date]
) -> pd.DataFrame:
    """Reference implementation: one vectorised groupby per snapshot.

    Same inputs and output as :func:`ibis_features`, as pandas frames.
    """
    results = []
    for k, as_of in enumerate(dates):
        when = pd.Timestamp(as_of)
        rows = spine.loc[spine["snapshot"] == k, ["person_id", "snapshot", "birth_month"]]
        visible = events[events["recorded_date"] < when]
        out = rows.set_index("person_id")
        for s in specs:
            if isinstance(s, Count):
                mask = _pandas_where(visible, s.where)
                if s.window_days is not None:
                    mask &= visible["event_date"] >= when - pd.Timedelta(days=s.window_days)
                chosen = visible[mask]
                values = (
                    chosen.groupby("person_id")[s.sum_of].sum()
                    if s.sum_of
                    else chosen.groupby("person_id").size()
                )
                out[s.name] = values.reindex(out.index, fill_value=0).astype("int64")
            elif isinstance(s, Distinct):
                mask = _pandas_where(visible, s.where) & (
                    visible["event_date"] >= when - pd.Timedelta(days=s.window_days)
                )
                values = visible[mask].groupby("person_id")[s.column].nunique()
                out[s.name] = values.reindex(out.index, fill_value=0).astype("int64")
            elif isinstance(s, EverFlag):
                ids = visible.loc[_pandas_where(visible, s.where), "person_id"]
                out[s.name] = out.index.isin(ids).astype("int64")
            elif isinstance(s, DaysSinceLast):
                last = (
                    visible[_pandas_where(visible, s.where)]
                    .groupby("person_id")["event_date"]
                    .max()
                )
                out[s.name] = (when - last.reindex(out.index)).dt.days.astype("Int64")
            elif isinstance(s, FirstAge):
                first = (
                    visible[_pandas_where(visible, s.where)]
                    .groupby("person_id")["event_date"]
                    .min()
                )
                first = first.reindex(out.index)
                birth = out["birth_month"]
                months = (first.dt.year - birth.dt.year) * 12 + (first.dt.month - birth.dt.month)
                months -= (first.dt.day < birth.dt.day).astype(int)
                out[s.name] = (months // 12).astype("Int64")
            elif isinstance(s, OpenAtAsOf):
                start = (
                    visible[_pandas_where(visible, s.start)]
                    .groupby("person_id")["event_date"]
                    .max()
                )
                end = (
                    visible[_pandas_where(visible, s.end)].groupby("person_id")["event_date"].max()
                )
                start, end = start.reindex(out.index), end.reindex(out.index)
                out[s.name] = (start.notna() & (end.isna() | (start > end))).astype("int64")
        for s in specs:
            if isinstance(s, Escalation):
                out[s.name] = 2 * out[s.recent] - out[s.double]
        results.append(out.drop(columns="birth_month").reset_index())
    columns = ["person_id", "snapshot", *[s.name for s in specs]]
    return pd.concat(results, ignore_index=True)[columns]
