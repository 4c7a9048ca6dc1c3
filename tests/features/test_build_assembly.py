"""How the feature table is assembled: builders' rows put in spine order, integer keys.

- a builder's rows come back in any order and are put in spine order, missing values kept;
- a builder that gives a spine row twice, or misses one, is refused;
- a value that does not fit its column is refused, never wrapped;
- the spine's integer key points at the person's row of ``people``;
- a distinct count declared with its codes equals the plain distinct count.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from features._engine import Distinct
from features.build import FeatureBuildError, _in_spine_order
from features.spine import build_spine
from tests.unit.feature_helpers import events_frame, run_both, same

INT64 = np.dtype(np.int64)
INT8 = np.dtype(np.int8)


def _reader(rows: list[int], values: list[int | None], batch: int = 2) -> pa.RecordBatchReader:
    table = pa.table(
        {
            "row": pa.array(rows, pa.int64()),
            "person_id": pa.array(rows, pa.int64()),
            "snapshot": pa.array([0] * len(rows), pa.int32()),
            "x": pa.array(values, pa.int64()),
        }
    )
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=batch))


def test_rows_are_put_in_spine_order_with_missing_values_kept() -> None:
    got = _in_spine_order(_reader([3, 0, 4, 1, 2], [30, 0, None, 10, 20]), 5, "x", {"x": INT64})
    assert got["x"].to_pylist() == [0, 10, 20, 30, None]
    assert got["x"].type == pa.int64()


@pytest.mark.parametrize(
    ("rows", "values"),
    [
        ([0, 1, 1], [0, 1, 1]),  # row 1 twice, row 2 missing
        ([0, 1], [0, 1]),  # row 2 missing
        ([0, 1, 2, 2], [0, 1, 2, 2]),  # one row too many
        ([0, 1, 3], [0, 1, 3]),  # a row the spine does not have
    ],
)
def test_a_builder_that_does_not_give_each_spine_row_once_is_refused(
    rows: list[int], values: list[int]
) -> None:
    with pytest.raises(FeatureBuildError, match="exactly one row per spine row"):
        _in_spine_order(_reader(rows, values), 3, "school", {"x": INT64})


def test_a_value_that_does_not_fit_its_column_is_refused() -> None:
    with pytest.raises(pa.ArrowInvalid):
        _in_spine_order(_reader([0, 1], [1, 300]), 2, "labels", {"x": INT8})


def test_the_spine_key_is_the_persons_row_in_people() -> None:
    people = pd.DataFrame(
        {
            "person_id": ["YP3", "YP1", "YP2", "YP0"],
            "birth_month": pd.to_datetime(["2008-01-01", "2009-05-01", "1999-01-01", "2012-03-01"]),
            "sex": ["female", "male", "female", "male"],
            "ethnicity": ["White"] * 4,
            "ethnicity_detail": ["WBRI"] * 4,
            "local_authority": ["Bristol"] * 4,
            "imd_decile": [1, 2, 3, 4],
            "sen_status": ["none"] * 4,
            "fsm": [False] * 4,
            "moved_in": pd.to_datetime([None, None, None, None]),
            "moved_out": pd.to_datetime([None, None, None, None]),
        }
    )
    spine = build_spine(people, [dt.date(2023, 1, 1), dt.date(2024, 1, 1)])
    rows = spine.rows
    # sorted by snapshot then person, as the builders' row numbers assume; YP2 turns 25
    # on 2024-01-01 and leaves the spine
    assert rows["person_id"].tolist() == ["YP0", "YP1", "YP2", "YP3", "YP0", "YP1", "YP3"]
    assert rows["person_key"].tolist() == [3, 1, 2, 0, 3, 1, 0]
    assert (people["person_id"].to_numpy()[rows["person_key"]] == rows["person_id"]).all()


def test_a_distinct_count_declared_with_its_codes_equals_the_plain_distinct_count() -> None:
    # as_of 2024-01-01, window 365 days: counted events are dated 2023-01-01 .. 2023-12-31
    events = events_frame(
        [
            # two agencies in the window for P1 (social care twice)
            {
                "person_id": "P1",
                "event_date": "2023-03-01",
                "recorded_date": "2023-03-02",
                "agency": "social_care",
            },
            {
                "person_id": "P1",
                "event_date": "2023-06-01",
                "recorded_date": "2023-06-01",
                "agency": "social_care",
            },
            {
                "person_id": "P1",
                "event_date": "2023-09-01",
                "recorded_date": "2023-09-05",
                "agency": "police",
            },
            # before the window: not counted
            {
                "person_id": "P1",
                "event_date": "2022-12-31",
                "recorded_date": "2022-12-31",
                "agency": "health",
            },
            # recorded on as_of: not yet known, not counted
            {
                "person_id": "P2",
                "event_date": "2023-12-01",
                "recorded_date": "2024-01-01",
                "agency": "camhs",
            },
            {
                "person_id": "P2",
                "event_date": "2023-11-01",
                "recorded_date": "2023-11-01",
                "agency": "housing",
            },
        ]
    )
    codes = ("social_care", "police", "health", "camhs", "youth_justice", "housing")
    declared = Distinct("d", 365, "agency", values=codes)
    plain = Distinct("d", 365, "agency")
    as_of = ["2023-07-01", "2024-01-01"]
    got, ref = run_both(events, as_of, [declared], people=("P1", "P2"))
    plain_got, _ = run_both(events, as_of, [plain], people=("P1", "P2"))
    assert same(got, ref)
    assert same(got, plain_got)
    # P1 on 2023-07-01: social care and health (2022-12-31 is inside that window)
    assert got["d"].tolist() == [2, 0, 2, 1]
