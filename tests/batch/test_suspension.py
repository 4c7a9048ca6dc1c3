"""The monthly batch obeys a switched-off model version (vru-risk issue 15): it writes no
list from it, says why in one line, and writes nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from models.registry import Released, Suspension
from serving.batch import BatchError, check_releasable, score_panels

SUSPENSION = Suspension(
    outcome="victim",
    version="7",
    check="inputs drift",
    figures="PSI 0.41 in Bristol",
    at="2026-12-03T09:00:00+00:00",
    by="vru monitor",
    reason="school inputs moved after the exclusions policy changed",
)


def _released(outcome: str, suspension: Suspension | None) -> Released:
    return Released(
        outcome=outcome,
        name=f"vru-{outcome}",
        version="7",
        verdict="pass",  # a suspended version keeps its fairness verdict
        model=object(),
        run_id=None,
        tags={},
        suspension=suspension,
    )


def test_a_suspended_version_is_refused_with_its_sentence() -> None:
    suspended = _released("victim", SUSPENSION)
    assert suspended.verdict == "pass"
    assert not suspended.releasable
    with pytest.raises(BatchError) as refused:
        check_releasable({"victim": suspended, "perpetrator": _released("perpetrator", None)})
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("vru-victim version 7 is switched off, so no list is written")
    assert SUSPENSION.words() in message
    assert "switched off on 3 December 2026" in message
    assert "(PSI 0.41 in Bristol)" in message
    # the same version, reinstated, is accepted
    check_releasable({"victim": _released("victim", None)})


def test_the_batch_writes_nothing_for_a_suspended_model(tmp_path: Path) -> None:
    out = tmp_path / "panels"
    with pytest.raises(BatchError, match="is switched off"):
        score_panels(
            tmp_path / "no-data",
            dt.date(2025, 1, 1),
            out,
            {"victim": _released("victim", SUSPENSION)},
            {"Bristol": 5},
        )
    assert not out.exists()
