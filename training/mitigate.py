"""Post-processing mitigation: fairlearn's ThresholdOptimizer (equalised odds).

Fitted on the validation slice with an audit-only column as the sensitive feature;
its decisions are randomised per group, so the mitigated "score" is the probability
that it flags a person (ties broken by the calibrated estimate). It is reported beside
the unmitigated candidate — never silently substituted — so the cost in precision at
panel capacity is on the table for the people who choose.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import equalized_odds_difference
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.base import BaseEstimator

from features.vocabulary import cohort_of
from models.panels import PanelCapacity, within_capacity
from models.risk_model import RiskModel
from training.evaluate import Interval, bootstrap_metrics

METHODS = ("threshold",)
#: metrics that mean nothing for a randomised decision rule (it is not a probability)
NOT_PROBABILITIES = ("brier", "ece")


class _Prefit(BaseEstimator):
    """The calibrated model as an already-fitted scikit-learn-style estimator."""

    def __init__(self, bundle: Any = None) -> None:
        self.bundle = bundle
        self.fitted_ = True

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> _Prefit:
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return RiskModel(self.bundle).predict(None, X)["probability"].to_numpy(dtype=float)


def fit_threshold(bundle: Any, valid: pd.DataFrame, y: np.ndarray, by: str) -> ThresholdOptimizer:
    optimizer = ThresholdOptimizer(
        estimator=_Prefit(bundle),
        constraints="equalized_odds",
        objective="balanced_accuracy_score",
        prefit=True,
        predict_method="predict",
    )
    columns = RiskModel(bundle).required_columns()
    optimizer.fit(valid[columns], y, sensitive_features=valid[by].astype(str).to_numpy())
    return optimizer


def flag_probability(optimizer: ThresholdOptimizer, test: pd.DataFrame, by: str) -> np.ndarray:
    columns = RiskModel(optimizer.estimator.bundle).required_columns()
    pmf = optimizer._pmf_predict(test[columns], sensitive_features=test[by].astype(str).to_numpy())
    return np.asarray(pmf)[:, 1]


def mitigated_metrics(
    optimizer: ThresholdOptimizer,
    test: pd.DataFrame,
    y: np.ndarray,
    probability: np.ndarray,
    chosen: np.ndarray,
    capacity: PanelCapacity | Mapping[str, int],
    by: str,
    n_boot: int,
) -> tuple[dict[str, Interval], dict[str, float], np.ndarray]:
    """Ranking and capacity metrics of the mitigated rule, both rules' fairness gaps, and the
    mitigated rule's lists within capacity.

    ``chosen`` is the unmitigated model's panel lists within capacity; the mitigated
    rule's lists come from the same selection function on its own ranking.
    """
    flag = flag_probability(optimizer, test, by)
    # rank by the chance of being flagged; the calibrated estimate breaks ties within a tier
    score = (flag + 1e-6 * probability) / (1 + 1e-6)
    after = within_capacity(
        test["person_id"].to_numpy(dtype=object),
        test["local_authority"].to_numpy(dtype=object),
        score,
        capacity,
        cohort_of(test),
    )
    metrics = bootstrap_metrics(y, score, after, n_boot=n_boot)
    for name in NOT_PROBABILITIES:
        metrics[name] = Interval(float("nan"), float("nan"), float("nan"))
    groups = test[by].astype(str).to_numpy()
    before = chosen
    gaps = {
        "eo_gap_at_capacity": float(equalized_odds_difference(y, after, sensitive_features=groups)),
        "eo_gap_at_capacity_unmitigated": float(
            equalized_odds_difference(y, before, sensitive_features=groups)
        ),
        "flagged_share_by_rule": float(flag.mean()),
    }
    return metrics, gaps, after
