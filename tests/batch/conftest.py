"""Two released models on a small population, and two consecutive monthly panel runs.

Generated and trained once per session (per worker): every test that uses these
fixtures is ``slow`` and in ``xdist_group("batch")`` so one worker does the work.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.vocabulary import LOCAL_AUTHORITIES
from models.panels import as_capacity
from tests.released import CANDIDATES
from vru.release import release_population

AUTHORITIES = LOCAL_AUTHORITIES
#: small capacities of the known list (10–18 cards per outcome) keep the packs quick to
#: draw; a number alone sets the known list, so the early list keeps its default (20)
CAPACITY = {la: 10 + 2 * i for i, la in enumerate(AUTHORITIES)}
#: each list's capacity as the runs read it from ``VRU_PANEL_CAPACITY``
PANEL_CAPACITY = as_capacity(CAPACITY)
#: the world runs two years past what the models were trained on (root/world): the
#: monitoring tests watch those two years arrive (tests/monitoring); the panel runs use the
#: records as they stood at the end of 2025 (root/pop)
WORLD_END = dt.date(2027, 12, 1)
TRAINED_UNTIL = dt.date(2025, 12, 1)
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


def make_released(tmp_path_factory: pytest.TempPathFactory) -> Released:
    """The ``released`` fixture's population (the fixture is in ``tests/conftest.py`` so
    that the batch and monitoring tests share one instance per worker)."""
    root = tmp_path_factory.mktemp("batch")
    data_dir, uri, _ = release_population(
        root,
        capacity=CAPACITY,
        first_year=2020,
        candidates=CANDIDATES,
        compare_unconstrained=False,
        end=WORLD_END,
        trained_until=TRAINED_UNTIL,
    )
    return Released(root, data_dir, uri)


def score(
    released: Released, out: Path, as_of: str, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run ``vru score`` in process: exit code, stdout, stderr (``env`` overrides
    :meth:`Released.env`)."""
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
        env={**released.env(), **(env or {})},
    )
    return result.exit_code, result.stdout, result.stderr


#: rows in the access log the two runs anchor
ACCESS_ROWS = 3


@dataclass(frozen=True)
class TwoRuns:
    """The outputs of a first month and of the next month, written to the same folder."""

    released: Released
    out: Path
    first: Path  # a copy of the first month's outputs
    second_stdout: str
    #: the service's access log the runs anchored (ACCESS_ROWS rows)
    access_log: Path


@pytest.fixture(scope="session")
def two_runs(released: Released, tmp_path_factory: pytest.TempPathFactory) -> TwoRuns:
    from serving.access_log import AccessLog, Entry

    root = tmp_path_factory.mktemp("runs")
    access_log = root / "serving" / "access-log.sqlite"
    log = AccessLog(access_log)
    for _ in range(ACCESS_ROWS):
        log.record(Entry("explain", "allowed", "pat", "practitioner", "Bristol", "P1", "audit"))
    log.close()
    env = {"VRU_ACCESS_LOG_PATH": str(access_log)}
    out = root / "panels"
    code, stdout, stderr = score(released, out, FIRST_AS_OF, env=env)
    assert code == 0, stderr
    first = root / "first"
    shutil.copytree(out, first)
    code, stdout, stderr = score(released, out, SECOND_AS_OF, env=env)
    assert code == 0, stderr
    return TwoRuns(released, out, first, stdout, access_log)
