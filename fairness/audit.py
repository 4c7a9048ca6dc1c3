"""By-group fairness metrics with intervals, compared with a reference group.

Point values come from fairlearn's :class:`~fairlearn.metrics.MetricFrame`, one per
attribute. Intervals are bootstrap percentiles, resampling people within each group
(a stratified bootstrap, so every group keeps its size): the threshold metrics depend
only on a group's 2×2 table, which is resampled exactly as a multinomial draw; means
are resampled person by person. AUC's interval is the Hanley–McNeil normal
approximation (a bootstrap of AUC over 100,000 rows costs minutes and adds nothing).
Differences and ratios to the reference group pair the b-th draw of the group with the
b-th draw of the reference.

The audit works on any predictions table: a 0/1 outcome, a decision (or a score and a
threshold), optionally a probability (for calibration and AUC), and group columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import precision_score, roc_auc_score

from fairness.policy import SEPARATOR

__all__ = [
    "LABELS",
    "NEEDS_EVENTS",
    "PROBABILITY_METRICS",
    "THRESHOLD_METRICS",
    "AuditError",
    "AuditSettings",
    "add_intersections",
    "audit",
    "intersection_reference",
]

#: metrics that need outcomes in the group to mean anything
NEEDS_EVENTS = ("tpr", "fnr", "auc", "observed_rate", "calibration", "equalised_odds")
THRESHOLD_METRICS = ("selection_rate", "tpr", "fpr", "fnr", "precision")
PROBABILITY_METRICS = ("mean_predicted", "observed_rate", "calibration", "auc")
LABELS = {
    "selection_rate": "selection rate",
    "tpr": "true-positive rate",
    "fpr": "false-positive rate",
    "fnr": "false-negative rate",
    "precision": "precision",
    "mean_predicted": "mean predicted risk",
    "observed_rate": "observed rate",
    "calibration": "calibration (predicted ÷ observed)",
    "auc": "AUC",
    "equalised_odds": "equalised-odds gap",
}


class AuditError(ValueError):
    """The predictions cannot be audited (one line naming the problem)."""


@dataclass(frozen=True)
class AuditSettings:
    min_group_size: int = 500
    min_events: int = 20
    bootstrap_samples: int = 200
    confidence: float = 0.95
    seed: int = 0


def _precision(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray) -> float:
    if not (np.asarray(y_pred) * sample_weight).any():
        return float("nan")
    return float(precision_score(y_true, y_pred, sample_weight=sample_weight, zero_division=np.nan))


def _auc(y_true: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y_true, score)) if len(np.unique(y_true)) == 2 else float("nan")


def _at(frame: pd.DataFrame, row: str, column: str) -> float:
    return float(cast(Any, frame.at[row, column]))


def _rates(cells: np.ndarray) -> dict[str, np.ndarray]:
    """Threshold metrics from 2×2 counts, columns (tn, fp, fn, tp); vectorised over rows."""
    tn, fp, fn, tp = (cells[..., i].astype(float) for i in range(4))
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "selection_rate": (fp + tp) / (tn + fp + fn + tp),
            "tpr": tp / (tp + fn),
            "fpr": fp / (fp + tn),
            "fnr": fn / (tp + fn),
            "precision": tp / (tp + fp),
        }


def _hanley_mcneil(auc: float, positives: int, negatives: int) -> float:
    if not np.isfinite(auc) or positives == 0 or negatives == 0:
        return float("nan")
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (
        positives * negatives
    )
    return float(np.sqrt(max(var, 0.0)))


def _draws(
    y: np.ndarray,
    decision: np.ndarray,
    probability: np.ndarray | None,
    expected: np.ndarray,
    boots: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Bootstrap draws of every metric for one group (AUC excluded)."""
    n = len(y)
    counts = np.array(
        [
            np.sum((y == 0) & ~decision),
            np.sum((y == 0) & decision),
            np.sum((y == 1) & ~decision),
            np.sum((y == 1) & decision),
        ]
    )
    cells = rng.multinomial(n, counts / n, size=boots) if n else np.zeros((boots, 4))
    out = _rates(cells)
    if probability is not None:
        predicted = np.empty(boots)
        observed = np.empty(boots)
        chunk = max(1, 4_000_000 // max(n, 1))
        for start in range(0, boots, chunk):
            stop = min(boots, start + chunk)
            idx = rng.integers(0, n, size=(stop - start, n))
            predicted[start:stop] = probability[idx].mean(axis=1)
            observed[start:stop] = expected[idx].mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["mean_predicted"] = predicted
            out["observed_rate"] = observed
            out["calibration"] = predicted / observed
    return out


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if len(finite) < max(10, len(values) // 2):
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def _metric_frame(
    y: np.ndarray,
    decision: np.ndarray,
    probability: np.ndarray | None,
    expected: np.ndarray,
    groups: pd.Series,
) -> pd.DataFrame:
    """Point values per group.

    The threshold metrics come from fairlearn's MetricFrame. They depend only on each
    group's 2×2 table, so people with the same group, outcome and decision are passed
    once with their count as ``sample_weight`` (identical values; MetricFrame's cost
    grows with rows, and 100,000 rows × 9 attributes took half a minute).
    """
    cells = (
        pd.DataFrame({"group": groups.to_numpy(), "y": y, "d": decision.astype(int)})
        .groupby(["group", "y", "d"], observed=True)
        .size()
        .reset_index(name="w")
    )
    weight = cells["w"].to_numpy(dtype=float)
    functions = {
        "selection_rate": selection_rate,
        "tpr": true_positive_rate,
        "fpr": false_positive_rate,
        "fnr": false_negative_rate,
        "precision": _precision,
    }
    frame = pd.DataFrame(
        MetricFrame(
            metrics=functions,
            y_true=cells["y"].to_numpy(),
            y_pred=cells["d"].to_numpy(),
            sensitive_features=cells["group"].rename("group"),
            sample_params={name: {"sample_weight": weight} for name in functions},
        ).by_group
    )
    frame.index = frame.index.astype(str)
    if probability is not None:
        by = pd.Series(groups.to_numpy(), name="group")
        predicted = pd.Series(probability).groupby(by).mean()
        observed = pd.Series(expected).groupby(by).mean()
        frame["mean_predicted"] = predicted
        frame["observed_rate"] = observed
        frame["calibration"] = (predicted / observed.where(observed > 0)).astype(float)
        codes = groups.to_numpy()
        frame["auc"] = [_auc(y[codes == g], probability[codes == g]) for g in frame.index]
    return frame


def add_intersections(groups: pd.DataFrame, pairs: Sequence[Sequence[str]]) -> pd.DataFrame:
    """Add one column per intersection, named ``A × B`` with values ``a × b``."""
    out = groups.copy()
    for a, b in pairs:
        out[f"{a}{SEPARATOR}{b}"] = out[a].astype(str) + SEPARATOR + out[b].astype(str)
    return out


def intersection_reference(attribute: str, group: str, reference: Mapping[str, str]) -> str:
    """For ``A × B``, the reference of ``a × b`` is ``ref(A) × b`` (B held fixed)."""
    first = attribute.split(SEPARATOR)[0]
    rest = group.split(SEPARATOR)[1:]
    return SEPARATOR.join([reference[first], *rest])


def audit(
    y: np.ndarray,
    decision: np.ndarray,
    groups: pd.DataFrame,
    reference: Mapping[str, str],
    *,
    probability: np.ndarray | None = None,
    expected: np.ndarray | None = None,
    settings: AuditSettings | None = None,
) -> pd.DataFrame:
    """The by-group table: one row per attribute, group and metric.

    ``y`` is the outcome audited against (0/1), ``decision`` who was flagged,
    ``probability`` the model's estimate (optional), ``expected`` the outcome's
    expected value per person for calibration (the true probability when the truth is
    known; ``y`` otherwise). Attributes named ``A × B`` are intersections: each group is
    compared with the reference of A within the same B.
    """
    settings = settings or AuditSettings()
    y = np.asarray(y)
    if len(y) == 0:
        raise AuditError("no rows to audit")
    if not np.isin(y, (0, 1)).all():
        raise AuditError("the outcome must be 0 or 1 on every row (missing outcomes removed)")
    y = y.astype(int)
    decision = np.asarray(decision).astype(bool)
    p = None if probability is None else np.asarray(probability, dtype=float)
    if p is not None and (not np.isfinite(p).all() or (p < 0).any() or (p > 1).any()):
        raise AuditError("probabilities must be numbers between 0 and 1")
    e = y.astype(float) if expected is None else np.asarray(expected, dtype=float)
    rng = np.random.default_rng(settings.seed)
    boots = settings.bootstrap_samples
    rows: list[dict[str, object]] = []
    for attribute in groups.columns:
        column = groups[attribute].astype(str).reset_index(drop=True)
        points = _metric_frame(y, decision, p, e, column)
        members = {str(g): np.flatnonzero(column.to_numpy() == g) for g in points.index}
        draws = {
            g: _draws(y[i], decision[i], None if p is None else p[i], e[i], boots, rng)
            for g, i in members.items()
        }
        for group, idx in members.items():
            ref = (
                intersection_reference(attribute, group, reference)
                if SEPARATOR in attribute
                else reference.get(attribute)
            )
            if ref is not None and ref not in members:
                ref = None
            rows.extend(
                _group_rows(
                    attribute, group, ref, idx, members, points, draws, y, decision, p, settings
                )
            )
    return pd.DataFrame(rows)


def _size_note(n: int, events: int, selected: int, metric: str, s: AuditSettings) -> str:
    if n < s.min_group_size:
        return f"too small to assess: {n} people (minimum {s.min_group_size})"
    if metric in NEEDS_EVENTS and events < s.min_events:
        return f"too small to assess: {events} outcomes (minimum {s.min_events})"
    if metric == "precision" and selected < s.min_events:
        return f"too small to assess: {selected} flagged (minimum {s.min_events})"
    return ""


def _group_rows(
    attribute: str,
    group: str,
    ref: str | None,
    idx: np.ndarray,
    members: Mapping[str, np.ndarray],
    points: pd.DataFrame,
    draws: Mapping[str, Mapping[str, np.ndarray]],
    y: np.ndarray,
    decision: np.ndarray,
    p: np.ndarray | None,
    s: AuditSettings,
) -> list[dict[str, object]]:
    def counts(i: np.ndarray) -> tuple[int, int, int]:
        return len(i), int(y[i].sum()), int(decision[i].sum())

    n, events, selected = counts(idx)
    metrics = [m for m in (*THRESHOLD_METRICS, *PROBABILITY_METRICS) if m in points.columns]
    rows: list[dict[str, object]] = []
    for metric in [*metrics, "equalised_odds"]:
        row: dict[str, object] = {
            "attribute": attribute,
            "group": group,
            "reference_group": ref,
            "is_reference": group == ref,
            "n": n,
            "events": events,
            "flagged": selected,
            "metric": metric,
        }
        if metric == "equalised_odds":
            row.update(_equalised_odds(group, ref, points, draws, s))
        else:
            value = _at(points, group, metric)
            row["value"] = value
            if metric == "auc":
                se = _hanley_mcneil(value, events, n - events)
                row["ci_low"], row["ci_high"] = value - 1.96 * se, value + 1.96 * se
            else:
                row["ci_low"], row["ci_high"] = _interval(draws[group][metric], s.confidence)
            if ref is not None:
                ref_value = _at(points, ref, metric)
                row["reference_value"] = ref_value
                row["difference"] = value - ref_value
                row["ratio"] = value / ref_value if ref_value else float("nan")
                if metric != "auc":
                    a, b = draws[group][metric], draws[ref][metric]
                    with np.errstate(divide="ignore", invalid="ignore"):
                        row["difference_ci_low"], row["difference_ci_high"] = _interval(
                            a - b, s.confidence
                        )
                        row["ratio_ci_low"], row["ratio_ci_high"] = _interval(a / b, s.confidence)
        note = _size_note(n, events, selected, metric, s)
        if not note and ref is not None and group != ref:
            rn, re_, rs = counts(members[ref])
            ref_note = _size_note(rn, re_, rs, metric, s)
            note = f"reference group {ref}: {ref_note}" if ref_note else ""
        value_now = row.get("value")
        row["assessable"] = not note and not (
            isinstance(value_now, float) and not np.isfinite(value_now)
        )
        row["note"] = note or ("" if row["assessable"] else "not defined for this group")
        rows.append(row)
    return rows


def _equalised_odds(
    group: str,
    ref: str | None,
    points: pd.DataFrame,
    draws: Mapping[str, Mapping[str, np.ndarray]],
    s: AuditSettings,
) -> dict[str, object]:
    if ref is None:
        return {"value": float("nan")}
    gap = max(
        abs(_at(points, group, "tpr") - _at(points, ref, "tpr")),
        abs(_at(points, group, "fpr") - _at(points, ref, "fpr")),
    )
    boot = np.maximum(
        np.abs(draws[group]["tpr"] - draws[ref]["tpr"]),
        np.abs(draws[group]["fpr"] - draws[ref]["fpr"]),
    )
    low, high = _interval(boot, s.confidence)
    return {
        "value": gap,
        "ci_low": low,
        "ci_high": high,
        "reference_value": 0.0,
        "difference": gap,
        "difference_ci_low": low,
        "difference_ci_high": high,
    }
