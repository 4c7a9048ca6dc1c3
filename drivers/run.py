"""Build every table of the drivers report, protected, from the raw tables and the registry.

:func:`build_drivers` checks the dates, counts (:mod:`drivers.trends`,
:mod:`drivers.pathways`, :mod:`drivers.recording`), explains
(:mod:`drivers.contributions`) and applies disclosure control
(:func:`drivers.disclosure.protect`) to every table before returning it. Nothing
person-level leaves this function; it writes nothing (:mod:`drivers.record` does).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from drivers import contributions as contrib
from drivers.base import (
    ALL_AGES,
    BOTH_SEXES,
    FORCE_AREA,
    DriversError,
    People,
    Period,
    month_index,
    month_start,
    periods,
)
from drivers.disclosure import STATUS, SUPPRESSED, THRESHOLD, protect
from drivers.pathways import WORKING, cohort_estimates, first_involvement, pathway_table
from drivers.recording import (
    ALL_GROUPS,
    ALL_QUINTILES,
    read_true_involvement,
    recorded_involvement,
    recording_table,
    truth_table,
    with_truth_rates,
)
from drivers.trends import MEASURES, measure_events, trend_table, with_rates
from features.snapshot import Tables
from features.vocabulary import LOCAL_AUTHORITIES
from models.panels import PanelCapacity
from models.registry import Released

__all__ = ["DEFAULT_YEARS", "DriversTables", "build_drivers", "check_request"]

DEFAULT_YEARS = 5
Progress = Callable[[str, int, int], None]

_TREND_MARGINS = {"local_authority": FORCE_AREA, "age_band": ALL_AGES, "sex": BOTH_SEXES}
_GROUP_MARGINS = {
    "local_authority": FORCE_AREA,
    "ethnicity": ALL_GROUPS,
    "deprivation_quintile": ALL_QUINTILES,
}
_AREA = {"local_authority": FORCE_AREA}


@dataclass(frozen=True)
class DriversTables:
    """The protected tables of one report (every count rounded, small cells suppressed)."""

    as_of: dt.date
    years: int
    #: the first month the report covers
    start: dt.date
    areas: tuple[str, ...]
    trends_quarterly: pd.DataFrame
    trends_yearly: pd.DataFrame
    pathways: pd.DataFrame
    contributions: pd.DataFrame
    recording: pd.DataFrame
    #: None when the extract carries no truth (real data)
    recording_truth: pd.DataFrame | None
    data_fingerprint: str
    #: outcome → model label (``vru-victim/3``), or why it is not described
    models: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by file stem (the ones present)."""
        out = {
            "trends_quarterly": self.trends_quarterly,
            "trends_yearly": self.trends_yearly,
            "pathways": self.pathways,
            "contributions": self.contributions,
            "recording": self.recording,
        }
        if self.recording_truth is not None:
            out["recording_truth"] = self.recording_truth
        return out

    @property
    def suppressed_cells(self) -> int:
        return int(sum((t["suppressed"] != "").sum() for t in self.tables().values() if len(t)))


def check_request(
    tables: Tables, as_of: dt.date, years: int, areas: Sequence[str] | None
) -> tuple[str, ...]:
    """Refuse, in one line, an as-of date outside the data, more years than the data
    hold, or an unknown authority; return the authorities to report on."""
    if as_of.day != 1:
        raise DriversError(
            f"--as-of {as_of} is not the first day of a month: the report counts whole months"
        )
    first = tables.start.replace(day=1)
    if as_of > tables.end:
        raise DriversError(
            f"--as-of {as_of} is after the data end ({tables.end}): its months have not been "
            "recorded yet"
        )
    if as_of <= first:
        raise DriversError(f"--as-of {as_of} is not after the data begin ({tables.start})")
    if years < 1:
        raise DriversError(f"--years must be at least 1, got {years}")
    held = month_index(as_of) - month_index(first)
    if 12 * years > held:
        raise DriversError(
            f"--years {years} is longer than the data hold before {as_of}: records begin "
            f"{tables.start}, {held // 12} whole year{'s' if held // 12 != 1 else ''} earlier"
        )
    chosen = tuple(areas) if areas else LOCAL_AUTHORITIES
    unknown = [a for a in chosen if a not in LOCAL_AUTHORITIES]
    if unknown:
        raise DriversError(
            f"--authority {unknown[0]!r} is not one of: {', '.join(LOCAL_AUTHORITIES)}"
        )
    return tuple(a for a in LOCAL_AUTHORITIES if a in chosen)


@dataclass(frozen=True)
class _Member:
    """Rows of one protected table that count the same young people as rows of another
    (the same population), with the unprotected table they came from."""

    protected: pd.DataFrame
    raw: pd.DataFrame
    rows: pd.Series
    counts: tuple[str, ...]
    derived: tuple[str, ...]


def _share_suppression(members: Sequence[_Member], keys: Sequence[str]) -> None:
    """Where tables publish the same population and some of it is under 10, withhold in
    every table the rows withheld in any: otherwise one table's published populations
    could work out a small population another table hides. (Withholding more never
    exposes a cell.)"""
    small: set[tuple[object, ...]] = set()
    hidden: set[tuple[object, ...]] = set()
    for m in members:
        raw = m.raw[m.rows.to_numpy()]
        small |= set(map(tuple, raw.loc[raw["population"] < THRESHOLD, list(keys)].to_numpy()))
        shown = m.protected[m.rows.to_numpy()]
        hidden |= set(map(tuple, shown.loc[shown[STATUS] != "", list(keys)].to_numpy()))
    if not small:
        return
    for m in members:
        mine = m.rows.to_numpy() & np.array(
            [tuple(k) in hidden for k in m.protected[list(keys)].to_numpy()], dtype=bool
        )
        m.protected.loc[mine, list(m.counts) + list(m.derived)] = np.nan
        m.protected.loc[mine, STATUS] = SUPPRESSED


def _silent(stage: str, done: int, total: int) -> None:
    """Report nothing."""


def build_drivers(
    tables: Tables,
    as_of: dt.date,
    *,
    years: int = DEFAULT_YEARS,
    areas: Sequence[str] | None = None,
    models: Mapping[str, Released] | None = None,
    capacity: PanelCapacity | None = None,
    truth_folder: Path | None = None,
    sample: int = contrib.SAMPLE_PER_AREA,
    notes: Sequence[str] = (),
    progress: Progress = _silent,
) -> DriversTables:
    """Every table of the report, protected.

    Raises
    ------
    DriversError
        Bad dates or areas (nothing is computed).
    """
    chosen = check_request(tables, as_of, years, areas)
    progress("counting", 0, 4)
    people = People.from_table(tables.people)
    events = {m.key: measure_events(tables.tables, m, people, as_of) for m in MEASURES}
    end = month_index(as_of)
    quarterly = trend_table(people, events, periods(as_of, years, 3))
    yearly = trend_table(people, events, periods(as_of, years, 12))
    progress("counting", 1, 4)
    first_sv = first_involvement(tables.tables["incidents"], people, as_of)
    paths = pathway_table(people, events, first_sv, end, years)
    progress("counting", 2, 4)
    span = Period(end - 12 * years, end - 1)
    recording = recording_table(people, events, span)
    truth = None
    true_events = read_true_involvement(truth_folder, people) if truth_folder else None
    if true_events is not None:
        recorded = recorded_involvement(tables.tables["incidents"], people, as_of)
        truth = truth_table(people, recorded, true_events, span)
    progress("counting", 3, 4)
    described: dict[str, str] = {}
    usable = {}
    for outcome, released in (models or {}).items():
        if released.suspended:
            described[outcome] = f"{released.label} is switched off; not described"
        else:
            described[outcome] = released.label
            usable[outcome] = released
    contributions = (
        contrib.contribution_table(
            tables,
            usable,
            as_of,
            capacity if capacity is not None else PanelCapacity.uniform(),
            sample=sample,
            progress=lambda d, t: progress("explaining", d, t),
        )
        if usable
        else pd.DataFrame(columns=contrib.COLUMNS)
    )
    progress("protecting", 0, 1)
    rate = ["rate", "rate_low", "rate_high"]
    counts = ["young_people", "population"]
    trend_dims: dict[str, Any] = {"dims": list(_TREND_MARGINS), "margins": _TREND_MARGINS}
    group_dims: dict[str, Any] = {"dims": list(_GROUP_MARGINS), "margins": _GROUP_MARGINS}
    shown = {
        "quarterly": protect(
            quarterly,
            counts=counts,
            derived=rate,
            group_by=["measure", "period"],
            derive=with_rates,
            **trend_dims,
        ),
        "yearly": protect(
            yearly,
            counts=counts,
            derived=rate,
            group_by=["measure", "period"],
            derive=with_rates,
            **trend_dims,
        ),
        "recording": protect(
            recording,
            counts=counts,
            derived=rate,
            group_by=["measure"],
            derive=with_rates,
            **group_dims,
        ),
    }
    truth_counts = ("recorded", "true", "population")
    truth_derived = tuple(
        c
        for c in (truth.columns if truth is not None else ())
        if c.endswith(("_rate", "_low", "_high", "_share"))
    )
    shown_truth = (
        None
        if truth is None
        else protect(
            truth,
            counts=list(truth_counts),
            derived=list(truth_derived),
            derive=with_truth_rates,
            **group_dims,
        )
    )
    # tables that publish the same populations: one suppression pattern where any is small
    for name, raw in (("quarterly", quarterly), ("yearly", yearly)):
        for _, same in raw.groupby(["period", "unit"]).groups.items():
            rows = raw.index.isin(same)
            by_measure = [
                _Member(
                    shown[name],
                    raw,
                    pd.Series(rows & (raw["measure"] == key).to_numpy()),
                    tuple(counts),
                    tuple(rate),
                )
                for key in raw.loc[rows, "measure"].unique()
            ]
            _share_suppression(by_measure, ["local_authority", "age_band", "sex"])
    group_keys = ["local_authority", "ethnicity", "deprivation_quintile"]
    for unit, family in recording.groupby("unit").groups.items():
        rows = recording.index.isin(family)
        members = [
            _Member(
                shown["recording"],
                recording,
                pd.Series(rows & (recording["measure"] == key).to_numpy()),
                tuple(counts),
                tuple(rate),
            )
            for key in recording.loc[rows, "measure"].unique()
        ]
        if shown_truth is not None and truth is not None and "10–24" in str(unit):
            members.append(
                _Member(
                    shown_truth,
                    truth,
                    pd.Series(np.ones(len(truth), dtype=bool)),
                    truth_counts,
                    truth_derived,
                )
            )
        _share_suppression(members, group_keys)
    protected = DriversTables(
        as_of=as_of,
        years=years,
        start=month_start(end - 12 * years),
        areas=chosen,
        trends_quarterly=shown["quarterly"],
        trends_yearly=shown["yearly"],
        pathways=protect(
            paths,
            counts=["young_people", "involved", "matched", "matched_involved"],
            derived=[
                c
                for c in paths.columns
                if c.startswith(("share", "matched_", "difference", "ratio"))
                and c != "matched_involved"
            ],
            dims=["local_authority"],
            margins=_AREA,
            group_by=["pathway", "window_months"],
            derive=cohort_estimates,
        ).drop(columns=WORKING),
        contributions=protect(
            contributions,
            counts=["young_people", "explained"],
            derived=["mean_abs", "share"],
            dims=["local_authority"],
            margins=_AREA,
            group_by=["outcome", "as_of", "who", "domain"],
        ),
        recording=shown["recording"],
        recording_truth=shown_truth,
        data_fingerprint=tables.fingerprint,
        models=described,
        notes=tuple(notes),
    )
    progress("protecting", 1, 1)
    return protected
