"""`vru fairness gate` refuses bad settings in one line, exit 2, before writing anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vru.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("capacity", "message"),
    [
        ('{"Bristol": -1}', "the panel capacity for Bristol cannot be negative, got -1"),
        (
            '{"Bristol": {"early": 2.5}}',
            "the early-list capacity for Bristol must be a whole number of young people, got 2.5",
        ),
        ('{"Gotham": 5}', "panel capacity names an unknown local authority 'Gotham'"),
    ],
)
def test_a_bad_panel_capacity_is_refused_in_one_line_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capacity: str, message: str
) -> None:
    monkeypatch.setenv("VRU_PROJECT_DIR", str(tmp_path))
    monkeypatch.setenv("VRU_PANEL_CAPACITY", capacity)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = tmp_path / "report"
    result = runner.invoke(app, ["fairness", "gate", "--outcome", "victim", "--out", str(out)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: VRU_PANEL_CAPACITY: ")
    assert message in lines[0]
    assert result.stdout == ""
    # no report folder, no registry, nothing at all in the project folder
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
