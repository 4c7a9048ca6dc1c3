"""What the model cannot see: a statement generated from the data contract."""

from __future__ import annotations

import datetime as dt

from features.coverage import (
    AGENCY_WORDS,
    CONTACT_WORDS,
    NO_DATE,
    NOT_HELD,
    OFFENCE_WORDS,
    REASON_WORDS,
    ROLE_WORDS,
    SCHOOL_WORDS,
    coverage,
)
from features.vocabulary import (
    AGENCIES,
    CONTACT_TYPES,
    OFFENCE_GROUPS,
    ROLES,
    SCHOOL_EVENT_TYPES,
    SCHOOL_REASONS,
    SOURCE_TITLES,
)
from models.reasons import build_explanation

FRESH = {"school_events": dt.date(2024, 12, 30), "incidents": dt.date(2024, 12, 31)}


def test_every_code_of_the_contract_has_plain_words() -> None:
    for codes, words in (
        (SCHOOL_EVENT_TYPES, SCHOOL_WORDS),
        (SCHOOL_REASONS, REASON_WORDS),
        (AGENCIES, AGENCY_WORDS),
        (CONTACT_TYPES, CONTACT_WORDS),
        (ROLES, ROLE_WORDS),
        (OFFENCE_GROUPS, OFFENCE_WORDS),
    ):
        assert set(codes) <= set(words), set(codes) - set(words)


def test_the_statement_names_every_source_agency_and_record_type_of_the_contract() -> None:
    c = coverage(FRESH)
    by_source = {s.source: s for s in c.sources}
    assert list(by_source) == list(SOURCE_TITLES)
    text = c.text()
    for source, title in SOURCE_TITLES.items():
        assert by_source[source].title == title
        assert f"  • {title}, " in text
    contacts = by_source["agency_contacts"]
    for agency in AGENCIES:
        assert AGENCY_WORDS[agency] in contacts.agencies
        assert AGENCY_WORDS[agency] in contacts.holds
    for contact in CONTACT_TYPES:
        assert CONTACT_WORDS[contact] in contacts.holds
    school = by_source["school_events"]
    assert school.records == [SCHOOL_WORDS[e] for e in SCHOOL_EVENT_TYPES]
    assert all(REASON_WORDS[r] in school.detail for r in SCHOOL_REASONS)
    police = by_source["incidents"]
    assert all(ROLE_WORDS[r] in police.holds for r in ROLES)
    assert all(OFFENCE_WORDS[o] in police.detail for o in OFFENCE_GROUPS)
    for thing in NOT_HELD:
        assert thing in text
    assert "family" in text
    assert "told a worker" in text
    assert "trusted adult" in text


def test_each_source_carries_its_date_and_a_missing_one_is_kept_without_a_date() -> None:
    c = coverage(FRESH)
    dates = {s.source: s.as_of for s in c.sources}
    assert dates == {
        "school_events": "2024-12-30",
        "agency_contacts": None,
        "incidents": "2024-12-31",
    }
    lines = c.lines()
    assert "  • school records, to 2024-12-30: suspensions and permanent exclusions" in "\n".join(
        lines
    )
    assert any(line.startswith(f"  • multi-agency records, {NO_DATE}: ") for line in lines)
    # nothing given: every source is still there, none with a date
    empty = coverage(None)
    assert [s.source for s in empty.sources] == list(SOURCE_TITLES)
    assert all(s.as_of is None for s in empty.sources)
    # a source the contract does not name is shown with its date, never dropped
    extra = coverage({**FRESH, "housing_register": dt.date(2024, 11, 1)})
    assert extra.sources[-1].source == "housing_register"
    assert extra.sources[-1].as_of == "2024-11-01"


def test_the_statement_is_a_dict_for_the_service() -> None:
    data = coverage(FRESH).to_dict()
    assert set(data) == {"sources", "not_held"}
    assert data["not_held"] == list(NOT_HELD)
    first = data["sources"][0]  # type: ignore[index]
    assert first["source"] == "school_events"
    assert first["as_of"] == "2024-12-30"


def test_every_explanation_carries_the_statement_with_its_dates() -> None:
    e = build_explanation(
        outcome="victim",
        row={"person_id": "YP1", "as_of": "2025-01-01", "demo_asof_age_years": 15},
        contributions={"demo_asof_age_years": 0.1},
        registry={"demo_asof_age_years": {"template": "aged {value}", "domain": "demographic"}},
        probability=0.01,
        band="raised",
        band_meaning="about 1 in 100 …",
        data_as_of=FRESH,
    )
    assert e.coverage == coverage(FRESH)
    text = e.text()
    assert "  • school records, to 2024-12-30: " in text
    assert f"  • multi-agency records, {NO_DATE}: " in text
    assert "none of these records hold: family circumstances" in text
    assert text.index("What it cannot see") < text.index(e.caveat)
    assert e.to_dict()["coverage"]["sources"][2]["as_of"] == "2024-12-31"  # type: ignore[index]
