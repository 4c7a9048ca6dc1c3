"""What ``vru evaluate`` found: plain data the report, the tables and MLflow read.

Every figure here is an aggregate over many young people; nothing names one. The
counts shown (:class:`Bin`, the numbers near the cut) have already passed disclosure
control (:mod:`drivers.disclosure`: suppressed under 10, rounded to 5) when they reach
the report.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

__all__ = [
    "Balance",
    "Bin",
    "Check",
    "Estimate",
    "Evaluation",
    "ListOutcome",
    "MinimumDetectable",
    "Sensitivity",
]


@dataclass(frozen=True)
class Estimate:
    """One regression-discontinuity estimate at the cut (rdrobust: local linear,
    triangular kernel, MSE-optimal bandwidth, clustered by young person).

    ``effect`` is the conventional local-linear estimate, in proportion (0.05 = 5
    percentage points); ``low``/``high`` the robust bias-corrected 95% interval.
    ``None`` for all figures means too few young people near the cut to estimate.
    """

    effect: float | None
    low: float | None
    high: float | None
    p_value: float | None
    #: bandwidth, in places either side of the cut
    bandwidth: float | None
    #: listings (young person × month) within the bandwidth, not discussed / discussed
    n_below: int
    n_above: int
    #: the level just below the cut (not discussed), in proportion
    level_below: float | None = None
    #: why there is no number (empty when there is one)
    withheld: str = ""

    @property
    def estimated(self) -> bool:
        return self.effect is not None


@dataclass(frozen=True)
class Bin:
    """One place from the cut, pooled over months and areas (the RD plot's dots).

    ``place`` > 0 were discussed (1 = the last place within capacity), ≤ 0 were not.
    ``listings`` and ``involved`` are rounded to 5; ``share`` is worked out from them;
    all ``None`` when suppressed.
    """

    place: int
    listings: int | None
    involved: int | None
    share: float | None
    suppressed: bool


@dataclass(frozen=True)
class Balance:
    """A record from before the list month that should not jump at the cut."""

    covariate: str
    #: plain words ("suspensions in the 12 months before")
    label: str
    estimate: Estimate


@dataclass(frozen=True)
class Check:
    """A placebo cut: a place where nothing changes, so the estimate should cover 0."""

    place: float
    estimate: Estimate


@dataclass(frozen=True)
class Sensitivity:
    """The effect at a bandwidth other than the chosen one (``factor`` × chosen)."""

    factor: float
    estimate: Estimate


@dataclass(frozen=True)
class MinimumDetectable:
    """The smallest effect the data could detect (80% power, 5% two-sided) in one area
    after ``years`` of monthly lists: ``(1.96 + 0.84) × standard error``, the standard
    error scaled from this evaluation's by √(years here ÷ years)."""

    area: str
    years: float
    #: in proportion (percentage points ÷ 100); None when the area could not be estimated
    effect: float | None
    #: the same relative to the level just below the cut
    relative: float | None


@dataclass(frozen=True)
class ListOutcome:
    """Everything estimated for one list and one outcome."""

    list_name: str
    #: ``victim`` or ``perpetrator`` (features.vocabulary.OUTCOMES)
    outcome: str
    #: effect of being discussed (intention to treat)
    itt: Estimate
    #: effect of a year of help taken up (fuzzy RD on the share of the 12 months helped)
    per_year_of_help: Estimate
    #: the jump in the share of the 12 months helped at the cut (the first stage)
    first_stage: Estimate
    #: ``per_year_of_help`` relative to the untreated level at the cut (−0.2 = a fifth
    #: fewer involved); None when not estimated
    relative_per_year: tuple[float, float, float] | None
    bins: list[Bin]
    balance: list[Balance]
    placebo: list[Check]
    bandwidths: list[Sensitivity]
    #: by area (force area and each authority) and years of data
    detectable: list[MinimumDetectable]
    #: the same estimate in each authority alone (effect of being discussed)
    by_area: dict[str, Estimate] = field(default_factory=dict)
    #: the density check's formal test: listings at the two places just below the cut
    #: against the two just above (exact binomial test of equal counts; a discrete
    #: running variable, Frandsen 2017); None when too few places
    density_p: float | None = None


@dataclass(frozen=True)
class Evaluation:
    """One run of ``vru evaluate``."""

    data: str
    fingerprint: str
    #: first and last list month evaluated (windows closed before the data end)
    first_month: dt.date
    last_month: dt.date
    years: float
    #: listings (young person × month) in the evaluation, and distinct young people
    listings: int
    young_people: int
    #: per month and area: how many places the panel had and how deep the list was kept
    capacity: dict[str, int]
    #: share of those just below the cut (places 0 to −capacity) discussed within the
    #: following 12 months (crossover)
    crossover: float
    results: list[ListOutcome]
    #: on synthetic data, the true effect of help (hazard reduction while helped); None
    #: on real data
    true_effect: float | None = None
    warnings: list[str] = field(default_factory=list)
