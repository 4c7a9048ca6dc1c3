"""One recipe for "a synthetic population with both outcomes' champions released".

Used by the batch and serving tests and by their benchmarks: generate, train both
outcomes into a private SQLite MLflow store, tag each version as passing the fairness
gate and make it ``champion`` (the fairness gate itself is tested in tests/fairness and
tests/model).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from synthetic.config import LOCAL_AUTHORITIES, GeneratorSettings

#: the panel capacities most tests use (small lists keep packs and tests quick)
CAPACITY: dict[str, int] = dict.fromkeys(LOCAL_AUTHORITIES, 25)


def release(tracking_uri: str, outcome: str, version: str) -> None:
    """Tag a version as passing the fairness gate and make it champion."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    name = f"vru-{outcome}"
    client.set_model_version_tag(name, version, "fairness_gate", "pass")
    client.set_registered_model_alias(name, "champion", version)


def train_released(
    root: Path,
    *,
    people: int = 30_000,
    seed: int = 11,
    capacity: Mapping[str, int] = CAPACITY,
    experiment: str = "train",
    first_year: int | None = None,
) -> tuple[Path, str, dict[str, str]]:
    """Data folder, tracking URI and the released version of each outcome."""
    from synthetic.generate import generate, write_dataset
    from training.train import OUTCOMES, train_outcome

    root.mkdir(parents=True, exist_ok=True)
    data_dir = write_dataset(generate(GeneratorSettings(people=people, seed=seed)), root / "pop")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    versions = {}
    for outcome in OUTCOMES:
        result = train_outcome(
            data_dir,
            outcome,
            capacity=capacity,
            tracking_uri=uri,
            experiment=experiment,
            artifact_dir=root / "mlartifacts",
            project_dir=root,
            n_boot=10,
            first_year=first_year,
        )
        release(uri, outcome, str(result.registered_version))
        versions[outcome] = str(result.registered_version)
    return data_dir, uri, versions
