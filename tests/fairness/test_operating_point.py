"""The gate audits the lists panels actually get: each list at its own operating point.

Its decision is models.panels' selection (`select_lists`), each list is audited on its
own cohort, and the verdict fails if any list fails.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from fairness.gate import (
    AuditRun,
    GateError,
    GateResult,
    ListAudit,
    ListDecision,
    audit_lists,
    gate_model,
    operating_decision,
)
from fairness.policy import DEFAULT_POLICY, PolicyError, load_policy, parse_policy
from fairness.rules import RuleCheck
from features.vocabulary import ALREADY_INVOLVED, NOT_YET_INVOLVED
from models.bands import Band
from models.panels import PanelCapacity, select_lists

BANDS = [
    Band("low", 0.0, 0.01, 1000, 10),
    Band("raised", 0.08, 0.1, 200, 20),
    Band("high", 0.25, 0.3, 50, 15),
    Band("very high", 0.45, 0.5, 10, 5),
]
#: known list 2 per area, early list 1 per area
CAPACITY = PanelCapacity(known={"Avon": 2, "Brue": 2}, early={"Avon": 1, "Brue": 1})
KNOWN, EARLY = ALREADY_INVOLVED, NOT_YET_INVOLVED


@pytest.fixture
def scored() -> pd.DataFrame:
    """Rows deliberately out of order; ties inside capacity and at its edge."""
    rows = [
        # Avon, already involved: four in the high bands, capacity 2 — only two are named
        ("a3", "Avon", 0.40, KNOWN),
        ("a1", "Avon", 0.50, KNOWN),
        ("a4", "Avon", 0.30, KNOWN),
        ("a2", "Avon", 0.40, KNOWN),  # tied with a3: a2 wins the second place by id
        # Avon, not yet involved: the early list ranks them apart from the known list
        ("a6", "Avon", 0.05, EARLY),
        ("a5", "Avon", 0.45, EARLY),
        # Brue, already involved: one person, capacity 2
        ("b1", "Brue", 0.10, KNOWN),
        # Brue, not yet involved: three tied for one early place
        ("b4", "Brue", 0.10, EARLY),
        ("b2", "Brue", 0.10, EARLY),
        ("b3", "Brue", 0.10, EARLY),
    ]
    return pd.DataFrame(rows, columns=["person_id", "local_authority", "probability", "cohort"])


def _ids(scored: pd.DataFrame, mask: np.ndarray) -> set[str]:
    return set(scored.loc[mask, "person_id"])


def test_the_default_operating_point_is_each_list_within_its_capacity(
    scored: pd.DataFrame,
) -> None:
    policy, _ = load_policy()
    assert policy.operating_point == "panel"
    decisions = operating_decision(scored, policy, BANDS, CAPACITY)
    assert list(decisions) == ["known", "early"]
    known, early = decisions["known"], decisions["early"]
    # each list audits its own cohort
    assert _ids(scored, known.rows) == {"a1", "a2", "a3", "a4", "b1"}
    assert _ids(scored, early.rows) == {"a5", "a6", "b2", "b3", "b4"}
    assert not (known.rows & early.rows).any()
    # flagged = named to the panel: within capacity, nobody beyond it (a3, a4 are in the
    # high bands but beyond the known list's capacity of 2)
    assert _ids(scored, known.flagged) == {"a1", "a2", "b1"}
    assert _ids(scored, early.flagged) == {"a5", "b2"}
    # the same selection the batch makes
    lists = select_lists(scored, CAPACITY)
    for key, decision in decisions.items():
        expected = (lists["within_capacity"] & (lists["list"] == key)).to_numpy(dtype=bool)
        np.testing.assert_array_equal(decision.flagged, expected)
    assert known.words == (
        "the known list: each local authority's 2 highest estimates among young people "
        "already known to services for serious violence"
    )
    assert early.words == (
        "the early-identification list: each local authority's 1 highest estimate among "
        "young people with no serious-violence record yet"
    )


def test_the_cohort_can_be_passed_or_derived_from_the_involvement_features(
    scored: pd.DataFrame,
) -> None:
    policy, _ = load_policy()
    given = operating_decision(
        scored.drop(columns="cohort"), policy, BANDS, CAPACITY, cohort=scored["cohort"]
    )
    counts = np.where(scored["cohort"] == KNOWN, 1.0, 0.0)
    features = scored.drop(columns="cohort").assign(
        incidents_all_sv_victim_count=counts, incidents_all_sv_suspect_count=np.nan
    )
    derived = operating_decision(features, policy, BANDS, CAPACITY)
    for key in ("known", "early"):
        np.testing.assert_array_equal(given[key].flagged, derived[key].flagged)
        np.testing.assert_array_equal(given[key].rows, derived[key].rows)


def test_a_plain_capacity_mapping_sets_the_known_list_and_the_early_list_keeps_its_default(
    scored: pd.DataFrame,
) -> None:
    policy, _ = load_policy()
    decisions = operating_decision(scored, policy, BANDS, {"Avon": 1, "Brue": 1})
    assert _ids(scored, decisions["known"].flagged) == {"a1", "b1"}
    # default early capacity (20) names everyone in the early cohort
    assert _ids(scored, decisions["early"].flagged) == {"a5", "a6", "b2", "b3", "b4"}
    uneven = PanelCapacity(known={"Avon": 3, "Brue": 1}, early={"Avon": 0, "Brue": 0})
    words = operating_decision(scored, policy, BANDS, uneven)
    assert "each local authority's highest estimates up to its capacity (1–3) among" in (
        words["known"].words
    )
    assert words["early"].words == (
        "the early-identification list: nobody named (capacity 0) among young people with "
        "no serious-violence record yet"
    )
    assert not words["early"].flagged.any()


def test_band_point_audits_everyone_at_or_above_the_band(scored: pd.DataFrame) -> None:
    policy, _ = load_policy()
    band = policy.model_copy(update={"operating_point": "band", "band": "very high"})
    decisions = operating_decision(scored, band, BANDS, {})
    assert list(decisions) == ["all"]
    assert decisions["all"].rows.all()
    assert _ids(scored, decisions["all"].flagged) == {"a1", "a5"}
    assert decisions["all"].words == "estimate at or above the 'very high' band (45.00%)"


def test_an_area_without_capacity_or_a_model_without_the_band_stops_the_gate(
    scored: pd.DataFrame,
) -> None:
    policy, _ = load_policy()
    with pytest.raises(GateError, match="no panel capacity for Brue"):
        operating_decision(scored, policy, BANDS, {"Avon": 2})
    band = policy.model_copy(update={"operating_point": "band"})
    with pytest.raises(GateError, match="no 'high' band"):
        operating_decision(scored, band, BANDS[:2], CAPACITY)


def test_a_bad_capacity_is_refused_in_one_line_before_anything_runs() -> None:
    policy, digest = load_policy()
    with pytest.raises(GateError) as caught:
        gate_model(
            outcome="victim",
            version="1",
            model=None,  # type: ignore[arg-type]  # never reached: the capacity is refused first
            data_dir=DEFAULT_POLICY.parent,
            policy=policy,
            policy_hash=digest,
            capacity={"Bristol": -1},
        )
    assert str(caught.value) == "the panel capacity for Bristol cannot be negative, got -1"


def test_the_capacity_point_is_refused_naming_the_valid_ones() -> None:
    raw = yaml.safe_load(DEFAULT_POLICY.read_text())
    raw["operating_point"] = "capacity"
    with pytest.raises(PolicyError) as caught:
        parse_policy(yaml.safe_dump(raw, allow_unicode=True), "old-policy.yaml")
    text = str(caught.value)
    assert text.startswith("old-policy.yaml: operating_point: 'capacity' is now part of 'panel'")
    assert text.endswith("must be 'panel' or 'band'")
    assert "\n" not in text


# ------------------------------------------------------------------ the verdict of the lists


def _rules(*statuses: str) -> RuleCheck:
    return RuleCheck(pd.DataFrame({"enforce": [True] * len(statuses), "status": list(statuses)}))


def _audit(key: str, **verdicts: RuleCheck) -> ListAudit:
    audit = ListAudit(key, f"{key} words", 10, 2)
    audit.runs = {k: AuditRun(k, pd.DataFrame(), rules) for k, rules in verdicts.items()}
    return audit


def test_the_verdict_fails_if_any_lists_deciding_audit_fails() -> None:
    policy, digest = load_policy()
    result = GateResult("victim", "3", policy, digest, pd.Timestamp("2025-01-01").date())
    # against the recorded outcomes both lists pass; against the truth the early list fails
    result.lists = {
        "known": _audit("known", recorded=_rules("pass"), truth=_rules("pass")),
        "early": _audit("early", recorded=_rules("pass"), truth=_rules("breach")),
    }
    assert result.kinds == ("recorded", "truth")
    assert result.decided_against == "truth"
    assert {k: run.against for k, run in result.deciding.items()} == {
        "known": "truth",
        "early": "truth",
    }
    assert result.lists["known"].verdict == "pass"
    assert result.lists["early"].verdict == "fail"
    assert result.verdict == "fail"
    assert result.verdict_against("recorded") == "pass"
    assert result.runs_by_list["early"]["truth"].rules.verdict == "fail"
    # a list none of whose checks could be assessed is never a silent pass: too small
    result.lists["early"] = _audit("early", recorded=_rules("too small to assess"))
    result.lists["known"] = _audit("known", recorded=_rules("pass"))
    assert result.decided_against == "recorded"
    assert result.lists["early"].verdict == "too small"
    assert result.verdict == "too small"
    # one assessed check that passes is a pass; a breach anywhere still fails
    result.lists["early"] = _audit("early", recorded=_rules("too small to assess", "pass"))
    assert result.verdict == "pass"
    result.lists["known"] = _audit("known", recorded=_rules("breach"))
    assert result.verdict == "fail"
    result.lists["early"] = _audit("early", recorded=_rules("too small to assess"))
    # a pass that rests on no assessed check says so
    assert result.lists["early"].assessed == 0
    assert result.lists["early"].caveat.startswith("none of its 1 enforced checks could be")
    assert result.lists["known"].assessed == 1
    assert result.lists["known"].caveat == ""
    assert result.operating_point.startswith("each list at its own operating point — known words")


def test_each_list_is_audited_on_its_own_rows() -> None:
    """audit_lists hands each list only its own cohort, with its own flags and outcomes."""
    policy, _ = load_policy()
    policy = policy.model_copy(update={"bootstrap_samples": 0, "min_group_size": 1})
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame(
        {
            "demo_asof_age_years": rng.integers(10, 25, n),
            "sex": rng.choice(["male", "female"], n),
            "ethnicity": rng.choice(["White", "Black"], n),
            "local_authority": rng.choice(["Bristol", "Somerset"], n),
            "imd_decile": rng.integers(1, 11, n),
            "sen_status": "none",
            "contacts_all_looked_after_flag": 0,
        }
    )
    known_rows = np.arange(n) < 100
    probability = np.where(known_rows, 0.4, 0.02)
    recorded = (rng.random(n) < probability).astype(int)
    flagged = (known_rows & (np.arange(n) < 10)) | (np.arange(n) == 200)
    decisions = {
        "known": ListDecision("known", known_rows, flagged & known_rows, "known"),
        "early": ListDecision("early", ~known_rows, flagged & ~known_rows, "early"),
    }
    lists = audit_lists(frame, probability, decisions, policy, recorded=recorded)
    for key, rows in (("known", known_rows), ("early", ~known_rows)):
        audit = lists[key]
        assert audit.audited == int(rows.sum())
        assert audit.flagged == int((flagged & rows).sum())
        table = audit.runs["recorded"].table
        overall = table[(table["attribute"] == "sex")].groupby("group")["n"].first().sum()
        assert overall == rows.sum()
        mean = table[
            (table["attribute"] == "local_authority") & (table["metric"] == "mean_predicted")
        ]
        assert np.allclose(mean["value"], probability[rows][0])
    assert "truth" not in lists["known"].runs
    empty = {"known": ListDecision("known", np.zeros(n, bool), np.zeros(n, bool), "known")}
    with pytest.raises(GateError, match="nobody in the cohort of the known list"):
        audit_lists(frame, probability, empty, policy, recorded=recorded)
