"""Shared fixtures: synthetic populations generated once per test session (per worker).

Tests that use the large pair are grouped (``xdist_group("population")``) so the
pair is generated once even when tests run on two workers.
"""

from __future__ import annotations

import os

import pytest

from synthetic.config import BiasSettings, GeneratorSettings
from synthetic.generate import SyntheticDataset, generate

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

#: big enough that every calibration target is stable, small enough for CI (~10 s each)
CALIBRATION_PEOPLE = 100_000
SEED = 20241


@pytest.fixture(scope="session")
def small_settings() -> GeneratorSettings:
    return GeneratorSettings(people=4_000, seed=7)


@pytest.fixture(scope="session")
def small_dataset(small_settings: GeneratorSettings) -> SyntheticDataset:
    return generate(small_settings)


@pytest.fixture(scope="session")
def population_pair() -> tuple[SyntheticDataset, SyntheticDataset]:
    """The default (biased) world and the unbiased world from one seed."""
    settings = GeneratorSettings(people=CALIBRATION_PEOPLE, seed=SEED)
    biased = generate(settings)
    unbiased = generate(settings.model_copy(update={"bias": BiasSettings.none()}))
    return biased, unbiased
