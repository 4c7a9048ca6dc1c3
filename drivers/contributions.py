"""What the released models lean on, here: mean absolute contribution by domain.

For each released (champion) model and each of the last four quarters: the model's
exact contributions (:meth:`models.risk_model.RiskModel.contributions`, log-odds)
summed within each domain of the feature registry (education, social care, police,
health, youth justice, and age and area), their mean absolute size among each
authority's young people and among those on its panel lists (both lists, within
capacity, drawn by :func:`models.panels.select_lists`, the one decision path), and the
force-area figure. Everyone's contributions would take minutes on the full
population, so "all young people" is estimated from a seeded random sample per
authority (:data:`SAMPLE_PER_AREA`); the listed young people are all explained.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from drivers.base import FORCE_AREA
from features.snapshot import Tables, build_snapshot
from features.vocabulary import LOCAL_AUTHORITIES, cohort_of
from models.panels import PanelCapacity, select_lists
from models.registry import Released

__all__ = ["ALL_YOUNG_PEOPLE", "LISTED", "SAMPLE_PER_AREA", "contribution_table", "quarter_dates"]

SAMPLE_PER_AREA = 4_000
ALL_YOUNG_PEOPLE = "all young people"
LISTED = "on the panel lists"
#: how the report names each domain of the feature registry
DOMAIN_WORDS = {"demographic": "age and area"}

COLUMNS = [
    "outcome", "model", "as_of", "local_authority", "who", "domain", "mean_abs", "share",
    "young_people", "explained",
]  # fmt: skip


def quarter_dates(as_of: dt.date, quarters: int = 4) -> list[dt.date]:
    """``as_of`` and the quarters before it, oldest first."""
    out = []
    for k in range(quarters - 1, -1, -1):
        month = as_of.year * 12 + as_of.month - 1 - 3 * k
        out.append(dt.date(month // 12, month % 12 + 1, 1))
    return out


def _domains(released: Released) -> dict[str, str]:
    registry = released.model.registry()
    return {
        name: DOMAIN_WORDS.get(str(registry[name]["domain"]), str(registry[name]["domain"]))
        for name in released.features
    }


def _rows(
    la: np.ndarray, listed: np.ndarray, rng: np.random.Generator, sample: int
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Rows to explain (a random sample per authority, and everyone listed), which of
    them are in the random sample, and each authority's number of young people."""
    drawn = []
    sizes = {}
    for area in LOCAL_AUTHORITIES:
        rows = np.flatnonzero(la == area)
        sizes[area] = int(rows.size)
        drawn.append(rows if rows.size <= sample else rng.choice(rows, sample, replace=False))
    sampled = np.concatenate(drawn)
    chosen = np.unique(np.concatenate([sampled, np.flatnonzero(listed)]))
    return chosen, np.isin(chosen, sampled), sizes


def _summarise(
    values: pd.DataFrame, la: np.ndarray, mask: np.ndarray, weights: Mapping[str, float]
) -> list[dict[str, object]]:
    """Mean |contribution| per domain in each authority (rows in ``mask``) and the
    force area (authorities weighted by ``weights``)."""
    out: list[dict[str, object]] = []
    means = {}
    for area in LOCAL_AUTHORITIES:
        mine = mask & (la == area)
        if not mine.any():
            continue
        means[area] = values[mine].abs().mean()
        out.append({"local_authority": area, "means": means[area], "explained": int(mine.sum())})
    if means:
        total = sum(weights[a] for a in means)
        force = sum(means[a] * (weights[a] / total) for a in means)
        out.append({"local_authority": FORCE_AREA, "means": force, "explained": int(mask.sum())})
    return out


def contribution_table(
    tables: Tables,
    models: Mapping[str, Released],
    as_of: dt.date,
    capacity: PanelCapacity,
    *,
    sample: int = SAMPLE_PER_AREA,
    seed: int = 20241,
    progress: Callable[[int, int], None] | None = None,
    dates: Sequence[dt.date] | None = None,
) -> pd.DataFrame:
    """Each model's mean absolute contribution by domain, per quarter, area and group
    (unprotected; ``young_people`` is how many the figure describes)."""
    if not models:
        return pd.DataFrame(columns=COLUMNS)
    dates = list(dates or quarter_dates(as_of))
    snapshot = build_snapshot(tables, dates)
    frame = snapshot.frame
    when = pd.to_datetime(frame["as_of"]).dt.date.to_numpy()
    rows_out = []
    steps, done = len(dates) * len(models), 0
    for day in dates:
        part = frame[when == day].reset_index(drop=True)
        la = part["local_authority"].astype(str).to_numpy()
        cohort = cohort_of(part)
        for outcome, released in models.items():
            scores = released.model.predict(None, part)
            scored = pd.DataFrame(
                {
                    "person_id": part["person_id"].astype(str).to_numpy(),
                    "local_authority": la,
                    "probability": scores["probability"].to_numpy(dtype=float),
                }
            )
            listed = select_lists(scored, capacity, cohort=cohort)["within_capacity"].to_numpy(
                dtype=bool
            )
            rng = np.random.default_rng([seed, day.toordinal(), len(outcome)])
            chosen, in_sample, sizes = _rows(la, listed, rng, sample)
            contrib = released.model.contributions(part.iloc[chosen])
            by_domain = contrib.values.T.groupby(pd.Series(_domains(released))).sum().T
            by_domain = by_domain.reindex(columns=sorted(by_domain.columns)).reset_index(drop=True)
            la_c, listed_c = la[chosen], listed[chosen]
            groups = [
                (ALL_YOUNG_PEOPLE, in_sample, {a: float(sizes[a]) for a in sizes}),
                (LISTED, listed_c, {a: float((listed & (la == a)).sum()) for a in sizes}),
            ]
            for who, mask, weights in groups:
                for summary in _summarise(by_domain, la_c, mask, weights):
                    area = str(summary["local_authority"])
                    means: pd.Series = summary["means"]  # type: ignore[assignment]
                    described = (
                        sum(weights.values()) if area == FORCE_AREA else weights.get(area, 0.0)
                    )
                    total = float(means.sum())
                    for domain, value in means.items():
                        rows_out.append(
                            {
                                "outcome": outcome,
                                "model": released.label,
                                "as_of": day.isoformat(),
                                "local_authority": area,
                                "who": who,
                                "domain": domain,
                                "mean_abs": float(value),
                                "share": float(value) / total if total > 0 else np.nan,
                                "young_people": int(described),
                                "explained": summary["explained"],
                            }
                        )
            done += 1
            if progress is not None:
                progress(done, steps)
    return pd.DataFrame(rows_out, columns=COLUMNS)
