"""Honest metrics for a rare outcome, with bootstrap intervals.

No accuracy: ROC AUC, PR AUC (average precision), Brier score, expected
calibration error, and what a referral panel sees — precision, recall and lift at
each local authority's capacity (the top *k* of each area). On synthetic data the
model is also scored against the *true* outcome, beside the honest ceiling: the
AUC reached by each young person's true hazard at the as-of date
(:func:`truth_for`'s ``ceiling_probability``), which knows nothing that happened
inside the label window.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from features.labels import label_window_end
from features.vocabulary import OUTCOMES
from models.bands import wilson_interval
from models.panels import PanelCapacity, as_capacity

METRICS = (
    "roc_auc",
    "pr_auc",
    "brier",
    "ece",
    "precision_at_capacity",
    "recall_at_capacity",
    "lift_at_capacity",
)


@dataclass(frozen=True)
class Interval:
    """A point estimate with a 95% bootstrap interval."""

    value: float
    low: float
    high: float

    def text(self, digits: int = 3) -> str:
        return f"{self.value:.{digits}f} ({self.low:.{digits}f}–{self.high:.{digits}f})"


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed − predicted| over equal-count bins, weighted by bin size."""
    order = np.argsort(p, kind="stable")
    chunks = np.array_split(order, bins)
    n = len(p)
    return float(sum(len(c) / n * abs(y[c].mean() - p[c].mean()) for c in chunks if len(c)))


def calibration_curve(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed rate in equal-count bins."""
    order = np.argsort(p, kind="stable")
    rows = [
        {"predicted": float(p[c].mean()), "observed": float(y[c].mean()), "n": len(c)}
        for c in np.array_split(order, bins)
        if len(c)
    ]
    return pd.DataFrame(rows)


#: fixed bin edges of the calibration view where panels work: fine at the low end, where
#: most young people are, and wide enough above 0.2 that each bin still holds some people
CALIBRATION_EDGES = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)
#: bins with fewer young people than this are shown hollow: too few to read alone
MIN_BIN_PEOPLE = 20


def calibration_bins(
    y: np.ndarray,
    p: np.ndarray,
    edges: tuple[float, ...] = CALIBRATION_EDGES,
    min_people: int = MIN_BIN_PEOPLE,
) -> pd.DataFrame:
    """Observed rate against the mean estimate in fixed-width bins of the estimate.

    Unlike :func:`calibration_curve` (equal counts, so nearly every bin sits near zero for a
    rare outcome) the bins follow ``edges``, so the upper range where panels work keeps its
    own bins. Each bin holds ``[lower, upper)`` (the last one includes 1.0).

    Returns
    -------
    pandas.DataFrame
        One row per bin with anyone in it: ``lower``, ``upper``, ``n`` (young people),
        ``involved``, ``predicted`` (mean estimate), ``observed`` (rate), ``observed_low``
        and ``observed_high`` (95% Wilson interval) and ``enough`` (``n >= min_people``).
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    inner = np.asarray(edges[1:-1], dtype=float)
    which = np.searchsorted(inner, p, side="right")
    rows = []
    for i in range(len(edges) - 1):
        inside = which == i
        n = int(inside.sum())
        if n == 0:
            continue
        involved = int(y[inside].sum())
        low, high = wilson_interval(involved, n)
        rows.append(
            {
                "lower": float(edges[i]),
                "upper": float(edges[i + 1]),
                "n": n,
                "involved": involved,
                "predicted": float(p[inside].mean()),
                "observed": involved / n,
                "observed_low": low,
                "observed_high": high,
                "enough": n >= min_people,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "lower",
            "upper",
            "n",
            "involved",
            "predicted",
            "observed",
            "observed_low",
            "observed_high",
            "enough",
        ],
    )


def point_metrics(y: np.ndarray, p: np.ndarray, chosen: np.ndarray) -> dict[str, float]:
    """All metrics once, no interval; ``chosen`` marks the panels' lists within capacity
    (:func:`models.panels.within_capacity`)."""
    base = y.mean()
    precision = y[chosen].mean() if chosen.any() else 0.0
    return {
        **ranking_metrics(y, p),
        "precision_at_capacity": float(precision),
        "recall_at_capacity": float(y[chosen].sum() / max(y.sum(), 1)),
        "lift_at_capacity": float(precision / base) if base > 0 else float("nan"),
    }


def ranking_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC, Brier and ECE (the metrics that need no list)."""
    both = len(np.unique(y)) == 2
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
    }


CAPACITY_METRICS = ("precision_at_capacity", "recall_at_capacity", "lift_at_capacity")


class WeightedRanking:
    """:func:`ranking_metrics` of bootstrap resamples, each given as how many times every
    row was drawn, from one sort of the scores.

    sklearn's metrics sort every resample again (three times: ROC AUC, PR AUC and the
    calibration bins); this sorts once and computes each resample's figures with
    cumulative sums of its counts in that order — linear time, the same numbers: ROC AUC,
    PR AUC and Brier equal sklearn's on the resample itself (tested). The calibration
    error's equal-count bins cut the resample in score order; rows with the same score
    straddling a cut are taken in row order (sklearn's path took them in draw order), which
    moves a bin's mean only when tied rows differ in outcome.
    """

    def __init__(self, y: np.ndarray, p: np.ndarray) -> None:
        y = np.asarray(y, dtype=float)
        p = np.asarray(p, dtype=float)
        self.order = np.argsort(p, kind="stable")  # ascending; the ROC walk reads it back
        self.y = y[self.order]
        self.p = p[self.order]
        # last row of each run of equal scores, walking from the highest score down
        descending = self.p[::-1]
        self.group_ends = np.r_[np.flatnonzero(np.diff(descending) != 0), len(p) - 1]

    def metrics(self, counts: np.ndarray, bins: int = 10) -> dict[str, float]:
        """ROC AUC, PR AUC, Brier and ECE of the resample drawing row ``i`` ``counts[i]``
        times."""
        w = np.asarray(counts, dtype=float)[self.order]
        n = w.sum()
        wy = w * self.y
        positives = wy.sum()
        negatives = n - positives
        out: dict[str, float] = {}
        down_w, down_wy = w[::-1], wy[::-1]
        tp = np.cumsum(down_wy)[self.group_ends]
        fp = np.cumsum(down_w - down_wy)[self.group_ends]
        if positives > 0 and negatives > 0:
            tpr = np.r_[0.0, tp / positives]
            fpr = np.r_[0.0, fp / negatives]
            out["roc_auc"] = float(np.trapezoid(tpr, fpr))
            called = tp + fp
            precision = np.divide(tp, called, out=np.ones_like(tp), where=called > 0)
            recall_step = np.diff(np.r_[0.0, tp]) / positives
            out["pr_auc"] = float(np.sum(recall_step * precision))
        else:
            out["roc_auc"] = out["pr_auc"] = float("nan")
        out["brier"] = float(np.sum(w * (self.p - self.y) ** 2) / n)
        out["ece"] = self._ece(w, wy, n, bins)
        return out

    def _ece(self, w: np.ndarray, wy: np.ndarray, n: float, bins: int) -> float:
        total = int(n)
        sizes = np.full(bins, total // bins)
        sizes[: total % bins] += 1
        cuts = np.r_[0, np.cumsum(sizes)].astype(float)
        reach = np.r_[0.0, np.cumsum(w)]

        def through(values: np.ndarray) -> np.ndarray:
            # the sum of ``values`` (one per drawn copy) over the first ``c`` copies, each cut
            upto = np.r_[0.0, np.cumsum(w * values)]
            k = np.searchsorted(reach, cuts, side="left")
            k = np.clip(k, 1, len(reach) - 1)
            return upto[k - 1] + (cuts - reach[k - 1]) * values[k - 1]

        sum_y = through(self.y)
        sum_p = through(self.p)
        in_bin = np.diff(cuts)
        ys, ps = np.diff(sum_y), np.diff(sum_p)
        keep = in_bin > 0
        return float(np.sum(np.abs(ys[keep] - ps[keep]) / n))


def bootstrap_metrics(
    y: np.ndarray,
    p: np.ndarray,
    chosen: np.ndarray,
    n_boot: int = 100,
    seed: int = 0,
) -> dict[str, Interval]:
    """Point metrics with 95% intervals.

    Ranking and calibration metrics use percentile intervals from ``n_boot`` row
    resamples (rows of one test slice are one per young person, so this resamples
    people). The panel-list metrics (``chosen``: each panel's list within capacity)
    use Wilson intervals on the counts: resampling duplicates people inside a top-*k*
    list and would bias precision upwards.
    """
    point = point_metrics(y, p, chosen)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {m: [] for m in METRICS if m not in CAPACITY_METRICS}
    ranked = WeightedRanking(y, p)
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        counts = np.bincount(idx, minlength=len(y))
        if not (counts * y).any():
            continue
        sample = ranked.metrics(counts)
        for m in draws:
            draws[m].append(sample[m])
    out = {
        m: Interval(point[m], *(np.nanpercentile(v, [2.5, 97.5]) if v else (np.nan, np.nan)))
        for m, v in draws.items()
    }
    hits, k, positives = int(y[chosen].sum()), int(chosen.sum()), int(y.sum())
    base = y.mean()
    low, high = wilson_interval(hits, k)
    out["precision_at_capacity"] = Interval(point["precision_at_capacity"], low, high)
    out["lift_at_capacity"] = Interval(point["lift_at_capacity"], low / base, high / base)
    out["recall_at_capacity"] = Interval(
        point["recall_at_capacity"], *wilson_interval(hits, positives)
    )
    return {m: out[m] for m in METRICS}


def top_band_calibration(
    y: np.ndarray, p: np.ndarray, top: np.ndarray, n_boot: int = 100, seed: int = 0
) -> Interval:
    """Mean estimate over observed rate in the top band (``top``), with a 95% percentile
    interval from ``n_boot`` resamples of the band's young people: 1.0 is exact, above
    1 over-states risk. NaN when nobody in the band was involved."""
    from models.calibration import top_band_ratio

    point = top_band_ratio(p, y, top)
    inside = np.flatnonzero(top)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot if len(inside) else 0):
        pick = inside[rng.integers(0, len(inside), len(inside))]
        observed = y[pick].mean()
        if observed > 0:
            draws.append(p[pick].mean() / observed)
    low, high = np.percentile(draws, [2.5, 97.5]) if draws else (np.nan, np.nan)
    return Interval(point, float(low), float(high))


def capacity_by_area(
    y: np.ndarray,
    p: np.ndarray,
    area: np.ndarray,
    chosen: np.ndarray,
    capacity: PanelCapacity | Mapping[str, int],
) -> pd.DataFrame:
    """Precision, recall and lift at capacity within each area (for the plot and card);
    ``capacity`` is the number named in each area (both lists)."""
    both = as_capacity(capacity)
    rows = []
    for name in sorted(np.unique(area)):
        inside = area == name
        m = point_metrics(y[inside], p[inside], chosen[inside])
        rows.append(
            {
                "local_authority": name,
                "capacity": both.known.get(str(name), 0) + both.early.get(str(name), 0),
                "young_people": int(inside.sum()),
                "involved": int(y[inside].sum()),
                **{
                    k: m[k]
                    for k in ("precision_at_capacity", "recall_at_capacity", "lift_at_capacity")
                },
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------- truth (evaluation only)


def truth_for(
    folder: Path, outcome: str, as_of: dt.date, person_ids: pd.Series
) -> pd.DataFrame | None:
    """True outcome and the generator's probabilities for one as-of date, aligned to
    ``person_ids`` (evaluation on synthetic data only; ``None`` without ``folder/truth``).

    Columns:

    - ``true_outcome``: a true event of the outcome's kind in the 12-month window;
    - ``ceiling_probability``: the **honest ceiling** — the true monthly hazard of the
      as-of month, carried forward unchanged over the 12 months
      (``1 − (1 − h)¹²``). It uses only the young person's true state at the as-of date:
      nothing that happens inside the window (a first event, joining a gang, being taken
      into care) moves it. The decay of recent events is not carried forward, so it is a
      ceiling for *ranking* (AUC, precision at capacity), not a calibrated probability;
    - ``oracle_probability``: the probability along the *realised* path of true monthly
      hazards inside the window. It already knows the rise after an event inside the
      window, so it is **not** a ceiling; it is the expected outcome the fairness audit's
      calibration check compares with.
    """
    truth = folder / "truth"
    if not (truth / "events.parquet").exists():
        return None
    start = pd.Timestamp(as_of)
    stop = pd.Timestamp(label_window_end(as_of))
    events = pq.read_table(
        truth / "events.parquet",
        columns=["person_id", "event_date", "kind"],
        filters=[("kind", "=", OUTCOMES[outcome].truth_kind)],
    ).to_pandas()
    when = pd.to_datetime(events["event_date"])
    involved = set(events.loc[(when >= start) & (when < stop), "person_id"])
    column = OUTCOMES[outcome].truth_probability
    months = pq.read_table(
        truth / "person_months.parquet",
        columns=["person_id", "month", column],
        filters=[("month", ">=", start.date()), ("month", "<", stop.date())],
    ).to_pandas()
    month = pd.to_datetime(months["month"])
    window = months[(month >= start) & (month < stop)]
    hazard = window[column].clip(upper=0.999999).astype(float)
    # along the realised path of true monthly hazards (knows the window)
    survive = np.log1p(-hazard)
    oracle = 1 - np.exp(survive.groupby(window["person_id"]).sum())
    # the as-of month's hazard carried forward (knows only the as-of state)
    first = window[pd.to_datetime(window["month"]) == start]
    n_months = (stop.year - start.year) * 12 + stop.month - start.month
    at_as_of = pd.Series(hazard.loc[first.index].to_numpy(), index=first["person_id"].to_numpy())
    ceiling = 1 - (1 - at_as_of) ** n_months
    out = pd.DataFrame({"person_id": person_ids.to_numpy()})
    out["true_outcome"] = out["person_id"].isin(involved).astype(int)
    out["ceiling_probability"] = out["person_id"].map(ceiling).fillna(0.0).to_numpy()
    out["oracle_probability"] = out["person_id"].map(oracle).fillna(0.0).to_numpy()
    return out


def truth_metrics(y_true: np.ndarray, ceiling: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Model AUC against the true outcome, the honest ceiling's AUC, and their ratio
    (``ceiling`` is :func:`truth_for`'s ``ceiling_probability``)."""
    if len(np.unique(y_true)) < 2:
        return {}
    model_auc = float(roc_auc_score(y_true, p))
    ceiling_auc = float(roc_auc_score(y_true, ceiling))
    return {
        "true_roc_auc": model_auc,
        "ceiling_roc_auc": ceiling_auc,
        "ratio_to_ceiling_auc": model_auc / ceiling_auc,
    }
