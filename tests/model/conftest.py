"""A trained victimisation model on a small generated population (once per session)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from features.vocabulary import LOCAL_AUTHORITIES
from synthetic.config import GeneratorSettings
from synthetic.generate import generate, write_dataset
from training.results import TrainResult
from training.train import train_outcome

CAPACITY = dict.fromkeys(LOCAL_AUTHORITIES, 25)
#: months of the lead-time backtest in tests (24 on the default population; 14 is enough
#: for a share flagged 12 months ahead)
LEAD_MONTHS = 14


@dataclass(frozen=True)
class Trained:
    result: TrainResult
    data_dir: Path
    tracking_uri: str


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    root = tmp_path_factory.mktemp("train")
    data_dir = write_dataset(generate(GeneratorSettings(people=30_000, seed=11)), root / "pop")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    result = train_outcome(
        data_dir,
        "victim",
        capacity=CAPACITY,
        tracking_uri=uri,
        experiment="test",
        artifact_dir=root / "mlartifacts",
        project_dir=root,
        n_boot=10,
        lead_months=LEAD_MONTHS,
    )
    return Trained(result, data_dir, uri)
