"""Schemathesis against the served OpenAPI: every endpoint, a bounded number of examples.

All of schemathesis's checks run (no 5xx, status codes and bodies as declared, invalid
data rejected, valid data accepted, auth enforced); the declared error schema requires
every rejection to carry a message. Run once as an analyst (sees every area) and once
as a practitioner (refused scoring and other areas).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.serving.conftest import ARTIFACTS
from vru.cli_serve import ServingProcess
from vru.serving_stack import ServingStack

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving")]
MAX_EXAMPLES = 25


@pytest.mark.parametrize("user", ["ann", "pat"])
def test_schemathesis_finds_nothing(server: ServingProcess, stack: ServingStack, user: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = ARTIFACTS / f"schemathesis-{user}.xml"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{server.url}/docs.json",
            "--header",
            f"Authorization: Bearer {stack.tokens[user]}",
            "--checks",
            "all",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--workers",
            "1",
            "--seed",
            "20241",
            "--report",
            "junit",
            "--report-junit-path",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "9 selected" in run.stdout  # every operation of the served OpenAPI was tested
