"""A list nobody could audit is never a silent pass: the ``too small`` verdict."""

from __future__ import annotations

import pandas as pd
import pytest

from fairness.rules import FAIL, PASS, TOO_SMALL, RuleCheck, worst
from models.registry import (
    APPROVER_TAG,
    GATE_TAG,
    OVERRIDE_TAG,
    REASON_TAG,
    RELEASABLE,
    TRUTH_GATE_TAG,
    release_verdict,
)


def _check(*statuses: str, enforce: bool = True) -> RuleCheck:
    return RuleCheck(pd.DataFrame({"status": list(statuses), "enforce": [enforce] * len(statuses)}))


@pytest.mark.parametrize(
    ("statuses", "verdict"),
    [
        (("pass", "pass"), PASS),
        (("pass", "too small to assess"), PASS),
        (("too small to assess", "too small to assess"), TOO_SMALL),
        (("too small to assess", "breach"), FAIL),
        (("pass", "breach"), FAIL),
    ],
)
def test_a_verdict_needs_at_least_one_assessed_check(
    statuses: tuple[str, ...], verdict: str
) -> None:
    check = _check(*statuses)
    assert check.verdict == verdict
    assert check.passed is (verdict == PASS)


def test_checks_that_are_not_enforced_never_decide() -> None:
    table = pd.concat([_check("too small to assess").table, _check("breach", enforce=False).table])
    assert RuleCheck(table.reset_index(drop=True)).verdict == TOO_SMALL


def test_several_audits_take_the_worst_verdict() -> None:
    assert worst([PASS, TOO_SMALL, PASS]) == TOO_SMALL
    assert worst([TOO_SMALL, FAIL]) == FAIL
    assert worst([PASS, PASS]) == PASS
    assert worst([]) == PASS


def test_too_small_does_not_release_but_an_override_can() -> None:
    assert release_verdict({GATE_TAG: TOO_SMALL}) == TOO_SMALL
    assert TOO_SMALL not in RELEASABLE
    # a pass on the recorded outcomes does not hide a truth audit nobody could assess
    assert release_verdict({GATE_TAG: PASS, TRUTH_GATE_TAG: TOO_SMALL}) == TOO_SMALL
    overridden = {
        GATE_TAG: TOO_SMALL,
        OVERRIDE_TAG: "true",
        APPROVER_TAG: "Head of Analytics",
        REASON_TAG: "the early list is too small to audit at this capacity; reviewed by hand",
    }
    assert release_verdict(overridden) == "override"


def _by_attribute(*rows: tuple[str, str]) -> RuleCheck:
    return RuleCheck(
        pd.DataFrame(
            {
                "attribute": [a for a, _ in rows],
                "status": [s for _, s in rows],
                "enforce": [True] * len(rows),
            }
        )
    )


def test_an_attribute_nobody_could_assess_is_insufficient_evidence_not_a_pass() -> None:
    """Issue 21, finding 12: the perpetration audit assessed 2 of 45 enforced checks — no
    ethnicity group at all — and passed. A pass now means every protected attribute was
    looked at; intersections (ethnicity × sex) may be too small without blocking."""
    from fairness.rules import INSUFFICIENT

    small = "too small to assess"
    check = _by_attribute(
        ("ethnicity", small), ("ethnicity", small), ("sen", "pass"), ("ethnicity × sex", small)
    )
    assert check.unassessed == ["ethnicity"]
    assert check.verdict == INSUFFICIENT
    assert not check.passed
    # one assessed group is enough for the attribute to count as looked at
    assert _by_attribute(("ethnicity", small), ("ethnicity", "pass")).verdict == PASS
    # an intersection too small everywhere does not make it insufficient
    assert _by_attribute(("ethnicity", "pass"), ("ethnicity × sex", small)).verdict == PASS
    # worse than a pass, better than a list nobody could audit, and never released
    assert worst([PASS, INSUFFICIENT]) == INSUFFICIENT
    assert worst([INSUFFICIENT, TOO_SMALL]) == TOO_SMALL
    assert release_verdict({GATE_TAG: INSUFFICIENT}) == INSUFFICIENT
    assert release_verdict({GATE_TAG: PASS, TRUTH_GATE_TAG: INSUFFICIENT}) == INSUFFICIENT
    assert (
        release_verdict(
            {GATE_TAG: INSUFFICIENT, OVERRIDE_TAG: "true", APPROVER_TAG: "A", REASON_TAG: "R"}
        )
        == "override"
    )


def test_the_ethics_summary_names_every_attribute_it_could_not_assess() -> None:
    from fairness.report import _summary

    small = "too small to assess"
    rules = pd.DataFrame(
        {
            "attribute": ["ethnicity", "ethnicity", "sen", "age_band", "ethnicity × sex"],
            "status": [small, small, "pass", small, small],
            "enforce": [True] * 5,
        }
    )
    (head, unassessed, *_) = _summary({"recorded": (pd.DataFrame(), rules)}, "recorded")
    assert "breaks none of the 5 enforced checks" in head
    assert unassessed.startswith("Not assessed at all: ethnicity, age_band — no group")
    assert "sen" not in unassessed
    assert "ethnicity × sex" not in unassessed
