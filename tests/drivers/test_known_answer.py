"""Known answer: the pathways part finds an effect the generator builds in, and does not
find one it leaves out.

The world here is the generator's, with complete recording (every true serious-violence
event is recorded, so recorded involvement is true involvement) and with one change to
its coefficients: behaviour at school and the school's decisions no longer depend on
behaviour, free school meals or special needs, so a permanent exclusion carries no
information about violence (it still depends on age and sex, which the matching holds
fixed). A first missing episode keeps the generator's built-in path: missing episodes
raise gang involvement, which raises serious violence.

The truth of each comparison is taken from the generator's own monthly probabilities:
for every young person in the report's comparison, the chance of a first involvement in
the window, 1 − Π(1 − p_victim)(1 − p_suspect) over its months, averaged exactly as the
report averages the recorded outcomes (:func:`drivers.pathways.accumulate`). The
report's interval must hold that truth. The same report on the default world (where
exclusion and violence share causes) does find an exclusion association: the method is
not blind, the world is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from drivers.base import FORCE_AREA, People, month_index
from drivers.pathways import (
    PATHWAYS,
    accumulate,
    estimates,
    first_involvement,
    pathway_design,
)
from drivers.run import DriversTables, build_drivers
from drivers.trends import MEASURES, measure_events
from features.snapshot import Tables, load_tables
from synthetic.config import BiasSettings, GeneratorSettings, PanelHistory
from synthetic.dynamics import Dynamics
from synthetic.generate import generate, write_dataset

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("drivers_known_answer")]

AS_OF = dt.date(2026, 1, 1)
YEARS = 5
START = dt.date(2018, 1, 1)
#: large enough that both pathways' force-area figures are published (10+ involved)
PEOPLE = 100_000
BUILT_IN = "missing_episode"
LEFT_OUT = "permanent_exclusion"
#: school behaviour and decisions no longer follow behaviour, free school meals or needs;
#: the base rates rise so that exclusions stay common enough to count
EXCLUSION_SAYS_NOTHING = Dynamics(
    school_behaviour=0.0,
    school_fsm=0.0,
    school_sen_support=0.0,
    school_ehcp=0.0,
    pex_behaviour=0.0,
    pex_fsm=0.0,
    pex_sen_support=0.0,
    school_base=-3.6,
    pex_base=-4.5,
)


@dataclass(frozen=True)
class World:
    folder: Path
    tables: Tables
    report: DriversTables


def _world(root: Path, dynamics: Dynamics | None) -> World:
    # the historic panels' help does nothing here: it follows permanent exclusions (two
    # of the hand rules' points), and working help would put a pathway into the world
    # that the known answer leaves out
    settings = GeneratorSettings(
        people=PEOPLE,
        seed=7,
        start=START,
        end=dt.date(2025, 12, 1),
        bias=BiasSettings.none(),
        panels=PanelHistory(intervention_effect=0.0),
    )
    folder = root / "world"
    write_dataset(generate(settings, dynamics=dynamics), folder)
    tables = load_tables(folder)
    return World(folder, tables, build_drivers(tables, AS_OF, years=YEARS, truth_folder=folder))


@pytest.fixture(scope="module")
def changed(tmp_path_factory: pytest.TempPathFactory) -> World:
    return _world(tmp_path_factory.mktemp("changed"), EXCLUSION_SAYS_NOTHING)


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> World:
    return _world(tmp_path_factory.mktemp("default"), None)


def _published(world: World, pathway: str, window: int) -> pd.Series:
    table = world.report.pathways
    row = table[
        (table["pathway"] == pathway)
        & (table["window_months"] == window)
        & (table["local_authority"] == FORCE_AREA)
    ]
    assert len(row) == 1
    found = row.iloc[0]
    assert found["suppressed"] == "", f"{pathway} {window} months is suppressed"
    return found


@dataclass(frozen=True)
class Truth:
    """What the report's comparisons need, with each person's true chance of a first
    involvement in any window (from the generator's monthly probabilities)."""

    people: People
    events: dict[str, tuple[np.ndarray, np.ndarray]]
    first_sv: np.ndarray
    chance: Callable[[np.ndarray, int, int], np.ndarray]


@pytest.fixture(scope="module")
def truth(changed: World) -> Truth:
    world = changed
    people = People.from_table(world.tables.people)
    events = {m.key: measure_events(world.tables.tables, m, people, AS_OF) for m in MEASURES}
    first_sv = first_involvement(world.tables.tables["incidents"], people, AS_OF)
    months = pd.read_parquet(
        world.folder / "truth" / "person_months.parquet",
        columns=["person_id", "month", "p_sv_victim", "p_sv_perpetrator"],
    )
    rows = people.position(months["person_id"])
    stamp = pd.to_datetime(months["month"])
    index = (stamp.dt.year * 12 + stamp.dt.month - 1).to_numpy() - month_index(START)
    survive = np.log1p(-months["p_sv_victim"].to_numpy(float)) + np.log1p(
        -months["p_sv_perpetrator"].to_numpy(float)
    )
    span = month_index(AS_OF) - month_index(START) + 1
    log_none = np.zeros((people.size, span + 1), dtype=np.float64)
    keep = rows >= 0
    np.add.at(log_none, (rows[keep], index[keep] + 1), survive[keep])
    cumulative = np.cumsum(log_none, axis=1)
    first = month_index(START)

    def chance(who: np.ndarray, m: int, w: int) -> np.ndarray:
        # months m+1 .. m+w: columns (m - first + 1) + 1 .. (m + w - first + 1)
        a, b = m - first + 1, m + w - first + 1
        return 1.0 - np.exp(cumulative[who, b] - cumulative[who, a])

    return Truth(people, events, first_sv, chance)


def _truth(truth: Truth, pathway: str, window: int) -> pd.Series:
    """The report's comparison with each young person's true chance of involvement."""
    chosen = next(p for p in PATHWAYS if p.key == pathway)
    design = pathway_design(
        truth.people, truth.events, truth.first_sv, month_index(AS_OF), YEARS, chosen, window
    )
    return estimates(accumulate(design, truth.people, truth.chance)).iloc[-1]


@pytest.mark.parametrize("window", [12, 24])
def test_the_built_in_pathway_is_found_and_agrees_with_the_truth(
    changed: World, truth: Truth, window: int
) -> None:
    found = _published(changed, BUILT_IN, window)
    true = _truth(truth, BUILT_IN, window)
    assert found["difference_low"] > 0, found
    assert found["ratio_low"] > 1
    assert found["difference_low"] <= true["difference"] <= found["difference_high"], (
        found[["difference", "difference_low", "difference_high"]].to_dict(),
        true["difference"],
    )
    # the truth itself: a real rise, several points of a share
    assert true["difference"] > 0.02


@pytest.mark.parametrize("window", [12, 24])
def test_the_pathway_left_out_is_not_found_and_agrees_with_the_truth(
    changed: World, truth: Truth, window: int
) -> None:
    found = _published(changed, LEFT_OUT, window)
    true = _truth(truth, LEFT_OUT, window)
    assert found["difference_low"] <= 0 <= found["difference_high"], found
    assert found["difference_low"] <= true["difference"] <= found["difference_high"]
    # the truth: no difference to speak of
    assert abs(true["difference"]) < 0.01


def test_where_exclusion_and_violence_share_causes_the_report_finds_the_association(
    default: World,
) -> None:
    """Same seed, the generator's own coefficients: the method is not blind."""
    found = _published(default, LEFT_OUT, 24)
    assert found["difference_low"] > 0, found
