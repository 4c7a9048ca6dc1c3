"""The fairness policy: a versioned YAML file validated into typed rules.

:func:`load_policy` refuses a malformed file with one line naming the field and the
problem (:class:`PolicyError`); nothing downstream runs on a policy it could not read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.validated import parse_validated, read_validated

__all__ = [
    "ATTRIBUTES",
    "DEFAULT_POLICY",
    "METRICS",
    "MSG_CAPACITY_POINT",
    "MSG_OPERATING_POINT",
    "OPERATING_POINTS",
    "RULE_METRICS",
    "SEPARATOR",
    "Policy",
    "PolicyError",
    "Rule",
    "load_policy",
    "parse_policy",
]

DEFAULT_POLICY = Path(__file__).with_name("policy.yaml")
#: where the audit draws the line between flagged and not flagged: ``panel`` each list at
#: its own operating point (the known and the early-identification list, each audited on
#: its own cohort, flagged = named to the panel, within the list's capacity), ``band``
#: everyone at or above ``band``
OPERATING_POINTS = ("panel", "band")
MSG_OPERATING_POINT = "must be {points}, got {value!r}"
#: policies written before 2026.12-2 may name the old ``capacity`` point
MSG_CAPACITY_POINT = (
    "'capacity' is now part of 'panel' (each list within its capacity: the only young "
    "people a panel is named); must be {points}"
)
#: metrics the audit computes for every group
METRICS = (
    "selection_rate",
    "tpr",
    "fpr",
    "fnr",
    "precision",
    "mean_predicted",
    "observed_rate",
    "calibration",
    "auc",
)
#: metrics a rule may compare (equalised odds combines the TPR and FPR gaps)
RULE_METRICS = (*METRICS, "equalised_odds")
#: attributes the model audit can derive from a feature snapshot
ATTRIBUTES = (
    "sex",
    "ethnicity",
    "local_authority",
    "imd_quintile",
    "sen",
    "care_experience",
    "age_band",
)
SEPARATOR = " × "


class PolicyError(ValueError):
    """The policy file cannot be used (one line: file, field, problem)."""


class Rule(BaseModel):
    """One limit on one metric, compared with the reference group."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    metric: str
    compare: Literal["ratio", "difference"]
    low: float | None = None
    high: float | None = None
    attributes: list[str] | Literal["all"] = "all"
    enforce: bool = True
    why: str = Field(min_length=1)

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in RULE_METRICS:
            raise ValueError(f"unknown metric {value!r}; one of {', '.join(RULE_METRICS)}")
        return value

    @model_validator(mode="after")
    def _limits(self) -> Rule:
        if self.low is None and self.high is None:
            raise ValueError(f"rule {self.id!r} needs a low or a high limit")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"rule {self.id!r}: low {self.low} is above high {self.high}")
        if self.metric == "equalised_odds" and self.compare != "difference":
            raise ValueError(f"rule {self.id!r}: equalised_odds is a difference, not a ratio")
        return self

    def limits_text(self) -> str:
        if self.low is not None and self.high is not None:
            return f"within [{self.low:g}, {self.high:g}]"
        if self.high is not None:
            return f"at most {self.high:g}"
        return f"at least {self.low:g}"

    def within(self, value: float) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


class Policy(BaseModel):
    """The whole policy file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy_version: str = Field(min_length=1)
    description: str = ""
    #: who the audit treats as flagged; see :data:`OPERATING_POINTS`
    operating_point: Literal["panel", "band"] = "panel"
    #: the band of ``operating_point: band`` (the panel list always uses the 'high' band)
    band: Literal["raised", "high", "very high"] = "high"
    min_group_size: int = Field(ge=1)
    min_events: int = Field(ge=1)
    bootstrap_samples: int = Field(200, ge=0)
    confidence: float = Field(0.95, gt=0, lt=1)
    reference: dict[str, str]
    attributes: list[str] = Field(min_length=1)
    intersections: list[list[str]] = []
    rules: list[Rule] = Field(min_length=1)

    @field_validator("policy_version", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int | float) else value

    @field_validator("operating_point", mode="before")
    @classmethod
    def _known_point(cls, value: object) -> object:
        points = " or ".join(repr(p) for p in OPERATING_POINTS)
        if value == "capacity":
            raise ValueError(MSG_CAPACITY_POINT.format(points=points))
        if value not in OPERATING_POINTS:
            raise ValueError(MSG_OPERATING_POINT.format(points=points, value=value))
        return value

    @field_validator("reference", mode="before")
    @classmethod
    def _reference_text(cls, value: object) -> object:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        for attribute in self.attributes:
            if attribute not in self.reference:
                raise ValueError(f"attribute {attribute!r} has no reference group")
        for pair in self.intersections:
            if len(pair) != 2:
                raise ValueError(f"intersection {pair} must name exactly two attributes")
            unknown = [a for a in pair if a not in self.attributes]
            if unknown:
                raise ValueError(f"intersection {pair} names {unknown[0]!r}, not an attribute")
        names = set(self.all_attributes())
        ids = [r.id for r in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError("rule ids must be unique")
        for rule in self.rules:
            if rule.attributes != "all":
                unknown = [a for a in rule.attributes if a not in names]
                if unknown:
                    raise ValueError(
                        f"rule {rule.id!r} names {unknown[0]!r}, which is neither an attribute "
                        "nor an intersection of the policy"
                    )
        return self

    def all_attributes(self) -> list[str]:
        """The single attributes and the intersections, as audit names."""
        return [*self.attributes, *(SEPARATOR.join(pair) for pair in self.intersections)]

    def rule_attributes(self, rule: Rule) -> list[str]:
        return self.all_attributes() if rule.attributes == "all" else list(rule.attributes)


def parse_policy(text: str, source: str = "policy") -> Policy:
    """Validate policy YAML text (raises :class:`PolicyError` with one clear line)."""
    return parse_validated(text, Policy, PolicyError, source, fields="policy fields")


def load_policy(path: Path | None = None) -> tuple[Policy, str]:
    """The policy and the SHA-256 of the exact bytes read."""
    return read_validated(
        path or DEFAULT_POLICY, Policy, PolicyError, "policy", fields="policy fields"
    )
