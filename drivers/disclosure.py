"""Disclosure control as in official statistics, applied to every table before it is written.

1. **Primary suppression**: a row built from fewer than :data:`THRESHOLD` young people
   (any of its counts below 10, zero included) is suppressed.
2. **Secondary suppression**: a table's rows add up (an authority's row is the sum of
   its age bands, the force area the sum of the authorities). A suppressed row that is
   the sum or difference of published rows could be worked out, so more rows are
   withheld until no suppressed row lies in the linear span of the published ones
   (checked exactly, by matrix rank, over the table's finest cells). Among the rows
   that would protect it, the smallest is withheld, so totals survive where they can.
3. **Rounding**: every published count is rounded to the nearest :data:`ROUND_TO`, and
   rates, shares and intervals are worked out again from the rounded counts (``derive``):
   from the exact counts they would give them back.

A suppressed row shows :data:`SUPPRESSED` in place of its counts and of every figure
derived from them (rates, shares, intervals). Both kinds of suppression show the same
mark: telling them apart would tell a reader which withheld cells are under 10.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import product

import numpy as np
import pandas as pd

__all__ = ["ROUND_TO", "SUPPRESSED", "SUPPRESSED_NOTE", "THRESHOLD", "protect", "round_count"]

THRESHOLD = 10
ROUND_TO = 5
#: what a suppressed cell reads, in the CSV tables and in the report
SUPPRESSED = "fewer than 10*"
SUPPRESSED_NOTE = (
    "* fewer than 10 young people, or withheld so that a figure built from fewer than 10 "
    "cannot be worked out from the others. Counts are rounded to the nearest 5, and rates "
    "and shares are worked out from the rounded counts."
)
#: the column every protected table carries: "" (published) or :data:`SUPPRESSED`
STATUS = "suppressed"


def round_count(values: pd.Series | np.ndarray) -> np.ndarray:
    """Nearest multiple of :data:`ROUND_TO` (halves up)."""
    return np.floor(np.asarray(values, dtype=float) / ROUND_TO + 0.5) * ROUND_TO


def _membership(
    values: np.ndarray, dims: Sequence[str], margins: Mapping[str, str], levels: list[np.ndarray]
) -> np.ndarray:
    """Rows of ``values`` (one column per dimension) as 0/1 vectors over the finest cells."""
    matrix = np.ones((len(values), 1))
    for i, d in enumerate(dims):
        total = values[:, i] == margins[d]
        member = (values[:, i][:, None] == levels[i][None, :]) | total[:, None]
        matrix = (matrix[:, :, None] * member[:, None, :]).reshape(len(values), -1)
    return matrix


def _vectors(group: pd.DataFrame, dims: Sequence[str], margins: Mapping[str, str]) -> np.ndarray:
    """Each row as a 0/1 vector over the group's finest cells (every dimension at a value
    other than its margin).

    Tables leave out rows nobody is in (population 0): a reader knows such a row is 0,
    so the finest cells under it are no unknowns and are dropped. Which rows are left
    out is read per kind of row the table publishes (which dimensions are totals).
    """
    values = group[list(dims)].astype(str).to_numpy(dtype=object)
    levels = [
        np.array(sorted({v for v in values[:, i] if v != margins[d]}), dtype=object)
        for i, d in enumerate(dims)
    ]
    matrix = _membership(values, dims, margins, levels)
    totals = np.array([[v == margins[d] for v, d in zip(row, dims, strict=True)] for row in values])
    present = {tuple(row) for row in values}
    absent = []
    for shape in {tuple(t) for t in totals}:
        choices = [
            [margins[d]] if t else list(levels[i])
            for i, (d, t) in enumerate(zip(dims, shape, strict=True))
        ]
        absent += [c for c in product(*choices) if c not in present]
    if not absent:
        return matrix
    empty = _membership(np.array(absent, dtype=object), dims, margins, levels).sum(axis=0) > 0
    return matrix[:, ~empty]


def _exposed(
    vectors: np.ndarray, published: np.ndarray, hidden: np.ndarray
) -> tuple[np.ndarray, Callable[[int], tuple[np.ndarray, np.ndarray]]]:
    """Which hidden rows are combinations of the published ones, and for a hidden row,
    the published rows of such a combination and which of those alone protect it.

    One SVD of the published rows ``P``: a hidden row ``s`` is exposed when it has no part
    outside their span. A published row ``r`` whose loss alone protects ``s`` is one that
    no other published row can stand in for (leverage 1: every combination gives it the
    same coefficient) and whose coefficient in ``s`` is not 0.
    """
    basis = vectors[published]
    if basis.shape[0] == 0:
        return np.zeros(hidden.size, dtype=bool), lambda s: (published, published)
    u, singular, vt = np.linalg.svd(basis, full_matrices=True)
    rank = int((singular > 1e-9 * max(1.0, singular[0] if singular.size else 0.0)).sum())
    null = vt[rank:]
    if null.shape[0] == 0:
        exposed = np.ones(hidden.size, dtype=bool)
    else:
        exposed = np.all(np.abs(vectors[hidden] @ null.T) < 1e-8, axis=1)
    u_k, v_k, s_k = u[:, :rank], vt[:rank].T, singular[:rank]
    essential = (u_k**2).sum(axis=1) > 1 - 1e-9

    def protecting(row: int) -> tuple[np.ndarray, np.ndarray]:
        coef = u_k @ ((v_k.T @ vectors[row]) / s_k)
        used = np.abs(coef) > 1e-9
        return published[used], published[used & essential]

    return exposed, protecting


def _secondary(vectors: np.ndarray, sizes: np.ndarray, suppressed: np.ndarray) -> np.ndarray:
    """Withhold published rows until no suppressed row is a combination of published ones.

    For each exposed row, the smallest published row whose loss alone protects it is
    withheld (so totals survive where a smaller row will do); failing that, the smallest
    row used in a combination that gives it away, and the search goes on.
    """
    out = suppressed.copy()
    if vectors.shape[1] == 0:  # every cell is known to be empty: nothing left to hide
        return out
    while True:
        hidden = np.flatnonzero(out)
        published = np.flatnonzero(~out)
        exposed, protecting = _exposed(vectors, published, hidden)
        if not exposed.any():
            return out
        used, alone = protecting(int(hidden[exposed][0]))
        pool = alone if alone.size else (used if used.size else published)
        out[min(pool, key=lambda r: (sizes[r], r))] = True


def protect(
    frame: pd.DataFrame,
    *,
    counts: Sequence[str],
    derived: Sequence[str],
    dims: Sequence[str],
    margins: Mapping[str, str],
    group_by: Sequence[str] = (),
    derive: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """The table as it may be published.

    Parameters
    ----------
    frame
        One row per cell, unrounded counts.
    counts
        Columns counting young people: any below 10 suppresses the row; published ones
        are rounded to 5. The first decides which row is withheld first (the smallest).
    derived
        Columns worked out from the counts (rates, shares, intervals): blanked with them.
    dims
        Columns whose margin value (``margins[dim]``) marks a total over that column.
    group_by
        Columns that split the table into independent parts (a measure, a period).
    derive
        Works the derived columns out again from the *rounded* counts: a rate from exact
        counts would give them back exactly and undo the rounding.

    Returns
    -------
    The table with counts rounded, suppressed rows' counts and derived figures empty,
    and a ``suppressed`` column (``""`` or :data:`SUPPRESSED`).
    """
    out = frame.reset_index(drop=True).copy()
    status = np.zeros(len(out), dtype=bool)
    groups = (
        out.groupby(list(group_by), sort=False).indices if group_by else {(): np.arange(len(out))}
    )
    for rows in groups.values():
        rows = np.asarray(rows)
        group = out.iloc[rows]
        primary = (group[list(counts)].to_numpy(dtype=float) < THRESHOLD).any(axis=1)
        if not primary.any():
            continue
        vectors = _vectors(group, dims, margins)
        sizes = group[counts[0]].to_numpy(dtype=float)
        status[rows] = _secondary(vectors, sizes, primary)
    for column in counts:
        out[column] = np.where(status, np.nan, round_count(out[column].to_numpy(dtype=float)))
    if derive is not None:
        out = derive(out)
    for column in derived:
        out.loc[status, column] = np.nan
    out[STATUS] = np.where(status, SUPPRESSED, "")
    return out
