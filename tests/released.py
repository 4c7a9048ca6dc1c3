"""The test population with both outcomes' champions released, for the batch and serving tests.

Released through the real fairness gate by :func:`vru.release.release_population` (a recorded
override with its approver and reason where the gate fails) — never a stamped verdict. The
benchmarks call the same recipe.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from features.vocabulary import LOCAL_AUTHORITIES
from vru.release import release_population

#: the panel capacities most tests use (small lists keep packs and tests quick)
CAPACITY: dict[str, int] = dict.fromkeys(LOCAL_AUTHORITIES, 25)
#: the batch and serving tests use a released model, whichever it is; the candidates' race
#: (EBM, the unconstrained comparisons) is tested on tests/model's own training run
CANDIDATES = ("rules", "logistic", "lightgbm")


def train_released(
    root: Path,
    *,
    people: int = 30_000,
    seed: int = 11,
    capacity: Mapping[str, int] = CAPACITY,
    experiment: str = "train",
    first_year: int | None = None,
) -> tuple[Path, str, dict[str, str]]:
    """Data folder, tracking URI and the released version of each outcome."""
    return release_population(
        root,
        people=people,
        seed=seed,
        capacity=capacity,
        experiment=experiment,
        first_year=first_year,
        candidates=CANDIDATES,
        compare_unconstrained=False,
    )
