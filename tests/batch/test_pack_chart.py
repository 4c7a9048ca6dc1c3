"""The pack's estimates chart (inline SVG written from the numbers) and the per-authority
split the writing stage counts and draws from."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from features.vocabulary import ALREADY_INVOLVED, NOT_YET_INVOLVED
from models.bands import Band
from models.panels import PanelCapacity, select_lists
from serving.batch.lists import list_counts
from serving.batch.run import _by_authority
from serving.panel.pack import CHART_LEFT, CHART_RIGHT, estimates_chart

SVG = "{http://www.w3.org/2000/svg}"
BANDS = [
    Band("low", 0.0, 0.002, 1000, 2),
    Band("raised", 0.03, 0.05, 100, 5),
    Band("high", 0.2, 0.3, 30, 9),
    Band("very high", 0.4, 0.5, 10, 5),
]
NAMED = {"known": np.array([0.612, 0.42, 0.555]), "early": np.array([0.071, 0.268])}


def _chart(named: dict[str, np.ndarray] = NAMED) -> ET.Element:
    return ET.fromstring(str(estimates_chart(named, BANDS, "victim")))


def _right_edge(svg: ET.Element) -> float:
    """The axis's last tick, in percent (the right edge of the plot area)."""
    ticks = [t.text or "" for t in svg.iter(f"{SVG}text") if (t.text or "").endswith("%")]
    return float(ticks[-1].rstrip("%"))


def test_each_dot_sits_at_a_named_young_persons_estimate_on_their_lists_row() -> None:
    svg = _chart()
    right = _right_edge(svg)
    assert right == 70  # the highest estimate, 61.2%, rounded up with room to spare
    groups = {g.get("data-list"): g for g in svg.iter(f"{SVG}g")}
    assert list(groups) == ["known", "early"]
    rows = {}
    for key, group in groups.items():
        dots = group.findall(f"{SVG}circle")
        shown = [
            (float(d.get("cx", "nan")) - CHART_LEFT) / (CHART_RIGHT - CHART_LEFT) * right
            for d in dots
        ]
        # one dot per young person, at their estimate (in the order given)
        assert shown == pytest.approx(list(NAMED[key] * 100), abs=0.01)
        rows[key] = [float(d.get("cy", "nan")) for d in dots]
    # each list keeps to its own row: the known list's dots all above the early list's
    assert max(rows["known"]) < min(rows["early"])


def test_the_chart_says_in_words_what_its_dots_show() -> None:
    svg = _chart({"known": NAMED["known"], "early": np.array([])})
    title = svg.find(f"{SVG}title")
    desc = svg.find(f"{SVG}desc")
    assert svg.get("role") == "img"
    assert title is not None
    assert desc is not None
    assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert "being the victim of serious violence" in (title.text or "")
    assert desc.text == (
        "Known list: 3 young people, estimates from 42% to 61%. Early list: nobody named."
    )
    words = " ".join(t.text or "" for t in svg.iter(f"{SVG}text"))
    # the bands below the right edge are shaded and named; the rows are the lists
    for name in ("low", "raised", "high", "very high", "known list", "early list"):
        assert name in words
    assert "each dot: a young person named in this pack" in words


def test_the_same_estimates_give_the_same_chart_and_nobody_named_gives_none() -> None:
    assert estimates_chart(NAMED, BANDS, "victim") == estimates_chart(NAMED, BANDS, "victim")
    moved = {**NAMED, "known": NAMED["known"] + 0.01}
    assert estimates_chart(moved, BANDS, "victim") != estimates_chart(NAMED, BANDS, "victim")
    assert estimates_chart({"known": np.array([]), "early": np.array([])}, BANDS, "victim") == ""


def test_the_counts_of_each_authority_are_the_same_from_its_split_rows() -> None:
    """The writing stage splits everyone scored by authority once (few-valued columns
    made categorical); each list's counts are those of the whole frame."""
    rng = np.random.default_rng(3)
    n = 400
    scored = pd.DataFrame(
        {
            "person_id": [f"p{i:04d}" for i in range(n)],
            "local_authority": rng.choice(["X", "Y"], n),
            "outcome": "victim",
            "probability": rng.uniform(0, 0.6, n),
            "band": rng.choice(["low", "raised", "high", "very high"], n),
            "age_years": rng.integers(10, 25, n),
        }
    )
    cohort = rng.choice([ALREADY_INVOLVED, NOT_YET_INVOLVED], n)
    capacity = PanelCapacity({"X": 5, "Y": 3, "Z": 2}, {"X": 4, "Y": 0, "Z": 1})
    drawn = select_lists(scored, capacity, cohort=cohort)
    named = drawn[drawn["within_capacity"]].assign(status="new")
    gone = pd.DataFrame(
        {"local_authority": ["X"], "outcome": ["victim"], "list": ["known"], "reason": ["moved"]}
    )
    split = _by_authority(drawn, ["X", "Y", "Z"])
    assert {la: len(rows) for la, rows in split.items()} == {
        "X": int((drawn["local_authority"] == "X").sum()),
        "Y": int((drawn["local_authority"] == "Y").sum()),
        "Z": 0,  # nobody lives there
    }
    for la, rows in split.items():
        assert set(rows["person_id"]) == set(drawn.loc[drawn["local_authority"] == la, "person_id"])
        args = {
            "la": la,
            "outcome": "victim",
            "capacity": capacity,
            "band_names": [b.name for b in BANDS],
        }
        mine = named[named["local_authority"] == la]
        assert list_counts(mine, rows, gone, **args) == list_counts(mine, drawn, gone, **args)
