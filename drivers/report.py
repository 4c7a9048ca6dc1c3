"""The drivers report: one self-contained HTML page per area, for the partnership's
Strategic Needs Assessment.

Each page reads the protected tables of :class:`drivers.run.DriversTables` (no
person-level data) and sets an authority beside the force area, or, for the force area,
the five authorities beside each other:

1. trends: each measure quarter by quarter (all ages, both sexes), grouped by theme, and
   the two serious-violence measures year by year by age band and sex;
2. pathways: what followed a first signal, against matched young people without it
   (an association, not a cause);
3. what the released models lean on here, by domain;
4. where recording itself may drive the picture (stop and search and exclusions by
   ethnic group and deprivation; on synthetic data, recorded against true involvement);
5. how the report was made.

Suppressed cells read :data:`drivers.disclosure.SUPPRESSED` in tables and are gaps in
charts, never zero. Charts are PNGs embedded in the page (no external assets); line
styles, markers and hatching keep them readable printed in black and white.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import math
import re
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import numpy as np
import pandas as pd

from drivers.base import AGE_BANDS, ALL_AGES, BOTH_SEXES, FORCE_AREA
from drivers.contributions import ALL_YOUNG_PEOPLE, LISTED
from drivers.disclosure import ROUND_TO, SUPPRESSED, SUPPRESSED_NOTE, THRESHOLD
from drivers.pathways import PATHWAYS
from drivers.recording import ALL_GROUPS, ALL_QUINTILES, RECORDING_MEASURES
from drivers.run import DriversTables
from drivers.trends import MEASURES
from features.vocabulary import OUTCOMES

__all__ = ["FORCE_AREA_SLUG", "REPORT", "render_report", "slug", "write_reports"]

#: the report's file name in each area's folder
REPORT = "report.html"
#: the force area's folder
FORCE_AREA_SLUG = "force_area"

_DPI = 80
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
#: the trends' themes in the report's order, as headings
THEMES: tuple[tuple[str, str], ...] = (
    ("serious violence", "Serious violence"),
    ("school", "School"),
    ("social care", "Social care"),
    ("police and health", "Police and health"),
)
#: the two measures of the yearly table
SERIOUS_VIOLENCE = ("sv_victim", "sv_suspect")

#: how each pathway's young people are named in a sentence: "Of young people who …",
#: "… of matched young people … who …"
PATHWAY_WORDS: dict[str, tuple[str, str]] = {
    "permanent_exclusion": (
        "were permanently excluded from school for the first time",
        "had not been permanently excluded",
    ),
    "looked_after_start": ("came into care for the first time", "had not come into care"),
    "missing_episode": (
        "were first reported missing to the police",
        "had not been reported missing",
    ),
    "ae_assault_attendance": (
        "first attended A&E after an assault",
        "had not attended A&E after an assault",
    ),
}
#: what support could help after each signal (strengths-based: what helps, not who)
PATHWAY_SUPPORT: dict[str, str] = {
    "permanent_exclusion": (
        "inclusion support in school before an exclusion is reached, a trusted adult in "
        "alternative provision, and a quick, planned return to education"
    ),
    "looked_after_start": (
        "stable care placements, a consistent key worker, and keeping links with family, "
        "friends and school when a young person comes into care"
    ),
    "missing_episode": (
        "a return-home conversation after every missing episode, with someone the young "
        "person trusts, and follow-up on what they say"
    ),
    "ae_assault_attendance": (
        "hospital-based youth work in A&E, when a young person may be ready for help, and "
        "follow-up in the community after they leave hospital"
    ),
}
#: the models' domains in the order the report lists them
DOMAINS = ("police", "education", "social care", "health", "youth justice", "age and area")
#: the recording measures' groups, top to bottom
_ETHNIC_ORDER = ("White", "Mixed", "Asian", "Black", "Other")
#: shorter names where a chart has little room
_SHORT = {"Bath and North East Somerset": "Bath and NE Somerset", FORCE_AREA: "Force area"}

# ------------------------------------------------------------------ chart styles
#: the area a page is about, then what it is set beside (dark to light, solid to dotted)
_COLOURS = ("#1f3b73", "#333333", "#8c510a", "#0f6d6d", "#6a3d9a", "#b2182b")
_STYLES: tuple[Any, ...] = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (8, 2)))
_MARKERS = ("o", "s", "^", "D", "v", "P")
#: bar fills and hatches (the hatch carries the difference in black and white)
_FILLS = ("#1f3b73", "#ffffff", "#9e9e9e", "#ffffff", "#d9d9d9", "#ffffff")
_HATCHES = ("", "////", "", "....", "xx", "\\\\\\\\")
_WITHHELD_HATCH = "////"
#: a withheld bar: a cross on the axis where the bar would start (a word would not fit)
_WITHHELD_MARK: dict[str, Any] = {
    "marker": "x",
    "color": "#444444",
    "markersize": 5,
    "markeredgewidth": 1.1,
    "linestyle": "none",
    "clip_on": False,
}
_GRID = "#e4e4e4"


# ------------------------------------------------------------------ words and figures


def _finite(value: object) -> bool:
    if value is None or isinstance(value, bool | str):
        return False
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _first_upper(text: str) -> str:
    # jinja's ``capitalize`` lowercases the rest ("Bristol" → "bristol")
    return text[:1].upper() + text[1:]


def _month(day: dt.date) -> str:
    return f"{_MONTHS[day.month - 1]} {day.year}"


def _long_date(day: dt.date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _date(text: object) -> dt.date:
    return pd.Timestamp(str(text)).date()


def _count(value: object) -> str:
    """A rounded count with thousands separators, or the suppression mark."""
    return f"{round(float(value)):,}" if _finite(value) else SUPPRESSED  # type: ignore[arg-type]


def _rate_digits(value: float) -> int:
    return 2 if abs(value) < 1 else 1


def _digits_for(values: Iterable[object]) -> int:
    """Decimals for a table of rates: two when its typical published rate is below 2 (a
    rare event per 100), else one."""
    finite = [float(v) for v in values if _finite(v)]  # type: ignore[arg-type]
    return 2 if finite and float(np.median(finite)) < 2 else 1


def _rate(value: object, low: object = None, high: object = None, digits: int | None = None) -> str:
    """``36.3 (31.6–41.7)``; the suppression mark when the figure is withheld.

    ``digits``: decimals (by default two below 1, one above); one table uses one number
    of decimals, from :func:`_digits_for`.
    """
    if not _finite(value):
        return SUPPRESSED
    v = float(value)  # type: ignore[arg-type]
    d = _rate_digits(v) if digits is None else digits
    text = f"{v:,.{d}f}"
    if _finite(low) and _finite(high):
        text += f" ({float(low):,.{d}f}–{float(high):,.{d}f})"  # type: ignore[arg-type]
    return text


def _percent_digits(share: float) -> int:
    """One decimal for small percentages (under 10%), none above."""
    return 1 if abs(share) * 100 < 10 else 0


def _percent(share: object, low: object = None, high: object = None) -> str:
    """``4.3% (2.4–7.5%)``, ``19% (13–23%)``; the suppression mark when withheld."""
    if not _finite(share):
        return SUPPRESSED
    s = float(share)  # type: ignore[arg-type]
    d = _percent_digits(s)
    text = f"{s * 100:.{d}f}%"
    if _finite(low) and _finite(high):
        text += f" ({float(low) * 100:.{d}f}–{float(high) * 100:.{d}f}%)"  # type: ignore[arg-type]
    return text


def _points(diff: object, low: object = None, high: object = None) -> str:
    """A difference of shares in percentage points, its interval written with "to" (it
    may run below zero)."""
    if not _finite(diff):
        return SUPPRESSED
    d = float(diff) * 100  # type: ignore[arg-type]
    text = f"{d:+.1f}".replace("-", "−")
    if _finite(low) and _finite(high):
        lo, hi = float(low) * 100, float(high) * 100  # type: ignore[arg-type]
        text += f" ({lo:.1f} to {hi:.1f})".replace("-", "−")
    return text


def _place(area: str) -> str:
    """The area in a sentence."""
    return "Avon and Somerset as a whole" if area == FORCE_AREA else area


def _model_words(label: str) -> str:
    """``vru-victim/2`` → ``vru-victim, version 2``."""
    name, _, version = label.partition("/")
    return f"{name}, version {version}" if version.isdigit() else label


def _period_words(tables: DriversTables) -> str:
    last = tables.as_of - dt.timedelta(days=1)
    return f"{_month(tables.start)} to {_month(last)}"


def slug(area: str) -> str:
    """The folder of an area's report: ``force_area``, ``bath_and_north_east_somerset``."""
    if area == FORCE_AREA:
        return FORCE_AREA_SLUG
    return re.sub(r"[^a-z0-9]+", "_", area.lower()).strip("_")


def _shown_areas(tables: DriversTables, area: str) -> list[str]:
    """The area first, then what it is set beside."""
    if area == FORCE_AREA:
        return [FORCE_AREA, *tables.areas]
    return [area, FORCE_AREA]


def _is_withheld(frame: pd.DataFrame) -> pd.Series:
    return frame["suppressed"].astype(str) != ""


# ------------------------------------------------------------------ charts


@dataclass
class Chart:
    """One embedded chart: the PNG (base64), its alt text and a caption."""

    png: str
    alt: str
    caption: str = ""


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=_DPI)


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    # light compression: several times faster to write, the page stays well under 5 MB
    fig.savefig(buffer, format="png", dpi=_DPI, pil_kwargs={"compress_level": 1})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _style_axes(ax: Any, *, grid: str = "y") -> None:
    """Small labels, light grid lines on the value axis ``grid``, and few ticks on it (each
    tick costs more to draw than anything else on a small chart)."""
    from matplotlib.ticker import MaxNLocator

    values = ax.yaxis if grid == "y" else ax.xaxis
    values.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
    ax.tick_params(labelsize=8)
    ax.grid(axis=grid, color=_GRID, lw=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _series_style(k: int) -> dict[str, Any]:
    """Line ``k`` of a chart: the first (the page's area) dark, solid and thick."""
    return {
        "color": _COLOURS[k % len(_COLOURS)],
        "linestyle": _STYLES[k % len(_STYLES)],
        "marker": _MARKERS[k % len(_MARKERS)],
        "lw": 2.0 if k == 0 else 1.3,
        "markersize": 4.0 if k == 0 else 3.2,
    }


def _bar_style(k: int) -> dict[str, Any]:
    return {
        "facecolor": _FILLS[k % len(_FILLS)],
        "hatch": _HATCHES[k % len(_HATCHES)],
        "edgecolor": "#1b1b1b",
        "linewidth": 0.7,
    }


def _withheld_key() -> Any:
    """The legend's key to a withheld bar."""
    from matplotlib.lines import Line2D

    return Line2D([], [], label=f"withheld ({SUPPRESSED})", **_WITHHELD_MARK)


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


# ------------------------------------------------------------------ 1. trends


@dataclass
class _Trends:
    """The quarterly all-ages, both-sexes series of every measure and area."""

    quarters: list[dt.date]
    labels: list[str]
    #: (measure, area) → rows by quarter: rate, rate_low, rate_high, young_people, withheld
    series: dict[tuple[str, str], pd.DataFrame]

    @classmethod
    def of(cls, quarterly: pd.DataFrame) -> _Trends:
        rows = quarterly[(quarterly["age_band"] == ALL_AGES) & (quarterly["sex"] == BOTH_SEXES)]
        starts = sorted({_date(s) for s in rows["period_start"]})
        labels_by = dict(zip(rows["period_start"].map(_date), rows["period"], strict=False))
        series = {}
        for (measure, area), part in rows.groupby(["measure", "local_authority"], sort=False):
            frame = part.assign(
                start=part["period_start"].map(_date), withheld=_is_withheld(part)
            ).set_index("start")
            frame = frame[["rate", "rate_low", "rate_high", "young_people", "withheld"]]
            frame = frame[~frame.index.duplicated()].reindex(starts)
            frame["withheld"] = frame["withheld"].astype("boolean").fillna(True).astype(bool)
            for column in ("rate", "rate_low", "rate_high", "young_people"):
                frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
            series[(str(measure), str(area))] = frame
        return cls(starts, [str(labels_by[s]) for s in starts], series)

    def get(self, measure: str, area: str) -> pd.DataFrame:
        found = self.series.get((measure, area))
        if found is not None:
            return found
        empty = pd.DataFrame(
            dict.fromkeys(("rate", "rate_low", "rate_high", "young_people"), np.nan),
            index=self.quarters,
        )
        empty["withheld"] = True
        return empty


def _latest_words(frame: pd.DataFrame, labels: Sequence[str]) -> str:
    published = np.flatnonzero(np.isfinite(frame["rate"].to_numpy(dtype=float)))
    withheld = int(frame["withheld"].sum())
    if not len(published):
        return "every quarter withheld (fewer than 10*)"
    i = int(published[-1])
    row = frame.iloc[i]
    text = f"latest published {labels[i]}: {_rate(row['rate'], row['rate_low'], row['rate_high'])}"
    if withheld:
        text += f"; {withheld} of {len(frame)} quarters withheld"
    return text


def _trend_panel(
    ax: Any, trends: _Trends, measure: Any, areas: Sequence[str], legend: list[Any]
) -> str:
    """One measure's quarterly rates; returns the panel's alt text."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    x = np.arange(len(trends.quarters), dtype=float)
    top = 0.0
    words = []
    for k, area in enumerate(areas):
        frame = trends.get(measure.key, area)
        rate = frame["rate"].to_numpy(dtype=float)
        low = frame["rate_low"].to_numpy(dtype=float)
        high = frame["rate_high"].to_numpy(dtype=float)
        style = _series_style(k)
        if k == 0:
            ok = np.isfinite(low) & np.isfinite(high)
            ax.fill_between(
                x, low, high, where=ok, color="#c9d3e6", alpha=0.8, lw=0, interpolate=False
            )
            # a quarter published between two withheld ones: its interval as a bar
            alone = ok & ~np.r_[False, ok[:-1]] & ~np.r_[ok[1:], False]
            if alone.any():
                ax.vlines(x[alone], low[alone], high[alone], color="#9fb0d0", lw=3)
            withheld = frame["withheld"].to_numpy(dtype=bool)
            if withheld.any():  # one hatched collection over the withheld quarters
                ax.broken_barh(
                    [(i - 0.5, 1.0) for i in np.flatnonzero(withheld)],
                    (0, 1),
                    transform=ax.get_xaxis_transform(),
                    facecolor="none",
                    edgecolor="#d0d0d0",
                    hatch=_WITHHELD_HATCH,
                    lw=0,
                )
        ax.plot(x, rate, **style)
        if np.isfinite(high).any():
            top = max(top, float(np.nanmax(high)))
        if np.isfinite(rate).any():
            top = max(top, float(np.nanmax(rate)))
        words.append(f"{area}: {_latest_words(frame, trends.labels)}")
        if len(legend) < len(areas):
            legend.append(Line2D([], [], label=_SHORT.get(area, area), **style))
    if len(legend) == len(areas):
        legend.append(Patch(facecolor="#c9d3e6", edgecolor="none", label="95% interval"))
        legend.append(
            Patch(
                facecolor="white",
                edgecolor="#a0a0a0",
                hatch=_WITHHELD_HATCH,
                label=f"withheld quarter ({SUPPRESSED})",
            )
        )
    if top <= 0:
        ax.text(
            0.5,
            0.5,
            f"Every quarter withheld\n({SUPPRESSED})",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=9,
            color="#444444",
        )
        top = 1.0
    ax.set_ylim(0, top * 1.1)
    ax.set_xlim(-0.5, len(x) - 0.5)
    firsts = [i for i, q in enumerate(trends.quarters) if q.month == 1] or [0]
    ax.set_xticks(firsts, [str(trends.quarters[i].year) for i in firsts])
    ax.set_title(_wrap(_first_upper(measure.title), 40), fontsize=9, loc="left")
    ax.set_ylabel(f"per {measure.per:,}", fontsize=8)
    _style_axes(ax)
    return (
        f"{_first_upper(measure.title)}, {measure.unit}, quarter by quarter from "
        f"{trends.labels[0]} to {trends.labels[-1]}. " + "; ".join(words) + "."
    )


def _trend_chart(trends: _Trends, theme: str, areas: Sequence[str]) -> Chart:
    measures = [m for m in MEASURES if m.theme == theme]
    columns = 3 if len(measures) > 2 else 2
    rows = math.ceil(len(measures) / columns)
    legend_rows = math.ceil((len(areas) + 2) / 4)
    height = 2.35 * rows + 0.25 * legend_rows + 0.2
    fig = _figure(10.5, height)
    bottom = (0.25 * legend_rows + 0.35) / height
    fig.subplots_adjust(
        left=0.06, right=0.99, top=1 - 0.5 / height, bottom=bottom, wspace=0.25, hspace=0.55
    )
    legend: list[Any] = []
    alts = []
    for i, measure in enumerate(measures):
        ax = fig.add_subplot(rows, columns, i + 1)
        alts.append(_trend_panel(ax, trends, measure, areas, legend))
    fig.legend(handles=legend, loc="lower left", ncol=4, fontsize=8, frameon=False)
    return Chart(png=_png(fig), alt="Line charts. " + " ".join(alts))


def _yearly_cell(row: pd.Series | None, digits: int) -> dict[str, str]:
    if row is None or bool(row["withheld"]):
        return {"rate": SUPPRESSED, "interval": "", "count": ""}
    interval = _rate(row["rate"], row["rate_low"], row["rate_high"], digits)
    value, _, rest = interval.partition(" ")
    return {
        "rate": value,
        "interval": rest,
        "count": f"{_count(row['young_people'])} of {_count(row['population'])}",
    }


def _yearly_tables(tables: DriversTables, area: str) -> list[dict[str, Any]]:
    """The serious-violence measures by year, age band and sex.

    An authority: rows are age band and year, columns each sex with the authority beside
    the force area. The force area: the same rows with a column per sex; then the latest
    year with a column per area (the five authorities beside each other).
    """
    yearly = tables.trends_yearly.assign(withheld=_is_withheld(tables.trends_yearly))
    out = []
    bands = [ALL_AGES, *[name for _, _, name in AGE_BANDS]]
    sexes = [BOTH_SEXES, "female", "male"]
    areas = _shown_areas(tables, area)
    for key in SERIOUS_VIOLENCE:
        measure = next(m for m in MEASURES if m.key == key)
        rows = yearly[yearly["measure"] == key]
        if not len(rows):
            continue
        periods = list(dict.fromkeys(rows.sort_values("period_start")["period"]))
        digits = _digits_for(rows["rate"])
        index = {
            (str(r["period"]), str(r["local_authority"]), str(r["age_band"]), str(r["sex"])): r
            for _, r in rows.iterrows()
        }
        # (what, row label, rows of (label, period, sex or None), columns of (sex, area),
        #  headers of (label, sub-labels), where "every column" is)
        layouts: list[dict[str, Any]] = []
        if area == FORCE_AREA:
            layouts.append(
                {
                    "what": "year by year",
                    "row_label": "Year",
                    "rows": [(p, p, None) for p in periods],
                    "columns": [(sex, FORCE_AREA) for sex in sexes],
                    "headers": [(sex, []) for sex in sexes],
                    "everywhere": "both sexes, female and male",
                }
            )
            layouts.append(
                {
                    "what": f"{periods[-1]}, each area",
                    "row_label": "Sex",
                    "rows": [(sex, periods[-1], sex) for sex in sexes],
                    "columns": [(None, a) for a in areas],
                    "headers": [(_SHORT.get(a, a), []) for a in areas],
                    "everywhere": "every area",
                }
            )
        else:
            layouts.append(
                {
                    "what": "year by year",
                    "row_label": "Year",
                    "rows": [(p, p, None) for p in periods],
                    "columns": [(sex, a) for sex in sexes for a in areas],
                    "headers": [(sex, [_SHORT.get(a, a) for a in areas]) for sex in sexes],
                    "everywhere": "here and in the force area",
                }
            )
        for layout in layouts:
            groups = []
            for band in bands:
                lines = []
                for label, period, row_sex in layout["rows"]:
                    cells = [
                        _yearly_cell(index.get((period, a, band, row_sex or sex)), digits)
                        for sex, a in layout["columns"]
                    ]
                    withheld = all(c["rate"] == SUPPRESSED for c in cells)
                    lines.append({"label": label, "cells": cells, "withheld": withheld})
                groups.append({"band": band, "rows": lines})
            out.append(
                {
                    "title": _first_upper(measure.title),
                    "unit": measure.unit,
                    "what": layout["what"],
                    "row_label": layout["row_label"],
                    "everywhere": layout["everywhere"],
                    "headers": layout["headers"],
                    "two_rows": any(subs for _, subs in layout["headers"]),
                    "here": [
                        a == area and len({c for _, c in layout["columns"]}) > 1
                        for _, a in layout["columns"]
                    ],
                    "groups": groups,
                }
            )
    return out


# ------------------------------------------------------------------ 2. pathways


def _pathway_rows(tables: DriversTables) -> dict[tuple[str, int, str], pd.Series]:
    frame = tables.pathways
    return {
        (str(r["pathway"]), int(r["window_months"]), str(r["local_authority"])): r
        for _, r in frame.iterrows()
    }


def _pathway_keys(tables: DriversTables) -> list[str]:
    present = list(dict.fromkeys(tables.pathways["pathway"].astype(str)))
    known = [p.key for p in PATHWAYS if p.key in present]
    return known + [p for p in present if p not in known]


def _pathway_title(tables: DriversTables, key: str) -> str:
    rows = tables.pathways[tables.pathways["pathway"] == key]
    return str(rows["title"].iloc[0]) if len(rows) else key.replace("_", " ")


def _published(row: pd.Series | None) -> bool:
    return row is not None and str(row["suppressed"]) == "" and _finite(row["share"])


def _pathway_sentence(row: pd.Series | None, key: str, title: str, area: str) -> str:
    """The pathway for one area and window in one sentence an analyst can read aloud."""
    who, without = PATHWAY_WORDS.get(key, (f"had {title}", "without it"))
    if row is None:
        return f"No figures for young people in {_place(area)} who {who}."
    window = int(row["window_months"])
    span = f"between {_month(_date(row['signal_from']))} and {_month(_date(row['signal_to']))}"
    if not _published(row):
        return (
            f"For young people in {_place(area)} who {who} {span}, the figures within "
            f"{window} months are withheld ({SUPPRESSED})."
        )
    return (
        f"Of young people in {_place(area)} who {who} {span}, "
        f"{_percent(row['share'], row['share_low'], row['share_high'])} were recorded as "
        f"involved in serious violence, as a victim or a suspect, within {window} months, "
        f"against {_percent(row['matched_share'], row['matched_low'], row['matched_high'])} "
        f"of matched young people of the same age, sex, area and deprivation who {without}."
    )


def _pathway_chart(tables: DriversTables, area: str) -> Chart | None:
    """Each pathway's share (filled) against its matched share (hollow), with intervals,
    within 12 and within 24 months, for each area shown; withheld rows hatched."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    keys = _pathway_keys(tables)
    if not keys:
        return None
    rows = _pathway_rows(tables)
    areas = _shown_areas(tables, area)
    windows = sorted({int(w) for w in tables.pathways["window_months"]})
    # one line per pathway heading and per area under it, top to bottom
    layout: list[tuple[str, str | None]] = []
    for key in keys:
        layout.append((key, None))
        layout.extend((key, a) for a in areas)
    height = 1.0 + 0.25 * len(layout)
    fig = _figure(10.5, height)
    fig.subplots_adjust(
        left=0.16, right=0.98, top=1 - 0.35 / height, bottom=0.7 / height, wspace=0.06
    )
    top = 0.0
    for frame_row in rows.values():
        for column in ("share_high", "matched_high"):
            if _finite(frame_row[column]):
                top = max(top, float(frame_row[column]))
    top = min(1.0, top * 1.08) if top > 0 else 0.1
    y = np.arange(len(layout), dtype=float)[::-1]
    for w, window in enumerate(windows):
        ax = fig.add_subplot(1, len(windows), w + 1)
        marks: dict[str, list[list[float]]] = {"share": [], "matched_share": []}
        withheld = []
        for i, (key, shown) in enumerate(layout):
            if shown is None:
                if i:  # a thin rule between pathways
                    ax.axhline(y[i] + 0.5, color="#bbbbbb", lw=0.6)
                continue
            row = rows.get((key, window, shown))
            if not _published(row):
                withheld.append(y[i])
                continue
            assert row is not None
            for value, low, high, offset in (
                ("share", "share_low", "share_high", 0.15),
                ("matched_share", "matched_low", "matched_high", -0.15),
            ):
                marks[value].append(
                    [float(row[value]), float(row[low]), float(row[high]), y[i] + offset]
                )
        if withheld:
            ax.barh(withheld, top, height=0.8, left=0, facecolor="none",
                    edgecolor="#c4c4c4", hatch=_WITHHELD_HATCH, lw=0)  # fmt: skip
        for value, face, marker, style in (
            ("share", "#1b1b1b", "o", "-"),
            ("matched_share", "white", "s", "--"),
        ):
            if not marks[value]:
                continue
            points = np.array(marks[value], dtype=float)
            ok = np.isfinite(points[:, 1]) & np.isfinite(points[:, 2])
            ax.hlines(points[ok, 3], points[ok, 1], points[ok, 2], color="#1b1b1b",
                      linestyle=style, lw=1.1)  # fmt: skip
            ax.plot(points[:, 0], points[:, 3], marker=marker, markersize=5.5,
                    markerfacecolor=face, markeredgecolor="#1b1b1b", linestyle="none")  # fmt: skip
        ax.set_ylim(-0.6, len(layout) - 0.4)
        ax.set_xlim(0, top)
        ax.xaxis.set_major_formatter(lambda v, _: f"{v * 100:.0f}%")
        ax.set_title(f"Within {window} months of the signal", fontsize=9, loc="left")
        _style_axes(ax, grid="x")
        rows_at = [i for i, (_, shown) in enumerate(layout) if shown is not None]
        if w == 0:
            ax.set_yticks(
                y[rows_at], [_SHORT.get(str(layout[i][1]), str(layout[i][1])) for i in rows_at]
            )
            for i, (key, shown) in enumerate(layout):
                if shown is None:  # the pathway's heading, across the panel
                    ax.text(0, y[i], _first_upper(_pathway_title(tables, key)),
                            transform=ax.get_yaxis_transform(), ha="left", va="center",
                            fontsize=8.5, fontweight="bold")  # fmt: skip
        else:
            ax.set_yticks(y[rows_at], [""] * len(rows_at))
        ax.tick_params(axis="y", length=0)
    alt = []
    for key in keys:
        for window in windows:
            for shown in areas:
                row = rows.get((key, window, shown))
                if _published(row):
                    assert row is not None
                    alt.append(
                        f"{_first_upper(_pathway_title(tables, key))}, {shown}, within {window} "
                        "months: "
                        f"{_percent(row['share'])} against {_percent(row['matched_share'])} "
                        "of matched young people"
                    )
    fig.legend(
        handles=[
            Line2D([], [], color="#1b1b1b", marker="o", markersize=5.5,
                   label="young people with the signal (line: 95% interval)"),
            Line2D([], [], color="#1b1b1b", linestyle="--", marker="s", markersize=5.5,
                   markerfacecolor="white", label="matched young people without it"),
            Patch(facecolor="white", edgecolor="#a0a0a0", hatch=_WITHHELD_HATCH,
                  label=f"withheld ({SUPPRESSED})"),
        ],
        loc="lower left",
        ncol=3,
        fontsize=8,
        frameon=False,
    )  # fmt: skip
    text = (
        "Chart of the share of young people recorded as involved in serious violence after "
        "each signal, against matched young people without it, within "
        + " and ".join(f"{w}" for w in windows)
        + " months. "
    )
    text += ("; ".join(alt) + ".") if alt else f"Every figure is withheld ({SUPPRESSED})."
    return Chart(png=_png(fig), alt=text)


def _pathway_views(tables: DriversTables, area: str) -> list[dict[str, Any]]:
    rows = _pathway_rows(tables)
    areas = _shown_areas(tables, area)
    windows = sorted({int(w) for w in tables.pathways["window_months"]})
    views = []
    for key in _pathway_keys(tables):
        title = _pathway_title(tables, key)
        sentences = []
        longest = windows[-1] if windows else 24
        for shown in areas if area != FORCE_AREA else [FORCE_AREA]:
            row = rows.get((key, longest, shown))
            sentences.append(_pathway_sentence(row, key, title, shown))
            if not _published(row) and len(windows) > 1:
                shorter = rows.get((key, windows[0], shown))
                if _published(shorter):
                    sentences.append(_pathway_sentence(shorter, key, title, shown))
        table: list[dict[str, Any]] = []
        for shown in areas:
            cells: list[dict[str, Any]] = []
            for window in windows:
                row = rows.get((key, window, shown))
                if _published(row):
                    assert row is not None
                    cells.append(
                        {
                            "withheld": False,
                            "cohort": _count(row["young_people"]),
                            "share": _percent(row["share"], row["share_low"], row["share_high"]),
                            "matched": _percent(
                                row["matched_share"], row["matched_low"], row["matched_high"]
                            ),
                            "difference": _points(
                                row["difference"], row["difference_low"], row["difference_high"]
                            ),
                        }
                    )
                else:
                    cells.append({"withheld": True})
            table.append({"area": shown, "cells": cells})
        all_withheld = all(c.get("withheld") for r in table for c in r["cells"])
        if all_withheld:
            who, _ = PATHWAY_WORDS.get(key, (f"had {title}", ""))
            where = "any area" if area == FORCE_AREA else f"{area} or in the force area"
            sentences = [
                f"For young people in {where} who {who}, every figure is withheld ({SUPPRESSED})."
            ]
        views.append(
            {
                "key": key,
                "title": _first_upper(title),
                "sentences": sentences,
                "support": PATHWAY_SUPPORT.get(key, ""),
                "windows": windows,
                "table": table,
                "all_withheld": all_withheld,
            }
        )
    return views


# ------------------------------------------------------------------ 3. the models


def _domain_order(present: Iterable[str]) -> list[str]:
    found = list(dict.fromkeys(str(d) for d in present))
    return [d for d in DOMAINS if d in found] + sorted(d for d in found if d not in DOMAINS)


def _outcome_keys(tables: DriversTables) -> list[str]:
    present = [*tables.models, *tables.contributions["outcome"].astype(str)]
    named = list(dict.fromkeys(present))
    return [o for o in OUTCOMES if o in named] + sorted(o for o in named if o not in OUTCOMES)


def _contribution_chart(
    rows: pd.DataFrame, areas: Sequence[str], heading: str, latest: str
) -> Chart:
    """Domain shares at the latest quarter by area (all young people; the panel lists),
    and each domain's share over the quarters for the page's area."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    domains = _domain_order(rows["domain"])
    quarters = sorted(rows["as_of"].astype(str).unique())
    height = max(3.2, 1.6 + 0.08 * len(domains) * len(areas))
    fig = _figure(10.5, height)
    fig.subplots_adjust(
        left=0.11, right=0.98, top=1 - 0.45 / height, bottom=1.05 / height, wspace=0.35
    )
    grid = fig.add_gridspec(1, 3, width_ratios=[1, 1, 1.15])
    y = np.arange(len(domains), dtype=float)
    width = 0.8 / len(areas)
    top = 0.0
    withheld_any = False
    alt = []
    for p, who in enumerate((ALL_YOUNG_PEOPLE, LISTED)):
        ax = fig.add_subplot(grid[0, p])
        part = rows[(rows["who"] == who) & (rows["as_of"].astype(str) == latest)]
        for k, shown in enumerate(areas):
            mine = part[part["local_authority"] == shown].drop_duplicates("domain")
            mine = mine.set_index("domain").reindex(domains)
            share = pd.to_numeric(mine["share"], errors="coerce").to_numpy(dtype=float)
            yy = y - 0.4 + width * (k + 0.5)
            ok = np.isfinite(share)
            ax.barh(yy[ok], share[ok], height=width, **_bar_style(k))
            if (~ok).any():
                withheld_any = True
                ax.plot(np.zeros(int((~ok).sum())), yy[~ok], **_WITHHELD_MARK)
            if ok.any():
                top = max(top, float(share[ok].max()))
                best = int(np.nanargmax(np.where(ok, share, -1)))
                alt.append(
                    f"{_first_upper(who)}, {shown}: leans most on {domains[best]} "
                    f"({_percent(share[best])})"
                )
        ax.set_yticks(y, domains if p == 0 else [""] * len(domains))
        ax.invert_yaxis()
        ax.set_title(_first_upper(who), fontsize=9, loc="left")
        ax.xaxis.set_major_formatter(lambda v, _: f"{v * 100:.0f}%")
        _style_axes(ax, grid="x")
        ax.tick_params(axis="y", length=0)
    for ax in fig.axes:
        ax.set_xlim(0, min(1.0, max(top * 1.1, 0.05)))
    # each domain's share over the quarters, the page's area, all young people
    ax = fig.add_subplot(grid[0, 2])
    own = rows[(rows["who"] == ALL_YOUNG_PEOPLE) & (rows["local_authority"] == areas[0])]
    x = np.arange(len(quarters), dtype=float)
    domain_keys = []
    for k, domain in enumerate(domains):
        mine = own[own["domain"] == domain].drop_duplicates("as_of").set_index("as_of")
        series = pd.to_numeric(mine["share"], errors="coerce").reindex(quarters)
        style = _series_style(k)
        style["lw"], style["markersize"] = 1.4, 3.5
        ax.plot(x, series.to_numpy(dtype=float), **style)
        domain_keys.append(Line2D([], [], label=domain, **style))
    ax.set_xticks(x, [_date(q).strftime("%b\n%Y") for q in quarters])
    ax.yaxis.set_major_formatter(lambda v, _: f"{v * 100:.0f}%")
    ax.set_ylim(bottom=0)
    ax.set_title(
        _wrap(f"{_SHORT.get(areas[0], areas[0])}, all young people, quarter by quarter", 44),
        fontsize=9,
        loc="left",
    )
    _style_axes(ax)
    area_keys = [Patch(label=_SHORT.get(a, a), **_bar_style(k)) for k, a in enumerate(areas)]
    if withheld_any:
        area_keys.append(_withheld_key())
    fig.legend(handles=area_keys, loc="lower left", ncol=min(len(areas), 3), fontsize=8,
               frameon=False)  # fmt: skip
    fig.legend(handles=domain_keys, loc="lower right", ncol=3, fontsize=8, frameon=False)
    text = (
        f"Bar charts of the share of what the model for {heading.lower()} leans on, by domain, "
        f"as at {_long_date(_date(latest))}, and a line chart of each domain's share "
        f"at the last {len(quarters)} quarterly dates in {areas[0]}. " + "; ".join(alt) + "."
    )
    if withheld_any:
        text += f" Some figures are withheld ({SUPPRESSED})."
    return Chart(png=_png(fig), alt=text)


def _model_views(tables: DriversTables, area: str) -> list[dict[str, Any]]:
    areas = _shown_areas(tables, area)
    frame = tables.contributions
    views = []
    for outcome in _outcome_keys(tables):
        known = OUTCOMES.get(outcome)
        heading = known.heading if known else f"Risk: {outcome}"
        described = str(tables.models.get(outcome, ""))
        rows = frame[frame["outcome"].astype(str) == outcome] if len(frame) else frame
        view: dict[str, Any] = {"heading": heading, "model": "", "message": "", "tables": []}
        if not len(rows):
            if "switched off" in described:
                label = described.split(" is switched off")[0]
                view["message"] = (
                    f"The model ({_model_words(label)}) is switched off, so it is not "
                    "described here."
                )
            else:
                view["message"] = "No model was released for this outcome, so none is described."
            views.append(view)
            continue
        labels = sorted({str(m) for m in rows["model"]})
        view["model"] = ", ".join(_model_words(m) for m in labels)
        latest = max(rows["as_of"].astype(str))
        view["latest"] = _long_date(_date(latest))
        view["chart"] = _contribution_chart(rows, areas, heading, latest)
        domains = _domain_order(rows["domain"])
        for who in (ALL_YOUNG_PEOPLE, LISTED):
            part = rows[(rows["who"] == who) & (rows["as_of"].astype(str) == latest)]
            index = {(str(r["local_authority"]), str(r["domain"])): r for _, r in part.iterrows()}
            body = []
            for domain in domains:
                body.append(
                    {
                        "domain": domain,
                        "cells": [
                            _percent(index[(a, domain)]["share"])
                            if (a, domain) in index and str(index[(a, domain)]["suppressed"]) == ""
                            else SUPPRESSED
                            for a in areas
                        ],
                    }
                )
            described_n = []
            for a in areas:
                first = part[part["local_authority"] == a]
                if len(first) and str(first["suppressed"].iloc[0]) == "":
                    described_n.append(_count(first["young_people"].iloc[0]))
                else:
                    described_n.append(SUPPRESSED)
            view["tables"].append(
                {"who": who, "areas": areas, "rows": body, "described": described_n}
            )
        views.append(view)
    return views


# ------------------------------------------------------------------ 4. recording


def _group_label(row: pd.Series) -> tuple[str, str]:
    """(split, group) of a recording row, in words."""
    split = str(row["split"])
    if split == "ethnicity":
        return "by ethnic group", str(row["ethnicity"])
    if split == "deprivation quintile":
        return "by deprivation quintile", f"quintile {row['deprivation_quintile']}"
    return "all", "all young people"


def _groups(frame: pd.DataFrame, split: str) -> list[str]:
    if split == "ethnicity":
        present = list(dict.fromkeys(frame["ethnicity"].astype(str)))
        present = [g for g in present if g != ALL_GROUPS]
        return [g for g in _ETHNIC_ORDER if g in present] + [
            g for g in present if g not in _ETHNIC_ORDER
        ]
    present = [str(g) for g in dict.fromkeys(frame["deprivation_quintile"]) if g != ALL_QUINTILES]
    return sorted(present)


def _key(split: str, group: str) -> tuple[str, str, str]:
    if split == "ethnicity":
        return split, group, ALL_QUINTILES
    return split, ALL_GROUPS, group


_SPLITS = (
    ("all", "All young people"),
    ("ethnicity", "By ethnic group"),
    ("deprivation quintile", "By deprivation quintile"),
)


def _group_rows(
    frame: pd.DataFrame, areas: Sequence[str], cell: Callable[[pd.Series | None], dict[str, str]]
) -> list[dict[str, Any]]:
    """The by-group table of a recording frame: one block per split (everyone, ethnic
    group, deprivation quintile), one line per group, one ``cell(row)`` per area (``None``
    when the frame has no such row)."""
    index = {
        (str(r["split"]), str(r["local_authority"]), str(r["ethnicity"]),
         str(r["deprivation_quintile"])): r
        for _, r in frame.iterrows()
    }  # fmt: skip
    body = []
    for split, heading in _SPLITS:
        lines = []
        for group in [""] if split == "all" else _groups(frame, split):
            key = ("all", ALL_GROUPS, ALL_QUINTILES) if split == "all" else _key(split, group)
            if split == "all":
                label = "all"
            else:
                label = group if split == "ethnicity" else f"quintile {group}"
            cells = [cell(index.get((key[0], shown, key[1], key[2]))) for shown in areas]
            lines.append({"group": label, "cells": cells})
        body.append({"heading": heading, "rows": lines})
    return body


def _bars(
    ax: Any,
    labels: Sequence[str],
    areas: Sequence[str],
    value_of: Callable[[str, str], tuple[float, float, float]],
) -> tuple[float, bool]:
    """Horizontal bars with interval whiskers, one group per label, one bar per area."""
    y = np.arange(len(labels), dtype=float)
    width = 0.8 / len(areas)
    top = 0.0
    withheld = False
    for k, shown in enumerate(areas):
        values = np.array([value_of(shown, g) for g in labels], dtype=float).reshape(-1, 3)
        yy = y - 0.4 + width * (k + 0.5)
        ok = np.isfinite(values[:, 0])
        ax.barh(yy[ok], values[ok, 0], height=width, **_bar_style(k))
        whisker = ok & np.isfinite(values[:, 1]) & np.isfinite(values[:, 2])
        if whisker.any():
            ax.errorbar(
                values[whisker, 0],
                yy[whisker],
                xerr=np.vstack(
                    [
                        np.clip(values[whisker, 0] - values[whisker, 1], 0, None),
                        np.clip(values[whisker, 2] - values[whisker, 0], 0, None),
                    ]
                ),
                fmt="none",
                ecolor="#1b1b1b",
                elinewidth=0.8,
                capsize=1.5,
            )
            top = max(top, float(values[whisker, 2].max()))
        if ok.any():
            top = max(top, float(values[ok, 0].max()))
        if (~ok).any():
            withheld = True
            ax.plot(np.zeros(int((~ok).sum())), yy[~ok], **_WITHHELD_MARK)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.tick_params(axis="y", length=0)
    _style_axes(ax, grid="x")
    return top, withheld


def _recording_chart(frame: pd.DataFrame, measure: str, areas: Sequence[str]) -> Chart:
    rows = frame[frame["measure"] == measure]
    title = str(rows["title"].iloc[0])
    unit = str(rows["unit"].iloc[0])
    index = {
        (str(r["split"]), str(r["local_authority"]), str(r["ethnicity"]),
         str(r["deprivation_quintile"])): r
        for _, r in rows.iterrows()
    }  # fmt: skip
    splits = [("ethnicity", "By ethnic group"), ("deprivation quintile", "By deprivation quintile")]
    n = max(len(_groups(rows, s)) for s, _ in splits)
    height = max(2.6, 1.2 + 0.13 * n * len(areas))
    fig = _figure(10.5, height)
    fig.subplots_adjust(
        left=0.16, right=0.98, top=1 - 0.45 / height, bottom=0.7 / height, wspace=0.45
    )
    top = 0.0
    withheld = False
    alt = []
    axes = []
    for p, (split, heading) in enumerate(splits):
        groups = _groups(rows, split)
        ax = fig.add_subplot(1, 2, p + 1)
        axes.append(ax)

        labels = groups if split == "ethnicity" else [_quintile_short(g) for g in groups]
        group_of = dict(zip(labels, groups, strict=True))

        def value_of(
            shown: str, group: str, split: str = split, group_of: dict[str, str] = group_of
        ) -> tuple[float, float, float]:
            """A group's rate and interval in one area (by its name or its chart label)."""
            s, e, q = _key(split, group_of.get(group, group))
            row = index.get((s, shown, e, q))
            if row is None or str(row["suppressed"]) != "":
                return (math.nan, math.nan, math.nan)
            return (float(row["rate"]), float(row["rate_low"]), float(row["rate_high"]))

        t, w = _bars(ax, labels, areas, value_of)
        top, withheld = max(top, t), withheld or w
        ax.set_title(heading, fontsize=9, loc="left")
        ax.set_xlabel(unit, fontsize=8)
        for shown in areas:
            figures = [
                f"{g}: {_rate(*value_of(shown, g))}"
                for g in groups
                if _finite(value_of(shown, g)[0])
            ]
            if figures:
                alt.append(f"{shown}, {heading.lower()}: " + ", ".join(figures))
    for ax in axes:
        ax.set_xlim(0, top * 1.08 if top > 0 else 1.0)
    from matplotlib.patches import Patch

    keys = [Patch(label=_SHORT.get(a, a), **_bar_style(k)) for k, a in enumerate(areas)]
    fig.legend(
        handles=[*keys, _withheld_key()] if withheld else keys,
        loc="lower left",
        ncol=min(len(keys) + withheld, 7),
        fontsize=8,
        frameon=False,
    )
    text = f"Bar charts of young people {title}, {unit}, by ethnic group and by deprivation "
    text += "quintile. " + (
        "; ".join(alt) + "." if alt else f"Every figure withheld ({SUPPRESSED})."
    )
    if withheld and alt:
        text += f" Some figures are withheld ({SUPPRESSED})."
    return Chart(png=_png(fig), alt=text)


def _quintile_short(group: str) -> str:
    return group.replace(" (most deprived)", "\n(most deprived)").replace(
        " (least deprived)", "\n(least deprived)"
    )


def _recording_views(tables: DriversTables, area: str) -> list[dict[str, Any]]:
    frame = tables.recording
    areas = _shown_areas(tables, area)
    views = []
    present = list(dict.fromkeys(frame["measure"].astype(str)))
    for measure in [m for m in RECORDING_MEASURES if m in present] + [
        m for m in present if m not in RECORDING_MEASURES
    ]:
        rows = frame[frame["measure"] == measure]
        digits = _digits_for(rows["rate"])

        def cell(row: pd.Series | None, digits: int = digits) -> dict[str, str]:
            if row is None or str(row["suppressed"]) != "":
                return {"rate": SUPPRESSED, "count": ""}
            return {
                "rate": _rate(row["rate"], row["rate_low"], row["rate_high"], digits),
                "count": f"{_count(row['young_people'])} of {_count(row['population'])}",
            }

        body = _group_rows(rows, areas, cell)
        views.append(
            {
                "title": _first_upper(str(rows["title"].iloc[0])),
                "unit": str(rows["unit"].iloc[0]),
                "chart": _recording_chart(frame, measure, areas),
                "areas": areas,
                "groups": body,
            }
        )
    return views


def _truth_chart(truth: pd.DataFrame, shown: str) -> Chart:
    """Recorded against true involvement per group (paired bars) in one area, on the scale
    shared by every area (so the force area's chart is drawn once for every page)."""
    from matplotlib.patches import Patch

    index = {
        (str(r["split"]), str(r["ethnicity"]), str(r["deprivation_quintile"])): r
        for _, r in truth[truth["local_authority"] == shown].iterrows()
    }
    published = truth[truth["suppressed"].astype(str) == ""]
    highs = pd.to_numeric(published["true_high"], errors="coerce").tolist()
    highs += pd.to_numeric(published["recorded_high"], errors="coerce").tolist()
    top = max([h for h in highs if _finite(h)], default=0.0)
    splits = [("ethnicity", "by ethnic group"), ("deprivation quintile", "by deprivation quintile")]
    height = 3.1
    fig = _figure(10.5, height)
    fig.subplots_adjust(left=0.16, right=0.98, top=1 - 0.35 / height, bottom=0.95 / height,
                        wspace=0.45)  # fmt: skip
    alt = []
    withheld = False
    for p, (split, heading) in enumerate(splits):
        ax = fig.add_subplot(1, 2, p + 1)
        groups = _groups(truth, split)
        labels = groups if split == "ethnicity" else [_quintile_short(g) for g in groups]

        def value_of(
            which: str, label: str, split: str = split, groups: list[str] = groups,
            labels: list[str] = labels,
        ) -> tuple[float, float, float]:  # fmt: skip
            row = index.get(_key(split, groups[labels.index(label)]))
            if row is None or str(row["suppressed"]) != "":
                return (math.nan, math.nan, math.nan)
            return (
                float(row[f"{which}_rate"]),
                float(row[f"{which}_low"]),
                float(row[f"{which}_high"]),
            )

        withheld = _bars(ax, labels, ["recorded", "true"], value_of)[1] or withheld
        ax.set_xlim(0, top * 1.08 if top > 0 else 1.0)
        ax.set_title(f"{_SHORT.get(shown, shown)}, {heading}", fontsize=9, loc="left")
        ax.set_xlabel("per 1,000 young people aged 10–24", fontsize=8)
        figures = []
        for g, label in zip(groups, labels, strict=True):
            rec, tru = value_of("recorded", label)[0], value_of("true", label)[0]
            if _finite(rec) and _finite(tru):
                figures.append(f"{g}: recorded {_rate(rec, digits=1)}, true {_rate(tru, digits=1)}")
        if figures:
            alt.append(f"{_first_upper(heading)}: " + ", ".join(figures))
    keys = [
        Patch(label="recorded involvement", **_bar_style(0)),
        Patch(label="true involvement (known on synthetic data only)", **_bar_style(1)),
    ]
    fig.legend(
        handles=[*keys, _withheld_key()] if withheld else keys,
        loc="lower left",
        ncol=3,
        fontsize=8,
        frameon=False,
    )
    text = (
        f"Bar charts of recorded and true involvement in serious violence in {shown}, per "
        "1,000 young people, by ethnic group and by deprivation quintile. "
    )
    text += ("; ".join(alt) + ".") if alt else f"Every figure withheld ({SUPPRESSED})."
    return Chart(png=_png(fig), alt=text)


def _truth_view(
    tables: DriversTables, area: str, cache: dict[tuple[str, str], Chart]
) -> dict[str, Any] | None:
    truth = tables.recording_truth
    if truth is None:
        return None
    areas = _shown_areas(tables, area)
    # six areas side by side leave no room for intervals (the charts and tables have them)
    intervals = len(areas) <= 2

    def cell(row: pd.Series | None) -> dict[str, str]:
        if row is None or str(row["suppressed"]) != "":
            return {"recorded": SUPPRESSED, "true": "", "share": ""}
        if intervals:
            return {
                "recorded": _rate(
                    row["recorded_rate"], row["recorded_low"], row["recorded_high"], 1
                ),
                "true": _rate(row["true_rate"], row["true_low"], row["true_high"], 1),
                "share": _percent(row["recorded_share"]),
            }
        return {
            "recorded": _rate(row["recorded_rate"], digits=1),
            "true": _rate(row["true_rate"], digits=1),
            "share": _percent(row["recorded_share"]),
        }

    body = _group_rows(truth, areas, cell)
    charts = []
    for shown in [area] if area == FORCE_AREA else areas:
        if ("truth", shown) not in cache:
            cache[("truth", shown)] = _truth_chart(truth, shown)
        charts.append(cache[("truth", shown)])
    return {"charts": charts, "areas": areas, "groups": body, "intervals": intervals}


# ------------------------------------------------------------------ the page


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("drivers", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["first_upper"] = _first_upper
    # a figure and its interval are never split across lines
    environment.filters["fig"] = lambda text: markupsafe.Markup(
        '<span class="fig">{}</span>'
    ).format(text)
    environment.filters["short"] = lambda area: _SHORT.get(area, area)
    return environment


@dataclass
class _Page:
    """What every page of one run shares (worked out once by :func:`write_reports`)."""

    tables: DriversTables
    trends: _Trends
    made: dt.date = field(default_factory=dt.date.today)
    #: charts every page shows alike (the force area's), drawn once
    cache: dict[tuple[str, str], Chart] = field(default_factory=dict)


def _render(page: _Page, area: str, mlflow_run_id: str | None) -> str:
    tables = page.tables
    if area != FORCE_AREA and area not in tables.areas:
        known = ", ".join([FORCE_AREA, *tables.areas])
        raise ValueError(f"no drivers report for {area!r}: the tables cover {known}")
    areas = _shown_areas(tables, area)
    themes = []
    present = (
        set(tables.trends_quarterly["theme"].astype(str)) if len(tables.trends_quarterly) else set()
    )
    for theme, heading in THEMES:
        if theme in present:
            themes.append(
                {
                    "heading": heading,
                    "chart": _trend_chart(page.trends, theme, areas),
                    "units": [
                        f"{_first_upper(m.title)}: {m.unit}" for m in MEASURES if m.theme == theme
                    ],
                }
            )
    pathway_chart = _pathway_chart(tables, area) if len(tables.pathways) else None
    models = [
        (OUTCOMES[o].heading if o in OUTCOMES else o, _model_words(str(label)))
        for o, label in tables.models.items()
    ]
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            area=area,
            is_force=area == FORCE_AREA,
            force_area=FORCE_AREA,
            place=_place(area),
            title_place="Avon and Somerset" if area == FORCE_AREA else area,
            beside=[a for a in areas if a != area],
            areas=areas,
            period=_period_words(tables),
            as_of=_long_date(tables.as_of),
            made=_long_date(page.made),
            fingerprint=tables.data_fingerprint[:12],
            synthetic=tables.recording_truth is not None,
            suppressed=SUPPRESSED,
            suppressed_note=SUPPRESSED_NOTE,
            threshold=THRESHOLD,
            round_to=ROUND_TO,
            suppressed_cells=f"{tables.suppressed_cells:,}",
            themes=themes,
            yearly=_yearly_tables(tables, area),
            pathway_chart=pathway_chart,
            pathways=_pathway_views(tables, area) if len(tables.pathways) else [],
            model_views=_model_views(tables, area),
            models=models,
            recording=_recording_views(tables, area) if len(tables.recording) else [],
            truth=_truth_view(tables, area, page.cache),
            run_id=mlflow_run_id or "",
            notes=list(tables.notes),
            years=tables.years,
        )
    )


def render_report(tables: DriversTables, area: str, *, mlflow_run_id: str | None = None) -> str:
    """The drivers report for one area as one self-contained HTML string.

    Parameters
    ----------
    tables
        The protected tables of one run (:func:`drivers.run.build_drivers`).
    area
        One of ``tables.areas`` (set beside the force area), or
        :data:`drivers.base.FORCE_AREA` (the five authorities beside each other).
    mlflow_run_id
        The run's MLflow id, when it was recorded (named in the footer).

    Returns
    -------
    str
        The page: charts are embedded PNGs, nothing is fetched from elsewhere.

    Raises
    ------
    ValueError
        ``area`` is neither the force area nor one of ``tables.areas``.
    """
    return _render(_Page(tables, _Trends.of(tables.trends_quarterly)), area, mlflow_run_id)


def _area_rows(frame: pd.DataFrame, area: str) -> pd.DataFrame:
    """The rows an area's folder holds: its own and the force area's (every row for the
    force area)."""
    if area == FORCE_AREA or "local_authority" not in frame.columns:
        return frame
    return frame[frame["local_authority"].astype(str).isin([area, FORCE_AREA])]


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    out = frame.copy()
    floats = [c for c in out.columns if pd.api.types.is_float_dtype(out[c])]
    out[floats] = out[floats].round(4)
    out.to_csv(path, index=False)


def write_reports(
    folder: Path, tables: DriversTables, *, mlflow_run_id: str | None = None
) -> list[Path]:
    """Write each area's report and tables: ``folder/<slug>/report.html`` and
    ``folder/<slug>/<table>.csv``, for the force area (``force_area``, every row) and each
    of ``tables.areas`` (its rows and the force area's).

    Suppressed cells are empty in the CSV files, and their ``suppressed`` column carries
    :data:`drivers.disclosure.SUPPRESSED`; figures are rounded to 4 decimals.

    Parameters
    ----------
    folder
        Where the areas' folders go (made if missing; files in it are overwritten).
    tables
        The protected tables of one run.
    mlflow_run_id
        The run's MLflow id, when it was recorded.

    Returns
    -------
    list[Path]
        The reports written, the force area's first.
    """
    page = _Page(tables, _Trends.of(tables.trends_quarterly))
    written = []
    for area in [FORCE_AREA, *tables.areas]:
        target = folder / slug(area)
        target.mkdir(parents=True, exist_ok=True)
        for name, frame in tables.tables().items():
            _write_csv(_area_rows(frame, area), target / f"{name}.csv")
        path = target / REPORT
        path.write_text(_render(page, area, mlflow_run_id), encoding="utf-8")
        written.append(path)
    return written
