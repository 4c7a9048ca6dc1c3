"""What a training run leaves in MLflow: the code it came from, each fold's metrics, the
review an analyst reads (comparison, plots, capacity, calibration, bands) and the model.

The data's fingerprint is :func:`features.snapshot.data_fingerprint`; where runs go
is :func:`models.registry.configure_tracking`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import subprocess
import time
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from features.build import nullable_columns
from features.vocabulary import OUTCOMES
from models.panels import PanelCapacity
from models.registry import model_name
from models.risk_model import RiskModel, model_signature
from training.evaluate import calibration_bins, calibration_curve, capacity_by_area
from training.model_card import frame_to_markdown
from training.plots import save_plots
from training.results import CandidateResult
from training.splits import Fold

__all__ = [
    "HEADLINE",
    "HEADLINE_PREFIX",
    "HEADLINE_VIEW",
    "NOTE_TAG",
    "PYFUNC_ENTRY",
    "VIEW_TAG",
    "describe_experiment",
    "fold_note",
    "git_commit",
    "headline_metrics",
    "headline_view_state",
    "log_fold",
    "log_model",
    "model_description",
    "run_note",
    "significant",
    "version_description",
    "write_review",
]

PYFUNC_ENTRY = Path(__file__).resolve().parents[1] / "models" / "_pyfunc_entry.py"
#: the tag MLflow's UI shows as a run's description
NOTE_TAG = "mlflow.note.content"
#: the parent run's few headline metrics sort and group together under this prefix
HEADLINE_PREFIX = "headline."
#: the chosen model's metrics an analyst compares runs by, each with its 95% interval
HEADLINE = (
    "pr_auc",
    "precision_at_capacity",
    "recall_at_capacity",
    "top_band_ratio",
    "roc_auc",
)
#: the saved view of the run list that leads with the headline metrics (its key and name)
HEADLINE_VIEW = "headline"
HEADLINE_VIEW_NAME = "Headline metrics"
#: where the MLflow UI keeps an experiment's saved views of its run list
VIEW_TAG = "mlflow.sharedViewState."
#: the experiment's description (the UI's ``mlflow.note.content``), unless one was written
EXPERIMENT_NOTE = (
    "Training and scoring runs of vru-risk, on synthetic data only. In the MLflow UI, "
    "choose **Model training** at the top left (or add `?workflowType=machine_learning` "
    "to the address), then **Views → Headline metrics**: each training run with its "
    "outcome, chosen candidate and headline figures (`headline.*`, rounded, with their 95% "
    "interval bounds `_low` and `_high`). Each `train-<outcome>` run's description says "
    "what it is; the registered models say what they are for, and each version its "
    "release status."
)
#: what each candidate is, in plain words (the candidate's name follows in brackets)
CANDIDATE_WORDS = {
    "rules": "the hand rules a panel uses today",
    "logistic": "a logistic regression with the declared directions",
    "lightgbm": "shallow boosted trees with the declared directions",
    "ebm": "an explainable boosting model with the declared directions",
}


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


def headline_view_state() -> dict[str, Any]:
    """The run-list state of the saved view :data:`HEADLINE_VIEW_NAME`: the training runs,
    newest first, with their outcome, chosen candidate and headline metrics as columns —
    each figure with its interval bounds beside it, PR AUC with the base rate."""
    metrics = [
        f"{HEADLINE_PREFIX}{m}{suffix}" for m in HEADLINE for suffix in ("", "_low", "_high")
    ]
    metrics.insert(3, f"{HEADLINE_PREFIX}base_rate")
    columns = [
        "tags.`outcome`",
        "tags.`chosen_candidate`",
        *(f"metrics.`{m}`" for m in metrics),
    ]
    return {
        "searchFilter": "tags.`vru.stage` = 'train'",
        "orderByKey": "attributes.start_time",
        "orderByAsc": False,
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "datasetsFilter": [],
        "modelVersionFilter": "All Runs",
        "selectedColumns": columns,
        "columnOrder": columns,
        # wide enough for the whole name: the part after "headline." is what differs
        "columnWidths": {c: max(90, 16 + 7 * len(c.split("`")[1])) for c in columns},
        "runsHiddenMode": "FIRST_10_RUNS",
        "viewMaximized": False,
        "runListHidden": False,
        "isAccordionReordered": False,
        "useGroupedValuesInCharts": True,
        "hideEmptyCharts": True,
        "groupBy": None,
        "groupsExpanded": {},
    }


def describe_experiment(experiment_id: str) -> None:
    """Give the experiment what an analyst needs to open it on the right thing.

    A saved view of the run list, "Headline metrics" (the UI's *Views* menu, or
    ``#/experiments/<id>/runs?viewStateShareKey=headline``), stored as the MLflow UI stores
    its own saved views (an experiment tag ``mlflow.sharedViewState.<key>`` holding the
    compressed state; a UI that reads it differently ignores it); and, unless someone
    already wrote one, a description saying how to open it.
    """
    client = mlflow.MlflowClient()
    now = int(time.time() * 1000)
    state = base64.b64encode(zlib.compress(json.dumps(headline_view_state()).encode()))
    view = {
        "name": HEADLINE_VIEW_NAME,
        "createdAt": now,
        "updatedAt": now,
        "state": "deflate;" + state.decode("ascii"),
    }
    client.set_experiment_tag(experiment_id, VIEW_TAG + HEADLINE_VIEW, json.dumps(view))
    if NOTE_TAG not in client.get_experiment(experiment_id).tags:
        client.set_experiment_tag(experiment_id, NOTE_TAG, EXPERIMENT_NOTE)


def significant(value: float, digits: int = 3) -> float:
    """``value`` rounded to ``digits`` significant digits (0.0123456 → 0.0123)."""
    return float(f"{value:.{digits}g}")


def headline_metrics(chosen: CandidateResult) -> dict[str, float]:
    """The parent run's headline figures, rounded to 3 significant digits.

    Each of :data:`HEADLINE` as ``headline.<metric>`` with its 95% interval as
    ``headline.<metric>_low`` and ``headline.<metric>_high``, and the base rate of the
    held-out test date as ``headline.base_rate``. The full-precision metrics are logged
    beside them under their own names. A figure that cannot be computed (no one involved
    in the top band) is left out.
    """
    out: dict[str, float] = {}
    for m in HEADLINE:
        interval = chosen.metrics.get(m)
        if interval is None:
            continue
        for suffix, v in (("", interval.value), ("_low", interval.low), ("_high", interval.high)):
            if v == v:
                out[f"{HEADLINE_PREFIX}{m}{suffix}"] = significant(v)
    out[f"{HEADLINE_PREFIX}base_rate"] = significant(float(np.mean(chosen.y)))
    return out


def _candidate(name: str) -> str:
    words = CANDIDATE_WORDS.get(name)
    return f"{words} ({name})" if words else name


def _figures(chosen: CandidateResult) -> list[str]:
    """The headline figures as Markdown bullets (95% intervals)."""
    m = chosen.metrics
    lines = [
        f"- PR AUC {m['pr_auc'].text()} against a base rate of {np.mean(chosen.y):.4f}; "
        f"ROC AUC {m['roc_auc'].text()}.",
        f"- On the panels' lists: precision {m['precision_at_capacity'].text()}, recall "
        f"{m['recall_at_capacity'].text()}.",
    ]
    top = m.get("top_band_ratio")
    if top is not None and top.value == top.value:
        lines.append(f"- Top band: mean estimate / observed rate {top.text(2)} (1.00 is exact).")
    return lines


def run_note(
    outcome: str,
    chosen: CandidateResult,
    folds: Sequence[Fold],
    fingerprint: str,
    data_end: dt.date,
    registered: str | None = None,
) -> str:
    """The parent run's description (Markdown, the UI's ``mlflow.note.content``)."""
    about = OUTCOMES[outcome]
    fold = folds[-1]
    lines = [
        f"**Training run for {about.registry_name}**: the chance of {about.definition} "
        "within 12 months of the assessment date. A prompt for professional review, never "
        "a decision. Synthetic data only.",
        "",
        f"- Chosen: {_candidate(chosen.candidate)}, best precision–recall AUC on the latest "
        f"fold; calibrated with {chosen.calibration} on {fold.calib}.",
        f"- Data: raw tables fingerprint `{fingerprint[:12]}…`, records up to {data_end}; "
        f"{len(folds)} folds, the latest trained on "
        f"{', '.join(d.isoformat() for d in fold.train)} and tested on {fold.test}.",
        *_figures(chosen),
        "- Fairness: audited after training (`vru fairness gate`); the verdict is on the "
        "registered model version and in `model_card.md`.",
    ]
    if registered:
        lines.append(f"- Registered as {about.registry_name} version {registered}.")
    lines += [
        "",
        f"The `{HEADLINE_PREFIX}*` metrics are these figures rounded, with their interval "
        "bounds (`_low`, `_high`); every metric at full precision, the plots and the model "
        "card are below, and each fold's run holds every candidate's metrics.",
    ]
    return "\n".join(lines)


def fold_note(fold: Fold, fold_results: Sequence[CandidateResult]) -> str:
    """A fold run's description: its dates and its best candidate (Markdown)."""
    best = max(
        (r for r in fold_results if r.metrics["pr_auc"].value == r.metrics["pr_auc"].value),
        key=lambda r: r.metrics["pr_auc"].value,
        default=None,
    )
    text = (
        f"**Fold {fold.name}**: trained on {', '.join(d.isoformat() for d in fold.train)}; "
        f"early stopping on {fold.valid}, calibration on {fold.calib}, tested on {fold.test}."
    )
    if best is not None:
        text += f" Best PR AUC here: {best.candidate}, {best.metrics['pr_auc'].text()}."
    return text + " Every candidate's metrics, with `_ci_low` and `_ci_high` bounds."


def model_description(outcome: str) -> str:
    """The registered model's description: what it estimates, and what it is for."""
    about = OUTCOMES[outcome]
    return (
        f"**{about.heading}.** Each young person's estimated chance of {about.definition} "
        "within 12 months of the assessment date, from school, multi-agency and police "
        "records known by then, with an absolute risk band and the reasons behind it.\n\n"
        "It is a **prompt for professional review** by practitioners and referral panels — "
        "who might benefit from a second look, and why — **never a decision** about a young "
        "person. Most young people in every band will not be involved in serious violence.\n\n"
        "A version reaches panels only as `champion`, after the fairness gate passed or a "
        "named person overrode it with a reason; each version's description gives its data, "
        "headline figures and release status. Trained on synthetic data only."
    )


def version_description(
    outcome: str,
    chosen: CandidateResult,
    folds: Sequence[Fold],
    fingerprint: str,
    data_end: dt.date,
    run_id: str,
) -> str:
    """A model version's description at registration (Markdown; the release status is
    added by :meth:`models.registry.Registry.describe`)."""
    fold = folds[-1]
    return "\n".join(
        [
            f"{OUTCOMES[outcome].heading}: {_candidate(chosen.candidate)}, calibrated with "
            f"{chosen.calibration}.",
            "",
            f"- Data: synthetic; raw tables fingerprint `{fingerprint[:12]}…`, records up to "
            f"{data_end}; trained on {', '.join(d.isoformat() for d in fold.train)}, "
            f"calibrated on {fold.calib}, tested on {fold.test}.",
            *_figures(chosen),
            f"- Training run `{run_id}`: metrics, plots and `model_card.md`.",
        ]
    )


def log_fold(fold: Fold, fold_results: Sequence[CandidateResult]) -> None:
    """One nested MLflow run per fold: its dates, every candidate's metrics, a description."""
    with mlflow.start_run(run_name=fold.name, nested=True):
        mlflow.set_tag(NOTE_TAG, fold_note(fold, fold_results))
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
    calibration_bins(chosen.y, chosen.probability).to_csv(
        folder / "calibration_bins.csv", index=False
    )
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
