"""``vru evaluate``'s work: the design, every estimate and check, as one
:class:`evaluation.results.Evaluation` (nothing is written here; see
:mod:`evaluation.record`)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from drivers.disclosure import THRESHOLD, round_count
from evaluation.design import BALANCE, Design, EvaluationError, build_design
from evaluation.rd import estimate, minimum_detectable
from evaluation.results import (
    Balance,
    Bin,
    Check,
    Estimate,
    Evaluation,
    ListOutcome,
    MinimumDetectable,
    Sensitivity,
)
from features.snapshot import Tables, load_tables
from features.vocabulary import LOCAL_AUTHORITIES, OUTCOMES

__all__ = [
    "BANDWIDTH_FACTORS",
    "FORCE_AREA",
    "YEARS_SHOWN",
    "EvaluationError",
    "evaluate",
    "run_evaluation",
]

FORCE_AREA = "Avon and Somerset (force area)"
BANDWIDTH_FACTORS = (0.5, 0.75, 1.25, 1.5, 2.0)
#: lengths of data the minimum detectable effect is shown for
YEARS_SHOWN = (1.0, 2.0, 3.0, 5.0)

Progress = Callable[[str], None]


def _bins(frame: pd.DataFrame, label: str) -> list[Bin]:
    """Listings and those involved at each place from the cut, after disclosure control."""
    table = (
        frame.groupby("place")[label]
        .agg(listings="size", involved="sum")
        .reset_index()
        .assign(not_involved=lambda t: t["listings"] - t["involved"])
    )

    # each place is published alone (no margins): primary suppression, then rounding;
    # the share is worked out from the rounded counts
    hidden = (table[["involved", "not_involved"]] < THRESHOLD).any(axis=1).to_numpy()
    safe = table.assign(
        listings=round_count(table["listings"].to_numpy(dtype=float)),
        involved=round_count(table["involved"].to_numpy(dtype=float)),
        suppressed=hidden,
    )
    safe["share"] = safe["involved"] / safe["listings"].where(safe["listings"] > 0)
    return [
        Bin(
            place=int(place),
            listings=None if hide else int(listings),
            involved=None if hide else int(involved),
            share=None if hide else float(share),
            suppressed=bool(hide),
        )
        for place, listings, involved, share, hide in zip(
            safe["place"].to_numpy(),
            safe["listings"].to_numpy(dtype=float),
            safe["involved"].to_numpy(dtype=float),
            safe["share"].to_numpy(dtype=float),
            hidden,
            strict=True,
        )
    ]


def _density_p(frame: pd.DataFrame) -> float | None:
    """Exact binomial test that the two places either side of the cut hold as many
    listings (one young person a place a month an area: a dip or heap means someone was
    moved across the cut)."""
    from scipy.stats import binomtest

    below = int(frame["place"].isin((-1, 0)).sum())
    above = int(frame["place"].isin((1, 2)).sum())
    if below + above == 0:
        return None
    return float(binomtest(above, below + above, 0.5).pvalue)


def _relative(e: Estimate) -> tuple[float, float, float] | None:
    if not e.estimated or e.level_below is None or e.level_below <= 0:
        return None
    assert e.effect is not None
    assert e.low is not None
    assert e.high is not None
    return (e.effect / e.level_below, e.low / e.level_below, e.high / e.level_below)


def _placebo_cuts(capacity: int) -> list[float]:
    """Cuts where nothing changes: within the not-discussed side, and within the
    discussed side when the panel had room enough."""
    half = max(2, capacity // 2)
    cuts = [-float(half), -float(capacity)]
    if capacity >= 4:
        cuts.append(float(half))
    return sorted(set(cuts))


def _one(
    design: Design,
    frame: pd.DataFrame,
    list_name: str,
    outcome: str,
    balance: list[Balance],
    progress: Progress,
) -> ListOutcome:
    label = OUTCOMES[outcome].label
    x = frame["x"].to_numpy()
    y = frame[label].to_numpy()
    help_ = frame["help"].to_numpy()
    cluster = pd.factorize(frame["person_id"])[0]
    progress(f"{list_name}, {outcome}: the effect at the cut")
    itt = estimate(y, x, cluster)
    first = estimate(help_, x, cluster)
    per_year = estimate(y, x, cluster, fuzzy=help_)
    progress(f"{list_name}, {outcome}: placebo cuts and bandwidths")
    capacity = int(frame["capacity"].median())
    placebo = []
    for cut in _placebo_cuts(capacity):
        side = (x < 0) if cut < 0 else (x > 0)
        placebo.append(Check(cut, estimate(y[side], x[side], cluster[side], c=cut)))
    bandwidths = [Sensitivity(1.0, itt)] if itt.estimated else []
    if itt.bandwidth is not None:
        for factor in BANDWIDTH_FACTORS:
            bandwidths.append(
                Sensitivity(factor, estimate(y, x, cluster, h=factor * itt.bandwidth))
            )
        bandwidths.sort(key=lambda s: s.factor)
    progress(f"{list_name}, {outcome}: each authority and what could be detected")
    by_area: dict[str, Estimate] = {}
    for la in LOCAL_AUTHORITIES:
        here = (frame["local_authority"] == la).to_numpy()
        if here.any():
            by_area[la] = estimate(y[here], x[here], cluster[here])
    detectable = []
    for area, e in [(FORCE_AREA, itt), *by_area.items()]:
        years_here = (
            frame.loc[
                frame["local_authority"] == area if area != FORCE_AREA else slice(None),
                "list_month",
            ].nunique()
            / 12
        )
        for years in YEARS_SHOWN:
            scale = math.sqrt(years_here / years) if years_here > 0 else float("nan")
            mde = minimum_detectable(e, scale)
            relative = (
                mde / e.level_below
                if mde is not None and e.level_below is not None and e.level_below > 0
                else None
            )
            detectable.append(MinimumDetectable(area, years, mde, relative))
    return ListOutcome(
        list_name=list_name,
        outcome=outcome,
        itt=itt,
        per_year_of_help=per_year,
        first_stage=first,
        relative_per_year=_relative(per_year),
        bins=_bins(frame, label),
        balance=balance,
        placebo=placebo,
        bandwidths=bandwidths,
        detectable=detectable,
        by_area=by_area,
        density_p=_density_p(frame),
    )


def _balance(frame: pd.DataFrame) -> list[Balance]:
    x = frame["x"].to_numpy()
    cluster = pd.factorize(frame["person_id"])[0]
    return [
        Balance(column, words, estimate(frame[column].to_numpy(), x, cluster))
        for column, words in BALANCE.items()
        if column in frame.columns
    ]


def _true_effect(folder: Path) -> float | None:
    """On synthetic data, the hazard reduction the world was built with."""
    manifest = folder / "manifest.json"
    if not (folder / "truth" / "interventions.parquet").exists() or not manifest.exists():
        return None
    try:
        panels = json.loads(manifest.read_text())["settings"]["panels"]
        return float(panels["intervention_effect"])
    except (KeyError, TypeError, ValueError):
        return None


def run_evaluation(
    data: Tables,
    *,
    lists: Sequence[str] | None = None,
    outcomes: Sequence[str] = tuple(OUTCOMES),
    progress: Progress | None = None,
    design: Design | None = None,
) -> Evaluation:
    """Every estimate and check for each list and outcome of ``data`` (``design``: the
    listings already built by :func:`evaluation.design.build_design` from ``data``).

    Raises
    ------
    features.schemas.ContractError, EvaluationError
        One line naming the problem; nothing was estimated.
    """
    say: Progress = progress if progress is not None else (lambda _: None)
    unknown = sorted(set(outcomes) - set(OUTCOMES))
    if unknown:
        raise EvaluationError(f"outcome must be one of {', '.join(OUTCOMES)}, got {unknown[0]!r}")
    if design is None:
        say("reading the panels' lists and the records before and after each")
        design = build_design(
            data,
            lists=None if lists is None else tuple(lists),
            progress=lambda done, total, stage: say(f"records ({done}/{total}, {stage})"),
        )
    frame = design.frame
    results = []
    for list_name in sorted(frame["list"].unique()):
        rows = frame[frame["list"] == list_name].reset_index(drop=True)
        say(f"{list_name}: balance of records either side of the cut")
        balance = _balance(rows)
        for outcome in outcomes:
            results.append(_one(design, rows, list_name, outcome, balance, say))
    capacity = frame.groupby("local_authority")["capacity"].median().round().astype(int).to_dict()
    warnings = []
    if design.not_binding:
        warnings.append(
            f"{design.not_binding} month(s) of an authority's list were left out: nobody was "
            "ranked below the cut, so there was no one to compare with"
        )
    if np.isfinite(design.crossover) and design.crossover > 0.25:
        warnings.append(
            f"{design.crossover:.0%} of those ranked just below the cut were discussed within "
            "the next 12 months: the effect of being discussed in a given month is diluted; "
            "the effect of help taken up counts that help"
        )
    return Evaluation(
        data=str(data.folder),
        fingerprint=data.fingerprint,
        first_month=design.first_month,
        last_month=design.last_month,
        years=design.years,
        listings=len(frame),
        young_people=int(frame["person_id"].nunique()),
        capacity={str(k): int(v) for k, v in capacity.items()},
        crossover=design.crossover,
        results=results,
        true_effect=_true_effect(data.folder),
        warnings=warnings,
    )


def evaluate(
    folder: Path,
    *,
    lists: Sequence[str] | None = None,
    outcomes: Sequence[str] = tuple(OUTCOMES),
    progress: Progress | None = None,
) -> Evaluation:
    """:func:`run_evaluation` on the data folder ``folder`` (validated first)."""
    return run_evaluation(load_tables(folder), lists=lists, outcomes=outcomes, progress=progress)
