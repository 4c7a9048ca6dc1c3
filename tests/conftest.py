"""Shared fixtures: synthetic populations generated once per test session (per worker).

Tests that use the large pair are grouped (``xdist_group("population")``) so the
pair is generated once even when tests run on two workers.
"""

from __future__ import annotations

import os

import pytest

from synthetic.config import BiasSettings, GeneratorSettings, PanelHistory
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
    """The default (biased) world and the unbiased world from one seed.

    The historic panels' help does nothing here: help acts on what agencies *recorded*, so
    where it works, who is helped — and with it the true world — depends on the recording
    bias. With no effect, the true world is the same with and without bias, which is what
    the bias tests compare against.
    """
    settings = GeneratorSettings(
        people=CALIBRATION_PEOPLE, seed=SEED, panels=PanelHistory(intervention_effect=0.0)
    )
    biased = generate(settings)
    unbiased = generate(settings.model_copy(update={"bias": BiasSettings.none()}))
    return biased, unbiased


@pytest.fixture(scope="session")
def released(tmp_path_factory: pytest.TempPathFactory) -> object:
    """Both outcomes' champions on the batch population (``tests.batch.conftest``), shared
    by the batch and monitoring tests (``xdist_group("batch")``): trained once per worker."""
    from tests.batch.conftest import make_released

    return make_released(tmp_path_factory)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Make ``--dist loadgroup`` keep each ``xdist_group`` on one worker under pytest 9.

    pytest-xdist 3.8 tags a grouped test by rewriting ``item._nodeid``, which pytest 9 no
    longer reads (a node's id lives in ``item._id``): the groups were silently ignored and
    every expensive session fixture was built once per worker. This does the same
    tagging through ``_id``; it is a no-op where xdist's own tagging took effect.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import coerce_node_id

    for item in items:
        groups = sorted(
            {
                str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                for mark in item.iter_markers("xdist_group")
            }
        )
        suffix = f"@{'_'.join(groups)}"
        if groups and not item.nodeid.endswith(suffix):  # ids may hold "@" themselves
            item._id = coerce_node_id(f"{item.nodeid}{suffix}")
