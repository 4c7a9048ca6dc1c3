"""The generated population matches every published target within tolerance.

Prints the table of target vs generated (``pytest -s`` or ``-rA`` shows it);
``vru calibrate`` prints the same table.
"""

from __future__ import annotations

import pandas as pd
import pytest

from synthetic.calibration import measure, to_markdown
from synthetic.generate import SyntheticDataset
from synthetic.targets import TARGETS

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("population")]


@pytest.fixture(scope="module")
def calibration(population_pair: tuple[SyntheticDataset, SyntheticDataset]) -> pd.DataFrame:
    biased, unbiased = population_pair
    table = measure(biased, unbiased)
    print("\n" + to_markdown(table))
    return table


def test_every_target_is_measured(calibration: pd.DataFrame) -> None:
    assert list(calibration["id"]) == [t.id for t in TARGETS]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.id)
def test_target_within_tolerance(calibration: pd.DataFrame, target) -> None:
    row = calibration.set_index("id").loc[target.id]
    assert row["passed"], (
        f"{target.id} {target.quantity}: generated {row['measured']:.4g}, "
        f"target {target.value} (band {target.low}–{target.high}; {target.source})"
    )


def test_serious_violence_offenders_are_under_two_percent(calibration: pd.DataFrame) -> None:
    row = calibration.set_index("id").loc["L1"]
    assert 0 < row["measured"] < 0.02
