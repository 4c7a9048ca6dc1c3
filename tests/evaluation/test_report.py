"""The board report of ``vru evaluate``: every file written, each list and outcome in plain
words with its interval, withheld estimates without a figure anywhere, the known answer
only on synthetic data, suppressed places never drawn, the tables equal to the evaluation,
no blaming words, and a page that prints.

The evaluations are built by hand (no generator): one with two lists — one whose help
lowered the share, one with too few young people near the cut to estimate a year of help —
and variants of it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from drivers.disclosure import SUPPRESSED
from evaluation.report import (
    ESTIMATE_COLUMNS,
    REPORT,
    TABLES,
    _rd_figure,
    render_report,
    write_report,
)
from evaluation.results import (
    Balance,
    Bin,
    Check,
    Estimate,
    Evaluation,
    ListOutcome,
    MinimumDetectable,
    Sensitivity,
)

HARMED = "harmed by serious violence"
HARMING = "involved in harming others"
#: why the second list's year of help has no figure (no digits: none may reach the page)
TOO_FEW_HELPED = "too few young people near the cut took up help to estimate it"
AREA_TOO_FEW = "too few young people near the cut in this authority"
#: places of the first list's bins that are suppressed
SUPPRESSED_PLACES = (-9, 7)
FORBIDDEN = re.compile(r"offender|suspect|perpetrator", re.I)
PERSON_LIKE = re.compile(r"(?i:person_id)|\bYP\d")
#: an embedded chart (its base64 text may hold any letters)
EMBEDDED = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")
MISSING_WORDS = re.compile(r"\b(nan|NaN|None|inf|null)\b")
BLOCKS = frozenset({"p", "li", "td", "th", "div", "h1", "h2", "h3", "h4", "dt", "dd", "caption"})


# ------------------------------------------------------------------ building evaluations


def _estimate(effect: float, low: float, high: float, level: float | None = 0.1) -> Estimate:
    return Estimate(
        effect=effect,
        low=low,
        high=high,
        p_value=0.0312,
        bandwidth=8.25,
        n_below=415,
        n_above=390,
        level_below=level,
    )


def _withheld(reason: str) -> Estimate:
    return Estimate(None, None, None, None, None, n_below=0, n_above=0, withheld=reason)


def _bins(level: float, jump: float, suppressed: tuple[int, ...] = ()) -> list[Bin]:
    bins = []
    for place in range(-10, 11):
        if place in suppressed:
            bins.append(Bin(place, None, None, None, suppressed=True))
            continue
        share = level - 0.002 * place + (jump if place > 0 else 0.0)
        involved = round(300 * share / 5) * 5
        bins.append(Bin(place, 300, involved, involved / 300, suppressed=False))
    return bins


def _result(
    list_name: str, outcome: str, *, help_withheld: bool, suppressed: tuple[int, ...] = ()
) -> ListOutcome:
    itt = (
        _estimate(-0.0123, -0.0215, -0.0031, level=0.087)
        if not help_withheld
        else _estimate(-0.0042, -0.0151, 0.0067, level=0.064)
    )
    per_year = (
        _withheld(TOO_FEW_HELPED)
        if help_withheld
        else _estimate(-0.0176, -0.0312, -0.0043, level=0.087)
    )
    return ListOutcome(
        list_name=list_name,
        outcome=outcome,
        itt=itt,
        per_year_of_help=per_year,
        first_stage=_estimate(0.412, 0.356, 0.468, level=0.05),
        relative_per_year=None if help_withheld else (-0.2023, -0.3586, -0.0494),
        bins=_bins(itt.level_below or 0.0, itt.effect or 0.0, suppressed),
        balance=[
            Balance(
                "school_365d_suspension_count",
                "suspensions in the 12 months before",
                _estimate(0.021, -0.084, 0.126, level=0.64),
            ),
            Balance(
                "agency_365d_missing_count",
                "missing episodes in the 12 months before",
                _estimate(0.093, 0.012, 0.174, level=0.31),
            ),
            Balance("social_care_ever", "ever known to social care", _withheld(TOO_FEW_HELPED)),
        ],
        placebo=[
            Check(-5.5, _estimate(0.0031, -0.0082, 0.0144)),
            Check(6.5, _estimate(-0.0027, -0.0133, 0.0079)),
        ],
        bandwidths=[
            Sensitivity(0.5, _estimate(-0.0131, -0.0262, 0.0001)),
            Sensitivity(1.0, itt),
            Sensitivity(2.0, _estimate(-0.0118, -0.0181, -0.0055)),
        ],
        detectable=[
            MinimumDetectable(area, years, effect / years**0.5, effect / years**0.5 / 0.087)
            for area, effect in (("Avon and Somerset (force area)", 0.0112), ("Bristol", 0.0264))
            for years in (1.0, 3.0, 5.0)
        ],
        by_area={
            "Bristol": _estimate(-0.0151, -0.0334, 0.0032),
            "Somerset": _estimate(-0.0094, -0.0288, 0.0100),
            "North Somerset": _withheld(AREA_TOO_FEW),
        },
    )


def make_evaluation(**changes: object) -> Evaluation:
    """Two lists: the early-help list for risk of being harmed (help lowered the share;
    two suppressed places) and the already-known list for risk of harming others (a year
    of help withheld)."""
    evaluation = Evaluation(
        data="data/demo",
        fingerprint="3f9a6c2e81d4b7a05e11c9d2",
        first_month=dt.date(2021, 1, 1),
        last_month=dt.date(2023, 12, 1),
        years=3.0,
        listings=12_343,
        young_people=4_322,
        capacity={"Bristol": 20, "Somerset": 15, "North Somerset": 10},
        crossover=0.183,
        results=[
            _result("victim_early", "victim", help_withheld=False, suppressed=SUPPRESSED_PLACES),
            _result("perpetrator_known", "perpetrator", help_withheld=True),
        ],
        true_effect=0.2,
        warnings=["Two months of Somerset's lists were missing and were left out."],
    )
    return dataclasses.replace(evaluation, **changes)  # type: ignore[arg-type]


# ------------------------------------------------------------------ reading the page


class Page(HTMLParser):
    """What a reader sees: the visible text, each element's text by id, the images, and
    the text of every element marked ``withheld``."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.text: list[str] = []
        self.by_id: dict[str, list[str]] = {}
        self.images: list[dict[str, str]] = []
        self.withheld: list[str] = []
        self._open: list[tuple[str, str | None, bool]] = []
        self._style = False
        self.feed(source)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.images.append(attributes)
            return
        if tag in ("meta", "br", "link"):
            return
        self._style = self._style or tag in ("style", "title")
        if tag in BLOCKS:
            self.handle_data(" ")  # cells and paragraphs read apart
        withheld = "withheld" in attributes.get("class", "").split()
        self._open.append((tag, attributes.get("id"), withheld))
        if withheld:
            self.withheld.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title"):
            self._style = False
        while self._open:
            opened, _, withheld = self._open.pop()
            if withheld:
                self.withheld.append("\0")  # closes the marked element's text
            if opened == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._style:
            return
        self.text.append(data)
        for _, ident, _ in self._open:
            if ident:
                self.by_id.setdefault(ident, []).append(data)
        if any(w for _, _, w in self._open):
            self.withheld.append(data)

    def words(self, ident: str | None = None) -> str:
        parts = self.text if ident is None else self.by_id.get(ident, [])
        return " ".join("".join(parts).split())

    def withheld_texts(self) -> list[str]:
        joined = "".join(self.withheld).split("\0")
        return [" ".join(t.split()) for t in joined if t.strip()]


def points(share: float) -> str:
    """Percentage points as the page writes them (an independent formatting)."""
    return f"{share * 100:+.1f}".replace("-", "\u2212")


def interval(estimate: Estimate) -> str:
    assert estimate.low is not None
    assert estimate.high is not None
    return f"95% interval from {points(estimate.low)} to {points(estimate.high)}"


@pytest.fixture(scope="module")
def evaluation() -> Evaluation:
    return make_evaluation()


@pytest.fixture(scope="module")
def written(evaluation: Evaluation, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("evaluation_report")
    return write_report(evaluation, folder, run_name="evaluate-2024-01")


@pytest.fixture(scope="module")
def page(written: list[Path]) -> Page:
    return Page(written[0].read_text(encoding="utf-8"))


def _csv(written: list[Path], name: str) -> pd.DataFrame:
    path = next(p for p in written if p.name == f"{name}.csv")
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


# ------------------------------------------------------------------ files


def test_every_file_is_written_and_returned(written: list[Path]) -> None:
    folder = written[0].parent
    assert written[0].name == REPORT
    assert sorted(p.name for p in written) == sorted([REPORT, *(f"{t}.csv" for t in TABLES)])
    assert sorted(folder.iterdir()) == sorted(written)
    for path in written:
        assert path.stat().st_size > 200, path


def test_the_page_is_self_contained_and_every_chart_has_alt_text(
    written: list[Path], page: Page, evaluation: Evaluation
) -> None:
    source = written[0].read_text(encoding="utf-8")
    assert "<script" not in source
    assert "<link" not in source
    assert not re.search(r"(src|href)=\"(?!data:|#)", source)
    # per list and outcome: the picture at the cut, listings, pretend cuts, by authority
    assert len(page.images) == 4 * len(evaluation.results)
    for image in page.images:
        assert image["src"].startswith("data:image/png;base64,")
        assert len(image["alt"]) > 60, image["alt"]


# ------------------------------------------------------------------ the answer in words


def test_each_list_and_outcome_is_named_with_its_effect_and_interval_in_words(
    page: Page, evaluation: Evaluation
) -> None:
    first, second = evaluation.results
    box = page.words("result-1")
    assert "No serious-violence record yet: early help — the list for risk of being harmed" in box
    assert f"Outcome: young people {HARMED} in the next 12 months" in box
    assert first.itt.effect is not None
    assert first.per_year_of_help.effect is not None
    assert (
        f"Being discussed by the panel changed the share of young people {HARMED} in the "
        f"next 12 months by {points(first.itt.effect)} percentage points ({interval(first.itt)})."
    ) in box
    assert "Being discussed lowered the share: the whole interval is below zero." in box
    assert (
        f"A year of help taken up changed the share of young people {HARMED} in the next 12 "
        f"months by {points(first.per_year_of_help.effect)} percentage points "
        f"({interval(first.per_year_of_help)}): about 20 in 100 fewer young people {HARMED} "
        "than just below the cut (from 36 in 100 fewer to 5 in 100 fewer)."
    ) in box
    assert "The help lowered the share" in box
    assert "cannot tell" not in box

    box = page.words("result-2")
    assert "Already known to services for serious violence — the list for risk of harming" in box
    assert f"Outcome: young people {HARMING} in the next 12 months" in box
    assert second.itt.effect is not None
    assert f"by {points(second.itt.effect)} percentage points ({interval(second.itt)})." in box
    # its interval includes zero
    assert "We cannot tell the effect of being discussed from no effect with these data." in box


def test_the_help_taken_up_and_the_level_below_the_cut_are_given(
    page: Page, evaluation: Evaluation
) -> None:
    first = evaluation.results[0]
    box = page.words("result-1")
    assert first.first_stage.effect is not None
    months = first.first_stage.effect * 12
    assert f"about {months:.1f} months more help in the year" in box
    assert f"just below the cut (not discussed), 8.7% of young people were {HARMED}" in box


def test_a_withheld_estimate_shows_its_reason_and_no_number(
    written: list[Path], page: Page
) -> None:
    box = page.words("result-2")
    assert f"The effect of a year of help taken up: not estimated — {TOO_FEW_HELPED}." in box
    assert "A year of help taken up changed" not in box
    assert "help's effect" not in box  # no verdict on a figure that is not there
    texts = page.withheld_texts()
    assert any(TOO_FEW_HELPED in t for t in texts)
    assert any(AREA_TOO_FEW in t for t in texts)
    for text in texts:
        assert not re.search(r"\d", text), text
    assert not MISSING_WORDS.search(page.words())

    estimates = _csv(written, "estimates")
    row = estimates[
        (estimates["list"] == "perpetrator_known") & (estimates["estimate"] == "per_year_of_help")
    ].iloc[0]
    assert row["withheld"] == TOO_FEW_HELPED
    figures = [c for c in ESTIMATE_COLUMNS if c != "withheld"]
    assert row[[*figures, "relative", "relative_low", "relative_high"]].isna().all()
    by_area = _csv(written, "by_area")
    row = by_area[by_area["area"] == "North Somerset"].iloc[0]
    assert row["withheld"] == AREA_TOO_FEW
    assert row[figures].isna().all()
    # every estimate that has a figure says nothing is withheld
    assert (estimates.loc[estimates["effect"].notna(), "withheld"].isna()).all()


def test_listings_and_young_people_are_rounded_to_five(page: Page) -> None:
    text = page.words()
    assert "12,345 (a young person on one month's list" in text  # 12,343
    assert "4,320 different young people" in text  # 4,322
    assert "12,343" not in text
    assert "4,322" not in text
    assert "Bristol: 20 a month; Somerset: 15 a month; North Somerset: 10 a month" in text
    assert "January 2021 to December 2023 (3 years of monthly lists" in text
    assert "18% were discussed by a panel within the following 12 months" in text


# ------------------------------------------------------------------ the known answer


def test_the_known_answer_says_whether_each_interval_covers_it(page: Page) -> None:
    section = page.words("known")
    assert "Known answer (synthetic data)" in section
    assert "lowering each young person's monthly chance of serious violence by 20%" in section
    # the first list: −36 to −5 in 100 covers −20; the second: no year of help estimated
    assert "covered." in page.words("known-result-1")
    assert "The interval covers the known answer" in page.words("known-result-1")
    assert "cannot be checked" in page.words("known-result-2")
    assert TOO_FEW_HELPED in page.words("known-result-2")


def test_a_known_answer_outside_the_interval_is_said_to_be_missed() -> None:
    missed = make_evaluation(true_effect=0.45)  # −45 in 100 lies below −36
    text = Page(render_report(missed)).words("known-result-1")
    assert "not covered." in text
    assert "does not cover the known answer" in text


def test_real_data_have_no_known_answer_box() -> None:
    real = Page(render_report(make_evaluation(true_effect=None)))
    text = real.words()
    assert "Known answer" not in text
    assert "Synthetic data" not in text
    assert "These are real data" in text
    assert "no known answer" in text
    assert not [k for k in real.by_id if k.startswith("known-")]


def test_a_list_with_nothing_estimated_reads_as_reasons_without_figures(tmp_path: Path) -> None:
    """The points list with too few young people near the cut: every place suppressed, no
    estimate, no checks; on real data. The page says so; no figure and no crash."""
    empty = ListOutcome(
        list_name="hand_rules",
        outcome="perpetrator",
        itt=_withheld(AREA_TOO_FEW),
        per_year_of_help=_withheld(TOO_FEW_HELPED),
        first_stage=_withheld(TOO_FEW_HELPED),
        relative_per_year=None,
        bins=[Bin(p, None, None, None, suppressed=True) for p in range(-3, 4)],
        balance=[],
        placebo=[Check(4.5, _withheld(AREA_TOO_FEW))],
        bandwidths=[],
        detectable=[MinimumDetectable("Bristol", 1.0, None, None)],
    )
    evaluation = make_evaluation(results=[empty], true_effect=None, warnings=[])
    paths = write_report(evaluation, tmp_path)
    page = Page(paths[0].read_text(encoding="utf-8"))
    box = page.words("result-1")
    assert "The panels' points list (used before this tool)" in box
    assert f"The effect of being discussed by the panel: not estimated — {AREA_TOO_FEW}." in box
    assert not re.search(r"\d", box.replace("12 months", "")), box
    text = page.words()
    assert "7 of 7 places withheld" in text
    assert "Too few places are published to look for a dip or heap at the cut." in text
    assert "No pretend cut could be estimated." in text
    assert "could not be worked out" in page.words("how-long")
    assert "No authority was estimated alone for this list." in page.words("areas")
    assert not MISSING_WORDS.search(text)
    assert not FORBIDDEN.search(EMBEDDED.sub("", paths[0].read_text(encoding="utf-8")))
    estimates = pd.read_csv(tmp_path / "estimates.csv", keep_default_na=False, na_values=[""])
    assert estimates[[c for c in ESTIMATE_COLUMNS if c != "withheld"]].isna().all().all()
    assert list(estimates["withheld"]) == [AREA_TOO_FEW, TOO_FEW_HELPED, TOO_FEW_HELPED]
    assert len(pd.read_csv(tmp_path / "balance.csv")) == 0  # headers only


# ------------------------------------------------------------------ charts and checks


def test_suppressed_places_are_not_drawn_and_are_counted(
    written: list[Path], page: Page, evaluation: Evaluation
) -> None:
    first = evaluation.results[0]
    fig = _rd_figure(first)
    ax = fig.axes[0]
    drawn = set()
    for line in ax.get_lines():
        xs = np.asarray(line.get_xdata(), dtype=float)
        drawn |= {float(x) for x in xs if float(x).is_integer()}
    published = {float(b.place) for b in first.bins if not b.suppressed}
    assert drawn == published
    assert not drawn & {float(p) for p in SUPPRESSED_PLACES}
    assert f"2 of {len(first.bins)} places withheld ({SUPPRESSED}) and not drawn" in page.words(
        "picture"
    )
    assert "No place withheld." in page.words("picture")  # the second list

    bins = _csv(written, "rd_bins")
    hidden = bins[(bins["list"] == "victim_early") & bins["place"].isin(SUPPRESSED_PLACES)]
    assert len(hidden) == 2
    assert (hidden["suppressed"] == SUPPRESSED).all()
    assert hidden[["listings", "involved", "share"]].isna().all().all()


def test_each_check_has_a_verdict_and_a_failed_one_calls_for_care(page: Page) -> None:
    checks = page.words("checks")
    assert "No sign of a dip or heap at the cut" in checks
    # missing episodes jump (0.012 to 0.174 misses 0); suspensions do not
    assert "jump: read with care" in checks
    assert "no sign of a jump" in checks
    assert "1 of 2 records jump at the cut (missing episodes in the 12 months before)" in checks
    assert "Both pretend cuts show no jump, as they should" in checks
    assert "The estimate stays inside the main interval at every bandwidth tried" in checks
    limits = page.words("limits")
    assert "read as an association" in limits
    assert "records from before the list month jump at the cut" in limits


def test_passing_checks_let_the_result_be_read_as_an_effect() -> None:
    evaluation = make_evaluation()
    calm = [
        dataclasses.replace(lo, balance=[b for b in lo.balance if b.label.startswith("susp")])
        for lo in evaluation.results
    ]
    text = Page(render_report(dataclasses.replace(evaluation, results=calm))).words("limits")
    assert "The checks raise no doubts" in text
    assert "association, not as the effect" not in text


def test_how_long_and_by_authority_are_explained(page: Page, evaluation: Evaluation) -> None:
    text = page.words("how-long")
    bristol = next(
        d for d in evaluation.results[0].detectable if d.area == "Bristol" and d.years == 1.0
    )
    assert bristol.effect is not None
    assert (
        f"With one year of lists in Bristol, only an effect of at least "
        f"{bristol.effect * 100:.1f} percentage points could be told from none."
    ) in text
    assert "After 5 years" in text
    areas = page.words("areas")
    assert "Each authority alone is less certain." in areas
    assert f"North Somerset not estimated — {AREA_TOO_FEW}" in areas


def test_warnings_and_footer(page: Page) -> None:
    text = page.words("made")
    assert "Two months of Somerset's lists were missing and were left out." in text
    assert "3f9a6c2e81d4" in text
    assert "3f9a6c2e81d4b" not in text
    assert "evaluate-2024-01" in text
    assert (
        "Aggregate figures only; counts under 10 are withheld and all counts are rounded to 5."
        in text
    )


# ------------------------------------------------------------------ words and tables


def test_no_blaming_words_or_person_level_keys_reach_any_output(written: list[Path]) -> None:
    source = EMBEDDED.sub("", written[0].read_text(encoding="utf-8"))
    assert not FORBIDDEN.search(html.unescape(source))  # text, alt text and attributes
    for path in written:
        assert not PERSON_LIKE.search(EMBEDDED.sub("", path.read_text(encoding="utf-8"))), path
    # the outcome's key is a value in the tables' columns, never in words
    estimates = _csv(written, "estimates")
    assert set(estimates["outcome"]) == {"victim", "perpetrator"}


def _rows(written: list[Path], name: str, *keys: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """A table's rows by their key columns (each key once)."""
    records = _csv(written, name).to_dict("records")
    rows = {tuple(r[k] for k in keys): {str(c): v for c, v in r.items()} for r in records}
    assert len(rows) == len(records), name
    return rows


def _same(row: dict[str, Any], estimate: Estimate) -> None:
    """The row holds the estimate's own figures (empty ones when it has none)."""
    for column in ESTIMATE_COLUMNS[:-1]:
        value = getattr(estimate, column) if estimate.estimated else None
        if value is None:
            assert pd.isna(row[column]), (column, row[column])
        else:
            assert row[column] == value, (column, row[column], value)


def test_the_tables_hold_the_evaluations_own_numbers(
    written: list[Path], evaluation: Evaluation
) -> None:
    estimates = _rows(written, "estimates", "list", "estimate")
    balance = _rows(written, "balance", "list", "covariate")
    placebo = _rows(written, "placebo", "list", "place")
    bandwidths = _rows(written, "bandwidths", "list", "factor")
    by_area = _rows(written, "by_area", "list", "area")
    detectable = _rows(written, "detectable", "list", "area", "years")
    bins = _rows(written, "rd_bins", "list", "place")
    results = evaluation.results
    assert len(estimates) == 3 * len(results)
    assert len(balance) == sum(len(lo.balance) for lo in results)
    assert len(placebo) == sum(len(lo.placebo) for lo in results)
    assert len(bandwidths) == sum(len(lo.bandwidths) for lo in results)
    assert len(by_area) == sum(len(lo.by_area) for lo in results)
    assert len(detectable) == sum(len(lo.detectable) for lo in results)
    assert len(bins) == sum(len(lo.bins) for lo in results)

    for lo in results:
        name = lo.list_name
        for kind in ("itt", "per_year_of_help", "first_stage"):
            assert estimates[(name, kind)]["outcome"] == lo.outcome
            _same(estimates[(name, kind)], getattr(lo, kind))
        if lo.relative_per_year is not None:
            row = estimates[(name, "per_year_of_help")]
            got = (row["relative"], row["relative_low"], row["relative_high"])
            assert got == lo.relative_per_year
        for bal in lo.balance:
            _same(balance[(name, bal.covariate)], bal.estimate)
        for check in lo.placebo:
            _same(placebo[(name, check.place)], check.estimate)
        for s in lo.bandwidths:
            _same(bandwidths[(name, s.factor)], s.estimate)
        for area, e in lo.by_area.items():
            _same(by_area[(name, area)], e)
        for d in lo.detectable:
            row = detectable[(name, d.area, d.years)]
            assert (row["effect"], row["relative"]) == (d.effect, d.relative)
        for b in lo.bins:
            row = bins[(name, b.place)]
            assert bool(row["discussed"]) == (b.place > 0)
            if not b.suppressed:
                assert (row["listings"], row["involved"], row["share"]) == (
                    b.listings,
                    b.involved,
                    b.share,
                )


# ------------------------------------------------------------------ print


def test_the_page_prints_to_a4(written: list[Path], tmp_path: Path) -> None:
    import pypdf
    from playwright.sync_api import sync_playwright

    pdf = tmp_path / "report.pdf"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            tab = browser.new_page()
            tab.goto(written[0].as_uri())
            tab.pdf(path=str(pdf), prefer_css_page_size=True)
        finally:
            browser.close()
    reader = pypdf.PdfReader(pdf)
    assert len(reader.pages) >= 1
    first = reader.pages[0]
    assert (round(float(first.mediabox.width)), round(float(first.mediabox.height))) == (595, 842)
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert "Does the panel's help work?" in text.replace("\u2019", "'")


def test_an_interval_covering_both_the_truth_and_no_effect_says_it_could_not_tell() -> None:
    """Covering the known answer is not finding it when the interval covers 0 as well."""
    from dataclasses import replace

    base = make_evaluation()
    wide = replace(base.results[0], relative_per_year=(-0.21, -0.61, 0.15))
    text = Page(render_report(replace(base, results=[wide, *base.results[1:]]))).words(
        "known-result-1"
    )
    assert "covered." in text
    assert "covers no effect too" in text
    assert "the evaluation finds it" not in text
