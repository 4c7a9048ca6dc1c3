"""The panel lists: who is named, the columns of a list, their order, their files, their counts.

Who is named comes from the one selection function,
:func:`models.panels.select_lists`: for each outcome and local authority, two
lists (:data:`features.vocabulary.LISTS`), ``known`` (young people already known
to services for serious violence) and ``early`` (the early-identification list),
each ranked and cut at its capacity. Only the young people within each list's
capacity are named; everyone beyond it is counted by band, never named (data
minimisation). This module turns the named rows into the columns a panel reads,
sorts them, writes each local authority's list as CSV (stable bytes) and Parquet,
and counts each list. No audit-only column may ever be written.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from features.vocabulary import LISTS, SOURCE_TITLES
from models.panels import PanelCapacity
from models.reasons import Explanation

__all__ = [
    "LIST_COLUMNS",
    "REASONS_IN_LIST",
    "STATUS_MOVED",
    "STATUS_NEW",
    "STATUS_STILL",
    "freshness_text",
    "list_counts",
    "list_rows",
    "named_rows",
    "slug",
    "sort_lists",
    "write_list",
]

#: values of a list's ``status`` column (``STATUS_MOVED`` is formatted with the other list)
STATUS_NEW = "new"
STATUS_STILL = "still listed"
STATUS_MOVED = "moved from the {list} list"
REASONS_IN_LIST = 3
#: columns of every panel list, in order (no audit-only column may ever be added here).
#: Every row is a young person named to the panel, within their list's capacity.
LIST_COLUMNS = (
    "rank",
    "person_id",
    "local_authority",
    "outcome",
    "list",
    "probability",
    "band",
    "age_years",
    "reason_1",
    "reason_2",
    "reason_3",
    "protective_factors",
    "data_freshness",
    "status",
    "previous_rank",
    "previous_probability",
)


def slug(local_authority: str) -> str:
    """File-name form of a local authority: ``bath_and_north_east_somerset``."""
    return re.sub(r"[^a-z0-9]+", "_", local_authority.lower()).strip("_")


def freshness_text(fresh: Mapping[str, dt.date]) -> str:
    """``school records to 2024-12-31; …``: how recent each source is, in a panel's words."""
    return "; ".join(f"{SOURCE_TITLES.get(k, k)} to {v.isoformat()}" for k, v in fresh.items())


def named_rows(drawn: pd.DataFrame) -> pd.DataFrame:
    """The rows named to a panel (within their list's capacity), by authority, list, rank."""
    order = {key: i for i, key in enumerate(LISTS)}
    within = drawn[drawn["within_capacity"].to_numpy(dtype=bool)]
    return (
        within.assign(_l=within["list"].map(order))
        .sort_values(["local_authority", "_l", "rank"], kind="mergesort")
        .drop(columns="_l")
        .reset_index(drop=True)
    )


def list_rows(
    listed: pd.DataFrame, explanations: Sequence[Explanation], freshness: str
) -> pd.DataFrame:
    """The list columns (up to ``data_freshness``) of named rows, with their explanations."""
    reasons = [[r.sentence for r in e.reasons[:REASONS_IN_LIST]] for e in explanations]
    padded = [r + [""] * (REASONS_IN_LIST - len(r)) for r in reasons]
    return pd.DataFrame(
        {
            "rank": listed["rank"].astype("Int64").to_numpy(),
            "person_id": listed["person_id"].astype(str).to_numpy(),
            "local_authority": listed["local_authority"].astype(str).to_numpy(),
            "outcome": listed["outcome"].to_numpy(),
            "list": listed["list"].astype(str).to_numpy(),
            "probability": listed["probability"].to_numpy(dtype=float),
            "band": listed["band"].astype(str).to_numpy(),
            "age_years": listed["age_years"].astype("Int64").to_numpy(),
            "reason_1": [p[0] for p in padded],
            "reason_2": [p[1] for p in padded],
            "reason_3": [p[2] for p in padded],
            "protective_factors": [
                "; ".join(r.sentence for r in e.protective) for e in explanations
            ],
            "data_freshness": freshness,
        }
    )


def sort_lists(lists: pd.DataFrame, outcomes: Sequence[str]) -> pd.DataFrame:
    """By local authority, outcome (in pack order), list (``known`` first), then rank."""
    order = {o: i for i, o in enumerate(outcomes)}
    list_order = {key: i for i, key in enumerate(LISTS)}
    return (
        lists.assign(_o=lists["outcome"].map(order), _l=lists["list"].map(list_order))
        .sort_values(["local_authority", "_o", "_l", "rank", "person_id"], kind="mergesort")
        .drop(columns=["_o", "_l"])
        .reset_index(drop=True)
    )


def write_list(frame: pd.DataFrame, folder: Path, stem: str) -> list[Path]:
    """The list as CSV (probabilities to 6 decimals, stable bytes) and Parquet."""
    from features.registry import AUDIT_ONLY

    leaked = [c for c in frame.columns if c in AUDIT_ONLY and c != "local_authority"]
    if leaked:  # a programming error, never a user error
        raise AssertionError(f"audit-only columns in a panel list: {leaked}")
    csv = folder / f"{stem}.csv"
    frame.to_csv(csv, index=False, float_format="%.6f", lineterminator="\n")
    parquet = folder / f"{stem}.parquet"
    frame.to_parquet(parquet, index=False, compression="zstd")
    return [csv, parquet]


def _by_band(bands: pd.Series, band_names: Sequence[str]) -> dict[str, int]:
    """People per band, highest band first (every band of the model, zeros included; a
    band the model does not name, last, so that the counts always add up)."""
    counts = bands.value_counts()  # categorical bands count every category: keep the held
    counts = counts[counts.to_numpy() > 0]
    counts.index = counts.index.astype(str)
    names = [*reversed(list(band_names)), *sorted(set(counts.index) - set(band_names))]
    return {name: int(counts.get(name, 0)) for name in names}


def list_counts(
    rows: pd.DataFrame,
    drawn: pd.DataFrame,
    gone: pd.DataFrame,
    *,
    la: str,
    outcome: str,
    capacity: PanelCapacity,
    band_names: Sequence[str],
) -> dict[str, Any]:
    """What a panel is told about its two lists of one outcome, in counts only.

    Parameters
    ----------
    rows
        The named rows of this local authority (every outcome and list, with status).
    drawn
        Everyone scored, with ``outcome``, ``band`` and the columns of
        :func:`models.panels.select_lists` (``list``, ``within_capacity``).
    gone
        Who was named on the previous list and is not now: ``local_authority,
        outcome, list, reason`` (:func:`serving.batch.history.add_history`).
    la, outcome
        The local authority and outcome counted.
    capacity
        Each list's capacity.
    band_names
        The model's bands, lowest first.

    Returns
    -------
    ``residents``, ``named`` (both lists) and, per list key, ``capacity``,
    ``cohort`` (young people in the list's cohort), ``named``, ``beyond_capacity``,
    ``beyond_capacity_by_band`` (highest band first), ``new``, ``still_listed``,
    ``moved_in`` (from the other list), ``no_longer_named`` and
    ``no_longer_named_by_reason``.
    """
    # compared as columns (Arrow-backed strings compare fast, and to_numpy would copy them
    # into Python objects first)
    mine = drawn[
        (drawn["local_authority"] == la).to_numpy(dtype=bool)
        & (drawn["outcome"] == outcome).to_numpy(dtype=bool)
    ]
    out: dict[str, Any] = {"residents": len(mine), "named": 0}
    for key in LISTS:
        cohort = mine[(mine["list"] == key).to_numpy(dtype=bool)]
        beyond = cohort[~cohort["within_capacity"].to_numpy(dtype=bool)]
        on_list = rows[(rows["outcome"] == outcome) & (rows["list"] == key)]
        left = gone[
            (gone["local_authority"] == la) & (gone["outcome"] == outcome) & (gone["list"] == key)
        ]
        reasons = left["reason"].value_counts()
        status = on_list["status"].astype(str)
        out[key] = {
            "capacity": int(capacity.of(key).get(la, 0)),
            "cohort": len(cohort),
            "named": len(on_list),
            "beyond_capacity": len(beyond),
            "beyond_capacity_by_band": _by_band(beyond["band"], band_names),
            "new": int((status == STATUS_NEW).sum()),
            "still_listed": int((status == STATUS_STILL).sum()),
            "moved_in": int(status.str.startswith(STATUS_MOVED.split("{")[0]).sum()),
            "no_longer_named": len(left),
            "no_longer_named_by_reason": {str(r): int(n) for r, n in sorted(reasons.items())},
        }
        out["named"] += len(on_list)
    return out
