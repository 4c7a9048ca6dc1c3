"""The band policy: where each outcome's risk bands start, on the absolute scale.

A band names a range of the calibrated 12-month estimate ("high": 10% or more), set in
a versioned YAML file (:data:`DEFAULT_BANDS`), never at a share of the population — a
share puts the edge wherever the scores happen to fall, so "high" can start at 1 in
100. Training fits each outcome's bands at the policy's edges on the calibration slice
(:func:`fit_bands`): the rate observed in each band, with its 95% Wilson interval. A
band whose interval overlaps the band below it (or that holds fewer young people than
the policy's minimum) is not told apart from it on these data, so it is merged into
the band below, and the model card says so: every band a panel sees means something
different from its neighbours.

:func:`load_bands` refuses a malformed file with one line naming the field and the
problem (:class:`BandPolicyError`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.vocabulary import OUTCOMES
from models.validated import parse_validated, read_validated

__all__ = [
    "BAND_ORDER",
    "DEFAULT_BANDS",
    "ONE_IN_TEN",
    "Band",
    "BandPolicy",
    "BandPolicyError",
    "OutcomeBands",
    "fit_bands",
    "load_bands",
    "parse_bands",
    "wilson_interval",
]

DEFAULT_BANDS = Path(__file__).with_name("bands.yaml")
#: every band a policy may name, lowest first; ``low`` starts at 0
BAND_ORDER = ("low", "raised", "high", "very high")
#: the ``high`` band means at least "about 1 in 10" unless the policy says why not
ONE_IN_TEN = 0.10


class BandPolicyError(ValueError):
    """The band policy file is missing, malformed or inconsistent."""


def wilson_interval(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion (well-behaved for small counts)."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # exactly 0 with no hits and 1 with all hits (rounding left 1e-17 outside the rate)
    low = 0.0 if hits == 0 else max(0.0, float(centre - half))
    high = 1.0 if hits == n else min(1.0, float(centre + half))
    return (low, high)


class OutcomeBands(BaseModel):
    """One outcome's band edges: the estimate each band above ``low`` starts at."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    raised: float = Field(gt=0, lt=1)
    high: float = Field(gt=0, lt=1)
    #: optional: an outcome too rare for a fourth band to be told apart leaves it out
    very_high: float | None = Field(default=None, gt=0, lt=1, alias="very high")
    why: str = Field(min_length=20, description="what the edges mean and why they are here")
    #: required when ``high`` starts below 1 in 10: why the policy accepts that
    high_below_one_in_ten: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> OutcomeBands:
        top = self.very_high if self.very_high is not None else math.inf
        if not self.raised < self.high < top:
            raise ValueError(
                "edges must rise: raised < high < very high, got "
                f"{self.raised} / {self.high} / {self.very_high}"
            )
        if self.high < ONE_IN_TEN and not self.high_below_one_in_ten:
            raise ValueError(
                f"'high' starts at {self.high:.1%}, below about 1 in 10: raise it, or say "
                "why in high_below_one_in_ten"
            )
        return self

    def edges(self) -> dict[str, float]:
        """Lower edge of each band, lowest first (``low`` at 0)."""
        edges = {"low": 0.0, "raised": self.raised, "high": self.high}
        if self.very_high is not None:
            edges["very high"] = self.very_high
        return edges


class BandPolicy(BaseModel):
    """The versioned band policy: edges per outcome and the smallest band worth naming."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    minimum_people: int = Field(ge=1)
    outcomes: dict[str, OutcomeBands]

    @model_validator(mode="after")
    def _every_outcome(self) -> BandPolicy:
        missing = [o for o in OUTCOMES if o not in self.outcomes]
        unknown = [o for o in self.outcomes if o not in OUTCOMES]
        if missing:
            raise ValueError(f"outcome {missing[0]!r} has no bands")
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not an outcome ({', '.join(OUTCOMES)})")
        return self


def parse_bands(text: str, source: str = "band policy") -> BandPolicy:
    """Validate band-policy YAML text (raises :class:`BandPolicyError` with one line)."""
    return parse_validated(text, BandPolicy, BandPolicyError, source)


def load_bands(path: Path | None = None) -> tuple[BandPolicy, str]:
    """The band policy and the SHA-256 of the exact bytes read."""
    return read_validated(path or DEFAULT_BANDS, BandPolicy, BandPolicyError, "band policy")


@dataclass(frozen=True)
class Band:
    """An absolute-risk band with the rate observed in it on calibration data."""

    name: str
    lower: float
    observed_rate: float
    people: int
    involved: int
    #: bands of the policy merged into this one (too few people, or not told apart)
    merged: tuple[str, ...] = ()

    def interval(self) -> tuple[float, float]:
        """95% Wilson interval of the observed rate."""
        return wilson_interval(self.involved, self.people)

    def meaning(self, outcome: str) -> str:
        """ "about 8 in 100 young people with similar records were …"."""
        rate = self.observed_rate
        if rate >= 0.01:
            amount = f"about {round(rate * 100):.0f} in 100"
        elif rate >= 0.001:
            amount = f"about {round(rate * 1000):.0f} in 1,000"
        else:
            amount = "fewer than 1 in 1,000"
        return (
            f"{amount} young people with similar records {OUTCOMES[outcome].observed} "
            "within 12 months"
        )


def _count(p: np.ndarray, y: np.ndarray, lower: float, upper: float) -> tuple[int, int]:
    inside = (p >= lower) & (p < upper)
    return int(inside.sum()), int(y[inside].sum())


def _apart(low: tuple[int, int], high: tuple[int, int]) -> bool:
    """The higher band's 95% interval lies wholly above the lower band's."""
    return wilson_interval(high[1], high[0])[0] > wilson_interval(low[1], low[0])[1]


def fit_bands(
    probability: np.ndarray, y: np.ndarray, edges: dict[str, float], minimum_people: int = 1
) -> list[Band]:
    """The bands at ``edges`` (lowest first, ``low`` at 0) with the rate observed in each.

    Working up from ``low``, a band holding fewer than ``minimum_people`` young people, or
    whose 95% interval overlaps the band below it, is merged into the band below (which
    keeps its name and lower edge), until every band returned is told apart from its
    neighbours on these data.
    """
    p = np.asarray(probability, dtype=float)
    truth = np.asarray(y, dtype=int)
    kept: list[tuple[str, float, tuple[str, ...]]] = [
        (name, float(lower), ()) for name, lower in edges.items()
    ]
    while True:
        uppers = [lower for _, lower, _ in kept[1:]] + [math.inf]
        counts = [_count(p, truth, k[1], u) for k, u in zip(kept, uppers, strict=True)]
        for i in range(1, len(kept)):
            if counts[i][0] < minimum_people or not _apart(counts[i - 1], counts[i]):
                name, lower, merged = kept[i - 1]
                kept[i - 1] = (name, lower, (*merged, kept[i][0], *kept[i][2]))
                del kept[i]
                break
        else:
            return [
                Band(name, lower, hits / n if n else 0.0, n, hits, merged)
                for (name, lower, merged), (n, hits) in zip(kept, counts, strict=True)
            ]
