"""The spine (who is on it) and the labels (what counts, and when a label is missing)."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import pytest

from features._engine import memtable
from features.labels import build_labels, label_window_end
from features.spine import build_spine


def _people(rows: list[dict[str, object]]) -> pd.DataFrame:
    base = {
        "sex": "male",
        "ethnicity": "White",
        "ethnicity_detail": "WBRI",
        "sen_status": "none",
        "imd_decile": 5,
        "fsm": False,
        "local_authority": "Bristol",
        "moved_in": None,
        "moved_out": None,
    }
    frame = pd.DataFrame([{**base, **r} for r in rows])
    for c in ("birth_month", "moved_in", "moved_out"):
        frame[c] = pd.to_datetime(frame[c]).astype("datetime64[ns]")
    return frame


AS_OF = dt.date(2024, 4, 1)


def test_spine_age_and_residence_edges() -> None:
    people = _people(
        [
            {"person_id": "turns10", "birth_month": "2014-04-01"},  # 10 exactly on as_of: in
            {"person_id": "nine", "birth_month": "2014-05-01"},  # 9y11m: out
            {"person_id": "24y11m", "birth_month": "1999-05-01"},  # still 24: in
            {"person_id": "turns25", "birth_month": "1999-04-01"},  # 25 on as_of: out
            {"person_id": "arrives", "birth_month": "2008-01-01", "moved_in": "2024-04-01"},  # in
            {"person_id": "not_yet", "birth_month": "2008-01-01", "moved_in": "2024-04-02"},  # out
            {"person_id": "leaves", "birth_month": "2008-01-01", "moved_out": "2024-04-01"},  # out
            {"person_id": "leaving", "birth_month": "2008-01-01", "moved_out": "2024-04-02"},  # in
        ]
    )
    spine = build_spine(people, [AS_OF])
    assert sorted(spine.rows["person_id"]) == ["24y11m", "arrives", "leaving", "turns10"]
    ages = spine.rows.set_index("person_id")["age_months"]
    assert ages["turns10"] == 120
    assert ages["24y11m"] == 299
    assert spine.rows["row"].tolist() == list(range(4))


def test_spine_sorts_and_deduplicates_dates() -> None:
    people = _people([{"person_id": "a", "birth_month": "2008-01-01"}])
    spine = build_spine(people, [dt.date(2024, 1, 1), dt.date(2023, 1, 1), dt.date(2024, 1, 1)])
    assert spine.as_of_dates == (dt.date(2023, 1, 1), dt.date(2024, 1, 1))
    assert spine.rows["snapshot"].tolist() == [0, 1]


def test_spine_needs_a_date() -> None:
    with pytest.raises(ValueError, match="at least one"):
        build_spine(_people([{"person_id": "a", "birth_month": "2008-01-01"}]), [])


def _labels(incidents: list[dict[str, object]], as_of: list[dt.date], end: dt.date) -> pd.DataFrame:
    people = _people([{"person_id": p, "birth_month": "2008-01-01"} for p in ("A", "B", "C")])
    spine = build_spine(people, as_of)
    frame = pd.DataFrame(
        incidents,
        columns=[
            "incident_id",
            "person_id",
            "event_date",
            "recorded_date",
            "role",
            "offence_group",
            "serious_violence",
            "weapon",
        ],
    )
    for c in ("event_date", "recorded_date"):
        frame[c] = pd.to_datetime(frame[c]).astype("datetime64[ns]")
    con = ibis.duckdb.connect()
    try:
        inc = con.create_table("incidents", memtable(frame))
        sp = con.create_table("spine", memtable(spine.rows))
        got = build_labels(inc, sp, spine, end).to_pyarrow().to_pandas()
    finally:
        con.disconnect()
    return got.sort_values(["snapshot", "person_id"], ignore_index=True)


def _inc(person: str, when: str, role: str, serious: bool = True) -> dict[str, object]:
    return {
        "incident_id": f"I-{person}-{when}-{role}",
        "person_id": person,
        "event_date": when,
        "recorded_date": when,
        "role": role,
        "offence_group": "robbery" if serious else "theft",
        "serious_violence": serious,
        "weapon": False,
    }


def test_label_window_includes_start_and_excludes_end() -> None:
    incidents = [
        _inc("A", "2024-04-01", "victim"),  # on as_of: inside [as_of, as_of + 12m)
        _inc("B", "2025-04-01", "victim"),  # exactly as_of + 12 months: outside
        _inc("C", "2024-03-31", "suspect"),  # the day before as_of: outside (that's history)
    ]
    got = _labels(incidents, [AS_OF], dt.date(2026, 1, 1)).set_index("person_id")
    assert got["sv_victim_12m"].to_dict() == {"A": 1, "B": 0, "C": 0}
    assert got["sv_perpetrator_12m"].to_dict() == {"A": 0, "B": 0, "C": 0}


def test_label_counts_only_serious_violence_and_the_right_role() -> None:
    incidents = [
        _inc("A", "2024-05-01", "suspect"),  # SV suspect → perpetrator
        _inc("B", "2024-05-01", "victim", serious=False),  # not serious violence
        _inc("C", "2024-05-01", "witness"),  # a witness is neither
    ]
    got = _labels(incidents, [AS_OF], dt.date(2026, 1, 1)).set_index("person_id")
    assert got["sv_perpetrator_12m"].to_dict() == {"A": 1, "B": 0, "C": 0}
    assert got["sv_victim_12m"].to_dict() == {"A": 0, "B": 0, "C": 0}


def test_label_is_missing_when_the_window_runs_past_the_data() -> None:
    # data end 2025-04-01: the 2024-04-01 window [2024-04-01, 2025-04-01) fits exactly;
    # the 2024-05-01 window does not → missing, never 0
    incidents = [_inc("A", "2024-06-01", "victim")]
    got = _labels(incidents, [AS_OF, dt.date(2024, 5, 1)], dt.date(2025, 4, 1))
    first, second = got[got["snapshot"] == 0], got[got["snapshot"] == 1]
    assert first["sv_victim_12m"].notna().all()
    assert second["sv_victim_12m"].isna().all()
    assert second["sv_perpetrator_12m"].isna().all()


def test_label_window_end_is_twelve_calendar_months() -> None:
    assert label_window_end(dt.date(2024, 2, 29)) == dt.date(2025, 2, 28)
    assert label_window_end(dt.date(2024, 1, 1)) == dt.date(2025, 1, 1)
