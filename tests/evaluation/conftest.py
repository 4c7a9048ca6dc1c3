"""Worlds with historic referral panels whose help has a known effect.

Two worlds of 60,000 young people from one seed, 2016–2025 (panels from 2019): help
lowers the serious-violence hazards by a fifth for 12 months in one, does nothing in the
other. Each is generated, written and evaluated once per session (``xdist_group
("evaluation")`` keeps the tests that use them on one worker).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest

from evaluation.design import Design, build_design
from evaluation.results import Evaluation
from evaluation.run import run_evaluation
from features.snapshot import load_tables
from synthetic.config import GeneratorSettings, PanelHistory
from synthetic.generate import generate, write_dataset

PEOPLE = 60_000
SEED = 5
EFFECT = 0.2


@dataclass(frozen=True)
class World:
    folder: Path
    settings: GeneratorSettings
    design: Design
    evaluation: Evaluation


def _world(root: Path, effect: float) -> World:
    settings = GeneratorSettings(
        people=PEOPLE,
        seed=SEED,
        start=dt.date(2016, 1, 1),
        end=dt.date(2025, 12, 1),
        panels=PanelHistory(intervention_effect=effect),
    )
    folder = root / f"effect-{effect}"
    write_dataset(generate(settings), folder)
    tables = load_tables(folder)
    design = build_design(tables)
    return World(folder, settings, design, run_evaluation(tables, design=design))


@pytest.fixture(scope="session")
def helped_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return _world(tmp_path_factory.mktemp("evaluation"), EFFECT)


@pytest.fixture(scope="session")
def null_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return _world(tmp_path_factory.mktemp("evaluation"), 0.0)
