"""Probability calibration fitted on a slice later than training.

Two methods — Platt (logistic on the raw score) and isotonic — are compared with
two-fold cross-validation on the validation slice (split by person): a method whose
out-of-fold estimates over-state the observed rate of the top band (the highest
:data:`TOP_BAND_SHARE` of scores) by more than :data:`MAX_TOP_BAND_RATIO` is not
chosen when the other does not; among the rest the lower Brier score wins. The winner
is refitted on the calibration slice, and refitted again on :data:`RESAMPLES`
bootstrap resamples of it: the spread of their estimates is the individual
estimate's interval (:meth:`Calibrator.interval`).
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss

METHODS = ("platt", "isotonic")
#: share of young people in the top band ("very high")
TOP_BAND_SHARE = 0.005
#: a calibrator whose top band's mean estimate is above this × the observed rate is refused
MAX_TOP_BAND_RATIO = 1.25
#: bootstrap refits of the calibrator behind each individual estimate's interval
RESAMPLES = 40
#: the interval's coverage (5th to 95th percentile of the refits)
INTERVAL_LEVEL = 0.90


class Calibrator:
    """Maps a raw score to a probability."""

    def __init__(self, method: str = "platt") -> None:
        if method not in METHODS:
            raise ValueError(f"unknown calibration method {method!r}; use one of {METHODS}")
        self.method = method

    def fit(
        self, score: np.ndarray, y: np.ndarray, resamples: int = 0, seed: int = 0
    ) -> Calibrator:
        """Fit on ``score`` and ``y``; with ``resamples``, also that many bootstrap refits
        (the interval of :meth:`interval`)."""
        self._fit(score, y)
        self.resampled_: list[Calibrator] = []
        rng = np.random.default_rng(seed)
        y = np.asarray(y)
        for _ in range(resamples):
            pick = rng.integers(0, len(y), len(y))
            if 0 < y[pick].sum() < len(pick):
                self.resampled_.append(Calibrator(self.method)._fit(score[pick], y[pick]))
        return self

    def interval(
        self, score: np.ndarray, level: float = INTERVAL_LEVEL
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Low and high estimates of each row across the bootstrap refits (``None``
        without refits)."""
        refits = getattr(self, "resampled_", [])
        if len(refits) < 2:
            return None
        estimates = np.vstack([c.predict(score) for c in refits])
        tail = (1 - level) / 2 * 100
        low, high = np.percentile(estimates, [tail, 100 - tail], axis=0)
        point = self.predict(score)
        return np.minimum(low, point), np.maximum(high, point)

    def _fit(self, score: np.ndarray, y: np.ndarray) -> Calibrator:
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


def top_band(score: np.ndarray, share: float = TOP_BAND_SHARE) -> np.ndarray:
    """The rows with the highest ``share`` of scores (at least one)."""
    n = max(1, round(share * len(score)))
    mask = np.zeros(len(score), dtype=bool)
    mask[np.argsort(-np.asarray(score, dtype=float), kind="stable")[:n]] = True
    return mask


def top_band_ratio(p: np.ndarray, y: np.ndarray, top: np.ndarray) -> float:
    """Mean estimate over observed rate in the top band (NaN when nobody there was involved)."""
    observed = float(np.mean(y[top])) if top.any() else 0.0
    return float(np.mean(p[top]) / observed) if observed > 0 else float("nan")


def compare_methods(
    score: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Each method's two-fold cross-validated Brier score and top-band ratio on this slice."""
    ids = np.unique(groups)
    rng = np.random.default_rng(seed)
    half = set(rng.choice(ids, size=len(ids) // 2, replace=False).tolist())
    in_a = np.array([g in half for g in groups])
    top = top_band(score)
    out = {}
    for method in METHODS:
        loss = 0.0
        estimate = np.full(len(y), np.nan)
        for fit_mask in (in_a, ~in_a):
            if y[fit_mask].sum() == 0 or y[~fit_mask].sum() == 0:
                loss = np.inf
                break
            cal = Calibrator(method)._fit(score[fit_mask], y[fit_mask])
            estimate[~fit_mask] = cal.predict(score[~fit_mask])
            loss += brier_score_loss(y[~fit_mask], estimate[~fit_mask])
        ratio = top_band_ratio(estimate, y, top) if np.isfinite(loss) else float("nan")
        out[method] = {"brier": loss, "top_band_ratio": ratio}
    return out


def choose_method(score: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int = 0) -> str:
    """The method with the lower two-fold cross-validated Brier score on this slice, among
    those whose top band is not over-stated by more than :data:`MAX_TOP_BAND_RATIO` (both
    when both are; the less over-stating one when neither is)."""
    compared = compare_methods(score, y, groups, seed)

    def over(m: str) -> float:
        ratio = compared[m]["top_band_ratio"]
        return 0.0 if ratio != ratio else max(0.0, ratio - MAX_TOP_BAND_RATIO)

    return min(METHODS, key=lambda m: (over(m), compared[m]["brier"], m != "platt"))
