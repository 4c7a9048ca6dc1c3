"""`vru evaluate` from the command line: a whole run (report, tables, manifest, MLflow
run), refusals that write nothing, and "too few to estimate" that reports no number."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from synthetic.config import GeneratorSettings
from synthetic.generate import generate, write_dataset
from tests.evaluation.conftest import World
from vru.cli import app

pytestmark = pytest.mark.xdist_group("evaluation")


def _evaluate(data: Path, out: Path, *args: str, tmp: Path):
    return CliRunner().invoke(
        app,
        ["evaluate", "--data", str(data), "--out", str(out), *args],
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}"},
    )


def _refused(result, out: Path, words: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    assert words in lines[0], lines[0]
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}.*"))


@pytest.mark.slow
def test_a_whole_run_writes_the_report_its_tables_and_the_mlflow_run(
    helped_world: World, tmp_path: Path
) -> None:
    out = tmp_path / "evaluation"
    # one outcome keeps the test short; make demo runs both
    result = _evaluate(helped_world.folder, out, "--outcome", "victim", tmp=tmp_path)
    assert result.exit_code == 0, result.output
    assert f"report: {out / 'report.html'}" in result.stdout
    assert re.search(r"hand_rules, .*being discussed [+-]\d+\.\d points", result.stdout)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "vru evaluate report"
    assert manifest["person_level_data"] is False
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert {"report.html", "estimates.csv", "evaluation.json"} <= set(manifest["files"])
    # the same figures as the evaluation made in memory
    estimates = pd.read_csv(out / "estimates.csv")
    assert set(estimates["outcome"]) == {"victim"}
    assert len(estimates) == 3  # being discussed, the first stage, a year of help
    # every published count is rounded to 5, the numbers near the cut too
    for name in ("estimates", "by_area", "balance", "rd_bins"):
        table = pd.read_csv(out / f"{name}.csv")
        for column in ("n_below", "n_above", "listings", "involved"):
            if column in table:
                assert (table[column].dropna() % 5 == 0).all(), (name, column)
    # aggregates only: no young person's pseudonym anywhere
    people = set(
        pq.read_table(helped_world.folder / "raw" / "people.parquet")["person_id"].to_pylist()
    )
    for path in out.iterdir():
        text = path.read_text(errors="ignore")
        assert not set(re.findall(r"YP\d{7}", text)) & people, path.name
    run = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").get_run(
        manifest["mlflow_run_id"]
    )
    assert run.info.run_name.startswith("evaluate-2019-01-")
    assert run.data.tags["vru.stage"] == "evaluate"
    assert "hand_rules.victim.itt" in run.data.metrics


def _copy(world: World, tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(world.folder, folder, ignore=shutil.ignore_patterns("truth"))
    return folder


def _change(folder: Path, table: str, change) -> None:  # type: ignore[no-untyped-def]
    path = folder / "raw" / f"{table}.parquet"
    frame = pq.read_table(path).to_pandas()
    change(frame)
    frame.to_parquet(path, index=False)


@pytest.mark.parametrize(
    ("table", "change", "words"),
    [
        (
            "interventions",
            lambda f: f.__setitem__("programme", f["programme"].where(f.index != 0, "boot_camp")),
            "interventions: column 'programme'",
        ),
        (
            "interventions",
            lambda f: f.__setitem__(
                "start_date",
                f["start_date"].where(f.index != 0, f["list_month"] - pd.Timedelta(days=40)),
            ),
            "before|on or after the month the young person was listed",
        ),
        (
            "interventions",
            lambda f: f.__setitem__("person_id", f["person_id"].where(f.index != 0, "YP0000000")),
            "person_id present in people",
        ),
    ],
)
def test_bad_interventions_are_refused_in_one_line_naming_the_rows(
    helped_world: World,
    tmp_path: Path,
    table: str,
    change,
    words: str,  # type: ignore[no-untyped-def]
) -> None:
    folder = _copy(helped_world, tmp_path)
    _change(folder, table, change)
    out = tmp_path / "evaluation"
    result = _evaluate(folder, out, tmp=tmp_path)
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert any(w in line for w in words.split("|")), line
    assert "row " in line
    _refused(result, out, line.removeprefix("error: ")[:20])


def test_missing_panel_tables_and_bad_options_are_refused(
    helped_world: World, tmp_path: Path
) -> None:
    folder = _copy(helped_world, tmp_path)
    (folder / "raw" / "interventions.parquet").unlink()
    out = tmp_path / "evaluation"
    _refused(_evaluate(folder, out, tmp=tmp_path), out, "interventions: file")
    _refused(
        _evaluate(helped_world.folder, out, "--outcome", "burglary", tmp=tmp_path),
        out,
        "--outcome must be one of",
    )
    _refused(
        _evaluate(helped_world.folder, out, "--list", "victim_early", tmp=tmp_path),
        out,
        "no list named 'victim_early'",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "notes.txt").write_text("mine")
    result = _evaluate(helped_world.folder, elsewhere, tmp=tmp_path)
    assert result.exit_code == 2
    assert "not an evaluation report" in result.stderr
    assert (elsewhere / "notes.txt").read_text() == "mine"


def test_too_few_near_the_cut_reports_no_number(tmp_path: Path) -> None:
    """A small area's panels discuss one or two young people a month: nothing can be
    told, and the report says so instead of giving a number."""
    folder = tmp_path / "tiny"
    small = GeneratorSettings(
        people=3_000, seed=2, start=dt.date(2018, 1, 1), end=dt.date(2021, 12, 1)
    )
    write_dataset(generate(small), folder)
    out = tmp_path / "evaluation"
    result = _evaluate(folder, out, tmp=tmp_path)
    assert result.exit_code == 0, result.output
    assert "no estimate: too few young people near the cut" in result.stdout
    estimates = pd.read_csv(out / "estimates.csv")
    assert estimates["effect"].isna().all()
    assert estimates["withheld"].str.contains("too few").all()
    html = (out / "report.html").read_text()
    assert "too few young people near the cut" in html
