"""Probability calibration fitted on a slice later than training.

Two methods — Platt (logistic on the raw score) and isotonic — are compared with
two-fold cross-validation on the validation slice (split by person): a method whose
out-of-fold estimates over-state the observed rate of the top band (the highest
:data:`TOP_BAND_SHARE` of scores) by more than :data:`MAX_TOP_BAND_RATIO` is not
chosen when the other does not; among the rest the lower Brier score wins. The winner
is refitted on the calibration slice, and refitted again on :data:`RESAMPLES`
bootstrap resamples of it: the spread of their estimates is the individual
estimate's interval (:meth:`Calibrator.interval`).

**Calibration by group** (``Calibrator(method, by=CALIBRATE_BY)``, what training fits
since policy 2026.12-4): after the shared map, each group gets its own shift in log-odds,
fitted so that the group's estimates add up to its observed outcomes on the calibration
slice (the maximum-likelihood intercept of each group, the shared estimate held as an
offset). A shift is the same for everyone in a group, so the order of young people
*within* a group never changes. The groups are sex within each cohort (girls already
known to services for serious violence, girls with no such record yet, and the same for
boys): each list is drawn from one cohort, so sex is used only to say what an estimate
means, never to move a young person past another of the same sex on the same list.

Without it a model that does not read sex over-states girls' risk relative to boys'
(boys' true rate of serious violence is several times girls'): "about 8 in 100 young
people with similar records" would be true of boys and not of girls. Sex alone is not
enough: one shift per sex leaves girls' victimisation risk over-stated among those with
no record yet and under-stated among those already known (1.25 and 0.76 of boys' against
the truth, 100,000 young people); within each cohort both are near 1 (0.94 and 1.01).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit
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
#: a group derived from the features rather than read from a column: the cohort each list
#: is drawn from (:func:`features.vocabulary.cohort_of`)
COHORT = "cohort"
#: what training calibrates by: sex (only to calibrate, never a model input) within cohort
CALIBRATE_BY: tuple[str, ...] = ("sex", COHORT)
#: how a group's key joins its parts ("female · not_yet_involved")
KEY_SEPARATOR = " · "
#: a group's shift in log-odds is kept within ± this (a group with no outcome at all on the
#: calibration slice would otherwise be shifted to a probability of zero)
MAX_SHIFT = 4.0
#: estimates are kept this far from 0 and 1 before shifting (isotonic maps reach both)
_EDGE = 1e-6

MSG_NEEDS_GROUPS = "this calibrator calibrates by {by}: each row's group is needed"
MSG_UNKNOWN_GROUP = "{by} {value!r} was not seen when calibrating (seen: {seen})"


def row_columns(by: tuple[str, ...] | None) -> list[str]:
    """The columns a row must hold for calibrating ``by`` (the cohort is derived)."""
    return [name for name in by or () if name != COHORT]


def group_keys(frame: pd.DataFrame, by: tuple[str, ...]) -> np.ndarray:
    """Each row's calibration group (``"female · not_yet_involved"``): its ``by`` columns,
    the cohort derived from its involvement counts. A row without a value is refused."""
    from features.vocabulary import cohort_of

    parts = []
    for name in by:
        if name == COHORT:
            parts.append(np.asarray(cohort_of(frame), dtype=str))
            continue
        values = frame[name]
        missing = values.isna().to_numpy()
        if missing.any():
            rows = ", ".join(str(i) for i in frame.index[missing][:5])
            raise ValueError(
                f"{int(missing.sum())} row(s) lack {name}, which the estimate is calibrated "
                f"by: {rows}"
            )
        parts.append(values.astype(str).to_numpy(dtype=str))
    keys = parts[0].astype(object)
    for part in parts[1:]:
        keys = keys + KEY_SEPARATOR + part.astype(object)
    return np.asarray(keys, dtype=str)


def group_shift(p: np.ndarray, y: np.ndarray) -> float:
    """The shift in log-odds after which ``p`` adds up to the outcomes ``y``: the
    maximum-likelihood intercept with ``logit(p)`` as an offset (within ±MAX_SHIFT)."""
    offset = logit(np.clip(np.asarray(p, dtype=float), _EDGE, 1 - _EDGE))
    events = float(np.sum(y))

    def excess(shift: float) -> float:
        return float(expit(offset + shift).sum()) - events

    if excess(-MAX_SHIFT) >= 0:
        return -MAX_SHIFT
    if excess(MAX_SHIFT) <= 0:
        return MAX_SHIFT
    return float(brentq(excess, -MAX_SHIFT, MAX_SHIFT, xtol=1e-10))


class Calibrator:
    """Maps a raw score to a probability (with ``by``, then shifts it by each group's own
    log-odds shift)."""

    def __init__(self, method: str = "platt", by: tuple[str, ...] | None = None) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown calibration method {method!r}; use one of {METHODS}")
        self.method = method
        #: what each group's shift is fitted by (:func:`group_keys`; ``None``: one map for
        #: everyone)
        self.by = tuple(by) if by else None

    def fit(
        self,
        score: np.ndarray,
        y: np.ndarray,
        resamples: int = 0,
        seed: int = 0,
        groups: np.ndarray | None = None,
    ) -> Calibrator:
        """Fit on ``score`` and ``y`` (and each row's group, when calibrating by one); with
        ``resamples``, also that many bootstrap refits (the interval of :meth:`interval`)."""
        score = np.asarray(score, dtype=float)
        y = np.asarray(y)
        by_group = self._groups(groups, len(score))
        self._fit(score, y, by_group)
        self.resampled_: list[Calibrator] = []
        rng = np.random.default_rng(seed)
        for _ in range(resamples):
            pick = rng.integers(0, len(y), len(y))
            if 0 < y[pick].sum() < len(pick):
                refit = Calibrator(self.method, self.by)
                picked = None if by_group is None else by_group[pick]
                self.resampled_.append(refit._fit(score[pick], y[pick], picked))
        return self

    def interval(
        self, score: np.ndarray, level: float = INTERVAL_LEVEL, groups: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Low and high estimates of each row across the bootstrap refits (``None``
        without refits)."""
        refits = getattr(self, "resampled_", [])
        if len(refits) < 2:
            return None
        estimates = np.vstack([c.predict(score, groups) for c in refits])
        tail = (1 - level) / 2 * 100
        low, high = np.percentile(estimates, [tail, 100 - tail], axis=0)
        point = self.predict(score, groups)
        return np.minimum(low, point), np.maximum(high, point)

    def _groups(self, groups: np.ndarray | None, n: int) -> np.ndarray | None:
        """Each row's group as text (``None`` when not calibrating by one); refuses rows
        without one."""
        if getattr(self, "by", None) is None:
            return None
        if groups is None or len(groups) != n:
            raise ValueError(MSG_NEEDS_GROUPS.format(by=" and ".join(self.by or ())))
        return np.asarray(groups).astype(str)

    def _fit(
        self, score: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None
    ) -> Calibrator:
        s = np.asarray(score, dtype=float).reshape(-1, 1)
        if self.method == "platt":
            self.model_ = LogisticRegression(C=1e6, max_iter=1000).fit(s, y)
        else:
            self.model_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
                s.ravel(), y
            )
        self.shifts_: dict[str, float] = {}
        if groups is not None:
            shared = self._shared(s.ravel())
            y = np.asarray(y)
            self.shifts_ = {
                str(g): group_shift(shared[groups == g], y[groups == g]) for g in np.unique(groups)
            }
        return self

    def _shared(self, s: np.ndarray) -> np.ndarray:
        """The map every group shares."""
        if self.method == "platt":
            return np.asarray(self.model_.predict_proba(s.reshape(-1, 1))[:, 1])
        return np.clip(self.model_.predict(s), 0.0, 1.0)

    def predict(self, score: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
        """The probability of each score (``groups``: each row's group, needed when the
        calibrator calibrates by one; ignored otherwise)."""
        s = np.asarray(score, dtype=float)
        shared = self._shared(s)
        by_group = self._groups(groups, len(s))
        if by_group is None:
            return shared
        shifts = getattr(self, "shifts_", {})
        # one lookup per group, not per row (the batch scores every young person)
        keys, position = np.unique(by_group, return_inverse=True)
        unseen = [k for k in keys.tolist() if k not in shifts]
        if unseen:
            seen = ", ".join(sorted(shifts))
            by = " and ".join(self.by or ())
            raise ValueError(MSG_UNKNOWN_GROUP.format(by=by, value=unseen[0], seen=seen))
        shift = np.array([shifts[k] for k in keys.tolist()], dtype=float)[position]
        return np.asarray(expit(logit(np.clip(shared, _EDGE, 1 - _EDGE)) + shift))

    def shifts(self) -> dict[str, float]:
        """Each group's shift in log-odds (empty without ``by``)."""
        return dict(getattr(self, "shifts_", {}))


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
