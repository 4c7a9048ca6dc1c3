"""Write an evaluation report whole or not at all, and log it as an MLflow run.

The report and its tables (:func:`evaluation.report.write_report`) and ``manifest.json``
(the design, the data's fingerprint, the disclosure rules, every file with its SHA-256)
are written into a staging folder beside ``--out``; with tracking, the MLflow run
``evaluate-<first month>-<last month>`` logs the staged folder and headline figures,
and only then is the folder swapped into place (:mod:`serving.batch.atomic`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from drivers.disclosure import ROUND_TO, THRESHOLD
from evaluation.design import EvaluationError
from evaluation.results import Evaluation
from serving.batch.atomic import recover, staging, swap_into_place

__all__ = ["MANIFEST", "Recorded", "Tracking", "check_out_dir", "record_evaluation", "run_name"]

MANIFEST = "manifest.json"
KIND = "vru evaluate report"
STAGE_TAG = "evaluate"


@dataclass(frozen=True)
class Tracking:
    """Where the run is logged (:func:`models.registry.configure_tracking`)."""

    uri: str
    experiment: str
    artifact_dir: Path
    launched_experiment_id: str | None = None


@dataclass(frozen=True)
class Recorded:
    folder: Path
    report: Path
    run_id: str | None


def run_name(evaluation: Evaluation) -> str:
    """``evaluate-2019-01-2024-12``: the list months evaluated."""
    return f"evaluate-{evaluation.first_month:%Y-%m}-{evaluation.last_month:%Y-%m}"


def check_out_dir(out_dir: Path) -> None:
    """Refuse an output folder that is a file or holds something other than a report."""
    if out_dir.exists() and not out_dir.is_dir():
        raise EvaluationError(f"--out {out_dir} is a file, not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        try:
            kind = json.loads((out_dir / MANIFEST).read_text()).get("kind")
        except (OSError, ValueError, AttributeError):
            kind = None
        if kind != KIND:
            raise EvaluationError(
                f"--out {out_dir} holds files that are not an evaluation report (no {MANIFEST} "
                "from vru evaluate); choose an empty or new folder"
            )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def headline(evaluation: Evaluation) -> dict[str, float]:
    """The figures worth comparing across runs (MLflow metrics)."""
    out: dict[str, float] = {"listings": float(evaluation.listings), "years": evaluation.years}
    for r in evaluation.results:
        key = f"{r.list_name}.{r.outcome}"
        for name, e in (("itt", r.itt), ("per_year_of_help", r.per_year_of_help)):
            if e.estimated:
                assert e.effect is not None
                assert e.low is not None
                assert e.high is not None
                out[f"{key}.{name}"] = e.effect
                out[f"{key}.{name}.low"] = e.low
                out[f"{key}.{name}.high"] = e.high
        if r.relative_per_year is not None:
            out[f"{key}.relative_per_year"] = r.relative_per_year[0]
    return out


def _manifest(folder: Path, evaluation: Evaluation, run_id: str | None) -> None:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    body = {
        "kind": KIND,
        "data_fingerprint": evaluation.fingerprint,
        "first_list_month": evaluation.first_month.isoformat(),
        "last_list_month": evaluation.last_month.isoformat(),
        "design": {
            "running_variable": "places from the capacity cut (capacity - rank + 0.5)",
            "estimator": "rdrobust: local linear, triangular kernel, MSE-optimal bandwidth, "
            "robust bias-corrected 95% intervals, clustered by young person",
            "outcomes": "recorded serious violence within 12 months of the list month",
            "help": "share of the 12 months in any programme (fuzzy design)",
        },
        "lists": sorted({r.list_name for r in evaluation.results}),
        "outcomes": sorted({r.outcome for r in evaluation.results}),
        "headline": headline(evaluation),
        "disclosure": {"suppress_below": THRESHOLD, "round_to": ROUND_TO},
        "true_effect": evaluation.true_effect,
        "warnings": list(evaluation.warnings),
        "mlflow_run_id": run_id,
        "person_level_data": False,
        "files": {str(p.relative_to(folder)): _digest(p) for p in files},
    }
    (folder / MANIFEST).write_text(json.dumps(body, indent=2) + "\n")


@contextlib.contextmanager
def _run(tracking: Tracking | None, evaluation: Evaluation) -> Iterator[str | None]:
    if tracking is None:
        yield None
        return
    import mlflow

    from models.registry import configure_tracking

    configure_tracking(
        tracking.uri,
        tracking.experiment,
        tracking.artifact_dir,
        launched_experiment_id=tracking.launched_experiment_id,
    )
    with mlflow.start_run(run_name=run_name(evaluation)) as run:
        mlflow.set_tags(
            {
                "vru.stage": STAGE_TAG,
                "data_fingerprint": evaluation.fingerprint,
                "person_level_data": "none",
            }
        )
        mlflow.log_params(
            {
                "first_list_month": evaluation.first_month.isoformat(),
                "last_list_month": evaluation.last_month.isoformat(),
                "capacity": json.dumps(evaluation.capacity),
                "suppress_below": THRESHOLD,
                "round_to": ROUND_TO,
            }
        )
        mlflow.log_metrics(headline(evaluation))
        yield str(run.info.run_id)


def record_evaluation(
    out_dir: Path, evaluation: Evaluation, *, tracking: Tracking | None = None
) -> Recorded:
    """Write the report, its tables and the manifest to ``out_dir`` in one swap, and log
    them as the MLflow run ``evaluate-<first>-<last>`` (with ``tracking``)."""
    from evaluation.report import write_report

    check_out_dir(out_dir)
    recover(out_dir)
    with staging(out_dir) as staged, _run(tracking, evaluation) as run_id:
        write_report(evaluation, staged, run_name=run_name(evaluation))
        (staged / "evaluation.json").write_text(
            json.dumps(asdict(evaluation), indent=2, default=str) + "\n"
        )
        _manifest(staged, evaluation, run_id)
        if run_id is not None:
            import mlflow

            mlflow.log_artifacts(str(staged), artifact_path="evaluate")
        os.chmod(staged, 0o755)
        swap_into_place(staged, out_dir)
    return Recorded(out_dir, out_dir / "report.html", run_id)
