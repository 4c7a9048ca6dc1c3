"""`vru train --mitigate threshold`: fairlearn's ThresholdOptimizer, reported beside the model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate, true_positive_rate
from typer.testing import CliRunner

from features.snapshot import build_snapshot
from features.vocabulary import cohort_of
from models.panels import within_capacity
from models.risk_model import ModelBundle, RiskModel
from tests.model.conftest import CAPACITY, Trained
from training.mitigate import fit_threshold, flag_probability, mitigated_metrics
from training.results import CandidateResult
from training.train import comparison_table
from vru.cli import app

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("training")]
BY = "sex"


@pytest.fixture(scope="module")
def slices(trained: Trained) -> tuple[pd.DataFrame, pd.DataFrame]:
    fold = trained.result.folds[-1]
    frame = build_snapshot(trained.data_dir, [fold.valid, fold.test], labels=True).frame
    frame = frame[frame["sv_victim_12m"].notna()]
    as_of = frame["as_of"].dt.date
    return frame[as_of == fold.valid], frame[as_of == fold.test]


def _probability(bundle: ModelBundle, frame: pd.DataFrame) -> np.ndarray:
    """The one scoring path (RiskModel.predict)."""
    return RiskModel(bundle).predict(None, frame)["probability"].to_numpy(dtype=float)


def _chosen(trained: Trained) -> CandidateResult:
    last = trained.result.folds[-1].name
    return next(
        r for r in trained.result.results if r.fold == last and r.candidate == trained.result.chosen
    )


def _gap(y: np.ndarray, rate: np.ndarray, groups: np.ndarray) -> float:
    """Largest between-group gap in expected TPR or FPR of a (randomised) rule."""
    frame = MetricFrame(
        metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=np.repeat(y, 2),
        y_pred=np.tile([1, 0], len(y)),
        sensitive_features=np.repeat(groups, 2),
        sample_params={
            "tpr": {"sample_weight": np.column_stack([rate, 1 - rate]).ravel()},
            "fpr": {"sample_weight": np.column_stack([rate, 1 - rate]).ravel()},
        },
    )
    return float(frame.difference().max())


def test_threshold_optimizer_equalises_odds_where_it_was_fitted(
    trained: Trained, slices: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    valid, _ = slices
    bundle = _chosen(trained).bundle
    y = valid["sv_victim_12m"].to_numpy(dtype=int)
    groups = valid[BY].astype(str).to_numpy()
    optimizer = fit_threshold(bundle, valid, y, BY)
    flag = flag_probability(optimizer, valid, BY)
    assert ((flag >= 0) & (flag <= 1)).all()
    p = _probability(bundle, valid)
    # the unmitigated model flagging the same share of people
    plain = (p >= np.quantile(p, 1 - flag.mean())).astype(float)
    assert _gap(y, flag, groups) < 0.05
    assert _gap(y, flag, groups) < _gap(y, plain, groups)


def test_the_cost_at_capacity_is_reported_beside_the_candidate(
    trained: Trained, slices: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    valid, test = slices
    chosen = _chosen(trained)
    optimizer = fit_threshold(chosen.bundle, valid, valid["sv_victim_12m"].to_numpy(dtype=int), BY)
    y = test["sv_victim_12m"].to_numpy(dtype=int)
    p = _probability(chosen.bundle, test)
    area = test["local_authority"].to_numpy(dtype=object)
    # both lists, as panels receive them (the mitigated rule's come from the same function)
    listed = within_capacity(
        test["person_id"].to_numpy(dtype=object), area, p, CAPACITY, cohort_of(test)
    )
    metrics, gaps, after = mitigated_metrics(optimizer, test, y, p, listed, CAPACITY, BY, n_boot=10)
    assert after.sum() == listed.sum(), "the mitigated lists fill the same capacity"
    assert metrics["precision_at_capacity"].value == pytest.approx(y[after].mean())
    assert np.isnan(metrics["brier"].value)  # a randomised rule is not a probability
    assert 0 <= metrics["precision_at_capacity"].value <= 1
    assert {"eo_gap_at_capacity", "eo_gap_at_capacity_unmitigated"} <= set(gaps)
    mitigated = CandidateResult(
        fold=chosen.fold,
        candidate=f"{chosen.candidate}+threshold",
        calibration=chosen.calibration,
        metrics=metrics,
        truth={},
        y=y,
        probability=p,
        area=area,
        chosen=after,
        bundle=chosen.bundle,
        fairness=gaps,
    )
    table = comparison_table([chosen, mitigated])
    assert list(table["candidate"]) == [chosen.candidate, f"{chosen.candidate}+threshold"]
    assert table["precision_at_capacity"].notna().all()
    assert pd.isna(table.loc[0, "eo_gap_at_capacity"])
    assert table.loc[1, "eo_gap_at_capacity"] == round(gaps["eo_gap_at_capacity"], 3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mitigate", "reweigh"], "--mitigate must be threshold"),
        (["--mitigate", "threshold", "--mitigate-by", "postcode"], "--mitigate-by must be one of"),
    ],
)
def test_bad_mitigation_arguments_exit_2(trained: Trained, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["train", "--data", str(trained.data_dir), *args])
    assert result.exit_code == 2
    assert message in result.output
