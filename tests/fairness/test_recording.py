"""What the gate writes: per-list tables, a verdict naming each list, a report with a section
per list — from a small scored snapshot, no training needed."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairness.gate import GateResult, audit_lists, operating_decision
from fairness.policy import load_policy
from fairness.recording import _read_outputs, fairness_section, list_tag, write_outputs
from fairness.report import LIST_NOTES, ReportSection, render_report
from features.vocabulary import LISTS, cohort_of
from models.panels import PanelCapacity

AREAS = ("Bristol", "Somerset")


def _snapshot(n: int = 3_000, seed: int = 5) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """A scored snapshot: the policy's attributes, the involvement features, outcomes.

    Among young people with no record yet, the model over-states Black young people's
    risk 2× (a calibration breach on the early list only); on the known list it is
    calibrated for everyone.
    """
    rng = np.random.default_rng(seed)
    involved = rng.random(n) < 0.3
    black = rng.random(n) < 0.3
    frame = pd.DataFrame(
        {
            "person_id": [f"YP{i:05d}" for i in range(n)],
            "demo_asof_age_years": rng.integers(14, 18, n),
            "sex": rng.choice(["male", "female"], n),
            "ethnicity": np.where(black, "Black", "White"),
            "local_authority": rng.choice(AREAS, n),
            "imd_decile": rng.integers(9, 11, n),
            "sen_status": "none",
            "contacts_all_looked_after_flag": 0,
            "incidents_all_sv_victim_count": np.where(involved, 1.0, 0.0),
            "incidents_all_sv_suspect_count": np.nan,
        }
    )
    truth = np.where(involved, 0.3, 0.1)
    probability = np.where(~involved & black, 2 * truth, truth)
    recorded = (rng.random(n) < truth).astype(int)
    return frame, probability, recorded


@pytest.fixture(scope="module")
def result() -> GateResult:
    policy, digest = load_policy()
    policy = policy.model_copy(
        update={"bootstrap_samples": 0, "min_group_size": 50, "min_events": 5}
    )
    frame, probability, recorded = _snapshot()
    scored = frame[["person_id", "local_authority"]].assign(probability=probability)
    capacity = PanelCapacity.uniform(known=30, early=12, authorities=AREAS)
    decisions = operating_decision(scored, policy, [], capacity, cohort=cohort_of(frame))
    lists = audit_lists(frame, probability, decisions, policy, recorded=recorded)
    flagged = np.zeros(len(frame), dtype=bool)
    for decision in decisions.values():
        flagged |= decision.flagged
    return GateResult(
        "victim",
        "7",
        policy,
        digest,
        dt.date(2025, 1, 1),
        lists=lists,
        capacity=capacity,
        flagged=frozenset(frame.loc[flagged, "person_id"]),
    )


def test_the_early_list_fails_on_its_own_cohort_and_fails_the_gate(result: GateResult) -> None:
    assert result.lists["known"].verdict == "pass"
    assert result.lists["early"].verdict == "fail"
    assert result.verdict == "fail"
    breaches = result.lists["early"].deciding.rules.breaches
    assert set(zip(breaches["attribute"], breaches["group"], strict=True)) >= {
        ("ethnicity", "Black")
    }
    # the union of both lists' named young people: 30 + 12 in each of two areas
    assert len(result.flagged) == 2 * (30 + 12)


def test_write_outputs_names_each_lists_verdict_and_operating_point(
    result: GateResult, tmp_path: Path
) -> None:
    report = write_outputs(result, tmp_path)
    for key in ("known", "early"):
        for kind in ("by_group", "rules"):
            table = pd.read_csv(tmp_path / f"{kind}_{key}_recorded.csv")
            assert len(table)
        records = json.loads((tmp_path / f"by_group_{key}_recorded.json").read_text())
        audited = sum(r["n"] for r in records if r["attribute"] == "sex" and r["metric"] == "tpr")
        assert audited == result.lists[key].audited
    assert not list(tmp_path.glob("*truth*"))
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["verdict"] == "fail"
    assert verdict["decided_against"] == "recorded"
    assert verdict["lists"]["known"]["verdict"] == "pass"
    assert verdict["lists"]["early"]["verdict"] == "fail"
    assert verdict["lists"]["early"]["operating_point"] == (
        "the early-identification list: each local authority's 12 highest estimates among "
        "young people with no serious-violence record yet"
    )
    assert verdict["verdicts_in_words"][1].startswith("the early-identification list: fail (")
    assert verdict["lists"]["early"]["breaches"]["recorded"]
    assert verdict["panel_capacity"] == {la: {"known": 30, "early": 12} for la in AREAS}
    assert verdict["policy_version"] == "2026.12-4"
    # nobody is named in what is written
    written = " ".join(p.read_text() for p in tmp_path.iterdir())
    assert not any(person in written for person in result.flagged)
    html = report.read_text()
    assert html.count('<section id="list-') == 2
    for key in ("known", "early"):
        assert f'<section id="list-{key}">' in html
        assert LISTS[key].purpose.split(".")[0] in html
    assert LIST_NOTES["early"].split(",")[0] in html
    assert "social-care visibility bias" in html
    assert "Verdict: fail" in html


def test_the_model_card_and_the_tags_say_which_list_failed(result: GateResult) -> None:
    card = fairness_section(result, "fairness/recorded")
    assert card.startswith("**Verdict: fail** against the recorded outcomes")
    assert "- The known list: **pass** — operating point: the known list: each local " in card
    assert "- The early-identification list: **fail**" in card
    assert "ethnicity = Black" in card
    assert list_tag("recorded", "early") == "fairness_gate_early"
    assert list_tag("truth", "known") == "fairness_gate_truth_known"


def test_the_report_is_rendered_again_from_what_was_written(
    result: GateResult, tmp_path: Path
) -> None:
    """What `vru promote --override` does: read the folder back, re-render with who and why."""
    first = write_outputs(result, tmp_path).read_text()
    verdict, policy, sections = _read_outputs(tmp_path)
    assert [s.key for s in sections] == ["known", "early"]
    assert sections[1].audited == result.lists["early"].audited
    again = render_report(
        title="again",
        sections=sections,
        policy=policy,
        policy_hash=verdict["policy_sha256"],
        context={},
        override={"approver": "Dr R. Patel", "reason": "pending retraining", "at": "now"},
    )
    assert "released by override (Dr R. Patel)" in again
    for section in ("list-known", "list-early"):
        assert section in first
        assert section in again


def test_a_folder_written_before_the_lists_is_read_as_one_section(
    result: GateResult, tmp_path: Path
) -> None:
    run = result.lists["known"].runs["recorded"]
    run.table.to_csv(tmp_path / "by_group_recorded.csv", index=False)
    run.rules.table.to_csv(tmp_path / "rules_recorded.csv", index=False)
    (tmp_path / "policy.json").write_text(result.policy.model_dump_json())
    old = {"operating_point": "each panel's list", "verdict": "pass", "policy_sha256": "ab"}
    (tmp_path / "verdict.json").write_text(json.dumps(old))
    _, _, sections = _read_outputs(tmp_path)
    assert len(sections) == 1
    assert sections[0].operating_point == "each panel's list"
    assert set(sections[0].runs) == {"recorded"}


def test_a_standalone_table_has_one_section_and_no_list_headings(result: GateResult) -> None:
    run = result.lists["early"].runs["recorded"]
    html = render_report(
        title="t",
        sections=[ReportSection("table", "score ≥ 0.2", {"recorded": run})],
        policy=result.policy,
        policy_hash="ab" * 32,
        context={},
    )
    assert '<th scope="row">Operating point</th><td>score ≥ 0.2</td>' in html
    assert "early-identification" not in html


def test_a_list_whose_checks_are_all_too_small_is_not_presented_as_fair(
    result: GateResult,
) -> None:
    run = result.lists["known"].runs["recorded"]
    small = run.rules.table.assign(status="too small to assess")
    assessed = render_report(
        title="t",
        sections=[ReportSection.for_list("known", "words", {"recorded": run})],
        policy=result.policy,
        policy_hash="ab" * 32,
        context={},
    )
    unassessed = render_report(
        title="t",
        sections=[ReportSection.for_list("known", "words", {"recorded": (run.table, small)})],
        policy=result.policy,
        policy_hash="ab" * 32,
        context={},
    )
    enforced = int(small["enforce"].sum())
    assert f"None of the {enforced} enforced checks could be assessed" in unassessed
    assert "None of the" not in assessed
    assert "Verdict: too small" in unassessed
    assert "Verdict: too small" not in assessed
