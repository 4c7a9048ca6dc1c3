"""Typed request and response bodies of the service (pydantic), shared with the web page."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, Field, StrictFloat, StrictInt, StringConstraints

from features.vocabulary import SEXES

__all__ = [
    "AGREE_REASONS",
    "CALIBRATION_INPUTS",
    "DISAGREE_REASONS",
    "PATTERN_RULES",
    "REASONS_FOR",
    "REASON_CODES",
    "ChangeOut",
    "ChangesOut",
    "CohortOut",
    "CoverageOut",
    "ExplainResponse",
    "FeedbackReceipt",
    "InputDomain",
    "ModelCardResponse",
    "MonitoringOut",
    "OutcomeCard",
    "OutcomeExplanation",
    "OutcomeScore",
    "PanelListPlace",
    "PingResponse",
    "ReasonOut",
    "RowScore",
    "ScoreResponse",
    "SourceCoverageOut",
    "input_domains",
    "normalise_person_id",
    "out_of_domain",
    "reason_fits",
    "reason_mismatch",
    "reason_rule_schema",
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
#: the reasons that go with agreeing, and those that go with disagreeing: one rule for the
#: API and the page (:func:`reason_fits`); "other" goes with either
AGREE_REASONS: tuple[str, ...] = (
    "matches professional judgement",
    "already known and supported",
    "other",
)
DISAGREE_REASONS: tuple[str, ...] = (
    "information out of date",
    "information incorrect",
    "disagree with risk level",
    "important context not recorded",
    "other",
)
#: agrees (true or false) → the reason codes that may go with it
REASONS_FOR: Mapping[bool, tuple[str, ...]] = {True: AGREE_REASONS, False: DISAGREE_REASONS}
Outcome = Literal["victim", "perpetrator"]


def reason_fits(agrees: bool, reason_code: str) -> bool:
    """Does ``reason_code`` go with agreeing (``agrees``) or disagreeing (not)?

    "matches professional judgement" is a reason to agree, never to disagree;
    "information incorrect" a reason to disagree, never to agree.
    """
    return reason_code in REASONS_FOR[bool(agrees)]


def reason_mismatch(agrees: bool, reason_code: str) -> str | None:
    """The API's one-line refusal when a known reason code does not go with ``agrees``
    (``None`` when it does, or when the code is unknown: the schema refuses that)."""
    if reason_code not in REASON_CODES or reason_fits(agrees, reason_code):
        return None
    side, other = ("true", "false") if agrees else ("false", "true")
    return (
        f"reason_code '{reason_code}' is a reason to {'disagree' if agrees else 'agree'}, "
        f"so it needs agrees: {other}; with agrees: {side} choose one of: "
        + ", ".join(REASONS_FOR[bool(agrees)])
    )


def reason_rule_schema() -> list[dict[str, object]]:
    """The same rule in the OpenAPI document of ``/feedback`` (an ``anyOf`` of the request
    body): ``agrees: true`` with a reason to agree, or ``false`` with a reason to disagree."""
    return [
        {
            "properties": {
                "agrees": {"type": "boolean", "enum": [agrees]},
                "reason_code": {"type": "string", "enum": list(REASONS_FOR[agrees])},
            }
        }
        for agrees in (True, False)
    ]


def normalise_person_id(value: str) -> str:
    """A young person's ID in its canonical form: white space removed, upper case.

    ``" yp 0029663 "`` → ``"YP0029663"``. The API and the page both look people up (and
    write the access log) with this form, so a lower-case or spaced ID finds them.
    """
    return "".join(value.split()).upper()


def _class(ranges: Iterable[tuple[int, int]], *, negated: bool = False) -> str:
    """A regex character class of code point ranges, spelled ``\\uXXXX``: the one spelling
    pydantic's engine, Python's ``re`` and JSON Schema (ECMA 262) all read the same."""
    body = "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)
    return f"[{'^' if negated else ''}{body}]"


#: characters that reorder how the text around them is displayed (Unicode bidi embeddings,
#: overrides and isolates): in an access log they could make a purpose read otherwise
_BIDI = ((0x202A, 0x202E), (0x2066, 0x2069))
#: C0 and C1 control characters (NUL, escape, …), the line and paragraph separators (one
#: line means one line), and the bidi controls
_CONTROL = ((0x00, 0x1F), (0x7F, 0x9F), (0x2028, 0x2029), *_BIDI)
#: the same without tab, line feed and carriage return (free text may have line breaks)
_TEXT_CONTROL = ((0x00, 0x08), (0x0B, 0x0C), (0x0E, 0x1F), (0x7F, 0x9F), *_BIDI)
#: white space that is not a control character (Unicode White_Space)
_SPACE = (
    (0x20, 0x20),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
)
#: characters nothing is drawn for: Unicode's Default_Ignorable_Code_Point (zero-width
#: space and joiners, word joiner, soft hyphen, byte-order mark, variation selectors,
#: Hangul fillers …) and the blank Braille pattern. Only those below U+10000: beyond it
#: (tags, musical formatting) no pattern spelling reads the same in ECMA 262 and Python
_INVISIBLE = (
    (0xAD, 0xAD),
    (0x34F, 0x34F),
    (0x61C, 0x61C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
)
#: a character a reader can see: a letter, digit, punctuation mark or symbol
_VISIBLE = _class((*_CONTROL, *_SPACE, *_INVISIBLE), negated=True)
_NO_CONTROL = _class(_CONTROL, negated=True)
_NO_TEXT_CONTROL = _class(_TEXT_CONTROL, negated=True)
#: one line with something to read: no control character, at least one visible one
LINE_PATTERN = f"^{_NO_CONTROL}*{_VISIBLE}{_NO_CONTROL}*$"
#: free text: blank, or something to read; line breaks and tabs allowed, other controls not
TEXT_PATTERN = (
    f"^(?:{_class(((0x09, 0x0A), (0x0D, 0x0D), *_SPACE))}*"
    f"|{_NO_TEXT_CONTROL}*{_VISIBLE}{_NO_TEXT_CONTROL}*)$"
)
#: what a refused value must be, by field: the one line a 422 gives instead of the pattern
PATTERN_RULES = {
    "person_id": "must be a visible ID on one line, without control characters",
    "purpose": "must say in visible words why you are looking, on one line without control "
    "characters",
    "text": "must be empty or readable text, without control characters other than line "
    "breaks and tabs",
}
# the same rule in pydantic and in the OpenAPI schema: the pattern is both
PersonId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=LINE_PATTERN)]
Purpose = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=LINE_PATTERN)]
FeedbackText = Annotated[str, StringConstraints(max_length=2000, pattern=TEXT_PATTERN)]
#: what a row holds besides the model inputs: the attribute an estimate is calibrated by,
#: with the values it may take (sex: used only to calibrate, never to rank, never an input)
CALIBRATION_INPUTS: Mapping[str, tuple[str, ...]] = {"sex": SEXES}
#: one row of model inputs: every feature of the model, a number or null (missing), and
#: the young person's recorded sex; strict, so true/false or "1" are refused rather than
#: read as numbers
FeatureRecord = dict[str, StrictFloat | StrictInt | Literal["female", "male"] | None]


@dataclass(frozen=True)
class InputDomain:
    """The values one model input can take, from what kind of feature it is.

    ``minimum`` and ``maximum`` are inclusive (``None``: no bound); every model input is
    a whole number (counts, flags, days, years). ``null`` (missing) is always allowed:
    the model reads it as "never recorded".
    """

    what: str
    minimum: float | None
    maximum: float | None

    def allows(self, value: float) -> bool:
        """Is ``value`` (a number; booleans never reach here) within the domain?"""
        if isinstance(value, float) and not value.is_integer():
            return False  # NaN and infinities too
        if self.minimum is not None and value < self.minimum:
            return False
        return self.maximum is None or value <= self.maximum

    def words(self) -> str:
        """The allowed values in words: ``"a whole number from 10 to 24 (age in years)"``."""
        low, high = self.minimum, self.maximum
        if (low, high) == (0, 1):
            return f"0 or 1 ({self.what})"
        if low is not None and high is not None:
            return f"a whole number from {low:g} to {high:g} ({self.what})"
        if low is not None:
            return f"a whole number of {low:g} or more ({self.what})"
        return f"a whole number ({self.what})"

    def json_schema(self) -> dict[str, object]:
        """The same domain in OpenAPI 3.0 (the document ``/docs.json`` serves)."""
        schema: dict[str, object] = {
            "type": "number",
            "nullable": True,
            "multipleOf": 1,
            "description": self.words(),
        }
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return schema


@functools.cache
def input_domains() -> Mapping[str, InputDomain]:
    """Every model input's domain, derived from the feature registry (the one place).

    The kind of each feature gives it: counts and distinct counts are 0 or more; flags
    (ever recorded, open now) 0 or 1; a rise on the year before any whole number; days
    since the last record from 0 to the "never" value the model reads
    (:data:`features._declare.NEVER_DAYS`); the age at a first record from 0 to the
    "never" age (:data:`features._declare.NEVER_AGE`); the age at the snapshot within the
    population's ages (:data:`features.spine.AGE_MIN_YEARS` to ``AGE_MAX_YEARS``).
    """
    from features._declare import NEVER_AGE, NEVER_DAYS
    from features._engine import (
        Count,
        DaysSinceLast,
        Distinct,
        Escalation,
        EverFlag,
        FirstAge,
        OpenAtAsOf,
    )
    from features.registry import AGE, FEATURES
    from features.spine import AGE_MAX_YEARS, AGE_MIN_YEARS

    domains = {AGE.name: InputDomain("age in years", AGE_MIN_YEARS, AGE_MAX_YEARS)}
    for feature in FEATURES:
        spec, info = feature.spec, feature.info
        if not info.model_input:
            continue
        if isinstance(spec, Count | Distinct):
            domain = InputDomain(f"number of {info.what}", 0, None)
        elif isinstance(spec, EverFlag | OpenAtAsOf):
            domain = InputDomain("a flag", 0, 1)
        elif isinstance(spec, Escalation):
            domain = InputDomain("a rise or fall on the year before", None, None)
        elif isinstance(spec, DaysSinceLast):
            domain = InputDomain(f"days; {NEVER_DAYS:g} means never", 0, NEVER_DAYS)
        elif isinstance(spec, FirstAge):
            domain = InputDomain(f"age in years; {NEVER_AGE:g} means never", 0, NEVER_AGE)
        else:
            raise TypeError(f"{info.name}: no input domain for {type(spec).__name__}")
        domains[info.name] = domain
    return domains


def calibration_words(name: str) -> str:
    """What a calibration input must be, in words."""
    return f"{' or '.join(CALIBRATION_INPUTS[name])} (recorded {name}; used only to calibrate)"


def out_of_domain(
    rows: Sequence[Mapping[str, float | str | None]],
) -> list[tuple[str, str]]:
    """Each value outside its input's domain, as ``("rows.3.name", "rows.3.name: must be
    …, got 1000")``, in row order: a number outside a model input's domain, text where a
    number belongs, or anything but an allowed value for a calibration input (sex).
    Unknown names are left to the feature-list check."""
    domains = input_domains()
    problems = []
    for i, row in enumerate(rows):
        for name, value in row.items():
            field = f"rows.{i}.{name}"
            shown = f"{value:g}" if isinstance(value, float) else str(value)[:20]
            if name in CALIBRATION_INPUTS:
                if value not in CALIBRATION_INPUTS[name]:
                    problems.append(
                        (field, f"{field}: must be {calibration_words(name)}, got {shown}")
                    )
                continue
            domain = domains.get(name)
            if value is None or domain is None:
                continue
            if isinstance(value, str):
                problems.append((field, f"{field}: must be {domain.words()}, got text {shown!r}"))
            elif not domain.allows(value):
                problems.append((field, f"{field}: must be {domain.words()}, got {shown}"))
    return problems


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


class MonitoringOut(BaseModel):
    """The model version's latest monitoring, while it is amber or red."""

    status: Literal["amber", "red"] = Field(description="the month's worst check")
    as_of: str = Field(description="the monitored month's as-of date")
    words: str = Field(description="the note in plain words, to show beside the estimate")


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
    monitoring: MonitoringOut | None = Field(
        None,
        description="the version's latest monitoring when it is amber or red: read the "
        "estimate with it in mind (null: green, or not monitored yet)",
    )


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
