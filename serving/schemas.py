"""Typed request and response bodies of the service (pydantic), shared with the web page."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, Field, StrictFloat, StrictInt, StringConstraints

__all__ = [
    "REASON_CODES",
    "ChangeOut",
    "ChangesOut",
    "CohortOut",
    "CoverageOut",
    "ExplainResponse",
    "FeedbackReceipt",
    "ModelCardResponse",
    "OutcomeCard",
    "OutcomeExplanation",
    "OutcomeScore",
    "PanelListPlace",
    "PingResponse",
    "ReasonOut",
    "RowScore",
    "ScoreResponse",
    "SourceCoverageOut",
]

#: why a practitioner agrees or disagrees; a fixed list so feedback can be counted
ReasonCode = Literal[
    "matches professional judgement",
    "information out of date",
    "information incorrect",
    "already known and supported",
    "disagree with risk level",
    "important context not recorded",
    "other",
]
REASON_CODES: tuple[str, ...] = get_args(ReasonCode)
Outcome = Literal["victim", "perpetrator"]
# "contains a non-blank character": the same rule in pydantic and in the OpenAPI schema
PersonId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"\S")]
Purpose = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"\S")]
FeedbackText = Annotated[str, StringConstraints(max_length=2000)]
#: one row of model inputs: every feature of the model, a number or null (missing);
#: strict, so true/false or "1" are refused rather than read as numbers
FeatureRecord = dict[str, StrictFloat | StrictInt | None]
#: the two cohorts of every snapshot and the list drawn from each (features.vocabulary)
CohortKey = Literal["already_involved", "not_yet_involved"]
ListKey = Literal["known", "early"]


class ReasonOut(BaseModel):
    feature: str
    domain: str
    sentence: str
    contribution: float = Field(description="log-odds contribution")
    value: float | None
    latest: str | None = Field(description="date of the latest record behind it, if known")


class ChangeOut(BaseModel):
    feature: str
    sentence: str = Field(description="the records behind the move, in plain words")
    moved: float = Field(description="contribution now minus contribution then (log-odds)")
    then: float | None = Field(description="the input's value then (null: never recorded)")
    now: float | None = Field(description="the input's value now (null: never recorded)")


class ChangesOut(BaseModel):
    """What changed since the previous snapshot, by the same model on both."""

    since: str = Field(description="as-of date of the previous snapshot")
    band_then: str = Field(
        description="band on the records as they stood then, re-estimated by this model"
    )
    band_now: str
    probability_then: float
    probability_now: float
    moved: list[ChangeOut] = Field(
        description="up to three inputs whose contributions moved most, each with its records"
    )
    summary: str = Field(description="the band then and now, in one sentence")
    note: str = Field(description="how the earlier band was found")


class SourceCoverageOut(BaseModel):
    source: str
    title: str
    agencies: list[str]
    records: list[str]
    detail: str
    holds: str = Field(description="what the source holds, in one phrase")
    as_of: str | None = Field(description="date of its latest record known; null: not known")


class CoverageOut(BaseModel):
    """What the estimate draws on and what no source holds (from the data contract)."""

    sources: list[SourceCoverageOut]
    not_held: list[str] = Field(description="what none of the records hold")


class CohortOut(BaseModel):
    key: CohortKey = Field(
        description="already_involved: a police record of serious violence, as a victim or "
        "a suspect, before the snapshot date; not_yet_involved: none yet"
    )
    title: str = Field(description="the cohort in a practitioner's words")


class PanelListPlace(BaseModel):
    """The young person's own place on this month's list of one outcome (nobody else's)."""

    list_key: ListKey = Field(
        description="the list drawn from their cohort: known (already involved) or early "
        "(early identification: not yet involved)"
    )
    list_title: str
    local_authority: str
    capacity: int = Field(ge=0, description="young people this list names in their area")
    named: bool = Field(description="within capacity: named to the panel this month")
    rank: int | None = Field(
        ge=1, description="their number on the list when named; null when beyond capacity"
    )
    lists_as_of: str = Field(description="as-of date of the snapshot the lists come from")
    sentence: str = Field(description="where they stand, in plain words")
    next_step: str = Field(description="what it means for them, in plain words")


class OutcomeExplanation(BaseModel):
    outcome: str
    model: str = Field(description="registered model name")
    model_version: str
    fairness_verdict: str
    probability: float = Field(description="calibrated probability within the horizon")
    probability_interval: tuple[float, float] | None = Field(
        None, description="the estimate's 90% interval (bootstrap refits of the calibrator)"
    )
    band: str
    band_meaning: str = Field(description="what the band means in absolute terms")
    band_range: tuple[float, float | None] | None = Field(
        None, description="the estimates the band holds: lower edge, next band's (null: none)"
    )
    estimate: str = Field(
        "", description="the individual estimate in words, placed within its band"
    )
    other_factors: float = Field(
        0.0,
        description="net log-odds of contributions against their input's declared direction: "
        "folded here, never shown as reasons",
    )
    folded: int = Field(0, description="how many contributions were folded into other_factors")
    horizon: str
    summary: str
    reasons: list[ReasonOut] = Field(description="what raised the estimate")
    protective: list[ReasonOut] = Field(description="what lowered the estimate")
    domains: dict[str, float] = Field(description="log-odds contribution of each domain")
    data_as_of: dict[str, str] = Field(description="latest record date of each source")
    snapshot_as_of: str
    caveat: str
    panel_list: PanelListPlace = Field(description="their place on this month's list")
    changes: ChangesOut | None = Field(
        None,
        description="what changed since the previous snapshot (null: no previous snapshot "
        "is served, or the young person was not on it)",
    )
    coverage: CoverageOut = Field(description="what the estimate draws on and cannot see")


class ExplainResponse(BaseModel):
    person_id: str
    local_authority: str
    purpose: str
    snapshot_as_of: str
    cohort: CohortOut
    outcomes: dict[str, OutcomeExplanation]
    caveat: str


class OutcomeScore(BaseModel):
    probability: float
    band: str


class RowScore(BaseModel):
    row: int
    scores: dict[str, OutcomeScore]


class ScoreResponse(BaseModel):
    results: list[RowScore]
    model_versions: dict[str, str]
    fairness_verdicts: dict[str, str]


class FeedbackReceipt(BaseModel):
    feedback_id: int
    person_id: str
    outcome: str
    model_version: str
    stored: bool


class BandOut(BaseModel):
    name: str
    lower: float
    observed_rate: float
    meaning: str


class OutcomeCard(BaseModel):
    model: str
    model_version: str
    fairness_verdict: str
    features: int
    bands: list[BandOut]
    card_markdown: str


class ModelCardResponse(BaseModel):
    snapshot_as_of: str
    outcomes: dict[str, OutcomeCard]


class PingResponse(BaseModel):
    ok: bool
