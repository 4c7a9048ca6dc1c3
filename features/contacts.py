"""Multi-agency contact features: social care, police, health, CAMHS, youth justice, housing."""

from __future__ import annotations

from collections.abc import Sequence

import ibis.expr.types as ir

from features._declare import (
    WINDOW_NAMES,
    Feature,
    FeatureInfo,
    absent_sentence,
    finish,
    sentence,
)
from features._engine import (
    Count,
    DaysSinceLast,
    Distinct,
    Escalation,
    EverFlag,
    FirstAge,
    OpenAtAsOf,
    ibis_features,
)
from features.spine import Spine
from features.vocabulary import AGENCIES

SOURCE = "agency_contacts"


def _type(*types: str) -> dict[str, tuple[object, ...]]:
    return {"contact_type": types}


def _count(
    what: str,
    words: str,
    window: int | None,
    types: tuple[str, ...],
    domain: str,
    agency: str | None = None,
) -> Feature:
    name = f"contacts_{WINDOW_NAMES[window]}_{what}_count"
    where = {**_type(*types), **({"agency": (agency,)} if agency else {})}
    return Feature(
        Count(name, window, where),
        FeatureInfo(
            name,
            domain,
            sentence(words, window, SOURCE),
            SOURCE,
            absent=absent_sentence(words, window, SOURCE),
        ),
    )


def _status(what: str, words: str, start: str, end: str) -> Feature:
    name = f"contacts_asof_{what}_flag"
    return Feature(
        OpenAtAsOf(name, _type(start), _type(end)),
        FeatureInfo(
            name,
            "social care",
            f"{words} at the time of this assessment — social care records, since {{latest}}",
            SOURCE,
            missing="0 when not open",
        ),
    )


def _ever(what: str, words: str, start: str) -> Feature:
    name = f"contacts_all_{what}_flag"
    return Feature(
        EverFlag(name, _type(start)),
        FeatureInfo(
            name,
            "social care",
            f"{words} — social care records, latest {{latest}}",
            SOURCE,
            missing="0 when never",
        ),
    )


_DECLARED: tuple[Feature, ...] = (
    *(
        _count(
            "referral",
            "referrals to children's social care",
            w,
            ("referral",),
            "social care",
            agency="social_care",
        )
        for w in (365, None)
    ),
    _status("child_in_need", "open as a child in need", "child_in_need", "child_in_need_end"),
    _status(
        "protection_plan",
        "on a child protection plan",
        "child_protection_plan",
        "child_protection_plan_end",
    ),
    _status("looked_after", "looked after (in care)", "looked_after_start", "looked_after_end"),
    _ever("child_in_need", "has been a child in need", "child_in_need"),
    _ever("protection_plan", "has been on a child protection plan", "child_protection_plan"),
    _ever("looked_after", "care experienced (has been looked after)", "looked_after_start"),
    *(
        _count(
            "missing",
            "missing-from-home episodes reported to police",
            w,
            ("missing_episode",),
            "police",
        )
        for w in (90, 365, 730, None)
    ),
    Feature(
        Escalation(
            "contacts_365d_missing_escalation",
            "contacts_365d_missing_count",
            "contacts_730d_missing_count",
        ),
        FeatureInfo(
            "contacts_365d_missing_escalation",
            "police",
            "{value} more missing episodes in the last 12 months than in the 12 months "
            "before — multi-agency records, latest {latest}",
            SOURCE,
            missing="0 when no change",
        ),
    ),
    Feature(
        DaysSinceLast("contacts_all_missing_days_since_last", _type("missing_episode")),
        FeatureInfo(
            "contacts_all_missing_days_since_last",
            "police",
            "{value} days since the last missing episode — police records, latest {latest}",
            SOURCE,
            missing="missing when never reported",
        ),
    ),
    *(
        _count("stop_search", "police stops and searches", w, ("stop_and_search",), "police")
        for w in (365, None)
    ),
    *(
        _count(
            "ae_assault",
            "A&E attendances after an assault",
            w,
            ("ae_assault_attendance",),
            "health",
        )
        for w in (365, None)
    ),
    *(
        _count("camhs_referral", "referrals to CAMHS", w, ("referral",), "health", agency="camhs")
        for w in (365, None)
    ),
    *(
        _count("yot_order", "youth justice orders", w, ("yot_order",), "youth justice")
        for w in (365, None)
    ),
    _count(
        "homelessness",
        "homelessness presentations",
        365,
        ("homelessness_presentation",),
        "social care",
    ),
    *(
        Feature(
            Distinct(f"contacts_{WINDOW_NAMES[w]}_agency_distinct", w, "agency", values=AGENCIES),
            FeatureInfo(
                f"contacts_{WINDOW_NAMES[w]}_agency_distinct",
                "social care",
                sentence("agencies involved", w, SOURCE),
                SOURCE,
            ),
        )
        for w in (365, 730)
    ),
    Feature(
        FirstAge("contacts_all_social_care_first_age", {"agency": ("social_care",)}),
        FeatureInfo(
            "contacts_all_social_care_first_age",
            "social care",
            "first known to social care at age {value} — social care records, latest {latest}",
            SOURCE,
            missing="missing when never known",
        ),
    ),
)


#: what a reason says when there is nothing on record
_ABSENT = {
    "contacts_asof_child_in_need_flag": "not open as a child in need now (social care records)",
    "contacts_asof_protection_plan_flag": "not on a protection plan now (social care records)",
    "contacts_asof_looked_after_flag": "not looked after now (social care records)",
    "contacts_all_child_in_need_flag": "never a child in need (social care records)",
    "contacts_all_protection_plan_flag": "never on a child protection plan (social care records)",
    "contacts_all_looked_after_flag": "not care experienced (social care records)",
    "contacts_365d_missing_escalation": "no change in missing episodes year on year",
    "contacts_all_missing_days_since_last": "never reported missing (police records)",
    "contacts_all_social_care_first_age": "never known to social care (social care records)",
    "contacts_365d_agency_distinct": "no agency involved in the last 12 months",
    "contacts_730d_agency_distinct": "no agency involved in the last 2 years",
}
#: the declared features with their "absent" sentences, each linked to the date of its
#: latest record (support columns added)
FEATURES: tuple[Feature, ...] = finish(_DECLARED, _ABSENT, "contacts", SOURCE)


def build_contact_features(
    events: ir.Table, spine: ir.Table, spine_info: Spine, features: Sequence[Feature] = FEATURES
) -> ir.Table:
    """Contact features for every spine row (pure: an Ibis expression, nothing executed)."""
    return ibis_features(events, spine, [f.spec for f in features], spine_info.as_of_dates)
