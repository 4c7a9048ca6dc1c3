"""The fairness verdict a registered model version carries, read from its tags.

This is the contract between the gate (which writes the tags) and everything
that releases a model's output (promotion, the service, panel lists): a version
may be used for people only if its verdict is ``pass`` or a named person
overrode a failure with a recorded reason.
"""

from __future__ import annotations

from collections.abc import Mapping

#: model-version tag holding the gate's verdict: "not run", "pass", "fail" (or "error")
GATE_TAG = "fairness_gate"
#: the same gate against the synthetic truth, where one was run: a failure there also blocks
TRUTH_GATE_TAG = "fairness_gate_truth"
POLICY_VERSION_TAG = "fairness_policy_version"
POLICY_HASH_TAG = "fairness_policy_sha256"
REPORT_TAG = "fairness_report"
APPROVER_TAG = "fairness_override_approver"
REASON_TAG = "fairness_override_reason"
OVERRIDE_TAG = "fairness_override"
#: verdicts that allow a version to become champion and to score people
RELEASABLE = ("pass", "override")


def release_verdict(tags: Mapping[str, str]) -> str:
    """``pass``, ``override`` (a failure released by a named approver), ``fail`` or ``not run``.

    A pass against the recorded outcomes does not count when the same model failed
    against the synthetic truth: recording bias can make a biased model look fair.
    """
    gate = tags.get(GATE_TAG, "not run")
    if tags.get(TRUTH_GATE_TAG) in ("fail", "error") and gate == "pass":
        gate = tags[TRUTH_GATE_TAG]
    if gate == "pass":
        return "pass"
    if tags.get(OVERRIDE_TAG) == "true" and tags.get(APPROVER_TAG) and tags.get(REASON_TAG):
        return "override"
    return gate if gate in ("fail", "error") else "not run"


def releasable(tags: Mapping[str, str]) -> bool:
    """May this version's output reach practitioners and panels?"""
    return release_verdict(tags) in RELEASABLE
