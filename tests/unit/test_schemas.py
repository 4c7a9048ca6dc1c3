"""Raw-table contracts: bad input is refused with one message naming table, column, rule, rows."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from features.schemas import (
    MSG_MISSING_COLUMN,
    PANEL_TABLES,
    ContractError,
    validate_raw,
    validate_table,
)
from synthetic.generate import SyntheticDataset


@pytest.fixture(scope="module")
def raw(small_dataset: SyntheticDataset) -> dict[str, pd.DataFrame]:
    return {k: v.to_pandas(date_as_object=False) for k, v in small_dataset.raw.items()}


def test_generated_data_passes_every_contract(raw: dict[str, pd.DataFrame]) -> None:
    validated = validate_raw(raw)
    validated |= {name: validate_table(name, raw[name]) for name in PANEL_TABLES}
    assert {k: len(v) for k, v in validated.items()} == {k: len(v) for k, v in raw.items()}
    assert str(validated["school_events"]["event_date"].dtype) == "datetime64[ns]"


def _break(table: str, how: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable:
    def apply(raw: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        broken = dict(raw)
        broken[table] = how(raw[table].copy())
        return broken

    return apply


def _set(column: str, value: object, rows: int = 2) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def how(df: pd.DataFrame) -> pd.DataFrame:
        if isinstance(value, str) and column.endswith("date"):
            df[column] = df[column].astype(str)
        elif isinstance(value, str):
            df[column] = df[column].astype(object)
        df.loc[df.index[:rows], column] = value
        return df

    return how


CASES = [
    (
        "missing column",
        _break("school_events", lambda d: d.drop(columns="reason")),
        ("school_events", "'reason' is missing"),
    ),
    (
        "unknown code",
        _break("people", _set("sex", "M")),
        ("people", "'sex'", "isin", "row 0: sex='M'"),
    ),
    (
        "unknown agency",
        _break("agency_contacts", _set("agency", "fire_service", 1)),
        ("agency_contacts", "'agency'", "fire_service"),
    ),
    (
        "unparsable date",
        _break("incidents", _set("event_date", "2023-02-30", 1)),
        ("incidents", "'event_date'", "a valid date", "2023-02-30"),
    ),
    (
        "impossible date",
        _break("school_events", _set("event_date", pd.Timestamp("1066-10-14"), 1)),
        ("school_events", "'event_date'", "1980-01-01"),
    ),
    (
        "recorded before event",
        _break(
            "agency_contacts",
            lambda d: d.assign(
                recorded_date=d["recorded_date"].where(
                    d.index != 3, d["event_date"] - pd.Timedelta(days=5)
                )
            ),
        ),
        ("agency_contacts", "'recorded_date'", "recorded_date on or after event_date", "row 3"),
    ),
    (
        "duplicate key",
        _break("incidents", lambda d: pd.concat([d, d.iloc[[5]]])),
        ("incidents", "incident_id+person_id+role", "unique key"),
    ),
    (
        "duplicate person",
        _break("people", lambda d: pd.concat([d, d.iloc[[0]]])),
        ("people", "person_id", "unique key"),
    ),
    (
        "unknown person",
        _break("school_events", _set("person_id", "YP9999999", 1)),
        ("school_events", "'person_id'", "present in people", "YP9999999"),
    ),
    (
        "birth month not first day",
        _break(
            "people",
            lambda d: d.assign(
                birth_month=d["birth_month"].where(d.index != 0, pd.Timestamp("2008-03-15"))
            ),
        ),
        ("people", "'birth_month'", "first day of a month"),
    ),
    (
        "negative days",
        _break("school_events", lambda d: d.assign(days=d["days"].where(d.index != 0, -3))),
        ("school_events", "'days'", "greater_than_or_equal_to(0)"),
    ),
]


@pytest.mark.parametrize(("case", "breaker", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_one_clear_message(
    raw: dict[str, pd.DataFrame], case: str, breaker: Callable, expected: tuple[str, ...]
) -> None:
    with pytest.raises(ContractError) as caught:
        validate_raw(breaker(raw))
    message = str(caught.value)
    assert "\n" not in message, case
    for part in expected:
        assert part in message, f"{case}: {part!r} not in {message!r}"


def test_missing_column_message_lists_what_is_required() -> None:
    frame = pd.DataFrame({"person_id": ["a"]})
    with pytest.raises(ContractError, match="birth_month"):
        validate_table("people", frame)
    assert "{required}" in MSG_MISSING_COLUMN
