"""`vru train` and `mlflow run . -e train` as an analyst runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from vru.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "pop"
    result = runner.invoke(app, ["synth", "--people", "15000", "--seed", "9", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_help_documents_every_option() -> None:
    result = runner.invoke(app, ["train", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in ("--data", "--outcome", "--first-year", "--bootstrap", "--sample-above"):
        assert option in result.output
    assert "candidate" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--outcome", "witness"], "--outcome must be one of victim, perpetrator"),
        (["--bootstrap", "3"], "--bootstrap must be at least 10"),
        (["--sample-above", "-5"], "--sample-above must be 0 (never) or a number of rows"),
        (["--data", "/nonexistent"], "no raw tables"),
        (["--first-year", "2023"], "not enough history"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(
    data_dir: Path,
    tmp_path: Path,
    args: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["train", "--data", str(data_dir), *args])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr


@pytest.mark.slow
def test_mlflow_run_train_entry_point(data_dir: Path, tmp_path: Path) -> None:
    """`mlflow run . -e train --env-manager local` uses the same CLI and logs one run."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # a clean MLflow environment: earlier tests in this worker may have set an experiment
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "VRU_"))},
        "MLFLOW_TRACKING_URI": uri,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    done = subprocess.run(
        [
            Path(sys.executable).parent / "mlflow",
            "run",
            str(ROOT),
            "-e",
            "train",
            "--env-manager",
            "local",
            "-P",
            f"data={data_dir}",
            "-P",
            "bootstrap=10",
            "--experiment-name",
            "mlproject-test",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("mlproject-test")
    runs = client.search_runs(
        [experiment.experiment_id], "attributes.status = 'FINISHED' and tags.outcome = 'victim'"
    )
    assert len(runs) == 1
    assert "pr_auc" in runs[0].data.metrics
    assert client.get_model_version_by_alias("vru-victim", "candidate").run_id == (
        runs[0].info.run_id
    )
