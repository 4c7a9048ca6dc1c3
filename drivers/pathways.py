"""Pathways: what followed a signal, against matched young people without it.

For a cohort defined by a signal in a month (a first permanent exclusion, coming into
care, a first missing episode, a first A&E attendance after an assault), the share with
a recorded serious-violence involvement (victim or suspect) in the 12 or 24 months after
that month, against young people matched exactly on year of age, sex, authority and
deprivation quintile who had not had the signal by then.

Who counts, for the signal's young people and their matches alike: living here aged
10–24 in the signal's month and through the whole window (so nobody's window is cut
short), and no serious-violence record in or before the month (the pathway is to a
*first* involvement). Matched young people are compared stratum by stratum (direct
standardisation to the cohort's mix), so the comparison share is what the cohort
would show if it fared like its matches. This is an association, not a cause: the
signal and the violence may share causes the matching does not see.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from drivers.base import FORCE_AREA, People, Z, first_month, wilson
from features.vocabulary import LOCAL_AUTHORITIES, OUTCOMES

__all__ = [
    "PATHWAYS",
    "WINDOWS",
    "Design",
    "Pathway",
    "accumulate",
    "cohort_estimates",
    "design",
    "estimates",
    "first_involvement",
    "pathway_design",
    "pathway_table",
    "recorded_outcome",
    "serious_violence",
    "signal_months",
]

WINDOWS: tuple[int, ...] = (12, 24)
AGES = 15  # 10..24
QUINTILES = 5


@dataclass(frozen=True)
class Pathway:
    """A signal whose first occurrence starts a cohort (a key of :data:`MEASURES`)."""

    key: str
    #: "a first permanent exclusion"
    title: str
    #: the trends measure whose events define it
    measure: str


PATHWAYS: tuple[Pathway, ...] = (
    Pathway("permanent_exclusion", "a first permanent exclusion from school",
            "permanent_exclusion"),
    Pathway("looked_after_start", "coming into care for the first time", "looked_after_start"),
    Pathway("missing_episode", "a first missing episode reported to the police",
            "missing_episode"),
    Pathway("ae_assault_attendance", "a first A&E attendance after an assault",
            "ae_assault_attendance"),
)  # fmt: skip


@dataclass(frozen=True)
class Design:
    """Who is compared with whom, month by month (person-level: never written).

    ``cohort`` and ``controls`` are lists, one entry per signal month, of the rows in
    :class:`People` (cohort members, and every eligible young person without the signal
    yet); ``strata`` gives each person's stratum in that month.
    """

    months: list[int]
    cohort: list[np.ndarray]
    controls: list[np.ndarray]
    strata: list[np.ndarray]
    window: int


def _stratum(people: People, month: int) -> np.ndarray:
    age = people.age_at(month) - 10
    return ((age * 2 + people.sex) * len(LOCAL_AUTHORITIES) + people.la) * QUINTILES + (
        people.quintile - 1
    )


def design(
    people: People,
    first_signal: np.ndarray,
    first_sv: np.ndarray,
    months: Sequence[int],
    window: int,
) -> Design:
    """The matched comparison of a signal over the signal months ``months``."""
    cohorts, controls, strata = [], [], []
    for m in months:
        eligible = (
            (people.first <= m)
            & (people.stop > m + window)
            & (people.age_at(m) >= 10)
            & (first_sv > m)
        )
        cohorts.append(np.flatnonzero(eligible & (first_signal == m)))
        controls.append(np.flatnonzero(eligible & (first_signal > m)))
        strata.append(_stratum(people, m))
    return Design(list(months), cohorts, controls, strata, window)


def _outcome(first_sv: np.ndarray, rows: np.ndarray, m: int, window: int) -> np.ndarray:
    return (first_sv[rows] > m) & (first_sv[rows] <= m + window)


#: ``outcome(rows, month, window)``: each row's involvement in the window (0/1, or an
#: expected probability when checking against the generator's truth)
Outcome = Callable[[np.ndarray, int, int], np.ndarray]


def recorded_outcome(first_sv: np.ndarray) -> Outcome:
    """A first recorded serious-violence involvement in the window."""
    return lambda rows, m, window: _outcome(first_sv, rows, m, window).astype(float)


def accumulate(d: Design, people: People, outcome: Outcome) -> pd.DataFrame:
    """Per authority and for the force area: cohort size, cohort involved, the number
    the matches predict and its variance, and the matched comparisons used (a young
    person counted once for each month they were compared)."""
    n_la = len(LOCAL_AUTHORITIES)
    size = AGES * 2 * n_la * QUINTILES
    acc = np.zeros((n_la, 6))
    for i, m in enumerate(d.months):
        cohort, controls, stratum = d.cohort[i], d.controls[i], d.strata[i]
        if cohort.size == 0:
            continue
        y_c = outcome(controls, m, d.window)
        n_s = np.bincount(stratum[controls], minlength=size).astype(float)
        y_s = np.bincount(stratum[controls], weights=y_c, minlength=size)
        s = stratum[cohort]
        matched = n_s[s] > 0
        cohort, s = cohort[matched], s[matched]
        p = y_s[s] / n_s[s]
        y = outcome(cohort, m, d.window)
        la = people.la[cohort]
        np.add.at(acc[:, 0], la, 1.0)
        np.add.at(acc[:, 1], la, y)
        np.add.at(acc[:, 2], la, p)
        np.add.at(acc[:, 3], la, p * (1 - p) / n_s[s])
        # matched young people: distinct strata used, counted once per month
        used = np.unique(s)
        for a in range(n_la):
            mine = used[(used // QUINTILES) % n_la == a]
            acc[a, 4] += n_s[mine].sum()
            acc[a, 5] += y_s[mine].sum()
    frame = pd.DataFrame(
        acc,
        columns=[
            "young_people",
            "involved",
            "expected",
            "expected_var",
            "matched",
            "matched_involved",
        ],
    )
    frame.insert(0, "local_authority", list(LOCAL_AUTHORITIES))
    total = frame.drop(columns="local_authority").sum()
    force = pd.DataFrame([{"local_authority": FORCE_AREA, **total.to_dict()}])
    return pd.concat([frame, force], ignore_index=True)


def matched_estimates(acc: pd.DataFrame) -> pd.DataFrame:
    """The matched comparison's share and its standard error, from the exact cohort size
    (``matched_se`` is kept, unpublished, for :func:`cohort_estimates`)."""
    out = acc.copy()
    n = out["young_people"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        matched = out["expected"].to_numpy(dtype=float) / n
        matched_se = np.sqrt(out["expected_var"].to_numpy(dtype=float)) / n
    out["matched_share"] = matched
    out["matched_low"] = np.clip(matched - Z * matched_se, 0, 1)
    out["matched_high"] = np.clip(matched + Z * matched_se, 0, 1)
    out["matched_se"] = matched_se
    return out


def cohort_estimates(frame: pd.DataFrame) -> pd.DataFrame:
    """The cohort's share, the difference and the ratio, with 95% intervals, from the
    counts as they stand (the published, rounded ones: see :func:`drivers.disclosure.protect`)."""
    out = frame.copy()
    n = out["young_people"].to_numpy(dtype=float)
    share, low, high = wilson(out["involved"], n)
    out["share"], out["share_low"], out["share_high"] = share, low, high
    matched = out["matched_share"].to_numpy(dtype=float)
    matched_se = out["matched_se"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = share - matched
        # Newcombe's hybrid score interval: the cohort's Wilson limits with the matches'
        # standardised limits (sound when few or none of the cohort were involved)
        out["difference"] = diff
        out["difference_low"] = diff - np.sqrt((share - low) ** 2 + (matched_se * Z) ** 2)
        out["difference_high"] = diff + np.sqrt((high - share) ** 2 + (matched_se * Z) ** 2)
        ratio = share / matched
        log_se = np.sqrt(
            (1 - share) / np.maximum(out["involved"].to_numpy(dtype=float), 0.5)
            + (matched_se / matched) ** 2
        )
        out["ratio"] = ratio
        out["ratio_low"] = np.exp(np.log(ratio) - Z * log_se)
        out["ratio_high"] = np.exp(np.log(ratio) + Z * log_se)
    return out


def estimates(acc: pd.DataFrame) -> pd.DataFrame:
    """Shares, the matched comparison, the difference and the ratio, with 95% intervals."""
    return cohort_estimates(matched_estimates(acc))


COLUMNS = [
    "pathway", "title", "window_months", "signal_from", "signal_to", "local_authority",
    "young_people", "involved", "matched", "matched_involved", "share", "share_low",
    "share_high", "matched_share", "matched_low", "matched_high", "difference",
    "difference_low", "difference_high", "ratio", "ratio_low", "ratio_high",
]  # fmt: skip
#: kept beside :data:`COLUMNS` until the counts are rounded, never published
WORKING = ["matched_se"]


def signal_months(as_of_month: int, years: int, window: int) -> list[int]:
    """Signal months of the report's ``years`` whose window has closed before ``as_of``."""
    return list(range(as_of_month - 12 * years, as_of_month - window))


def pathway_table(
    people: People,
    events: dict[str, tuple[np.ndarray, np.ndarray]],
    first_sv: np.ndarray,
    as_of_month: int,
    years: int,
    pathways: Sequence[Pathway] = PATHWAYS,
    windows: Sequence[int] = WINDOWS,
) -> pd.DataFrame:
    """Every pathway's estimates per authority and for the force area (unprotected)."""
    from drivers.base import month_start

    frames = []
    for pathway in pathways:
        for window in windows:
            span = signal_months(as_of_month, years, window)
            if not span:
                continue
            d = pathway_design(people, events, first_sv, as_of_month, years, pathway, window)
            table = estimates(accumulate(d, people, recorded_outcome(first_sv)))
            table.insert(0, "signal_to", month_start(span[-1]).isoformat())
            table.insert(0, "signal_from", month_start(span[0]).isoformat())
            table.insert(0, "window_months", window)
            table.insert(0, "title", pathway.title)
            table.insert(0, "pathway", pathway.key)
            frames.append(table)
    if not frames:
        return pd.DataFrame(columns=COLUMNS + WORKING)
    return pd.concat(frames, ignore_index=True)[COLUMNS + WORKING]


def pathway_design(
    people: People,
    events: dict[str, tuple[np.ndarray, np.ndarray]],
    first_sv: np.ndarray,
    as_of_month: int,
    years: int,
    pathway: Pathway,
    window: int,
) -> Design:
    """The comparison behind one row group of :func:`pathway_table`."""
    rows, months = events[pathway.measure]
    first_signal = first_month(rows, months, people.size)
    return design(people, first_signal, first_sv, signal_months(as_of_month, years, window), window)


def serious_violence(incidents: pd.DataFrame) -> pd.DataFrame:
    """Serious-violence incidents with a young person as victim or suspect: the labels'
    definition (each outcome's role, :data:`features.vocabulary.OUTCOMES`)."""
    roles = [o.role for o in OUTCOMES.values()]
    return incidents[incidents["serious_violence"] & incidents["role"].isin(roles)]


def first_involvement(incidents: pd.DataFrame, people: People, as_of: object) -> np.ndarray:
    """Each person's first month with a recorded serious-violence incident as victim or
    suspect (``NEVER`` for none), from records made before ``as_of``."""
    from drivers.base import event_months

    rows, months = event_months(serious_violence(incidents), people, as_of)  # type: ignore[arg-type]
    return first_month(rows, months, people.size)
