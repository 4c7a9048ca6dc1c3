"""What changed since last time: the records behind each move, from the model's own scores."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.registry import REGISTRY
from models.bands import fit_bands, load_bands
from models.calibration import Calibrator
from models.candidates import RulesBaseline
from models.changes import (
    NOTE,
    attach_changes,
    band_sentence,
    change_sentence,
    changes_since,
    month_before,
)
from models.reasons import NO_CHANGE
from models.risk_model import ModelBundle, RiskModel

THEN, NOW = dt.date(2024, 12, 1), dt.date(2025, 1, 1)
ELAPSED = (NOW - THEN).days
#: points per rule: each input's contribution is its rule's weight when it fires
RULES = (
    (2.0, "contacts_all_missing_count", 1),
    (1.0, "school_365d_suspension_count", 2),
    (0.5, "contacts_asof_child_in_need_flag", 1),
    (0.3, "incidents_365d_weapon_count", 1),
    (0.01, "contacts_365d_stop_search_count", 1),
    (0.25, "demo_asof_age_years", 16),
)
FEATURES = [f for _, f, _ in RULES]


@pytest.fixture(scope="module")
def model() -> RiskModel:
    """A rules model, Platt-calibrated and banded on a small random population."""
    rng = np.random.default_rng(3)
    n = 2000
    frame = pd.DataFrame({f: rng.poisson(0.4, n) for f in FEATURES})
    frame["contacts_asof_child_in_need_flag"] = (rng.random(n) < 0.1).astype(int)
    frame["demo_asof_age_years"] = rng.integers(10, 25, n)
    rules = RulesBaseline(RULES).fit(frame)  # type: ignore[arg-type]
    score = rules.score(frame)
    y = (rng.random(n) < 1 / (1 + np.exp(-(score * 1.5 - 4)))).astype(int)
    calibrator = Calibrator("platt").fit(score, y)
    bundle = ModelBundle(
        "victim",
        "rules",
        rules,
        calibrator,
        FEATURES,
        fit_bands(calibrator.predict(score), y, load_bands()[0].outcomes["victim"].edges()),
    )
    return RiskModel(bundle)


def _rows(day: dt.date, **columns: list[object]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base: dict[str, object] = {"person_id": [f"YP{i}" for i in range(n)], "as_of": [day] * n}
    base.update({f: [0] * n for f in FEATURES})
    base.update(columns)
    frame = pd.DataFrame(base)
    frame["as_of"] = pd.to_datetime(frame["as_of"])
    return frame


def test_the_movers_their_records_and_the_bands_come_from_the_model(model: RiskModel) -> None:
    then = _rows(
        THEN,
        contacts_all_missing_count=[0, 3],
        school_365d_suspension_count=[1, 1],
        contacts_asof_child_in_need_flag=[0, 0],
        incidents_365d_weapon_count=[1, 0],
        contacts_365d_stop_search_count=[0, 0],
        demo_asof_age_years=[15, 17],
    )
    now = _rows(
        NOW,
        contacts_all_missing_count=[2, 3],
        school_365d_suspension_count=[3, 1],
        contacts_asof_child_in_need_flag=[1, 0],
        incidents_365d_weapon_count=[1, 0],  # fires then and now: its contribution stays
        contacts_365d_stop_search_count=[1, 0],  # moves by 0.01: under the threshold
        demo_asof_age_years=[16, 17],
    )
    # the previous rows in another order, and someone not scored then
    then = then.iloc[::-1]
    now = pd.concat([now, _rows(NOW, demo_asof_age_years=[12]).assign(person_id="YP9")])
    changes = changes_since(model, now, then)
    assert set(changes) == {"YP0", "YP1"}  # YP9 was not scored on THEN
    c = changes["YP0"]
    assert c.since == "2024-12-01"
    assert [m.sentence for m in c.moved] == [
        "2 new missing-from-home episodes reported to police since 2024-12-01",
        "suspensions in the last 12 months: 1 on 2024-12-01, 3 now",
        "now open as a child in need (was not on 2024-12-01)",
    ]  # the fourth mover (age, +0.25) is beyond the three shown
    assert [m.moved for m in c.moved] == [2.0, 1.0, 0.5]
    assert (c.moved[0].then, c.moved[0].now) == (0.0, 2.0)
    # exactly the model's own numbers, no second scoring path
    scored_now = model.predict(None, now.iloc[[0]])
    scored_then = model.predict(None, then[then["person_id"] == "YP0"])
    assert c.probability_now == scored_now["probability"].iloc[0]
    assert c.probability_then == scored_then["probability"].iloc[0]
    assert (c.band_then, c.band_now) == (scored_then["band"].iloc[0], scored_now["band"].iloc[0])
    assert c.band_then != c.band_now
    assert c.summary == f"band was '{c.band_then}' on 2024-12-01, now '{c.band_now}'"
    assert c.note == NOTE
    # nothing moved for YP1
    quiet = changes["YP1"]
    assert quiet.moved == []
    assert quiet.summary == f"band unchanged since 2024-12-01 ('{quiet.band_now}')"
    assert f"  • {NO_CHANGE}" in quiet.lines()


def test_the_age_is_a_mover_only_when_it_ticked_over(model: RiskModel) -> None:
    then = _rows(THEN, demo_asof_age_years=[15])
    now = _rows(NOW, demo_asof_age_years=[16])
    (c,) = changes_since(model, now, then).values()
    assert [m.sentence for m in c.moved] == ["now aged 16 (15 on 2024-12-01)"]


def test_the_changes_are_shown_in_the_explanation_text(model: RiskModel) -> None:
    then = _rows(THEN, contacts_all_missing_count=[0])
    now = _rows(NOW, contacts_all_missing_count=[1])
    changes = changes_since(model, now, then)
    (explanation,) = attach_changes(model.explain(now), changes)
    assert explanation.changes == changes["YP0"]
    text = explanation.text()
    assert "What changed since 2024-12-01:\n" in text
    assert "  • 1 new missing-from-home episode reported to police since 2024-12-01" in text
    assert text.index("What changed since") < text.index(explanation.caveat)
    assert explanation.to_dict()["changes"]["band_now"] == explanation.band  # type: ignore[index]
    # someone not scored then has no changes, and no "what changed" block
    (alone,) = attach_changes(model.explain(now), {})
    assert alone.changes is None
    assert "What changed" not in alone.text()


def _sentence(name: str, then: float | None, now: float | None) -> str | None:
    info = REGISTRY[name]
    return change_sentence(
        name, info.what, info.window, then, now, since=THEN, as_of=NOW, source=info.source
    )


@pytest.mark.parametrize(
    ("name", "then", "now", "expected"),
    [
        (
            "contacts_all_missing_count",
            1,
            3,
            "2 new missing-from-home episodes reported to police since 2024-12-01",
        ),
        ("school_all_suspension_count", 4, 5, "1 new suspension since 2024-12-01"),
        (
            "contacts_all_stop_search_count",
            0,
            1,
            "1 new police stop and search since 2024-12-01",
        ),
        (
            "incidents_all_suspect_count",
            1,
            3,
            "2 new police records as a suspect since 2024-12-01",
        ),
        (
            "school_365d_suspension_count",
            1,
            3,
            "suspensions in the last 12 months: 1 on 2024-12-01, 3 now",
        ),
        (
            "contacts_90d_missing_count",
            2,
            0,
            "missing-from-home episodes reported to police in the last 3 months: 2 on "
            "2024-12-01, 0 now",
        ),
        (
            "contacts_asof_child_in_need_flag",
            0,
            1,
            "now open as a child in need (was not on 2024-12-01)",
        ),
        (
            "contacts_asof_looked_after_flag",
            1,
            0,
            "no longer looked after (in care) (was on 2024-12-01)",
        ),
        (
            "contacts_all_protection_plan_flag",
            0,
            1,
            "has been on a child protection plan — first recorded since 2024-12-01",
        ),
        (
            "school_365d_suspension_escalation",
            1,
            -1,
            "change in suspensions on the year before: +1 on 2024-12-01, -1 now",
        ),
        # a record since THEN: fewer days now than then plus the month that passed
        (
            "incidents_all_suspect_days_since_last",
            400,
            10,
            "a new police record as a suspect since 2024-12-01 (dated 2024-12-22)",
        ),
        (
            "incidents_all_suspect_days_since_last",
            None,
            10,
            "a new police record as a suspect since 2024-12-01 (dated 2024-12-22)",
        ),
        # no record since THEN: only time passed
        (
            "incidents_all_suspect_days_since_last",
            579,
            579 + ELAPSED,
            "no new police record as a suspect since 2024-12-01 (last one 2023-05-02)",
        ),
        (
            "school_all_exclusion_days_since_last",
            100,
            100 + ELAPSED,
            "no new suspension or exclusion since 2024-12-01 (last one 2024-08-23)",
        ),
        (
            "contacts_all_missing_days_since_last",
            100,
            5,
            "a new missing episode since 2024-12-01 (dated 2024-12-27)",
        ),
        (
            "incidents_all_suspect_first_age",
            None,
            15,
            "first recorded as a suspect since 2024-12-01 (at age 15)",
        ),
        ("demo_asof_age_years", 15, 16, "now aged 16 (15 on 2024-12-01)"),
        # nothing on record changed: nothing to say
        ("school_365d_suspension_count", 2, 2, None),
        ("demo_asof_age_years", 15, 15, None),
        ("incidents_all_suspect_days_since_last", None, None, None),
    ],
)
def test_sentences(name: str, then: float | None, now: float | None, expected: str | None) -> None:
    assert _sentence(name, then, now) == expected


def test_band_sentence_and_the_month_before() -> None:
    assert band_sentence("raised", "high", THEN) == "band was 'raised' on 2024-12-01, now 'high'"
    assert band_sentence("high", "high", THEN) == "band unchanged since 2024-12-01 ('high')"
    assert month_before(dt.date(2025, 1, 1)) == dt.date(2024, 12, 1)
    assert month_before(dt.date(2025, 3, 31)) == dt.date(2025, 2, 28)
    assert month_before(dt.date(2024, 3, 31)) == dt.date(2024, 2, 29)
