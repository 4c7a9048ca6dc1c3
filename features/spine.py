"""The spine: one row per (person_id, as_of) for everyone resident and aged 10–24.

Every feature builder left-joins onto the spine and must return exactly one row
per spine row. The spine also carries the audit-only columns (protected
characteristics and deprivation) beside the features, never as model inputs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

AGE_MIN_YEARS = 10
AGE_MAX_YEARS = 24
#: carried beside the features for the fairness audit; not model inputs by default
AUDIT_COLUMNS = (
    "sex",
    "ethnicity",
    "ethnicity_detail",
    "sen_status",
    "imd_decile",
    "fsm",
)
#: context carried for grouping (each spoke's panel); not a model input by default
CONTEXT_COLUMNS = ("local_authority",)


@dataclass(frozen=True)
class Spine:
    """The spine rows and the sorted snapshot dates they were built for.

    ``rows`` has ``row`` (0..n−1, the row's identity for builders), ``person_id,
    as_of, snapshot, birth_month, age_months`` and the
    audit and context columns; ``snapshot`` is the index of ``as_of`` in
    ``as_of_dates``. ``person_key`` is the person's position in the ``people`` table the
    spine was built from (an integer key for joins).
    """

    rows: pd.DataFrame
    as_of_dates: tuple[dt.date, ...]


def months_between(later: pd.Series | pd.Timestamp, earlier: pd.Series) -> pd.Series:
    """Whole months from ``earlier`` to ``later`` (both dates)."""
    later_ts = pd.to_datetime(later)
    earlier_ts = pd.to_datetime(earlier)
    if isinstance(later_ts, pd.Timestamp):
        months = (later_ts.year - earlier_ts.dt.year) * 12 + (later_ts.month - earlier_ts.dt.month)
        return months - (later_ts.day < earlier_ts.dt.day).astype(int)
    months = (later_ts.dt.year - earlier_ts.dt.year) * 12 + (
        later_ts.dt.month - earlier_ts.dt.month
    )
    return months - (later_ts.dt.day < earlier_ts.dt.day).astype(int)


def build_spine(people: pd.DataFrame, as_of_dates: Sequence[dt.date]) -> Spine:
    """Everyone resident and aged 10–24 on each as-of date.

    Parameters
    ----------
    people
        The validated ``people`` table.
    as_of_dates
        Snapshot dates; duplicates are dropped and the dates sorted.

    Notes
    -----
    Resident on ``as_of`` means ``moved_in`` is empty or on/before ``as_of`` and
    ``moved_out`` is empty or after it. Age is in whole months from the birth month.
    """
    dates = tuple(sorted(set(as_of_dates)))
    if not dates:
        raise ValueError("at least one as-of date is needed")
    # people in person_id order, so that each snapshot's rows come out sorted
    order = people["person_id"].argsort(kind="stable").to_numpy()
    ordered_people = people.iloc[order].reset_index(drop=True)
    keep = ["person_id", "birth_month", *CONTEXT_COLUMNS, *AUDIT_COLUMNS]
    parts = []
    for k, as_of in enumerate(dates):
        when = pd.Timestamp(as_of)
        age = months_between(when, ordered_people["birth_month"])
        resident = (
            age.between(AGE_MIN_YEARS * 12, (AGE_MAX_YEARS + 1) * 12 - 1)
            & (ordered_people["moved_in"].isna() | (ordered_people["moved_in"] <= when))
            & (ordered_people["moved_out"].isna() | (ordered_people["moved_out"] > when))
        ).to_numpy()
        chosen = ordered_people.loc[resident, keep]
        parts.append(
            chosen.assign(
                as_of=when, snapshot=k, age_months=age[resident], person_key=order[resident]
            )
        )
    rows = pd.concat(parts, ignore_index=True)
    rows["as_of"] = rows["as_of"].astype("datetime64[ns]")
    rows["snapshot"] = rows["snapshot"].astype("int32")
    rows["age_months"] = rows["age_months"].astype("int32")
    rows["person_key"] = rows["person_key"].astype("int64")
    columns = [
        "person_id",
        "as_of",
        "snapshot",
        "birth_month",
        "age_months",
        *CONTEXT_COLUMNS,
        *AUDIT_COLUMNS,
        "person_key",
    ]
    # (snapshot, person_id) order by construction
    rows = rows[columns]
    rows.insert(0, "row", np.arange(len(rows), dtype=np.int64))
    return Spine(rows=rows, as_of_dates=dates)
