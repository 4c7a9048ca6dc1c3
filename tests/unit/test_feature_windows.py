"""Window edges and visibility, on hand-built rows with a comment on every date.

Rules under test (DESIGN.md "Features"): a window of w days covers
event_date ∈ [as_of − w, as_of); a row is visible only if recorded_date < as_of.
Every case runs through the Ibis/DuckDB path and the pandas reference.
"""

from __future__ import annotations

import pandas as pd
import pytest

from features._engine import (
    Count,
    DaysSinceLast,
    Distinct,
    Escalation,
    EverFlag,
    FirstAge,
    OpenAtAsOf,
)
from tests.unit.feature_helpers import events_frame, run_both, same

AS_OF = "2024-04-01"
SUSP = {"event_type": ("suspension",)}
C90 = Count("c90", 90, SUSP)
C365 = Count("c365", 365, SUSP)
CALL = Count("call", None, SUSP)


def _one(rows: list[dict[str, object]], specs: list, as_of: str = AS_OF) -> dict[str, object]:
    got, ref = run_both(events_frame(rows), [as_of], specs)
    assert same(got, ref), f"ibis:\n{got}\npandas:\n{ref}"
    return got.iloc[0].to_dict()


def ev(event: str, recorded: str, kind: str = "suspension", **extra: object) -> dict[str, object]:
    return {
        "person_id": "P1",
        "event_date": event,
        "recorded_date": recorded,
        "event_type": kind,
        **extra,
    }


def test_event_exactly_at_window_start_is_in() -> None:
    # 2024-01-02 is exactly as_of − 90 days; recorded the same day, long before as_of
    got = _one([ev("2024-01-02", "2024-01-02")], [C90])
    assert got["c90"] == 1


def test_event_the_day_before_window_start_is_out() -> None:
    # 2024-01-01 is as_of − 91 days: outside the 90-day window, inside the 365-day one
    got = _one([ev("2024-01-01", "2024-01-01")], [C90, C365])
    assert (got["c90"], got["c365"]) == (0, 1)


def test_event_on_as_of_is_out() -> None:
    # happened and recorded on as_of itself: the window excludes its end
    got = _one([ev("2024-04-01", "2024-04-01")], [C90, CALL])
    assert (got["c90"], got["call"]) == (0, 0)


def test_event_the_day_before_as_of_is_in() -> None:
    # happened and recorded on 2024-03-31, the last day of the window
    got = _one([ev("2024-03-31", "2024-03-31")], [C90, CALL])
    assert (got["c90"], got["call"]) == (1, 1)


def test_recorded_late_is_invisible() -> None:
    # happened 2024-03-01 (inside the window) but recorded 2024-04-01 = as_of: not yet known
    got = _one([ev("2024-03-01", "2024-04-01")], [C90, CALL])
    assert (got["c90"], got["call"]) == (0, 0)


def test_recorded_the_day_before_as_of_is_visible() -> None:
    # happened 2024-03-01, recorded 2024-03-31 (one day before as_of)
    got = _one([ev("2024-03-01", "2024-03-31")], [C90])
    assert got["c90"] == 1


def test_window_uses_event_date_not_recorded_date() -> None:
    # happened 2023-06-01 (outside 90 days) but recorded 2024-03-15 (inside): counts in 365d only
    got = _one([ev("2023-06-01", "2024-03-15")], [C90, C365])
    assert (got["c90"], got["c365"]) == (0, 1)


def test_filters_and_sums() -> None:
    rows = [
        ev("2024-02-01", "2024-02-02", days=3),  # suspension, 3 days
        ev("2024-03-01", "2024-03-02", days=2),  # suspension, 2 days
        ev("2024-03-05", "2024-03-06", kind="permanent_exclusion", days=None),  # not a suspension
    ]
    specs = [
        C90,
        Count("days", 90, SUSP, sum_of="days"),
        Count("pex", None, {"event_type": ("permanent_exclusion",)}),
    ]
    got = _one(rows, specs)
    assert (got["c90"], got["days"], got["pex"]) == (2, 5, 1)


def test_days_since_last_and_first_age() -> None:
    rows = [
        ev("2020-02-10", "2020-02-11"),  # first: born 2008-01 → aged 12
        ev("2024-03-22", "2024-03-25"),  # latest visible: 10 days before as_of
        ev("2024-03-30", "2024-04-02"),  # recorded after as_of: ignored
    ]
    got = _one(rows, [DaysSinceLast("since"), FirstAge("first_age")])
    assert (got["since"], got["first_age"]) == (10, 12)


def test_days_since_last_is_missing_without_events() -> None:
    # the only event is recorded after as_of
    got = _one([ev("2024-03-30", "2024-04-02")], [DaysSinceLast("since"), FirstAge("first")])
    assert pd.isna(got["since"])
    assert pd.isna(got["first"])


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # started 2023-01-10, never ended → open
        ([("looked_after_start", "2023-01-10", "2023-01-12")], 1),
        # started then ended before as_of → closed
        (
            [
                ("looked_after_start", "2023-01-10", "2023-01-12"),
                ("looked_after_end", "2024-01-05", "2024-01-06"),
            ],
            0,
        ),
        # ended 2024-03-30 but recorded 2024-04-03, after as_of → still open as far as we knew
        (
            [
                ("looked_after_start", "2023-01-10", "2023-01-12"),
                ("looked_after_end", "2024-03-30", "2024-04-03"),
            ],
            1,
        ),
        # ended, then a new start → open again
        (
            [
                ("looked_after_start", "2021-01-10", "2021-01-12"),
                ("looked_after_end", "2022-01-05", "2022-01-06"),
                ("looked_after_start", "2023-05-01", "2023-05-02"),
            ],
            1,
        ),
    ],
)
def test_open_at_as_of(rows: list[tuple[str, str, str]], expected: int) -> None:
    events = [
        {"person_id": "P1", "event_date": e, "recorded_date": r, "contact_type": t}
        for t, e, r in rows
    ]
    spec = OpenAtAsOf(
        "open", {"contact_type": ("looked_after_start",)}, {"contact_type": ("looked_after_end",)}
    )
    ever = EverFlag("ever", {"contact_type": ("looked_after_start",)})
    got = _one(events, [spec, ever])
    assert got["open"] == expected
    assert got["ever"] == 1


def test_distinct_agencies_and_escalation() -> None:
    rows = [
        # 2022-06-01: two years before, outside 365d, inside 730d
        {
            "person_id": "P1",
            "event_date": "2022-06-01",
            "recorded_date": "2022-06-02",
            "agency": "police",
            "event_type": "suspension",
        },
        # 2024-01-01 and 2024-02-01: inside 365d, two agencies
        {
            "person_id": "P1",
            "event_date": "2024-01-01",
            "recorded_date": "2024-01-02",
            "agency": "police",
            "event_type": "suspension",
        },
        {
            "person_id": "P1",
            "event_date": "2024-02-01",
            "recorded_date": "2024-02-02",
            "agency": "health",
            "event_type": "suspension",
        },
    ]
    c730 = Count("c730", 730, SUSP)
    specs = [Distinct("agencies", 365, "agency"), C365, c730, Escalation("esc", "c365", "c730")]
    got = _one(rows, specs)
    # two in the last year, one in the year before → escalation +1
    assert (got["agencies"], got["c365"], got["c730"], got["esc"]) == (2, 2, 3, 1)


def test_many_snapshots_each_see_only_their_past() -> None:
    rows = [
        ev("2023-12-15", "2023-12-20"),  # visible from the 2024-01-01 snapshot on
        ev("2024-02-10", "2024-03-05"),  # visible from 2024-04-01 only (recorded in March)
    ]
    as_of = ["2023-12-01", "2024-01-01", "2024-03-01", "2024-04-01", "2025-01-01"]
    got, ref = run_both(events_frame(rows), as_of, [C90, CALL, DaysSinceLast("since")])
    assert same(got, ref)
    assert got["call"].tolist() == [0, 1, 1, 2, 2]
    # 90 days before 2024-04-01 is 2024-01-02: the December event has left the window;
    # 90 days before 2025-01-01 is 2024-10-03: both have
    assert got["c90"].tolist() == [0, 1, 1, 1, 0]
    assert got["since"].tolist()[1:] == [17, 77, 51, 326]


def test_people_without_events_get_zero_counts() -> None:
    rows = [ev("2024-03-01", "2024-03-02")]
    got, ref = run_both(
        events_frame(rows), [AS_OF], [C90, EverFlag("ever", SUSP)], people=("P1", "P2")
    )
    assert same(got, ref)
    assert got.set_index("person_id")["c90"].to_dict() == {"P1": 1, "P2": 0}
    assert got.set_index("person_id")["ever"].to_dict() == {"P1": 1, "P2": 0}
