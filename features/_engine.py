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
``(person, k_lo)``, accumulated over ``k_lo`` with window functions and joined to
the spine on the range of snapshots each accumulated row holds for (a hash join on
the person with a range condition: cheaper than an as-of join, which sorts the whole
spine, and one that Spark runs too): every event is touched once.
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
    """Number of distinct values of ``column`` among matching events in the window.

    ``values``, when given, lists every value ``column`` can take (its contract's codes):
    the count is then a sum of one "any in the window" flag per value, which the engine
    computes with the other counts in one pass instead of a separate distinct count.
    """

    name: str
    window_days: int
    column: str
    where: Where = field(default_factory=dict)
    values: tuple[object, ...] | None = None


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


def _count(e: ir.Table, spec: Count, where: ir.BooleanValue) -> ir.IntegerValue:
    """Matching events (or the sum of ``spec.sum_of`` over them): an aggregate with a filter,
    which DuckDB evaluates much faster than a sum of CASE expressions; missing when none
    match (filled with 0 at the end)."""
    if spec.sum_of:
        return e[spec.sum_of].cast("int64").fill_null(0).sum(where=where)
    return e.person_id.count(where=where)


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
    per_value: dict[str, list[str]] = {}
    for s in windowed:
        assert s.window_days is not None
        inside = (e.event_date >= e.as_of - ibis.interval(days=s.window_days)) & _ibis_where(
            e, s.where
        )
        if isinstance(s, Count):
            aggs[s.name] = _count(e, s, inside)
        elif s.values is None:
            aggs[s.name] = inside.ifelse(e[s.column], ibis.null()).nunique()
        else:
            per_value[s.name] = [f"{s.name}__{i}" for i in range(len(s.values))]
            for flag, value in zip(per_value[s.name], s.values, strict=True):
                aggs[flag] = e.person_id.count(where=inside & (e[s.column] == value)) > 0
    out = e.group_by(["person_id", "snapshot"]).aggregate(**aggs)
    if not per_value:
        return out
    distinct = {
        name: sum((out[flag].cast("int64") for flag in flags), ibis.literal(0, "int64"))
        for name, flags in per_value.items()
    }
    return out.mutate(**distinct).drop(*(f for flags in per_value.values() for f in flags))


def _history(
    events: ir.Table, specs: Sequence[Spec], n_snapshots: int
) -> tuple[ir.Table, list[str]] | None:
    """All-history aggregates per person and range of snapshots, for people with a visible
    event.

    Partial aggregates per (person, k_lo) are accumulated over k_lo; each accumulated row
    holds for the snapshots ``k_lo <= snapshot < k_next`` (the person's next k_lo), the
    range on which it joins the spine.
    """
    partial: dict[str, ir.Value] = {}
    cumulative: dict[str, str] = {}  # column -> sum | max | min
    e = events
    for s in specs:
        if isinstance(s, Count) and s.window_days is None:
            partial[s.name] = _count(e, s, _ibis_where(e, s.where))
            cumulative[s.name] = "sum"
        elif isinstance(s, EverFlag):
            partial[s.name] = e.person_id.count(where=_ibis_where(e, s.where))
            cumulative[s.name] = "sum"
        elif isinstance(s, DaysSinceLast):
            partial[f"{s.name}__last"] = e.event_date.max(where=_ibis_where(e, s.where))
            cumulative[f"{s.name}__last"] = "max"
        elif isinstance(s, FirstAge):
            partial[f"{s.name}__first"] = e.event_date.min(where=_ibis_where(e, s.where))
            cumulative[f"{s.name}__first"] = "min"
        elif isinstance(s, OpenAtAsOf):
            partial[f"{s.name}__start"] = e.event_date.max(where=_ibis_where(e, s.start))
            partial[f"{s.name}__end"] = e.event_date.max(where=_ibis_where(e, s.end))
            cumulative[f"{s.name}__start"] = "max"
            cumulative[f"{s.name}__end"] = "max"
    if not partial:
        return None
    grouped = e.group_by(["person_id", "k_lo"]).aggregate(**partial)
    w = ibis.window(group_by="person_id", order_by="k_lo", preceding=None, following=0)
    running = {col: getattr(grouped[col], how)().over(w) for col, how in cumulative.items()}
    following = ibis.window(group_by="person_id", order_by="k_lo")
    k_next = grouped.k_lo.lead().over(following).fill_null(n_snapshots)
    held = grouped.mutate(**running, k_next=k_next)
    return held.select("person_id", "k_lo", "k_next", *cumulative), list(cumulative)


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
    hist = _history(e, specs, len(dates))
    if hist is not None:
        table, _ = hist
        held = [
            out.person_id == table.person_id,
            out.snapshot >= table.k_lo,
            out.snapshot < table.k_next,
        ]
        out = out.left_join(table, held).drop("person_id_right", "k_lo", "k_next")
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
