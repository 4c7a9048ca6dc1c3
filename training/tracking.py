"""MLflow tracking: where runs go, what identifies the data and the code.

The tracking store defaults to SQLite in the project folder with artifacts in
``mlartifacts/`` beside it; ``MLFLOW_TRACKING_URI`` points it at a shared server.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import mlflow

from features.schemas import RAW_TABLES


def configure(tracking_uri: str, experiment: str, artifact_dir: Path) -> str:
    """Point MLflow at the store and make sure the experiment exists; return its id."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    if os.environ.get("MLFLOW_RUN_ID") and os.environ.get("MLFLOW_EXPERIMENT_ID"):
        # launched by `mlflow run`: log into the run and experiment it created
        return os.environ["MLFLOW_EXPERIMENT_ID"]
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        mlflow.set_experiment(experiment)
        return found.experiment_id
    artifact_dir.mkdir(parents=True, exist_ok=True)
    experiment_id = mlflow.create_experiment(experiment, artifact_location=artifact_dir.as_uri())
    mlflow.set_experiment(experiment)
    return experiment_id


def data_fingerprint(folder: Path) -> str:
    """SHA-256 over the raw Parquet files (the pipeline's only input)."""
    digest = hashlib.sha256()
    for table in RAW_TABLES:
        path = folder / "raw" / f"{table}.parquet"
        digest.update(table.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def git_commit(cwd: Path) -> str:
    """The current commit (with ``-dirty`` when the tree has changes), or ``unknown``."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return commit + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
