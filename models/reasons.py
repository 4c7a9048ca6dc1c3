"""Reasons a practitioner can read, check against the records, and dispute.

Contributions (log-odds, from :mod:`models.explain`) become sentences from the
feature registry, with the value and the date of the latest record behind it
("3 suspensions in the last 12 months — school records, latest 2024-03-02").

What is shown follows the direction the registry declares for each input
(:func:`against_direction`): "what raised it" is a record that is present (or
recent) for an input that raises risk; "what lowered it" is an input that lowers
risk or the absence or age of a risk record ("no suspensions in the last 12
months"). A contribution that still runs against its declared direction (a present
risk record pushing the estimate down) is folded into "other factors", never
presented as a reason, and counted.

The explanation leads with the band and what it means in absolute terms ("about 23
in 100 young people with similar records …"); the individual estimate comes with
an interval. Only model inputs can appear, so no protected characteristic ever
becomes a reason.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from features.coverage import Coverage, coverage
from features.vocabulary import OUTCOMES, SOURCE_TITLES

CAVEAT = (
    "This is a prompt for professional review, not a decision. It rests on recorded "
    "information, which can be incomplete, out of date or biased, and most young people "
    "with similar records are not involved in serious violence."
)
NO_FACTORS = (
    "No recorded risk factors stand out: the estimate is close to the rate for young people "
    "of the same age with no relevant records."
)
#: when nothing on record moved the estimate since the previous look
NO_CHANGE = "nothing new on record moved the estimate noticeably"
#: contributions smaller than this (log-odds) are not worth a sentence
MIN_CONTRIBUTION = 0.02
HORIZON = "12 months"


@dataclass(frozen=True)
class Reason:
    """One sentence with the contribution behind it."""

    feature: str
    domain: str
    sentence: str
    contribution: float
    value: float | None
    latest: str | None


@dataclass(frozen=True)
class Change:
    """One input whose contribution moved since the previous look, with the records
    behind the move ("2 new missing episodes since 2024-12-01")."""

    feature: str
    sentence: str
    #: contribution now minus contribution then (log-odds)
    moved: float
    then: float | None
    now: float | None


@dataclass(frozen=True)
class Changes:
    """What changed since the young person was last scored (previous monthly run or
    snapshot): the band then and now, and the inputs whose contributions moved most."""

    since: str
    band_then: str
    band_now: str
    probability_then: float
    probability_now: float
    moved: list[Change]
    #: the band then and now in one sentence ("band was 'raised' on 2024-12-01, now 'high'")
    summary: str = ""
    #: how the earlier band was found (the current model on the records as they stood then)
    note: str = ""

    def lines(self) -> list[str]:
        """What changed, as plain-text lines."""
        lines = [f"What changed since {self.since}:", f"  {self.summary}."]
        if self.note:
            lines[-1] += f" {self.note}"
        lines += [f"  • {c.sentence}" for c in self.moved] or [f"  • {NO_CHANGE}"]
        return lines


@dataclass(frozen=True)
class Explanation:
    """Everything a practitioner needs to read and challenge one score."""

    person_id: str | None
    as_of: str | None
    outcome: str
    probability: float
    band: str
    band_meaning: str
    reasons: list[Reason]
    protective: list[Reason]
    domains: dict[str, float]
    data_as_of: dict[str, str]
    horizon: str = HORIZON
    caveat: str = CAVEAT
    summary: str = field(default="")
    #: the individual estimate's 90% interval (resampled calibrators), when known
    probability_interval: tuple[float, float] | None = None
    #: the estimates the band holds: from its lower edge to the next band's (None: no upper)
    band_range: tuple[float, float | None] | None = None
    #: the net log-odds of contributions folded away because they run against their
    #: input's declared direction (never shown as reasons), and how many there were
    other_factors: float = 0.0
    folded: int = 0
    #: since the previous look (None: not scored then, or no previous snapshot given)
    changes: Changes | None = None
    #: what the model sees and cannot see (from the data contract), with as-of dates
    coverage: Coverage | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def headline(self) -> str:
        """The band and what it means, first: "… band 'high' — about 8 in 100 young people
        with similar records were …"."""
        return (
            f"{OUTCOMES[self.outcome].heading} within {self.horizon}: band '{self.band}' — "
            f"{self.band_meaning}."
        )

    def estimate_sentence(self) -> str:
        """The individual estimate, with its interval when known, placed within its band
        (so that the band's rate and the estimate can be read together)."""
        estimate = f"This young person's own estimate is {percent(self.probability)}"
        if self.probability_interval is not None:
            low, high = self.probability_interval
            if percent(low) != percent(high):  # never "between under 0.1% and under 0.1%"
                estimate += f" (likely between {percent(low)} and {percent(high)})"
        if self.band_range is None:
            return estimate + "."
        lower, upper = self.band_range
        span = (
            f"from {percent(lower)} upwards"
            if upper is None
            else f"from {percent(lower)} to {percent(upper)}"
            if lower > 0
            else f"below {percent(upper)}"
        )
        return (
            f"{estimate}, in a band that holds estimates {span}: the band's rate is the "
            "average of everyone in it."
        )

    def _changes_lines(self) -> list[str]:
        """What changed since the previous look (nothing when not scored then)."""
        return [] if self.changes is None else self.changes.lines()

    def _coverage_lines(self) -> list[str]:
        """What the estimate draws on, with each source's date, and what it cannot see
        (the sources' dates alone when there is no coverage)."""
        if self.coverage is not None:
            return self.coverage.lines()
        if not self.data_as_of:
            return []
        fresh = ", ".join(f"{SOURCE_TITLES.get(k, k)} to {v}" for k, v in self.data_as_of.items())
        return [f"Data: {fresh}."]

    def text(self) -> str:
        """Plain text for a panel pack or a terminal."""
        lines = [self.headline(), self.estimate_sentence()]
        if self.reasons:
            lines.append("What raised the estimate:")
            lines += [f"  • {r.sentence}" for r in self.reasons]
        else:
            lines.append(NO_FACTORS)
        if self.protective:
            lines.append("What lowered it:")
            lines += [f"  • {r.sentence}" for r in self.protective]
        lines += self._changes_lines()
        lines += self._coverage_lines()
        lines.append(self.caveat)
        return "\n".join(lines)


def percent(p: float) -> str:
    """A probability as a reader's percentage: "23%", "0.4%", "under 0.1%", "over 99%"
    (never "100%": no estimate is a certainty)."""
    if p < 0.001:
        return "under 0.1%"
    if p >= 0.995:
        return "over 99%"
    if p < 0.1:
        return f"{p:.1%}"
    return f"{p:.0%}"


def against_direction(
    contributions: np.ndarray, values: np.ndarray, directions: np.ndarray
) -> np.ndarray:
    """Which contributions run against their input's declared direction (rows × inputs).

    ``values`` are the records as they are (NaN: never recorded), ``directions`` +1
    (raises risk), −1 (lowers risk) or 0 (either). Against its direction is:

    - a raises-risk input pushing the estimate **up** when there is no record (or the
      value is zero or a fall), or **down** when a record is present;
    - a lowers-risk input ("days since the last", "age at the first") pushing it **up**
      when there has never been a record.

    This is the one definition: explanations fold these away, training counts their mass.
    """
    c = np.asarray(contributions, dtype=float)
    v = np.asarray(values, dtype=float)
    d = np.asarray(directions)[None, :]
    known = ~np.isnan(v)
    positive = known & (np.nan_to_num(v) > 0)
    raises = d > 0
    lowers = d < 0
    up, down = c > 0, c < 0
    return (raises & ((up & ~positive) | (down & positive))) | (lowers & up & ~known)


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _latest(row: Mapping[str, object], column: str | None, as_of: dt.date | None) -> str | None:
    if column is None or as_of is None or column not in row or _is_missing(row[column]):
        return None
    return (as_of - dt.timedelta(days=int(row[column]))).isoformat()  # type: ignore[call-overload]


def _absent(template: str) -> str:
    """ "no record of suspensions in the last 12 months (school records)"."""
    core, _, source = template.partition(" — ")
    core = core.replace("{value} ", "").replace(" {value}", "")
    source = source.split(",")[0] if source else ""
    return f"no record of {core}" + (f" ({source})" if source else "")


#: the plural a registry sentence opens with (after "more" or "fewer", if any), and its
#: singular for a value of 1
_SINGULAR = (
    ("suspensions or exclusions", "suspension or exclusion"),
    ("police stops and searches", "police stop and search"),
    ("missing episodes", "missing episode"),
    ("suspect records", "suspect record"),
    ("A&E attendances", "A&E attendance"),
    ("homelessness presentations", "homelessness presentation"),
    ("missing-from-home episodes", "missing-from-home episode"),
    ("permanent exclusions", "permanent exclusion"),
    ("youth justice orders", "youth justice order"),
    ("suspensions", "suspension"),
    ("agencies", "agency"),
    ("incidents", "incident"),
    ("referrals", "referral"),
    ("times", "time"),
    ("days", "day"),
)


#: words that may stand between the number and the plural ("1 fewer suspension")
_COMPARATIVES = ("more ", "fewer ")


def _one(template: str) -> str:
    """The template read for a value of 1 ("1 agency involved", not "1 agencies"; "1 fewer
    suspension", not "1 fewer suspensions")."""
    head, slot, rest = template.partition("{value} ")
    if not slot:
        return template
    comparative = next((c for c in _COMPARATIVES if rest.startswith(c)), "")
    rest = rest[len(comparative) :]
    for plural, singular in _SINGULAR:
        if rest.startswith(plural + " "):
            return head + slot + comparative + singular + rest[len(plural) :]
    return template


def sentence_for(name: str, info: Mapping[str, object], value: object, latest: str | None) -> str:
    """The registry sentence for one feature value."""
    template = str(info["template"])
    absent = str(info.get("absent") or "") or _absent(template)
    if _is_missing(value):
        return absent
    number = float(value)  # type: ignore[arg-type]
    if name.endswith("_flag"):
        if number < 1:
            return absent
        return template.format(value=int(number), latest=latest or "date not recorded")
    if name.endswith("_escalation"):
        if number == 0:
            return absent
        if number < 0:
            template = template.replace(" more ", " fewer ", 1)
            number = -number
    elif number == 0 and not name.startswith("demo_"):
        return absent
    shown = int(number) if float(number).is_integer() else round(number, 1)
    if shown == 1:
        template = _one(template)
    return template.format(value=shown, latest=latest or "date not recorded")


def build_explanation(
    *,
    outcome: str,
    row: Mapping[str, object],
    contributions: Mapping[str, float],
    registry: Mapping[str, Mapping[str, object]],
    probability: float,
    band: str,
    band_meaning: str,
    top_k: int = 5,
    data_as_of: Mapping[str, dt.date] | None = None,
    against: Collection[str] | None = None,
    interval: tuple[float, float] | None = None,
    band_range: tuple[float, float | None] | None = None,
) -> Explanation:
    """Turn one row's contributions into an :class:`Explanation`.

    Parameters
    ----------
    row
        Feature values of the row (model inputs and the support columns holding
        days since the latest record), with ``person_id`` and ``as_of`` if known.
    contributions
        Log-odds contribution of each model input.
    registry
        Registry entries (``template``, ``domain``, ``direction``, ``latest_from``) by
        feature.
    against
        The inputs whose contributions run against their declared direction
        (:func:`against_direction`, computed here when not given): folded into
        ``other_factors``, never shown as reasons.
    interval
        The individual estimate's interval, when known.
    """
    if against is None:
        names = list(contributions)
        against = _against_one(row, contributions, registry, names)
    folded = set(against)
    as_of_value = row.get("as_of")
    as_of = pd.Timestamp(str(as_of_value)).date() if not _is_missing(as_of_value) else None

    def reason(name: str, weight: float) -> Reason:
        info = registry[name]
        value = row.get(name)
        latest_column = info.get("latest_from")
        latest = _latest(row, str(latest_column) if latest_column else None, as_of)
        return Reason(
            feature=name,
            domain=str(info["domain"]),
            sentence=sentence_for(name, info, value, latest),
            contribution=round(float(weight), 4),
            value=None if _is_missing(value) else float(value),  # type: ignore[arg-type]
            latest=latest,
        )

    def present(name: str) -> bool:
        value = row.get(name)
        return not _is_missing(value) and (float(value) != 0 or name.startswith("demo_"))  # type: ignore[arg-type]

    def first_distinct(candidates: list[Reason]) -> list[Reason]:
        seen: set[str] = set()
        kept = []
        for r in candidates:
            if r.sentence not in seen:
                seen.add(r.sentence)
                kept.append(r)
        return kept[:top_k]

    ranked = sorted(contributions.items(), key=lambda kv: (-kv[1], kv[0]))
    # a reason for concern must be something on record a practitioner can check;
    # an absence can only be protective
    # and nothing that runs against its declared direction is ever a reason
    raising = first_distinct(
        [
            reason(n, w)
            for n, w in ranked
            if w >= MIN_CONTRIBUTION and present(n) and n not in folded
        ]
    )
    lowering = first_distinct(
        [reason(n, w) for n, w in reversed(ranked) if w <= -MIN_CONTRIBUTION and n not in folded]
    )
    domains: dict[str, float] = {}
    for name, weight in contributions.items():
        if name in folded:
            continue
        domain = str(registry[name]["domain"])
        domains[domain] = round(domains.get(domain, 0.0) + float(weight), 4)
    other = float(sum(float(contributions[n]) for n in folded))
    person = row.get("person_id")
    return Explanation(
        person_id=None if _is_missing(person) else str(person),
        as_of=as_of.isoformat() if as_of else None,
        outcome=outcome,
        probability=float(probability),
        band=band,
        band_meaning=band_meaning,
        reasons=raising,
        protective=lowering,
        domains=dict(sorted(domains.items())),
        data_as_of={k: v.isoformat() for k, v in (data_as_of or {}).items()},
        summary=raising[0].sentence if raising else NO_FACTORS,
        probability_interval=None if interval is None else (float(interval[0]), float(interval[1])),
        band_range=band_range,
        other_factors=round(other, 4),
        folded=len(folded),
        coverage=coverage(data_as_of),
    )


def contradicting(explanation: Explanation, directions: Mapping[str, int | None]) -> list[Reason]:
    """The reasons of ``explanation`` shown against their input's declared direction, read
    from the reason's own value and sign (an audit of what is shown; always empty when the
    folding works): a raising reason with no record behind it, or a lowering reason that is
    a risk record present."""
    wrong = []
    for r in explanation.reasons:
        d = directions.get(r.feature) or 0
        absent = r.value is None or r.value <= 0
        if r.contribution <= 0 or (d > 0 and absent) or (d < 0 and r.value is None):
            wrong.append(r)
    for r in explanation.protective:
        d = directions.get(r.feature) or 0
        if r.contribution >= 0 or (d > 0 and not (r.value is None or r.value <= 0)):
            wrong.append(r)
    return wrong


def registry_directions(
    registry: Mapping[str, Mapping[str, object]], names: Sequence[str]
) -> np.ndarray:
    """The declared direction of each input, from registry entries (0 when not declared)."""
    return np.array([int(str(registry[n].get("direction") or 0)) for n in names], dtype=int)


def _against_one(
    row: Mapping[str, object],
    contributions: Mapping[str, float],
    registry: Mapping[str, Mapping[str, object]],
    names: Sequence[str],
) -> set[str]:
    values = np.array(
        [[np.nan if _is_missing(row.get(n)) else float(row[n]) for n in names]]  # type: ignore[arg-type]
    )
    weights = np.array([[float(contributions[n]) for n in names]])
    mask = against_direction(weights, values, registry_directions(registry, names))[0]
    return {n for n, m in zip(names, mask, strict=True) if m}
