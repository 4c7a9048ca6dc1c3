"""`vru fairness audit` on any predictions table (another tool's output too)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fairness.policy import load_policy
from fairness.standalone import (
    MSG_NO_SENSITIVE,
    MSG_NO_THRESHOLD,
    MSG_REFERENCE_ABSENT,
    MSG_REFERENCE_NOT_SENSITIVE,
    MSG_SCORE_OR_DECISION,
    PredictionsError,
    audit_predictions,
)
from vru.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def predictions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(5)
    n = 8_000
    area = rng.choice(["north", "south", "east"], size=n, p=[0.5, 0.3, 0.2])
    risk = rng.beta(1, 20, size=n)
    y = (rng.random(n) < risk).astype(int)
    score = np.clip(risk * np.where(area == "east", 1.6, 1.0), 0, 1)
    frame = pd.DataFrame(
        {"outcome": y, "score": score, "flag": (score > 0.1).astype(int), "area": area}
    )
    folder = tmp_path_factory.mktemp("preds")
    frame.to_parquet(folder / "preds.parquet")
    frame.to_csv(folder / "preds.csv", index=False)
    return folder


def test_audit_of_a_score_writes_tables_and_report_and_fails_the_overstated_area(
    predictions: Path, tmp_path: Path
) -> None:
    out = tmp_path / "audit"
    result = runner.invoke(
        app,
        [
            "fairness",
            "audit",
            "--predictions",
            str(predictions / "preds.parquet"),
            "--label",
            "outcome",
            "--score",
            "score",
            "--threshold",
            "0.1",
            "--sensitive",
            "area",
            "--reference",
            "area=north",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "breach" in result.output
    assert "area = east" in result.output
    table = pd.read_csv(out / "by_group.csv")
    assert set(table["group"]) == {"north", "south", "east"}
    assert json.loads((out / "by_group.json").read_text())[0]["attribute"] == "area"
    html = (out / "report.html").read_text()
    assert "Verdict: fail" in html
    assert '<img src="data:image/png;base64,' in html
    assert json.loads((out / "verdict.json").read_text())["reference"] == {"area": "north"}


def test_audit_of_decisions_from_csv_has_no_calibration_and_passes(
    predictions: Path, tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        [
            "fairness",
            "audit",
            "--predictions",
            str(predictions / "preds.csv"),
            "--label",
            "outcome",
            "--decision",
            "flag",
            "--sensitive",
            "area",
            "--out",
            str(tmp_path / "d"),
        ],
    )
    # only calibration is enforced; without probabilities there is nothing to breach
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "d" / "by_group.csv")
    assert "calibration" not in set(table["metric"])
    # the largest group is the reference unless told otherwise
    assert set(table["reference_group"].dropna()) == {"north"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--score", "score", "--threshold", "0.1", "--decision", "flag"], "either --score"),
        (["--score", "score"], "--score needs --threshold"),
        (["--decision", "nope"], "no column 'nope'"),
        (["--decision", "flag", "--reference", "area=west"], "no row has area = west"),
        (["--decision", "flag", "--reference", "area"], "COLUMN=VALUE"),
        (["--decision", "score"], "every value must be 0 or 1"),
    ],
)
def test_bad_audit_arguments_exit_2_and_write_nothing(
    predictions: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    out = tmp_path / "never"
    result = runner.invoke(
        app,
        [
            "fairness",
            "audit",
            "--predictions",
            str(predictions / "preds.csv"),
            "--label",
            "outcome",
            "--sensitive",
            "area",
            "--out",
            str(out),
            *extra,
        ],
    )
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()


def test_malformed_policy_stops_the_audit(predictions: Path, tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("policy_version: x\nmin_group_size: -1\n")
    result = runner.invoke(
        app,
        [
            "fairness",
            "audit",
            "--predictions",
            str(predictions / "preds.csv"),
            "--label",
            "outcome",
            "--decision",
            "flag",
            "--sensitive",
            "area",
            "--out",
            str(tmp_path / "o"),
            "--policy",
            str(bad),
        ],
    )
    assert result.exit_code == 2
    assert "policy refused" in result.output
    assert "min_group_size" in result.output
    assert not (tmp_path / "o").exists()


def test_the_audit_pipeline_runs_without_the_command_line(
    predictions: Path, tmp_path: Path
) -> None:
    policy, digest = load_policy()
    out = tmp_path / "direct"
    found = audit_predictions(
        predictions / "preds.parquet",
        label="outcome",
        sensitive=["area"],
        out_dir=out,
        policy=policy,
        policy_hash=digest,
        score="score",
        threshold=0.1,
        reference={"area": "north"},
    )
    assert found.verdict == "fail"
    assert found.rows == 8_000
    assert found.reference == {"area": "north"}
    breaches = found.rules.breaches
    assert ("calibration-within-groups", "east") in set(
        zip(breaches["rule"], breaches["group"], strict=True)
    )
    assert found.report == out / "report.html"
    assert {p.name for p in out.iterdir()} == {
        "by_group.csv",
        "by_group.json",
        "rules.csv",
        "verdict.json",
        "report.html",
    }
    assert json.loads((out / "verdict.json").read_text())["verdict"] == "fail"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"score": "score", "threshold": 0.1, "decision": "flag"}, MSG_SCORE_OR_DECISION),
        ({"score": "score"}, MSG_NO_THRESHOLD),
        ({"decision": "flag", "sensitive": []}, MSG_NO_SENSITIVE),
        (
            {"decision": "flag", "reference": {"region": "north"}},
            MSG_REFERENCE_NOT_SENSITIVE.format(column="region"),
        ),
        (
            {"decision": "flag", "reference": {"area": "west"}},
            MSG_REFERENCE_ABSENT.format(column="area", value="west"),
        ),
    ],
)
def test_refusals_are_the_module_messages_and_write_nothing(
    predictions: Path, tmp_path: Path, options: dict[str, object], message: str
) -> None:
    policy, digest = load_policy()
    out = tmp_path / "never"
    arguments: dict[str, object] = {"sensitive": ["area"], **options}
    with pytest.raises(PredictionsError) as caught:
        audit_predictions(
            predictions / "preds.csv",
            label="outcome",
            out_dir=out,
            policy=policy,
            policy_hash=digest,
            **arguments,
        )
    assert str(caught.value) == message
    assert not out.exists()
