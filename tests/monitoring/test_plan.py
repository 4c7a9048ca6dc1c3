"""The monitoring plan is refused at load when it is wrong, with the field named; the
judging rule, the count ratio and the history's month replacement do what they say."""

from __future__ import annotations

import datetime as dt
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.checks import judge, ratio_of_counts
from monitoring.history import (
    COLUMNS,
    HistoryError,
    merge_months,
    read_history,
    write_history,
)
from monitoring.plan import CHECKS, DEFAULT_PLAN, PlanError, load_plan, parse_plan

TEXT = DEFAULT_PLAN.read_text(encoding="utf-8")


def test_the_shipped_plan_sets_every_check_and_names_its_owner() -> None:
    plan, digest = load_plan()
    assert set(plan.checks) == set(CHECKS)
    assert plan.owner
    assert plan.version
    assert len(digest) == 64
    # at least the records check switches a model off: a feed that stops must
    assert plan.checks["data_volume"].enforce


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("  disagreement:", "  disagreements:", "unknown check 'disagreements'"),
        ("amber: 0.75", 'amber: "0.75"', "checks.data_volume.amber: must be a number"),
        ("amber: 0.75", "amber: true", "checks.data_volume.amber: must be a number"),
        ("    enforce: true\n  data_freshness", "    enforce: maybe\n  data_freshness", "enforce"),
        ("amber: 0.3\n    red: 0.5", "amber: 0.6\n    red: 0.5", "checks.disagreement: amber"),
        ("amber: 0.75", "amber: 0.2", "checks.data_volume: amber (0.2) must be above red"),
        ("amber: 1.25\n    red: 1.5", "amber: 1.5\n    red: 1.25", "checks.calibration: amber"),
        ("    resamples: 200\n", "", "checks.input_drift.resamples is required"),
        ("confidence: 0.99", "confidence: 1.5", "confidence"),
        ("owner:", "owners:", "owner: Field required"),
    ],
)
def test_a_wrong_plan_is_refused_naming_the_field(old: str, new: str, named: str) -> None:
    assert old in TEXT
    with pytest.raises(PlanError) as refused:
        parse_plan(TEXT.replace(old, new, 1), "plan.yaml")
    assert named in str(refused.value)
    assert str(refused.value).startswith("plan.yaml: ")
    assert "\n" not in str(refused.value)


def test_a_plan_without_a_check_is_refused() -> None:
    start = TEXT.index("  disagreement:")
    with pytest.raises(PlanError, match="no limits for 'disagreement'"):
        parse_plan(TEXT[:start])


def test_a_limit_that_does_not_apply_is_refused() -> None:
    text = TEXT.replace(
        "    min_expected: 20\n    enforce: true",
        "    resamples: 50\n    min_expected: 20\n    enforce: true",
        1,
    )
    with pytest.raises(PlanError, match=r"data_volume\.resamples does not apply"):
        parse_plan(text)


def test_an_unreadable_plan_file_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="cannot read the monitoring plan"):
        load_plan(tmp_path / "missing.yaml")
    bad = tmp_path / "plan.yaml"
    bad.write_text("checks: [unclosed\n", encoding="utf-8")
    with pytest.raises(PlanError, match="not valid YAML at line"):
        load_plan(bad)


def test_amber_and_red_need_the_whole_interval_beyond_the_limit() -> None:
    plan, _ = load_plan()
    calibration = plan.limits("calibration")  # both sides: 1.25 and 1.5
    assert judge("calibration", 1.6, 1.2, 2.1, calibration).status == "green"  # straddles
    assert judge("calibration", 1.6, 1.3, 2.1, calibration).status == "amber"
    assert judge("calibration", 1.9, 1.55, 2.3, calibration).status == "red"
    assert judge("calibration", 0.5, 0.3, 0.7, calibration).status == "amber"  # below 1/1.25
    assert judge("calibration", 0.4, 0.2, 0.6, calibration).status == "red"  # below 1/1.5
    volume = plan.limits("data_volume")  # below: amber 0.75, red 0.3
    assert judge("data_volume", 0.5, 0.4, 0.7, volume).status == "amber"
    assert judge("data_volume", 0.0, 0.0, 0.2, volume).status == "red"
    assert judge("data_volume", 0.5, 0.3, 0.9, volume).status == "green"
    fresh = plan.limits("data_freshness")  # above, no interval: days
    assert judge("data_freshness", 40, math.nan, math.nan, fresh).status == "red"
    assert judge("data_freshness", 20, math.nan, math.nan, fresh).status == "amber"


def test_the_count_ratio_is_exact_at_the_ends_and_centred() -> None:
    value, low, high = ratio_of_counts(0, 200, 2, 0.99)
    assert value == 0
    assert low == 0
    assert 0 < high < 0.1
    value, low, high = ratio_of_counts(100, 200, 2, 0.99)
    assert value == pytest.approx(1.0)
    assert low < 1 < high
    # a halving of a large count is told apart from no change
    value, low, high = ratio_of_counts(500, 2000, 2, 0.99)
    assert value == pytest.approx(0.5)
    assert high < 0.75


def _rows(month: dt.date, value: float) -> pd.DataFrame:
    row = dict.fromkeys(COLUMNS, np.nan)
    row |= {
        "as_of": month,
        "local_authority": "Bristol",
        "outcome": "victim",
        "model_version": "1",
        "check": "calibration",
        "subject": "everyone",
        "value": value,
        "n": 10,
        "status": "green",
        "enforced": True,
        "words": f"{value}",
    }
    return pd.DataFrame([row])


def test_rerunning_a_month_replaces_it_and_keeps_the_others(tmp_path: Path) -> None:
    jan, feb = dt.date(2026, 1, 1), dt.date(2026, 2, 1)
    write_history(tmp_path, merge_months(read_history(tmp_path), _rows(jan, 1.0), [jan]))
    write_history(tmp_path, merge_months(read_history(tmp_path), _rows(feb, 2.0), [feb]))
    write_history(tmp_path, merge_months(read_history(tmp_path), _rows(feb, 3.0), [feb]))
    history = read_history(tmp_path)
    assert list(history["value"]) == [1.0, 3.0]
    assert list(history["as_of"]) == [jan, feb]


def test_a_crash_while_writing_leaves_the_history_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jan, feb = dt.date(2026, 1, 1), dt.date(2026, 2, 1)
    write_history(tmp_path, _rows(jan, 1.0))

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_history(tmp_path, merge_months(read_history(tmp_path), _rows(feb, 2.0), [feb]))
    monkeypatch.undo()
    assert list(read_history(tmp_path)["value"]) == [1.0]


def test_a_file_that_is_not_a_history_is_refused(tmp_path: Path) -> None:
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "history.parquet")
    with pytest.raises(HistoryError, match="not a monitoring history"):
        read_history(tmp_path)
