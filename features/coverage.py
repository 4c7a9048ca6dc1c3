"""What the model sees and what it cannot see, generated from the data contract.

A fixed statement, the same for every young person: for each source of the data
contract (:data:`features.vocabulary.SOURCE_TITLES`) its title, the agencies and
the kinds of record it holds, in plain words, generated from the contract's code
lists (a code added to the contract appears here), and the date of the latest
record known from it; then what no source holds (family, friends and community,
most of health and education, what the young person has said, their strengths,
support given outside these records). Every explanation, the practitioners' page
and the panel pack show it, so that nobody reads the estimate as the whole picture.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from functools import lru_cache

from features import vocabulary

__all__ = [
    "AGENCY_WORDS",
    "CONTACT_WORDS",
    "NOT_HELD",
    "OFFENCE_WORDS",
    "REASON_WORDS",
    "ROLE_WORDS",
    "SCHOOL_WORDS",
    "Coverage",
    "SourceCoverage",
    "coverage",
    "words_for",
]

#: plain words for each code of the contract (a code without words reads as the code)
SCHOOL_WORDS = {"suspension": "suspensions", "permanent_exclusion": "permanent exclusions"}
REASON_WORDS = {
    "physical_assault_pupil": "assault on a pupil",
    "physical_assault_adult": "assault on an adult",
    "persistent_disruption": "persistent disruption",
    "offensive_weapon": "an offensive weapon",
    "drugs": "drugs",
    "other": "other reasons",
}
AGENCY_WORDS = {
    "social_care": "children's social care",
    "police": "police",
    "health": "health (A&E)",
    "camhs": "CAMHS",
    "youth_justice": "youth justice",
    "housing": "housing",
}
CONTACT_WORDS = {
    "referral": "referrals",
    "child_in_need": "child-in-need periods",
    "child_in_need_end": "child-in-need periods",
    "child_protection_plan": "child protection plans",
    "child_protection_plan_end": "child protection plans",
    "looked_after_start": "periods in care",
    "looked_after_end": "periods in care",
    "missing_episode": "missing-from-home episodes",
    "ae_assault_attendance": "A&E attendances after an assault",
    "stop_and_search": "stops and searches",
    "yot_order": "youth justice orders",
    "homelessness_presentation": "homelessness presentations",
}
ROLE_WORDS = {"victim": "a victim", "suspect": "a suspect", "witness": "a witness"}
OFFENCE_WORDS = {
    "homicide": "homicide",
    "violence_with_injury": "violence with injury",
    "robbery": "robbery",
    "violence_without_injury": "violence without injury",
    "possession_of_weapons": "possession of weapons",
    "drug_offences": "drug offences",
    "theft": "theft",
    "criminal_damage": "criminal damage",
    "public_order": "public order",
}

#: what no source of the contract holds (the same for everyone)
NOT_HELD: tuple[str, ...] = (
    "family circumstances and relationships",
    "friendships and what the community knows",
    "health records beyond A&E attendances after an assault and CAMHS referrals",
    "education beyond suspensions and exclusions (attendance, attainment)",
    "anything the young person or their family has told a worker",
    "strengths and protective things in their life (a trusted adult, a club, a job)",
    "support already being given outside these records",
)
HEADING_IN = "What the estimate draws on (each source up to its latest record):"
HEADING_OUT = "What it cannot see — none of these records hold:"
CLOSING = "Ask the people who know the young person."
NO_DATE = "date of the latest record not known"


def words_for(codes: Iterable[str], words: Mapping[str, str]) -> list[str]:
    """The plain words of each code, each phrase once, in the contract's order."""
    return list(dict.fromkeys(words.get(code, code.replace("_", " ")) for code in codes))


def _and(items: list[str], conjunction: str = "and") -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


@dataclass(frozen=True)
class SourceCoverage:
    """One source: what it is called, who records it and what, and its as-of date."""

    source: str
    title: str
    #: agencies whose records it holds (plain words)
    agencies: list[str]
    #: the kinds of record it holds (plain words)
    records: list[str]
    #: what is recorded with each record ("with the reason", the offence group …)
    detail: str
    #: the whole statement, in one phrase
    holds: str
    #: the date of the latest record known from it (ISO), ``None`` when not known
    as_of: str | None = None

    def line(self) -> str:
        """``school records, to 2024-12-30: suspensions and permanent exclusions, …``."""
        when = f"to {self.as_of}" if self.as_of else NO_DATE
        return f"{self.title}, {when}: {self.holds}"


@dataclass(frozen=True)
class Coverage:
    """Per source: what is in, its as-of date; and what no source holds."""

    sources: list[SourceCoverage]
    not_held: list[str]

    def lines(self) -> list[str]:
        """The statement as plain-text lines (an explanation's text, a terminal, a card)."""
        return [
            HEADING_IN,
            *(f"  • {s.line()}" for s in self.sources),
            f"{HEADING_OUT} {'; '.join(self.not_held)}. {CLOSING}",
        ]

    def text(self) -> str:
        return "\n".join(self.lines())

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@lru_cache(maxsize=1)
def _statements() -> tuple[SourceCoverage, ...]:
    """Each source's statement without its date, from the contract's code lists."""
    v = vocabulary
    school = words_for(v.SCHOOL_EVENT_TYPES, SCHOOL_WORDS)
    reasons = words_for(v.SCHOOL_REASONS, REASON_WORDS)
    agencies = words_for(v.AGENCIES, AGENCY_WORDS)
    contacts = words_for(v.CONTACT_TYPES, CONTACT_WORDS)
    roles = words_for(v.ROLES, ROLE_WORDS)
    offences = words_for(v.OFFENCE_GROUPS, OFFENCE_WORDS)
    parts = {
        "school_events": (
            ["schools"],
            school,
            f"with the reason ({_and(reasons, 'or')}) and the days of suspension",
            f"{_and(school)}, with the reason",
        ),
        "agency_contacts": (
            agencies,
            contacts,
            "with the date of each",
            f"from {_and(agencies)} — {_and(contacts)}",
        ),
        "incidents": (
            ["police"],
            [f"crimes where recorded as {_and(roles, 'or')}"],
            f"with the offence ({_and(offences, 'or')}) and whether a weapon was involved",
            f"crimes in which the young person was recorded as {_and(roles, 'or')}, "
            "with the offence and whether a weapon was involved",
        ),
    }
    return tuple(
        SourceCoverage(source, title, *parts.get(source, ([], [], "", "records")))
        for source, title in v.SOURCE_TITLES.items()
    )


def coverage(data_as_of: Mapping[str, dt.date | str] | None = None) -> Coverage:
    """What the model sees (each source with its as-of date) and what it cannot see.

    Parameters
    ----------
    data_as_of
        The latest record known from each source (an explanation's ``data_as_of``). A
        source of the contract missing from it is kept and said to have no known date.
    """
    dates = tuple(
        (k, d.isoformat() if isinstance(d, dt.date) else str(d))
        for k, d in (data_as_of or {}).items()
    )
    return _coverage(dates)


@lru_cache(maxsize=64)
def _coverage(dates: tuple[tuple[str, str], ...]) -> Coverage:
    """One statement per set of dates (every explanation of a snapshot shares it)."""
    by_source = dict(dates)
    sources = [replace(s, as_of=by_source.get(s.source)) for s in _statements()]
    # a source the contract does not name is still shown with its date, never dropped
    known = set(vocabulary.SOURCE_TITLES)
    sources += [
        SourceCoverage(k, k.replace("_", " "), [], [], "", "records", d)
        for k, d in dates
        if k not in known
    ]
    return Coverage(sources=sources, not_held=list(NOT_HELD))
