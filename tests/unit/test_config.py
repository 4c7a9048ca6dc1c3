"""Generator settings: validation and the single switch that turns every bias off."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from synthetic.config import (
    DEFAULT_PEOPLE,
    LOCAL_AUTHORITY_POPULATION,
    BiasSettings,
    GeneratorSettings,
    parse_month,
)


def test_default_population_is_avon_and_somerset() -> None:
    assert sum(LOCAL_AUTHORITY_POPULATION.values()) == DEFAULT_PEOPLE
    assert 300_000 <= DEFAULT_PEOPLE <= 320_000
    assert GeneratorSettings().people == DEFAULT_PEOPLE


def test_none_switches_off_every_bias() -> None:
    none = BiasSettings.none()
    assert none.is_unbiased
    assert not BiasSettings().is_unbiased
    for name, value in none.model_dump().items():
        # every multiplier is neutral and every recording rate complete
        assert value == 1.0 or (name == "usual_suspects_per_contact" and value == 0.0), name


def test_every_default_bias_differs_from_the_unbiased_world() -> None:
    biased, none = BiasSettings().model_dump(), BiasSettings.none().model_dump()
    assert [k for k in biased if biased[k] == none[k]] == []


def test_bias_settings_are_documented() -> None:
    for name, field in BiasSettings.model_fields.items():
        assert field.description, name
        assert field.description[:2] in {"B1", "B2", "B3", "B4", "B5"}, name


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"people": 0}, "greater than 0"),
        ({"people": -5}, "greater than 0"),
        ({"start": dt.date(2020, 1, 1), "end": dt.date(2019, 1, 1)}, "before start"),
        ({"start": dt.date(2020, 1, 1), "end": dt.date(2020, 6, 1)}, "at least 24 months"),
        ({"start": dt.date(2020, 1, 2)}, "first days of months"),
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        GeneratorSettings(**kwargs)  # type: ignore[arg-type]


def test_months_are_counted_inclusively() -> None:
    s = GeneratorSettings(start=dt.date(2015, 1, 1), end=dt.date(2025, 12, 1))
    assert s.n_months == 132


@given(st.integers(1900, 2100), st.integers(1, 12))
def test_parse_month_round_trips(year: int, month: int) -> None:
    assert parse_month(f"{year:04d}-{month:02d}") == dt.date(year, month, 1)


@pytest.mark.parametrize("text", ["2015", "2015-13", "15-01", "January 2015", ""])
def test_parse_month_rejects_other_forms(text: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_month(text)
