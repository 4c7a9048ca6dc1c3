"""What an analyst sees first in MLflow: a classic-ML experiment, headline metrics with
their intervals, descriptions on runs and models, and a calibration plot that shows the
upper range where panels work (vru-risk issue 20)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import matplotlib.image
import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.tracking import fluent

from features.vocabulary import OUTCOMES
from models.bands import wilson_interval
from models.registry import (
    APPROVER_TAG,
    GATE_TAG,
    RELEASE_STATUS,
    Registry,
    configure_tracking,
    with_release_status,
)
from tests.model.conftest import Trained
from training.evaluate import MIN_BIN_PEOPLE, calibration_bins
from training.plots import calibration_plot
from training.tracking import (
    HEADLINE,
    HEADLINE_PREFIX,
    HEADLINE_VIEW,
    NOTE_TAG,
    VIEW_TAG,
    headline_view_state,
    significant,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("training")]
NAME = OUTCOMES["victim"].registry_name
#: words of the outcome every description names (it is the first thing to know)
OUTCOME_WORDS = OUTCOMES["victim"].definition


def _client(trained: Trained) -> MlflowClient:
    return MlflowClient(tracking_uri=trained.tracking_uri, registry_uri=trained.tracking_uri)


@pytest.fixture
def mlflow_globals_kept() -> Iterator[None]:
    """Give back MLflow's global store and experiment after a test points them elsewhere."""
    tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    active, env = fluent._active_experiment_id, os.environ.get("MLFLOW_EXPERIMENT_ID")
    yield
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(registry)
    fluent._active_experiment_id = active
    if env is None:
        os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    else:
        os.environ["MLFLOW_EXPERIMENT_ID"] = env


@pytest.mark.usefixtures("mlflow_globals_kept")
def test_the_experiment_is_classic_ml_even_when_it_was_made_without_the_kind(
    trained: Trained, tmp_path: Path
) -> None:
    client = _client(trained)
    run = client.get_run(trained.result.run_id)
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert "Headline metrics" in experiment.tags[NOTE_TAG]
    # the saved view of the run list names exactly the headline metrics the run has
    view = json.loads(experiment.tags[VIEW_TAG + HEADLINE_VIEW])
    assert view["name"] == "Headline metrics"
    packed = view["state"].removeprefix("deflate;")
    state = json.loads(zlib.decompress(base64.b64decode(packed)))
    assert state == headline_view_state()
    shown = {c.split("`")[1] for c in state["selectedColumns"] if c.startswith("metrics.")}
    logged = {k for k in run.data.metrics if k.startswith(HEADLINE_PREFIX)}
    assert shown == logged
    assert state["columnOrder"] == state["selectedColumns"]
    # an experiment created before the kind was set (or by `mlflow run`) gets it too
    uri = f"sqlite:///{tmp_path / 'old.db'}"
    old = MlflowClient(tracking_uri=uri)
    made = old.create_experiment("made-before", artifact_location=(tmp_path / "a").as_uri())
    assert "mlflow.experimentKind" not in old.get_experiment(made).tags
    assert configure_tracking(uri, "made-before", tmp_path / "a") == made
    assert old.get_experiment(made).tags["mlflow.experimentKind"] == "custom_model_development"
    launched = old.create_experiment("launched", artifact_location=(tmp_path / "b").as_uri())
    configure_tracking(uri, "ignored", tmp_path / "b", launched_experiment_id=launched)
    assert old.get_experiment(launched).tags["mlflow.experimentKind"] == (
        "custom_model_development"
    )


def test_the_parent_run_leads_with_rounded_headline_metrics_inside_their_intervals(
    trained: Trained,
) -> None:
    metrics = _client(trained).get_run(trained.result.run_id).data.metrics
    headline = {k: v for k, v in metrics.items() if k.startswith(HEADLINE_PREFIX)}
    assert len(headline) <= 20, "a short list, not another hundred columns"
    chosen = next(
        r
        for r in trained.result.results
        if r.fold == trained.result.folds[-1].name and r.candidate == trained.result.chosen
    )
    for m in ("pr_auc", "roc_auc", "precision_at_capacity", "recall_at_capacity"):
        assert m in HEADLINE
        value, low, high = (headline[f"{HEADLINE_PREFIX}{m}{s}"] for s in ("", "_low", "_high"))
        assert low <= value <= high, m
        assert low < high, m
        # rounded to 3 significant digits, from the full-precision figure logged beside it
        assert value == significant(metrics[m]) == significant(chosen.metrics[m].value)
        assert low == significant(chosen.metrics[m].low)
        assert high == significant(chosen.metrics[m].high)
    base_rate = headline[f"{HEADLINE_PREFIX}base_rate"]
    assert base_rate == significant(float(chosen.y.mean()))
    assert 0 < base_rate < headline[f"{HEADLINE_PREFIX}precision_at_capacity"]
    # the names other code reads are still there, at full precision
    for m in ("pr_auc", "roc_auc", "precision_at_capacity", "brier", "ece"):
        assert metrics[m] == chosen.metrics[m].value


def test_runs_models_and_versions_describe_themselves(trained: Trained) -> None:
    client = _client(trained)
    run = client.get_run(trained.result.run_id)
    note = run.data.tags[NOTE_TAG]
    assert OUTCOME_WORDS in note
    assert "prompt for professional review" in note
    assert trained.result.chosen in note
    assert run.data.tags["data_fingerprint"][:12] in note
    assert trained.result.folds[-1].test.isoformat() in note
    assert f"{NAME} version {trained.result.registered_version}" in note
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    assert len(children) == len(trained.result.folds)
    for child in children:
        fold = next(f for f in trained.result.folds if f.name == child.data.tags["mlflow.runName"])
        assert child.data.tags[NOTE_TAG].startswith(f"**Fold {fold.name}**")
        assert fold.test.isoformat() in child.data.tags[NOTE_TAG]

    model = client.get_registered_model(NAME).description
    assert OUTCOME_WORDS in model
    assert "prompt for professional review" in model
    assert "never a decision" in model
    version = client.get_model_version(NAME, trained.result.registered_version).description
    assert OUTCOMES["victim"].heading in version
    assert trained.result.chosen in version
    assert run.data.tags["data_fingerprint"][:12] in version
    assert "PR AUC" in version
    assert f"{RELEASE_STATUS} not yet audited" in version
    for text in (note, model, version):
        for word in ("offender", "suspect", "person_id", "log-odds"):
            assert word not in text.lower(), word


@pytest.fixture
def private_registry(trained: Trained, tmp_path: Path) -> Registry:
    """A copy of the trained registry and its release ledger: decisions here stay here."""
    source = Path(trained.tracking_uri.removeprefix("sqlite:///"))
    shutil.copy(source, tmp_path / "mlflow.db")
    for ledger_file in source.parent.glob("release-ledger.*"):
        shutil.copy(ledger_file, tmp_path / ledger_file.name)
    return Registry(f"sqlite:///{tmp_path / 'mlflow.db'}")


def test_each_release_decision_rewrites_the_versions_release_status(
    trained: Trained, private_registry: Registry
) -> None:
    version = trained.result.registered_version
    before = private_registry.version("victim", version=version).description
    training_part = before.split(RELEASE_STATUS)[0]
    private_registry.set_tags("victim", version, {GATE_TAG: "fail"})
    failed = private_registry.version("victim", version=version).description
    assert failed.startswith(training_part)
    assert failed.count(RELEASE_STATUS) == 1
    assert "fairness gate **fail**" in failed
    assert "not released" in failed
    private_registry.promote("victim", version, approver="A. Reviewer", reason="demo only")
    released = private_registry.version("victim", version=version).description
    assert released.startswith(training_part)
    assert released.count(RELEASE_STATUS) == 1
    assert "Released by override by A. Reviewer" in released
    assert '"demo only"' in released
    assert "Promoted to champion on" in released
    assert private_registry.version("victim", version=version).tags[APPROVER_TAG] == "A. Reviewer"


def test_with_release_status_replaces_only_the_status_paragraph() -> None:
    text = with_release_status("About the model.", {GATE_TAG: "not run"})
    assert text.startswith("About the model.\n\n" + RELEASE_STATUS + " not yet audited")
    passed = with_release_status(text, {GATE_TAG: "pass"})
    assert passed == "About the model.\n\n" + RELEASE_STATUS + " fairness gate **pass** " + (
        "against the recorded outcomes: may become champion."
    )


def test_fixed_calibration_bins_cover_the_upper_range_with_wilson_intervals() -> None:
    rng = np.random.default_rng(3)
    p = np.concatenate([rng.uniform(0, 0.02, 5_000), rng.uniform(0.02, 0.6, 400)])
    y = (rng.random(len(p)) < p).astype(int)
    bins = calibration_bins(y, p)
    assert bins["n"].sum() == len(p)
    upper = bins[bins["lower"] >= 0.25]
    assert len(upper) >= 3, "the range panels work in has bins of its own"
    assert (upper["n"] > 0).all()
    assert bins["upper"].max() == 0.7  # the highest bin holding anyone (0.5–0.7)
    for row in bins.to_dict("records"):
        inside = (p >= row["lower"]) & (p < row["upper"])
        assert row["n"] == inside.sum()
        assert row["involved"] == y[inside].sum()
        assert row["predicted"] == pytest.approx(p[inside].mean())
        assert row["observed_low"] <= row["observed"] <= row["observed_high"]
        assert (row["observed_low"], row["observed_high"]) == pytest.approx(
            wilson_interval(row["involved"], row["n"])
        )
        assert row["enough"] == (row["n"] >= MIN_BIN_PEOPLE)
    # an estimate of exactly 1.0 falls in the last bin, not outside every bin
    edge = calibration_bins(np.array([1, 0]), np.array([1.0, 0.0]))
    assert list(edge["upper"]) == [0.02, 1.0]


def test_the_calibration_plot_saves_both_views(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    p = np.concatenate([rng.uniform(0, 0.05, 3_000), rng.uniform(0.25, 0.5, 200)])
    y = (rng.random(len(p)) < p).astype(int)
    result = SimpleNamespace(y=y, probability=p, candidate="lightgbm")
    path = tmp_path / "calibration.png"
    bins = calibration_plot([result], result, path)  # type: ignore[list-item, arg-type]
    assert {0.2, 0.3, 0.4} <= set(bins["lower"])
    assert (bins.loc[bins["lower"] >= 0.2, "n"] > 0).all()
    height, width, _ = matplotlib.image.imread(path).shape
    assert width > 1.8 * height, "two panels side by side"
