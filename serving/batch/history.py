"""Each list against the previous run: ``new``, ``still listed``, ``dropped off`` and why.

The previous run is the one in the output folder (or, when the same as-of date
is run again, the run it compared with, kept as ``baseline.parquet``), so a
repeated command writes identical lists.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from serving.batch.atomic import MANIFEST
from serving.batch.lists import LIST_COLUMNS, STATUS_DROPPED, STATUS_NEW, STATUS_STILL

__all__ = [
    "BASELINE",
    "DROPPED_AGED_OUT",
    "DROPPED_FELL",
    "DROPPED_GONE",
    "DROPPED_LEFT",
    "DROPPED_MOVED",
    "DROPPED_OUTRANKED",
    "add_history",
    "dropped_reason",
    "find_baseline",
]

BASELINE = "baseline.parquet"
DROPPED_FELL = "risk fell below the panel's cut"
DROPPED_OUTRANKED = "below the panel's cut (others now rank higher)"
DROPPED_AGED_OUT = "aged out (25 or over)"
DROPPED_MOVED = "moved to {la}"
DROPPED_LEFT = "moved away (no longer resident)"
DROPPED_GONE = "no longer in the data"
_BASELINE_COLUMNS = ["person_id", "local_authority", "outcome", "rank", "probability"]


def dropped_reason(
    local_authority: str,
    previous_probability: float,
    now: Mapping[Any, Any] | None,
    person: Mapping[Any, Any] | None,
    as_of: dt.date,
) -> str:
    """Why someone on the previous list is not on this one.

    Parameters
    ----------
    local_authority, previous_probability
        Where they were listed and their estimate then.
    now
        Their row on this snapshot (``local_authority``, ``probability``), or
        ``None`` when they are not on it (not resident or not aged 10–24).
    person
        Their row of the raw ``people`` table (``birth_month``, ``moved_out``), or
        ``None`` when the data no longer holds them.
    as_of
        This run's assessment date.
    """
    from features.spine import AGE_MAX_YEARS, months_between

    if now is not None:
        if now["local_authority"] != local_authority:
            return DROPPED_MOVED.format(la=now["local_authority"])
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
    frames = [pd.read_parquet(p) for p in sorted(folder.glob("panel_*.parquet"))]
    if not frames:
        return pd.DataFrame(columns=["person_id", "local_authority", "outcome", "rank"])
    lists = pd.concat(frames, ignore_index=True)
    return lists[lists["status"] != STATUS_DROPPED]


def find_baseline(out_dir: Path, as_of: dt.date) -> tuple[str | None, pd.DataFrame]:
    """The latest earlier run in ``out_dir`` (or the one it compared with) and its lists.

    Re-running the same as-of date compares with the same earlier run as before,
    so a repeated command writes identical lists.
    """
    empty = pd.DataFrame(columns=_BASELINE_COLUMNS)
    manifest_path = out_dir / MANIFEST
    if not manifest_path.is_file():
        return None, empty
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return None, empty
    candidates: list[tuple[str, Callable[[], pd.DataFrame]]] = []
    if manifest.get("as_of"):
        candidates.append((str(manifest["as_of"]), lambda: _read_lists(out_dir)))
    if manifest.get("baseline_as_of") and (out_dir / BASELINE).is_file():
        candidates.append(
            (str(manifest["baseline_as_of"]), lambda: pd.read_parquet(out_dir / BASELINE))
        )
    earlier = [(when, read) for when, read in candidates if when < as_of.isoformat()]
    if not earlier:
        return None, empty
    when, read = max(earlier, key=lambda c: c[0])
    rows = read()
    return when, rows[[c for c in empty.columns if c in rows.columns]].reset_index(drop=True)


def _dropped_row(
    row: Mapping[Any, Any], now: Mapping[Any, Any] | None, reason: str, freshness: str
) -> dict[str, object]:
    """The list row of someone who dropped off (no rank, no reasons, why they left)."""
    return {
        "rank": pd.NA,
        "person_id": str(row["person_id"]),
        "local_authority": row["local_authority"],
        "outcome": row["outcome"],
        "probability": np.nan if now is None else now["probability"],
        "band": "" if now is None else now["band"],
        "within_capacity": False,
        "age_years": pd.NA if now is None else now["age_years"],
        "reason_1": "",
        "reason_2": "",
        "reason_3": "",
        "protective_factors": "",
        "data_freshness": freshness,
        "status": STATUS_DROPPED,
        "previous_rank": row["previous_rank"],
        "previous_probability": row["previous_probability"],
        "dropped_reason": reason,
    }


def add_history(
    current: pd.DataFrame,
    baseline: pd.DataFrame,
    snapshot: pd.DataFrame,
    people: pd.DataFrame,
    as_of: dt.date,
    freshness: str,
) -> pd.DataFrame:
    """Add status and previous rank to this run's lists; append the people who dropped off.

    Parameters
    ----------
    current
        This run's listed rows (:func:`serving.batch.lists.list_rows`).
    baseline
        The previous run's listed rows (:func:`find_baseline`).
    snapshot
        Every scored row (``outcome, person_id, local_authority, probability, band,
        age_years``).
    people
        The raw people table (why someone is no longer on the snapshot).
    as_of, freshness
        This run's date and its data-freshness text.

    Returns
    -------
    Every row with :data:`~serving.batch.lists.LIST_COLUMNS`.
    """
    key = ["local_authority", "outcome", "person_id"]
    before = baseline.rename(
        columns={"rank": "previous_rank", "probability": "previous_probability"}
    )[[*key, "previous_rank", "previous_probability"]]
    before = before.astype({"person_id": str, "local_authority": str, "outcome": str})
    gone_ids = set(before["person_id"])
    in_snapshot = snapshot[snapshot["person_id"].isin(gone_ids)]
    now_rows = {(r["outcome"], r["person_id"]): r for r in in_snapshot.to_dict("records")}
    in_people = people[people["person_id"].isin(gone_ids)]
    people_rows = {str(r["person_id"]): r for r in in_people.to_dict("records")}
    merged = current.merge(before, on=key, how="left", validate="one_to_one")
    merged["status"] = np.where(merged["previous_rank"].isna(), STATUS_NEW, STATUS_STILL)
    merged["dropped_reason"] = ""
    now_keys = set(map(tuple, current[key].to_numpy().tolist()))
    gone = before[[tuple(k) not in now_keys for k in before[key].to_numpy().tolist()]]
    dropped_rows = []
    for row in gone.to_dict("records"):
        now = now_rows.get((row["outcome"], row["person_id"]))
        reason = dropped_reason(
            str(row["local_authority"]),
            float(row["previous_probability"]),
            now,
            people_rows.get(str(row["person_id"])),
            as_of,
        )
        dropped_rows.append(_dropped_row(row, now, reason, freshness))
    if dropped_rows:
        merged = pd.concat([merged, pd.DataFrame(dropped_rows)], ignore_index=True)
    merged["rank"] = merged["rank"].astype("Int64")
    merged["previous_rank"] = merged["previous_rank"].astype("Int64")
    merged["age_years"] = merged["age_years"].astype("Int64")
    merged["probability"] = merged["probability"].astype(float)
    merged["previous_probability"] = merged["previous_probability"].astype(float)
    merged["within_capacity"] = merged["within_capacity"].astype(bool)
    return merged[list(LIST_COLUMNS)]
