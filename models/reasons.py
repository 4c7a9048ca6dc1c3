"""Reasons a practitioner can read, check against the records, and dispute.

Contributions (log-odds, from :mod:`models.explain`) become sentences from the
feature registry, with the value and the date of the latest record behind it
("3 suspensions in the last 12 months — school records, latest 2024-03-02").
Factors that lowered the score are listed separately as protective factors. The
band is stated in absolute terms, with the outcome, the horizon, the as-of date
of each source, and a fixed caveat. Only model inputs can appear, so no
protected characteristic ever becomes a reason.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import pandas as pd

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

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def text(self) -> str:
        """Plain text for a panel pack or a terminal."""
        lines = [
            f"{OUTCOMES[self.outcome].heading} within {self.horizon}: band "
            f"'{self.band}' ({self.probability:.1%}) — {self.band_meaning}.",
        ]
        if self.reasons:
            lines.append("What raised the estimate:")
            lines += [f"  • {r.sentence}" for r in self.reasons]
        else:
            lines.append(NO_FACTORS)
        if self.protective:
            lines.append("What lowered it:")
            lines += [f"  • {r.sentence}" for r in self.protective]
        if self.data_as_of:
            fresh = ", ".join(
                f"{SOURCE_TITLES.get(k, k)} to {v}" for k, v in self.data_as_of.items()
            )
            lines.append(f"Data: {fresh}.")
        lines.append(self.caveat)
        return "\n".join(lines)


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
        Registry entries (``template``, ``domain``, ``latest_from``) by feature.
    """
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
    raising = first_distinct(
        [reason(n, w) for n, w in ranked if w >= MIN_CONTRIBUTION and present(n)]
    )
    lowering = first_distinct([reason(n, w) for n, w in reversed(ranked) if w <= -MIN_CONTRIBUTION])
    domains: dict[str, float] = {}
    for name, weight in contributions.items():
        domain = str(registry[name]["domain"])
        domains[domain] = round(domains.get(domain, 0.0) + float(weight), 4)
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
    )
