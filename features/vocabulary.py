"""The project's vocabulary: the data contract's code lists and the two outcomes.

Everything that names a local authority, an agency, a contact type, an outcome
or a source imports it from here — the contracts (:mod:`features.schemas`), the
models, the service, the panel packs and the synthetic generator alike. The
generator therefore *uses* the contract rather than defining it: a code it emits
that is not listed here is refused by the contract (a test checks every code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "AGENCIES",
    "ALREADY_INVOLVED",
    "COHORTS",
    "CONTACT_TYPES",
    "ETHNICITIES",
    "ETHNICITY_CODES",
    "ETHNICITY_DETAIL_CODES",
    "INVOLVEMENT_FEATURES",
    "LISTS",
    "LOCAL_AUTHORITIES",
    "NOT_YET_INVOLVED",
    "OFFENCE_GROUPS",
    "OUTCOMES",
    "PANEL_LIST_NAMES",
    "PROGRAMMES",
    "ROLES",
    "SCHOOL_EVENT_TYPES",
    "SCHOOL_REASONS",
    "SEN_STATUSES",
    "SERIOUS_OFFENCES",
    "SEXES",
    "SOURCE_TITLES",
    "Cohort",
    "Outcome",
    "already_involved",
    "cohort_of",
    "outcome",
]

# ------------------------------------------------------------------ people

#: the five local authorities of Avon and Somerset (one referral panel each)
LOCAL_AUTHORITIES: tuple[str, ...] = (
    "Bath and North East Somerset",
    "Bristol",
    "North Somerset",
    "Somerset",
    "South Gloucestershire",
)
SEXES: tuple[str, ...] = ("female", "male")
ETHNICITIES: tuple[str, ...] = ("White", "Mixed", "Asian", "Black", "Other")
#: ONS 18-group ethnicity (2011 classification) as DfE census codes, by 5-group
ETHNICITY_DETAIL_CODES: dict[str, tuple[str, ...]] = {
    "White": ("WBRI", "WIRI", "WIRT", "WOTH"),
    "Mixed": ("MWBC", "MWBA", "MWAS", "MOTH"),
    "Asian": ("AIND", "APKN", "ABAN", "CHNE", "AOTH"),
    "Black": ("BAFR", "BCRB", "BOTH"),
    "Other": ("OARA", "OOTH"),
}
ETHNICITY_CODES: tuple[str, ...] = tuple(
    code for codes in ETHNICITY_DETAIL_CODES.values() for code in codes
)
SEN_STATUSES: tuple[str, ...] = ("none", "sen_support", "ehcp")

# ------------------------------------------------------------------ events

SCHOOL_EVENT_TYPES: tuple[str, ...] = ("suspension", "permanent_exclusion")
SCHOOL_REASONS: tuple[str, ...] = (
    "physical_assault_pupil",
    "physical_assault_adult",
    "persistent_disruption",
    "offensive_weapon",
    "drugs",
    "other",
)
AGENCIES: tuple[str, ...] = (
    "social_care",
    "police",
    "health",
    "camhs",
    "youth_justice",
    "housing",
)
CONTACT_TYPES: tuple[str, ...] = (
    "referral",
    "child_in_need",
    "child_in_need_end",
    "child_protection_plan",
    "child_protection_plan_end",
    "looked_after_start",
    "looked_after_end",
    "missing_episode",
    "ae_assault_attendance",
    "stop_and_search",
    "yot_order",
    "homelessness_presentation",
)
ROLES: tuple[str, ...] = ("victim", "suspect", "witness")
OFFENCE_GROUPS: tuple[str, ...] = (
    "homicide",
    "violence_with_injury",
    "robbery",
    "violence_without_injury",
    "possession_of_weapons",
    "drug_offences",
    "theft",
    "criminal_damage",
    "public_order",
)
#: offence groups that count as serious violence
SERIOUS_OFFENCES: frozenset[str] = frozenset({"homicide", "violence_with_injury", "robbery"})

#: how a practitioner names each raw event table (data freshness, reasons)
SOURCE_TITLES: dict[str, str] = {
    "school_events": "school records",
    "agency_contacts": "multi-agency records",
    "incidents": "police records",
}

# ------------------------------------------------------------------ panels and their help

#: what a referral panel can offer a young person it discusses (``interventions.programme``)
PROGRAMMES: dict[str, str] = {
    "mentoring": "a mentor",
    "family_support": "support for the family",
    "hospital_navigator": "a hospital youth navigator",
    "youth_work": "a detached youth worker",
}
#: the ranked lists a panel discussed (``panel_lists.list``): ``hand_rules`` is the points
#: list panels used before this tool; ``<outcome>_<known|early>`` are this tool's lists
PANEL_LIST_NAMES: tuple[str, ...] = (
    "hand_rules",
    "victim_known",
    "victim_early",
    "perpetrator_known",
    "perpetrator_early",
)

# ------------------------------------------------------------------ outcomes


@dataclass(frozen=True)
class Outcome:
    """One predicted outcome, with every word and name the project uses for it."""

    #: the key used on the command line and in the API: ``victim``, ``perpetrator``
    key: str
    #: label column of the feature table
    label: str
    #: the ``incidents.role`` that makes the label 1
    role: str
    #: "Risk of …" (reasons, panel packs, the practitioner page)
    title: str
    #: "… young people with similar records <observed> within 12 months" (band meanings)
    observed: str
    #: what the label records, for the model card
    definition: str
    #: kind of the generator's true event (evaluation on synthetic data only)
    truth_kind: str
    #: column of the generator's true monthly probability (evaluation only)
    truth_probability: str

    @property
    def registry_name(self) -> str:
        """Name of the registered model: ``vru-<key>``."""
        return f"vru-{self.key}"

    @property
    def heading(self) -> str:
        """``Risk of being the victim of serious violence``."""
        return f"Risk of {self.title}"

    @property
    def short(self) -> str:
        """``as a victim``: the outcome in a table heading of a panel pack."""
        return f"as a {self.role}"


OUTCOMES: dict[str, Outcome] = {
    "victim": Outcome(
        key="victim",
        label="sv_victim_12m",
        role="victim",
        title="being the victim of serious violence",
        observed="were victims of serious violence",
        definition="being recorded as the victim of a serious-violence incident",
        truth_kind="sv_victimisation",
        truth_probability="p_sv_victim",
    ),
    "perpetrator": Outcome(
        key="perpetrator",
        label="sv_perpetrator_12m",
        role="suspect",
        title="being involved in serious violence as a suspect",
        observed="were recorded as suspects in serious violence",
        definition="being recorded as a suspect in a serious-violence incident",
        truth_kind="sv_perpetration",
        truth_probability="p_sv_perpetrator",
    ),
}


def outcome(key: str) -> Outcome:
    """The outcome named ``key``; ``ValueError`` naming the known ones otherwise."""
    try:
        return OUTCOMES[key]
    except KeyError:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {key!r}") from None


# ------------------------------------------------------------------ cohorts and their lists

ALREADY_INVOLVED = "already_involved"
NOT_YET_INVOLVED = "not_yet_involved"

#: feature columns counting a young person's police records of serious violence (as a
#: victim or a suspect) before the as-of date: any of them above 0 = already involved
INVOLVEMENT_FEATURES: tuple[str, ...] = (
    "incidents_all_sv_victim_count",
    "incidents_all_sv_suspect_count",
)


@dataclass(frozen=True)
class Cohort:
    """One of the two cohorts of every snapshot, and the panel list drawn from it."""

    #: ``already_involved`` or ``not_yet_involved``
    key: str
    #: the list drawn from this cohort: ``known`` or ``early``
    list_key: str
    #: how the cohort is named to a practitioner (the service, the packs)
    title: str
    #: the heading of its list in a panel pack
    list_title: str
    #: what the list is for, in a panel's words
    purpose: str
    #: the list's capacity per local authority when none is set
    default_capacity: int


COHORTS: dict[str, Cohort] = {
    ALREADY_INVOLVED: Cohort(
        key=ALREADY_INVOLVED,
        list_key="known",
        title="already known to services for serious violence",
        list_title="Already known to services for serious violence",
        purpose=(
            "Young people with a police record of serious violence, as a victim or as a "
            "suspect, before this month. Many will already have support in place: the "
            "panel can check it is the right support and that it is reaching them."
        ),
        default_capacity=50,
    ),
    NOT_YET_INVOLVED: Cohort(
        key=NOT_YET_INVOLVED,
        list_key="early",
        title="no serious-violence record yet",
        list_title="No serious-violence record yet: early help",
        purpose=(
            "Young people with no police record of serious violence (some have other "
            "police records), whose school, social-care and other records are like those "
            "of young people who later were. This is where early help can make the most "
            "difference, before serious harm happens."
        ),
        default_capacity=20,
    ),
}
#: the same cohorts keyed by their list: ``known`` and ``early``
LISTS: dict[str, Cohort] = {c.list_key: c for c in COHORTS.values()}


def already_involved(frame: Any) -> np.ndarray:
    """``True`` for each row (of a feature frame) with any serious-violence record before
    the as-of date, as a victim or a suspect (:data:`INVOLVEMENT_FEATURES`)."""
    involved = np.zeros(len(frame), dtype=bool)
    for column in INVOLVEMENT_FEATURES:
        counts = np.asarray(frame[column], dtype=float)
        involved |= np.nan_to_num(counts, nan=0.0) > 0
    return involved


def cohort_of(frame: Any) -> np.ndarray:
    """The cohort key of each row of a feature frame (:data:`COHORTS`)."""
    return np.where(already_involved(frame), ALREADY_INVOLVED, NOT_YET_INVOLVED).astype(object)
