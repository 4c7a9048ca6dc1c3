"""Police incident features: victimisation, suspect roles, weapons, serious violence."""

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
from features._engine import Count, DaysSinceLast, Escalation, FirstAge, ibis_features
from features.spine import Spine

SOURCE = "incidents"
VICTIM = {"role": ("victim",)}
SUSPECT = {"role": ("suspect",)}


def _count(what: str, words: str, window: int | None, where: dict) -> Feature:
    name = f"incidents_{WINDOW_NAMES[window]}_{what}_count"
    return Feature(
        Count(name, window, where),
        FeatureInfo(
            name,
            "police",
            sentence(words, window, SOURCE),
            SOURCE,
            absent=absent_sentence(words, window, SOURCE),
        ),
    )


_DECLARED: tuple[Feature, ...] = (
    *(
        _count("victim", "times recorded as a victim of crime", w, VICTIM)
        for w in (90, 365, 730, None)
    ),
    *(_count("suspect", "times recorded as a suspect", w, SUSPECT) for w in (90, 365, 730, None)),
    *(
        _count(
            "sv_victim",
            "times recorded as a victim of serious violence",
            w,
            {**VICTIM, "serious_violence": (True,)},
        )
        for w in (365, None)
    ),
    *(
        _count(
            "sv_suspect",
            "times recorded as a suspect in serious violence",
            w,
            {**SUSPECT, "serious_violence": (True,)},
        )
        for w in (365, None)
    ),
    *(
        _count(
            "weapon",
            "incidents involving a weapon",
            w,
            {"role": ("victim", "suspect"), "weapon": (True,)},
        )
        for w in (365, None)
    ),
    _count("witness", "times recorded as a witness", 365, {"role": ("witness",)}),
    Feature(
        Escalation(
            "incidents_365d_suspect_escalation",
            "incidents_365d_suspect_count",
            "incidents_730d_suspect_count",
        ),
        FeatureInfo(
            "incidents_365d_suspect_escalation",
            "police",
            "{value} more suspect records in the last 12 months than in the 12 months "
            "before — police records, latest {latest}",
            SOURCE,
            missing="0 when no change",
        ),
    ),
    Feature(
        DaysSinceLast("incidents_all_victim_days_since_last", VICTIM),
        FeatureInfo(
            "incidents_all_victim_days_since_last",
            "police",
            "{value} days since last recorded as a victim — police records, latest {latest}",
            SOURCE,
            missing="missing when never",
        ),
    ),
    Feature(
        DaysSinceLast("incidents_all_suspect_days_since_last", SUSPECT),
        FeatureInfo(
            "incidents_all_suspect_days_since_last",
            "police",
            "{value} days since last recorded as a suspect — police records, latest {latest}",
            SOURCE,
            missing="missing when never",
        ),
    ),
    Feature(
        FirstAge("incidents_all_suspect_first_age", SUSPECT),
        FeatureInfo(
            "incidents_all_suspect_first_age",
            "police",
            "first recorded as a suspect at age {value} — police records, latest {latest}",
            SOURCE,
            missing="missing when never",
        ),
    ),
)


#: what a reason says when there is nothing on record
_ABSENT = {
    "incidents_365d_suspect_escalation": "no change in suspect records year on year",
    "incidents_all_victim_days_since_last": "never recorded as a victim (police records)",
    "incidents_all_suspect_days_since_last": "never recorded as a suspect (police records)",
    "incidents_all_suspect_first_age": "never recorded as a suspect (police records)",
}
#: the declared features with their "absent" sentences, each linked to the date of its
#: latest record (support columns added)
FEATURES: tuple[Feature, ...] = finish(_DECLARED, _ABSENT, "incidents", SOURCE)


def build_incident_features(
    events: ir.Table, spine: ir.Table, spine_info: Spine, features: Sequence[Feature] = FEATURES
) -> ir.Table:
    """Incident features for every spine row (pure: an Ibis expression, nothing executed)."""
    return ibis_features(events, spine, [f.spec for f in features], spine_info.as_of_dates)
