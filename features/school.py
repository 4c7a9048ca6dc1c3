"""School features: suspensions and permanent exclusions (``school_events``)."""

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

SOURCE = "school_events"
SUSPENSION = {"event_type": ("suspension",)}
EXCLUSION = {"event_type": ("permanent_exclusion",)}
VIOLENT_REASON = {
    "event_type": ("suspension", "permanent_exclusion"),
    "reason": ("physical_assault_pupil", "physical_assault_adult", "offensive_weapon"),
}


def _count(
    what: str,
    words: str,
    window: int | None,
    where: dict,
    sum_of: str | None = None,
    agg: str = "count",
) -> Feature:
    name = f"school_{WINDOW_NAMES[window]}_{what}_{agg}"
    return Feature(
        Count(name, window, where, sum_of),
        FeatureInfo(
            name,
            "education",
            sentence(words, window, SOURCE),
            SOURCE,
            absent=absent_sentence(words, window, SOURCE),
        ),
    )


_DECLARED: tuple[Feature, ...] = (
    *(_count("suspension", "suspensions", w, SUSPENSION) for w in (90, 365, 730, None)),
    _count("suspension_days", "days of suspension", 365, SUSPENSION, sum_of="days", agg="sum"),
    *(_count("permanent_exclusion", "permanent exclusions", w, EXCLUSION) for w in (365, None)),
    *(
        _count(
            "violent_exclusion",
            "suspensions or exclusions for assault or a weapon",
            w,
            VIOLENT_REASON,
        )
        for w in (365, None)
    ),
    Feature(
        Escalation(
            "school_365d_suspension_escalation",
            "school_365d_suspension_count",
            "school_730d_suspension_count",
        ),
        FeatureInfo(
            "school_365d_suspension_escalation",
            "education",
            "{value} more suspensions in the last 12 months than in the 12 months "
            "before — school records, latest {latest}",
            SOURCE,
            missing="0 when no change",
        ),
    ),
    Feature(
        DaysSinceLast("school_all_exclusion_days_since_last"),
        FeatureInfo(
            "school_all_exclusion_days_since_last",
            "education",
            "{value} days since the last suspension or exclusion — school records, latest {latest}",
            SOURCE,
            missing="missing when never suspended or excluded",
        ),
    ),
    Feature(
        FirstAge("school_all_exclusion_first_age"),
        FeatureInfo(
            "school_all_exclusion_first_age",
            "education",
            "first suspended or excluded at age {value} — school records, latest {latest}",
            SOURCE,
            missing="missing when never suspended or excluded",
        ),
    ),
)


#: what a reason says when there is nothing on record
_ABSENT = {
    "school_365d_suspension_escalation": "no change in suspensions year on year (school records)",
    "school_all_exclusion_days_since_last": "never suspended or excluded (school records)",
    "school_all_exclusion_first_age": "never suspended or excluded (school records)",
}
#: the declared features with their "absent" sentences, each linked to the date of its
#: latest record (support columns added)
FEATURES: tuple[Feature, ...] = finish(_DECLARED, _ABSENT, "school", SOURCE)


def build_school_features(
    events: ir.Table, spine: ir.Table, spine_info: Spine, features: Sequence[Feature] = FEATURES
) -> ir.Table:
    """School features for every spine row (pure: an Ibis expression, nothing executed).

    Parameters
    ----------
    events
        The ``school_events`` table as an Ibis table.
    spine
        The spine rows as an Ibis table.
    spine_info
        The spine (for its snapshot dates).
    features
        Which school features to build (default: all).
    """
    return ibis_features(events, spine, [f.spec for f in features], spine_info.as_of_dates)
