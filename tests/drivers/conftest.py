"""A small synthetic world for the drivers tests, generated once per session.

6,000 young people from 2019 to 2025 (records to the end of 2025), with its truth: big
enough that some cells are published and many suppressed, small enough to build in
seconds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest

from drivers.run import DriversTables, build_drivers
from features.snapshot import Tables, load_tables
from synthetic.config import GeneratorSettings
from synthetic.generate import generate, write_dataset

AS_OF = dt.date(2026, 1, 1)
YEARS = 3


@dataclass(frozen=True)
class SmallWorld:
    folder: Path
    tables: Tables
    #: the report's tables, no models (``build_drivers`` on the whole world)
    report: DriversTables


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> SmallWorld:
    folder = tmp_path_factory.mktemp("drivers") / "world"
    settings = GeneratorSettings(
        people=6000, seed=3, start=dt.date(2019, 1, 1), end=dt.date(2025, 12, 1)
    )
    write_dataset(generate(settings), folder)
    tables = load_tables(folder)
    return SmallWorld(
        folder, tables, build_drivers(tables, AS_OF, years=YEARS, truth_folder=folder)
    )
