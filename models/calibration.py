"""Probability calibration fitted on a slice later than training.

Two methods — Platt (logistic on the raw score) and isotonic — are compared by
Brier score with two-fold cross-validation on the validation slice (split by
person); the winner is refitted on the calibration slice.
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss

METHODS = ("platt", "isotonic")


class Calibrator:
    """Maps a raw score to a probability."""

    def __init__(self, method: str = "platt") -> None:
        if method not in METHODS:
            raise ValueError(f"unknown calibration method {method!r}; use one of {METHODS}")
        self.method = method

    def fit(self, score: np.ndarray, y: np.ndarray) -> Calibrator:
        s = np.asarray(score, dtype=float).reshape(-1, 1)
        if self.method == "platt":
            self.model_ = LogisticRegression(C=1e6, max_iter=1000).fit(s, y)
        else:
            self.model_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
                s.ravel(), y
            )
        return self

    def predict(self, score: np.ndarray) -> np.ndarray:
        s = np.asarray(score, dtype=float)
        if self.method == "platt":
            return self.model_.predict_proba(s.reshape(-1, 1))[:, 1]
        return np.clip(self.model_.predict(s), 0.0, 1.0)


def choose_method(score: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int = 0) -> str:
    """The method with the lower two-fold cross-validated Brier score on this slice."""
    ids = np.unique(groups)
    rng = np.random.default_rng(seed)
    half = set(rng.choice(ids, size=len(ids) // 2, replace=False).tolist())
    in_a = np.array([g in half for g in groups])
    losses = {}
    for method in METHODS:
        loss = 0.0
        for fit_mask in (in_a, ~in_a):
            if y[fit_mask].sum() == 0 or y[~fit_mask].sum() == 0:
                loss = np.inf
                break
            cal = Calibrator(method).fit(score[fit_mask], y[fit_mask])
            loss += brier_score_loss(y[~fit_mask], cal.predict(score[~fit_mask]))
        losses[method] = loss
    return min(METHODS, key=lambda m: (losses[m], m != "platt"))
