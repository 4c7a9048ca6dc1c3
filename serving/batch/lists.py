"""The panel lists: who is listed, the columns of a list, their order, their files.

Who is listed comes from the one selection function,
:func:`models.panels.select_panel`; this module turns its rows into the
columns a panel reads, sorts them and writes each local authority's list as CSV
(stable bytes) and Parquet. No audit-only column may ever be written.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from features.vocabulary import SOURCE_TITLES
from models.panels import select_panel
from models.reasons import Explanation

__all__ = [
    "LIST_COLUMNS",
    "REASONS_IN_LIST",
    "STATUS_DROPPED",
    "STATUS_NEW",
    "STATUS_STILL",
    "freshness_text",
    "list_counts",
    "list_rows",
    "panel_list",
    "slug",
    "sort_lists",
    "write_list",
]

#: values of a list's ``status`` column
STATUS_NEW = "new"
STATUS_STILL = "still listed"
STATUS_DROPPED = "dropped off"
REASONS_IN_LIST = 3
#: columns of every panel list, in order (no audit-only column may ever be added here)
LIST_COLUMNS = (
    "rank",
    "person_id",
    "local_authority",
    "outcome",
    "probability",
    "band",
    "within_capacity",
    "age_years",
    "reason_1",
    "reason_2",
    "reason_3",
    "protective_factors",
    "data_freshness",
    "status",
    "previous_rank",
    "previous_probability",
    "dropped_reason",
)


def slug(local_authority: str) -> str:
    """File-name form of a local authority: ``bath_and_north_east_somerset``."""
    return re.sub(r"[^a-z0-9]+", "_", local_authority.lower()).strip("_")


def freshness_text(fresh: Mapping[str, dt.date]) -> str:
    """``school records to 2024-12-31; …``: how recent each source is, in a panel's words."""
    return "; ".join(f"{SOURCE_TITLES.get(k, k)} to {v.isoformat()}" for k, v in fresh.items())


def panel_list(scored: pd.DataFrame, capacity: Mapping[str, int], threshold: float) -> pd.DataFrame:
    """The rows a panel sees, by local authority then rank.

    Parameters
    ----------
    scored
        One row per person with ``person_id``, ``local_authority`` and
        ``probability`` (other columns are carried along).
    capacity, threshold
        As for :func:`models.panels.select_panel`, which decides who is listed.

    Returns
    -------
    The listed rows with ``rank`` and ``within_capacity``.
    """
    marked = select_panel(scored, capacity, threshold)
    listed = marked[marked["listed"].to_numpy(dtype=bool)].drop(columns="listed")
    return listed.sort_values(["local_authority", "rank"], kind="mergesort").reset_index(drop=True)


def list_rows(
    listed: pd.DataFrame, explanations: Sequence[Explanation], freshness: str
) -> pd.DataFrame:
    """The list columns (up to ``status``) of listed rows, with their explanations."""
    reasons = [[r.sentence for r in e.reasons[:REASONS_IN_LIST]] for e in explanations]
    padded = [r + [""] * (REASONS_IN_LIST - len(r)) for r in reasons]
    return pd.DataFrame(
        {
            "rank": listed["rank"].astype("Int64").to_numpy(),
            "person_id": listed["person_id"].astype(str).to_numpy(),
            "local_authority": listed["local_authority"].astype(str).to_numpy(),
            "outcome": listed["outcome"].to_numpy(),
            "probability": listed["probability"].to_numpy(dtype=float),
            "band": listed["band"].astype(str).to_numpy(),
            "within_capacity": listed["within_capacity"].astype(bool).to_numpy(),
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
    """By local authority, outcome (in pack order), listed before dropped, then rank."""
    order = {o: i for i, o in enumerate(outcomes)}
    return (
        lists.assign(
            _o=lists["outcome"].map(order),
            _dropped=lists["status"] == STATUS_DROPPED,
            _r=lists["rank"].fillna(lists["previous_rank"]).astype(float),
        )
        .sort_values(["local_authority", "_o", "_dropped", "_r", "person_id"], kind="mergesort")
        .drop(columns=["_o", "_dropped", "_r"])
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


def list_counts(
    mine: pd.DataFrame, snapshot: pd.DataFrame, la: str, outcome: str
) -> dict[str, int]:
    """How many residents, listed (within and beyond capacity), new, still listed, dropped.

    ``mine`` is one local authority's list; ``snapshot`` every scored row.
    """
    listed = mine[mine["status"] != STATUS_DROPPED]
    residents = snapshot[(snapshot["local_authority"] == la) & (snapshot["outcome"] == outcome)]
    return {
        "residents": len(residents),
        "listed": len(listed),
        "within_capacity": int(listed["within_capacity"].sum()),
        "beyond_capacity": int((~listed["within_capacity"]).sum()),
        "new": int((listed["status"] == STATUS_NEW).sum()),
        "still_listed": int((listed["status"] == STATUS_STILL).sum()),
        "dropped_off": int((mine["status"] == STATUS_DROPPED).sum()),
    }
