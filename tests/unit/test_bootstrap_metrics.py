"""The bootstrap's one-sort path gives sklearn's figures on every resample."""

from __future__ import annotations

import numpy as np
import pytest

from training.evaluate import WeightedRanking, bootstrap_metrics, ranking_metrics


@pytest.mark.parametrize("ties", [False, True])
def test_each_resample_matches_sklearn(ties: bool) -> None:
    rng = np.random.default_rng(7)
    n = 4_000
    y = (rng.random(n) < 0.04).astype(int)
    p = rng.random(n) * 0.3 + 0.2 * y * rng.random(n)
    if ties:  # scores a calibrator's steps would give: many rows share a value
        p = np.round(p, 2)
    ranked = WeightedRanking(y, p)
    for _ in range(5):
        idx = rng.integers(0, n, n)
        fast = ranked.metrics(np.bincount(idx, minlength=n))
        slow = ranking_metrics(y[idx], p[idx])
        for m in ("roc_auc", "pr_auc", "brier"):
            assert fast[m] == pytest.approx(slow[m], rel=1e-12, abs=1e-12), m
        # equal-count bins: tied scores at a cut may be taken in another order
        assert fast["ece"] == pytest.approx(slow["ece"], abs=0.002 if ties else 1e-12)


def test_all_rows_once_is_the_point_estimate() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(2_000) < 0.1).astype(int)
    p = np.clip(0.1 + 0.3 * y * rng.random(2_000) + rng.normal(0, 0.05, 2_000), 0, 1)
    fast = WeightedRanking(y, p).metrics(np.ones(2_000, dtype=int))
    for m, value in ranking_metrics(y, p).items():
        assert fast[m] == pytest.approx(value, rel=1e-12, abs=1e-12), m


def test_intervals_hold_the_point_and_a_resample_without_anyone_involved_is_skipped() -> None:
    rng = np.random.default_rng(5)
    n = 3_000
    y = (rng.random(n) < 0.02).astype(int)
    p = np.clip(0.02 + 0.2 * y + rng.normal(0, 0.05, n), 0, 1)
    chosen = p >= np.sort(p)[-50]
    out = bootstrap_metrics(y, p, chosen, n_boot=60, seed=1)
    for m in ("roc_auc", "pr_auc", "brier", "ece"):
        assert out[m].low <= out[m].value <= out[m].high, m
        assert out[m].low < out[m].high, m
    single = np.zeros(200, dtype=int)
    single[0] = 1  # most resamples of one involved young person in 200 miss them
    q = np.linspace(0, 1, 200)
    few = bootstrap_metrics(single, q, q > 0.9, n_boot=20, seed=0)
    assert few["roc_auc"].value == 0.0
    assert few["roc_auc"].high == 0.0
