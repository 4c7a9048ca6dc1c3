"""What a training run leaves in MLflow: the code it came from, each fold's metrics, the
review an analyst reads (comparison, plots, capacity, calibration, bands) and the model.

The data's fingerprint is :func:`features.snapshot.data_fingerprint`; where runs go
is :func:`models.registry.configure_tracking`.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from features.build import nullable_columns
from models.panels import PanelCapacity
from models.registry import model_name
from models.risk_model import RiskModel, model_signature
from training.evaluate import calibration_curve, capacity_by_area
from training.model_card import frame_to_markdown
from training.plots import save_plots
from training.results import CandidateResult
from training.splits import Fold

__all__ = ["PYFUNC_ENTRY", "git_commit", "log_fold", "log_model", "write_review"]

PYFUNC_ENTRY = Path(__file__).resolve().parents[1] / "models" / "_pyfunc_entry.py"


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


def log_fold(fold: Fold, fold_results: Sequence[CandidateResult]) -> None:
    """One nested MLflow run per fold: its dates and every candidate's metrics."""
    with mlflow.start_run(run_name=fold.name, nested=True):
        mlflow.log_params(
            {
                "train_as_of": ",".join(d.isoformat() for d in fold.train),
                "valid_as_of": fold.valid.isoformat(),
                "calib_as_of": fold.calib.isoformat(),
                "test_as_of": fold.test.isoformat(),
            }
        )
        for r in fold_results:
            prefix = metric_prefix(r.candidate)
            metrics: dict[str, float] = {}
            for m, interval in r.metrics.items():
                metrics[f"{prefix}_{m}"] = interval.value
                metrics[f"{prefix}_{m}_ci_low"] = interval.low
                metrics[f"{prefix}_{m}_ci_high"] = interval.high
            for m, v in {**r.fairness, **r.truth, **r.directions}.items():
                metrics[f"{prefix}_{m}"] = v
            # MLflow refuses NaN in some stores (a top band nobody in it was involved)
            mlflow.log_metrics({k: v for k, v in metrics.items() if v == v})


def metric_prefix(candidate: str) -> str:
    """A candidate's name as MLflow metric keys allow it: "lightgbm+threshold" →
    "lightgbm_with_threshold", "logistic (unconstrained)" → "logistic_unconstrained"."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", candidate.replace("+", "_with_")).strip("_")


def write_review(
    folder: Path,
    latest: Sequence[CandidateResult],
    chosen: CandidateResult,
    comparison: pd.DataFrame,
    test_rows: pd.DataFrame,
    capacity: PanelCapacity | Mapping[str, int],
) -> pd.DataFrame:
    """What an analyst reviews beside the model: comparison, plots, capacity, calibration, bands.

    Returns the precision at capacity by local authority (for the model card).
    """
    comparison.to_csv(folder / "comparison.csv", index=False)
    (folder / "comparison.md").write_text(frame_to_markdown(comparison) + "\n")
    save_plots(latest, chosen, test_rows, capacity, folder)
    by_area = capacity_by_area(chosen.y, chosen.probability, chosen.area, chosen.chosen, capacity)
    by_area.to_csv(folder / "capacity_by_area.csv", index=False)
    calibration_curve(chosen.y, chosen.probability).to_csv(
        folder / "calibration_curve.csv", index=False
    )
    RiskModel(chosen.bundle).band_table().to_csv(folder / "bands.csv", index=False)
    return by_area


def log_model(outcome: str, chosen: CandidateResult, inputs: pd.DataFrame, folder: Path) -> Any:
    """Log and register the chosen candidate as the :class:`RiskModel` pyfunc (``inputs``:
    rows of its features and the attribute it is calibrated by, if any)."""
    bundle_path = chosen.bundle.save(folder / "bundle.joblib")
    texts = RiskModel(chosen.bundle).calibration_columns()
    features = [c for c in inputs.columns if c not in texts]
    # the example is a slice of the project's own feature table, dtypes and all
    nullable = [c for c in nullable_columns() if c in features]
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(PYFUNC_ENTRY),
        artifacts={"bundle": str(bundle_path)},
        input_example=inputs.head(5).astype(dict.fromkeys(nullable, "float64")),
        signature=model_signature(features, nullable=nullable, calibrate_by=texts),
        registered_model_name=model_name(outcome),
    )
