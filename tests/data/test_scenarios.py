"""Scenarios: worlds in which one thing changes from a known month, for monitoring tests.

Every scenario world is compared with the world from the same seed without a scenario.
``exclusions-halved`` and ``feed-stops`` act only on the finished records with their own
random stream, so everything outside what they withhold is *identical*. ``risk-rises``
changes the true world: every month before its start is identical, its first month's
probabilities are exactly 1.5× in the area, and after that the histories diverge (more
victimisation feeds later risk, and the random draws shift), so later months are
compared as rates with intervals.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from features.vocabulary import LOCAL_AUTHORITIES
from synthetic.config import GeneratorSettings, PanelHistory, Scenario
from synthetic.generate import RAW_TABLES, SyntheticDataset, generate
from synthetic.scenarios import (
    EXCLUSIONS_RECORDED_SHARE,
    VICTIMISATION_RISE,
    VictimisationRise,
    scenario_stream,
)
from synthetic.simulate import _bernoulli
from vru.cli import app

#: small and short: about 0.3 s a world. Seed 12 is not special for the record-only
#: scenarios; for risk-rises see test_recorded_victims_rise_with_the_true_risk.
#: The historic panels' help does nothing here: it follows recorded victims, so where it
#: works it would damp the rise it is measured against.
BASE = GeneratorSettings(
    people=5_000,
    seed=12,
    start=dt.date(2022, 1, 1),
    panels=PanelHistory(intervention_effect=0.0),
)
START = dt.date(2025, 1, 1)  # the default scenario start
#: risk-rises starts earlier so that 36 months of recorded victims can show the rise
RISE_START = dt.date(2023, 1, 1)


def _world(**scenario: object) -> SyntheticDataset:
    return generate(BASE.model_copy(update={"scenario": Scenario.model_validate(scenario)}))


@pytest.fixture(scope="module")
def base() -> SyntheticDataset:
    return generate(BASE)


@pytest.fixture(scope="module")
def halved() -> SyntheticDataset:
    return _world(name="exclusions-halved")


@pytest.fixture(scope="module")
def risen() -> SyntheticDataset:
    return _world(name="risk-rises", start=RISE_START)


def _frame(data: SyntheticDataset, part: str, name: str) -> pd.DataFrame:
    """A table with each row's local authority (people move only in and out of the whole area)."""
    table = getattr(data, part)[name].to_pandas()
    area = data.raw["people"].to_pandas().set_index("person_id")["local_authority"]
    return table.assign(area=table["person_id"].map(area))


def _same_rows(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return a.reset_index(drop=True).equals(b.reset_index(drop=True))


def _assert_identical(
    first: SyntheticDataset, second: SyntheticDataset, *, except_raw: str | None = None
) -> None:
    for name in first.truth:
        assert first.truth[name].equals(second.truth[name]), f"truth/{name} differs"
    for name in RAW_TABLES:
        if name != except_raw:
            assert first.raw[name].equals(second.raw[name]), f"raw/{name} differs"


# ------------------------------------------------------------------ no scenario


def test_no_scenario_is_the_world_as_before(base: SyntheticDataset) -> None:
    explicit = generate(BASE.model_copy(update={"scenario": None}))
    _assert_identical(base, explicit)
    manifest = base.manifest()
    # the manifest of a world without a scenario carries no trace of scenarios at all
    assert "scenario" not in manifest
    settings = manifest["settings"]
    assert isinstance(settings, dict)
    assert "scenario" not in settings
    assert base.withheld == {}
    assert json.dumps(manifest) == json.dumps(explicit.manifest())


def test_the_scenario_stream_is_not_one_of_the_generators() -> None:
    generator_streams = np.random.SeedSequence(BASE.seed).spawn(4)
    own = scenario_stream(BASE.seed).random(5)
    for child in generator_streams:
        assert not np.array_equal(np.random.default_rng(child).random(5), own)
    assert np.array_equal(scenario_stream(BASE.seed).random(5), own)


# ------------------------------------------------------------------ exclusions-halved


def test_halved_exclusions_leave_truth_and_other_records_identical(
    base: SyntheticDataset, halved: SyntheticDataset
) -> None:
    # the true risk of serious violence never reads a recorded exclusion: identical truth
    _assert_identical(base, halved, except_raw="school_events")
    before = _frame(base, "raw", "school_events")
    after = _frame(halved, "raw", "school_events")
    assert _same_rows(before[before["event_date"] < START], after[after["event_date"] < START])


def test_half_the_suspensions_and_exclusions_are_recorded_after_the_start(
    base: SyntheticDataset, halved: SyntheticDataset
) -> None:
    before = _frame(base, "raw", "school_events")
    after = _frame(halved, "raw", "school_events")
    was, now = before[before["event_date"] >= START], after[after["event_date"] >= START]
    # only withheld, never invented: every kept record is one of the world's own records
    keys = ["person_id", "event_date", "event_type"]
    assert len(now.merge(was, on=keys, how="left", indicator=True).query("_merge != 'both'")) == 0
    n = len(was)
    assert n >= 150, "too few school events to judge the share"
    # each record after the start is kept with probability 1/2, independently: the kept
    # share is binomial, sd = sqrt(p(1-p)/n) (about 0.03 at n≈250); allow 4 sd
    share = len(now) / n
    sd = np.sqrt(EXCLUSIONS_RECORDED_SHARE * (1 - EXCLUSIONS_RECORDED_SHARE) / n)
    assert abs(share - EXCLUSIONS_RECORDED_SHARE) < 4 * sd, share
    # month by month, never more than before (and the months before the start untouched)
    monthly_was = was.groupby(pd.to_datetime(was["event_date"]).dt.to_period("M")).size()
    monthly_now = now.groupby(pd.to_datetime(now["event_date"]).dt.to_period("M")).size()
    assert (monthly_now.reindex(monthly_was.index, fill_value=0) <= monthly_was).all()
    assert halved.withheld == {"school_events": n - len(now)}


def test_halved_exclusions_in_one_area_leave_the_other_areas_alone(
    base: SyntheticDataset,
) -> None:
    somerset = _world(name="exclusions-halved", local_authority="Somerset")
    _assert_identical(base, somerset, except_raw="school_events")
    before = _frame(base, "raw", "school_events")
    after = _frame(somerset, "raw", "school_events")
    others = before["area"] != "Somerset"
    assert _same_rows(before[others], after[after["area"] != "Somerset"])
    was = before[~others & (before["event_date"] >= START)]
    now = after[(after["area"] == "Somerset") & (after["event_date"] >= START)]
    assert 0 < len(now) < len(was)


# ------------------------------------------------------------------ feed-stops


@pytest.mark.parametrize(
    ("source", "area", "table"),
    [
        (None, None, "agency_contacts"),  # the defaults: agency contacts, Bristol
        ("school_events", "Somerset", "school_events"),
        ("incidents", "Bristol", "incidents"),
    ],
)
def test_a_stopped_feed_delivers_nothing_from_the_start(
    base: SyntheticDataset, source: str | None, area: str | None, table: str
) -> None:
    stopped = _world(name="feed-stops", source=source, local_authority=area)
    assert stopped.settings.scenario is not None
    where = stopped.settings.scenario.local_authority
    assert where == (area or "Bristol")
    _assert_identical(base, stopped, except_raw=table)

    before, after = _frame(base, "raw", table), _frame(stopped, "raw", table)
    in_area = after[after["area"] == where]
    # nothing recorded (hence nothing happening) on or after the start in that area
    assert (in_area["recorded_date"] < START).all()
    assert (in_area["event_date"] < START).all()
    # what arrived before the start is kept, and every other area is untouched
    was_in_area = before[before["area"] == where]
    assert _same_rows(was_in_area[was_in_area["recorded_date"] < START], in_area)
    assert _same_rows(before[before["area"] != where], after[after["area"] != where])
    withheld = len(before) - len(after)
    assert withheld > 0
    assert stopped.withheld == {table: withheld}


# ------------------------------------------------------------------ risk-rises


def _months(data: SyntheticDataset) -> pd.DataFrame:
    return _frame(data, "truth", "person_months")


def test_risk_rises_changes_nothing_before_its_start(
    base: SyntheticDataset, risen: SyntheticDataset
) -> None:
    assert base.raw["people"].equals(risen.raw["people"])
    assert base.truth["latent"].equals(risen.truth["latent"])
    was, now = _months(base), _months(risen)
    assert _same_rows(was[was["month"] < RISE_START], now[now["month"] < RISE_START])
    was_e, now_e = _frame(base, "truth", "events"), _frame(risen, "truth", "events")
    assert _same_rows(
        was_e[was_e["event_date"] < RISE_START], now_e[now_e["event_date"] < RISE_START]
    )


def test_true_victimisation_probability_is_half_as_high_again_in_the_area(
    base: SyntheticDataset, risen: SyntheticDataset
) -> None:
    keys = ["person_id", "month"]
    was = _months(base).set_index(keys)
    now = _months(risen).set_index(keys)
    # first month of the rise: same people, same histories, so the probabilities are
    # exactly 1.5× in Bristol and unchanged elsewhere (float32 storage: relative 1e-6)
    first = now.xs(RISE_START, level="month")
    base_first = was.xs(RISE_START, level="month").loc[first.index]
    bristol = first["area"] == "Bristol"
    assert bristol.sum() > 500
    np.testing.assert_allclose(
        first.loc[bristol, "p_sv_victim"],
        VICTIMISATION_RISE * base_first.loc[bristol, "p_sv_victim"],
        rtol=1e-6,
    )
    assert first.loc[~bristol, "p_sv_victim"].equals(base_first.loc[~bristol, "p_sv_victim"])
    # perpetration is not what rises
    assert first["p_sv_perpetrator"].equals(base_first["p_sv_perpetrator"])

    # over the 36 months after the start the histories diverge (more victimisation raises
    # later risk a little): across seeds 10–29 the Bristol ratio of summed probabilities
    # was 1.55 ± 0.05 and the other areas' 0.99 ± 0.04; bands of about ±3–4 sd
    def summed(frame: pd.DataFrame, in_bristol: bool) -> float:
        after = frame[frame.index.get_level_values("month") >= RISE_START]
        return float(after.loc[(after["area"] == "Bristol") == in_bristol, "p_sv_victim"].sum())

    assert 1.4 < summed(now, True) / summed(was, True) < 1.75
    assert 0.85 < summed(now, False) / summed(was, False) < 1.15


def _victims_in_bristol(data: SyntheticDataset, part: str) -> int:
    if part == "raw":
        frame = _frame(data, "raw", "incidents")
        chosen = frame["serious_violence"] & (frame["role"] == "victim")
    else:
        frame = _frame(data, "truth", "events")
        chosen = frame["kind"] == "sv_victimisation"
    return int((chosen & (frame["area"] == "Bristol") & (frame["event_date"] >= RISE_START)).sum())


def test_recorded_victims_rise_with_the_true_risk(
    base: SyntheticDataset, risen: SyntheticDataset
) -> None:
    true_was, true_now = _victims_in_bristol(base, "truth"), _victims_in_bristol(risen, "truth")
    seen_was, seen_now = _victims_in_bristol(base, "raw"), _victims_in_bristol(risen, "raw")
    assert seen_was >= 50
    for was, now in ((true_was, true_now), (seen_was, seen_now)):
        # Poisson counts: 95% interval of the rate ratio on the log scale. Across seeds
        # 10–29 the recorded ratio's lower bound was above 1 in 19 of 20 (lowest 0.98).
        ratio = now / was
        low = ratio * np.exp(-1.96 * np.sqrt(1 / was + 1 / now))
        assert low > 1.0, (was, now)
    # the police record the same share of what happens as before (under-reporting, B4)
    assert abs(seen_now / true_now - seen_was / true_was) < 0.1
    assert risen.withheld == {}


def test_the_rise_multiplies_the_probability_not_the_random_draws() -> None:
    log_hazard = np.log(np.array([0.01, 0.05, 0.09]))
    scale = np.array([1.5, 1.0, 1.5])
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    p, _ = _bernoulli(rng_a, log_hazard)
    p_scaled, _ = _bernoulli(rng_b, log_hazard, scale=scale)
    np.testing.assert_allclose(p_scaled, p * scale)
    # one uniform per row either way, so the stream continues identically
    assert rng_a.random() == rng_b.random()
    rise = VictimisationRise(from_month=10, in_area=np.array([True, False, True]))
    assert rise.multiplier(9, np.arange(3)) is None
    multiplier = rise.multiplier(10, np.arange(3))
    assert multiplier is not None
    assert multiplier.tolist() == [1.5, 1.0, 1.5]


# ------------------------------------------------------------------ settings and manifest


def test_defaults_fill_in_per_scenario() -> None:
    assert Scenario(name="feed-stops").local_authority == "Bristol"
    assert Scenario(name="feed-stops").source == "agency_contacts"
    assert Scenario(name="risk-rises").local_authority == "Bristol"
    assert Scenario(name="risk-rises").source is None
    halved = Scenario(name="exclusions-halved")
    assert halved.local_authority is None  # every area
    assert halved.start == START


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ({"name": "exclusions-doubled"}, "name"),
        ({"name": "risk-rises", "local_authority": "Bristle"}, "local_authority 'Bristle'"),
        ({"name": "risk-rises", "source": "incidents"}, "source applies only to feed-stops"),
        ({"name": "feed-stops", "source": "police"}, "source"),
        ({"name": "feed-stops", "start": dt.date(2025, 1, 2)}, "first day of a month"),
        ({"name": "feed-stops", "start": dt.date(2026, 1, 1)}, "outside the period"),
        ({"name": "feed-stops", "start": dt.date(2022, 1, 1)}, "outside the period"),
        ({"name": "feed-stops", "start": dt.date(2021, 6, 1)}, "outside the period"),
    ],
)
def test_bad_scenarios_are_refused(scenario: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        GeneratorSettings.model_validate({**BASE.model_dump(), "scenario": scenario})


def test_the_manifest_names_the_scenario(risen: SyntheticDataset) -> None:
    manifest = risen.manifest()
    block = manifest["scenario"]
    assert isinstance(block, dict)
    assert block["name"] == "risk-rises"
    assert block["start"] == RISE_START.isoformat()
    assert block["local_authority"] == "Bristol"
    assert block["source"] is None
    assert block["victimisation_multiplier"] == VICTIMISATION_RISE
    assert "Bristol" in str(block["what_changes"])
    settings = manifest["settings"]
    assert isinstance(settings, dict)
    # the settings in the manifest rebuild the same world
    assert GeneratorSettings.model_validate(settings) == risen.settings


# ------------------------------------------------------------------ the command line

runner = CliRunner()
SMALL = ["--people", "1500", "--seed", "3", "--start", "2022-01"]


def test_help_documents_the_scenario_options() -> None:
    result = runner.invoke(app, ["synth", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in ("--scenario", "--scenario-from", "--scenario-la", "--scenario-source"):
        assert option in result.output, option
    for name in ("exclusions-halved", "feed-stops", "risk-rises"):
        assert name in result.output, name


def test_synth_writes_a_scenario_world(tmp_path: Path) -> None:
    out = tmp_path / "pop"
    args = ["--scenario", "feed-stops", "--scenario-from", "2024-07", "--scenario-la", "somerset"]
    result = runner.invoke(app, ["synth", *SMALL, *args, "--out", str(out)], terminal_width=200)
    assert result.exit_code == 0, result.output
    block = json.loads((out / "manifest.json").read_text())["scenario"]
    assert block["name"] == "feed-stops"
    assert block["start"] == "2024-07-01"
    assert block["local_authority"] == "Somerset"
    assert block["source"] == "agency_contacts"
    assert block["records_withheld"]["agency_contacts"] > 0
    assert "no agency contact records arrive for young people living in Somerset" in (
        " ".join(result.output.split())
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "nope"], "--scenario must be one of exclusions-halved, feed-stops"),
        (["--scenario", "risk-rises", "--scenario-from", "2030-01"], "--scenario-from 2030-01"),
        (["--scenario", "risk-rises", "--scenario-from", "2021-06"], "outside the period"),
        (["--scenario", "risk-rises", "--scenario-from", "2025-13"], "(--scenario-from)"),
        (["--scenario", "risk-rises", "--scenario-la", "Bristle"], "--scenario-la must be"),
        (["--scenario", "risk-rises", "--scenario-source", "incidents"], "only to --scenario"),
        (["--scenario", "feed-stops", "--scenario-source", "police"], "--scenario-source must"),
        (["--scenario-la", "Bristol"], "--scenario-la needs --scenario"),
        (["--scenario", "risk-rises", "--end", "2024-12"], "--scenario-from 2025-01"),
    ],
)
def test_bad_scenario_options_give_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "never"
    result = runner.invoke(app, ["synth", *SMALL, *args, "--out", str(out)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_every_local_authority_is_accepted() -> None:
    for area in LOCAL_AUTHORITIES:
        assert Scenario(name="risk-rises", local_authority=area).local_authority == area
