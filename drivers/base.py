"""The months, the periods and the young people every drivers table is built from.

Months are integers (``year * 12 + month - 1``). Each person in the ``people`` table
is one row of :class:`People`: sex, local authority, ethnicity, deprivation quintile,
and the months in which they lived in the force area aged 10–24. Every count in the
report is a count of distinct young people, assigned to one cell per period (their
age band at their first month of residence in the period), so that the cells of a
table add up exactly to its totals: disclosure control relies on that.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from features.snapshot import Tables
from features.vocabulary import ETHNICITIES, LOCAL_AUTHORITIES, SEXES

__all__ = [
    "AGE_BANDS",
    "ALL_AGES",
    "BOTH_SEXES",
    "FORCE_AREA",
    "DriversError",
    "People",
    "Period",
    "month_index",
    "month_start",
    "periods",
    "quintile_label",
]

#: the whole of Avon and Somerset: the five authorities together
FORCE_AREA = "Avon and Somerset (force area)"
ALL_AGES = "all ages"
BOTH_SEXES = "both sexes"
#: the report's age bands (the fairness audit's, so the two reports read alike)
AGE_BANDS: tuple[tuple[int, int, str], ...] = (
    (10, 13, "10–13"),
    (14, 17, "14–17"),
    (18, 24, "18–24"),
)
#: no month index: a person who never moved in or out
NEVER = np.iinfo(np.int32).max
MONTHS_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class DriversError(ValueError):
    """The dates, the areas or the data cannot give a drivers report (one line)."""


def month_index(day: dt.date | pd.Timestamp) -> int:
    """``year * 12 + month - 1`` of a date."""
    return int(day.year) * 12 + int(day.month) - 1


def month_start(index: int) -> dt.date:
    """The first day of month ``index``."""
    return dt.date(index // 12, index % 12 + 1, 1)


def _months_of(series: pd.Series) -> np.ndarray:
    """Month indices of a datetime column (``NEVER`` where missing)."""
    values = pd.to_datetime(series)
    out = (values.dt.year * 12 + values.dt.month - 1).to_numpy(dtype="float64")
    return np.where(np.isnan(out), NEVER, out).astype(np.int64)


def quintile_label(quintile: int) -> str:
    """``1 (most deprived)`` … ``5 (least deprived)``."""
    return {1: "1 (most deprived)", 5: "5 (least deprived)"}.get(quintile, str(quintile))


@dataclass(frozen=True)
class Period:
    """Months ``first`` to ``last`` inclusive (a quarter of the report)."""

    first: int
    last: int

    @property
    def label(self) -> str:
        """``Jan–Mar 2025`` (``Dec 2024–Feb 2025`` across a year end)."""
        a, b = month_start(self.first), month_start(self.last)
        if a.year == b.year:
            return f"{MONTHS_NAMES[a.month - 1]}–{MONTHS_NAMES[b.month - 1]} {b.year}"
        return f"{MONTHS_NAMES[a.month - 1]} {a.year}–{MONTHS_NAMES[b.month - 1]} {b.year}"

    @property
    def start(self) -> dt.date:
        return month_start(self.first)

    @property
    def end(self) -> dt.date:
        """The first day after the period."""
        return month_start(self.last + 1)


def periods(as_of: dt.date, years: int, months: int = 3) -> list[Period]:
    """The ``years`` before ``as_of`` in periods of ``months``, oldest first."""
    end = month_index(as_of)
    first = end - 12 * years
    return [Period(m, m + months - 1) for m in range(first, end, months)]


@dataclass(frozen=True)
class People:
    """Every person of the ``people`` table as arrays (index = row of ``ids``)."""

    ids: np.ndarray
    #: month of birth
    birth: np.ndarray
    #: 0 female, 1 male (``SEXES`` order)
    sex: np.ndarray
    #: index into ``LOCAL_AUTHORITIES``
    la: np.ndarray
    #: index into ``ETHNICITIES``
    ethnicity: np.ndarray
    #: 1 (most deprived) … 5 (least deprived)
    quintile: np.ndarray
    #: first month resident aged 10–24, and the month after the last
    first: np.ndarray
    stop: np.ndarray

    @classmethod
    def from_table(cls, people: pd.DataFrame) -> People:
        birth = _months_of(people["birth_month"])
        moved_in = _months_of(people["moved_in"])
        moved_out = _months_of(people["moved_out"])
        first = np.maximum(np.where(moved_in == NEVER, -NEVER, moved_in), birth + 120)
        stop = np.minimum(moved_out, birth + 300)
        return cls(
            ids=people["person_id"].astype(str).to_numpy(),
            birth=birth,
            sex=_codes(people["sex"], SEXES),
            la=_codes(people["local_authority"], LOCAL_AUTHORITIES),
            ethnicity=_codes(people["ethnicity"], ETHNICITIES),
            quintile=((people["imd_decile"].to_numpy(dtype=np.int64) + 1) // 2),
            first=first,
            stop=stop,
        )

    @property
    def size(self) -> int:
        return int(self.ids.size)

    def position(self, person_id: pd.Series) -> np.ndarray:
        """Row of each id in ``person_id`` (−1 when not in the people table)."""
        index = pd.Index(self.ids)
        return np.asarray(index.get_indexer(person_id.astype(str)))

    def resident_in(self, period: Period) -> np.ndarray:
        """Who lived here aged 10–24 in at least one month of ``period``."""
        return (self.first <= period.last) & (self.stop > period.first)

    def age_at(self, month: int | np.ndarray) -> np.ndarray:
        """Age in whole years at ``month``."""
        return (np.asarray(month) - self.birth) // 12

    def entry_month(self, period: Period) -> np.ndarray:
        """Each person's first month of residence in ``period`` (the month their cell is
        taken at)."""
        return np.maximum(self.first, period.first)


def _codes(values: pd.Series, vocabulary: Sequence[str]) -> np.ndarray:
    return np.asarray(pd.Categorical(values.astype(str), categories=list(vocabulary)).codes)


def band_of_age(age: np.ndarray) -> np.ndarray:
    """Index into ``AGE_BANDS`` of each age (−1 outside 10–24)."""
    out = np.full(np.shape(age), -1, dtype=np.int64)
    for i, (low, high, _) in enumerate(AGE_BANDS):
        out[(age >= low) & (age <= high)] = i
    return out


def event_months(
    events: pd.DataFrame, people: People, as_of: dt.date
) -> tuple[np.ndarray, np.ndarray]:
    """Row in ``people`` and month of each event recorded before ``as_of`` (events of
    people missing from the people table are dropped)."""
    known = events[events["recorded_date"] < pd.Timestamp(as_of)]
    rows = people.position(known["person_id"])
    months = _months_of(known["event_date"])
    keep = rows >= 0
    return rows[keep], months[keep]


def first_month(rows: np.ndarray, months: np.ndarray, size: int) -> np.ndarray:
    """Each person's earliest event month (``NEVER`` for none)."""
    out = np.full(size, NEVER, dtype=np.int64)
    np.minimum.at(out, rows, months)
    return out


def tables_span(tables: Tables) -> tuple[dt.date, dt.date]:
    """First month with records, and the first day after the data."""
    return tables.start.replace(day=1), tables.end


Z = 1.959963984540054


def wilson(count: ArrayLike, total: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Share and its 95% Wilson interval (NaN where ``total`` is 0)."""
    k = np.asarray(count, dtype=float)
    n = np.asarray(total, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1 + Z**2 / n
        centre = (p + Z**2 / (2 * n)) / denom
        half = Z * np.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2)) / denom
    return p, np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


@dataclass(frozen=True)
class Dimension:
    """One way of splitting young people: a code per person, the level names, the name
    of the total over them."""

    name: str
    codes: np.ndarray
    levels: Sequence[str]
    total: str


def tabulate(dims: Sequence[Dimension], population: np.ndarray, event: np.ndarray) -> pd.DataFrame:
    """Young people in ``population`` and those of them with ``event``, for every
    combination of each dimension at one of its levels or at its total.

    A person whose code is −1 on any dimension is counted nowhere. Rows whose population
    is 0 are left out (a cell nobody can be in, such as an age band a measure does not
    cover).
    """
    shape = tuple(len(d.levels) for d in dims)
    valid = population.copy()
    joint = np.zeros(population.shape, dtype=np.int64)
    for d in dims:
        valid &= d.codes >= 0
        joint = joint * len(d.levels) + np.where(d.codes >= 0, d.codes, 0)
    size = int(np.prod(shape))
    pop = np.bincount(joint[valid], minlength=size).reshape(shape)
    hit = np.bincount(joint[valid & event], minlength=size).reshape(shape)
    rows = []
    for choice in product(*[[*range(len(d.levels)), -1] for d in dims]):
        index = tuple(slice(None) if c == -1 else c for c in choice)
        n = int(pop[index].sum())
        if n == 0:
            continue
        rows.append(
            {
                **{
                    d.name: (d.total if c == -1 else d.levels[c])
                    for d, c in zip(dims, choice, strict=True)
                },
                "young_people": int(hit[index].sum()),
                "population": n,
            }
        )
    return pd.DataFrame(rows)
