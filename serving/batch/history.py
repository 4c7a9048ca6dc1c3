"""Each list against the previous run: ``new``, ``still listed``, moved between lists, and
how many are no longer named, and why.

Only the young people named this month appear in a list, so someone named last month
and not now is never a row: each list counts them by reason (data minimisation).

The previous run is the one in the output folder (or, when the same as-of date is
run again, the run it compared with: ``baseline.parquet`` keeps the rows of the people
it named who are named again, and the manifest the counts of the others), so a
repeated command writes identical lists, and no run's outputs identify anyone it
does not name.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.vocabulary import LISTS
from serving.batch.atomic import MANIFEST
from serving.batch.lists import LIST_COLUMNS, STATUS_MOVED, STATUS_NEW, STATUS_STILL

__all__ = [
    "BASELINE",
    "DROPPED_AGED_OUT",
    "DROPPED_FELL",
    "DROPPED_GONE",
    "DROPPED_LEFT",
    "DROPPED_MOVED",
    "DROPPED_OTHER_LIST",
    "DROPPED_OUTRANKED",
    "GONE_COLUMNS",
    "Baseline",
    "add_history",
    "agenda_changes",
    "dropped_reason",
    "find_baseline",
    "named_again",
]

BASELINE = "baseline.parquet"
#: why someone named on the previous list is not named now (counted, never listed)
DROPPED_FELL = "estimate fell below the list's cut"
DROPPED_OUTRANKED = "below the list's cut (others now rank higher)"
DROPPED_OTHER_LIST = "now in the {list} list's cohort, beyond its capacity"
DROPPED_AGED_OUT = "aged out (25 or over)"
DROPPED_MOVED = "moved to {la}"
DROPPED_LEFT = "moved away (no longer resident)"
DROPPED_GONE = "no longer in the data"
#: columns of the people no longer named (in memory only: no person is identified)
GONE_COLUMNS = ["local_authority", "outcome", "list", "reason"]
_BASELINE_COLUMNS = ["person_id", "local_authority", "outcome", "list", "rank", "probability"]
#: status of a row in lists written before there were two lists
_OLD_DROPPED = "dropped off"


def dropped_reason(
    local_authority: str,
    previous_probability: float,
    now: Mapping[Any, Any] | None,
    person: Mapping[Any, Any] | None,
    as_of: dt.date,
    previous_list: str | None = None,
) -> str:
    """Why someone named on the previous list is not named now.

    Parameters
    ----------
    local_authority, previous_probability
        Where they were named and their estimate then.
    now
        Their row on this snapshot (``local_authority``, ``probability`` and, when
        known, ``list``), or ``None`` when they are not on it (not resident or not
        aged 10–24).
    person
        Their row of the raw ``people`` table (``birth_month``, ``moved_out``), or
        ``None`` when the data no longer holds them.
    as_of
        This run's assessment date.
    previous_list
        The list they were named on (``known`` or ``early``), when known.
    """
    from features.spine import AGE_MAX_YEARS, months_between

    if now is not None:
        if now["local_authority"] != local_authority:
            return DROPPED_MOVED.format(la=now["local_authority"])
        if previous_list and now.get("list") and now["list"] != previous_list:
            return DROPPED_OTHER_LIST.format(list=now["list"])
        if float(now["probability"]) < previous_probability:
            return DROPPED_FELL
        return DROPPED_OUTRANKED
    if person is None:
        return DROPPED_GONE
    age = months_between(pd.Timestamp(as_of), pd.Series([person["birth_month"]])).iloc[0]
    if age >= (AGE_MAX_YEARS + 1) * 12:
        return DROPPED_AGED_OUT
    moved_out = person["moved_out"]
    if not pd.isna(moved_out) and pd.Timestamp(moved_out) <= pd.Timestamp(as_of):
        return DROPPED_LEFT
    return DROPPED_GONE


def _read_lists(folder: Path) -> pd.DataFrame:
    """The named rows of the run in ``folder`` (of a run from before two lists: the
    people within capacity, whose ``list`` is unknown)."""
    frames = [pd.read_parquet(p) for p in sorted(folder.glob("panel_*.parquet"))]
    if not frames:
        return pd.DataFrame(columns=_BASELINE_COLUMNS)
    lists = pd.concat(frames, ignore_index=True)
    if "status" in lists.columns:
        lists = lists[lists["status"] != _OLD_DROPPED]
    if "within_capacity" in lists.columns:
        lists = lists[lists["within_capacity"].astype(bool)]
    return lists


@dataclass(frozen=True)
class Baseline:
    """The earlier run a run compares with.

    ``rows`` are the young people it named: all of them when it is the run in the
    output folder; when the same month is run again, only those the first run of
    this month named again (``baseline.parquet``), with the people no longer named
    already counted in ``gone`` (from that run's manifest). So nobody who is no
    longer named is kept in a run's outputs, and a repeated command writes the same.
    """

    as_of: str | None
    rows: pd.DataFrame
    gone: pd.DataFrame
    #: ``rows`` are only the people named again (a repeated run): everyone no longer
    #: named, on any list, is already counted in ``gone`` and ``agenda_left``
    partial: bool = False
    #: per local authority, how many on that run's agenda are not on the repeated run's
    #: (from the manifest; only when ``partial``)
    agenda_left: Mapping[str, int] = field(default_factory=dict)
    #: the outcomes whose lists ``rows`` hold (``None``: every outcome, as in a manifest
    #: from before a model could be switched off). An outcome that run did not list (its
    #: model switched off, or not asked for) has nothing to compare with: its list now
    #: counts everyone as new, as a first run does, and the pack says why.
    outcomes: frozenset[str] | None = None

    def holds(self, outcome: str) -> bool:
        """Did the earlier run list ``outcome`` (so its list now can be compared)?"""
        return self.as_of is not None and (self.outcomes is None or outcome in self.outcomes)


def _no_baseline() -> Baseline:
    return Baseline(
        None, pd.DataFrame(columns=_BASELINE_COLUMNS), pd.DataFrame(columns=GONE_COLUMNS)
    )


def _counted(manifest: Mapping[str, Any]) -> pd.DataFrame:
    """The people no longer named that a run's manifest counted, one row each (no identifier)."""
    rows = []
    try:
        for la, by_outcome in manifest.get("counts", {}).items():
            for outcome, by_list in by_outcome.items():
                for key in LISTS:
                    for reason, n in by_list[key]["no_longer_named_by_reason"].items():
                        rows += [(la, outcome, key, reason)] * int(n)
    except (KeyError, TypeError, AttributeError):  # a manifest from before two lists
        return pd.DataFrame(columns=GONE_COLUMNS)
    return pd.DataFrame(rows, columns=GONE_COLUMNS)


def _outcomes(listed: object) -> frozenset[str] | None:
    """A manifest's list of outcomes as a set (``None`` when it has none)."""
    if not isinstance(listed, list):
        return None
    return frozenset(str(o) for o in listed)


def find_baseline(out_dir: Path, as_of: dt.date) -> Baseline:
    """The latest earlier run in ``out_dir`` (or the one it compared with).

    Re-running the same as-of date compares with the same earlier run as before,
    so a repeated command writes identical lists. The baseline's ``outcomes`` are the
    ones that run listed (the manifest's ``outcomes``), or, for the run it compared
    with, the ones it could compare (its ``compared``): a month whose model of an
    outcome was switched off leaves that outcome nothing to compare with next month.
    """
    manifest_path = out_dir / MANIFEST
    if not manifest_path.is_file():
        return _no_baseline()
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return _no_baseline()
    candidates: list[tuple[str, Callable[[], Baseline]]] = []
    if manifest.get("as_of"):
        when = str(manifest["as_of"])
        candidates.append(
            (
                when,
                lambda: Baseline(
                    when,
                    _read_lists(out_dir),
                    _no_baseline().gone,
                    outcomes=_outcomes(manifest.get("outcomes")),
                ),
            )
        )
    if manifest.get("baseline_as_of") and (out_dir / BASELINE).is_file():
        then = str(manifest["baseline_as_of"])
        candidates.append(
            (
                then,
                lambda: Baseline(
                    then,
                    pd.read_parquet(out_dir / BASELINE),
                    _counted(manifest),
                    partial=True,
                    agenda_left={
                        str(la): int(entry.get("left", 0))
                        for la, entry in (manifest.get("agenda") or {}).items()
                    },
                    outcomes=_outcomes(manifest.get("compared", manifest.get("outcomes"))),
                ),
            )
        )
    earlier = [(when, read) for when, read in candidates if when < as_of.isoformat()]
    if not earlier:
        return _no_baseline()
    found = max(earlier, key=lambda c: c[0])[1]()
    rows = found.rows[[c for c in _BASELINE_COLUMNS if c in found.rows.columns]]
    return replace(found, rows=rows.reset_index(drop=True))


def named_again(baseline: pd.DataFrame, named: pd.DataFrame) -> pd.DataFrame:
    """The baseline's rows of the people named again now, on any list (what
    ``baseline.parquet`` keeps: a repeated run knows who was on the earlier agenda)."""
    key = ["local_authority", "person_id"]
    now = set(map(tuple, named[key].astype(str).to_numpy().tolist()))
    again = np.array(
        [tuple(k) in now for k in baseline[key].astype(str).to_numpy().tolist()], dtype=bool
    )
    return baseline[again].reset_index(drop=True)


def _previous(baseline: pd.DataFrame) -> pd.DataFrame:
    """The previous run's named rows as ``previous_*`` columns (``previous_list`` is empty
    for a run from before two lists)."""
    before = baseline.rename(
        columns={
            "rank": "previous_rank",
            "probability": "previous_probability",
            "list": "previous_list",
        }
    )
    if "previous_list" not in before.columns:
        before["previous_list"] = ""
    before = before[
        [
            "local_authority",
            "outcome",
            "person_id",
            "previous_list",
            "previous_rank",
            "previous_probability",
        ]
    ]
    return before.astype(
        {"person_id": str, "local_authority": str, "outcome": str, "previous_list": str}
    ).assign(previous_list=lambda f: f["previous_list"].replace({"nan": "", "None": ""}))


def _status(previous_list: object, previous_rank: object, this_list: str) -> str:
    if pd.isna(previous_rank):  # type: ignore[call-overload]
        return STATUS_NEW
    if previous_list and previous_list != this_list:
        return STATUS_MOVED.format(list=previous_list)
    return STATUS_STILL


def add_history(
    current: pd.DataFrame,
    baseline: pd.DataFrame,
    drawn: pd.DataFrame,
    people: pd.DataFrame,
    as_of: dt.date,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Status and previous rank of this run's named rows; who is no longer named, and why.

    Parameters
    ----------
    current
        This run's named rows (:func:`serving.batch.lists.list_rows`).
    baseline
        The previous run's named rows (:func:`find_baseline`).
    drawn
        Everyone scored, each with ``outcome, person_id, local_authority, list,
        probability`` (this month's list of each person, named or not).
    people
        The raw people table (why someone is no longer on the snapshot).
    as_of
        This run's date.

    Returns
    -------
    The named rows with :data:`~serving.batch.lists.LIST_COLUMNS`: ``status`` is
    ``new``, ``still listed`` (``previous_rank`` on the same list) or ``moved from
    the <list> list`` (``previous_rank`` empty: it was a rank on the other list);
    and one row per person named last time and not now, with
    :data:`GONE_COLUMNS` only (the list they were on and the reason; no identifier).
    """
    key = ["local_authority", "outcome", "person_id"]
    before = _previous(baseline)
    merged = current.merge(before, on=key, how="left", validate="one_to_one")
    merged["status"] = [
        _status(pl, pr, str(this))
        for pl, pr, this in zip(
            merged["previous_list"], merged["previous_rank"], merged["list"], strict=True
        )
    ]
    moved = merged["status"].str.startswith(STATUS_MOVED.split("{")[0]).to_numpy()
    merged["previous_rank"] = merged["previous_rank"].astype("Int64").mask(moved)
    merged["rank"] = merged["rank"].astype("Int64")
    merged["age_years"] = merged["age_years"].astype("Int64")
    merged["probability"] = merged["probability"].astype(float)
    merged["previous_probability"] = merged["previous_probability"].astype(float)

    now_keys = set(map(tuple, current[key].to_numpy().tolist()))
    still = np.array([tuple(k) in now_keys for k in before[key].to_numpy().tolist()], dtype=bool)
    gone = before[~still]
    gone_ids = set(gone["person_id"])
    in_drawn = drawn[drawn["person_id"].astype(str).isin(gone_ids)]
    now_rows = {(r["outcome"], str(r["person_id"])): r for r in in_drawn.to_dict("records")}
    in_people = people[people["person_id"].astype(str).isin(gone_ids)]
    people_rows = {str(r["person_id"]): r for r in in_people.to_dict("records")}
    lists, reasons = [], []
    for row in gone.to_dict("records"):
        now = now_rows.get((row["outcome"], row["person_id"]))
        reasons.append(
            dropped_reason(
                str(row["local_authority"]),
                float(row["previous_probability"]),
                now,
                people_rows.get(row["person_id"]),
                as_of,
                previous_list=row["previous_list"] or None,
            )
        )
        # a run from before two lists did not say which list: their cohort now, if scored
        lists.append(row["previous_list"] or ("" if now is None else str(now["list"])))
    no_longer = pd.DataFrame(
        {
            "local_authority": gone["local_authority"].to_numpy(dtype=object),
            "outcome": gone["outcome"].to_numpy(dtype=object),
            "list": np.asarray(lists, dtype=object),
            "reason": np.asarray(reasons, dtype=object),
        },
        columns=GONE_COLUMNS,
    )
    return merged[list(LIST_COLUMNS)], no_longer


def agenda_changes(
    before: pd.DataFrame,
    lists: pd.DataFrame,
    baseline: Baseline,
    authorities: Sequence[str],
) -> dict[str, dict[str, int]]:
    """Each local authority's agenda (everyone named, on any list, counted once) against
    the previous run's: ``people``, ``new`` (on no list of the previous run),
    ``again`` and ``left`` (on the previous agenda, on no list now). Counts only."""
    out = {}
    for la in authorities:
        now = set(lists.loc[lists["local_authority"] == la, "person_id"].astype(str))
        then = set(before.loc[before["local_authority"] == la, "person_id"].astype(str))
        left = baseline.agenda_left.get(la, 0) if baseline.partial else len(then - now)
        out[la] = {
            "people": len(now),
            "new": len(now - then) if baseline.as_of else len(now),
            "again": len(now & then),
            "left": int(left),
        }
    return out
