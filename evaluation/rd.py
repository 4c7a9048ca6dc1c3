"""Regression discontinuity at the cut with ``rdrobust`` (Calonico, Cattaneo and
Titiunik): local linear, triangular kernel, one MSE-optimal bandwidth either side,
robust bias-corrected 95% intervals, standard errors clustered by young person (the
same young person can be ranked in several months).

:func:`estimate` turns one call into an :class:`evaluation.results.Estimate`, or into a
reason for no number when too few young people are near the cut.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np

from evaluation.results import Estimate

__all__ = ["MIN_EACH_SIDE", "Z_80", "Z_975", "estimate", "minimum_detectable"]

#: listings needed on each side of the cut within the bandwidth before a number is given
MIN_EACH_SIDE = 50
#: distinct places needed on each side (the bias correction fits a quadratic there)
MIN_PLACES = 4
TOO_FEW = "too few young people near the cut to estimate"
Z_975 = 1.959963984540054
Z_80 = 0.8416212335729143


def _withheld(reason: str, n_below: int = 0, n_above: int = 0) -> Estimate:
    return Estimate(None, None, None, None, None, n_below, n_above, None, reason)


def estimate(
    y: np.ndarray,
    x: np.ndarray,
    cluster: np.ndarray,
    *,
    fuzzy: np.ndarray | None = None,
    h: float | None = None,
    c: float = 0.0,
) -> Estimate:
    """The jump in ``y`` at ``x = c`` (right of the cut minus left).

    Parameters
    ----------
    y, x, cluster
        Outcome, running variable and cluster (young person) of each listing.
    fuzzy
        The treatment received (share of the 12 months helped): the estimate is then the
        jump in ``y`` divided by the jump in ``fuzzy`` (a fuzzy design).
    h
        A bandwidth to use instead of the data-driven one (sensitivity checks).
    c
        Where the cut is (placebo cuts move it).
    """
    from rdrobust import rdrobust

    left, right = x < c, x >= c
    if left.sum() < MIN_EACH_SIDE or right.sum() < MIN_EACH_SIDE:
        return _withheld(
            f"{TOO_FEW} (fewer than {MIN_EACH_SIDE} listings on one side)",
            int(left.sum()),
            int(right.sum()),
        )
    places = min(np.unique(x[left]).size, np.unique(x[right]).size)
    if places < MIN_PLACES:
        return _withheld(
            f"{TOO_FEW} (only {places} place(s) on one side of the cut; {MIN_PLACES} needed)",
            int(left.sum()),
            int(right.sum()),
        )
    if np.ptp(y[left]) == 0 and np.ptp(y[right]) == 0:
        return _withheld("the outcome does not vary near the cut, so nothing can be estimated")
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            fit = rdrobust(
                y,
                x,
                c=c,
                fuzzy=fuzzy,
                h=h,
                cluster=cluster,
                vce="nn",
                masspoints="adjust",
            )
    except Exception as exc:  # rdrobust raises bare exceptions on degenerate data
        reason = str(exc).splitlines()[0][:120]
        if reason.startswith("Not enough"):
            return _withheld(f"{TOO_FEW} ({reason})", int(left.sum()), int(right.sum()))
        return _withheld(f"could not be estimated here ({reason})")
    n_below, n_above = (int(n) for n in np.asarray(fit.N_h).ravel()[:2])
    if min(n_below, n_above) < MIN_EACH_SIDE:
        return _withheld(
            f"{TOO_FEW} ({n_below} and {n_above} listings within the bandwidth; "
            f"{MIN_EACH_SIDE} needed on each side)",
            n_below,
            n_above,
        )
    effect = float(fit.coef.iloc[0, 0])
    low, high = (float(v) for v in fit.ci.iloc[2].to_numpy())
    level = float(np.asarray(fit.beta_p_l).ravel()[0])
    if fuzzy is not None and fit.beta_T_p_l is not None:
        # the untreated level just below the cut: the level there less the help received
        level -= effect * float(np.asarray(fit.beta_T_p_l).ravel()[0])
    values = (effect, low, high)
    if not all(np.isfinite(values)):
        return _withheld("could not be estimated here (the fit did not converge)")
    return Estimate(
        effect=effect,
        low=low,
        high=high,
        p_value=float(fit.pv.iloc[2, 0]),
        bandwidth=float(fit.bws.iloc[0, 0]),
        n_below=n_below,
        n_above=n_above,
        level_below=level,
    )


def minimum_detectable(e: Estimate, scale: float = 1.0) -> float | None:
    """The smallest effect detectable with 80% power at 5% (two-sided) from ``e``'s robust
    standard error, times ``scale`` (√(years here ÷ years) for other lengths of data)."""
    if e.low is None or e.high is None:
        return None
    se = (e.high - e.low) / (2 * Z_975)
    return (Z_975 + Z_80) * se * scale
