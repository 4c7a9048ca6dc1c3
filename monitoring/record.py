"""Keep what a monitoring run found: the Parquet history, one MLflow run per month, the
report.

The order is chosen so that nothing is lost on a crash: each month's MLflow run is
logged first (a month re-run logs a new run; the latest one is the month's), then the
history is rewritten atomically with the months replaced, then the report is written
atomically from the whole history. A run that dies part way leaves the previous
history and report whole.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from models.registry import Released
from monitoring.history import merge_months, read_history, write_history
from monitoring.plan import Plan

__all__ = ["Recorded", "Tracking", "metric_name", "read_feedback", "record_months"]

STAGE_TAG = "monitor"


@dataclass(frozen=True)
class Tracking:
    """Where the monthly runs are logged (:func:`models.registry.configure_tracking`)."""

    uri: str
    experiment: str
    artifact_dir: Path
    launched_experiment_id: str | None = None


@dataclass
class Recorded:
    """Where a monitoring run's results went."""

    history: Path
    report: Path | None
    #: month (ISO) → its MLflow run id
    runs: dict[str, str] = field(default_factory=dict)


def _slug(text: object) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_") or "all"


def metric_name(row: Mapping[str, object]) -> str:
    """The MLflow metric of one history row: ``calibration.victim.bristol.everyone``."""
    parts = [row["check"], row["outcome"], row["local_authority"], row["subject"] or "all"]
    return ".".join(_slug(p) for p in parts)


def _log_month(
    month: dt.date,
    rows: pd.DataFrame,
    *,
    plan: Plan,
    plan_hash: str,
    models: Mapping[str, Released],
    data_fingerprint: str,
) -> str:
    import mlflow

    judged = rows[rows["status"].isin(("green", "amber", "red")) & (rows["check"] != "status")]
    status = rows[rows["check"] == "status"].set_index("outcome")["status"].to_dict()
    with mlflow.start_run(run_name=f"monitor-{month.isoformat()}") as run:
        mlflow.set_tags(
            {
                "vru.stage": STAGE_TAG,
                "as_of": month.isoformat(),
                "monitoring_plan": plan.version,
                "monitoring_plan_sha256": plan_hash,
                "data_fingerprint": data_fingerprint,
                **{f"model.{o}": m.label for o, m in models.items()},
                **{f"status.{o}": str(s) for o, s in status.items()},
                "note": "synthetic data only; monitoring figures, a prompt for review",
            }
        )
        metrics = {
            metric_name({str(k): v for k, v in r.items()}): float(r["value"])
            for r in judged.to_dict("records")
        }
        metrics.update(
            {f"flags.{s}": float((judged["status"] == s).sum()) for s in ("green", "amber", "red")}
        )
        mlflow.log_metrics(metrics)
        return str(run.info.run_id)


def record_months(
    out_dir: Path,
    rows: pd.DataFrame,
    months: Sequence[dt.date],
    *,
    plan: Plan,
    plan_hash: str,
    models: Mapping[str, Released],
    data_fingerprint: str,
    tracking: Tracking | None = None,
    enforced: bool = True,
) -> Recorded:
    """Log each month's figures to MLflow, merge the months into the history (replacing
    any earlier run of the same months) and rewrite the report."""
    from monitoring.report import render_report, write_report

    runs: dict[str, str] = {}
    if tracking is not None:
        from models.registry import configure_tracking

        configure_tracking(
            tracking.uri,
            tracking.experiment,
            tracking.artifact_dir,
            launched_experiment_id=tracking.launched_experiment_id,
        )
        stamps = pd.to_datetime(rows["as_of"]).dt.date
        for month in sorted(set(months)):
            runs[month.isoformat()] = _log_month(
                month,
                rows[(stamps == month).to_numpy()],
                plan=plan,
                plan_hash=plan_hash,
                models=models,
                data_fingerprint=data_fingerprint,
            )
    history = merge_months(read_history(out_dir), rows, months)
    path = write_history(out_dir, history)
    latest = max(months)
    html = render_report(
        history,
        plan=plan,
        as_of=latest,
        models={o: f"{m.name} version {m.version}" for o, m in models.items()},
        mlflow_run_id=runs.get(latest.isoformat()),
        enforced=enforced,
    )
    report = write_report(out_dir, html)
    return Recorded(path, report, runs)


def read_feedback(path: Path) -> pd.DataFrame:
    """The practitioners' feedback rows of the service's access log (empty without one)."""
    columns = ["time", "la", "outcome", "agrees", "reason_code", "model_version"]
    if not path.exists():
        return pd.DataFrame(columns=columns)
    from serving.access_log import read_rows

    rows = read_rows(path, "feedback")
    return pd.DataFrame(rows, columns=None)[columns] if rows else pd.DataFrame(columns=columns)
