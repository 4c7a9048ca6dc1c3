"""Property tests of the time rules (hypothesis), through the Ibis/DuckDB path.

- an event recorded on or after as_of never changes any feature;
- shuffling rows changes nothing;
- removing a person removes only their rows.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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

AS_OF = ["2023-07-01", "2024-01-01", "2024-02-01"]
PEOPLE = ("P1", "P2", "P3")
TYPES = ("start", "end", "other")
SPECS = [
    Count("c90", 90, {"kind": ("other",)}),
    Count("c365", 365),
    Count("c730", 730, {"kind": ("start", "other")}),
    Count("call", None, {"kind": ("other",)}),
    Count("weight", 365, sum_of="weight"),
    Distinct("kinds", 365, "kind"),
    EverFlag("ever_start", {"kind": ("start",)}),
    OpenAtAsOf("open", {"kind": ("start",)}, {"kind": ("end",)}),
    DaysSinceLast("since"),
    FirstAge("first_age", {"kind": ("other",)}),
    Escalation("esc", "c365", "c730"),
]
FIRST_DAY = dt.date(2019, 1, 1)
LAST_DAY = dt.date(2024, 12, 31)

event = st.builds(
    lambda person, day, lag, kind, weight: {
        "person_id": person,
        "event_date": FIRST_DAY + dt.timedelta(days=day),
        "recorded_date": FIRST_DAY + dt.timedelta(days=day + lag),
        "kind": kind,
        "weight": weight,
    },
    st.sampled_from(PEOPLE),
    st.integers(0, (LAST_DAY - FIRST_DAY).days),
    st.integers(0, 60),
    st.sampled_from(TYPES),
    st.integers(0, 5),
)
events_strategy = st.lists(event, min_size=1, max_size=25)
fast = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


COLUMNS = ("person_id", "event_date", "recorded_date", "kind", "weight")


def _features(rows: list[dict[str, object]], people: tuple[str, ...] = PEOPLE) -> pd.DataFrame:
    frame = events_frame(rows, COLUMNS).astype(
        {"person_id": "str", "kind": "str", "weight": "int64"}
    )
    got, ref = run_both(frame, AS_OF, SPECS, people=people)
    assert same(got, ref), f"ibis and pandas disagree\n{got}\n{ref}"
    return got


@fast
@given(events_strategy, st.data())
def test_events_recorded_on_or_after_as_of_change_nothing(rows, data) -> None:
    before = _features(rows)
    # for one snapshot, add events recorded on or after it (their event dates may be earlier)
    k = data.draw(st.integers(0, len(AS_OF) - 1))
    as_of = dt.date.fromisoformat(AS_OF[k])
    late = data.draw(st.lists(event, min_size=1, max_size=5))
    for row in late:
        row["recorded_date"] = as_of + dt.timedelta(days=data.draw(st.integers(0, 30)))
        row["event_date"] = min(row["event_date"], row["recorded_date"])
    after = _features(rows + late)
    snapshot = before["snapshot"] == k
    assert same(before[snapshot].reset_index(drop=True), after[snapshot].reset_index(drop=True))


@fast
@given(events_strategy, st.randoms(use_true_random=False))
def test_shuffling_rows_changes_nothing(rows, rnd) -> None:
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    assert same(_features(rows), _features(shuffled))


@fast
@given(events_strategy, st.sampled_from(PEOPLE))
def test_removing_a_person_removes_only_their_rows(rows, gone) -> None:
    everyone = _features(rows)
    others = tuple(p for p in PEOPLE if p != gone)
    without = _features([r for r in rows if r["person_id"] != gone], people=others)
    expected = everyone[everyone["person_id"] != gone].reset_index(drop=True)
    assert same(expected, without.reset_index(drop=True))
