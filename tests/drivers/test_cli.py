"""`vru drivers` from the command line: refusals that write nothing, and a whole run with
the released models (the MLflow run, the manifest, one report per area)."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from typer.testing import CliRunner

from drivers.base import FORCE_AREA
from tests.drivers.conftest import SmallWorld
from vru.cli import app


def _drivers(data: Path, out: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(
        app, ["drivers", "--data", str(data), "--out", str(out), *args], env=env or {}
    )


@pytest.mark.xdist_group("drivers")
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--as-of", "2026-03-01"], "after the data end"),
        (["--as-of", "2026-01-15"], "not the first day of a month"),
        (["--as-of", "yesterday"], "must be a date"),
        (["--as-of", "2019-01-01"], "not after the data begin"),
        (["--as-of", "2026-01-01", "--years", "8"], "longer than the data hold"),
        (["--as-of", "2026-01-01", "--years", "0"], "at least 1"),
        (["--as-of", "2026-01-01", "--authority", "Gotham"], "not one of"),
    ],
)
def test_bad_input_is_refused_in_one_line_and_nothing_is_written(
    small_world: SmallWorld, tmp_path: Path, args: list[str], words: str
) -> None:
    out = tmp_path / "drivers"
    result = _drivers(
        small_world.folder,
        out,
        *args,
        "--no-models",
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    assert words in lines[0]
    assert not out.exists()
    assert not list(tmp_path.glob(".drivers.*"))


@pytest.mark.xdist_group("drivers")
def test_a_folder_of_something_else_is_not_replaced(
    small_world: SmallWorld, tmp_path: Path
) -> None:
    out = tmp_path / "elsewhere"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = _drivers(small_world.folder, out, "--as-of", "2026-01-01", "--no-models")
    assert result.exit_code == 2
    assert "not a drivers report" in result.stderr
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.slow
@pytest.mark.xdist_group("batch")
def test_a_whole_run_with_the_released_models(released: object, tmp_path: Path) -> None:
    """The batch tests' released world (30,000 young people, models trained to 2025)."""
    from tests.batch.conftest import Released

    assert isinstance(released, Released)
    out = tmp_path / "drivers"
    result = _drivers(
        released.data_dir,
        out,
        "--as-of",
        "2026-01-01",
        "--years",
        "5",
        "--authority",
        "Bristol",
        env=released.env(),
    )
    assert result.exit_code == 0, result.output + result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["as_of"] == "2026-01-01"
    assert manifest["years"] == 5
    assert manifest["areas"] == ["Bristol"]
    assert manifest["person_level_data"] is False
    assert manifest["truth_compared"] is True
    assert set(manifest["models"]) == {"victim", "perpetrator"}
    # every file listed with its digest, and nothing else written
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert files - {"manifest.json"} == set(manifest["files"])
    assert (out / "bristol" / "report.html").is_file()
    assert (out / "force_area" / "report.html").is_file()
    assert not (out / "somerset").exists()
    # no person identifiers anywhere in the tables
    for csv in out.rglob("*.csv"):
        assert "YP0" not in csv.read_text(), csv
    # the MLflow run, named for the as-of date, holding the same files
    mlflow.set_tracking_uri(released.tracking_uri)
    runs = mlflow.search_runs(
        search_all_experiments=True,
        filter_string="tags.mlflow.runName = 'drivers-2026-01-01'",
        output_format="list",
    )
    assert len(runs) == 1
    run = runs[0]
    assert run.info.run_id == manifest["mlflow_run_id"]
    assert run.data.tags["vru.stage"] == "drivers"
    assert run.data.params["years"] == "5"
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "drivers")}
    assert "drivers/manifest.json" in logged
    assert "drivers/bristol" in logged
    # the contributions table describes both released models
    import pandas as pd

    contributions = pd.read_csv(out / "force_area" / "contributions.csv")
    assert set(contributions["outcome"]) == {"victim", "perpetrator"}
    assert FORCE_AREA in set(contributions["local_authority"])
    # run again: the folder is replaced whole (nothing of the first run is left)
    again = _drivers(
        released.data_dir,
        out,
        "--as-of",
        "2026-01-01",
        "--years",
        "2",
        "--authority",
        "Somerset",
        "--no-models",
        env=released.env(),
    )
    assert again.exit_code == 0, again.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["years"] == 2
    assert manifest["areas"] == ["Somerset"]
    assert manifest["models"] == {}
    assert (out / "somerset" / "report.html").is_file()
    assert not (out / "bristol").exists()
    assert pd.read_csv(out / "force_area" / "contributions.csv").empty
