"""Helpers that declare a feature and its registry entry together, so they cannot drift."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from features._engine import (
    Count,
    DaysSinceLast,
    Distinct,
    Escalation,
    EverFlag,
    FirstAge,
    OpenAtAsOf,
    Spec,
    Where,
)

#: declared directions of a model input
RAISES, LOWERS, EITHER = 1, -1, 0
DIRECTIONS = {RAISES: "raises risk", LOWERS: "lowers risk", EITHER: "either"}
#: what a model reads for "never": later than any record of a young person aged 10–24
NEVER_DAYS = 10_000.0
#: what a model reads for "never first recorded": older than anyone in scope
NEVER_AGE = 25.0

DOMAINS = ("education", "social care", "police", "health", "youth justice", "demographic")

WINDOW_WORDS = {
    90: "in the last 3 months",
    365: "in the last 12 months",
    730: "in the last 2 years",
    None: "on record",
}
WINDOW_NAMES = {90: "90d", 365: "365d", 730: "730d", None: "all"}


@dataclass(frozen=True)
class FeatureInfo:
    """Registry entry of one column of the feature table.

    ``template`` has the slots ``{value}`` and ``{latest}`` (date of the latest
    underlying event) and reads as a sentence fragment a practitioner can check
    against the source records.

    ``direction`` is declared for every model input: :data:`RAISES` (+1, a higher value
    never lowers the estimate), :data:`LOWERS` (−1, a higher value never raises it: the
    "days since the last record" and "first age" features) or :data:`EITHER` (0), with
    ``direction_reason`` saying why in one line. Every candidate model respects it, and
    an explanation never shows a contribution that runs against it as a reason.
    ``never`` is the value a model reads when the record has never happened (the
    longest time since, the oldest first age), so that "never" sits at the low-risk end.
    ``what`` and ``window`` name the records counted ("suspensions", 365 days).
    """

    name: str
    domain: str
    template: str
    source: str
    model_input: bool = True
    direction: int | None = 1
    missing: str = "0 when no event is recorded"
    #: column holding days from the latest underlying event to as_of (fills ``{latest}``)
    latest_from: str | None = None
    #: a column kept only to explain others (e.g. the date of the latest event)
    support: bool = False
    #: the sentence when there is nothing on record ("no suspensions in the last year")
    absent: str = ""
    #: why the direction is what it is (one line a practitioner can read)
    direction_reason: str = ""
    #: the value a model reads for "never recorded" (missing); ``None``: never missing
    never: float | None = None
    #: the records behind the value ("suspensions"), and their window in days (None: ever)
    what: str = ""
    window: int | None = None

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"{self.name}: unknown domain {self.domain!r}")


@dataclass(frozen=True)
class Feature:
    """A declared feature: how to compute it and how to explain it."""

    spec: Spec
    info: FeatureInfo


SOURCE_WORDS = {
    "school_events": "school records",
    "agency_contacts": "multi-agency records",
    "incidents": "police records",
    "people": "person record",
}


def absent_sentence(what: str, window: int | None, source: str) -> str:
    """``"no suspensions in the last 12 months (school records)"``."""
    where = f"{WINDOW_WORDS[window]} ({SOURCE_WORDS[source]})"
    if what.startswith("times recorded as "):
        role = what.removeprefix("times recorded as ")
        if window is None:
            return f"never recorded as {role} ({SOURCE_WORDS[source]})"
        return f"not recorded as {role} {where}"
    return f"no {what} {where}"


def sentence(what: str, window: int | None, source: str) -> str:
    """``"{value} suspensions in the last 12 months — school records, latest {latest}"``."""
    return f"{{value}} {what} {WINDOW_WORDS[window]} — {SOURCE_WORDS[source]}, latest {{latest}}"


def _filter_of(spec: Spec, by_name: dict[str, Spec]) -> Where | None:
    if isinstance(spec, Count | Distinct | DaysSinceLast | FirstAge | EverFlag):
        return spec.where
    if isinstance(spec, OpenAtAsOf):
        return spec.start
    if isinstance(spec, Escalation):
        return _filter_of(by_name[spec.recent], by_name)
    return None


def _key(where: Where) -> tuple[tuple[str, tuple[object, ...]], ...]:
    return tuple(sorted((k, tuple(v)) for k, v in where.items()))


def with_latest(features: Sequence[Feature], prefix: str, source: str) -> tuple[Feature, ...]:
    """Link every feature to a "days since the latest matching event" column.

    Reuses a model-input ``DaysSinceLast`` with the same filter when there is one;
    otherwise adds a support column (not a model input) named
    ``{prefix}_all_{what}_days_since_last``. Explanations turn it into the date of
    the latest record behind a reason.
    """
    by_name = {f.spec.name: f.spec for f in features}
    latest: dict[tuple[tuple[str, tuple[object, ...]], ...], str] = {
        _key(f.spec.where): f.spec.name for f in features if isinstance(f.spec, DaysSinceLast)
    }
    support: list[Feature] = []
    linked = []
    for f in features:
        where = _filter_of(f.spec, by_name)
        if where is None:
            linked.append(f)
            continue
        key = _key(where)
        if key not in latest:
            what = "_".join(f.spec.name.split("_")[2:-1]) or "event"
            if isinstance(f.spec, OpenAtAsOf | EverFlag):
                what = f"{what}_start"
            name = f"{prefix}_all_{what}_days_since_last"
            latest[key] = name
            support.append(
                Feature(
                    DaysSinceLast(name, where),
                    FeatureInfo(
                        name,
                        f.info.domain,
                        "{value} days since the latest matching record — latest {latest}",
                        source,
                        model_input=False,
                        direction=None,
                        missing="missing when never",
                        support=True,
                        absent="no matching record",
                    ),
                )
            )
        linked.append(Feature(f.spec, replace(f.info, latest_from=latest[key])))
    for s in support:
        linked.append(Feature(s.spec, replace(s.info, latest_from=s.spec.name)))
    return tuple(linked)


def _what(template: str, window: int | None) -> str:
    """ "suspensions" from "{value} suspensions in the last 12 months — school records, …"."""
    core = template.partition(" — ")[0]
    core = core.replace("{value} days since ", "").replace(" at age {value}", "")
    core = core.replace("{value} ", "").strip()
    return core.removesuffix(" " + WINDOW_WORDS[window]).strip()


def directed(feature: Feature) -> Feature:
    """The feature with its declared direction, its reason, its "never" value and the
    records it counts, from what kind of feature it is (a count, a flag, a rise on the
    year before, the time since the last record, the age at the first)."""
    spec, info = feature.spec, feature.info
    if not info.model_input:
        return feature
    window = getattr(spec, "window_days", None)
    what = info.what or _what(info.template, window)
    if isinstance(spec, Count | Distinct):
        direction, reason, never = RAISES, f"more {what} never lower the estimate", None
    elif isinstance(spec, OpenAtAsOf | EverFlag):
        direction, reason, never = RAISES, "a record of need is never read as protection", None
    elif isinstance(spec, Escalation):
        window = 365
        direction = RAISES
        reason = "a rise on the year before never lowers the estimate (a fall may)"
        never = None
    elif isinstance(spec, DaysSinceLast):
        direction, never = LOWERS, NEVER_DAYS
        reason = "the longer since the last record, the lower the estimate; never counts as longest"
    elif isinstance(spec, FirstAge):
        direction, never = LOWERS, NEVER_AGE
        reason = "a first record at a younger age never lowers the estimate; never counts as oldest"
    else:  # pragma: no cover - every kind of spec is listed above
        raise TypeError(f"{info.name}: no declared direction for {type(spec).__name__}")
    return Feature(
        spec,
        replace(
            info,
            direction=direction,
            direction_reason=info.direction_reason or reason,
            never=never,
            what=what,
            window=window,
        ),
    )


def finish(
    declared: Sequence[Feature], absent: dict[str, str], prefix: str, source: str
) -> tuple[Feature, ...]:
    """Attach the explicit "absent" sentences and the declared directions, then link every
    feature to its latest record."""
    with_absent = [
        directed(
            Feature(f.spec, replace(f.info, absent=absent[f.info.name]))
            if f.info.name in absent
            else f
        )
        for f in declared
    ]
    return with_latest(with_absent, prefix, source)
