"""The policy's rules applied to a by-group table: one status per rule and group.

Each enforced rule is checked for every non-reference group of the attributes it
names: ``pass``, ``breach``, or ``too small to assess`` (never passed silently). An
audit whose every enforced check is too small gives the verdict ``too small``; one where
some protected attribute could not be assessed in any of its groups (no ethnicity group
large enough, say) gives ``insufficient evidence``. Neither releases a model (only a
recorded override can): a pass means every protected attribute was looked at.
Used by the gate (:mod:`fairness.gate`) and the standalone audit
(:mod:`fairness.standalone`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fairness.policy import Policy, Rule

__all__ = [
    "FAIL",
    "INSUFFICIENT",
    "PASS",
    "TOO_SMALL",
    "VERDICTS",
    "RuleCheck",
    "check_rules",
    "worst",
]


PASS, INSUFFICIENT, TOO_SMALL, FAIL = "pass", "insufficient evidence", "too small", "fail"
#: verdicts from best to worst: a gate of several audits takes the worst
VERDICTS = (PASS, INSUFFICIENT, TOO_SMALL, FAIL)
#: an intersection's audit name holds this (``ethnicity × sex``); protected attributes do not
SEPARATOR_MARK = " × "


def worst(verdicts: Iterable[str]) -> str:
    """The worst of several verdicts (``pass`` when there are none)."""
    return max(verdicts, key=VERDICTS.index, default=PASS)


@dataclass
class RuleCheck:
    """Every rule applied to every group, and what it means."""

    table: pd.DataFrame

    @property
    def enforced(self) -> pd.DataFrame:
        return self.table[self.table["enforce"]]

    @property
    def breaches(self) -> pd.DataFrame:
        return self.enforced[self.enforced["status"] == "breach"]

    @property
    def too_small(self) -> pd.DataFrame:
        return self.enforced[self.enforced["status"] == "too small to assess"]

    @property
    def passed(self) -> bool:
        """No enforced rule broken, and at least one could be assessed."""
        return self.verdict == PASS

    @property
    def unassessed(self) -> list[str]:
        """Attributes (not intersections) with enforced checks none of which could be
        assessed: the audit says nothing about them."""
        enforced = self.enforced
        if enforced.empty or "attribute" not in enforced.columns:
            return []
        single = enforced[~enforced["attribute"].astype(str).str.contains(SEPARATOR_MARK)]
        small = single["status"] == "too small to assess"
        by_attribute = small.groupby(single["attribute"], sort=False).all()
        return [str(a) for a, none in by_attribute.items() if none]

    @property
    def verdict(self) -> str:
        """``fail`` on any breach; ``too small`` when every enforced check was too small to
        assess (a list nobody could audit is never silently passed); ``insufficient
        evidence`` when some attribute could not be assessed in any group; else ``pass``."""
        if not self.breaches.empty:
            return FAIL
        enforced = self.enforced
        if len(enforced) and (enforced["status"] == "too small to assess").all():
            return TOO_SMALL
        if self.unassessed:
            return INSUFFICIENT
        return PASS

    def summary(self) -> list[str]:
        """Broken rules in words, one line each."""
        return [
            f"{r.rule}: {r.attribute} = {r.group} — {r.metric} {r.compare} to {r.reference_group} "
            f"is {r.statistic:.3f} ({r.limits})"
            for r in self.breaches.itertuples()
        ]


def check_rules(table: pd.DataFrame, policy: Policy) -> RuleCheck:
    """Apply each rule to each non-reference group of the attributes it names."""
    rows = []
    for rule in policy.rules:
        for attribute in policy.rule_attributes(rule):
            part = table[
                (table["attribute"] == attribute)
                & (table["metric"] == rule.metric)
                & ~table["is_reference"]
            ]
            for r in part.itertuples():
                rows.append(_check_one(rule, r))
    return RuleCheck(pd.DataFrame(rows))


def _check_one(rule: Rule, r: Any) -> dict[str, object]:
    statistic = r.ratio if rule.compare == "ratio" else r.difference
    low = getattr(r, f"{rule.compare}_ci_low", np.nan)
    high = getattr(r, f"{rule.compare}_ci_high", np.nan)
    if r.reference_group is None or (isinstance(r.reference_group, float)):
        status, note = "too small to assess", "no reference group in the data"
    elif not r.assessable:
        status, note = "too small to assess", r.note
    elif not np.isfinite(statistic):
        status, note = "too small to assess", "not defined (no flagged people or outcomes)"
    else:
        status, note = ("pass" if rule.within(float(statistic)) else "breach"), ""
    return {
        "rule": rule.id,
        "enforce": rule.enforce,
        "attribute": r.attribute,
        "group": r.group,
        "reference_group": r.reference_group,
        "metric": rule.metric,
        "compare": rule.compare,
        "statistic": float(statistic) if statistic is not None else np.nan,
        "ci_low": low,
        "ci_high": high,
        "limits": rule.limits_text(),
        "status": status,
        "note": note,
        "n": r.n,
        "events": r.events,
    }


# ------------------------------------------------------------------ groups and decisions
