"""Lead time of the early-identification list: the events, the arithmetic, one backtest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.snapshot import Tables, load_tables
from features.vocabulary import LOCAL_AUTHORITIES, SERIOUS_OFFENCES
from models.candidates import BASELINE_RULES, RulesBaseline
from models.panels import PanelCapacity
from synthetic.generate import SyntheticDataset, write_dataset
from training.leadtime import (
    MSG_NOT_CONSECUTIVE,
    MSG_NOT_MONTH_START,
    LeadTimeResult,
    backtest,
    backtest_months,
    first_involvements,
    lead_times,
    months_between,
    summarise_leads,
)

D = dt.date
START, STOP = D(2023, 1, 1), D(2024, 1, 1)


# ------------------------------------------------------------------ first involvements


def _incident(person: str, day: str, role: str, offence: str) -> dict[str, object]:
    return {
        "incident_id": f"INC-{person}-{day}-{role}",
        "person_id": person,
        "event_date": pd.Timestamp(day),
        "recorded_date": pd.Timestamp(day) + pd.Timedelta(days=3),
        "role": role,
        "offence_group": offence,
        "serious_violence": offence in SERIOUS_OFFENCES,
        "weapon": False,
    }


#: one young person per rule; the comment says why each is in or out of the victim window
TINY = pd.DataFrame(
    [
        # in: first record, serious, as a victim, inside the window
        _incident("A", "2023-03-10", "victim", "violence_with_injury"),
        # out: an earlier serious-violence record (the day before the window opens)
        _incident("B", "2022-12-31", "victim", "robbery"),
        _incident("B", "2023-05-01", "victim", "robbery"),
        # out for victim, in for perpetrator: first recorded as a suspect
        _incident("C", "2023-04-02", "suspect", "robbery"),
        _incident("C", "2023-09-01", "victim", "robbery"),
        # in (June): the February record is not serious violence
        _incident("D", "2023-02-01", "victim", "violence_without_injury"),
        _incident("D", "2023-06-15", "victim", "violence_with_injury"),
        # out: on the stop date (the window is half-open)
        _incident("E", "2024-01-01", "victim", "homicide"),
        # in: on the start date
        _incident("F", "2023-01-01", "victim", "robbery"),
        # in: a witness record does not make someone involved
        _incident("G", "2022-06-01", "witness", "robbery"),
        _incident("G", "2023-07-01", "victim", "robbery"),
        # in for both outcomes: victim and suspect on the same first date
        _incident("H", "2023-08-08", "suspect", "violence_with_injury"),
        _incident("H", "2023-08-08", "victim", "violence_with_injury"),
        # out for both: an earlier record in another role
        _incident("I", "2022-01-01", "suspect", "robbery"),
        _incident("I", "2023-02-02", "victim", "robbery"),
        # out: never serious violence
        _incident("J", "2023-05-05", "victim", "theft"),
    ]
)


@pytest.mark.parametrize("with_column", [True, False], ids=["serious_violence", "offence_group"])
def test_first_involvements_keeps_first_records_in_the_outcomes_role(with_column: bool) -> None:
    incidents = TINY if with_column else TINY.drop(columns="serious_violence")
    got = first_involvements({"incidents": incidents}, "victim", START, STOP)
    assert list(got.columns) == ["person_id", "event_date", "event_month"]
    assert got["person_id"].tolist() == ["F", "A", "D", "G", "H"]
    assert got["event_date"].dt.date.tolist() == [
        D(2023, 1, 1),
        D(2023, 3, 10),
        D(2023, 6, 15),
        D(2023, 7, 1),
        D(2023, 8, 8),
    ]
    assert got["event_month"].dt.date.tolist() == [
        D(2023, 1, 1),
        D(2023, 3, 1),
        D(2023, 6, 1),
        D(2023, 7, 1),
        D(2023, 8, 1),
    ]


def test_first_involvements_of_the_perpetrator_outcome_take_suspect_records() -> None:
    got = first_involvements({"incidents": TINY}, "perpetrator", START, STOP)
    assert got["person_id"].tolist() == ["C", "H"]


def test_first_involvements_window_is_half_open() -> None:
    # moving the stop one day later takes in E; moving the start one day later drops F
    later = first_involvements({"incidents": TINY}, "victim", START, D(2024, 1, 2))
    assert "E" in set(later["person_id"])
    shifted = first_involvements({"incidents": TINY}, "victim", D(2023, 1, 2), STOP)
    assert "F" not in set(shifted["person_id"])


def test_first_involvements_refuses_an_unknown_outcome() -> None:
    with pytest.raises(ValueError, match="outcome must be one of"):
        first_involvements({"incidents": TINY}, "offender", START, STOP)


# ------------------------------------------------------------------ the arithmetic


def test_months_between_and_backtest_months_cross_a_year() -> None:
    assert months_between(D(2022, 11, 1), D(2023, 2, 1)) == 3
    assert months_between(D(2023, 3, 31), D(2023, 9, 1)) == 6
    assert months_between(D(2023, 9, 1), D(2023, 3, 1)) == -6
    assert backtest_months(D(2022, 11, 17), 4) == [
        D(2022, 11, 1),
        D(2022, 12, 1),
        D(2023, 1, 1),
        D(2023, 2, 1),
    ]


#: per-month early lists (ids within capacity)
LISTED: dict[dt.date, list[str]] = {
    D(2022, 11, 1): ["year"],
    D(2023, 1, 1): ["both_sides"],
    D(2023, 3, 1): ["march", "other"],
    D(2023, 4, 1): ["march"],
    D(2023, 6, 1): ["same_month"],
    D(2023, 10, 1): ["after", "march"],
    D(2023, 12, 1): ["both_sides"],
}
#: (person, event month, expected lead in months or None)
CASES = [
    ("march", D(2023, 9, 1), 6),  # listed in Mar (and Apr, and again after), event in Sep
    ("after", D(2023, 9, 1), None),  # listed only after the event
    ("same_month", D(2023, 6, 1), 0),  # listed on the as-of of the event's own month
    ("never", D(2023, 5, 1), None),  # never listed
    ("both_sides", D(2023, 6, 1), 5),  # the December listing does not matter
    ("year", D(2023, 2, 1), 3),  # across the new year
]


def _events(cases: list[tuple[str, dt.date, int | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "person_id": [c[0] for c in cases],
            "event_month": pd.to_datetime([c[1] for c in cases]),
        }
    )


def test_lead_times_count_whole_months_from_the_first_listing_before_the_event() -> None:
    got = lead_times(_events(CASES), LISTED)
    assert got["person_id"].tolist() == [c[0] for c in CASES]
    leads = [None if pd.isna(v) else int(v) for v in got["lead_months"]]
    assert leads == [c[2] for c in CASES]
    first = [None if pd.isna(v) else v.date() for v in got["first_listed"]]
    assert first == [
        D(2023, 3, 1),
        None,
        D(2023, 6, 1),
        None,
        D(2023, 1, 1),
        D(2022, 11, 1),
    ]


def test_summary_counts_ahead_only_among_events_late_enough_to_be_eligible() -> None:
    # backtest from Jan 2023; events (month: lead) — Jan: 0, Feb: none, Apr: 3, Jul: 2,
    # Jul: none, Aug: 7, Jan 2024: 12
    events = pd.DataFrame(
        {
            "person_id": list("abcdefg"),
            "event_month": pd.to_datetime(
                [
                    "2023-01-01",
                    "2023-02-01",
                    "2023-04-01",
                    "2023-07-01",
                    "2023-07-01",
                    "2023-08-01",
                    "2024-01-01",
                ]
            ),
            "first_listed": pd.NaT,
            "lead_months": pd.array([0, None, 3, 2, None, 7, 12], dtype="Int64"),
        }
    )
    s = summarise_leads(events, D(2023, 1, 1))
    assert (s["events"], s["flagged"]) == (7, 5)
    assert s["share_flagged"] == pytest.approx(5 / 7)
    # ≥3 months into the backtest: Apr, Jul, Jul, Aug, Jan → 5; of them ≥3 ahead: Apr, Aug, Jan
    assert (s["eligible_3"], s["ahead_3"]) == (5, 3)
    # ≥6 months in: Jul, Jul, Aug, Jan → 4; ≥6 ahead: Aug, Jan
    assert (s["eligible_6"], s["ahead_6"]) == (4, 2)
    # ≥12 months in: Jan 2024 only, named 12 months before
    assert (s["eligible_12"], s["ahead_12"], s["share_ahead_12"]) == (1, 1, 1.0)
    assert s["median_lead"] == 3.0
    assert s["share_ahead_6_low"] < 0.5 < s["share_ahead_6_high"]


def test_summary_of_nobody_flagged_has_no_median_and_no_share_without_eligible_events() -> None:
    events = _events([("a", D(2023, 1, 1), None)]).assign(
        lead_months=pd.array([None], dtype="Int64")
    )
    s = summarise_leads(events, D(2023, 1, 1))
    assert (s["flagged"], s["share_flagged"]) == (0, 0.0)
    assert s["eligible_3"] == 0
    assert np.isnan(s["share_ahead_3"])
    assert np.isnan(s["median_lead"])


@pytest.mark.parametrize(
    ("months", "message"),
    [
        (
            [D(2023, 1, 1), D(2023, 3, 1)],
            MSG_NOT_CONSECUTIVE.format(a="2023-01-01", b="2023-03-01"),
        ),
        ([D(2023, 1, 15)], MSG_NOT_MONTH_START.format(date="2023-01-15")),
        ([], "at least one month"),
    ],
)
def test_backtest_refuses_months_that_are_not_consecutive_month_starts(
    months: list[dt.date], message: str
) -> None:
    # refused before any data is read: the folder does not exist
    with pytest.raises(ValueError, match=message):
        backtest(Path("/nonexistent"), "victim", months, {"zero": _rules}, {})


# ------------------------------------------------------------------ one backtest end to end

MONTHS = backtest_months(D(2023, 1, 1), 9)
#: a small early list, so a list drawn at random names few of the events
CAPACITY = PanelCapacity.uniform(early=8)
RULE_FEATURES = [feature for _, feature, _ in BASELINE_RULES]


@pytest.fixture(scope="module")
def tables(small_dataset: SyntheticDataset, tmp_path_factory: pytest.TempPathFactory) -> Tables:
    return load_tables(write_dataset(small_dataset, tmp_path_factory.mktemp("leadtime") / "pop"))


def _victim_records(tables: Tables) -> pd.DataFrame:
    incidents = tables.tables["incidents"]
    return incidents[incidents["serious_violence"] & (incidents["role"] == "victim")]


def _oracle(tables: Tables):
    """Perfect knowledge: 1 for whoever is recorded as a victim of serious violence in the
    12 months after the as-of date (read from the future, which no real scorer can do)."""
    records = _victim_records(tables)[["person_id", "event_date"]]

    def score(frame: pd.DataFrame) -> np.ndarray:
        rows = frame[["person_id", "as_of"]].reset_index(names="row")
        hits = rows.merge(records, on="person_id")
        ahead = (hits["event_date"] >= hits["as_of"]) & (
            hits["event_date"] < hits["as_of"] + pd.DateOffset(months=12)
        )
        out = np.zeros(len(frame))
        out[hits.loc[ahead, "row"].to_numpy()] = 1.0
        return out

    return score


def _rules(frame: pd.DataFrame) -> np.ndarray:
    return RulesBaseline().fit(frame[RULE_FEATURES]).score(frame[RULE_FEATURES])


def _run(tables: Tables, scorers: Mapping, chunk: int, said: list[str] | None = None):
    return backtest(
        tables,
        "victim",
        MONTHS,
        scorers,
        CAPACITY,
        chunk=chunk,
        progress=None if said is None else said.append,
    )


@pytest.fixture(scope="module")
def result(tables: Tables) -> tuple[LeadTimeResult, list[str]]:
    rng = np.random.default_rng(5)
    scorers = {
        "oracle": _oracle(tables),
        "rules": _rules,
        "random": lambda frame: rng.random(len(frame)),
    }
    said: list[str] = []
    return _run(tables, scorers, chunk=4, said=said), said


def test_a_perfect_knowledge_list_names_more_young_people_ahead_than_a_random_one(
    result: tuple[LeadTimeResult, list[str]],
) -> None:
    res, _ = result
    oracle, rules, random = (res.summary[name] for name in ("oracle", "rules", "random"))
    assert oracle["events"] == rules["events"] == random["events"] > 10
    assert oracle["share_flagged"] > random["share_flagged"]
    assert oracle["share_flagged"] >= rules["share_flagged"]
    assert oracle["share_ahead_3"] > random["share_ahead_3"]
    assert oracle["median_lead"] > 0


def test_events_are_the_first_victim_records_of_the_backtest_months(
    result: tuple[LeadTimeResult, list[str]], tables: Tables
) -> None:
    """Cross-checked by a different route: earliest serious-violence record per young
    person (victim or suspect), kept when it is a victim record inside the months."""
    res, _ = result
    incidents = tables.tables["incidents"]
    sv = incidents[incidents["serious_violence"] & incidents["role"].isin(["victim", "suspect"])]
    earliest = sv.sort_values(["event_date", "role"]).drop_duplicates("person_id")
    victims_first = set(
        _victim_records(tables).merge(earliest[["person_id", "event_date"]])["person_id"]
    )
    inside = earliest[
        (earliest["event_date"] >= pd.Timestamp(MONTHS[0]))
        & (earliest["event_date"] < pd.Timestamp(D(2023, 10, 1)))
    ]
    expected = set(inside["person_id"]) & victims_first
    for name, leads in res.leads.items():
        assert set(leads["person_id"]) | _off_spine(res, expected) == expected, name
    assert res.off_spine == len(_off_spine(res, expected))


def _off_spine(res: LeadTimeResult, expected: set[str]) -> set[str]:
    return expected - set(res.leads["oracle"]["person_id"])


def test_the_early_list_is_within_capacity_and_has_no_one_already_involved(
    result: tuple[LeadTimeResult, list[str]], tables: Tables
) -> None:
    res, _ = result
    listings = res.listings
    assert set(listings["scorer"]) == {"oracle", "rules", "random"}
    sizes = listings.groupby(["scorer", "as_of", "local_authority"]).size()
    assert len(sizes) == 3 * len(MONTHS) * len(LOCAL_AUTHORITIES)
    assert (sizes == 8).all()
    assert dict(res.capacity) == dict.fromkeys(LOCAL_AUTHORITIES, 8)
    # nobody on an early list has a victim or suspect serious-violence record known before it
    incidents = tables.tables["incidents"]
    sv = incidents[incidents["serious_violence"] & incidents["role"].isin(["victim", "suspect"])]
    known = listings.merge(sv[["person_id", "recorded_date"]], on="person_id")
    assert not (known["recorded_date"] < pd.to_datetime(known["as_of"])).any()


def test_each_lead_starts_at_the_first_listing_on_or_before_the_event_month(
    result: tuple[LeadTimeResult, list[str]],
) -> None:
    res, _ = result
    for name, leads in res.leads.items():
        named = res.listings[res.listings["scorer"] == name]
        pairs = leads.merge(named[["person_id", "as_of"]], on="person_id", how="left")
        before = pairs[pd.to_datetime(pairs["as_of"]) <= pairs["event_month"]]
        first = before.groupby("person_id")["as_of"].min()
        flagged = leads.set_index("person_id")["first_listed"].dropna()
        assert set(flagged.index) == set(first.index), name
        assert (pd.to_datetime(first[flagged.index]) == flagged).all(), name


def test_chunking_does_not_change_the_lists(
    result: tuple[LeadTimeResult, list[str]], tables: Tables
) -> None:
    res, said = result
    assert len(said) == 3  # 9 months in chunks of 4
    again = _run(tables, {"oracle": _oracle(tables), "rules": _rules}, chunk=9)
    for name in ("oracle", "rules"):
        pd.testing.assert_frame_equal(again.leads[name], res.leads[name])
        pd.testing.assert_series_equal(pd.Series(again.summary[name]), pd.Series(res.summary[name]))


def test_the_tables_name_every_scorer(result: tuple[LeadTimeResult, list[str]]) -> None:
    res, _ = result
    table = res.table()
    assert table["scorer"].tolist() == ["oracle", "rules", "random"]
    assert table.set_index("scorer").loc["oracle", "events"] == res.summary["oracle"]["events"]
    assert {"eligible_3", "share_ahead_12_low", "median_lead"} <= set(table.columns)
    text = res.markdown()
    header = text.splitlines()[0]
    assert header.startswith("| list ranked by | events | flagged | ≥3 m | ≥6 m | ≥12 m |")
    rows = [line for line in text.splitlines()[2:] if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows] == ["| oracle", "| rules", "| random"]
    # 9 months: no event can be 12 months into the backtest
    assert all(row.split(" | ")[5] == "—" for row in rows)
    assert "offender" not in text.lower()


def test_a_scorer_must_give_one_finite_score_per_row(tables: Tables) -> None:
    with pytest.raises(ValueError, match="scorer 'short' gave shape"):
        backtest(tables, "victim", MONTHS[:1], {"short": lambda f: np.zeros(3)}, CAPACITY)
    with pytest.raises(ValueError, match="non-finite scores"):
        backtest(tables, "victim", MONTHS[:1], {"nan": lambda f: np.full(len(f), np.nan)}, CAPACITY)


def test_other_capacities_cut_one_longer_draw_and_agree_with_the_list_panels_get(
    tables: Tables,
) -> None:
    """Drawn once long enough for 30 per authority, cut at each capacity: the figures at the
    configured capacity are those of a backtest drawn at it, and longer lists flag more."""
    scorers = {"oracle": _oracle(tables), "rules": _rules}
    plain = backtest(tables, "victim", MONTHS, scorers, CAPACITY, chunk=9)
    wide = backtest(tables, "victim", MONTHS, scorers, CAPACITY, chunk=9, also_at=(4, 8, 30))
    for name in scorers:
        pd.testing.assert_series_equal(
            pd.Series(plain.summary[name]), pd.Series(wide.summary[name])
        )
        pd.testing.assert_frame_equal(plain.leads[name], wide.leads[name])
    table = wide.by_capacity.set_index(["scorer", "early_capacity"])
    assert sorted(table.index.get_level_values("early_capacity").unique()) == [4, 8, 30]
    at_8 = table.loc[("oracle", 8)]
    assert at_8["flagged"] == plain.summary["oracle"]["flagged"]  # CAPACITY's early list is 8
    for name in scorers:
        flagged = [table.loc[(name, k), "flagged"] for k in (4, 8, 30)]
        assert flagged == sorted(flagged)
    assert table.loc[("oracle", 30), "flagged"] > table.loc[("oracle", 4), "flagged"]
    with pytest.raises(ValueError, match="also_at"):
        backtest(tables, "victim", MONTHS, scorers, CAPACITY, also_at=(0,))
