"""The people: residence windows, area mix, and no direct path from ethnicity to risk."""

from __future__ import annotations

import numpy as np
import pytest

from features.vocabulary import LOCAL_AUTHORITIES
from synthetic.config import LOCAL_AUTHORITY_POPULATION, GeneratorSettings
from synthetic.population import AGE_FROM_MONTHS, AGE_UNTIL_MONTHS, Population, generate_population


@pytest.fixture(scope="module")
def pop() -> Population:
    return generate_population(GeneratorSettings(people=30_000, seed=3), np.random.default_rng(3))


def test_everyone_is_observed_only_while_aged_10_to_24(pop: Population) -> None:
    assert np.all(pop.last > pop.first)
    assert np.all(pop.first - pop.birth >= AGE_FROM_MONTHS)
    assert np.all(pop.last - pop.birth <= AGE_UNTIL_MONTHS)


def test_moves_bound_the_residence_window(pop: Population) -> None:
    movers_in = pop.moved_in >= 0
    movers_out = pop.moved_out >= 0
    assert np.array_equal(pop.first[movers_in], pop.moved_in[movers_in])
    assert np.array_equal(pop.last[movers_out], pop.moved_out[movers_out])
    assert 0.08 < movers_in.mean() < 0.2
    assert 0.08 < movers_out.mean() < 0.2


def test_resident_population_is_stable_and_close_to_people(pop: Population) -> None:
    n_months = GeneratorSettings().n_months
    counts = np.array([((pop.first <= t) & (t < pop.last)).sum() for t in range(n_months)])
    assert np.all(np.abs(counts / 30_000 - 1) < 0.06)


def test_local_authority_shares_follow_the_census(pop: Population) -> None:
    weights = np.array([LOCAL_AUTHORITY_POPULATION[la] for la in LOCAL_AUTHORITIES], float)
    shares = np.bincount(pop.local_authority, minlength=len(LOCAL_AUTHORITIES)) / pop.size
    assert np.allclose(shares, weights / weights.sum(), atol=0.01)


def test_bristol_is_the_most_deprived_and_most_diverse(pop: Population) -> None:
    bristol = pop.local_authority == LOCAL_AUTHORITIES.index("Bristol")
    banes = pop.local_authority == LOCAL_AUTHORITIES.index("Bath and North East Somerset")
    assert (pop.imd_decile[bristol] == 1).mean() > 0.12
    assert (pop.imd_decile[banes] == 1).mean() < 0.03
    assert (pop.ethnicity[bristol] != 0).mean() > 2 * (pop.ethnicity[banes] != 0).mean()


def test_ethnicity_has_no_direct_effect_on_latent_risk(pop: Population) -> None:
    """Conditional on deprivation, neighbourhood and sex, ethnic groups share latent risk."""
    design = np.column_stack(
        [np.ones(pop.size), pop.deprivation, pop.neighbourhood_effect, pop.male]
        + [pop.ethnicity == k for k in range(1, 5)]
    ).astype(float)
    for latent in (pop.adversity, pop.behaviour, pop.exploitation):
        coef, *_ = np.linalg.lstsq(design, latent, rcond=None)
        assert np.all(np.abs(coef[4:]) < 0.12), coef[4:]


def test_latent_factors_are_positively_correlated(pop: Population) -> None:
    corr = np.corrcoef([pop.adversity, pop.behaviour, pop.exploitation])
    assert np.all(corr[np.triu_indices(3, 1)] > 0.3)


def test_free_school_meals_follow_deprivation(pop: Population) -> None:
    assert 0.15 < pop.fsm.mean() < 0.35
    assert pop.fsm[pop.imd_decile <= 2].mean() > 2.5 * pop.fsm[pop.imd_decile >= 9].mean()
