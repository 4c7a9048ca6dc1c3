"""The batch tests' released population, watched for two years after its models were
trained, and three worlds from the same seed where one thing changes from July 2026.

The models were trained on the records as they stood at the end of 2025
(``tests.batch.conftest.TRAINED_UNTIL``); ``root/world`` holds the whole world to the end
of 2027 (:func:`vru.release.release_population` with ``trained_until``). The scenario
worlds are generated here with the same settings and seed, so everything before July
2026 is the same world. Every test here is ``slow`` and in ``xdist_group("batch")``: one
worker trains once for the batch and monitoring tests.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest

from features.snapshot import Tables, load_tables
from features.vocabulary import OUTCOMES
from models.chain import anchor_path_for, key_path_for
from models.ledger import LEDGER_NAME
from models.panels import as_capacity
from models.registry import Registry, Released
from monitoring.plan import Plan, load_plan
from monitoring.run import monitor_months
from tests.batch.conftest import CAPACITY, WORLD_END
from tests.batch.conftest import Released as ReleasedPopulation

#: the first month every scenario changes the world
SCENARIO_START = dt.date(2026, 7, 1)
#: each scenario and where it happens (synthetic.config.Scenario's fields)
SCENARIOS: dict[str, dict[str, str]] = {
    "feed-stops": {"local_authority": "North Somerset", "source": "incidents"},
    "exclusions-halved": {},
    "risk-rises": {"local_authority": "Bristol"},
}
SLOW = [pytest.mark.slow, pytest.mark.xdist_group("batch")]


@dataclass(frozen=True)
class Watched:
    """The released models and the world they are watched in."""

    root: Path
    tracking_uri: str
    world: Path
    models: dict[str, Released]
    plan: Plan

    def monitor(self, data: Path, months: list[dt.date]) -> pd.DataFrame:
        """The history rows of ``months`` in the world at ``data`` (nothing written)."""
        from fairness.gate import snapshot_groups
        from fairness.policy import load_policy

        policy, _ = load_policy(None)
        return monitor_months(
            _tables(data),
            months,
            self.models,
            self.plan,
            as_capacity(CAPACITY),
            fairness_attributes=(lambda f: snapshot_groups(f, policy), policy.reference),
        )


_LOADED: dict[Path, Tables] = {}


def _tables(data: Path) -> Tables:
    if data not in _LOADED:
        _LOADED[data] = load_tables(data)
    return _LOADED[data]


@pytest.fixture(scope="session")
def watched(released: ReleasedPopulation) -> Watched:
    registry = Registry(released.tracking_uri)
    plan, _ = load_plan()
    return Watched(
        released.root,
        released.tracking_uri,
        released.root / "world",
        {o: registry.load(o) for o in OUTCOMES},
        plan,
    )


@pytest.fixture(scope="session")
def scenario_worlds(released: ReleasedPopulation) -> dict[str, Path]:
    """Each scenario's world, generated with the population's settings and seed."""
    import json

    from synthetic.config import GeneratorSettings, Scenario
    from synthetic.generate import generate, write_dataset

    manifest = json.loads((released.root / "world" / "manifest.json").read_text())
    base = GeneratorSettings.model_validate(manifest["settings"])
    assert base.end == WORLD_END
    worlds = {}
    for name, where in SCENARIOS.items():
        settings = base.model_copy(
            update={"scenario": Scenario(name=name, start=SCENARIO_START, **where)}
        )
        worlds[name] = write_dataset(generate(settings), released.root / f"scenario-{name}")
    return worlds


@dataclass(frozen=True)
class Store:
    """A copy of the released population's registry and release ledger, to change."""

    tracking_uri: str
    registry: Registry


@pytest.fixture
def store(released: ReleasedPopulation, tmp_path: Path) -> Store:
    source = Path(unquote(urlparse(released.tracking_uri).path))
    into = tmp_path / "store"
    into.mkdir()
    target = into / source.name
    shutil.copy2(source, target)
    ledger = source.with_name(LEDGER_NAME)
    for path in (ledger, key_path_for(ledger), anchor_path_for(ledger)):
        shutil.copy2(path, into / path.name)
    (into / key_path_for(ledger).name).chmod(0o600)
    uri = f"sqlite:///{target}"
    return Store(uri, Registry(uri))
