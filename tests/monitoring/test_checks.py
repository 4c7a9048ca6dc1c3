"""The checks on small frames built here: what is counted, what is judged, what is said."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from monitoring.checks import (
    DriftReference,
    RecordDates,
    data_rows,
    drift_rows,
    outcomes_in_window,
    precision_rows,
)
from monitoring.history import ALL_AREAS
from monitoring.plan import load_plan
from monitoring.run import _interpret, status_summary

PLAN, _ = load_plan()
AS_OF = dt.date(2026, 8, 1)


def test_an_outcome_recorded_after_the_month_is_not_known_yet() -> None:
    incidents = pd.DataFrame(
        {
            "person_id": ["a", "b", "c", "d"],
            "event_date": pd.to_datetime(["2026-03-01", "2026-07-20", "2026-07-20", "2025-07-01"]),
            "recorded_date": pd.to_datetime(
                ["2026-03-02", "2026-07-25", "2026-08-03", "2025-07-02"]
            ),
            "role": ["victim", "victim", "victim", "victim"],
            "serious_violence": [True, True, True, True],
        }
    )
    # c's harm was recorded after the month; d's happened before the window
    assert outcomes_in_window(incidents, "victim", dt.date(2025, 8, 1), AS_OF) == {"a", "b"}
    assert outcomes_in_window(incidents, "suspect", dt.date(2025, 8, 1), AS_OF) == set()


def _records(monthly: dict[str, int]) -> RecordDates:
    """Police records of one area: ``monthly`` counts on the 10th of each month."""
    dates, people = [], []
    for month, n in monthly.items():
        dates += [f"{month}-10"] * n
        people += ["p1"] * n
    empty = pd.DataFrame({"person_id": pd.Series([], dtype=str), "recorded_date": []})
    tables = {
        "incidents": pd.DataFrame({"person_id": people, "recorded_date": pd.to_datetime(dates)}),
        "school_events": empty,
        "agency_contacts": empty,
    }
    return RecordDates.of(tables, pd.Series({"p1": "Bristol"}))


def test_a_stopped_feed_is_red_in_its_first_month_and_a_usual_month_green() -> None:
    usual = {"2024-07": 80, "2025-07": 90}
    stopped = data_rows(_records({**usual, "2026-06": 85}), AS_OF, PLAN, ["Bristol"])
    police = [r for r in stopped if r["subject"] == "police records"]
    volume = {r["local_authority"]: r for r in police if r["check"] == "data_volume"}
    assert volume["Bristol"]["status"] == "red"
    assert volume["Bristol"]["expected"] == 85
    assert volume[ALL_AREAS]["status"] == "red"
    fresh = next(
        r for r in police if r["check"] == "data_freshness" and r["local_authority"] == "Bristol"
    )
    assert fresh["value"] == (AS_OF - dt.date(2026, 6, 10)).days
    assert fresh["status"] == "red"
    same = data_rows(_records({**usual, "2026-07": 88}), AS_OF, PLAN, ["Bristol"])
    volume = [r for r in same if r["check"] == "data_volume" and r["subject"] == "police records"]
    assert {r["status"] for r in volume} == {"green"}
    # school records never arrive here: too few to judge, not green
    school = [r for r in same if r["subject"] == "school records"]
    assert {r["status"] for r in school} == {"too few"}


def test_drift_is_judged_against_chance_and_needs_a_material_shift() -> None:
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"school_365d_suspension_count": rng.poisson(0.3, 5000)})
    same = pd.DataFrame({"school_365d_suspension_count": rng.poisson(0.3, 5000)})
    halved = pd.DataFrame({"school_365d_suspension_count": rng.poisson(0.08, 5000)})
    drift = DriftReference(reference, resamples=200, quantile=0.99, seed=3)
    features = ["school_365d_suspension_count"]

    def status(frame: pd.DataFrame) -> dict[str, object]:
        (row,) = drift_rows(
            drift.table(frame, features),
            (5000, 5000),
            as_of=AS_OF,
            la="Bristol",
            outcome="victim",
            version="1",
            plan=PLAN,
        )
        return row

    assert status(same)["status"] == "green"
    moved = status(halved)
    assert moved["status"] == "red"
    assert "suspensions in the last 12 months" in str(moved["words"])


def _named(hits: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "list": ["known"] * 40 + ["early"] * 5,
            "within_capacity": True,
            "band": ["very high"] * 40 + ["high"] * 5,
            "outcome": [1] * hits + [0] * (40 - hits) + [0] * 5,
        }
    )


@pytest.mark.parametrize(("hits", "status"), [(14, "green"), (2, "amber"), (0, "red")])
def test_a_list_that_found_less_than_its_bands_promised_is_flagged(hits: int, status: str) -> None:
    rows = precision_rows(
        _named(hits),
        as_of=AS_OF,
        la="Bristol",
        outcome="victim",
        version="1",
        band_rates={"very high": 0.35, "high": 0.15},
        plan=PLAN,
    )
    known = next(r for r in rows if r["subject"] == "known")
    early = next(r for r in rows if r["subject"] == "early")
    # about 14 of the 40 were promised; the whole 99% interval must lie below the limit
    assert known["status"] == status
    assert known["value"] == pytest.approx((hits / 40) / 0.35)
    assert early["status"] == "too few"


def test_fewer_in_the_higher_bands_while_records_fall_is_read_as_recording() -> None:
    rows = [
        {
            "check": "data_volume",
            "local_authority": "Bristol",
            "status": "amber",
            "subject": "school records",
            "value": 0.5,
            "words": "x",
            "outcome": "any",
        },
        {
            "check": "band_shares",
            "local_authority": "Bristol",
            "status": "green",
            "subject": "raised or above",
            "value": 0.9,
            "words": "9% are raised.",
            "outcome": "victim",
        },
        {
            "check": "band_shares",
            "local_authority": "Somerset",
            "status": "green",
            "subject": "raised or above",
            "value": 0.9,
            "words": "9% are raised.",
            "outcome": "victim",
        },
    ]
    read = _interpret(rows)
    assert "not a fall in risk" in str(read[1]["words"])
    assert "fewer school records arriving" in str(read[1]["words"])
    assert read[2]["words"] == "9% are raised."  # Somerset's records did not fall
    status, words = status_summary(read)
    assert status == "amber"
    assert "records arriving (Bristol, school records): amber" in words
