"""Unit tests of the panel rules: who is named on which list, statuses, who is no longer
named and why, the counts, atomic swaps."""

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
from features.vocabulary import ALREADY_INVOLVED, NOT_YET_INVOLVED
from models.panels import PanelCapacity, PanelError, select_lists
from models.registry import Released
from serving.batch import BatchError, atomic, check_out_dir, check_releasable
from serving.batch.atomic import recover, swap_into_place
from serving.batch.history import (
    DROPPED_AGED_OUT,
    DROPPED_FELL,
    DROPPED_GONE,
    DROPPED_LEFT,
    DROPPED_OTHER_LIST,
    DROPPED_OUTRANKED,
    GONE_COLUMNS,
    add_history,
    dropped_reason,
    find_baseline,
    named_again,
)
from serving.batch.lists import (
    LIST_COLUMNS,
    STATUS_MOVED,
    STATUS_NEW,
    STATUS_STILL,
    list_counts,
    list_rows,
    named_rows,
    slug,
    write_list,
)
from serving.batch.run import band_edges, capacity_of
from serving.panel.pack import base_rate

AS_OF = dt.date(2025, 1, 1)


def _scored() -> pd.DataFrame:
    """Two areas; in each, young people already known to services and not yet involved."""
    return pd.DataFrame(
        {
            "person_id": ["a", "b", "c", "d", "e", "f", "g", "h", "i"],
            "local_authority": ["X", "X", "X", "X", "X", "Y", "Y", "Y", "Y"],
            "outcome": "victim",
            "probability": [0.10, 0.50, 0.30, 0.30, 0.02, 0.01, 0.60, 0.05, 0.04],
            "band": ["raised", "high", "high", "high", "low", "low", "high", "raised", "raised"],
            "age_years": [15, 16, 17, 18, 19, 20, 21, 22, 23],
            "cohort": [
                ALREADY_INVOLVED,
                ALREADY_INVOLVED,
                NOT_YET_INVOLVED,
                NOT_YET_INVOLVED,
                NOT_YET_INVOLVED,
                ALREADY_INVOLVED,
                NOT_YET_INVOLVED,
                NOT_YET_INVOLVED,
                NOT_YET_INVOLVED,
            ],
        }
    )


#: X: one place on the known list, two on the early list; Y: one known, none early
CAPACITY = PanelCapacity({"X": 1, "Y": 1}, {"X": 2, "Y": 0})


def _drawn(scored: pd.DataFrame | None = None) -> pd.DataFrame:
    scored = _scored() if scored is None else scored
    return select_lists(scored, CAPACITY, cohort=scored["cohort"].to_numpy())


def test_only_people_within_each_lists_capacity_are_named() -> None:
    named = named_rows(_drawn())
    got = [(r.local_authority, r.list, r.rank, r.person_id) for r in named.itertuples()]
    # X known: b (0.50) before a; X early: c before d on a tie by id, e beyond capacity;
    # Y known: f alone; Y early: capacity 0, so g (0.60, high band) is not named
    assert got == [
        ("X", "known", 1, "b"),
        ("X", "early", 1, "c"),
        ("X", "early", 2, "d"),
        ("Y", "known", 1, "f"),
    ]


def test_named_rows_do_not_depend_on_the_input_order() -> None:
    shuffled = _scored().sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert list(named_rows(_drawn(shuffled))["person_id"]) == ["b", "c", "d", "f"]


def test_local_authority_without_capacity_is_refused() -> None:
    with pytest.raises(PanelError, match="no panel capacity for Y"):
        select_lists(_scored(), PanelCapacity({"X": 2}, {"X": 2}))


@pytest.mark.parametrize(
    ("capacity", "message"),
    [
        ({"X": -1}, "cannot be negative"),
        ({"X": 2.5}, "whole number"),
        ({"X": {"late": 3}}, "unknown list 'late'"),
    ],
)
def test_bad_capacity_is_a_batch_error(capacity: dict[str, object], message: str) -> None:
    with pytest.raises(BatchError, match=message):
        capacity_of(capacity)


def test_a_plain_mapping_sets_the_known_list() -> None:
    capacity = capacity_of({"X": 3})
    assert capacity.as_dict() == {"X": {"known": 3, "early": 20}}


def _explanation(person: str) -> SimpleNamespace:
    return SimpleNamespace(
        reasons=[SimpleNamespace(sentence=f"reason of {person}", contribution=0.4)],
        protective=[SimpleNamespace(sentence="attends school", contribution=-0.1)],
        band_meaning="about 30 in 100 young people with similar records",
        estimate_sentence=lambda: "This young person's own estimate is 31%.",
        probability_interval=(0.25, 0.37),
        band_range=(0.2, 0.4),
    )


def _current(drawn: pd.DataFrame) -> pd.DataFrame:
    named = named_rows(drawn)
    explanations = [_explanation(p) for p in named["person_id"]]
    return list_rows(named, explanations, "police records to 2024-12-31")  # type: ignore[arg-type]


def _baseline(rows: list[tuple[str, str, str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["person_id", "local_authority", "list", "rank", "probability"]
    ).assign(outcome="victim")


def _people(*ids: str, birth: str = "2008-01-01") -> pd.DataFrame:
    return pd.DataFrame(
        {"person_id": list(ids), "birth_month": pd.Timestamp(birth), "moved_out": pd.NaT}
    )


def test_history_statuses_and_who_is_no_longer_named() -> None:
    drawn = _drawn()
    baseline = _baseline(
        [
            ("b", "X", "known", 2, 0.40),  # still listed, was #2
            ("c", "X", "known", 1, 0.35),  # named on the early list now: a move between lists
            ("e", "X", "early", 1, 0.30),  # beyond the early list's capacity now: estimate fell
            ("f", "X", "known", 1, 0.20),  # lives in Y now
            ("g", "Y", "early", 1, 0.10),  # Y's early list has no places now: others rank higher
            ("h", "Y", "known", 1, 0.05),  # in Y's early cohort now, beyond its capacity
            ("z", "Y", "known", 2, 0.50),  # not on the snapshot: aged out
        ]
    )
    people = pd.concat([_people("b", "c", "e", "f", "g", "h"), _people("z", birth="1999-06-01")])
    history, gone = add_history(_current(drawn), baseline, drawn, people, AS_OF)
    assert list(history.columns) == list(LIST_COLUMNS)
    by_person = history.set_index("person_id")
    assert by_person.loc["b", "status"] == STATUS_STILL
    assert by_person.loc["b", "previous_rank"] == 2
    assert by_person.loc["c", "status"] == STATUS_MOVED.format(list="known")
    # a rank on another list means nothing on this one
    assert history.loc[history["person_id"] == "c", "previous_rank"].isna().all()
    assert by_person.loc["c", "previous_probability"] == pytest.approx(0.35)
    assert by_person.loc["d", "status"] == STATUS_NEW
    assert by_person.loc["f", "status"] == STATUS_NEW  # new to Y's panel
    # nobody who is no longer named is identified: only where, which list and why
    assert list(gone.columns) == GONE_COLUMNS
    got = sorted(map(tuple, gone.to_numpy().tolist()))
    assert got == sorted(
        [
            ("X", "victim", "early", DROPPED_FELL),
            ("X", "victim", "known", "moved to Y"),
            ("Y", "victim", "early", DROPPED_OUTRANKED),
            ("Y", "victim", "known", DROPPED_OTHER_LIST.format(list="early")),
            ("Y", "victim", "known", DROPPED_AGED_OUT),
        ]
    )


def test_list_counts_add_up() -> None:
    drawn = _drawn()
    baseline = _baseline([("e", "X", "early", 1, 0.30), ("a", "X", "known", 1, 0.05)])
    history, gone = add_history(_current(drawn), baseline, drawn, _people("a", "e"), AS_OF)
    bands = ["low", "raised", "high", "very high"]
    counts = {
        la: list_counts(
            history[history["local_authority"] == la],
            drawn,
            gone,
            la=la,
            outcome="victim",
            capacity=CAPACITY,
            band_names=bands,
        )
        for la in ("X", "Y")
    }
    x, y = counts["X"], counts["Y"]
    assert (x["residents"], x["named"], y["residents"], y["named"]) == (5, 3, 4, 1)
    assert x["known"] | {"beyond_capacity_by_band": None, "no_longer_named_by_reason": None} == {
        "capacity": 1,
        "cohort": 2,
        "named": 1,
        "beyond_capacity": 1,
        "beyond_capacity_by_band": None,
        "new": 1,
        "still_listed": 0,
        "moved_in": 0,
        "no_longer_named": 1,
        "no_longer_named_by_reason": None,
    }
    assert x["known"]["beyond_capacity_by_band"] == {
        "very high": 0,
        "high": 0,
        "raised": 1,
        "low": 0,
    }
    assert x["known"]["no_longer_named_by_reason"] == {DROPPED_OUTRANKED: 1}
    assert x["early"]["beyond_capacity_by_band"] == {
        "very high": 0,
        "high": 0,
        "raised": 0,
        "low": 1,
    }
    assert x["early"]["no_longer_named_by_reason"] == {DROPPED_FELL: 1}
    # capacity 0: the whole cohort is beyond it, counted by band
    assert y["early"]["named"] == 0
    assert y["early"]["beyond_capacity_by_band"] == {
        "very high": 0,
        "high": 1,
        "raised": 2,
        "low": 0,
    }
    for c in (x, y):
        for key in ("known", "early"):
            part = c[key]
            assert sum(part["beyond_capacity_by_band"].values()) == part["beyond_capacity"]
            assert part["beyond_capacity"] == part["cohort"] - part["named"]


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
        (
            {"local_authority": "X", "probability": 0.1, "list": "known"},
            None,
            "now in the known list's cohort, beyond its capacity",
        ),
        ({"local_authority": "X", "probability": 0.1, "list": "early"}, None, DROPPED_FELL),
        (None, _person("2000-01-01"), DROPPED_AGED_OUT),  # 25 on 2025-01-01
        (None, _person("2005-01-01", "2024-12-15"), DROPPED_LEFT),
        (None, _person("2005-01-01", "2025-03-01"), DROPPED_GONE),
        (None, None, DROPPED_GONE),
    ],
)
def test_dropped_reason(
    now: dict[str, object] | None, person: dict[str, object] | None, expected: str
) -> None:
    assert dropped_reason("X", 0.3, now, person, AS_OF, previous_list="early") == expected


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


def test_band_edges_and_base_rate() -> None:
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
    edges = band_edges(_released(model, "1", "pass"))
    assert edges == {"low": 0.0, "raised": 0.02, "high": 0.2, "very high": 0.4}
    assert base_rate(bands) == pytest.approx(10 / 400)


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
            "list": "early",
            "rank": np.arange(1, len(ids) + 1),
            "probability": 0.5,
            "status": "new",
        }
    )
    rows.to_parquet(folder / "panel_x.parquet")
    early = {"no_longer_named_by_reason": {DROPPED_FELL: 2, DROPPED_AGED_OUT: 1}}
    known: dict[str, dict[str, int]] = {"no_longer_named_by_reason": {}}
    counts = {"X": {"victim": {"residents": 9, "named": 2, "known": known, "early": early}}}
    (folder / "manifest.json").write_text(
        json.dumps({"as_of": as_of, "baseline_as_of": baseline_as_of, "counts": counts})
    )
    if baseline_as_of:
        rows.assign(person_id=["old"] * len(ids)).to_parquet(folder / "baseline.parquet")


def test_a_run_from_before_two_lists_gives_only_its_people_within_capacity(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    pd.DataFrame(
        {
            "person_id": ["a", "b", "c"],
            "local_authority": "X",
            "outcome": "victim",
            "rank": pd.array([1, 2, pd.NA], dtype="Int64"),
            "probability": [0.5, 0.4, 0.3],
            "within_capacity": [True, False, False],
            "status": ["new", "new", "dropped off"],
        }
    ).to_parquet(folder / "panel_x.parquet")
    (folder / "manifest.json").write_text(json.dumps({"as_of": "2024-12-01", "counts": {}}))
    found = find_baseline(folder, AS_OF)
    assert found.as_of == "2024-12-01"
    assert list(found.rows["person_id"]) == ["a"]
    assert "list" not in found.rows.columns  # unknown: compared as if on the same list
    assert found.gone.empty


def test_next_month_compares_with_the_run_in_the_folder(tmp_path: Path) -> None:
    _run_folder(tmp_path / "out", "2024-12-01", "2024-11-01", ["a", "b"])
    found = find_baseline(tmp_path / "out", AS_OF)
    assert found.as_of == "2024-12-01"
    assert list(found.rows["person_id"]) == ["a", "b"]
    assert set(found.rows["list"]) == {"early"}
    assert found.gone.empty  # who is no longer named is worked out from the new snapshot


def test_same_month_again_compares_with_the_same_earlier_run(tmp_path: Path) -> None:
    _run_folder(tmp_path / "out", "2025-01-01", "2024-12-01", ["a", "b"])
    found = find_baseline(tmp_path / "out", AS_OF)
    assert found.as_of == "2024-12-01"
    assert list(found.rows["person_id"]) == ["old", "old"]
    # the people no longer named, as that run counted them (it kept no row of theirs)
    assert list(found.gone.columns) == GONE_COLUMNS
    assert sorted(map(tuple, found.gone.to_numpy().tolist())) == [
        ("X", "victim", "early", DROPPED_AGED_OUT),
        ("X", "victim", "early", DROPPED_FELL),
        ("X", "victim", "early", DROPPED_FELL),
    ]


def test_the_kept_baseline_holds_only_people_named_again() -> None:
    before = _baseline(
        [("a", "X", "known", 1, 0.5), ("b", "X", "early", 1, 0.4), ("c", "Y", "known", 1, 0.3)]
    )
    named = pd.DataFrame(
        {"local_authority": ["X", "X"], "outcome": "victim", "person_id": ["b", "c"]}
    )
    assert list(named_again(before, named)["person_id"]) == ["b"]  # c is named in X, not Y


def test_no_earlier_run_means_no_baseline(tmp_path: Path) -> None:
    assert find_baseline(tmp_path / "missing", AS_OF).as_of is None
    _run_folder(tmp_path / "out", "2025-02-01", None, ["a"])
    found = find_baseline(tmp_path / "out", AS_OF)
    assert found.as_of is None
    assert found.rows.empty


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


def _pack_inputs() -> dict[str, object]:
    """Everything :func:`render_pack` needs for area Y (early list capacity 0)."""
    from models.bands import Band

    bands = [
        Band("low", 0.0, 0.002, 1000, 2),
        Band("raised", 0.03, 0.05, 100, 5),
        Band("high", 0.2, 0.3, 30, 9),
        Band("very high", 0.4, 0.5, 10, 5),
    ]
    model = SimpleNamespace(bundle=SimpleNamespace(bands=bands, candidate_name="logistic"))
    drawn = _drawn()
    baseline = _baseline([("g", "Y", "early", 1, 0.10), ("h", "Y", "known", 1, 0.05)])
    history, gone = add_history(_current(drawn), baseline, drawn, _people("g", "h"), AS_OF)
    mine = history[history["local_authority"] == "Y"]
    counts = list_counts(
        mine,
        drawn,
        gone,
        la="Y",
        outcome="victim",
        capacity=CAPACITY,
        band_names=[b.name for b in bands],
    )
    return {
        "local_authority": "Y",
        "as_of": AS_OF,
        "lists": mine,
        "drawn": drawn[drawn["local_authority"] == "Y"],
        "models": {"victim": _released(model, "3", "pass")},
        "explanations": {("victim", p): _explanation(p) for p in history["person_id"]},
        "capacity": CAPACITY.as_dict()["Y"],
        "freshness": "police records to 2024-12-31",
        "baseline_as_of": "2024-12-01",
        "counts": {"victim": counts},
    }


def test_pack_has_both_lists_names_only_within_capacity_and_is_kind_about_no_places() -> None:
    from html.parser import HTMLParser

    from markupsafe import escape

    from features.vocabulary import LISTS
    from serving.panel import render_pack

    inputs = _pack_inputs()
    html = render_pack(**inputs)  # type: ignore[arg-type]

    class Sections(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.lists: list[str | None] = []
            self.cards: list[tuple[str | None, str | None]] = []
            self.empty: list[str | None] = []
            self.blocks: list[tuple[str | None, str | None]] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found = dict(attrs)
            if tag == "section" and "list" in (found.get("class") or ""):
                self.lists.append(found.get("data-list"))
            if tag == "article":
                self.cards.append((found.get("data-list"), found.get("data-person")))
            if tag == "div" and "outcome-card" in (found.get("class") or ""):
                self.blocks.append((found.get("data-outcome"), found.get("data-rank")))
            if "empty" in (found.get("class") or ""):
                self.empty.append(found.get("data-empty"))

    parsed = Sections()
    parsed.feed(html)
    assert parsed.lists == ["known", "early"]
    assert parsed.cards == [("known", "f")]  # Y: f on the known list, nobody on the early list
    assert parsed.blocks == [("victim", "1")]  # one card per young person, each outcome on it
    assert "Agenda: 1 young person to discuss" in html
    assert 'href="#card-1"' in html  # the agenda row leads to the card
    assert "OFFICIAL-SENSITIVE" in html
    assert "counter(page)" in html
    assert parsed.empty == ["capacity"]
    for key in LISTS:
        assert LISTS[key].list_title in html
        assert LISTS[key].purpose in html
    # g (0.60, high band), h and i are in Y's early cohort and beyond its capacity: counted,
    # never named
    for person in ("g", "h", "i"):
        assert f'data-person="{person}"' not in html
        assert f"reason of {person}" not in html
    assert "its capacity is 0" in html
    assert "not about these young people" in html
    assert "3 more young people in this cohort are not named" in html
    assert "1 in the high band, 2 in the raised band." in html
    # how to raise it: the early list gets the one in the high band, the known list keeps 1
    assert "VRU_PANEL_CAPACITY=&#39;{&#34;Y&#34;: {&#34;known&#34;: 1, &#34;early&#34;: 1}}" in html
    # g was named on the early list last time and is counted, not named
    assert str(escape(DROPPED_OUTRANKED)) in html


def test_a_card_shows_what_changed_and_the_pack_what_the_records_cannot_see() -> None:
    """Each card with changes says what changed since the previous run (band then and
    now, the records behind the moves); the pack says once, near the top, what the
    records hold and cannot see, and every card points to it."""
    from features.coverage import NOT_HELD, coverage
    from models.reasons import Change, Changes
    from serving.panel import render_pack

    inputs = _pack_inputs()
    explanations = dict(inputs["explanations"])  # type: ignore[call-overload]
    changed = Changes(
        since="2024-12-01",
        band_then="raised",
        band_now="high",
        probability_then=0.05,
        probability_now=0.3,
        moved=[
            Change(
                "contacts_all_missing_count",
                "2 new missing-from-home episodes reported to police since 2024-12-01",
                0.8,
                1.0,
                3.0,
            )
        ],
        summary="band was 'raised' on 2024-12-01, now 'high'",
        note="(The earlier band is this model's estimate from the records as they stood then.)",
    )
    explanations[("victim", "f")] = SimpleNamespace(
        **vars(explanations[("victim", "f")]), changes=changed
    )
    statement = coverage({"incidents": dt.date(2024, 12, 31)})
    html = render_pack(**{**inputs, "explanations": explanations, "coverage": statement})  # type: ignore[arg-type]
    card = html[html.index('<article class="card"') : html.index("</article>")]
    assert 'data-person="f"' in card
    assert "What changed since 2024-12-01" in card
    assert "Band was raised on 2024-12-01, now high;" in card
    assert "new to the agenda" in card  # f was not named on the previous run
    assert "2 new missing-from-home episodes reported to police since 2024-12-01" in card
    # the cards point to it once, at their head
    cards = html[html.index('id="cards"') : html.index('<article class="card"')]
    assert 'href="#coverage"' in cards
    # once per pack, before the first outcome
    assert html.count('id="coverage"') == 1
    assert html.index('id="coverage"') < html.index('id="outcome-victim"')
    assert "police records</strong>, to 2024-12-31" in html
    assert "multi-agency records</strong>, date of the latest record not known" in html
    for thing in NOT_HELD:
        assert str(escape_html(thing)) in html
    # without changes (not scored then) a card says nothing of them
    plain = render_pack(**inputs)  # type: ignore[arg-type]
    assert "What changed since 2024" not in plain


def escape_html(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))
