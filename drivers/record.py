"""Write a drivers report whole or not at all, and log it as an MLflow run.

Everything is written into a staging folder beside ``--out``: the reports and tables
(:func:`drivers.report.write_reports`), then ``manifest.json`` (what was asked, the
data's fingerprint, the models described, the disclosure rules, every file with its
SHA-256). With tracking, the MLflow run ``drivers-<as-of>`` is opened first (the
reports name it), the staged folder is logged as its artifacts, and only then is the
folder swapped into place (:mod:`serving.batch.atomic`): an interrupted run leaves the
previous report whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from drivers.base import DriversError
from drivers.disclosure import ROUND_TO, SUPPRESSED, THRESHOLD
from drivers.run import DriversTables
from serving.batch.atomic import recover, staging, swap_into_place

__all__ = ["MANIFEST", "Recorded", "Tracking", "check_out_dir", "record_drivers", "run_name"]

MANIFEST = "manifest.json"
#: the manifest's mark of a folder ``vru drivers`` wrote
KIND = "vru drivers report"
STAGE_TAG = "drivers"


@dataclass(frozen=True)
class Tracking:
    """Where the run is logged (:func:`models.registry.configure_tracking`)."""

    uri: str
    experiment: str
    artifact_dir: Path
    launched_experiment_id: str | None = None


@dataclass(frozen=True)
class Recorded:
    """Where a drivers report went."""

    folder: Path
    reports: list[Path]
    run_id: str | None


def run_name(tables: DriversTables) -> str:
    """``drivers-2026-01-01``."""
    return f"drivers-{tables.as_of.isoformat()}"


def check_out_dir(out_dir: Path) -> None:
    """Refuse an output folder that is a file or holds something other than a report."""
    if out_dir.exists() and not out_dir.is_dir():
        raise DriversError(f"--out {out_dir} is a file, not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        manifest = out_dir / MANIFEST
        try:
            kind = json.loads(manifest.read_text()).get("kind")
        except (OSError, ValueError, AttributeError):
            kind = None
        if kind != KIND:
            raise DriversError(
                f"--out {out_dir} holds files that are not a drivers report (no {MANIFEST} "
                "from vru drivers); choose an empty or new folder"
            )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest(folder: Path, tables: DriversTables, run_id: str | None) -> Path:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    body = {
        "kind": KIND,
        "as_of": tables.as_of.isoformat(),
        "years": tables.years,
        "from": tables.start.isoformat(),
        "areas": list(tables.areas),
        "data_fingerprint": tables.data_fingerprint,
        "models": dict(tables.models),
        "disclosure": {
            "suppress_below": THRESHOLD,
            "round_to": ROUND_TO,
            "mark": SUPPRESSED,
            "secondary": "no suppressed cell lies in the linear span of published cells",
            "suppressed_cells": tables.suppressed_cells,
        },
        "truth_compared": tables.recording_truth is not None,
        "mlflow_run_id": run_id,
        "notes": list(tables.notes),
        "person_level_data": False,
        "files": {str(p.relative_to(folder)): _digest(p) for p in files},
    }
    path = folder / MANIFEST
    path.write_text(json.dumps(body, indent=2) + "\n")
    return path


def _headline(tables: DriversTables) -> dict[str, float]:
    """A few figures worth plotting across runs: the force area's latest quarter."""
    out: dict[str, float] = {"suppressed_cells": float(tables.suppressed_cells)}
    t = tables.trends_quarterly
    if len(t):
        latest = t[
            (t["period_start"] == t["period_start"].max())
            & (t["age_band"] == "all ages")
            & (t["sex"] == "both sexes")
            & (t["local_authority"].str.contains("force area"))
        ]
        for row in latest.itertuples():
            if row.suppressed == "":
                out[f"rate.{row.measure}"] = float(row.rate)
    return out


@contextlib.contextmanager
def _run(tracking: Tracking | None, tables: DriversTables) -> Iterator[str | None]:
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
    with mlflow.start_run(run_name=run_name(tables)) as run:
        mlflow.set_tags(
            {
                "vru.stage": STAGE_TAG,
                "as_of": tables.as_of.isoformat(),
                "data_fingerprint": tables.data_fingerprint,
                "person_level_data": "none",
                **{f"model.{o}": label for o, label in tables.models.items()},
            }
        )
        mlflow.log_params(
            {
                "as_of": tables.as_of.isoformat(),
                "years": tables.years,
                "areas": ", ".join(tables.areas),
                "suppress_below": THRESHOLD,
                "round_to": ROUND_TO,
            }
        )
        mlflow.log_metrics(_headline(tables))
        yield str(run.info.run_id)


def record_drivers(
    out_dir: Path, tables: DriversTables, *, tracking: Tracking | None = None
) -> Recorded:
    """Write the reports, the tables and the manifest to ``out_dir`` in one swap, and log
    them as the MLflow run ``drivers-<as-of>`` (with ``tracking``)."""
    from drivers.report import write_reports

    check_out_dir(out_dir)
    recover(out_dir)
    with staging(out_dir) as staged, _run(tracking, tables) as run_id:
        reports = write_reports(staged, tables, mlflow_run_id=run_id)
        _manifest(staged, tables, run_id)
        if run_id is not None:
            import mlflow

            mlflow.log_artifacts(str(staged), artifact_path="drivers")
        os.chmod(staged, 0o755)
        swap_into_place(staged, out_dir)
    return Recorded(out_dir, [out_dir / p.relative_to(staged) for p in reports], run_id)
