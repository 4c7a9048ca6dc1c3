"""The last step of a run: seal the manifest, log the run to MLflow, swap the outputs in.

The manifest is written last into the staged folder; with tracking, the run's
tags, parameters, counts, stage times, the CSV lists and the manifest go to
MLflow first, and the swap happens inside the MLflow run, so a run that logged
is a run whose outputs are in place (or was interrupted before either ended).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from features.vocabulary import LISTS
from serving.batch.atomic import MANIFEST, make_private, swap_into_place

__all__ = ["STAGE_TAG", "Manifest", "Tracking", "publish"]

#: ``vru.stage`` tag of a scoring run (and the manifest's ``stage``)
STAGE_TAG = "score"


@dataclass
class Manifest:
    """What a run used and produced (written as ``manifest.json``).

    It names nobody: ``counts[la][outcome]`` holds ``residents``, ``named`` and, per
    list (``known``, ``early``), its capacity, cohort size, how many are named, how
    many are beyond capacity (in all and by band), new, still listed, moved in from
    the other list and no longer named (in all and by reason).

    ``outcomes`` are the outcomes listed; an outcome asked for whose model version was
    switched off after release is in ``suspended`` instead, with the sentence saying why.
    """

    as_of: str
    data_dir: str
    data_fingerprint: str
    data_end: str
    outcomes: list[str]
    models: dict[str, dict[str, object]]
    capacity: dict[str, dict[str, int]]
    people_scored: int
    counts: dict[str, dict[str, dict[str, Any]]]
    durations: dict[str, float]
    files: list[str]
    baseline_as_of: str | None
    out_dir: str
    mlflow_run_id: str | None = None
    written_at: str = ""
    stage: str = STAGE_TAG
    note: str = "synthetic data only; every list is a prompt for professional review"
    packs: dict[str, str] = field(default_factory=dict)
    #: the access log's head when this run was made (rows, hash, time), also kept in the
    #: anchor file: ``vru access-log verify`` finds rows removed or rewritten since
    access_log_anchor: dict[str, object] | None = None
    #: per local authority, its agenda (everyone named, counted once) against the
    #: previous run's: ``people``, ``new``, ``again``, ``left``
    agenda: dict[str, dict[str, int]] = field(default_factory=dict)
    #: per outcome asked for whose model version is switched off (suspended), the sentence
    #: saying so (:meth:`models.registry.Suspension.words`): no list was written for it
    suspended: dict[str, str] = field(default_factory=dict)
    #: per outcome asked for, its version's latest monitoring (``version``, ``status``,
    #: ``as_of``, ``summary``, ``plan``, ``shown``: amber or red, so every pack shows
    #: ``words``); no entry when the version was never monitored
    monitoring: dict[str, dict[str, object]] = field(default_factory=dict)
    #: the outcomes listed that the previous run listed too, so their lists are compared
    #: with its lists; any other listed outcome counts everyone on it as new
    compared: list[str] = field(default_factory=list)
    #: seconds of each part of the "writing packs" stage (``serving.batch.run.WRITING_PARTS``)
    writing_parts: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def write(self, folder: Path) -> Path:
        """Write ``manifest.json`` into ``folder``; return its path."""
        path = folder / MANIFEST
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path


@dataclass(frozen=True)
class Tracking:
    """Where a scoring run is logged (:func:`models.registry.configure_tracking`)."""

    uri: str
    experiment: str
    artifact_dir: Path
    #: the experiment of a run that ``mlflow run`` created, when launched by it
    launched_experiment_id: str | None = None


def _seal(staged: Path, manifest: Manifest) -> Path:
    manifest.written_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return manifest.write(staged)


def _swap(staged: Path, out_dir: Path, before_swap: Callable[[], None] | None) -> None:
    make_private(staged)
    if before_swap is not None:
        before_swap()
    swap_into_place(staged, out_dir)


def _log_run(staged: Path, manifest: Manifest) -> None:
    """Tags, parameters, metrics and the CSV lists of the active MLflow run (the lists
    name only the young people within capacity; the metrics are counts)."""
    import mlflow

    mlflow.set_tags(
        {
            "vru.stage": STAGE_TAG,
            "as_of": manifest.as_of,
            "data_fingerprint": manifest.data_fingerprint,
            **{f"model.{o}": f"{m['name']}/{m['version']}" for o, m in manifest.models.items()},
            "note": manifest.note,
            **{f"suspended.{o}": words for o, words in manifest.suspended.items()},
            **{f"monitoring.{o}": str(m["status"]) for o, m in manifest.monitoring.items()},
            **(
                {
                    "access_log_rows": str(manifest.access_log_anchor["rows"]),
                    "access_log_head": str(manifest.access_log_anchor["head"]),
                }
                if manifest.access_log_anchor
                else {}
            ),
        }
    )
    mlflow.log_params(
        {
            "as_of": manifest.as_of,
            "outcomes": ",".join(manifest.outcomes),
            "data_dir": manifest.data_dir,
            "out_dir": manifest.out_dir,
            "panel_capacity": json.dumps(manifest.capacity),
            **{f"{o}_version": m["version"] for o, m in manifest.models.items()},
        }
    )
    mlflow.log_metrics(
        {
            "people_scored": manifest.people_scored,
            **{
                f"{what}_{o}_{key}": sum(c[o][key][what] for c in manifest.counts.values())
                for o in manifest.outcomes
                for key in LISTS
                for what in ("named", "beyond_capacity", "no_longer_named")
            },
            **{f"seconds_{k.replace(' ', '_')}": v for k, v in manifest.durations.items()},
            **{
                f"seconds_writing_{k.replace(' ', '_')}": v
                for k, v in manifest.writing_parts.items()
            },
        }
    )
    for name in sorted(manifest.files):
        if name.endswith(".csv"):
            mlflow.log_artifact(str(staged / name), artifact_path="panels")


def publish(
    staged: Path,
    out_dir: Path,
    manifest: Manifest,
    *,
    tracking: Tracking | None = None,
    before_swap: Callable[[], None] | None = None,
) -> None:
    """Write the manifest, log the run (with ``tracking``), then swap the outputs into place.

    Parameters
    ----------
    staged, out_dir
        The staged folder (everything but the manifest written) and where it goes.
    manifest
        Completed here: MLflow run id, logging time, ``written_at``.
    tracking
        Where to log the run; nothing is logged without it.
    before_swap
        Called with everything staged, just before the swap (a test interrupts a run
        there; nothing in production passes it).
    """
    began = time.perf_counter()
    if tracking is None:
        _seal(staged, manifest)
        _swap(staged, out_dir, before_swap)
        return
    import mlflow

    from models.registry import configure_tracking

    configure_tracking(
        tracking.uri,
        tracking.experiment,
        tracking.artifact_dir,
        launched_experiment_id=tracking.launched_experiment_id,
    )
    with mlflow.start_run(run_name=f"score-{manifest.as_of}") as run:
        manifest.mlflow_run_id = run.info.run_id
        _log_run(staged, manifest)
        manifest.durations["logging"] = round(time.perf_counter() - began, 3)
        mlflow.log_artifact(str(_seal(staged, manifest)))
        _swap(staged, out_dir, before_swap)
