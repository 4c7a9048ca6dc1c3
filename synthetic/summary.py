"""A per-area summary of a generated population, as a referral-panel lead would read it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from features.vocabulary import LOCAL_AUTHORITIES

SUMMARY_COLUMNS = (
    "local_authority",
    "residents_10_24",
    "most_deprived_decile_pct",
    "black_pct",
    "suspensions_per_100_aged_11_15",
    "entered_care_12m",
    "stop_and_search_per_1000",
    "sv_suspects_per_1000",
    "sv_victims_per_1000",
)


def area_summary(raw: dict[str, pa.Table], as_of: pd.Timestamp) -> pd.DataFrame:
    """Residents and recorded activity in the 12 months before ``as_of``, by local authority.

    Parameters
    ----------
    raw
        The four raw tables.
    as_of
        End of the 12-month window (excluded); residents are counted on this day.
    """
    people = raw["people"].to_pandas()
    birth = pd.to_datetime(people["birth_month"])
    age = (as_of.year - birth.dt.year) * 12 + (as_of.month - birth.dt.month)
    moved_in = pd.to_datetime(people["moved_in"])
    moved_out = pd.to_datetime(people["moved_out"])
    resident = (
        (age >= 120)
        & (age < 300)
        & (moved_in.isna() | (moved_in <= as_of))
        & (moved_out.isna() | (moved_out > as_of))
    )
    res = people[resident.to_numpy()].assign(age_years=(age[resident] // 12).to_numpy())
    start = as_of - pd.DateOffset(months=12)

    def window(table: str) -> pd.DataFrame:
        frame = raw[table].to_pandas()
        when = pd.to_datetime(frame["event_date"])
        seen = pd.to_datetime(frame["recorded_date"]) < as_of
        return frame[(when >= start) & (when < as_of) & seen]

    by_person = res.set_index("person_id")
    school = window("school_events")
    contacts = window("agency_contacts")
    incidents = window("incidents")
    rows = []
    for la in LOCAL_AUTHORITIES:
        members = by_person[by_person["local_authority"] == la]
        ids = members.index
        secondary = members[(members["age_years"] >= 11) & (members["age_years"] <= 15)].index
        susp = school[(school["event_type"] == "suspension") & school["person_id"].isin(secondary)]
        stops = contacts[
            (contacts["contact_type"] == "stop_and_search") & contacts["person_id"].isin(ids)
        ]
        sv = incidents[incidents["serious_violence"] & incidents["person_id"].isin(ids)]
        lac_events = contacts[
            contacts["person_id"].isin(ids) & contacts["contact_type"].isin(["looked_after_start"])
        ]
        n = max(len(ids), 1)
        rows.append(
            {
                "local_authority": la,
                "residents_10_24": len(ids),
                "most_deprived_decile_pct": 100 * float((members["imd_decile"] == 1).mean()),
                "black_pct": 100 * float((members["ethnicity"] == "Black").mean()),
                "suspensions_per_100_aged_11_15": 100 * len(susp) / max(len(secondary), 1),
                "entered_care_12m": int(lac_events["person_id"].nunique()),
                "stop_and_search_per_1000": 1000 * len(stops) / n,
                "sv_suspects_per_1000": 1000
                * sv.loc[sv["role"] == "suspect", "person_id"].nunique()
                / n,
                "sv_victims_per_1000": 1000
                * sv.loc[sv["role"] == "victim", "person_id"].nunique()
                / n,
            }
        )
    out = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    total = out.drop(columns="local_authority").mul(out["residents_10_24"], axis=0).sum()
    total_row: dict[str, object] = {
        c: float(total[c] / max(out["residents_10_24"].sum(), 1)) for c in total.index
    }
    total_row.update(
        local_authority="Avon and Somerset",
        residents_10_24=int(out["residents_10_24"].sum()),
        entered_care_12m=int(out["entered_care_12m"].sum()),
    )
    return pd.concat([out, pd.DataFrame([total_row])], ignore_index=True).astype(
        {"residents_10_24": np.int64, "entered_care_12m": np.int64}
    )
