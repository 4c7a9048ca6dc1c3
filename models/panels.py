"""Who a referral panel sees: the one selection function every list comes from.

:func:`select_panel` ranks each local authority's young people by their
calibrated estimate and marks who is on the panel's list:

- the ``capacity`` highest estimates (what the panel can review this month), and
- anyone else at or above the lower edge of the model's ``high`` band (so nobody
  in the high bands is silently cut off by capacity).

Training's metrics at capacity, the fairness gate's operating point and the
monthly batch (``vru score``) all call it, so the list the gate audits is the
list a panel receives. Ties are broken by ``person_id`` so every run of the same
data gives the same list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "MSG_NO_CAPACITY",
    "PANEL_BAND",
    "PanelError",
    "panel_threshold",
    "select_panel",
    "within_capacity",
]

#: the band whose lower edge is the panel threshold
PANEL_BAND = "high"
MSG_NO_CAPACITY = "no panel capacity for {la} (set VRU_PANEL_CAPACITY)"


class PanelError(ValueError):
    """A list cannot be drawn (one line naming the problem)."""


def panel_threshold(bands: Sequence[Any]) -> float:
    """Lower edge of the ``high`` band of a model's bands: everyone at or above it is listed."""
    for band in bands:
        if band.name == PANEL_BAND:
            return float(band.lower)
    raise PanelError(f"the model has no '{PANEL_BAND}' band")


def select_panel(
    scored: pd.DataFrame, capacity: Mapping[str, int], threshold: float | None
) -> pd.DataFrame:
    """Rank each local authority's young people and mark who the panel sees.

    Parameters
    ----------
    scored
        One row per young person with ``person_id``, ``local_authority`` and
        ``probability`` (other columns are carried along).
    capacity
        Young people each local authority's panel can review.
    threshold
        Estimate at or above which a person is listed even beyond capacity
        (:func:`panel_threshold`); ``None`` lists the capacity only.

    Returns
    -------
    ``scored`` in the same row order with ``rank`` (1 = highest estimate in its
    local authority), ``within_capacity`` and ``listed``.

    Raises
    ------
    PanelError
        A local authority in ``scored`` has no capacity.
    """
    areas = scored["local_authority"].astype(str)
    missing = sorted(set(areas.unique()) - set(capacity))
    if missing:
        raise PanelError(MSG_NO_CAPACITY.format(la=missing[0]))
    order = np.lexsort(
        (
            scored["person_id"].astype(str).to_numpy(),
            -scored["probability"].to_numpy(dtype=float),
            areas.to_numpy(),
        )
    )
    ordered_areas = areas.iloc[order]
    rank = np.empty(len(scored), dtype=np.int64)
    rank[order] = ordered_areas.groupby(ordered_areas.to_numpy(), sort=False).cumcount() + 1
    cap = areas.map(dict(capacity)).to_numpy(dtype=np.int64)
    within = rank <= cap
    listed = within.copy()
    if threshold is not None:
        listed |= scored["probability"].to_numpy(dtype=float) >= threshold
    return scored.assign(rank=rank, within_capacity=within, listed=listed)


def within_capacity(
    person_id: np.ndarray, area: np.ndarray, score: np.ndarray, capacity: Mapping[str, int]
) -> np.ndarray:
    """Boolean mask of each area's ``capacity`` highest scores (the panel's agenda)."""
    frame = pd.DataFrame({"person_id": person_id, "local_authority": area, "probability": score})
    return select_panel(frame, capacity, None)["within_capacity"].to_numpy(dtype=bool)
