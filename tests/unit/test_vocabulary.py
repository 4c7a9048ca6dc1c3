"""The generator speaks the contract: every code it emits is in features.vocabulary.

The synthetic generator imports its code lists from :mod:`features.vocabulary`
instead of defining them, so the raw tables it writes must pass
:func:`features.schemas.validate_raw` and use exactly the contract's codes — no
extra code (the contract would refuse it) and no missing one (a code the
generator can never produce is a code no test ever exercises).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import synthetic.population
import synthetic.tables
from features.schemas import PANEL_TABLES, ContractError, validate_raw, validate_table
from features.vocabulary import (
    AGENCIES,
    CONTACT_TYPES,
    ETHNICITIES,
    ETHNICITY_CODES,
    ETHNICITY_DETAIL_CODES,
    LOCAL_AUTHORITIES,
    OFFENCE_GROUPS,
    PANEL_LIST_NAMES,
    PROGRAMMES,
    ROLES,
    SCHOOL_EVENT_TYPES,
    SCHOOL_REASONS,
    SEN_STATUSES,
    SEXES,
)
from synthetic.config import (
    ETHNICITY_DETAIL,
    ETHNICITY_MIX,
    IMD_MIX,
    LOCAL_AUTHORITY_POPULATION,
    BiasSettings,
    GeneratorSettings,
)
from synthetic.generate import generate
from synthetic.population import IMD_TILT
from synthetic.tables import RECORDING_LAG_DAYS

#: every categorical column of every raw table, with the contract's list for it
CATEGORICAL: dict[tuple[str, str], tuple[str, ...]] = {
    ("people", "sex"): SEXES,
    ("people", "ethnicity"): ETHNICITIES,
    ("people", "ethnicity_detail"): ETHNICITY_CODES,
    ("people", "local_authority"): LOCAL_AUTHORITIES,
    ("people", "sen_status"): SEN_STATUSES,
    ("school_events", "event_type"): SCHOOL_EVENT_TYPES,
    ("school_events", "reason"): SCHOOL_REASONS,
    ("agency_contacts", "agency"): AGENCIES,
    ("agency_contacts", "contact_type"): CONTACT_TYPES,
    ("incidents", "role"): ROLES,
    ("incidents", "offence_group"): OFFENCE_GROUPS,
    ("panel_lists", "local_authority"): LOCAL_AUTHORITIES,
    ("panel_lists", "list"): PANEL_LIST_NAMES,
    ("interventions", "programme"): tuple(PROGRAMMES),
    ("interventions", "list"): PANEL_LIST_NAMES,
}
#: string columns that are identifiers, not codes
IDENTIFIERS = {"person_id", "incident_id"}
#: codes too rare to be sure of at this size (about one homicide per 3,000 people over
#: the period): asserting them would test the seed, not the generator
RARE: dict[tuple[str, str], set[str]] = {
    ("incidents", "offence_group"): {"homicide"},
    # the historic panels' list; this tool's own lists are not in a generated world
    ("panel_lists", "list"): set(PANEL_LIST_NAMES) - {"hand_rules"},
    ("interventions", "list"): set(PANEL_LIST_NAMES) - {"hand_rules"},
}

PEOPLE = 3_000
SEED = 3


def _emitted(raw: dict[str, pa.Table]) -> dict[tuple[str, str], set[str | None]]:
    """The distinct values of every categorical column (``None`` for a null)."""
    return {
        (table, column): set(pc.unique(raw[table].column(column)).to_pylist())
        for table, column in CATEGORICAL
    }


def _outside_contract(raw: dict[str, pa.Table]) -> dict[tuple[str, str], set[str | None]]:
    """Emitted codes that the contract does not list, by column (empty when all are known)."""
    extra = {key: got - set(CATEGORICAL[key]) for key, got in _emitted(raw).items()}
    return {key: codes for key, codes in extra.items() if codes}


def _frames(raw: dict[str, pa.Table]) -> dict[str, pd.DataFrame]:
    return {name: table.to_pandas(date_as_object=False) for name, table in raw.items()}


@pytest.fixture(scope="module", params=["biased", "unbiased"])
def raw(request: pytest.FixtureRequest) -> dict[str, pa.Table]:
    """Raw tables of a small population, with default recording and in the unbiased world."""
    bias = BiasSettings() if request.param == "biased" else BiasSettings.none()
    return generate(GeneratorSettings(people=PEOPLE, seed=SEED, bias=bias)).raw


# ------------------------------------------------------------------ generated data


def test_every_string_column_is_an_identifier_or_a_listed_code(
    raw: dict[str, pa.Table],
) -> None:
    for name, table in raw.items():
        strings = {f.name for f in table.schema if pa.types.is_string(f.type)}
        listed = {column for (t, column) in CATEGORICAL if t == name}
        assert strings - IDENTIFIERS == listed, name


def test_every_emitted_code_is_in_the_contract(raw: dict[str, pa.Table]) -> None:
    assert _outside_contract(raw) == {}


def test_the_generator_uses_every_code_of_the_contract(raw: dict[str, pa.Table]) -> None:
    emitted = _emitted(raw)
    missing = {
        key: unused
        for key, codes in CATEGORICAL.items()
        if (unused := set(codes) - emitted[key] - RARE.get(key, set()))
    }
    assert missing == {}


def test_detailed_ethnicity_lies_within_the_five_group(raw: dict[str, pa.Table]) -> None:
    pairs = raw["people"].group_by(["ethnicity", "ethnicity_detail"]).aggregate([]).to_pylist()
    for pair in pairs:
        assert pair["ethnicity_detail"] in ETHNICITY_DETAIL_CODES[pair["ethnicity"]], pair


def test_the_contract_accepts_the_generated_tables(raw: dict[str, pa.Table]) -> None:
    frames = _frames(raw)
    validated = validate_raw(frames)
    validated |= {name: validate_table(name, frames[name]) for name in PANEL_TABLES}
    assert {k: len(v) for k, v in validated.items()} == {k: t.num_rows for k, t in raw.items()}


# ------------------------------------------------------------------ a code the contract lacks


def _extra_ethnicity_detail(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, str]:
    """Make the generator emit ``WXXX``, a code deliberately absent from the contract."""
    detail = {**ETHNICITY_DETAIL, "White": (*ETHNICITY_DETAIL["White"], ("WXXX", 0.5))}
    monkeypatch.setattr(synthetic.population, "ETHNICITY_DETAIL", detail)
    return "people", "ethnicity_detail", "WXXX"


def _renamed_school_reason(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, str]:
    reasons = tuple("unspecified" if r == "other" else r for r in SCHOOL_REASONS)
    monkeypatch.setattr(synthetic.tables, "SCHOOL_REASONS", reasons)
    return "school_events", "reason", "unspecified"


@pytest.mark.parametrize("mutate", [_extra_ethnicity_detail, _renamed_school_reason])
def test_a_code_the_contract_lacks_is_caught(
    monkeypatch: pytest.MonkeyPatch,
    mutate: Callable[[pytest.MonkeyPatch], tuple[str, str, str]],
) -> None:
    table, column, code = mutate(monkeypatch)
    small = GeneratorSettings(people=1_000, seed=SEED, start="2020-01-01", end="2021-12-01")
    raw = generate(small).raw
    assert _outside_contract(raw) == {(table, column): {code}}
    with pytest.raises(ContractError, match=rf"^{table}: column '{column}'"):
        validate_raw(_frames(raw))


# ------------------------------------------------------------------ the generator's own tables


def test_area_tables_cover_exactly_the_local_authorities() -> None:
    for table in (LOCAL_AUTHORITY_POPULATION, ETHNICITY_MIX, IMD_MIX):
        assert set(table) == set(LOCAL_AUTHORITIES)
    assert all(len(mix) == len(ETHNICITIES) for mix in ETHNICITY_MIX.values())
    assert all(len(mix) == 10 for mix in IMD_MIX.values())


def test_ethnicity_tables_cover_exactly_the_contract_groups_and_codes() -> None:
    assert set(IMD_TILT) == set(ETHNICITIES)
    assert tuple(ETHNICITY_DETAIL) == ETHNICITIES
    for group, pairs in ETHNICITY_DETAIL.items():
        assert tuple(code for code, _ in pairs) == ETHNICITY_DETAIL_CODES[group]


def test_every_agency_has_a_recording_lag() -> None:
    assert set(AGENCIES) <= set(RECORDING_LAG_DAYS)


@pytest.mark.parametrize("codes", list(CATEGORICAL.values()))
def test_code_lists_have_no_duplicates(codes: tuple[str, ...]) -> None:
    assert len(set(codes)) == len(codes)
