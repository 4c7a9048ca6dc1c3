"""Trends: serious violence and the signals around it, per quarter, by age band and sex.

For each measure and quarter: the young people who lived here in the quarter (aged as
the measure covers), how many of them had the recorded event in the quarter, and the
rate per 1,000 (per 100 for school measures) with its 95% Wilson interval, for each
authority and the force area, each age band and all ages, each sex and both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from drivers.base import (
    AGE_BANDS,
    ALL_AGES,
    BOTH_SEXES,
    FORCE_AREA,
    Dimension,
    People,
    Period,
    band_of_age,
    event_months,
    tabulate,
    wilson,
)
from features.vocabulary import LOCAL_AUTHORITIES, SEXES

__all__ = ["MEASURES", "PER", "Measure", "measure_events", "trend_table", "with_rates"]

Select = Callable[[pd.DataFrame], pd.Series]


@dataclass(frozen=True)
class Measure:
    """One series of the trends: who is counted, from which records, per how many."""

    key: str
    #: "young people recorded as victims of serious violence"
    title: str
    #: the part of the report it belongs to
    theme: str
    table: str
    select: Select
    ages: tuple[int, int]
    per: int

    @property
    def population_words(self) -> str:
        low, high = self.ages
        who = "pupils" if self.theme == "school" else "young people"
        return f"{who} aged {low}–{high}"

    @property
    def unit(self) -> str:
        """``per 1,000 young people aged 10–24``."""
        return f"per {self.per:,} {self.population_words}"

    @property
    def bands(self) -> list[str]:
        low, high = self.ages
        return [name for a, b, name in AGE_BANDS if a <= high and b >= low]


def _sv(role: str) -> Select:
    return lambda t: t["serious_violence"] & (t["role"] == role)


def _school(kind: str) -> Select:
    return lambda t: t["event_type"] == kind


def _contact(kind: str) -> Select:
    return lambda t: t["contact_type"] == kind


MEASURES: tuple[Measure, ...] = (
    Measure("sv_victim", "recorded as the victim of serious violence", "serious violence",
            "incidents", _sv("victim"), (10, 24), 1000),
    Measure("sv_suspect", "recorded as a suspect in serious violence", "serious violence",
            "incidents", _sv("suspect"), (10, 24), 1000),
    Measure("suspension", "suspended from school", "school", "school_events",
            _school("suspension"), (10, 17), 100),
    Measure("permanent_exclusion", "permanently excluded from school", "school",
            "school_events", _school("permanent_exclusion"), (10, 17), 100),
    Measure("child_in_need", "starting to be supported as a child in need", "social care",
            "agency_contacts", _contact("child_in_need"), (10, 17), 1000),
    Measure("looked_after_start", "coming into care", "social care", "agency_contacts",
            _contact("looked_after_start"), (10, 17), 1000),
    Measure("missing_episode", "reported missing", "police and health", "agency_contacts",
            _contact("missing_episode"), (10, 24), 1000),
    Measure("stop_and_search", "stopped and searched", "police and health",
            "agency_contacts", _contact("stop_and_search"), (10, 24), 1000),
    Measure("ae_assault_attendance", "attending A&E after an assault", "police and health",
            "agency_contacts", _contact("ae_assault_attendance"), (10, 24), 1000),
)  # fmt: skip

COLUMNS = [
    "measure", "theme", "title", "unit", "period_start", "period_end", "period",
    "local_authority", "age_band", "sex", "young_people", "population", "rate",
    "rate_low", "rate_high",
]  # fmt: skip


def measure_events(
    tables: dict[str, pd.DataFrame] | object, measure: Measure, people: People, as_of: dt.date
) -> tuple[np.ndarray, np.ndarray]:
    """Rows in ``people`` and months of the measure's events recorded before ``as_of``."""
    frame = tables[measure.table]  # type: ignore[index]
    return event_months(frame[measure.select(frame).to_numpy()], people, as_of)


def _had_event(rows: np.ndarray, months: np.ndarray, period: Period, size: int) -> np.ndarray:
    hit = np.zeros(size, dtype=bool)
    hit[rows[(months >= period.first) & (months <= period.last)]] = True
    return hit


def trend_table(
    people: People,
    events: dict[str, tuple[np.ndarray, np.ndarray]],
    periods: Sequence[Period],
    measures: Sequence[Measure] = MEASURES,
) -> pd.DataFrame:
    """Every measure's counts and rates (unrounded, unprotected), one row per cell."""
    frames = []
    for measure in measures:
        rows, months = events[measure.key]
        low, high = measure.ages
        for period in periods:
            entry = people.entry_month(period)
            age = people.age_at(entry)
            population = people.resident_in(period) & (age >= low) & (age <= high)
            band = band_of_age(age)
            names = [name for _, _, name in AGE_BANDS]
            dims = [
                Dimension("local_authority", people.la, LOCAL_AUTHORITIES, FORCE_AREA),
                Dimension("age_band", band, names, ALL_AGES),
                Dimension("sex", people.sex, SEXES, BOTH_SEXES),
            ]
            table = tabulate(dims, population, _had_event(rows, months, period, people.size))
            table.insert(0, "period", period.label)
            table.insert(0, "period_end", period.end.isoformat())
            table.insert(0, "period_start", period.start.isoformat())
            for key, value in (
                ("measure", measure.key),
                ("theme", measure.theme),
                ("title", measure.title),
                ("unit", measure.unit),
            ):
                table.insert(0, key, value)
            frames.append(table)
    return with_rates(pd.concat(frames, ignore_index=True))[COLUMNS]


#: each measure's rate unit (per 1,000 or per 100)
PER = {m.key: m.per for m in MEASURES}


def with_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Each row's rate and 95% interval per its measure's unit, from its counts as they
    stand (the rounded ones once disclosure control has run)."""
    out = frame.copy()
    per = out["measure"].map(PER).to_numpy(dtype=float)
    share, low, high = wilson(out["young_people"], out["population"])
    out["rate"], out["rate_low"], out["rate_high"] = share * per, low * per, high * per
    return out
