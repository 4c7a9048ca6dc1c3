"""The band policy (issue 20): absolute edges per outcome, validated; bands told apart."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.vocabulary import OUTCOMES
from models.bands import (
    BAND_ORDER,
    ONE_IN_TEN,
    BandPolicyError,
    fit_bands,
    load_bands,
    parse_bands,
    wilson_interval,
)

POLICY = """
version: "test-1"
owner: "the board"
minimum_people: 30
outcomes:
  victim: {raised: 0.03, high: 0.10, "very high": 0.25, why: "enough words to say why here"}
  perpetrator: {raised: 0.02, high: 0.10, why: "enough words to say why here"}
"""


def test_the_shipped_policy_is_valid_and_high_means_at_least_one_in_ten() -> None:
    policy, digest = load_bands()
    assert set(policy.outcomes) == set(OUTCOMES)
    assert len(digest) == 64
    for outcome, bands in policy.outcomes.items():
        edges = bands.edges()
        assert list(edges) == [b for b in BAND_ORDER if b in edges], outcome
        assert edges["high"] >= ONE_IN_TEN or bands.high_below_one_in_ten
        assert len(bands.why) > 40


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("raised: 0.03, high: 0.10", None),
        ("raised: 0.12, high: 0.10", "edges must rise"),
        ("raised: 0.02, high: 0.05", "below about 1 in 10"),
        ("raised: 0.02, high: 1.5", "less than 1"),
    ],
)
def test_a_policy_with_edges_out_of_order_or_a_low_high_band_is_refused(
    change: str, message: str | None
) -> None:
    text = POLICY.replace("raised: 0.02, high: 0.10", change)
    if message is None:
        assert parse_bands(text).outcomes["perpetrator"].edges()["high"] == 0.10
        return
    with pytest.raises(BandPolicyError, match=message) as error:
        parse_bands(text, "bands.yaml")
    assert str(error.value).startswith("bands.yaml: outcomes.perpetrator")
    assert "\n" not in str(error.value)


def test_a_high_band_below_one_in_ten_needs_a_reason() -> None:
    text = POLICY.replace(
        "raised: 0.02, high: 0.10,",
        'raised: 0.02, high: 0.05, high_below_one_in_ten: "rare outcome, small areas",',
    )
    assert parse_bands(text).outcomes["perpetrator"].high == 0.05


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: [", "not valid YAML"),
        ("- a list", "expected a mapping"),
        (POLICY.replace("  perpetrator:", "  someone:"), "^band policy: outcome 'perpetrator' has"),
        (
            POLICY + '  someone: {raised: 0.02, high: 0.1, why: "enough words to say why"}\n',
            "'someone' is not an outcome",
        ),
        (POLICY.replace("minimum_people: 30", "minimum_people: 0"), "minimum_people"),
    ],
)
def test_a_malformed_policy_is_refused_in_one_line(text: str, message: str) -> None:
    with pytest.raises(BandPolicyError, match=message) as error:
        parse_bands(text)
    assert "\n" not in str(error.value)


def _population(rates: list[float], sizes: list[int], edges: list[float], seed: int = 0):
    """Estimates spread inside each band's range, outcomes at each band's own rate."""
    rng = np.random.default_rng(seed)
    p, y = [], []
    bounds = [*edges, 1.0]
    for i, (rate, n) in enumerate(zip(rates, sizes, strict=True)):
        p.append(rng.uniform(bounds[i], bounds[i + 1] - 1e-6, n))
        y.append(rng.random(n) < rate)
    return np.concatenate(p), np.concatenate(y).astype(int)


def test_bands_far_apart_are_all_kept_with_their_observed_rates() -> None:
    edges = {"low": 0.0, "raised": 0.03, "high": 0.10, "very high": 0.25}
    p, y = _population([0.005, 0.05, 0.15, 0.35], [20000, 2000, 800, 300], list(edges.values()))
    bands = fit_bands(p, y, edges, minimum_people=30)
    assert [b.name for b in bands] == list(edges)
    assert [b.lower for b in bands] == list(edges.values())
    assert sum(b.people for b in bands) == len(p)
    assert sum(b.involved for b in bands) == y.sum()
    for below, above in itertools.pairwise(bands):
        assert above.interval()[0] > below.interval()[1]
        assert not above.merged
    assert bands[2].observed_rate == pytest.approx(0.15, abs=0.04)


def test_a_band_not_told_apart_from_the_band_below_is_merged_into_it() -> None:
    edges = {"low": 0.0, "raised": 0.03, "high": 0.10, "very high": 0.25}
    # 'very high' holds people no more often involved than 'high'
    p, y = _population([0.005, 0.05, 0.15, 0.15], [20000, 2000, 800, 300], list(edges.values()))
    bands = fit_bands(p, y, edges, minimum_people=30)
    assert [b.name for b in bands] == ["low", "raised", "high"]
    assert bands[-1].merged == ("very high",)
    assert bands[-1].people == 1100


def test_a_band_with_too_few_people_is_merged_even_when_its_rate_differs() -> None:
    edges = {"low": 0.0, "raised": 0.03, "high": 0.10, "very high": 0.25}
    p, y = _population([0.005, 0.05, 0.15, 0.9], [20000, 2000, 800, 20], list(edges.values()))
    assert [b.name for b in fit_bands(p, y, edges, minimum_people=30)] == [
        "low",
        "raised",
        "high",
    ]
    assert len(fit_bands(p, y, edges, minimum_people=10)) == 4


@settings(max_examples=40, deadline=None)
@given(
    rates=st.lists(st.floats(0.0, 0.6), min_size=4, max_size=4),
    sizes=st.lists(st.integers(0, 400), min_size=4, max_size=4),
    seed=st.integers(0, 10_000),
)
def test_every_band_returned_is_told_apart_from_its_neighbours(
    rates: list[float], sizes: list[int], seed: int
) -> None:
    edges = {"low": 0.0, "raised": 0.03, "high": 0.10, "very high": 0.25}
    p, y = _population(rates, [max(1, sizes[0]), *sizes[1:]], list(edges.values()), seed)
    bands = fit_bands(p, y, edges, minimum_people=5)
    assert bands[0].name == "low"
    assert [b.name for b in bands] == [n for n in edges if n in {b.name for b in bands}]
    assert sum(b.people for b in bands) == len(p)
    for below, above in itertools.pairwise(bands):
        assert above.people >= 5
        assert wilson_interval(above.involved, above.people)[0] > below.interval()[1]
