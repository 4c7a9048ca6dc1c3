"""`vru synth` and `vru calibrate` as a user runs them: help, errors, atomic output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from features.vocabulary import LOCAL_AUTHORITIES
from vru.cli import app

runner = CliRunner()
SMALL = ["--people", "1500", "--seed", "3"]


def _no_leftovers(parent: Path) -> None:
    assert [p.name for p in parent.iterdir() if p.name.startswith(".")] == []


def test_help_documents_every_option() -> None:
    result = runner.invoke(app, ["synth", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in ("--out", "--people", "--seed", "--start", "--end", "--no-bias", "--overwrite"):
        assert option in result.output, option
    assert "truth" in result.output
    assert "YYYY-MM" in result.output


def test_console_script_is_installed() -> None:
    vru = Path(sys.executable).parent / "vru"
    done = subprocess.run([vru, "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert "synth" in done.stdout


def test_synth_writes_raw_truth_and_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "pop"
    result = runner.invoke(app, ["synth", *SMALL, "--out", str(out)], terminal_width=200)
    assert result.exit_code == 0, result.output
    for name in ("people", "school_events", "agency_contacts", "incidents"):
        assert pq.read_table(out / "raw" / f"{name}.parquet").num_rows > 0, name
    for name in ("latent", "events", "person_months"):
        assert pq.read_table(out / "truth" / f"{name}.parquet").num_rows > 0, name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["people"] == 1500
    assert manifest["settings"]["bias"]["violence_reporting_rate"] < 1
    for area in LOCAL_AUTHORITIES:
        assert area in result.output, area
    assert "Avon and Somerset" in result.output
    _no_leftovers(tmp_path)


def test_no_bias_is_recorded_in_the_manifest(tmp_path: Path) -> None:
    out = tmp_path / "fair"
    result = runner.invoke(app, ["synth", *SMALL, "--no-bias", "--out", str(out)])
    assert result.exit_code == 0, result.output
    bias = json.loads((out / "manifest.json").read_text())["settings"]["bias"]
    assert bias["violence_reporting_rate"] == 1.0
    assert bias["stop_search_black_ratio"] == 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--people", "-5"], "--people must be a positive number"),
        (["--people", "0"], "--people must be a positive number"),
        (["--seed", "-1"], "--seed must be zero or positive"),
        (["--start", "2020-01", "--end", "2019-06"], "is before --start"),
        (["--start", "2020-13"], "not a month in the form YYYY-MM"),
        (["--start", "2024-01", "--end", "2024-06"], "at least 24 months"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "never"
    result = runner.invoke(app, ["synth", *args, "--out", str(out)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert not out.exists()
    _no_leftovers(tmp_path)


def test_output_under_a_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = runner.invoke(app, ["synth", *SMALL, "--out", str(blocker / "pop")])
    assert result.exit_code == 2
    assert "error: cannot write" in result.stderr
    assert blocker.read_text() == "not a folder"


def test_non_empty_output_is_kept_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "pop"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    result = runner.invoke(app, ["synth", *SMALL, "--out", str(out)])
    assert result.exit_code == 2
    assert "--overwrite" in result.stderr
    assert [p.name for p in out.iterdir()] == ["precious.txt"]


def test_overwrite_replaces_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "pop"
    out.mkdir()
    (out / "old.txt").write_text("old")
    result = runner.invoke(app, ["synth", *SMALL, "--out", str(out), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert not (out / "old.txt").exists()
    assert (out / "raw" / "people.parquet").exists()
    _no_leftovers(tmp_path)


def test_a_failure_while_writing_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import synthetic.generate as generate_module

    calls = {"n": 0}
    real_write = generate_module.pq.write_table

    def flaky_write(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        real_write(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(generate_module.pq, "write_table", flaky_write)
    out = tmp_path / "pop"
    result = runner.invoke(app, ["synth", *SMALL, "--out", str(out)])
    assert result.exit_code == 2
    assert "No space left on device" in result.stderr
    assert not out.exists()
    _no_leftovers(tmp_path)


def test_a_failure_while_overwriting_keeps_the_old_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import synthetic.generate as generate_module

    out = tmp_path / "pop"
    out.mkdir()
    (out / "old.txt").write_text("old")

    def broken_write(*args: object, **kwargs: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(generate_module.pq, "write_table", broken_write)
    result = runner.invoke(app, ["synth", *SMALL, "--out", str(out), "--overwrite"])
    assert result.exit_code == 2
    assert (out / "old.txt").read_text() == "old"
    _no_leftovers(tmp_path)


@pytest.mark.slow
def test_calibrate_prints_the_table_and_writes_markdown(tmp_path: Path) -> None:
    md = tmp_path / "calibration.md"
    result = runner.invoke(
        app, ["calibrate", "--people", "20000", "--markdown", str(md)], terminal_width=200
    )
    # a small population may miss a target (exit 1) but must still report every one
    assert result.exit_code in (0, 1), result.output
    text = md.read_text()
    for target_id in ("E1", "S1", "V1a", "V4", "B1", "E7", "L1"):
        assert f"| {target_id} |" in text
    assert "Calibration" in result.output
