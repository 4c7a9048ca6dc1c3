"""The historic referral panels of the generator, the contracts of their two tables, and
the rule that no feature reads them."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from features.build import build_feature_table
from features.registry import FEATURES
from features.schemas import PANEL_TABLES, RAW_TABLES, ContractError, load_panel_tables
from features.snapshot import load_tables
from models.candidates import BASELINE_RULES
from synthetic.config import GeneratorSettings, PanelHistory
from synthetic.generate import SyntheticDataset, generate, write_dataset
from synthetic.panels import HAND_RULES, RULE_FEATURES

PEOPLE = 20_000
START = dt.date(2017, 1, 1)
END = dt.date(2021, 12, 1)


def _settings(**panels: float) -> GeneratorSettings:
    return GeneratorSettings(
        people=PEOPLE,
        seed=11,
        start=START,
        end=END,
        panels=PanelHistory(start=dt.date(2018, 1, 1), **panels),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def helped_world() -> SyntheticDataset:
    return generate(_settings())


@pytest.fixture(scope="module")
def null_world() -> SyntheticDataset:
    return generate(_settings(intervention_effect=0.0))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, helped_world: SyntheticDataset) -> Path:
    out = tmp_path_factory.mktemp("panels") / "data"
    write_dataset(helped_world, out)
    return out


def test_hand_rules_are_the_rules_baseline() -> None:
    """The historic panels rank by the same points as the project's rules baseline."""
    as_features = {(p, RULE_FEATURES[kind], n) for p, kind, n in HAND_RULES}
    assert as_features == set(BASELINE_RULES)


def test_help_that_does_nothing_leaves_the_world_as_without_panels(
    null_world: SyntheticDataset,
) -> None:
    """Panels draw from a stream of their own: with no effect, every other table is the
    one a world without panels has, row for row."""
    without = generate(_settings().model_copy(update={"panels": None}))
    for name in RAW_TABLES:
        assert null_world.raw[name].equals(without.raw[name]), name
    assert null_world.truth["events"].equals(without.truth["events"])
    assert "panel_lists" not in without.raw
    assert "interventions" not in without.truth


def test_help_lowers_the_hazards_by_the_effect_while_it_lasts(
    helped_world: SyntheticDataset, null_world: SyntheticDataset
) -> None:
    """In the panels' first month both worlds are the same up to then: those helped have
    their true monthly chances multiplied by 0.8, everyone else's are untouched."""
    first = pd.Timestamp(dt.date(2018, 1, 1))
    helped = helped_world.truth["interventions"].to_pandas()
    assert set(helped["hazard_multiplier"].round(6)) == {0.8}
    who = set(helped.loc[pd.to_datetime(helped["list_month"]) == first, "person_id"])
    assert who, "somebody took up help in the first month"

    def month(world: SyntheticDataset) -> pd.DataFrame:
        pm = world.truth["person_months"]
        rows = pm.filter(pc.equal(pm["month"], pa.scalar(first.date(), pm["month"].type)))
        return rows.to_pandas().set_index("person_id").sort_index()

    a, b = month(helped_world), month(null_world)
    assert a.index.equals(b.index)
    is_helped = a.index.isin(who)
    for column in ("p_sv_victim", "p_sv_perpetrator"):
        np.testing.assert_allclose(
            a.loc[is_helped, column], 0.8 * b.loc[is_helped, column], rtol=1e-5
        )
        np.testing.assert_array_equal(a.loc[~is_helped, column], b.loc[~is_helped, column])


def test_panel_tables_keep_their_contract(folder: Path, helped_world: SyntheticDataset) -> None:
    tables = load_panel_tables(folder, helped_world.raw["people"].to_pandas())
    lists, helped = tables["panel_lists"], tables["interventions"]
    assert len(lists)
    assert len(helped)
    # ranks run 1..n in every month and area, kept to three times capacity
    for _, group in lists.groupby(["list_month", "local_authority"]):
        assert group["rank"].tolist() == list(range(1, len(group) + 1))
        assert len(group) <= 3 * group["capacity"].iloc[0]
    # nobody discussed twice within 12 months
    discussed = lists[lists["rank"] <= lists["capacity"]].sort_values("list_month")
    months = discussed["list_month"].dt.year * 12 + discussed["list_month"].dt.month
    gaps = months.groupby(discussed["person_id"]).diff().dropna()
    assert (gaps >= 12).all()
    # help starts in the month of the panel and lasts 12 months
    assert (helped["start_date"].dt.to_period("M") == helped["list_month"].dt.to_period("M")).all()
    assert (
        (helped["end_date"].dt.to_period("M") - helped["start_date"].dt.to_period("M"))
        .map(lambda d: d.n)
        .eq(12)
        .all()
    )
    # take-up near the 60% asked for
    share = len(helped) / len(discussed)
    assert 0.5 < share < 0.7


def test_no_feature_reads_the_panel_tables(folder: Path, tmp_path: Path) -> None:
    """A young person never looks riskier because they were helped: no feature comes
    from the panel tables, and features are the same with them removed."""
    assert {f.info.source for f in FEATURES} <= set(RAW_TABLES)
    assert not set(PANEL_TABLES) & set(RAW_TABLES)
    bare = tmp_path / "bare"
    shutil.copytree(folder, bare)
    for name in PANEL_TABLES:
        (bare / "raw" / f"{name}.parquet").unlink()
    dates = [dt.date(2020, 6, 1)]
    a, b = load_tables(folder), load_tables(bare)
    assert build_feature_table(a.tables, dates, a.end).equals(
        build_feature_table(b.tables, dates, b.end)
    )


def _broken(folder: Path, tmp_path: Path, table: str, change) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path / "broken"
    shutil.copytree(folder, out)
    path = out / "raw" / f"{table}.parquet"
    frame = pq.read_table(path).to_pandas()
    change(frame)
    frame.to_parquet(path, index=False)
    return out


@pytest.mark.parametrize(
    ("table", "change", "words"),
    [
        (
            "interventions",
            lambda f: f.__setitem__("programme", f["programme"].where(f.index != 3, "boot_camp")),
            "interventions: column 'programme'",
        ),
        (
            "interventions",
            lambda f: f.__setitem__(
                "start_date",
                f["start_date"].where(f.index != 2, f["list_month"] - pd.Timedelta(days=20)),
            ),
            "on or after the month the young person was listed",
        ),
        (
            "interventions",
            lambda f: f.__setitem__("person_id", f["person_id"].where(f.index != 1, "YP9999999")),
            "person_id present in people",
        ),
        (
            "panel_lists",
            lambda f: f.__setitem__("person_id", f["person_id"].where(f.index != 5, "YP9999998")),
            "person_id present in people",
        ),
        (
            "interventions",
            lambda f: f.__setitem__("rank", f["rank"].where(f.index != 4, 999)),
            "the listing that led to it",
        ),
    ],
)
def test_bad_panel_tables_are_refused_naming_the_rows(
    folder: Path,
    tmp_path: Path,
    table: str,
    change,
    words: str,  # type: ignore[no-untyped-def]
) -> None:
    broken = _broken(folder, tmp_path, table, change)
    people = pq.read_table(broken / "raw" / "people.parquet").to_pandas()
    with pytest.raises(ContractError) as caught:
        load_panel_tables(broken, people)
    message = str(caught.value)
    assert words in message
    assert "\n" not in message
    assert "row " in message
