"""Unit tests of the panel rules: who is listed, why someone dropped off, atomic swaps."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from features.registry import AUDIT_ONLY
from models.panels import PanelError
from models.registry import Released
from serving.batch import BatchError, atomic, check_out_dir, check_releasable
from serving.batch.atomic import recover, swap_into_place
from serving.batch.history import (
    DROPPED_AGED_OUT,
    DROPPED_FELL,
    DROPPED_GONE,
    DROPPED_LEFT,
    DROPPED_OUTRANKED,
    dropped_reason,
    find_baseline,
)
from serving.batch.lists import LIST_COLUMNS, panel_list, slug, write_list
from serving.batch.run import threshold
from serving.panel.pack import base_rate

AS_OF = dt.date(2025, 1, 1)


def _scored() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "person_id": ["a", "b", "c", "d", "e", "f", "g"],
            "local_authority": ["X", "X", "X", "X", "Y", "Y", "Y"],
            "probability": [0.10, 0.50, 0.30, 0.30, 0.02, 0.01, 0.60],
        }
    )


def test_capacity_and_threshold_decide_who_is_listed() -> None:
    listed = panel_list(_scored(), {"X": 2, "Y": 1}, threshold=0.25)
    got = {la: list(g["person_id"]) for la, g in listed.groupby("local_authority")}
    # X: capacity 2 (b, then c before d on a tie by id), d is listed because 0.30 >= 0.25
    assert got == {"X": ["b", "c", "d"], "Y": ["g"]}
    x = listed[listed["local_authority"] == "X"]
    assert list(x["rank"]) == [1, 2, 3]
    assert list(x["within_capacity"]) == [True, True, False]


def test_capacity_fills_even_below_threshold() -> None:
    listed = panel_list(_scored(), {"X": 1, "Y": 2}, threshold=0.9)
    assert list(listed["person_id"]) == ["b", "g", "e"]
    assert listed["within_capacity"].all()


def test_lists_are_ordered_by_area_then_rank_whatever_the_input_order() -> None:
    shuffled = _scored().sample(frac=1.0, random_state=3)
    listed = panel_list(shuffled, {"X": 2, "Y": 1}, threshold=0.25)
    assert list(listed["person_id"]) == ["b", "c", "d", "g"]
    assert "listed" not in listed.columns


def test_local_authority_without_capacity_is_refused() -> None:
    with pytest.raises(PanelError, match="no panel capacity for Y"):
        panel_list(_scored(), {"X": 2}, threshold=0.5)


def _person(birth: str, moved_out: str | None = None) -> dict[str, object]:
    return {
        "birth_month": pd.Timestamp(birth),
        "moved_out": pd.Timestamp(moved_out) if moved_out else pd.NaT,
    }


@pytest.mark.parametrize(
    ("now", "person", "expected"),
    [
        ({"local_authority": "X", "probability": 0.1}, None, DROPPED_FELL),
        ({"local_authority": "X", "probability": 0.4}, None, DROPPED_OUTRANKED),
        ({"local_authority": "Y", "probability": 0.4}, None, "moved to Y"),
        (None, _person("2000-01-01"), DROPPED_AGED_OUT),  # 25 on 2025-01-01
        (None, _person("2005-01-01", "2024-12-15"), DROPPED_LEFT),
        (None, _person("2005-01-01", "2025-03-01"), DROPPED_GONE),
        (None, None, DROPPED_GONE),
    ],
)
def test_dropped_reason(
    now: dict[str, object] | None, person: dict[str, object] | None, expected: str
) -> None:
    assert dropped_reason("X", 0.3, now, person, AS_OF) == expected


def _released(model: object, version: str, verdict: str) -> Released:
    return Released(
        outcome="victim",
        name="vru-victim",
        version=version,
        verdict=verdict,
        model=model,
        run_id=None,
        tags={},
    )


def _model(verdict: str) -> Released:
    return _released(object(), "7", verdict)


@pytest.mark.parametrize("verdict", ["not run", "fail", "error"])
def test_unreleased_versions_are_refused(verdict: str) -> None:
    with pytest.raises(BatchError, match=f"vru-victim version 7 has fairness verdict '{verdict}'"):
        check_releasable({"victim": _model(verdict)})


@pytest.mark.parametrize("verdict", ["pass", "override"])
def test_released_versions_are_accepted(verdict: str) -> None:
    check_releasable({"victim": _model(verdict)})


def test_threshold_is_the_high_band_lower_edge() -> None:
    bands = [
        SimpleNamespace(name=n, lower=lo, people=100, involved=k)
        for n, lo, k in [
            ("low", 0.0, 1),
            ("raised", 0.02, 2),
            ("high", 0.2, 3),
            ("very high", 0.4, 4),
        ]
    ]
    model = SimpleNamespace(bundle=SimpleNamespace(bands=bands))
    assert threshold(_released(model, "1", "pass")) == 0.2
    assert base_rate(bands) == pytest.approx(10 / 400)


def test_a_model_without_a_high_band_is_refused() -> None:
    bands = [SimpleNamespace(name="low", lower=0.0, people=10, involved=1)]
    model = SimpleNamespace(bundle=SimpleNamespace(bands=bands))
    with pytest.raises(BatchError, match="vru-victim version 1: the model has no 'high' band"):
        threshold(_released(model, "1", "pass"))


def test_slug() -> None:
    assert slug("Bath and North East Somerset") == "bath_and_north_east_somerset"


def test_lists_refuse_audit_columns(tmp_path: Path) -> None:
    frame = pd.DataFrame({"person_id": ["a"], "ethnicity": ["x"]})
    with pytest.raises(AssertionError, match="audit-only"):
        write_list(frame, tmp_path, "panel_x")
    assert not any(tmp_path.iterdir())
    assert not set(LIST_COLUMNS) & (set(AUDIT_ONLY) - {"local_authority"})


def _run_folder(folder: Path, as_of: str, baseline_as_of: str | None, ids: list[str]) -> None:
    folder.mkdir()
    rows = pd.DataFrame(
        {
            "person_id": ids,
            "local_authority": "X",
            "outcome": "victim",
            "rank": np.arange(1, len(ids) + 1),
            "probability": 0.5,
            "status": "new",
        }
    )
    rows.to_parquet(folder / "panel_x.parquet")
    (folder / "manifest.json").write_text(
        json.dumps({"as_of": as_of, "baseline_as_of": baseline_as_of})
    )
    if baseline_as_of:
        rows.assign(person_id=["old"] * len(ids)).to_parquet(folder / "baseline.parquet")


def test_next_month_compares_with_the_run_in_the_folder(tmp_path: Path) -> None:
    _run_folder(tmp_path / "out", "2024-12-01", "2024-11-01", ["a", "b"])
    when, rows = find_baseline(tmp_path / "out", AS_OF)
    assert when == "2024-12-01"
    assert list(rows["person_id"]) == ["a", "b"]


def test_same_month_again_compares_with_the_same_earlier_run(tmp_path: Path) -> None:
    _run_folder(tmp_path / "out", "2025-01-01", "2024-12-01", ["a", "b"])
    when, rows = find_baseline(tmp_path / "out", AS_OF)
    assert when == "2024-12-01"
    assert list(rows["person_id"]) == ["old", "old"]


def test_no_earlier_run_means_no_baseline(tmp_path: Path) -> None:
    assert find_baseline(tmp_path / "missing", AS_OF)[0] is None
    _run_folder(tmp_path / "out", "2025-02-01", None, ["a"])
    when, rows = find_baseline(tmp_path / "out", AS_OF)
    assert when is None
    assert rows.empty


def test_out_folder_with_foreign_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(BatchError, match="not a panel run"):
        check_out_dir(tmp_path)
    check_out_dir(tmp_path / "new")  # a new folder is fine


@pytest.mark.parametrize("exchange", [True, False])
def test_swap_replaces_the_whole_folder(
    tmp_path: Path, exchange: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not exchange:
        monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    out = tmp_path / "panels"
    out.mkdir()
    (out / "old.csv").write_text("old")
    staged = tmp_path / ".panels.partial-1"
    staged.mkdir()
    (staged / "new.csv").write_text("new")
    swap_into_place(staged, out)
    assert [p.name for p in out.iterdir()] == ["new.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["panels"]


def test_recover_restores_a_folder_set_aside_by_a_dead_run(tmp_path: Path) -> None:
    dead = 2**22 + 12345  # above the default pid_max: no such process
    aside = tmp_path / f".panels.previous-{dead}"
    aside.mkdir()
    (aside / "old.csv").write_text("old")
    partial = tmp_path / f".panels.partial-{dead}"
    partial.mkdir()
    live = tmp_path / f".panels.partial-{os.getpid()}"
    live.mkdir()
    recover(tmp_path / "panels")
    assert (tmp_path / "panels" / "old.csv").read_text() == "old"
    assert not partial.exists()
    assert live.exists()  # another run still at work
