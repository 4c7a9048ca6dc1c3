"""Lead time: how early the early-identification list names a young person.

For a run of consecutive monthly as-of dates this module draws, month by month,
each local authority's *early-identification* list (the ``early`` list of
:func:`models.panels.select_lists`: young people with no police record of serious
violence yet, ranked by a scorer, the ``capacity`` highest named) and asks, for
every young person whose **first** police record of serious violence falls inside
the backtest: was that young person named on the list before it happened, and how
many months before?

- :func:`first_involvements` — the first serious-violence records (the events);
- :func:`lead_times` — the pure arithmetic: per-month lists and events → months ahead;
- :func:`summarise_leads` — counts and shares with Wilson intervals;
- :func:`backtest` — builds the snapshots, scores them, draws the lists and
  returns a :class:`LeadTimeResult` (a tidy table and a markdown table for the card).

The list only ever names young people within capacity, so "flagged" here means
*named to the panel*, never merely "scored high". The figures measure how often
the list would have given a panel the chance to offer support early; they are not
a verdict on any young person.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.snapshot import Tables, build_snapshot, load_tables
from features.vocabulary import LISTS, OUTCOMES, SERIOUS_OFFENCES, cohort_of
from features.vocabulary import outcome as outcome_of
from models.bands import wilson_interval
from models.panels import PanelCapacity, as_capacity, select_lists

__all__ = [
    "AHEAD_MONTHS",
    "LeadTimeResult",
    "Scorer",
    "backtest",
    "backtest_months",
    "first_involvements",
    "lead_times",
    "months_between",
    "summarise_leads",
]

#: a scorer: one snapshot's feature frame (one as-of date) → one score per row, higher = riskier
Scorer = Callable[[pd.DataFrame], np.ndarray]
#: "flagged at least k months ahead" is reported for each k
AHEAD_MONTHS: tuple[int, ...] = (3, 6, 12)
#: the incident roles that make a record count as involvement in serious violence (the
#: same roles as the cohorts' :data:`features.vocabulary.INVOLVEMENT_FEATURES`)
INVOLVED_ROLES: tuple[str, ...] = tuple(sorted({o.role for o in OUTCOMES.values()}))
EARLY = LISTS["early"].list_key

MSG_NOT_MONTH_START = "backtest months must be first-of-month dates, got {date}"
MSG_NOT_CONSECUTIVE = "backtest months must be consecutive months, {a} is followed by {b}"
MSG_NO_MONTHS = "a lead-time backtest needs at least one month"
MSG_NO_SCORERS = "a lead-time backtest needs at least one scorer"
MSG_BAD_SCORES = "scorer {name!r} gave {got} for {n} rows at {as_of} (one finite score per row)"


# ------------------------------------------------------------------ months


def _month_start(value: Any) -> dt.date:
    stamp = pd.Timestamp(value)
    return dt.date(stamp.year, stamp.month, 1)


def _add_months(month: dt.date, k: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + k
    return dt.date(index // 12, index % 12 + 1, 1)


def months_between(earlier: Any, later: Any) -> int:
    """Whole calendar months from ``earlier``'s month to ``later``'s (negative if before)."""
    a, b = pd.Timestamp(earlier), pd.Timestamp(later)
    return (b.year - a.year) * 12 + (b.month - a.month)


def backtest_months(first: dt.date, n: int) -> list[dt.date]:
    """``n`` consecutive first-of-month dates from ``first``'s month.

    >>> backtest_months(dt.date(2023, 11, 17), 3)
    [datetime.date(2023, 11, 1), datetime.date(2023, 12, 1), datetime.date(2024, 1, 1)]
    """
    if n < 1:
        raise ValueError(MSG_NO_MONTHS)
    start = _month_start(first)
    return [_add_months(start, k) for k in range(n)]


def _check_months(months: Sequence[dt.date]) -> tuple[dt.date, ...]:
    """The months as dates, refused unless first-of-month, in order and consecutive."""
    if not months:
        raise ValueError(MSG_NO_MONTHS)
    dates = tuple(pd.Timestamp(m).date() for m in months)
    for date in dates:
        if date.day != 1:
            raise ValueError(MSG_NOT_MONTH_START.format(date=date))
    for a, b in itertools.pairwise(dates):
        if b != _add_months(a, 1):
            raise ValueError(MSG_NOT_CONSECUTIVE.format(a=a, b=b))
    return dates


# ------------------------------------------------------------------ events


def first_involvements(
    tables: Tables | Mapping[str, pd.DataFrame], outcome: str, start: dt.date, stop: dt.date
) -> pd.DataFrame:
    """Young people whose first police record of serious violence falls in ``[start, stop)``.

    A record counts when the incident is serious violence (the table's
    ``serious_violence`` column; without it, an offence group in
    :data:`features.vocabulary.SERIOUS_OFFENCES`) and the young person's role is
    victim or suspect — the records that move someone into the ``already_involved``
    cohort. Witness records do not count. Dates are event dates (when it happened).

    A young person is kept when their first such record (ever, in the data) is in
    the window **and** their roles on that first date include the outcome's role
    (:data:`features.vocabulary.OUTCOMES`): someone first recorded as a suspect is
    not an event of the ``victim`` outcome, and afterwards is already involved, so
    never again on an early-identification list. Anyone with a record before
    ``start`` is left out.

    Parameters
    ----------
    tables
        Raw tables (:func:`features.snapshot.load_tables`, or a mapping with an
        ``incidents`` frame: ``person_id``, ``event_date``, ``role`` and
        ``serious_violence`` or ``offence_group``).
    outcome
        ``victim`` or ``perpetrator``.
    start, stop
        The window, start included, stop excluded.

    Returns
    -------
    One row per young person: ``person_id``, ``event_date`` and ``event_month``
    (first day of its month), ordered by date then id.
    """
    role = outcome_of(outcome).role
    source = tables.tables if isinstance(tables, Tables) else tables
    incidents = source["incidents"]
    if "serious_violence" in incidents.columns:
        serious = incidents["serious_violence"].fillna(False).to_numpy(dtype=bool)
    else:
        serious = incidents["offence_group"].isin(SERIOUS_OFFENCES).to_numpy(dtype=bool)
    involved = serious & incidents["role"].isin(INVOLVED_ROLES).to_numpy(dtype=bool)
    records = pd.DataFrame(
        {
            "person_id": incidents["person_id"].to_numpy()[involved],
            "event_date": pd.to_datetime(incidents["event_date"].to_numpy()[involved]),
            "role": incidents["role"].to_numpy()[involved],
        }
    )
    first_date = records.groupby("person_id")["event_date"].transform("min")
    first = records[records["event_date"] == first_date]
    with_role = first.groupby("person_id")["role"].agg(lambda roles: role in set(roles))
    dates = first.groupby("person_id")["event_date"].min()
    begin, end = pd.Timestamp(start), pd.Timestamp(stop)
    keep = with_role & (dates >= begin) & (dates < end)
    out = pd.DataFrame({"person_id": dates.index[keep], "event_date": dates[keep].to_numpy()})
    out["event_month"] = out["event_date"].dt.to_period("M").dt.to_timestamp()
    return out.sort_values(["event_date", "person_id"], kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------ the arithmetic


def lead_times(events: pd.DataFrame, listed: Mapping[Any, Iterable[str]]) -> pd.DataFrame:
    """Months each young person was named on the list before their first involvement.

    Parameters
    ----------
    events
        ``person_id`` and ``event_month`` (:func:`first_involvements`).
    listed
        For each month (first-of-month as-of date), the ids named on the early list
        within capacity that month.

    Returns
    -------
    ``person_id``, ``event_month``, ``first_listed`` (the first month named with an
    as-of on or before the event's month; ``NaT`` if none) and ``lead_months``
    (whole months from ``first_listed`` to ``event_month``: named in the event's own
    month is 0; missing when never named before it).
    """
    months_of: dict[str, list[pd.Timestamp]] = {}
    for month in sorted(listed, key=pd.Timestamp):
        stamp = pd.Timestamp(_month_start(month))
        for person in listed[month]:
            months_of.setdefault(str(person), []).append(stamp)
    event_months = pd.to_datetime(events["event_month"]).to_numpy()
    first_listed: list[pd.Timestamp | None] = []
    for person, month in zip(events["person_id"].astype(str), event_months, strict=True):
        before = [m for m in months_of.get(person, ()) if m <= pd.Timestamp(month)]
        first_listed.append(before[0] if before else None)
    out = pd.DataFrame(
        {
            "person_id": events["person_id"].to_numpy(),
            "event_month": event_months,
            "first_listed": pd.to_datetime(pd.Series(first_listed, dtype=object)),
        }
    )
    lead = [
        months_between(first, month) if first is not None else pd.NA
        for first, month in zip(first_listed, event_months, strict=True)
    ]
    out["lead_months"] = pd.array(lead, dtype="Int64")
    return out


def summarise_leads(leads: pd.DataFrame, first_month: dt.date) -> dict[str, float]:
    """Counts, shares (with 95% Wilson intervals) and the median lead of one scorer.

    ``share_flagged`` is over every event. ``share_ahead_<k>`` is the share named at
    least *k* months before, over ``eligible_<k>``: the events at least *k* months
    after ``first_month`` (an event earlier than that could not have been named so
    far ahead inside the backtest). ``median_lead`` is over the flagged only (NaN
    when nobody was).
    """
    lead = leads["lead_months"]
    flagged = lead.notna().to_numpy(dtype=bool)
    n = len(leads)
    out: dict[str, float] = {"events": n, "flagged": int(flagged.sum())}
    out |= _share("share_flagged", int(flagged.sum()), n)
    after = np.asarray(
        [months_between(first_month, m) for m in pd.to_datetime(leads["event_month"])], dtype=int
    )
    values = lead.fillna(-1).to_numpy(dtype=int)
    for k in AHEAD_MONTHS:
        eligible = after >= k
        hits = int((eligible & (values >= k)).sum())
        out |= {f"eligible_{k}": int(eligible.sum()), f"ahead_{k}": hits}
        out |= _share(f"share_ahead_{k}", hits, int(eligible.sum()))
    out["median_lead"] = float(np.median(values[flagged])) if flagged.any() else float("nan")
    return out


def _share(name: str, hits: int, n: int) -> dict[str, float]:
    low, high = wilson_interval(hits, n)
    return {name: hits / n if n else float("nan"), f"{name}_low": low, f"{name}_high": high}


# ------------------------------------------------------------------ the result


@dataclass(frozen=True)
class LeadTimeResult:
    """A lead-time backtest of one outcome: per scorer, who was named how early.

    ``leads[scorer]`` has one row per event (``person_id``, ``event_month``,
    ``first_listed``, ``lead_months``); ``summary[scorer]`` the figures of
    :func:`summarise_leads`; ``listings`` every early-list entry within capacity
    (``scorer``, ``as_of``, ``local_authority``, ``rank``, ``person_id``).

    ``leads`` and ``listings`` name young people (synthetic ids): they are for checks
    and plots; what is logged or published is :meth:`table` and :meth:`markdown`,
    which hold counts only.
    """

    outcome: str
    months: tuple[dt.date, ...]
    #: the early list's capacity by local authority
    capacity: Mapping[str, int]
    leads: Mapping[str, pd.DataFrame]
    summary: Mapping[str, Mapping[str, float]]
    listings: pd.DataFrame = field(repr=False)
    #: first involvements in the window of young people not on the spine (not resident or
    #: not aged 10–24) at the as-of date of their month: no list could have named them
    off_spine: int = 0
    #: the summary again at other early-list capacities (``backtest(also_at=...)``): one
    #: row per scorer and capacity per local authority
    by_capacity: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    @property
    def scorers(self) -> tuple[str, ...]:
        return tuple(self.leads)

    def table(self) -> pd.DataFrame:
        """One row per scorer: every figure of the summary, tidy (MLflow, markdown)."""
        rows = [
            {
                "outcome": self.outcome,
                "scorer": name,
                "first_month": self.months[0].isoformat(),
                "last_month": self.months[-1].isoformat(),
                "n_months": len(self.months),
                "early_capacity_total": int(sum(self.capacity.values())),
                "events_off_spine": self.off_spine,
                **self.summary[name],
            }
            for name in self.leads
        ]
        return pd.DataFrame(rows)

    def markdown(self) -> str:
        """A short markdown table for the model card, and what its columns mean."""
        head = "| list ranked by | events | flagged | ≥3 m | ≥6 m | ≥12 m | median lead |"
        lines = [head, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name in self.leads:
            s = self.summary[name]
            cells = [
                name,
                str(int(s["events"])),
                _cell(s, "flagged", "share_flagged"),
                *(_cell(s, f"ahead_{k}", f"share_ahead_{k}", f"eligible_{k}") for k in (3, 6, 12)),
                "—" if np.isnan(s["median_lead"]) else f"{s['median_lead']:g} months",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        caps = sorted(set(self.capacity.values()))
        each = f"{caps[0]}" if len(caps) == 1 else f"{caps[0]}–{caps[-1]}"
        lines += [
            "",
            f"Early-identification list ({each} young people a month per local authority), "
            f"{len(self.months)} months from {self.months[0]:%B %Y} to {self.months[-1]:%B %Y}. "
            "*Events*: young people whose first police record of serious violence "
            f"(as a {OUTCOMES[self.outcome].role}) was in those months. *Flagged*: "
            "named on the list in or before the month it happened. *≥k m*: named at least "
            "k months before, among those first recorded at least k months into the backtest. "
            "Shares with 95% Wilson intervals; median lead among those flagged.",
        ]
        return "\n".join(lines)


def _cell(summary: Mapping[str, float], hits: str, share: str, of: str = "events") -> str:
    n = int(summary[of])
    if n == 0:
        return "—"
    low, high = summary[f"{share}_low"], summary[f"{share}_high"]
    return f"{int(summary[hits])} of {n} ({summary[share]:.0%}; {low * 100:.0f}–{high * 100:.0f}%)"


# ------------------------------------------------------------------ the backtest


def backtest(
    source: Path | Tables,
    outcome: str,
    months: Sequence[dt.date],
    scorers: Mapping[str, Scorer],
    capacity: PanelCapacity | Mapping[str, Any],
    *,
    progress: Callable[[str], None] | None = None,
    chunk: int = 6,
    also_at: Sequence[int] = (),
) -> LeadTimeResult:
    """Draw the early-identification list every month and measure how early it named people.

    Each month's snapshot is built (:func:`features.snapshot.build_snapshot`, ``chunk``
    months at a time so memory stays bounded on the full population), scored by
    every scorer, and split into the two lists by
    :func:`models.panels.select_lists`; only the ids named on the ``early`` list
    within capacity are kept. Then each first involvement in the backtest
    (:func:`first_involvements`, from ``months[0]`` to the end of the last month) of
    a young person on the spine that month gets its lead time (:func:`lead_times`).

    Honesty: a scorer must not have seen any label whose window overlaps the
    backtest months. This function cannot check that: the caller passes a model
    trained (fitted, stopped and calibrated) on data before ``months[0]`` — e.g. the
    model of an earlier test fold. Ties in a score are broken by ``person_id``
    (:func:`models.panels.select_panel`); the rules baseline scores whole points, so
    within a tied score its list is, in effect, the lowest ids.

    Parameters
    ----------
    source
        A data folder, or tables loaded with :func:`features.snapshot.load_tables`.
    outcome
        ``victim`` or ``perpetrator``: whose first involvement counts.
    months
        Consecutive first-of-month as-of dates (:func:`backtest_months`); at least
        24 on the default population for stable shares at 12 months ahead.
    scorers
        Name → scorer. A scorer gets one month's feature frame and returns one
        score per row, higher = riskier, e.g.
        ``lambda f: model.predict(None, f)["probability"].to_numpy()``.
    capacity
        The lists' capacities (:class:`models.panels.PanelCapacity`, or a mapping by
        local authority); only the ``early`` list is used here.
    progress
        Called with a short message as each chunk of months starts.
    chunk
        Months per snapshot build.
    also_at
        Early-list capacities per local authority at which to measure the same figures
        too (``LeadTimeResult.by_capacity``): the lists are drawn once, long enough for
        the largest, and cut at each.

    Raises
    ------
    ValueError
        Months not consecutive first-of-month dates, no scorer, a bad chunk size,
        an unknown outcome, or a scorer's output not one finite score per row.
    features.snapshot.SnapshotError, models.panels.PanelError
        As building the snapshot or drawing the lists would.
    """
    outcome_of(outcome)
    dates = _check_months(months)
    if not scorers:
        raise ValueError(MSG_NO_SCORERS)
    if chunk < 1:
        raise ValueError(f"chunk must be 1 month or more, got {chunk}")
    capacity = as_capacity(capacity)
    if any(k < 1 for k in also_at):
        raise ValueError(f"also_at capacities must be 1 or more, got {list(also_at)}")
    longest = max(also_at, default=0)
    drawn = PanelCapacity(
        capacity.known, {la: max(n, longest) for la, n in capacity.of(EARLY).items()}
    )
    say = progress or (lambda message: None)
    data = source if isinstance(source, Tables) else load_tables(source)

    events = first_involvements(data, outcome, dates[0], _add_months(dates[-1], 1))
    due: dict[dt.date, set[str]] = {month: set() for month in dates}
    for person, month in zip(events["person_id"], events["event_month"], strict=True):
        due[_month_start(month)].add(str(person))
    on_spine: set[str] = set()
    entries: list[pd.DataFrame] = []

    for begin in range(0, len(dates), chunk):
        part = dates[begin : begin + chunk]
        say(
            f"lead time ({outcome}): months {begin + 1}–{begin + len(part)} of {len(dates)}"
            f" ({part[0]:%b %Y}–{part[-1]:%b %Y})"
        )
        frame = build_snapshot(data, part).frame
        for month in part:
            rows = frame[frame["as_of"] == pd.Timestamp(month)].reset_index(drop=True)
            on_spine |= due[month] & set(rows["person_id"].astype(str))
            cohort = cohort_of(rows)
            for name, scorer in scorers.items():
                early = _early_list(name, scorer, rows, cohort, drawn, month)
                entries.append(early.assign(scorer=name, as_of=month))
        del frame

    in_scope = events[events["person_id"].astype(str).isin(on_spine)].reset_index(drop=True)
    columns = ["scorer", "as_of", "local_authority", "rank", "person_id"]
    every = pd.concat(entries, ignore_index=True)[columns]
    limit = every["local_authority"].astype(str).map(capacity.of(EARLY)).to_numpy()
    listings = every[every["rank"].to_numpy() <= limit].reset_index(drop=True)
    leads = {name: lead_times(in_scope, _listed(listings, name, dates)) for name in scorers}
    rows_by_capacity = []
    for k in sorted(set(also_at)):
        cut = every[every["rank"] <= k]
        for name in scorers:
            summary = summarise_leads(lead_times(in_scope, _listed(cut, name, dates)), dates[0])
            rows_by_capacity.append({"scorer": name, "early_capacity": k, **summary})
    return LeadTimeResult(
        outcome=outcome,
        months=dates,
        capacity=capacity.of(EARLY),
        leads=leads,
        summary={name: summarise_leads(lead, dates[0]) for name, lead in leads.items()},
        listings=listings,
        off_spine=len(events) - len(in_scope),
        by_capacity=pd.DataFrame(rows_by_capacity),
    )


def _listed(
    listings: pd.DataFrame, scorer: str, months: Sequence[dt.date]
) -> dict[dt.date, list[str]]:
    """Each month's ids on one scorer's early list (rows of ``listings``)."""
    mine = listings[listings["scorer"] == scorer]
    by_month = mine.groupby("as_of")["person_id"].agg(lambda ids: ids.astype(str).tolist())
    return {month: by_month.get(month, []) for month in months}


def _early_list(
    name: str,
    scorer: Scorer,
    rows: pd.DataFrame,
    cohort: np.ndarray,
    capacity: PanelCapacity,
    month: dt.date,
) -> pd.DataFrame:
    """One month's early list within capacity: ``person_id``, ``local_authority``, ``rank``."""
    score = np.asarray(scorer(rows), dtype=float)
    if score.shape != (len(rows),) or not np.isfinite(score).all():
        got = f"shape {score.shape}" if score.shape != (len(rows),) else "non-finite scores"
        raise ValueError(MSG_BAD_SCORES.format(name=name, got=got, n=len(rows), as_of=month))
    scored = pd.DataFrame(
        {
            "person_id": rows["person_id"].to_numpy(),
            "local_authority": rows["local_authority"].to_numpy(),
            "probability": score,
        }
    )
    marked = select_lists(scored, capacity, cohort=cohort)
    chosen = marked[(marked["list"] == EARLY) & marked["within_capacity"]]
    return chosen[["person_id", "local_authority", "rank"]].sort_values(
        ["local_authority", "rank"], kind="stable"
    )
