"""The two lists on held-out folds: each ranking option against the honest ceiling.

Every snapshot has two cohorts (:data:`features.vocabulary.COHORTS`) and each local
authority's panel receives a list from each: ``known`` (young people already involved
in serious violence) and ``early`` (not yet involved: the early-identification list).
For each fold's test snapshot this module ranks each cohort by every option and
reports precision at the list's capacity (Wilson intervals), against the recorded
outcome and, on synthetic data, the true one:

- every trained candidate restricted to the cohort (the shipped model is one of them;
  ``rules`` is the hand rules baseline, i.e. what is left of the rules without a
  serious-violence history on the early list);
- ``lightgbm (cohort only)``: a LightGBM trained on the cohort alone (early list);
- ``ceiling``: the true hazard at the as-of date (:func:`training.evaluate.truth_for`),
  what no model of the records can beat; ``÷ ceiling`` is each option's precision over
  the ceiling's.

The shipped model ranks both lists (one model, one explanation path): the table says
whether a model trained on the cohort alone would have done better.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.vocabulary import COHORTS, NOT_YET_INVOLVED, cohort_of
from models.bands import wilson_interval
from models.candidates import LightGBMCandidate
from models.panels import PanelCapacity, as_capacity, select_panel

__all__ = ["CEILING", "COHORT_ONLY", "fit_cohort_only", "list_table", "lists_markdown"]

CEILING = "ceiling"
COHORT_ONLY = "lightgbm (cohort only)"


def fit_cohort_only(
    train: pd.DataFrame, valid: pd.DataFrame, features: list[str], label: str
) -> LightGBMCandidate:
    """LightGBM fitted (and stopped early) on the not-yet-involved rows alone (weighted
    by ``sample_weight`` when the training rows are a case-control sample)."""
    tr = train[cohort_of(train) == NOT_YET_INVOLVED]
    va = valid[cohort_of(valid) == NOT_YET_INVOLVED]
    return LightGBMCandidate().fit(
        tr[features],
        tr[label].to_numpy(dtype=int),
        va[features],
        va[label].to_numpy(dtype=int),
        sample_weight=tr["sample_weight"].to_numpy(dtype=float)
        if "sample_weight" in tr.columns
        else None,
    )


def _precision(y: np.ndarray, chosen: np.ndarray) -> tuple[int, int, float, float, float]:
    hits, named = int(y[chosen].sum()), int(chosen.sum())
    low, high = wilson_interval(hits, named)
    return hits, named, (hits / named if named else float("nan")), low, high


def list_table(
    fold: str,
    test: pd.DataFrame,
    y: np.ndarray,
    scores: Mapping[str, np.ndarray],
    capacity: PanelCapacity | Mapping[str, Any],
    *,
    y_true: np.ndarray | None = None,
    ceiling: np.ndarray | None = None,
    only_early: Sequence[str] = (COHORT_ONLY,),
) -> pd.DataFrame:
    """Precision at capacity of each list ranked by each option, on one test snapshot.

    Parameters
    ----------
    fold
        The fold's name (a column of the table).
    test
        The test snapshot's rows (``person_id``, ``local_authority`` and the involvement
        features that decide the cohort).
    y, y_true
        Recorded outcome; true outcome (synthetic data only, else ``None``).
    scores
        Each option's score for every row of ``test`` (higher = listed first).
    capacity
        Each list's capacity by local authority.
    ceiling
        The true hazard at the as-of date (ranks the ``ceiling`` row), or ``None``.
    only_early
        Options that rank the early list only (trained on that cohort).

    Returns
    -------
    One row per (list, option): ``named``, ``involved``, ``precision`` with ``low``/``high``,
    ``ratio_to_ceiling``, and the same against the true outcome (``*_true``).
    """
    capacity = as_capacity(capacity)
    cohorts = cohort_of(test)
    options = dict(scores)
    if ceiling is not None:
        options[CEILING] = np.asarray(ceiling, dtype=float)
    rows: list[dict[str, Any]] = []
    for key, cohort in COHORTS.items():
        inside = cohorts == key
        frame = pd.DataFrame(
            {
                "person_id": test["person_id"].to_numpy()[inside],
                "local_authority": test["local_authority"].astype(str).to_numpy()[inside],
            }
        )
        for name, score in options.items():
            if name in only_early and key != NOT_YET_INVOLVED:
                continue
            ranked = frame.assign(probability=np.asarray(score, dtype=float)[inside])
            chosen = select_panel(ranked, capacity.of(cohort.list_key), None)[
                "within_capacity"
            ].to_numpy(dtype=bool)
            hits, named, precision, low, high = _precision(y[inside], chosen)
            row: dict[str, Any] = {
                "fold": fold,
                "list": cohort.list_key,
                "ranked_by": name,
                "cohort_size": int(inside.sum()),
                "base_rate": float(y[inside].mean()) if inside.any() else float("nan"),
                "named": named,
                "involved": hits,
                "precision": precision,
                "low": low,
                "high": high,
            }
            if y_true is not None:
                hits_t, _, precision_t, low_t, high_t = _precision(y_true[inside], chosen)
                row |= {
                    "involved_true": hits_t,
                    "precision_true": precision_t,
                    "low_true": low_t,
                    "high_true": high_t,
                }
            rows.append(row)
    table = pd.DataFrame(rows)
    if CEILING in options and not table.empty:
        for suffix in ("", "_true"):
            column = f"precision{suffix}"
            if column not in table:
                continue
            ceiling_by_list = table[table["ranked_by"] == CEILING].set_index("list")[column]
            table[f"ratio_to_ceiling{suffix}"] = table[column] / table["list"].map(ceiling_by_list)
    return table


def lists_markdown(table: pd.DataFrame) -> str:
    """The list table as a markdown table for the model card (values with intervals)."""
    if table.empty:
        return "_No list was evaluated._"

    def cell(row: pd.Series, suffix: str = "") -> str:
        p = row.get(f"precision{suffix}")
        if p is None or pd.isna(p):
            return "–"
        return f"{p:.3f} ({row[f'low{suffix}']:.3f}–{row[f'high{suffix}']:.3f})"

    truth = "precision_true" in table
    header = ["fold", "list", "ranked by", "named", "precision (recorded)"]
    if "ratio_to_ceiling" in table:
        header.append("÷ ceiling")
    if truth:
        header += ["precision (true)", "÷ ceiling (true)"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for _, row in table.iterrows():
        cells = [row["fold"], row["list"], row["ranked_by"], str(row["named"]), cell(row)]
        if "ratio_to_ceiling" in table:
            cells.append(f"{row['ratio_to_ceiling']:.2f}")
        if truth:
            cells += [cell(row, "_true"), f"{row['ratio_to_ceiling_true']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
