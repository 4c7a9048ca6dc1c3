"""The monthly monitoring report: status in words at the top, one chart per check and area,
the month's table; no external assets; written atomically.

The history is built here, row by row, like the one ``vru monitor`` appends to: a few
months, two local authorities and all areas together, with green, amber, red, 'too few'
and 'not yet' rows.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.history import ALL_AREAS, ANY_OUTCOME, COLUMNS, empty_history
from monitoring.plan import CHECKS, Plan, load_plan
from monitoring.report import (
    REPORT,
    _normalised,
    _split_series,
    _status_blocks,
    render_report,
    write_report,
)

AREAS = ("Bristol", "Somerset")
OUTCOME_KEYS = ("victim", "perpetrator")
MODELS = {"victim": "vru-victim version 3", "perpetrator": "vru-perpetrator version 2"}
SOURCES = ("police records", "school records")
RUN_ID = "0a1b2c3d4e5f"

#: how far beyond its red limit the victim model's inputs moved in Bristol in the latest
#: month; the sentences of that month's other departures follow
RED_BEYOND = 1.15
AMBER_BANDS = (
    "In Somerset 1.4 times as many young people are in the raised band or above as when "
    "the model was trained (amber: more than 1.25)."
)
TOO_FEW_DISAGREE = "Too few practitioners gave feedback in Somerset to judge (4; 10 needed)."
NOT_YET_PRECISION = (
    "Outcomes of the lists of 12 months ago cannot be judged yet: the first outcome window "
    "closes in March 2026."
)


def red_drift(plan: Plan) -> tuple[float, float, float, str]:
    """The red input-drift figure of the latest month: value, interval, sentence."""
    red = plan.checks["input_drift"].red
    value, low, high = RED_BEYOND * red, 1.05 * red, 1.25 * red
    words = (
        f"The information the victim model uses in Bristol has moved {value:.1f} times as far "
        f"as chance alone gives (red: more than {red:g})."
    )
    return value, low, high, words


SUSPENDED = (
    "The estimate of the risk of being the victim of serious violence (model version 3) was "
    "switched off on 1 June 2025 by vru monitor, because the information it uses moved "
    "beyond its red limit in Bristol."
)


def _months(n: int, first: dt.date = dt.date(2025, 3, 1)) -> list[dt.date]:
    return [
        dt.date(first.year + (first.month - 1 + k) // 12, (first.month - 1 + k) % 12 + 1, 1)
        for k in range(n)
    ]


def _row(plan: Plan, **fields: object) -> dict[str, object]:
    check = str(fields["check"])
    limits = plan.checks.get(check)
    base: dict[str, object] = {
        "local_authority": ALL_AREAS,
        "outcome": ANY_OUTCOME,
        "model_version": "",
        "subject": "",
        "value": np.nan,
        "low": np.nan,
        "high": np.nan,
        "observed": np.nan,
        "expected": np.nan,
        "n": 0,
        "status": "green",
        "enforced": bool(limits.enforce) if limits else False,
        "amber": limits.amber if limits else np.nan,
        "red": limits.red if limits else np.nan,
        "words": "",
    }
    base.update(fields)
    if check not in CHECKS:  # list composition and the month's status have no limits
        base["amber"] = base["red"] = np.nan
    return base


def build_history(
    plan: Plan,
    months: Sequence[dt.date],
    areas: Sequence[str] = AREAS,
    *,
    seed: int = 3,
    first_window_closes: int = 2,
) -> pd.DataFrame:
    """A history like ``vru monitor`` writes, with departures in the latest month.

    Outcome checks read 'not yet' for the first ``first_window_closes`` months. In the
    latest month: input drift red (enforced) for the victim model in Bristol, band shares
    amber for the perpetrator model in Somerset, practitioners' disagreement 'too few' in
    Somerset (with a figure that would be green), precision 'not yet' in Somerset.
    """
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    latest = months[-1]
    places = (ALL_AREAS, *areas)
    for m, month in enumerate(months):
        last = month == latest
        for area in places:
            for source in SOURCES:
                volume = float(rng.normal(1.0, 0.05))
                rows.append(
                    _row(
                        plan,
                        as_of=month,
                        local_authority=area,
                        check="data_volume",
                        subject=source,
                        value=volume,
                        low=volume - 0.1,
                        high=volume + 0.1,
                        words=f"{source} arrived as usual.",
                    )
                )
                days = float(rng.integers(1, 6))
                rows.append(
                    _row(
                        plan,
                        as_of=month,
                        local_authority=area,
                        check="data_freshness",
                        subject=source,
                        value=days,
                        words=f"The latest {source} are {days:.0f} days old.",
                    )
                )
            for outcome in OUTCOME_KEYS:
                version = MODELS[outcome].rsplit(" ", 1)[-1]
                common = {
                    "as_of": month,
                    "local_authority": area,
                    "outcome": outcome,
                    "model_version": version,
                }
                drift = float(rng.uniform(0.6, 1.4))
                low, high = drift * 0.9, drift * 1.1
                status, words = "green", "The inputs moved no more than chance alone gives."
                # the history records whether a check was enforced when it was judged: the
                # report reads that, not today's plan
                enforced = bool(plan.checks["input_drift"].enforce)
                if last and area == "Bristol" and outcome == "victim":
                    drift, low, high, words = red_drift(plan)
                    status, enforced = "red", True
                rows.append(
                    _row(
                        plan,
                        **common,
                        check="input_drift",
                        subject="largest input",
                        value=drift,
                        low=low,
                        high=high,
                        status=status,
                        enforced=enforced,
                        words=words,
                    )
                )
                share = float(rng.uniform(0.9, 1.1))
                status, words = "green", "The raised band holds as many as at training."
                if last and area == "Somerset" and outcome == "perpetrator":
                    share, status, words = 1.4, "amber", AMBER_BANDS
                rows.append(
                    _row(
                        plan,
                        **common,
                        check="band_shares",
                        subject="raised or above",
                        value=share,
                        low=share - 0.1,
                        high=share + 0.1,
                        status=status,
                        words=words,
                    )
                )
                for check in ("precision", "calibration"):
                    closed = m >= first_window_closes and not (
                        last and area == "Somerset" and check == "precision"
                    )
                    value = float(rng.uniform(0.9, 1.1)) if closed else np.nan
                    rows.append(
                        _row(
                            plan,
                            **common,
                            check=check,
                            value=value,
                            low=value - 0.2,
                            high=value + 0.2,
                            status="green" if closed else "not yet",
                            words="As expected." if closed else NOT_YET_PRECISION,
                        )
                    )
                rows.append(
                    _row(
                        plan,
                        **common,
                        check="list_composition",
                        subject="new",
                        value=float(rng.uniform(0.2, 0.4)),
                        status="info",
                        words="A third of the list is new this month.",
                    )
                )
        for outcome in OUTCOME_KEYS:
            version = MODELS[outcome].rsplit(" ", 1)[-1]
            for group in ("sex: female", "ethnicity: Black"):
                ratio = float(rng.uniform(0.9, 1.1))
                closed = m >= first_window_closes
                rows.append(
                    _row(
                        plan,
                        as_of=month,
                        outcome=outcome,
                        model_version=version,
                        check="group_calibration",
                        subject=group,
                        value=ratio if closed else np.nan,
                        low=ratio * 0.8,
                        high=ratio * 1.2,
                        status="green" if closed else "not yet",
                        words="As right for this group as for the others."
                        if closed
                        else NOT_YET_PRECISION,
                    )
                )
            state = "red" if last and outcome == "victim" else "green"
            if last and outcome == "perpetrator":
                state = "amber"
            rows.append(
                _row(
                    plan,
                    as_of=month,
                    outcome=outcome,
                    model_version=version,
                    check="status",
                    status=state,
                    amber=np.nan,
                    red=np.nan,
                    words=SUSPENDED if state == "red" else f"{outcome}: {state}.",
                )
            )
        for area in places:
            few = last and area == "Somerset"
            share = 0.1 if few else float(rng.uniform(0.05, 0.2))
            rows.append(
                _row(
                    plan,
                    as_of=month,
                    local_authority=area,
                    outcome="victim",
                    model_version="3",
                    check="disagreement",
                    subject="feedback",
                    value=share,
                    low=max(share - 0.05, 0),
                    high=share + 0.05,
                    status="too few" if few else "green",
                    words=TOO_FEW_DISAGREE if few else "Few practitioners disagree.",
                )
            )
    frame = pd.DataFrame(rows)[list(COLUMNS)]
    frame["n"] = frame["n"].astype("int64")
    return frame


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan()[0]


@pytest.fixture(scope="module")
def history(plan: Plan) -> pd.DataFrame:
    return build_history(plan, _months(4))


@pytest.fixture(scope="module")
def html(history: pd.DataFrame, plan: Plan) -> str:
    return render_report(
        history, plan=plan, as_of=max(history["as_of"]), models=MODELS, mlflow_run_id=RUN_ID
    )


def _top(html: str) -> str:
    """The status section: from its heading to the charts."""
    return html[html.index('id="status"') : html.index('id="charts"')]


def _block(html: str, key: str) -> str:
    top = _top(html)
    start = top.index(f'id="status-{key}"')
    return top[start : top.index("</section>", start)]


def _check_sections(html: str) -> dict[str, str]:
    found = re.findall(
        r'<section class="check"[^>]*data-check="([^"]+)">(.*?)</section>', html, flags=re.S
    )
    return dict(found)


def test_the_status_of_each_model_for_the_month_is_in_words(
    html: str, history: pd.DataFrame, plan: Plan
) -> None:
    latest = history[history["as_of"] == max(history["as_of"])]
    for outcome in OUTCOME_KEYS:
        status = latest.loc[(latest["outcome"] == outcome) & (latest["check"] == "status")]
        block = _block(html, outcome)
        word = str(status["status"].iloc[0])
        assert f'status-{word}">{word.capitalize()}</span>' in block
        assert MODELS[outcome] in block
        for sentence in status["words"]:
            assert sentence in block
    assert f"version {plan.version}" in html
    assert plan.owner in html
    assert f"MLflow run {RUN_ID}" in html
    assert "prompt for review" in html


def test_a_red_enforced_figure_is_at_the_top_with_its_sentence(html: str, plan: Plan) -> None:
    victim = _block(html, "victim")
    red_words = red_drift(plan)[3]
    assert red_words in victim
    assert "This check switches the model off." in victim
    assert f"Switched off. Red on “{CHECKS['input_drift'].title}”" in victim
    assert SUSPENDED in victim
    perpetrator = _block(html, "perpetrator")
    assert AMBER_BANDS in perpetrator
    # the amber figure is on a check that does not switch anything off
    assert "Switched off" not in perpetrator
    assert red_words not in perpetrator


def test_too_few_and_not_yet_are_named_and_never_counted_green(
    html: str, history: pd.DataFrame
) -> None:
    latest = history[history["as_of"] == max(history["as_of"])]
    # the victim model's own figures and those of the records it uses
    victim = latest[
        latest["outcome"].isin(["victim", ANY_OUTCOME]) & latest["check"].isin(list(CHECKS))
    ]
    green = int((victim["status"] == "green").sum())
    judged = int(victim["status"].isin(["green", "amber", "red"]).sum())
    assert (victim["status"] == "too few").any()
    block = _block(html, "victim")
    assert f"{green} of the {judged} figures that could be judged were green" in block
    assert TOO_FEW_DISAGREE in block
    assert NOT_YET_PRECISION in block
    # the judged table holds the 'too few' figure nowhere; the not-judged list does
    judged_table = html[
        html.index('id="table"') : html.index("<details>", html.index('id="table"'))
    ]
    assert TOO_FEW_DISAGREE not in judged_table
    assert TOO_FEW_DISAGREE in html[html.index("<details>", html.index('id="table"')) :]
    # its chart says so in words, not green
    panel = _check_sections(html)["disagreement"]
    alt = re.search(r'alt="([^"]*in Somerset[^"]*)"', panel)
    assert alt is not None
    assert "too few to judge" in alt.group(1)
    assert "green" not in alt.group(1)


def test_one_chart_per_check_and_area_named_in_its_alt_text(
    html: str, history: pd.DataFrame
) -> None:
    sections = _check_sections(html)
    assert list(sections)[: len(CHECKS)] == list(CHECKS)
    for check, spec in CHECKS.items():
        areas = set(history.loc[history["check"] == check, "local_authority"])
        alts = re.findall(
            r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+" alt="([^"]+)"', sections[check]
        )
        assert len(alts) == len(areas) == sections[check].count("<img"), check
        for area in areas:
            assert sum(spec.title in a and f" in {area}," in a for a in alts) == 1, (check, area)


def test_the_month_table_lists_every_judged_figure(
    html: str, history: pd.DataFrame, plan: Plan
) -> None:
    latest = history[history["as_of"] == max(history["as_of"])]
    judged = latest[
        latest["check"].isin(list(CHECKS)) & latest["status"].isin(["green", "amber", "red"])
    ]
    start = html.index('id="table"')
    table = html[start : html.index("</table>", start)]
    cells = re.findall(r"<tr><td>", table)
    assert len(cells) == len(judged)
    # the worst check first, the worst figure first within it: the red drift figure heads
    # the table, then the amber band shares, with their intervals
    body = table[table.index("<tbody>") :]
    first_row = body[body.index("<tr><td>") :]
    value, low, high, red_words = red_drift(plan)
    assert first_row.index(red_words) < first_row.index("status-green")
    assert body.index(red_words) < body.index(AMBER_BANDS)
    groups = re.findall(r'<tr class="group"><th[^>]*>([^<]+)<', table)
    assert [g.strip() for g in groups][:2] == [
        CHECKS["input_drift"].title[:1].upper() + CHECKS["input_drift"].title[1:],
        CHECKS["band_shares"].title[:1].upper() + CHECKS["band_shares"].title[1:],
    ]
    assert f"{value:.2f} ({low:.2f} to {high:.2f})" in table
    drift = plan.checks["input_drift"]
    assert f"amber above {drift.amber:g}, red above {drift.red:g}" in table


def test_no_external_urls(html: str) -> None:
    sources = re.findall(r'src="([^"]*)"', html)
    assert sources
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    text = re.sub(r'src="data:image/png;base64,[A-Za-z0-9+/=]+"', "", html)
    assert not re.search(r"https?:|ftp:|file:|url\(|@import|//[a-z0-9.-]+\.[a-z]", text, re.I)
    assert not re.search(r"<(script|link|iframe|object|embed)\b", text, flags=re.I)
    assert all(target.startswith("#") for target in re.findall(r'href="([^"]*)"', text))


def test_both_sided_limits_are_given_both_ways(html: str, plan: Plan) -> None:
    def short(v: float) -> str:
        return f"{v:.2f}".rstrip("0").rstrip(".")

    calibration = plan.checks["calibration"]
    assert 1 / calibration.amber != calibration.amber
    text = (
        f"amber above {short(calibration.amber)} or below {short(1 / calibration.amber)}, "
        f"red above {short(calibration.red)} or below {short(1 / calibration.red)}"
    )
    assert text in html


def test_an_empty_history_or_an_unrecorded_month_says_so(plan: Plan) -> None:
    empty = render_report(empty_history(), plan=plan, as_of=dt.date(2026, 1, 1), models=MODELS)
    assert "No monitoring has been recorded yet" in empty
    assert "<img" not in empty
    one_month = build_history(plan, _months(1), ("Bristol",))
    missing = render_report(one_month, plan=plan, as_of=dt.date(2030, 1, 1), models=MODELS)
    assert "Nothing was recorded for the month to 1 January 2030" in missing
    # no figure of another month passes for this one's
    assert red_drift(plan)[3] not in _top(missing)
    assert "<img" in missing  # the months recorded are still charted
    assert 'id="table"' not in missing


def test_write_report_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_report(tmp_path, "<p>old</p>")
    assert path == tmp_path / REPORT
    with pytest.raises(UnicodeEncodeError):
        write_report(tmp_path, "<p>new, broken half way \ud800</p>")  # a lone surrogate
    assert path.read_text(encoding="utf-8") == "<p>old</p>"

    def refuse(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_report(tmp_path, "<p>new</p>")
    assert path.read_text(encoding="utf-8") == "<p>old</p>"
    assert [p.name for p in tmp_path.iterdir()] == [REPORT]
    monkeypatch.undo()
    write_report(tmp_path, "<p>new</p>")
    assert path.read_text(encoding="utf-8") == "<p>new</p>"


def test_red_on_an_enforced_check_of_the_records_switches_every_model_off(
    history: pd.DataFrame, plan: Plan
) -> None:
    latest = history[history["as_of"] == max(history["as_of"])].copy()
    feed = (latest["check"] == "data_volume") & (latest["local_authority"] == "Somerset")
    stopped = latest.index[feed][0]
    latest.loc[stopped, ["status", "value", "enforced"]] = ["red", 0.0, True]
    latest.loc[stopped, "words"] = "Police records for Somerset stopped arriving."
    blocks = {b["key"]: b for b in _status_blocks(_normalised(latest), MODELS)}
    assert set(blocks) == set(OUTCOME_KEYS)
    for outcome in OUTCOME_KEYS:
        assert CHECKS["data_volume"].title in blocks[outcome]["switched_off"]
        sentences = [f["sentence"] for f in blocks[outcome]["flagged"]]
        assert "Police records for Somerset stopped arriving." in sentences
    # the perpetrator model was switched off by the records alone, not by the victim's drift
    assert blocks["perpetrator"]["switched_off"] == [CHECKS["data_volume"].title]


def test_many_lines_on_one_chart_keep_the_flagged_ones_in_colour(plan: Plan) -> None:
    month = dt.date(2026, 3, 1)
    groups = [f"ethnicity: group {k}" for k in range(12)]
    rows = pd.DataFrame(
        [
            _row(
                plan,
                as_of=month,
                outcome="victim",
                model_version="3",
                check="group_calibration",
                subject=subject,
                value=value,
                status=status,
            )
            for subject, value, status in [
                ("everyone", 1.0, "green"),
                *((g, 1.0 + 0.01 * k, "green") for k, g in enumerate(groups)),
                ("ethnicity: amber group", 1.3, "amber"),
                ("ethnicity: low group", 0.7, "green"),
            ]
        ]
    )
    coloured, grey = _split_series(rows, "both")
    assert len(coloured) == 6
    assert len(coloured) + len(grey) == len(groups) + 3
    subjects = [s for _, s in coloured]
    assert subjects[:1] == ["everyone"]  # in the order of the rows, not of the ranking
    assert {"ethnicity: amber group", "ethnicity: low group", groups[-1]} <= set(subjects)
    assert groups[0] not in subjects  # nearest 1: drawn in grey


def test_a_run_told_not_to_enforce_says_the_model_was_not_switched_off(
    history: pd.DataFrame, plan: Plan
) -> None:
    html = render_report(
        history, plan=plan, as_of=max(history["as_of"]), models=MODELS, enforced=False
    )
    victim = _block(html, "victim")
    assert f"Would be switched off. Red on “{CHECKS['input_drift'].title}”" in victim
    assert "the model was not switched off by it" in victim
    assert "Switched off." not in victim
