"""The drivers report: one self-contained page per area, in plain words, with every
withheld figure marked and nothing person-level; and the folder of reports and tables.

The reports are written once (``write_reports`` on the session's small world: no models,
with its truth) and read back; a few variants of the same tables (a pathway with known
figures, a withheld one, a switched-off model, a real extract without truth) are rendered
for one authority.
"""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from drivers.base import FORCE_AREA
from drivers.disclosure import SUPPRESSED, SUPPRESSED_NOTE
from drivers.report import FORCE_AREA_SLUG, REPORT, _Trends, render_report, slug, write_reports
from drivers.run import DriversTables
from tests.drivers.conftest import SmallWorld

#: one worker builds the small world for all the drivers tests
pytestmark = pytest.mark.xdist_group("drivers")

AREA = "Bristol"
SECTIONS = (
    ("trends", "Trends: serious violence and the signals around it"),
    ("pathways", "Pathways: what followed a first signal"),
    ("models", "What the models lean on here"),
    ("recording", "Where recording itself may drive the picture"),
    ("made", "How this report was made"),
)
ASSOCIATION = "This is an association, not a cause."
NO_MODEL = "No model was released, so none is described."
#: words a report never shows a reader
MISSING_WORDS = re.compile(r"\b(nan|NaN|None|inf|null|undefined)\b|nan%")
JARGON = re.compile(r"person_id|log-odds|mean_abs|LGBM|Logistic|\boffender|perpetrator", re.I)


class Page(HTMLParser):
    """What a reader sees: visible text (whole page and per section), headings, images,
    links."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text: list[str] = []
        self.sections: dict[str, list[str]] = {}
        self.h1: list[str] = []
        self.h2: list[str] = []
        self.images: list[dict[str, str]] = []
        self.links: list[str] = []
        self._hidden = 0
        self._section: str | None = None
        self._heading: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag in ("style", "script", "title"):
            self._hidden += 1
        if tag in ("section", "footer") and "id" in found:
            self._section = found["id"]
            self.sections[self._section] = []
        if tag in ("h1", "h2"):
            self._heading = tag
            getattr(self, tag).append("")
        if tag == "img":
            self.images.append(found)
        for name in ("href", "src", "action"):
            if name in found:
                self.links.append(found[name])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "title"):
            self._hidden -= 1
        if tag in ("h1", "h2"):
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        self.text.append(data)
        if self._section is not None:
            self.sections[self._section].append(data)
        if self._heading is not None:
            headings = getattr(self, self._heading)
            headings[-1] += data

    @property
    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())

    def section(self, key: str) -> str:
        return " ".join(" ".join(self.sections.get(key, [])).split())


@pytest.fixture(scope="module")
def written(small_world: SmallWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("drivers_report")
    paths = write_reports(folder, small_world.report, mlflow_run_id="run0123456789")
    assert paths[0] == folder / FORCE_AREA_SLUG / REPORT
    return folder


def _page(folder: Path, area: str) -> Page:
    return Page((folder / slug(area) / REPORT).read_text(encoding="utf-8"))


def _areas(tables: DriversTables) -> list[str]:
    return [FORCE_AREA, *tables.areas]


# ------------------------------------------------------------------ every page


def test_every_area_has_a_report_with_its_sections_in_order(
    small_world: SmallWorld, written: Path
) -> None:
    tables = small_world.report
    assert len(tables.areas) == 5
    for area in _areas(tables):
        page = _page(written, area)
        place = "Avon and Somerset" if area == FORCE_AREA else area
        assert page.h1 == [f"What drives serious violence in {place}"]
        assert [h.split(". ", 1)[1] for h in page.h2] == [title for _, title in SECTIONS]
        for key, _ in SECTIONS:
            assert page.section(key), (area, key)
        # the period, the extract and the run are named
        assert "January 2023 to December 2025" in page.visible
        assert tables.data_fingerprint[:12] in page.visible
        assert "MLflow run run0123456789" in page.visible


def test_no_missing_values_jargon_or_blaming_words_reach_a_reader(
    small_world: SmallWorld, written: Path
) -> None:
    for area in _areas(small_world.report):
        page = _page(written, area)
        shown = page.visible + " " + " ".join(i.get("alt", "") for i in page.images)
        assert not MISSING_WORDS.search(shown), (area, MISSING_WORDS.search(shown))
        assert not JARGON.search(shown), (area, JARGON.search(shown))


def test_pages_are_self_contained_and_every_chart_has_alt_text(
    small_world: SmallWorld, written: Path
) -> None:
    for area in _areas(small_world.report):
        html = (written / slug(area) / REPORT).read_text(encoding="utf-8")
        page = Page(html)
        elsewhere = [link for link in page.links if not link.startswith(("#", "data:"))]
        assert elsewhere == []
        assert "<link" not in html
        assert "@import" not in html
        # trends by theme, the pathway chart, recording by measure, recorded against true
        assert len(page.images) >= 4 + 1 + 3 + 1
        for image in page.images:
            assert image["src"].startswith("data:image/png;base64,")
            assert len(image.get("alt", "")) > 40, image.get("alt")
        assert len(html) < 5_000_000


def test_each_page_says_what_it_is_for_and_how_figures_are_protected(
    small_world: SmallWorld, written: Path
) -> None:
    for area in _areas(small_world.report):
        page = _page(written, area)
        assert "holds no information about any one young person" in page.visible
        assert "Strategic Needs Assessment" in page.visible
        assert SUPPRESSED_NOTE in page.visible
        # the small world has its truth: a synthetic extract, and says so
        assert "Synthetic data — no real person is described." in page.visible


def test_an_authority_is_set_beside_the_force_area_and_the_force_area_beside_them_all(
    small_world: SmallWorld, written: Path
) -> None:
    tables = small_world.report
    html = (written / slug(AREA) / REPORT).read_text(encoding="utf-8")
    page = Page(html)
    assert f"{AREA}, set beside Avon and Somerset as a whole (the force area)" in page.visible
    headers = re.findall(r'<th scope="col"[^>]*>([^<]+)</th>', html)
    assert {AREA, "Force area"} <= set(headers)
    assert not set(tables.areas) - {AREA} & set(headers)
    force = (written / FORCE_AREA_SLUG / REPORT).read_text(encoding="utf-8")
    force_headers = set(re.findall(r'<th scope="col"[^>]*>([^<]+)</th>', force))
    assert {"Force area", "Bath and NE Somerset", *tables.areas[1:]} <= force_headers


class YearlyTable(HTMLParser):
    """The body rows of the page's first yearly table: each row's cell texts (``td`` only:
    the year, then one cell per column, or one cell for a row withheld everywhere)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._state = "before"  # before, in, after
        self._cell: list[str] | None = None
        self._body = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("class", "yearly") in attrs and self._state == "before":
            self._state = "in"
        elif self._state == "in" and tag == "tbody":
            self._body = True
        elif self._state == "in" and self._body and tag == "tr":
            self.rows.append([])
        elif self._state == "in" and tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if self._state == "in" and tag == "table":
            self._state = "after"
        elif self._cell is not None and tag == "td":
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_the_yearly_table_shows_each_figure_or_the_mark(
    small_world: SmallWorld, written: Path
) -> None:
    """Bristol's victim rates, year by year, by age band and sex, beside the force area:
    every cell is the table's own figure (rate, interval, "x of y"), or "fewer than 10*",
    and a row withheld everywhere is one cell."""
    yearly = small_world.report.trends_yearly
    rows = yearly[yearly["measure"] == "sv_victim"]
    index = {
        (r.period, r.local_authority, r.age_band, r.sex): r
        for r in rows.itertuples()
        if r.local_authority in (AREA, FORCE_AREA)
    }
    periods = list(dict.fromkeys(rows.sort_values("period_start")["period"]))
    expected = []
    for band in ["all ages", "10–13", "14–17", "18–24"]:
        for period in periods:
            cells = []
            for sex in ["both sexes", "female", "male"]:
                for area in (AREA, FORCE_AREA):
                    r = index[(period, area, band, sex)]
                    if r.suppressed:
                        cells.append(SUPPRESSED)
                    else:
                        cells.append(
                            f"{r.rate:.1f} ({r.rate_low:.1f}–{r.rate_high:.1f}) "
                            f"{int(r.young_people):,} of {int(r.population):,}"
                        )
            if all(c == SUPPRESSED for c in cells):
                cells = [f"{SUPPRESSED} (here and in the force area)"]
            expected.append([period, *cells])
    shown = YearlyTable((written / slug(AREA) / REPORT).read_text(encoding="utf-8")).rows
    # the rendered cell runs rate, interval and count together: compare without spaces
    assert [[c.replace(" ", "") for c in r] for r in shown] == [
        [c.replace(" ", "") for c in r] for r in expected
    ]
    assert any(SUPPRESSED in c for r in expected for c in r[1:])
    assert any(SUPPRESSED not in c for r in expected for c in r[1:])


def test_withheld_quarters_are_gaps_not_zeros(small_world: SmallWorld) -> None:
    tables = small_world.report
    quarterly = tables.trends_quarterly
    trends = _Trends.of(quarterly)
    rows = quarterly[(quarterly["age_band"] == "all ages") & (quarterly["sex"] == "both sexes")]
    withheld = rows[rows["suppressed"] == SUPPRESSED]
    assert len(withheld)
    for row in withheld.head(20).itertuples():
        series = trends.get(str(row.measure), str(row.local_authority))
        at = pd.Timestamp(str(row.period_start)).date()
        assert bool(series.loc[at, "withheld"])
        assert np.isnan(series.loc[at, "rate"])
    published = rows[rows["suppressed"] == ""].iloc[0]
    series = trends.get(str(published["measure"]), str(published["local_authority"]))
    at = pd.Timestamp(str(published["period_start"])).date()
    assert series.loc[at, "rate"] == pytest.approx(float(published["rate"]))


def test_no_model_released_is_said_not_drawn(small_world: SmallWorld, written: Path) -> None:
    assert small_world.report.models == {}
    for area in _areas(small_world.report):
        page = _page(written, area)
        assert NO_MODEL in page.section("models")
        assert "none (no model was released)" in page.section("made")


def test_recorded_against_true_involvement_is_shown_on_synthetic_data(
    written: Path,
) -> None:
    page = _page(written, AREA)
    recording = page.section("recording")
    assert "Recorded rates reflect decisions" in recording
    assert "On synthetic data the truth is known; on real data it is not" in recording
    assert "of true involvement recorded" in recording


# ------------------------------------------------------------------ the pathways in words


def _with_pathway(tables: DriversTables, values: dict[str, object]) -> DriversTables:
    """The tables with Bristol's 24-month 'coming into care' row replaced."""
    frame = tables.pathways.copy()
    at = (
        (frame["pathway"] == "looked_after_start")
        & (frame["window_months"] == 24)
        & (frame["local_authority"] == AREA)
    )
    assert at.sum() == 1
    for column, value in values.items():
        frame.loc[at, column] = value
    return dataclasses.replace(tables, pathways=frame)


KNOWN = {
    "young_people": 85.0,
    "involved": 10.0,
    "matched": 6120.0,
    "matched_involved": 200.0,
    "share": 0.119048,
    "share_low": 0.0704,
    "share_high": 0.2065,
    "matched_share": 0.032586,
    "matched_low": 0.0281,
    "matched_high": 0.0371,
    "difference": 0.086462,
    "difference_low": 0.0332,
    "difference_high": 0.173,
    "ratio": 3.65,
    "ratio_low": 2.0,
    "ratio_high": 6.6,
    "suppressed": "",
}


@pytest.fixture(scope="module")
def variant(small_world: SmallWorld) -> Page:
    """Bristol's page from the same tables with a pathway of known figures, a switched-off
    model, no truth (as from a real extract) and a note."""
    tables = dataclasses.replace(
        _with_pathway(small_world.report, KNOWN),
        models={"victim": "vru-victim/3 is switched off; not described"},
        recording_truth=None,
        notes=("Figures for March 2025 were re-sent by the police.",),
    )
    return Page(render_report(tables, AREA))


def test_a_pathway_reads_as_one_plain_sentence_with_its_comparison(
    small_world: SmallWorld, variant: Page
) -> None:
    frame = small_world.report.pathways
    row = frame[
        (frame["pathway"] == "looked_after_start")
        & (frame["window_months"] == 24)
        & (frame["local_authority"] == AREA)
    ].iloc[0]
    pathways = variant.section("pathways")
    assert ASSOCIATION in pathways
    assert "not that the signal causes violence" in pathways
    assert (
        f"Of young people in {AREA} who came into care for the first time between "
        f"{pd.Timestamp(row['signal_from']):%B %Y} and {pd.Timestamp(row['signal_to']):%B %Y}, "
        "12% (7–21%) were recorded as involved in serious violence, as a victim or a suspect, "
        "within 24 months, against 3.3% (2.8–3.7%) of matched young people of the same age, "
        "sex, area and deprivation who had not come into care."
    ) in pathways
    assert "+8.6 (3.3 to 17.3)" in pathways
    assert "stable care placements" in pathways


def test_a_withheld_pathway_gives_no_figure(small_world: SmallWorld, written: Path) -> None:
    frame = small_world.report.pathways
    withheld = frame[
        (frame["local_authority"] == AREA)
        & (frame["window_months"] == 24)
        & (frame["suppressed"] == SUPPRESSED)
    ]
    assert len(withheld), "the small world should withhold some of Bristol's pathways"
    page = _page(written, AREA)
    pathways = page.section("pathways")
    sentences = re.findall(rf"For young people in {AREA}[^.]*\.", pathways)
    assert len(sentences) >= len(withheld["pathway"].unique())
    for sentence in sentences:
        assert SUPPRESSED in sentence
        assert "%" not in sentence


def test_a_switched_off_model_and_a_real_extract_are_said_so(variant: Page) -> None:
    models = variant.section("models")
    assert "Risk of being the victim of serious violence" in models
    assert "The model (vru-victim, version 3) is switched off" in models
    recording = variant.section("recording")
    assert "this part is left out" in recording
    assert "of true involvement recorded" not in recording
    assert "Synthetic data" not in variant.visible
    made = variant.section("made")
    assert "Figures for March 2025 were re-sent by the police." in made
    assert "not recorded in MLflow" in made
    assert not MISSING_WORDS.search(variant.visible)


def test_an_area_outside_the_tables_is_refused(small_world: SmallWorld) -> None:
    tables = dataclasses.replace(small_world.report, areas=("Somerset",))
    with pytest.raises(ValueError, match="no drivers report for 'Bristol'"):
        render_report(tables, AREA)


# ------------------------------------------------------------------ the folder


def test_each_area_folder_holds_its_report_and_only_its_rows(
    small_world: SmallWorld, written: Path
) -> None:
    tables = small_world.report
    names = set(tables.tables())
    assert "recording_truth" in names
    assert {p.name for p in written.iterdir()} == {slug(a) for a in _areas(tables)}
    assert slug("Bath and North East Somerset") == "bath_and_north_east_somerset"
    for area in _areas(tables):
        folder = written / slug(area)
        assert {p.name for p in folder.iterdir()} == {REPORT} | {f"{n}.csv" for n in names}
        for name, frame in tables.tables().items():
            csv = pd.read_csv(folder / f"{name}.csv", keep_default_na=False, na_values=[""])
            areas = set(csv["local_authority"])
            if area == FORCE_AREA:
                assert len(csv) == len(frame), name
            else:
                assert areas <= {area, FORCE_AREA}, (name, areas)
                expected = frame["local_authority"].isin([area, FORCE_AREA]).sum()
                assert len(csv) == expected, name


def test_withheld_cells_are_empty_in_the_csv_and_marked(written: Path) -> None:
    csv = pd.read_csv(
        written / slug(AREA) / "trends_yearly.csv", keep_default_na=False, na_values=[""]
    )
    marks = csv["suppressed"].fillna("")
    assert set(marks) == {"", SUPPRESSED}
    withheld, published = csv[marks == SUPPRESSED], csv[marks == ""]
    for column in ("young_people", "population", "rate", "rate_low", "rate_high"):
        assert withheld[column].isna().all(), column
        assert published[column].notna().all(), column
    # figures to 4 decimals, counts in fives
    text = (written / slug(AREA) / "trends_yearly.csv").read_text()
    assert not re.search(r"\.\d{5,}", text)
    assert (published["young_people"] % 5 == 0).all()
