"""The gate audits the list panels actually get: its decision is models.panels' selection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fairness.gate import GateError, operating_decision
from fairness.policy import load_policy
from models.panels import panel_threshold, select_panel, within_capacity
from models.risk_model import Band

BANDS = [
    Band("low", 0.0, 0.01, 1000, 10),
    Band("raised", 0.08, 0.1, 200, 20),
    Band("high", 0.25, 0.3, 50, 15),
    Band("very high", 0.45, 0.5, 10, 5),
]
CAPACITY = {"Avon": 2, "Brue": 3}


@pytest.fixture
def scored() -> pd.DataFrame:
    """Rows deliberately out of order; ties inside capacity and at its edge."""
    rows = [
        # Avon: four people at or above the 'high' band (0.25) but capacity 2
        ("a3", "Avon", 0.40),
        ("a5", "Avon", 0.05),
        ("a1", "Avon", 0.50),
        ("a4", "Avon", 0.30),
        ("a2", "Avon", 0.40),  # tied with a3: a2 wins the second capacity place by id
        # Brue: nobody in the high bands; four tied for three capacity places
        ("b4", "Brue", 0.10),
        ("b2", "Brue", 0.10),
        ("b5", "Brue", 0.02),
        ("b1", "Brue", 0.10),
        ("b3", "Brue", 0.10),
    ]
    return pd.DataFrame(rows, columns=["person_id", "local_authority", "probability"])


def _flagged(scored: pd.DataFrame, decision: np.ndarray) -> set[str]:
    return set(scored.loc[decision, "person_id"])


def test_the_default_operating_point_is_the_panel_list(scored: pd.DataFrame) -> None:
    policy, _ = load_policy()
    assert policy.operating_point == "panel"
    decision, words = operating_decision(scored, policy, BANDS, CAPACITY)
    expected = select_panel(scored, CAPACITY, panel_threshold(BANDS))["listed"]
    np.testing.assert_array_equal(decision, expected.to_numpy(dtype=bool))
    # everyone in Avon's high bands though capacity is 2; Brue's ties broken by person_id
    assert _flagged(scored, decision) == {"a1", "a2", "a3", "a4", "b1", "b2", "b3"}
    assert "each panel's list" in words
    assert "'high' band (25.00%)" in words


def test_capacity_and_band_points_come_from_the_same_selection(scored: pd.DataFrame) -> None:
    policy, _ = load_policy()
    decision, words = operating_decision(
        scored, policy.model_copy(update={"operating_point": "capacity"}), BANDS, CAPACITY
    )
    expected = within_capacity(
        scored["person_id"].to_numpy(),
        scored["local_authority"].to_numpy(),
        scored["probability"].to_numpy(),
        CAPACITY,
    )
    np.testing.assert_array_equal(decision, expected)
    assert _flagged(scored, decision) == {"a1", "a2", "b1", "b2", "b3"}
    assert words == "each local authority's panel capacity, highest estimates first"
    band = policy.model_copy(update={"operating_point": "band", "band": "very high"})
    decision, words = operating_decision(scored, band, BANDS, {})
    assert _flagged(scored, decision) == {"a1"}
    assert words == "estimate at or above the 'very high' band (45.00%)"


def test_an_area_without_capacity_stops_the_gate(scored: pd.DataFrame) -> None:
    policy, _ = load_policy()
    with pytest.raises(GateError, match="no panel capacity for Brue"):
        operating_decision(scored, policy, BANDS, {"Avon": 2})
    with pytest.raises(GateError, match="no 'high' band"):
        operating_decision(scored, policy, BANDS[:2], CAPACITY)
