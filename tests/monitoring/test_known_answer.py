"""Known answers: the unchanged world raises no alarm in two years; each scenario raises
its check within the months the README states; the switch-off rule suspends, the batch
obeys, and reinstating records who and why (vru-risk issue 15).

The models were trained on the records to the end of 2025; the world runs to the end of
2027. Scenarios start in July 2026, so the as-of date 2026-08-01 is the first month that
sees the change.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from monitoring.checks import month_add
from monitoring.history import ALL_AREAS, ANY_OUTCOME, read_history
from monitoring.run import count_flags, first_red
from tests.batch.conftest import CAPACITY
from tests.batch.conftest import Released as ReleasedPopulation
from tests.monitoring.conftest import SCENARIO_START, SLOW, Store, Watched

pytestmark = SLOW
FIRST = dt.date(2026, 1, 1)
#: the README's detection delays, in monthly runs counted from the first as-of date after
#: the change (2026-08-01 is run 1)
FEED_STOPS_RUNS = 1
EXCLUSIONS_HALVED_RUNS = 3
RISK_RISES_RUNS = 8
#: what the lists of 12 months ago cannot show before they mature
NOT_YET = ("precision", "calibration")


def _months(first: dt.date, n: int) -> list[dt.date]:
    return [month_add(first, k) for k in range(n)]


def _run(n: int) -> dt.date:
    """The as-of date of the n-th monthly run after the change (1 = 2026-08-01)."""
    return month_add(SCENARIO_START, n)


def _flagged(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["status"].isin(("amber", "red")) & (rows["check"] != "status")]


def test_two_years_of_the_unchanged_world_raise_no_red_and_at_most_one_amber(
    watched: Watched,
) -> None:
    rows = watched.monitor(watched.world, _months(FIRST, 24))
    flags = count_flags(rows)
    assert flags["red"] == 0, _flagged(rows)[["as_of", "check", "local_authority", "words"]]
    assert flags["amber"] <= 1, _flagged(rows)[["as_of", "check", "local_authority", "words"]]
    status = rows[rows["check"] == "status"]
    assert len(status) == 48
    assert set(status["status"]) <= {"green", "amber"}
    # every check was judged somewhere: green means looked at, not skipped
    judged = rows[rows["status"] == "green"]
    assert {
        "data_volume",
        "data_freshness",
        "input_drift",
        "band_shares",
        "precision",
        "calibration",
        "group_calibration",
    } <= set(judged["check"])
    # outcomes are judged only once the lists of the model's checked snapshot (January
    # 2025) have had their 12 months: every month here, since the first is January 2026
    first = rows[pd.to_datetime(rows["as_of"]).dt.date == FIRST]
    assert not (first["check"].isin(NOT_YET) & (first["status"] == "not yet")).any()


def test_outcomes_before_their_window_closes_say_so_instead_of_zeros(watched: Watched) -> None:
    # the model was checked on January 2025: the lists of April 2024 predate it
    rows = watched.monitor(watched.world, [dt.date(2025, 4, 1)])
    outcome_rows = rows[rows["check"].isin(NOT_YET)]
    assert len(outcome_rows)
    assert (outcome_rows["status"] == "not yet").all()
    assert outcome_rows["value"].isna().all()
    assert outcome_rows["words"].str.contains("closes on 1 January 2026").all()


def test_a_stopped_police_feed_suspends_in_its_first_month(
    watched: Watched, scenario_worlds: dict[str, Path]
) -> None:
    rows = watched.monitor(scenario_worlds["feed-stops"], [SCENARIO_START, _run(1)])
    for outcome in watched.models:
        assert first_red(rows, outcome) == _run(FEED_STOPS_RUNS)
    red = _flagged(rows)
    red = red[red["status"] == "red"]
    volume = red[red["check"] == "data_volume"]
    assert set(volume["local_authority"]) == {"North Somerset"}
    assert set(volume["subject"]) == {"police records"}
    assert (volume["outcome"] == ANY_OUTCOME).all()
    assert volume["enforced"].all()
    assert volume["words"].str.contains("0 arrived").all()


def test_halved_exclusion_records_are_flagged_and_not_read_as_a_fall_in_risk(
    watched: Watched, scenario_worlds: dict[str, Path]
) -> None:
    rows = watched.monitor(
        scenario_worlds["exclusions-halved"], _months(_run(1), EXCLUSIONS_HALVED_RUNS)
    )
    flagged = _flagged(rows)
    assert count_flags(rows)["red"] == 0  # a change in recording: amber, never a suspension
    first = min(pd.to_datetime(flagged["as_of"]).dt.date)
    assert first == _run(EXCLUSIONS_HALVED_RUNS)
    school = flagged[(flagged["check"] == "data_volume")]
    assert set(school["subject"]) == {"school records"}
    assert ALL_AREAS in set(school["local_authority"])
    assert school["words"].str.contains("before reading any change in the estimates").all()
    # nothing reads it as young people being safer
    band = rows[rows["check"] == "band_shares"]
    assert not band["status"].isin(("amber", "red")).any()
    for words in rows["words"]:
        assert "fewer young people at risk" not in words.lower()
        assert "risk fell" not in words.lower()
    # and where the share in the higher bands fell in an area whose records were flagged,
    # the sentence says it is the records
    same = band.merge(
        school[["as_of", "local_authority"]], on=["as_of", "local_authority"], how="inner"
    )
    fell = same[same["value"] < 1]
    assert fell["words"].str.contains("not a fall in risk").all()


def test_a_rise_in_true_risk_in_one_area_shows_as_understated_estimates_there(
    watched: Watched, scenario_worlds: dict[str, Path]
) -> None:
    month = _run(RISK_RISES_RUNS)
    rows = watched.monitor(scenario_worlds["risk-rises"], [month_add(month, -1), month])
    flagged = _flagged(rows)
    assert count_flags(rows)["red"] == 0
    first = min(pd.to_datetime(flagged["as_of"]).dt.date)
    assert first == month
    assert set(flagged["check"]) == {"calibration"}
    assert set(flagged["local_authority"]) == {"Bristol"}
    assert set(flagged["outcome"]) == {"victim"}
    assert (flagged["value"] > 1).all()
    assert flagged["words"].str.contains("understated what happened").all()


def _invoke(store: Store, released: ReleasedPopulation, *args: str) -> tuple[int, str]:
    from vru.cli import app

    env = released.env(MLFLOW_TRACKING_URI=store.tracking_uri)
    result = CliRunner().invoke(app, list(args), env=env)
    crashed = result.exit_code not in (0, 2) and result.exception is not None
    return result.exit_code, result.output + (f"\n{result.exception!r}" if crashed else "")


def test_vru_monitor_suspends_records_and_reports_and_the_batch_obeys(
    released: ReleasedPopulation,
    scenario_worlds: dict[str, Path],
    store: Store,
    tmp_path: Path,
) -> None:
    out = tmp_path / "monitoring"
    month = _run(FEED_STOPS_RUNS).isoformat()
    data = str(scenario_worlds["feed-stops"])
    code, text = _invoke(
        store, released, "monitor", "--data", data, "--as-of", month, "--out", str(out)
    )
    assert code == 0, text
    assert "switched off" in text
    assert "records arriving" in text
    for outcome in ("victim", "perpetrator"):
        model = store.registry.load(outcome)
        assert model.suspension is not None
        assert model.suspension.by.startswith("vru monitor")
        assert "North Somerset" in model.suspension.check
        assert model.monitoring is not None
        assert model.monitoring.status == "red"
    history = read_history(out)
    assert set(pd.to_datetime(history["as_of"]).dt.date) == {_run(FEED_STOPS_RUNS)}
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "North Somerset" in report
    assert "police records" in report
    # run again: the month is replaced, not doubled; nothing is suspended twice
    code, text = _invoke(
        store, released, "monitor", "--data", data, "--as-of", month, "--out", str(out)
    )
    assert code == 0, text
    assert len(read_history(out)) == len(history)
    # the batch writes no list from a suspended model, and says why
    code, text = _invoke(
        store,
        released,
        "score",
        "--data",
        str(released.data_dir),
        "--as-of",
        "2025-01-01",
        "--out",
        str(tmp_path / "panels"),
    )
    assert code == 2
    assert "switched off" in text
    assert not (tmp_path / "panels").exists()
    # reinstating needs who and why, and is recorded
    code, text = _invoke(store, released, "reinstate", "--outcome", "victim")
    assert code == 2
    assert "--approver" in text
    code, text = _invoke(
        store,
        released,
        "reinstate",
        "--outcome",
        "victim",
        "--approver",
        "A. Owner (SRO)",
        "--reason",
        "the police feed is back",
    )
    assert code == 0, text
    victim = store.registry.load("victim")
    assert victim.suspension is None
    assert victim.tags["reinstated_by"] == "A. Owner (SRO)"
    entries = store.registry.ledger.entries(outcome="victim")
    assert [e["kind"] for e in entries][-2:] == ["suspension", "reinstatement"]
    assert entries[-2]["actor"].startswith("vru monitor")
    assert entries[-1]["actor"] == "A. Owner (SRO)"


def test_bad_input_is_refused_in_one_line_and_nothing_is_written(
    released: ReleasedPopulation, store: Store, tmp_path: Path
) -> None:
    out = tmp_path / "monitoring"
    world = str(released.root / "world")
    for args, words in [
        (("--as-of", "2026-08-15"), "not the first day of a month"),
        (("--as-of", "2026-08-01", "--until", "2026-07-01"), "is before --as-of"),
        (("--as-of", "2030-01-01"), "--as-of 2030-01-01 is after the data end"),
        (("--as-of", "2026-08-01", "--outcome", "offender"), "--outcome must be one of"),
    ]:
        code, text = _invoke(store, released, "monitor", "--data", world, *args, "--out", str(out))
        assert code == 2, text
        assert text.startswith("error: "), text
        assert words in text, text
        assert not out.exists()
    bad_plan = tmp_path / "plan.yaml"
    bad_plan.write_text(json.dumps({"version": "x", "owner": "y", "checks": {"nope": {}}}))
    code, text = _invoke(
        store,
        released,
        "monitor",
        "--data",
        world,
        "--as-of",
        "2026-08-01",
        "--plan",
        str(bad_plan),
        "--out",
        str(out),
    )
    assert code == 2
    assert "unknown check 'nope'" in text
    assert not out.exists()
    assert store.registry.load("victim").monitoring is None  # nothing recorded either
    assert CAPACITY  # the capacities the checks used are the batch tests'
