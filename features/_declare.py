"""Helpers that declare a feature and its registry entry together, so they cannot drift."""

from __future__ import annotations

from dataclasses import dataclass

from features._engine import Spec

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
    against the source records. ``direction`` is +1 when a higher value is known to
    go with higher risk, −1 when protective, ``None`` when not known.
    """

    name: str
    domain: str
    template: str
    source: str
    model_input: bool = True
    direction: int | None = 1
    missing: str = "0 when no event is recorded"

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


def sentence(what: str, window: int | None, source: str) -> str:
    """``"{value} suspensions in the last 12 months — school records, latest {latest}"``."""
    return f"{{value}} {what} {WINDOW_WORDS[window]} — {SOURCE_WORDS[source]}, latest {{latest}}"
