"""Where recording itself may drive the picture.

Stop and search and school exclusion depend on decisions as well as behaviour, and both
feed the models. This part shows, for the report's years, the share of young people
stopped and searched, suspended or permanently excluded, by ethnic group and by
deprivation quintile, in each authority and the force area. On synthetic data, where
the generator's true events are known, it sets the *recorded* share of young people
involved in serious violence beside the *true* share, per group: the recording bias
made visible (a real extract has no truth, and this part says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from drivers.base import (
    FORCE_AREA,
    Dimension,
    People,
    Period,
    event_months,
    quintile_label,
    tabulate,
    wilson,
)
from drivers.pathways import serious_violence
from drivers.trends import MEASURES, Measure, with_rates
from features.vocabulary import ETHNICITIES, LOCAL_AUTHORITIES, OUTCOMES

__all__ = [
    "ALL_GROUPS",
    "ALL_QUINTILES",
    "RECORDING_MEASURES",
    "read_true_involvement",
    "recording_table",
    "truth_table",
    "with_truth_rates",
]

ALL_GROUPS = "all ethnic groups"
ALL_QUINTILES = "all quintiles"
RECORDING_MEASURES = ("stop_and_search", "suspension", "permanent_exclusion")
QUINTILES = [quintile_label(q) for q in range(1, 6)]
#: the measures of :data:`RECORDING_MEASURES`
RECORDED_DECISIONS: tuple[Measure, ...] = tuple(
    measure for measure in MEASURES if measure.key in RECORDING_MEASURES
)


def _in_ages(people: People, period: Period, ages: tuple[int, int]) -> np.ndarray:
    """Who lived here at an age in ``ages`` in at least one month of ``period``."""
    low, high = ages
    first = np.maximum(np.maximum(people.first, people.birth + 12 * low), period.first)
    stop = np.minimum(np.minimum(people.stop, people.birth + 12 * (high + 1)), period.last + 1)
    return first < stop


def _splits(people: People) -> list[tuple[str, list[Dimension]]]:
    area = Dimension("local_authority", people.la, LOCAL_AUTHORITIES, FORCE_AREA)
    ethnicity = Dimension("ethnicity", people.ethnicity, ETHNICITIES, ALL_GROUPS)
    quintile = Dimension("deprivation_quintile", people.quintile - 1, QUINTILES, ALL_QUINTILES)
    return [("ethnicity", [area, ethnicity]), ("deprivation quintile", [area, quintile])]


def _both_splits(people: People, population: np.ndarray, event: np.ndarray) -> pd.DataFrame:
    """One table with the ethnic-group rows (quintile at its total) and the quintile rows
    (ethnic group at its total): the authorities' totals appear once, so disclosure
    control sees that the two splits share them."""
    frames = []
    for split, dims in _splits(people):
        table = tabulate(dims, population, event)
        if split == "ethnicity":
            table["deprivation_quintile"] = ALL_QUINTILES
        else:
            table["ethnicity"] = ALL_GROUPS
        table.insert(0, "split", split)
        frames.append(table)
    out = pd.concat(frames, ignore_index=True)
    both_totals = (out["ethnicity"] == ALL_GROUPS) & (out["deprivation_quintile"] == ALL_QUINTILES)
    keep = ~(both_totals & (out["split"] == "deprivation quintile"))
    out.loc[both_totals, "split"] = "all"
    return out[keep].reset_index(drop=True)


def _had(rows: np.ndarray, months: np.ndarray, period: Period, size: int) -> np.ndarray:
    hit = np.zeros(size, dtype=bool)
    hit[rows[(months >= period.first) & (months <= period.last)]] = True
    return hit


COLUMNS = [
    "measure", "title", "unit", "split", "local_authority", "ethnicity",
    "deprivation_quintile", "young_people", "population", "rate", "rate_low", "rate_high",
]  # fmt: skip


def recording_table(
    people: People,
    events: dict[str, tuple[np.ndarray, np.ndarray]],
    period: Period,
    measures: Sequence[Measure] = RECORDED_DECISIONS,
) -> pd.DataFrame:
    """Young people with each recorded decision over ``period``, per 1,000 (per 100 for
    school measures), by ethnic group and by deprivation quintile (unprotected)."""
    frames = []
    for measure in measures:
        rows, months = events[measure.key]
        population = _in_ages(people, period, measure.ages)
        table = _both_splits(people, population, _had(rows, months, period, people.size))
        table["measure"], table["title"], table["unit"] = measure.key, measure.title, measure.unit
        frames.append(table)
    return with_rates(pd.concat(frames, ignore_index=True))[COLUMNS]


def read_true_involvement(folder: Path, people: People) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows in ``people`` and months of every true serious-violence event (victim or
    perpetrator) of a synthetic extract, or None when the folder has no truth (real data)."""
    path = folder / "truth" / "events.parquet"
    if not path.is_file():
        return None
    kinds = [o.truth_kind for o in OUTCOMES.values()]
    truth = pd.read_parquet(path, columns=["person_id", "event_date", "kind"])
    truth = truth[truth["kind"].isin(kinds)]
    rows = people.position(truth["person_id"])
    dates = pd.to_datetime(truth["event_date"])
    months = (dates.dt.year * 12 + dates.dt.month - 1).to_numpy(dtype=np.int64)
    keep = rows >= 0
    return rows[keep], months[keep]


TRUTH_COLUMNS = [
    "split", "local_authority", "ethnicity", "deprivation_quintile", "recorded", "true",
    "population", "recorded_rate", "recorded_low", "recorded_high", "true_rate", "true_low",
    "true_high", "recorded_share",
]  # fmt: skip


def truth_table(
    people: People,
    recorded: tuple[np.ndarray, np.ndarray],
    true: tuple[np.ndarray, np.ndarray],
    period: Period,
) -> pd.DataFrame:
    """Recorded and true serious-violence involvement per 1,000 young people, by group:
    ``recorded_share`` is the share of truly involved young people the records show."""
    population = _in_ages(people, period, (10, 24))
    rec = _both_splits(people, population, _had(*recorded, period, people.size))
    tru = _both_splits(people, population, _had(*true, period, people.size))
    keys = ["split", "local_authority", "ethnicity", "deprivation_quintile", "population"]
    out = rec.rename(columns={"young_people": "recorded"}).merge(
        tru.rename(columns={"young_people": "true"}), on=keys
    )
    return with_truth_rates(out)[TRUTH_COLUMNS]


def with_truth_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Recorded and true rates per 1,000 with intervals, and the share of true involvement
    recorded, from the counts as they stand."""
    out = frame.copy()
    for name in ("recorded", "true"):
        share, low, high = wilson(out[name], out["population"])
        out[f"{name}_rate"], out[f"{name}_low"], out[f"{name}_high"] = (
            share * 1000,
            low * 1000,
            high * 1000,
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        out["recorded_share"] = out["recorded"] / out["true"]
    return out


def recorded_involvement(
    incidents: pd.DataFrame, people: People, as_of: object
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and months of recorded serious-violence incidents (victim or suspect)."""
    return event_months(serious_violence(incidents), people, as_of)  # type: ignore[arg-type]
