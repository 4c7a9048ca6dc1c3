"""The monitoring plan: each check's amber and red limits, its minimum numbers, whether
red suspends the model, and who owns it (``monitoring/plan.yaml``, versioned).

Read like the fairness and band policies (:func:`models.validated.read_validated`): a
plan with an unknown check, a missing one, a limit of the wrong type or an amber limit
beyond its red one is refused at load with one line naming the field
(:class:`PlanError`); nothing is monitored on a plan that could not be read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from models.validated import parse_validated, read_validated

__all__ = [
    "CHECKS",
    "DEFAULT_PLAN",
    "CheckSpec",
    "Limits",
    "Plan",
    "PlanError",
    "load_plan",
    "parse_plan",
]

DEFAULT_PLAN = Path(__file__).with_name("plan.yaml")

Direction = Literal["below", "above", "both"]


class PlanError(ValueError):
    """The monitoring plan is missing, malformed or inconsistent (one line naming the field)."""


@dataclass(frozen=True)
class CheckSpec:
    """What one check measures: its area, its words, and which side of its limits is bad."""

    area: Literal["data", "inputs", "scores", "outcomes", "people"]
    title: str
    #: ``below``: a figure below the limit is bad (amber > red); ``above``: above it
    #: (amber < red); ``both``: a ratio beyond the limit or below its inverse (1 < amber < red)
    direction: Direction
    #: what the figure is, for a reader of the report
    measure: str
    #: minimum-number settings the check needs (``min_people``, ``min_expected``, ...)
    needs: tuple[str, ...]


#: every check the plan must set, in the order reports show them
CHECKS: dict[str, CheckSpec] = {
    "data_volume": CheckSpec(
        "data",
        "records arriving",
        "below",
        "records last month ÷ the same month of the two years before",
        ("min_expected",),
    ),
    "data_freshness": CheckSpec(
        "data",
        "latest record",
        "above",
        "days since the latest record",
        ("min_expected",),
    ),
    "input_drift": CheckSpec(
        "inputs",
        "model inputs against the training reference",
        "above",
        "largest input shift (PSI) ÷ what chance alone gives",
        ("resamples", "quantile", "min_people", "min_shift"),
    ),
    "band_shares": CheckSpec(
        "scores",
        "share in the raised band or above",
        "both",
        "share now ÷ share in the training reference",
        ("min_people",),
    ),
    "precision": CheckSpec(
        "outcomes",
        "lists of 12 months ago: what they found",
        "below",
        "share named with a recorded outcome since ÷ what their bands promised",
        ("min_people",),
    ),
    "calibration": CheckSpec(
        "outcomes",
        "outcomes against estimates",
        "both",
        "recorded outcomes ÷ the number the estimates of 12 months ago expected",
        ("min_expected",),
    ),
    "group_calibration": CheckSpec(
        "outcomes",
        "fairness over time: outcomes against estimates by group",
        "both",
        "a group's outcomes ÷ expected, relative to everyone else's",
        ("min_people", "min_expected"),
    ),
    "disagreement": CheckSpec(
        "people",
        "practitioners disagreeing",
        "above",
        "share of practitioners' feedback that disagrees",
        ("min_people",),
    ),
}


class Limits(BaseModel):
    """One check's limits (validated against its :class:`CheckSpec` by :class:`Plan`)."""

    model_config = ConfigDict(extra="forbid")

    amber: float
    red: float
    enforce: StrictBool
    min_people: int | None = Field(None, ge=1)
    min_expected: float | None = Field(None, gt=0)
    resamples: int | None = Field(None, ge=20, le=5000)
    quantile: float | None = Field(None, gt=0.5, lt=1)
    min_shift: float | None = Field(None, ge=0)

    @field_validator("amber", "red", mode="before")
    @classmethod
    def _a_number(cls, value: object) -> object:
        # YAML "0.6" (a string) or true (a bool) is a mistake, not a limit
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number, got {value!r}")
        return value


class Plan(BaseModel):
    """The monitoring plan file."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1)
    owner: str = Field(min_length=1, description="the senior responsible owner")
    confidence: float = Field(0.99, gt=0.5, lt=1)
    checks: dict[str, Limits]

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int | float) else value

    @field_validator("checks", mode="before")
    @classmethod
    def _known_checks(cls, value: object) -> object:
        if isinstance(value, dict):
            unknown = sorted(str(k) for k in value if k not in CHECKS)
            if unknown:
                raise ValueError(
                    f"unknown check {unknown[0]!r} (the checks are {', '.join(CHECKS)})"
                )
            missing = [k for k in CHECKS if k not in value]
            if missing:
                raise ValueError(
                    f"no limits for {missing[0]!r}: every check needs amber, red and enforce"
                )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        for name, limits in self.checks.items():
            spec = CHECKS[name]
            where = f"checks.{name}"
            for need in spec.needs:
                if getattr(limits, need) is None:
                    raise ValueError(f"{where}.{need} is required for this check")
            extra = [
                f
                for f in ("min_people", "min_expected", "resamples", "quantile", "min_shift")
                if getattr(limits, f) is not None and f not in spec.needs
            ]
            if extra:
                raise ValueError(f"{where}.{extra[0]} does not apply to this check")
            amber, red = limits.amber, limits.red
            if spec.direction == "below":
                if not 0 <= red < amber:
                    raise ValueError(
                        f"{where}: amber ({amber:g}) must be above red ({red:g}) and red at "
                        "least 0 — a figure falls through amber before it reaches red"
                    )
            elif spec.direction == "both":
                if not 1 < amber < red:
                    raise ValueError(
                        f"{where}: amber ({amber:g}) must be below red ({red:g}), both above "
                        "1 (a ratio of 1 means nothing changed)"
                    )
            elif not 0 <= amber < red:
                raise ValueError(
                    f"{where}: amber ({amber:g}) must be below red ({red:g}) — a figure "
                    "passes amber before it reaches red"
                )
        return self

    def limits(self, check: str) -> Limits:
        """The limits of one check (:data:`CHECKS` names them all)."""
        return self.checks[check]


def parse_plan(text: str, source: str = "monitoring plan") -> Plan:
    """Validate plan YAML text (:class:`PlanError` with one clear line)."""
    return parse_validated(text, Plan, PlanError, source, "checks")


def load_plan(path: Path | None = None) -> tuple[Plan, str]:
    """The plan at ``path`` (default :data:`DEFAULT_PLAN`) and the SHA-256 of its bytes."""
    return read_validated(path or DEFAULT_PLAN, Plan, PlanError, "the monitoring plan", "checks")
