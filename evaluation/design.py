"""The evaluation's data: one row per listing (a young person on a panel's ranked list in
one month), its place relative to the capacity cut, the help that followed and what
was recorded in the next 12 months.

The design, stated once (the report repeats it in plain words):

- **running variable** — places from the cut, ``capacity − rank + 0.5``: positive for
  the young people the panel discussed (rank within capacity), negative for those
  ranked just below, on the reserve list; the cut is at 0;
- **months and areas pooled** — every month of every authority whose cut bound
  (someone was ranked below it) and whose 12-month window closed before the data end;
- **outcomes** — the labels of :mod:`features.labels`: recorded as harmed by, or as a
  suspect in, a serious-violence incident with ``event_date`` in the 12 months from
  the list month (the same labels the models learn);
- **help** — the share of those 12 months spent in any programme
  (``interventions``, start to end, from this list month's offer or a later one): the
  treatment of the fuzzy design, so that help reaching those just below the cut later
  (crossover) is counted, not ignored;
- **records before the list month** — features as of the list month (the same builders
  as the models), for the balance checks only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.build import build_feature_table, to_frame
from features.labels import LABELS, label_window_end
from features.schemas import load_panel_tables
from features.snapshot import Tables

__all__ = [
    "BALANCE",
    "Design",
    "EvaluationError",
    "build_design",
]

#: records from before the list month that should not jump at the cut: column → words
BALANCE: dict[str, str] = {
    "demo_asof_age_years": "age (years)",
    "male": "share who are boys or young men",
    "deprived": "share living in the most deprived fifth of areas",
    "school_365d_suspension_count": "suspensions in the 12 months before",
    "contacts_365d_missing_count": "missing episodes reported in the 12 months before",
    "contacts_asof_looked_after_flag": "share in care at the time",
    "contacts_365d_stop_search_count": "stop and search in the 12 months before",
    "incidents_365d_sv_victim_count": "harmed by serious violence in the 12 months before",
    "incidents_365d_sv_suspect_count": "involved in harming others in the 12 months before",
}


class EvaluationError(ValueError):
    """The evaluation cannot be run as asked (one line naming the problem)."""


@dataclass(frozen=True)
class Design:
    """The listings evaluated, one row each (no column leaves this package unaggregated).

    ``frame`` columns: ``list, list_month, local_authority, person_id, rank, capacity,
    x`` (places from the cut), ``place`` (1 = last discussed, 0 = first not),
    ``discussed``, ``help`` (share of the 12 months in a programme), the outcome labels,
    and the :data:`BALANCE` records.
    """

    frame: pd.DataFrame
    first_month: dt.date
    last_month: dt.date
    #: share of those ranked within one capacity below the cut discussed within 12 months
    crossover: float
    #: months × areas dropped because nobody was ranked below the cut
    not_binding: int

    @property
    def years(self) -> float:
        return self.frame["list_month"].nunique() / 12


def _help_share(listings: pd.DataFrame, helped: pd.DataFrame) -> np.ndarray:
    """Share of each listing's 12 months (from its list month) spent in any programme."""
    start = listings["list_month"]
    stop = listings["window_end"]
    pairs = listings[["person_id"]].assign(row=np.arange(len(listings)), start=start, stop=stop)
    spans = helped[["person_id", "start_date", "end_date"]]
    joined = pairs.merge(spans, on="person_id")
    if joined.empty:
        return np.zeros(len(listings))
    day = np.timedelta64(1, "D")
    end = joined["end_date"].fillna(joined["stop"]).to_numpy()
    last = np.minimum(end, joined["stop"].to_numpy())
    first = np.maximum(joined["start_date"].to_numpy(), joined["start"].to_numpy())
    days = np.clip((last - first) / day, 0, None)
    total = np.bincount(joined["row"].to_numpy(), weights=days, minlength=len(listings))
    length = (stop.to_numpy() - start.to_numpy()) / np.timedelta64(1, "D")
    return np.minimum(total / length, 1.0)


def _crossover(lists: pd.DataFrame) -> float:
    """Share of those ranked within one capacity below the cut who were discussed on the
    same list within the next 12 months."""
    month = lists["list_month"].dt.year * 12 + lists["list_month"].dt.month
    frame = lists.assign(m=month)
    near = frame[(frame["rank"] > frame["capacity"]) & (frame["rank"] <= 2 * frame["capacity"])]
    if near.empty:
        return float("nan")
    discussed = frame.loc[frame["rank"] <= frame["capacity"], ["list", "person_id", "m"]]
    pairs = (
        near[["list", "person_id", "m"]]
        .reset_index()
        .merge(discussed, on=["list", "person_id"], suffixes=("", "_later"))
    )
    later = pairs[(pairs["m_later"] > pairs["m"]) & (pairs["m_later"] < pairs["m"] + 12)]
    return float(later["index"].nunique() / len(near))


def build_design(
    data: Tables,
    *,
    lists: tuple[str, ...] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> Design:
    """The listings of ``data`` evaluated at the cut (see the module's design).

    Raises
    ------
    features.schemas.ContractError
        The panel tables break their contract (one line naming the rows).
    EvaluationError
        No list month can be evaluated (none whose 12 months closed before the data end,
        or no cut that bound).
    """
    tables = load_panel_tables(data.folder, data.people)
    ranked, helped = tables["panel_lists"], tables["interventions"]
    if lists is not None:
        unknown = sorted(set(lists) - set(ranked["list"]))
        if unknown:
            raise EvaluationError(
                f"no list named {unknown[0]!r} in panel_lists (lists there: "
                f"{', '.join(sorted(set(ranked['list']))) or 'none'})"
            )
        ranked = ranked[ranked["list"].isin(lists)]
    ranked = ranked.assign(
        window_end=pd.to_datetime([label_window_end(d.date()) for d in ranked["list_month"]])
        if len(ranked)
        else pd.Series(dtype="datetime64[ns]")
    )
    closed = ranked["window_end"] <= pd.Timestamp(data.end)
    if not closed.any():
        raise EvaluationError(
            f"no list month can be evaluated: every month's 12 months run past the end of "
            f"the data ({data.end.isoformat()}); the first month that can is 12 months "
            "before it"
        )
    crossover = _crossover(ranked)
    ranked = ranked[closed]
    group = ["list", "list_month", "local_authority"]
    deepest = ranked.groupby(group)["rank"].transform("max")
    binding = (deepest > ranked["capacity"]) & (ranked["capacity"] > 0)
    not_binding = int(ranked.loc[~binding, group].drop_duplicates().shape[0])
    ranked = ranked[binding].reset_index(drop=True)
    if ranked.empty:
        raise EvaluationError(
            "no panel's capacity cut bound in the months that can be evaluated (nobody was "
            "ranked below the cut), so there is no one to compare with"
        )
    months = sorted({d.date() for d in ranked["list_month"]})
    people = data.people[data.people["person_id"].isin(set(ranked["person_id"]))]
    raw = {**data.tables, "people": people}
    features = to_frame(build_feature_table(raw, months, data.end, progress=progress))
    features = features.rename(columns={"as_of": "list_month"})
    keep = ["person_id", "list_month", *LABELS, "sex", "imd_decile"]
    keep += [c for c in BALANCE if c in features.columns]
    frame = ranked.merge(features[keep], on=["person_id", "list_month"], how="left")
    missing = frame[list(LABELS)].isna().any(axis=1)
    if missing.any():
        # listed while not resident aged 10–24 on the first of the month: no label
        frame = frame[~missing].reset_index(drop=True)
    frame["male"] = (frame.pop("sex") == "male").astype(float)
    frame["deprived"] = (frame.pop("imd_decile") <= 2).astype(float)
    for column in BALANCE:
        frame[column] = frame[column].astype(float)
    frame["x"] = frame["capacity"] - frame["rank"] + 0.5
    frame["place"] = (frame["capacity"] - frame["rank"] + 1).astype(int)
    frame["discussed"] = frame["rank"] <= frame["capacity"]
    frame["help"] = _help_share(frame, helped)
    for label in LABELS:
        frame[label] = frame[label].astype(float)
    return Design(
        frame=frame.drop(columns=["window_end"]),
        first_month=months[0],
        last_month=months[-1],
        crossover=crossover,
        not_binding=not_binding,
    )
