"""`vru features` as a user runs it: a table per date, clear refusals, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from features.build import table_columns
from features.vocabulary import LOCAL_AUTHORITIES
from vru.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "pop"
    result = runner.invoke(app, ["synth", "--people", "2500", "--seed", "5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_help_documents_every_option() -> None:
    result = runner.invoke(app, ["features", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in ("--data", "--as-of", "--out", "--overwrite"):
        assert option in result.output
    assert "audit-only" in result.output


def test_builds_a_multi_date_table(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "features.parquet"
    result = runner.invoke(
        app,
        [
            "features",
            "--data",
            str(data_dir),
            "--as-of",
            "2023-01-01,2024-01-01,2025-06-01",
            "--out",
            str(out),
        ],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    table = pq.read_table(out).to_pandas()
    assert list(table.columns) == table_columns()
    assert sorted(table["as_of"].unique()) == list(
        pd.to_datetime(["2023-01-01", "2024-01-01", "2025-06-01"])
    )
    # 2025-06-01 + 12 months runs past the data: labels missing, not 0
    late = table[table["as_of"] == pd.Timestamp("2025-06-01")]
    assert late["sv_victim_12m"].isna().all()
    assert table.loc[table["as_of"] == pd.Timestamp("2023-01-01"), "sv_victim_12m"].notna().all()
    for area in LOCAL_AUTHORITIES:
        assert area in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["features.parquet"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "2024-13-01"], "not a date in the form YYYY-MM-DD"),
        (["--as-of", "2030-01-01"], "after the data ends"),
        (["--data", "/nonexistent/folder"], "no raw tables"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(
    data_dir: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "f.parquet"
    base = ["features", "--data", str(data_dir), "--out", str(out)]
    result = runner.invoke(app, [*base, *args])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
    assert not out.exists()


def test_refused_input_writes_nothing(data_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    (broken / "raw").mkdir(parents=True)
    for name in ("people", "school_events", "agency_contacts", "incidents"):
        frame = pq.read_table(data_dir / "raw" / f"{name}.parquet").to_pandas()
        if name == "agency_contacts":
            frame.loc[frame.index[:2], "contact_type"] = "telepathy"
        frame.to_parquet(broken / "raw" / f"{name}.parquet")
    out = tmp_path / "f.parquet"
    result = runner.invoke(app, ["features", "--data", str(broken), "--out", str(out)])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line.startswith("error: input refused — agency_contacts: column 'contact_type'")
    assert "telepathy" in line
    assert not out.exists()


def test_existing_output_is_kept_without_overwrite(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.parquet"
    out.write_text("precious")
    result = runner.invoke(app, ["features", "--data", str(data_dir), "--out", str(out)])
    assert result.exit_code == 2
    assert "--overwrite" in result.stderr
    assert out.read_text() == "precious"


@pytest.mark.parametrize("column", ["event_date", "recorded_date"])
def test_a_record_dated_after_the_extract_is_refused_and_cannot_move_the_end(
    data_dir: Path, tmp_path: Path, column: str
) -> None:
    """Issue 21, finding 7: one incident dated 2099 moved "the end of the data", so an
    as-of date of 2030 was scored. The contract now refuses it, naming table, column and
    row, against the extract date in the data folder's manifest."""
    import datetime as dt
    import shutil

    late = tmp_path / "late"
    shutil.copytree(data_dir, late)
    path = late / "raw" / "incidents.parquet"
    frame = pq.read_table(path).to_pandas()
    frame.loc[frame.index[0], "recorded_date"] = dt.date(2099, 1, 1)
    if column == "event_date":
        frame.loc[frame.index[0], "event_date"] = dt.date(2099, 1, 1)
    frame.to_parquet(path)
    out = tmp_path / "f.parquet"
    result = runner.invoke(
        app, ["features", "--data", str(late), "--as-of", "2030-01-01", "--out", str(out)]
    )
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line.startswith(f"error: input refused — incidents: column '{column}' breaks rule")
    assert "on or before the extract date 2025-12-31" in line
    assert "2099-01-01" in line
    assert not out.exists()
