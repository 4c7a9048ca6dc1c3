"""This month's lists as the service draws them at start, on a small hand-made snapshot.

Fast and in process (no models, no server): :class:`serving.startup.PanelLists` with
stand-in champions whose estimate is a column of the snapshot, so every expected rank
below can be worked out by hand. The served lists are checked against an independent
draw over real HTTP in ``test_service.py``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from models.panels import PanelCapacity
from serving.runtime import ListPlace, list_next_step, list_sentence
from serving.startup import CannotStartError, PanelLists, Snapshot

AS_OF = dt.date(2025, 1, 1)


class ColumnModel:
    """A stand-in ``RiskModel``: its estimate is one column of the rows (or 1 minus it)."""

    def __init__(self, column: str, reverse: bool = False) -> None:
        self.column = column
        self.reverse = reverse

    def predict(self, context: Any, frame: pd.DataFrame) -> pd.DataFrame:
        score = frame[self.column].to_numpy(dtype=float)
        return pd.DataFrame({"probability": 1 - score if self.reverse else score})


def _snapshot() -> Snapshot:
    # B1, B2 have a serious-violence record (victim or suspect): the known list;
    # everyone else has none (zero or missing counts): the early list
    frame = pd.DataFrame(
        {
            "person_id": ["B1", "B2", "B3", "B4", "B5", "S1"],
            "as_of": pd.Timestamp(AS_OF),
            "local_authority": ["Bristol"] * 5 + ["Somerset"],
            "incidents_all_sv_victim_count": [1.0, 0.0, 0.0, None, 0.0, 0.0],
            "incidents_all_sv_suspect_count": [0.0, 2.0, 0.0, 0.0, None, 0.0],
            "score": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
        }
    )
    return Snapshot(Path("snapshot.parquet"), frame, AS_OF)


def _champions() -> dict[str, Any]:
    return {
        "victim": SimpleNamespace(model=ColumnModel("score")),
        "perpetrator": SimpleNamespace(model=ColumnModel("score", reverse=True)),
    }


CAPACITY = PanelCapacity.parse(
    {"Bristol": {"known": 1, "early": 2}, "Somerset": {"known": 0, "early": 1}}
)


def _places(lists: PanelLists, outcome: str) -> dict[str, tuple[str, str, int | None, int]]:
    places = {}
    for person_id in ("B1", "B2", "B3", "B4", "B5", "S1"):
        place = lists.place(outcome, person_id)
        assert place is not None
        places[person_id] = (place.cohort, place.list_key, place.rank, place.capacity)
    return places


def test_each_cohort_has_its_own_list_ranked_per_outcome_and_named_within_capacity() -> None:
    lists = PanelLists.draw(_champions(), _snapshot(), CAPACITY)
    known, early = ("already_involved", "known"), ("not_yet_involved", "early")
    assert _places(lists, "victim") == {
        "B1": (*known, 1, 1),
        "B2": (*known, None, 1),  # second on a list of one: not named
        "B3": (*early, 1, 2),
        "B4": (*early, 2, 2),
        "B5": (*early, None, 2),
        "S1": (*early, 1, 1),  # Somerset's own list
    }
    # the other outcome's estimate is the reverse: the same cohorts, other ranks
    assert _places(lists, "perpetrator") == {
        "B1": (*known, None, 1),
        "B2": (*known, 1, 1),
        "B3": (*early, None, 2),
        "B4": (*early, 2, 2),
        "B5": (*early, 1, 2),
        "S1": (*early, 1, 1),
    }
    assert lists.cohort("B2") == "already_involved"
    assert lists.cohort("B4") == "not_yet_involved"  # a missing count is no record
    assert lists.place("victim", "nobody") is None
    assert lists.as_of == AS_OF


def test_a_local_authority_without_a_capacity_stops_the_start_in_one_line() -> None:
    with pytest.raises(CannotStartError, match="cannot draw this month's lists") as refused:
        PanelLists.draw(_champions(), _snapshot(), {"Bristol": 5})
    assert "Somerset" in str(refused.value)
    assert len(str(refused.value).splitlines()) == 1


def test_a_snapshot_without_the_involvement_counts_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "features.parquet"
    pd.DataFrame(
        {
            "person_id": ["B1"],
            "as_of": [pd.Timestamp(AS_OF)],
            "local_authority": ["Bristol"],
            "score": [0.5],
            "incidents_all_sv_victim_count": [0],
        }
    ).to_parquet(path)
    with pytest.raises(CannotStartError, match="incidents_all_sv_suspect_count"):
        Snapshot.load(path, ["score"])


@pytest.mark.parametrize(
    ("place", "sentence"),
    [
        (
            ListPlace("not_yet_involved", "early", "Bristol", 20, 4, AS_OF),
            "No serious-violence record yet — on Bristol's early-help list this month "
            "(number 4 of 20).",
        ),
        (
            ListPlace("already_involved", "known", "Bristol", 50, None, AS_OF),
            "Already known to services for serious violence — not among the 50 on "
            "Bristol's list this month.",
        ),
        (
            ListPlace("not_yet_involved", "early", "Somerset", 1, None, AS_OF),
            "No serious-violence record yet — not the one young person on Somerset's "
            "early-help list this month.",
        ),
        (
            ListPlace("already_involved", "known", "Somerset", 0, None, AS_OF),
            "Already known to services for serious violence — Somerset's list has no "
            "places this month.",
        ),
    ],
)
def test_the_list_place_in_plain_words(place: ListPlace, sentence: str) -> None:
    assert list_sentence(place) == sentence
    words = f"{list_sentence(place)} {list_next_step(place)}".lower()
    assert "offender" not in words
    if place.named:
        assert "support could help" in list_next_step(place)
    else:
        assert "does not go to the panel" in list_next_step(place)
