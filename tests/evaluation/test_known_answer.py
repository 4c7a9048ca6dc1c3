"""Known answers: on a world where help lowers the hazards by a fifth, the estimate covers
that; on a world where help does nothing, it covers zero.

The truth at the cut: a year of help multiplies the monthly chance of serious violence by
0.8, so the share involved within 12 months falls by about a fifth for those helped all
year (a little less, as the chance of *any* involvement is not quite proportional to the
monthly chance); being discussed raises the share of the year helped by the first stage,
so the effect of being discussed is about −0.2 × first stage × the level at the cut.
"""

from __future__ import annotations

import pytest

from evaluation.results import Estimate
from features.vocabulary import OUTCOMES
from tests.evaluation.conftest import EFFECT, World

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("evaluation")]


def _covers(e: Estimate, value: float) -> bool:
    assert e.estimated, e.withheld
    assert e.low is not None
    assert e.high is not None
    return e.low <= value <= e.high


def test_every_list_and_outcome_is_estimated(helped_world: World) -> None:
    ev = helped_world.evaluation
    assert {(r.list_name, r.outcome) for r in ev.results} == {("hand_rules", o) for o in OUTCOMES}
    assert ev.true_effect == pytest.approx(EFFECT)
    assert 0 < ev.crossover < 1
    for r in ev.results:
        assert r.itt.estimated, r.itt.withheld
        assert r.per_year_of_help.estimated, r.per_year_of_help.withheld
        # being discussed is what leads to help: the share of the year helped jumps, by
        # less than the share who take help up (some below the cut are helped later)
        take_up = helped_world.settings.panels.take_up  # type: ignore[union-attr]
        assert r.first_stage.low is not None
        assert r.first_stage.low > 0
        assert r.first_stage.effect is not None
        assert r.first_stage.effect < take_up


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_a_fifth_fewer_is_covered_where_help_works(helped_world: World, outcome: str) -> None:
    (r,) = [r for r in helped_world.evaluation.results if r.outcome == outcome]
    assert r.relative_per_year is not None
    _, low, high = r.relative_per_year
    assert low <= -EFFECT <= high, r.relative_per_year
    assert r.first_stage.effect is not None
    assert r.itt.level_below is not None
    assert _covers(r.itt, -EFFECT * r.first_stage.effect * r.itt.level_below)


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_no_effect_is_covered_where_help_does_nothing(null_world: World, outcome: str) -> None:
    (r,) = [r for r in null_world.evaluation.results if r.outcome == outcome]
    assert null_world.evaluation.true_effect == 0.0
    assert _covers(r.itt, 0.0)
    assert _covers(r.per_year_of_help, 0.0)


def test_the_checks_find_nothing_where_nothing_happens(null_world: World) -> None:
    """Placebo cuts cover zero; the effect is stable across bandwidths."""
    for r in null_world.evaluation.results:
        for check in r.placebo:
            if check.estimate.estimated:
                assert _covers(check.estimate, 0.0), (r.outcome, check.place)
        assert len([s for s in r.bandwidths if s.estimate.estimated]) >= 3


def test_what_could_be_detected_shrinks_with_more_years(helped_world: World) -> None:
    for r in helped_world.evaluation.results:
        force = [d for d in r.detectable if "force area" in d.area]
        effects = [d.effect for d in sorted(force, key=lambda d: d.years)]
        assert all(e is not None for e in effects)
        assert effects == sorted(effects, reverse=True)  # type: ignore[type-var]
        # one area alone needs more data than the force area to see the same effect
        one_year = {d.area: d.effect for d in r.detectable if d.years == 1.0}
        force_area = next(v for k, v in one_year.items() if "force area" in k)
        assert all(
            v is None or force_area is None or v > force_area
            for k, v in one_year.items()
            if "force area" not in k
        )


def test_the_density_check_sees_people_moved_across_the_cut(null_world: World) -> None:
    """Ranks fill every place, so the places either side hold as many listings; moving a
    quarter of those just below the cut onto the list is found."""
    from evaluation.run import _density_p

    for r in null_world.evaluation.results:
        assert r.density_p is not None
        assert r.density_p > 0.05
    frame = null_world.design.frame
    below = frame.index[frame["place"] == 0]
    moved = frame.copy()
    moved.loc[below[: len(below) // 4], "place"] = 1
    assert _density_p(moved) < 0.01
