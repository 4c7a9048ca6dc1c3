"""Two released models on a small population, and two consecutive monthly panel runs.

Generated and trained once per session (per worker): every test that uses these
fixtures is ``slow`` and in ``xdist_group("batch")`` so one worker does the work.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.vocabulary import LOCAL_AUTHORITIES
from vru.release import release_population

AUTHORITIES = LOCAL_AUTHORITIES
#: small capacities (10 cards per outcome) keep the packs quick to draw
CAPACITY = {la: 10 + 2 * i for i, la in enumerate(AUTHORITIES)}
FIRST_AS_OF = "2024-12-01"
SECOND_AS_OF = "2025-01-01"
EXPERIMENT = "batch-test"


@dataclass(frozen=True)
class Released:
    """A data folder and a tracking store with both outcomes' champions, released through
    the fairness gate (a pass, or a recorded override where the gate failed)."""

    root: Path
    data_dir: Path
    tracking_uri: str

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for ``vru score`` against this store."""
        return {
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "VRU_PANEL_CAPACITY": json.dumps(CAPACITY),
            "VRU_EXPERIMENT": EXPERIMENT,
            "VRU_PROJECT_DIR": str(self.root),
            **extra,
        }


@pytest.fixture(scope="session")
def released(tmp_path_factory: pytest.TempPathFactory) -> Released:
    root = tmp_path_factory.mktemp("batch")
    data_dir, uri, _ = release_population(root, capacity=CAPACITY, first_year=2020)
    return Released(root, data_dir, uri)


def score(released: Released, out: Path, as_of: str, *args: str) -> tuple[int, str, str]:
    """Run ``vru score`` in process: exit code, stdout, stderr."""
    from vru.cli import app

    result = CliRunner().invoke(
        app,
        [
            "score",
            "--data",
            str(released.data_dir),
            "--as-of",
            as_of,
            "--out",
            str(out),
            *args,
        ],
        env=released.env(),
    )
    return result.exit_code, result.stdout, result.stderr


@dataclass(frozen=True)
class TwoRuns:
    """The outputs of a first month and of the next month, written to the same folder."""

    released: Released
    out: Path
    first: Path  # a copy of the first month's outputs
    second_stdout: str


@pytest.fixture(scope="session")
def two_runs(released: Released, tmp_path_factory: pytest.TempPathFactory) -> TwoRuns:
    root = tmp_path_factory.mktemp("runs")
    out = root / "panels"
    code, stdout, stderr = score(released, out, FIRST_AS_OF)
    assert code == 0, stderr
    first = root / "first"
    shutil.copytree(out, first)
    code, stdout, stderr = score(released, out, SECOND_AS_OF)
    assert code == 0, stderr
    return TwoRuns(released, out, first, stdout)
