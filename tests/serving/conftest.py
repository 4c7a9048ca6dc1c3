"""One serving stack and one ``bentoml serve`` subprocess per test session.

Tests that use :func:`server` are marked ``xdist_group("serving")`` so one worker
trains the models (about 1.5 minutes for both outcomes on 30k people) and owns
the server. The server's output goes to a file: an undrained pipe hangs it, and
the file lets a test check that application logs carry no person_id.

The server runs with a panel capacity of its own (:data:`CAPACITY`, through
``VRU_PANEL_CAPACITY``), so a test can tell that the lists it reports come from
the settings; :func:`month_lists` draws the same lists independently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from features.vocabulary import OUTCOMES
from models.panels import PanelCapacity, select_lists
from models.registry import model_name
from tests.serving.stack import build_stack, load_or_build_stack
from vru.cli_serve import ServingProcess, serving_process
from vru.serving_stack import ServingStack

ROOT = Path(__file__).resolve().parents[2]
#: screenshots and reports kept after a run (build/ is ignored by git)
ARTIFACTS = Path(os.environ.get("VRU_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))
#: the served capacity: Bristol's differs from the defaults (50 and 20) on both lists
#: requests without a token a test address may make in a minute before a 429 (the default
#: 30 would throttle schemathesis's authentication checks)
UNTHROTTLED = 100_000
CAPACITY = PanelCapacity.parse({"Bristol": {"known": 12, "early": 8}, "Somerset": 30})


@dataclass(frozen=True)
class People:
    """Person ids chosen from the snapshot for the tests."""

    flagged_bristol: str  # the highest victim estimate in Bristol: has reasons to show
    other_bristol: str
    somerset: str


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> ServingStack:
    # VRU_TEST_SERVING_STACK=DIR reuses (or first builds) a stack there: for quick local
    # iterations only; CI always builds a fresh one
    reuse = os.environ.get("VRU_TEST_SERVING_STACK")
    if reuse:
        return load_or_build_stack(Path(reuse))
    return build_stack(tmp_path_factory.mktemp("serving"))


@pytest.fixture(scope="session")
def people(stack: ServingStack) -> People:
    import mlflow

    mlflow.set_tracking_uri(stack.tracking_uri)
    mlflow.set_registry_uri(stack.tracking_uri)
    frame = pd.read_parquet(stack.snapshot)
    model = mlflow.pyfunc.load_model(
        f"models:/{model_name('victim')}/{stack.versions['victim']}"
    ).unwrap_python_model()
    bristol = frame[frame["local_authority"] == "Bristol"].reset_index(drop=True)
    scores = model.predict(None, bristol)["probability"]
    flagged = str(bristol.loc[scores.idxmax(), "person_id"])
    other = str(bristol.loc[scores.idxmin(), "person_id"])
    somerset = str(frame.loc[frame["local_authority"] == "Somerset", "person_id"].iloc[0])
    return People(flagged, other, somerset)


@pytest.fixture(scope="session")
def month_lists(stack: ServingStack) -> dict[str, pd.DataFrame]:
    """This month's lists of each outcome, drawn here as a panel's batch would: the
    snapshot read with pandas, scored by the released version, cohorts from the
    involvement columns (``select_lists`` derives them), :data:`CAPACITY`.

    One frame per outcome indexed by ``person_id``: ``local_authority``, ``cohort``,
    ``list``, ``rank``, ``within_capacity``.
    """
    import mlflow

    mlflow.set_tracking_uri(stack.tracking_uri)
    mlflow.set_registry_uri(stack.tracking_uri)
    frame = pd.read_parquet(stack.snapshot)
    lists = {}
    for outcome in OUTCOMES:
        model = mlflow.pyfunc.load_model(
            f"models:/{model_name(outcome)}/{stack.versions[outcome]}"
        ).unwrap_python_model()
        scored = frame.assign(probability=model.predict(None, frame)["probability"].to_numpy())
        marked = select_lists(scored, CAPACITY)
        lists[outcome] = marked[
            ["person_id", "local_authority", "cohort", "list", "rank", "within_capacity"]
        ].set_index("person_id")
    return lists


@pytest.fixture(scope="session")
def server(stack: ServingStack) -> Iterator[ServingProcess]:
    variables = {
        **stack.variables(),
        "VRU_PANEL_CAPACITY": str(CAPACITY),
        # the fuzzing and refusal tests send many requests without a token from one address;
        # the throttle itself is tested in tests/unit/test_gatekeeper.py
        "VRU_AUTH_FAILURE_LIMIT": str(UNTHROTTLED),
    }
    with serving_process(variables, log=stack.root / "server.log") as running:
        yield running
