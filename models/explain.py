"""Exact, additive explanations in log-odds for every candidate.

For each row: ``base + Σ contributions = margin`` (the model's raw log-odds score),
checked by :func:`check_additivity`. The calibrated probability is reported
beside the explanation; the explanation itself is of the margin.

- LightGBM: exact TreeSHAP, either LightGBM's native ``pred_contrib`` or
  ``shap.TreeExplainer`` (identical values; the benchmark compares their speed).
- Logistic regression: exact linear contributions ``coef × standardised value``.
- Explainable Boosting Machine: each input's term score (the model is their sum).
- Rules baseline: the points of each rule that fired.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.candidates import (
    EBMCandidate,
    LightGBMCandidate,
    LogisticCandidate,
    RulesBaseline,
    threads_for,
)

ADDITIVITY_TOLERANCE = 1e-6
METHODS = ("native", "shap")


@dataclass(frozen=True)
class Contributions:
    """Per-row, per-feature contributions to the margin (log-odds)."""

    base: np.ndarray
    values: pd.DataFrame
    margin: np.ndarray

    def by_domain(self, domains: dict[str, str]) -> pd.DataFrame:
        """Contributions summed within each domain (education, social care, …)."""
        grouped = self.values.T.groupby(pd.Series(domains)).sum().T
        return grouped.reindex(columns=sorted(grouped.columns))


class AdditivityError(AssertionError):
    """base + Σ contributions differs from the model margin."""


def check_additivity(c: Contributions, tolerance: float = ADDITIVITY_TOLERANCE) -> None:
    """Raise :class:`AdditivityError` unless every row adds up to its margin."""
    total = c.base + c.values.to_numpy().sum(axis=1)
    gap = np.abs(total - c.margin)
    if gap.size and gap.max() > tolerance:
        raise AdditivityError(f"contributions miss the margin by up to {gap.max():.2e}")


def _index(X: pd.DataFrame | np.ndarray, index: pd.Index | None) -> pd.Index:
    if index is not None:
        return index
    return X.index if isinstance(X, pd.DataFrame) else pd.RangeIndex(len(X))


def tree_contributions(
    candidate: LightGBMCandidate,
    X: pd.DataFrame | np.ndarray,
    method: str = "native",
    index: pd.Index | None = None,
    margin: np.ndarray | None = None,
) -> Contributions:
    """Exact TreeSHAP values of the booster at its best iteration (``X`` a frame, or a
    float matrix in ``features_`` order with its row ``index``). ``margin``: the score
    already computed for these rows (checked against the contributions), else the
    booster's own."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {METHODS}")
    features = candidate.features_
    data = candidate.prepare(X)
    booster = candidate.model_.booster_
    iteration = candidate.best_iteration_
    if method == "native":
        raw = np.asarray(
            booster.predict(
                data, pred_contrib=True, num_iteration=iteration, num_threads=threads_for(len(data))
            )
        )
        values, base = raw[:, :-1], raw[:, -1]
    else:
        import shap

        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="LightGBM binary classifier", category=UserWarning
            )
            explainer = shap.TreeExplainer(booster)
            # shap explains every tree; restrict the booster to the best iteration first
            if iteration < booster.current_iteration():
                trimmed = booster.model_to_string(num_iteration=iteration)
                import lightgbm as lgb

                explainer = shap.TreeExplainer(lgb.Booster(model_str=trimmed))
            values = np.asarray(explainer.shap_values(data))
        base = np.full(len(data), float(np.ravel(explainer.expected_value)[-1]))
    if margin is None:
        margin = candidate.score(data)
    return Contributions(base, _frame(values, features, _index(X, index)), margin)


@functools.lru_cache(maxsize=32)
def _columns(features: tuple[str, ...]) -> pd.Index:
    return pd.Index(features)


def _frame(values: np.ndarray, features: list[str], index: pd.Index) -> pd.DataFrame:
    """Contributions as a frame; the column index is built once per feature list."""
    return pd.DataFrame(values, columns=_columns(tuple(features)), index=index, copy=False)


def linear_contributions(
    candidate: LogisticCandidate,
    X: pd.DataFrame | np.ndarray,
    index: pd.Index | None = None,
    margin: np.ndarray | None = None,
) -> Contributions:
    """``coef × standardised value`` per feature (its indicator and spline columns summed in)."""
    z = candidate.standardised(X)
    parts = z * candidate.coef_
    if margin is None:  # the model's own linear predictor on the same standardised inputs
        margin = z @ candidate.coef_ + candidate.intercept_
    # each column's part is credited to its feature ("never recorded" indicators, splines)
    credit = np.zeros((parts.shape[1], len(candidate.features_)))
    credit[np.arange(parts.shape[1]), candidate.credit_] = 1.0
    values = parts @ credit
    base = np.full(len(z), candidate.intercept_)
    return Contributions(base, _frame(values, candidate.features_, _index(X, index)), margin)


def ebm_contributions(
    candidate: EBMCandidate,
    X: pd.DataFrame | np.ndarray,
    index: pd.Index | None = None,
    margin: np.ndarray | None = None,
) -> Contributions:
    """Each input's term score: the Explainable Boosting Machine is their sum."""
    values = candidate.terms(X)
    if margin is None:
        margin = candidate.score(X)
    base = np.full(len(values), float(np.ravel(candidate.model_.intercept_)[0]))
    return Contributions(base, _frame(values, candidate.features_, _index(X, index)), margin)


def rules_contributions(candidate: RulesBaseline, X: pd.DataFrame) -> Contributions:
    """The points of each rule that fired, credited to the rule's feature."""
    features = sorted({f for _, f, _ in candidate.rules})
    values = pd.DataFrame(0.0, index=X.index, columns=features)
    for weight, feature, threshold in candidate.rules:
        values[feature] += weight * (X[feature].fillna(0).to_numpy() >= threshold)
    return Contributions(np.zeros(len(X)), values, candidate.score(X))


def contributions(
    estimator: object,
    X: pd.DataFrame | np.ndarray,
    method: str = "native",
    index: pd.Index | None = None,
    margin: np.ndarray | None = None,
) -> Contributions:
    """Contributions for any candidate, additivity checked (``X`` a frame, or — for the
    tree and linear candidates — a float matrix in ``features_`` order with ``index``).

    With ``margin`` (the score the model gave these rows), the contributions must add
    up to it; otherwise to the candidate's own margin, computed here.
    """
    if isinstance(estimator, LightGBMCandidate):
        result = tree_contributions(estimator, X, method, index, margin)
    elif isinstance(estimator, LogisticCandidate):
        result = linear_contributions(estimator, X, index, margin)
    elif isinstance(estimator, EBMCandidate):
        result = ebm_contributions(estimator, X, index, margin)
    elif isinstance(estimator, RulesBaseline):
        if not isinstance(X, pd.DataFrame):
            raise TypeError("the rules baseline explains a frame, not a matrix")
        result = rules_contributions(estimator, X)
    else:
        raise TypeError(f"no explanation for {type(estimator).__name__}")
    check_additivity(result)
    return result
