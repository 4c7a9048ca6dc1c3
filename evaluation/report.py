"""The board report of ``vru evaluate``: does the panels' help work?

One self-contained HTML page for the partnership board, and the CSV tables behind it,
from an already-computed :class:`evaluation.results.Evaluation`:

1. what was evaluated (period, listings and young people, each panel's capacity);
2. the answer in brief, one box per list and outcome: the effect of being discussed and
   of a year of help taken up, and how sure we can be;
3. what this does and does not show (the effect at the cut, crossover, recording);
4. the picture at the cut: the share involved at each place either side of it;
5. the checks a careful evaluator runs (listings either side, records before the list
   month, pretend cuts, other bandwidths), each with a verdict in plain words;
6. how long the panels must run before an effect could be told from none;
7. the effect in each authority alone;
8. on synthetic data, the known answer and whether the estimate finds it;
9. the run's notes, and how the page was made.

An estimate that could not be made shows its reason and no figure, on the page, in the
charts and in the tables (its figures are empty). Charts are PNGs drawn with matplotlib
and embedded in the page (nothing is fetched from elsewhere); markers and fills keep them
readable printed in black and white.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import math
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import numpy as np
import pandas as pd

from drivers.disclosure import ROUND_TO, SUPPRESSED, THRESHOLD, round_count
from evaluation.results import Bin, Estimate, Evaluation, ListOutcome
from features.vocabulary import LISTS, LOCAL_AUTHORITIES

__all__ = [
    "ESTIMATE_COLUMNS", "REPORT", "TABLES", "list_words", "outcome_words", "render_report",
    "tables", "write_report",
]  # fmt: skip

#: the page's file name
REPORT = "report.html"
#: the tables written beside it (``<name>.csv``)
TABLES = ("estimates", "rd_bins", "balance", "placebo", "bandwidths", "detectable", "by_area")
#: the columns every table of estimates carries (shares as proportions: 0.05 = 5 points);
#: all but ``withheld`` are empty where an estimate could not be made
ESTIMATE_COLUMNS = (
    "effect",
    "low",
    "high",
    "p_value",
    "bandwidth",
    "n_below",
    "n_above",
    "level_below",
    "withheld",
)
#: the reason shown when an estimate without a figure gives none
TOO_FEW = "too few young people near the cut to estimate"

#: how each outcome reads in a sentence: "the share of young people <words> in the next
#: 12 months"
OUTCOME_WORDS: dict[str, str] = {
    "victim": "harmed by serious violence",
    "perpetrator": "involved in harming others",
}
#: what each outcome's list is for
_LIST_RISK: dict[str, str] = {
    "victim": "risk of being harmed",
    "perpetrator": "risk of harming others",
}
_LIST_SHORT: dict[str, str] = {"known": "Already-known list", "early": "Early-help list"}
_HAND_RULES = "hand_rules"
_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_MINUS = "\u2212"
#: a place's listings may differ by this share from the places around it before the
#: density check calls it a dip or a heap
DENSITY_TOLERANCE = 0.15
#: the places either side of the cut the density check looks at, and their neighbours
_NEAR = (-1, 0, 1, 2)
_NEIGHBOURS = (*range(-7, -1), *range(3, 9))

# ------------------------------------------------------------------ chart styles
# the drivers report's conventions: dark navy for what the page is about, dark grey
# beside it, light grid lines; hatching and markers carry the difference in black and white
_DPI = 110
_NAVY = "#1f3b73"
_GREY = "#333333"
_GRID = "#e4e4e4"
_HATCH = "////"
_WIDTH = 7.2


# ------------------------------------------------------------------ words and figures


def _finite(value: object) -> bool:
    if value is None or isinstance(value, bool | str):
        return False
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def _month(day: dt.date) -> str:
    return f"{_MONTHS[day.month - 1]} {day.year}"


def _signed(number: float, digits: int = 1) -> str:
    """``+1.2``, ``−3.0``, ``0.0`` (a true minus sign; no sign on a rounded zero)."""
    text = f"{number:+.{digits}f}"
    if float(text) == 0:
        return f"{0:.{digits}f}"
    return text.replace("-", _MINUS)


def _points(share: float) -> str:
    """A difference of shares in percentage points, one decimal: ``−2.0``."""
    return _signed(share * 100)


def _percent(share: float) -> str:
    """``7.5%`` (one decimal under 10%), ``23%``."""
    value = share * 100
    return f"{value:.1f}%" if abs(value) < 10 else f"{value:.0f}%"


def _count(value: int) -> str:
    """A count rounded to the nearest :data:`drivers.disclosure.ROUND_TO`."""
    return f"{int(round_count(np.array([value]))[0]):,}"


def _number(value: float, *, signed: bool = False) -> str:
    """A figure in its own unit (a record's average or share), two decimals."""
    return _signed(value, 2) if signed else f"{value:.2f}".replace("-", _MINUS)


def _years(years: float, *, words: bool = False) -> str:
    """``1 year``, ``2.5 years``; with ``words``, ``one year``, ``two years``."""
    whole = float(years).is_integer()
    n = int(years) if whole else years
    text = _NUMBER_WORDS[int(n)] if words and whole and 0 < n < 10 else f"{round(n, 1):g}"
    return f"{text} year" if years == 1 else f"{text} years"


def _in_100(relative: float) -> str:
    """A relative change as ``20 in 100 fewer`` / ``5 in 100 more`` / ``no change``."""
    n = round(min(abs(relative), 1.0) * 100) if relative < 0 else round(relative * 100)
    if n == 0:
        return "no change"
    return f"{n} in 100 {'fewer' if relative < 0 else 'more'}"


def _place(place: float) -> str:
    """A place from the cut, with a true minus sign: ``−10``, ``12.5``."""
    return f"{place:g}".replace("-", _MINUS)


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def _has_interval(estimate: Estimate) -> bool:
    return estimate.estimated and _finite(estimate.low) and _finite(estimate.high)


def _covers(estimate: Estimate, value: float = 0.0) -> bool | None:
    """Whether the estimate's interval holds ``value``; ``None`` without an interval."""
    if not _has_interval(estimate):
        return None
    assert estimate.low is not None
    assert estimate.high is not None
    return estimate.low <= value <= estimate.high


def _reason(estimate: Estimate) -> str:
    return estimate.withheld or TOO_FEW


def _interval_words(estimate: Estimate) -> str:
    """``95% interval from −3.5 to −0.5`` (percentage points)."""
    if not _has_interval(estimate):
        return "no interval could be worked out"
    assert estimate.low is not None
    assert estimate.high is not None
    return f"95% interval from {_points(estimate.low)} to {_points(estimate.high)}"


def outcome_words(outcome: str) -> str:
    """How an outcome reads in a sentence: ``harmed by serious violence``."""
    if outcome in OUTCOME_WORDS:
        return OUTCOME_WORDS[outcome]
    return outcome.replace("perpetrator", "harming others").replace("_", " ")


def list_words(name: str) -> tuple[str, str]:
    """A list's title and short name: ``hand_rules``, ``<outcome>_<known|early>``."""
    if name == _HAND_RULES:
        return ("The panels' points list (used before this tool)", "Points list")
    outcome, _, key = name.rpartition("_")
    if key in LISTS and outcome in _LIST_RISK:
        risk = _LIST_RISK[outcome]
        return (f"{LISTS[key].list_title} — the list for {risk}", f"{_LIST_SHORT[key]} ({risk})")
    plain = _first_upper(name.replace("perpetrator", "harming others").replace("_", " "))
    return (plain, plain)


# ------------------------------------------------------------------ the answer in brief


def _itt_sentences(lo: ListOutcome) -> tuple[str, str]:
    """The effect of being discussed and how sure we are (empty verdict when withheld)."""
    words = outcome_words(lo.outcome)
    itt = lo.itt
    if not itt.estimated:
        return (f"The effect of being discussed by the panel: not estimated — {_reason(itt)}.", "")
    assert itt.effect is not None
    text = (
        f"Being discussed by the panel changed the share of young people {words} in the next "
        f"12 months by {_points(itt.effect)} percentage points ({_interval_words(itt)})."
    )
    covers = _covers(itt)
    if covers is None or covers:
        verdict = "We cannot tell the effect of being discussed from no effect with these data."
    elif itt.effect < 0:
        verdict = "Being discussed lowered the share: the whole interval is below zero."
    else:
        verdict = "Being discussed raised the share: the whole interval is above zero."
    return (text, verdict)


def _help_sentences(lo: ListOutcome) -> tuple[str, str]:
    """The effect of a year of help taken up, absolute and relative, and how sure we are."""
    words = outcome_words(lo.outcome)
    per_year = lo.per_year_of_help
    if not per_year.estimated:
        return (f"The effect of a year of help taken up: not estimated — {_reason(per_year)}.", "")
    assert per_year.effect is not None
    text = (
        f"A year of help taken up changed the share of young people {words} in the next 12 "
        f"months by {_points(per_year.effect)} percentage points ({_interval_words(per_year)})"
    )
    if lo.relative_per_year is not None:
        rel, rel_low, rel_high = lo.relative_per_year
        text += (
            f": about {_in_100(rel)} young people {words} than just below the cut "
            f"(from {_in_100(rel_low)} to {_in_100(rel_high)})"
        )
    text += "."
    covers = _covers(per_year)
    if covers is None or covers:
        verdict = "We cannot tell the help's effect from no effect with these data."
    elif per_year.effect < 0:
        verdict = "The help lowered the share: the whole interval is below zero."
    else:
        verdict = "The share was higher with help: the whole interval is above zero."
    return (text, verdict)


def _take_up_sentence(lo: ListOutcome) -> str:
    first = lo.first_stage
    if not first.estimated:
        return f"How much more help being discussed brought: not estimated — {_reason(first)}."
    assert first.effect is not None
    months = first.effect * 12
    return (
        "Being discussed changed the share of the next 12 months spent in a programme by "
        f"{_points(first.effect)} percentage points ({_interval_words(first)}): about "
        f"{abs(months):.1f} months {'more' if months >= 0 else 'less'} help in the year."
    )


def _level_sentence(lo: ListOutcome) -> str:
    level = lo.itt.level_below if lo.itt.estimated else None
    if not _finite(level):
        return ""
    assert level is not None
    return (
        f"For comparison: just below the cut (not discussed), {_percent(level)} of young "
        f"people were {outcome_words(lo.outcome)} in the next 12 months."
    )


# ------------------------------------------------------------------ the checks


@dataclass
class _Verdict:
    """A check's verdict: ``ok`` True (passed), False (read with care), None (not run)."""

    text: str
    ok: bool | None


def _density_verdict(bins: Sequence[Bin], p_value: float | None = None) -> _Verdict:
    """Listings at the places next to the cut against their neighbours' (each month each
    place holds one young person per area, so the count should be flat there), and the
    formal test of equal counts either side when there is one."""
    verdict = _density_look(bins)
    if p_value is None:
        return verdict
    test = (
        f" A formal test that the two places either side hold as many listings finds "
        f"{'no' if p_value >= 0.05 else 'a'} difference (p = {p_value:.2f})."
    )
    ok = verdict.ok if p_value >= 0.05 else False
    return _Verdict(verdict.text + test, ok)


def _density_look(bins: Sequence[Bin]) -> _Verdict:
    listings = {b.place: b.listings for b in bins if not b.suppressed and b.listings}
    near = {p: listings[p] for p in _NEAR if p in listings}
    around = [listings[p] for p in _NEIGHBOURS if p in listings]
    if not near or len(around) < 3:
        return _Verdict("Too few places are published to look for a dip or heap at the cut.", None)
    typical = float(np.median(around))
    place, worst = max(near.items(), key=lambda item: abs(item[1] / typical - 1))
    if abs(worst / typical - 1) <= DENSITY_TOLERANCE:
        return _Verdict(
            "No sign of a dip or heap at the cut: the places either side hold about as many "
            f"listings as the places around them (about {typical:,.0f} each).",
            True,
        )
    kind = "heap" if worst > typical else "dip"
    side = "above (discussed)" if place > 0 else "below (not discussed)"
    return _Verdict(
        f"A {kind} just {side} the cut: {worst:,} listings at place {_place(place)} against "
        f"about {typical:,.0f} at the places around it. Read with care.",
        False,
    )


def _all(n: int, thing: str) -> str:
    """``The pretend cut shows``, ``Both pretend cuts show``, ``All 3 pretend cuts show``."""
    if n == 1:
        return f"The {thing} shows"
    return f"{'Both' if n == 2 else f'All {n}'} {thing}s show"


def _jump_verdict(estimate: Estimate) -> str:
    covers = _covers(estimate)
    if covers is None:
        return "not checked"
    return "no sign of a jump" if covers else "jump: read with care"


def _placebo_verdict(estimate: Estimate) -> str:
    covers = _covers(estimate)
    if covers is None:
        return "not checked"
    return "no jump, as expected" if covers else "a jump where none should be: read with care"


def _bandwidth_flags(lo: ListOutcome) -> list[float] | None:
    """Factors whose estimate falls outside the main interval (None without one)."""
    if not _has_interval(lo.itt):
        return None
    assert lo.itt.low is not None
    assert lo.itt.high is not None
    return [
        s.factor
        for s in lo.bandwidths
        if s.estimate.estimated
        and s.estimate.effect is not None
        and not lo.itt.low <= s.estimate.effect <= lo.itt.high
    ]


def _checks(lo: ListOutcome) -> dict[str, Any]:
    """Every check of one list and outcome: rows for the tables and verdicts."""
    density = _density_verdict(lo.bins, lo.density_p)

    balance_rows = []
    jumps = []
    for b in lo.balance:
        e = b.estimate
        row: dict[str, Any] = {"label": _first_upper(b.label), "withheld": ""}
        if not e.estimated:
            row["withheld"] = _reason(e)
        else:
            assert e.effect is not None
            row |= {
                "below": _number(e.level_below) if _finite(e.level_below) else "",  # type: ignore[arg-type]
                "jump": _number(e.effect, signed=True),
                "interval": (
                    f"from {_number(e.low, signed=True)} to {_number(e.high, signed=True)}"  # type: ignore[arg-type]
                    if _has_interval(e)
                    else "no interval"
                ),
                "verdict": _jump_verdict(e),
            }
            if _covers(e) is False:
                jumps.append(b.label)
        balance_rows.append(row)
    checked = [b for b in lo.balance if _covers(b.estimate) is not None]
    if not checked:
        balance = _Verdict("No record before the list month could be compared.", None)
    elif not jumps:
        balance = _Verdict(
            f"No sign of a jump in any of the {len(checked)} records compared: young people "
            "just either side of the cut had alike records before the list month.",
            True,
        )
    else:
        balance = _Verdict(
            f"{len(jumps)} of {len(checked)} records jump at the cut ({'; '.join(jumps)}): the "
            "young people either side may differ in more than being discussed. With many "
            "records one may jump by chance, but read the result with care.",
            False,
        )

    placebo_rows = []
    off = 0
    for c in lo.placebo:
        e = c.estimate
        row = {"place": _place(c.place), "withheld": ""}
        if not e.estimated:
            row["withheld"] = _reason(e)
        else:
            assert e.effect is not None
            row |= {
                "jump": _points(e.effect),
                "interval": _interval_words(e).removeprefix("95% interval "),
                "verdict": _placebo_verdict(e),
            }
            off += _covers(e) is False
        placebo_rows.append(row)
    tried = sum(_covers(c.estimate) is not None for c in lo.placebo)
    if not tried:
        placebo = _Verdict("No pretend cut could be estimated.", None)
    elif not off:
        placebo = _Verdict(
            f"{_all(tried, 'pretend cut')} no jump, as {'they' if tried > 1 else 'it'} "
            "should: the method does not find effects where there are none.",
            True,
        )
    else:
        placebo = _Verdict(
            f"{off} of {tried} pretend cuts show a jump where nothing changes: the share may "
            "change along the list for other reasons. Read the result with care.",
            False,
        )

    bandwidth_rows = []
    for s in lo.bandwidths:
        e = s.estimate
        row = {
            "factor": f"{s.factor:g} × chosen",
            "places": f"{e.bandwidth:.1f}" if e.estimated and _finite(e.bandwidth) else "",
            "withheld": "" if e.estimated else _reason(e),
        }
        if e.estimated:
            assert e.effect is not None
            row |= {
                "effect": _points(e.effect),
                "interval": _interval_words(e).removeprefix("95% interval "),
            }
        bandwidth_rows.append(row)
    flags = _bandwidth_flags(lo)
    if flags is None or not any(s.estimate.estimated for s in lo.bandwidths):
        bandwidths = _Verdict("The estimate could not be compared across bandwidths.", None)
    elif not flags:
        bandwidths = _Verdict(
            "The estimate stays inside the main interval at every bandwidth tried: it does "
            "not hinge on how many places either side are compared.",
            True,
        )
    else:
        bandwidths = _Verdict(
            "The estimate moves outside the main interval when comparing "
            + ", ".join(f"{f:g}" for f in flags)
            + " times as many places: it depends on how many places either side are "
            "compared. Read with care.",
            False,
        )

    failed = [
        name
        for name, verdict in (
            ("a dip or heap in listings at the cut", density),
            ("records from before the list month jump at the cut", balance),
            ("pretend cuts show jumps", placebo),
            ("the estimate moves with the bandwidth", bandwidths),
        )
        if verdict.ok is False
    ]
    return {
        "density": density,
        "density_chart": _density_chart(lo),
        "balance": balance,
        "balance_rows": balance_rows,
        "placebo": placebo,
        "placebo_rows": placebo_rows,
        "bandwidths": bandwidths,
        "bandwidth_rows": bandwidth_rows,
        "sensitivity_chart": _sensitivity_chart(lo),
        "failed": failed,
    }


# ------------------------------------------------------------------ charts


@dataclass
class Chart:
    """One embedded chart: the PNG (base64) and its alt text."""

    png: str
    alt: str


def _figure(height: float, width: float = _WIDTH) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=_DPI)


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, pil_kwargs={"compress_level": 1})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _style_axes(ax: Any, *, grid: str = "y") -> None:
    from matplotlib.ticker import MaxNLocator

    values = ax.yaxis if grid == "y" else ax.xaxis
    values.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    ax.tick_params(labelsize=8)
    ax.grid(axis=grid, color=_GRID, lw=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _cut_line(ax: Any) -> None:
    """The panel's capacity: between place 0 (not discussed) and place 1 (discussed)."""
    ax.axvline(0.5, color=_GREY, lw=1.2, linestyle="--")
    ax.text(0.5, 1.0, " panel's capacity", transform=ax.get_xaxis_transform(), fontsize=8,
            va="top", ha="left", color=_GREY)  # fmt: skip


def _place_axis(ax: Any, bins: Sequence[Bin]) -> None:
    """Every place of the chart, withheld ones too, on the x axis, with whole places as
    ticks (there is no place 2.5)."""
    from matplotlib.ticker import MaxNLocator

    places = [b.place for b in bins] or [0, 1]
    ax.set_xlim(min(min(places), 0) - 0.7, max(max(places), 1) + 0.7)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))


def _published(bins: Iterable[Bin]) -> list[Bin]:
    """The places with a published share, in order."""
    return sorted(
        (b for b in bins if not b.suppressed and b.share is not None), key=lambda b: b.place
    )


def _withheld_places(bins: Iterable[Bin]) -> int:
    return sum(1 for b in bins if b.suppressed)


def _figure_words(estimate: Estimate) -> str:
    """``−1.2 (95% interval from −2.1 to −0.3)``, or ``not estimated`` (alt text)."""
    if not estimate.estimated or estimate.effect is None:
        return "not estimated"
    return f"{_points(estimate.effect)} ({_interval_words(estimate)})"


def _estimate_label(estimate: Estimate, what: str) -> str:
    if not estimate.estimated:
        return _wrap(f"{what}: not estimated — {_reason(estimate)}", 60)
    assert estimate.effect is not None
    return f"{what}: {_points(estimate.effect)} percentage points\n({_interval_words(estimate)})"


def _rd_figure(lo: ListOutcome) -> Any:
    """The share involved at each published place (suppressed places are not drawn), the
    cut between place 0 and place 1, and the estimate at the cut."""
    from matplotlib.lines import Line2D

    words = outcome_words(lo.outcome)
    fig = _figure(3.5)
    fig.subplots_adjust(left=0.09, right=0.98, top=0.88, bottom=0.26)
    ax = fig.add_subplot(1, 1, 1)
    shown = _published(lo.bins)
    below = [(b.place, float(b.share) * 100) for b in shown if b.place <= 0]  # type: ignore[arg-type]
    above = [(b.place, float(b.share) * 100) for b in shown if b.place > 0]  # type: ignore[arg-type]
    if below:
        x, y = zip(*below, strict=True)
        ax.plot(x, y, linestyle="none", marker="s", markersize=4.5, markerfacecolor="white",
                markeredgecolor=_GREY, markeredgewidth=1.0)  # fmt: skip
    if above:
        x, y = zip(*above, strict=True)
        ax.plot(x, y, linestyle="none", marker="o", markersize=4.5, color=_NAVY)
    itt = lo.itt
    levels: list[float] = []
    keys = [
        Line2D([], [], linestyle="none", marker="s", markerfacecolor="white",
               markeredgecolor=_GREY, label="not discussed (at or below the capacity line)"),
        Line2D([], [], linestyle="none", marker="o", color=_NAVY,
               label="discussed (above the line)"),
    ]  # fmt: skip
    if itt.estimated and _finite(itt.level_below) and itt.effect is not None:
        low_level = float(itt.level_below) * 100  # type: ignore[arg-type]
        high_level = low_level + itt.effect * 100
        levels += [low_level, high_level]
        ax.annotate("", xy=(0.5, high_level), xytext=(0.5, low_level),
                    arrowprops={"arrowstyle": "->", "color": _NAVY, "lw": 1.6})  # fmt: skip
        ax.plot([0.5, 0.5], [low_level, high_level], linestyle="none", marker="D",
                markersize=5, color=_NAVY, markerfacecolor="white")  # fmt: skip
        keys.append(
            Line2D([], [], linestyle="none", marker="D", color=_NAVY, markerfacecolor="white",
                   label="estimated share either side of the line")
        )  # fmt: skip
    _cut_line(ax)
    ax.text(0.01, 0.97, _estimate_label(itt, "Effect of being discussed"),
            transform=ax.transAxes, fontsize=8, va="top", ha="left",
            bbox={"facecolor": "white", "edgecolor": "#999999", "lw": 0.6})  # fmt: skip
    withheld = _withheld_places(lo.bins)
    if withheld:
        ax.text(0.99, 0.03, f"{withheld} place{'s' if withheld > 1 else ''} withheld "
                f"({SUPPRESSED}): not drawn", transform=ax.transAxes, fontsize=7.5,
                ha="right", va="bottom", color="#444444")  # fmt: skip
    top = max([y for _, y in below + above] + levels, default=1.0)
    ax.set_ylim(0, max(top * 1.35, 1.0))
    ax.set_xlabel("places from the panel's capacity (right of the line: discussed)", fontsize=8)
    ax.set_title(f"Young people {words} in the next 12 months", fontsize=9, loc="left")
    ax.set_ylabel("% of young people at the place", fontsize=8)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:g}%")
    _style_axes(ax)
    _place_axis(ax, lo.bins)
    fig.legend(handles=keys, loc="lower left", ncol=len(keys), fontsize=7.5, frameon=False)
    return fig


def _rd_chart(lo: ListOutcome) -> Chart:
    words = outcome_words(lo.outcome)
    shown = _published(lo.bins)
    alt = (
        f"Dot chart: the share of young people {words} in the next 12 months at each place "
        "from the panel's capacity"
    )
    if shown:
        alt += f", places {_place(shown[0].place)} to {_place(shown[-1].place)}"
    alt += "."
    for place, side in ((0, "just below the line (not discussed)"), (1, "just above (discussed)")):
        found = next((b for b in shown if b.place == place), None)
        if found is not None and found.share is not None:
            alt += f" Place {place}, {side}: {_percent(found.share)}."
    alt += " " + _estimate_label(lo.itt, "Effect of being discussed").replace("\n", " ") + "."
    withheld = _withheld_places(lo.bins)
    if withheld:
        alt += f" {withheld} places withheld ({SUPPRESSED}) and not drawn."
    return Chart(png=_png(_rd_figure(lo)), alt=alt)


def _density_chart(lo: ListOutcome) -> Chart:
    """Listings at each published place, either side of the cut."""
    from matplotlib.patches import Patch

    fig = _figure(2.5)
    fig.subplots_adjust(left=0.09, right=0.98, top=0.88, bottom=0.33)
    ax = fig.add_subplot(1, 1, 1)
    shown = [b for b in lo.bins if not b.suppressed and b.listings is not None]
    below = [b for b in shown if b.place <= 0]
    above = [b for b in shown if b.place > 0]
    style = {"width": 0.8, "edgecolor": "#1b1b1b", "linewidth": 0.5}
    if below:
        ax.bar([b.place for b in below], [b.listings for b in below], facecolor="white",
               hatch=_HATCH, **style)  # fmt: skip
    if above:
        ax.bar([b.place for b in above], [b.listings for b in above], facecolor=_NAVY, **style)
    _cut_line(ax)
    most = max((b.listings or 0 for b in shown), default=0)
    ax.set_ylim(0, max(most * 1.2, 1.0))
    ax.set_xlabel("places from the panel's capacity (right of the line: discussed)", fontsize=8)
    ax.set_ylabel("listings", fontsize=8)
    _style_axes(ax)
    _place_axis(ax, lo.bins)
    fig.legend(
        handles=[
            Patch(facecolor="white", hatch=_HATCH, edgecolor="#1b1b1b", label="not discussed"),
            Patch(facecolor=_NAVY, edgecolor="#1b1b1b", label="discussed"),
        ],
        loc="lower left",
        ncol=2,
        fontsize=7.5,
        frameon=False,
    )
    alt = "Bar chart: listings (a young person on one month's list) at each place from the "
    alt += "panel's capacity. " + _density_verdict(lo.bins, lo.density_p).text
    withheld = _withheld_places(lo.bins)
    if withheld:
        alt += f" {withheld} places withheld ({SUPPRESSED}) and not drawn."
    return Chart(png=_png(fig), alt=alt)


def _intervals(
    ax: Any, xs: Sequence[float], estimates: Sequence[Estimate], *, main: int = -1
) -> None:
    """Points with 95% intervals, in percentage points (estimated ones only)."""
    for i, (x, e) in enumerate(zip(xs, estimates, strict=True)):
        if not e.estimated or e.effect is None:
            continue
        colour = _NAVY if i == main else _GREY
        if _has_interval(e):
            ax.vlines(x, float(e.low) * 100, float(e.high) * 100, color=colour, lw=1.4)  # type: ignore[arg-type]
        ax.plot([x], [e.effect * 100], marker="o" if i == main else "s", color=colour,
                markerfacecolor=colour if i == main else "white", markersize=5,
                linestyle="none")  # fmt: skip
    ax.axhline(0, color="#777777", lw=0.8)


def _sensitivity_chart(lo: ListOutcome) -> Chart:
    """Pretend cuts (left) and other bandwidths (right), with 95% intervals."""
    fig = _figure(2.7)
    fig.subplots_adjust(left=0.09, right=0.98, top=0.86, bottom=0.22, wspace=0.3)
    left = fig.add_subplot(1, 2, 1)
    places = [c.place for c in lo.placebo]
    _intervals(left, places, [c.estimate for c in lo.placebo])
    _cut_line(left)
    left.margins(x=0.12)
    left.set_title("Pretend cuts: should show no jump", fontsize=9, loc="left")
    left.set_xlabel("place of the pretend cut", fontsize=8)
    left.set_ylabel("jump, percentage points", fontsize=8)
    _style_axes(left)
    right = fig.add_subplot(1, 2, 2)
    factors = [s.factor for s in lo.bandwidths]
    main = next((i for i, f in enumerate(factors) if math.isclose(f, 1.0)), -1)
    _intervals(right, factors, [s.estimate for s in lo.bandwidths], main=main)
    right.margins(x=0.12)
    right.set_title("Other bandwidths: should stay alike", fontsize=9, loc="left")
    right.set_xlabel("bandwidth, times the chosen one", fontsize=8)
    right.set_ylabel("effect, percentage points", fontsize=8)
    _style_axes(right)
    words = []
    for c in lo.placebo:
        e = c.estimate
        words.append(f"place {_place(c.place)}: " + _figure_words(e))
    alt = "Two charts with 95% intervals. Pretend cuts, " + ("; ".join(words) or "none") + ". "
    words = []
    for s in lo.bandwidths:
        e = s.estimate
        words.append(f"{s.factor:g} times the chosen bandwidth: " + _figure_words(e))
    alt += "Other bandwidths, " + ("; ".join(words) or "none") + "."
    return Chart(png=_png(fig), alt=alt)


def _area_chart(lo: ListOutcome) -> Chart:
    """The effect of being discussed in all areas together and in each alone."""
    names = ["All authorities together", *lo.by_area]
    estimates = [lo.itt, *lo.by_area.values()]
    height = 0.9 + 0.3 * len(names)
    fig = _figure(height)
    fig.subplots_adjust(left=0.3, right=0.97, top=1 - 0.15 / height, bottom=0.55 / height)
    ax = fig.add_subplot(1, 1, 1)
    ys = np.arange(len(names), dtype=float)[::-1]
    for y, e in zip(ys, estimates, strict=True):
        main = y == ys[0]
        colour = _NAVY if main else _GREY
        if not e.estimated or e.effect is None:
            ax.text(0.02, y, "not estimated", transform=ax.get_yaxis_transform(), fontsize=8,
                    va="center", color="#444444")  # fmt: skip
            continue
        if _has_interval(e):
            ax.hlines(y, float(e.low) * 100, float(e.high) * 100, color=colour, lw=1.6)  # type: ignore[arg-type]
        ax.plot([e.effect * 100], [y], marker="o" if main else "s", color=colour,
                markerfacecolor=colour if main else "white", markersize=5.5)  # fmt: skip
    ax.axvline(0, color="#777777", lw=0.8)
    ax.set_yticks(ys, names)
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.set_xlabel("effect of being discussed, percentage points (95% interval)", fontsize=8)
    _style_axes(ax, grid="x")
    ax.tick_params(axis="y", length=0)
    alt = "Chart of the effect of being discussed, with 95% intervals. " + "; ".join(
        f"{name}: " + _figure_words(e) for name, e in zip(names, estimates, strict=True)
    )
    return Chart(png=_png(fig), alt=alt + ".")


# ------------------------------------------------------------------ the other sections


def _detectable(lo: ListOutcome) -> dict[str, Any]:
    """The smallest effect each area could tell from none after so many years."""
    areas = list(dict.fromkeys(d.area for d in lo.detectable))
    years = sorted({d.years for d in lo.detectable})
    index = {(d.area, d.years): d for d in lo.detectable}
    rows = []
    for area in areas:
        cells = []
        for y in years:
            d = index.get((area, y))
            if d is None or d.effect is None:
                cells.append({"points": "could not be worked out", "relative": ""})
            else:
                relative = (
                    f"a change of about {round(abs(d.relative) * 100)} in 100"
                    if d.relative is not None
                    else ""
                )
                cells.append({"points": f"{abs(d.effect) * 100:.1f} points", "relative": relative})
        rows.append({"area": area, "cells": cells})
    sentences = []
    authorities = [a for a in areas if a in LOCAL_AUTHORITIES]
    wholes = [a for a in areas if a not in LOCAL_AUTHORITIES]
    for chosen, at in ((authorities[:1], years[:1]), (wholes[:1], years[-1:])):
        for area in chosen:
            for y in at:
                d = index.get((area, y))
                if d is None or d.effect is None:
                    continue
                sentences.append(
                    f"With {_years(y, words=True)} of lists in {area}, only an effect of at least "
                    f"{abs(d.effect) * 100:.1f} percentage points could be told from none."
                )
    return {"years": [_years(y) for y in years], "rows": rows, "sentences": sentences}


def _by_area(lo: ListOutcome) -> list[dict[str, str]]:
    rows = []
    for area, e in lo.by_area.items():
        if not e.estimated or e.effect is None:
            rows.append({"area": area, "withheld": _reason(e)})
            continue
        covers = _covers(e)
        rows.append(
            {
                "area": area,
                "withheld": "",
                "effect": _points(e.effect),
                "interval": _interval_words(e).removeprefix("95% interval "),
                "near": f"{_count(e.n_below)} not discussed, {_count(e.n_above)} discussed",
                "verdict": (
                    "cannot be told from no effect"
                    if covers is None or covers
                    else ("lower when discussed" if e.effect < 0 else "higher when discussed")
                ),
            }
        )
    return rows


def _known_answer(evaluation: Evaluation, lo: ListOutcome) -> dict[str, str]:
    """Whether the relative effect of a year of help covers the known answer."""
    assert evaluation.true_effect is not None
    expected = -evaluation.true_effect
    words = outcome_words(lo.outcome)
    if lo.relative_per_year is None or not lo.per_year_of_help.estimated:
        return {
            "verdict": "cannot be checked",
            "text": "The effect of a year of help was not estimated, so it cannot be checked "
            f"against the known answer ({_reason(lo.per_year_of_help)}).",
        }
    rel, low, high = lo.relative_per_year
    covered = low <= expected <= high
    text = (
        f"Estimated: about {_in_100(rel)} young people {words} with a year of help (from "
        f"{_in_100(low)} to {_in_100(high)}). "
    )
    if covered and expected != 0 and low <= 0 <= high:
        text += (
            "The interval covers the known answer, but it covers no effect too: with these "
            "data the evaluation is consistent with the truth, yet could not have told an "
            "effect this size from none (see how long it must run, above)."
        )
    elif covered:
        text += "The interval covers the known answer: the evaluation finds it."
    else:
        text += (
            "The interval does not cover the known answer: the evaluation misses it here. "
            "Read this list's results, and its checks, with care."
        )
    return {"verdict": "covered" if covered else "not covered", "text": text}


def _view(evaluation: Evaluation, k: int, lo: ListOutcome) -> dict[str, Any]:
    title, short = list_words(lo.list_name)
    words = outcome_words(lo.outcome)
    itt_text, itt_verdict = _itt_sentences(lo)
    help_text, help_verdict = _help_sentences(lo)
    withheld = _withheld_places(lo.bins)
    return {
        "id": f"result-{k}",
        "title": title,
        "short": f"{short}: {words}",
        "outcome": words,
        "itt": {"text": itt_text, "verdict": itt_verdict, "withheld": not lo.itt.estimated},
        "help": {
            "text": help_text,
            "verdict": help_verdict,
            "withheld": not lo.per_year_of_help.estimated,
        },
        "take_up": {"text": _take_up_sentence(lo), "withheld": not lo.first_stage.estimated},
        "level": _level_sentence(lo),
        "rd_chart": _rd_chart(lo),
        "withheld_places": withheld,
        "places": len(lo.bins),
        "checks": _checks(lo),
        "detectable": _detectable(lo),
        "by_area": _by_area(lo),
        "area_chart": _area_chart(lo) if lo.by_area else None,
        "known": _known_answer(evaluation, lo) if evaluation.true_effect is not None else None,
    }


# ------------------------------------------------------------------ the page


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("evaluation", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["first_upper"] = _first_upper
    environment.filters["fig"] = lambda text: markupsafe.Markup(
        '<span class="fig">{}</span>'
    ).format(text)
    return environment


def render_report(
    evaluation: Evaluation, *, run_name: str | None = None, made: dt.date | None = None
) -> str:
    """The board report as one self-contained HTML string.

    Parameters
    ----------
    evaluation
        One run of ``vru evaluate``.
    run_name
        The run's name, when it has one (named in the footer).
    made
        The date the page says it was made (today by default).

    Returns
    -------
    str
        The page: charts are embedded PNGs, nothing is fetched from elsewhere.
    """
    views = [_view(evaluation, k, lo) for k, lo in enumerate(evaluation.results, start=1)]
    doubts = [(v["short"], v["checks"]["failed"]) for v in views if v["checks"]["failed"]]
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            period=f"{_month(evaluation.first_month)} to {_month(evaluation.last_month)}",
            years=_years(evaluation.years),
            listings=_count(evaluation.listings),
            young_people=_count(evaluation.young_people),
            capacity=list(evaluation.capacity.items()),
            crossover=_percent(evaluation.crossover),
            results=views,
            doubts=doubts,
            synthetic=evaluation.true_effect is not None,
            true_effect=(
                f"{evaluation.true_effect * 100:.0f}%" if evaluation.true_effect is not None else ""
            ),
            true_in_100=(
                _in_100(-evaluation.true_effect) if evaluation.true_effect is not None else ""
            ),
            warnings=list(evaluation.warnings),
            fingerprint=evaluation.fingerprint[:12],
            data=evaluation.data,
            run_name=run_name or "",
            made=f"{(made or dt.date.today()).day} {_month(made or dt.date.today())}",
            threshold=THRESHOLD,
            round_to=ROUND_TO,
            suppressed=SUPPRESSED,
        )
    )


# ------------------------------------------------------------------ the tables


def _estimate_row(estimate: Estimate) -> dict[str, Any]:
    """An estimate's columns (:data:`ESTIMATE_COLUMNS`); every figure empty when withheld."""
    if not estimate.estimated:
        return dict.fromkeys(ESTIMATE_COLUMNS[:-1]) | {"withheld": _reason(estimate)}
    return {
        "effect": estimate.effect,
        "low": estimate.low,
        "high": estimate.high,
        "p_value": estimate.p_value,
        "bandwidth": estimate.bandwidth,
        # counts of listings, rounded like every published count
        "n_below": int(round_count(np.array([estimate.n_below]))[0]),
        "n_above": int(round_count(np.array([estimate.n_above]))[0]),
        "level_below": estimate.level_below,
        "withheld": "",
    }


def _frame(rows: list[dict[str, Any]], keys: Sequence[str], counts: Sequence[str]) -> pd.DataFrame:
    """Rows as a table: ``counts`` as whole numbers (empty when withheld), every other
    figure as floats written in full (a reader gets back the evaluation's own numbers)."""
    frame = pd.DataFrame(rows, columns=list(keys))
    for column in frame.columns:
        if column in counts:
            frame[column] = pd.array(frame[column].tolist(), dtype="Int64")
        elif column in _FIGURES:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


#: the columns written as floats (empty when there is no figure)
_FIGURES = (
    *ESTIMATE_COLUMNS[:-1], "share", "years", "relative", "relative_low", "relative_high",
    "factor", "place",
)  # fmt: skip


def tables(evaluation: Evaluation) -> dict[str, pd.DataFrame]:
    """The tables behind the page (:data:`TABLES`), one row per list, outcome and item.

    Shares and effects are proportions (0.05 = 5 percentage points), as in the evaluation;
    an estimate that could not be made has empty figures and its reason in ``withheld``;
    a suppressed place has empty counts and :data:`drivers.disclosure.SUPPRESSED` in
    ``suppressed``.
    """
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    for lo in evaluation.results:
        key = {"list": lo.list_name, "outcome": lo.outcome}
        relative = lo.relative_per_year if lo.per_year_of_help.estimated else None
        for kind, estimate in (
            ("itt", lo.itt),
            ("per_year_of_help", lo.per_year_of_help),
            ("first_stage", lo.first_stage),
        ):
            row = key | {"estimate": kind} | _estimate_row(estimate)
            rel = relative if kind == "per_year_of_help" else None
            row |= dict(
                zip(("relative", "relative_low", "relative_high"), rel or (None,) * 3, strict=True)
            )
            rows["estimates"].append(row)
        for b in lo.bins:
            rows["rd_bins"].append(
                key
                | {
                    "place": b.place,
                    "discussed": b.place > 0,
                    "listings": None if b.suppressed else b.listings,
                    "involved": None if b.suppressed else b.involved,
                    "share": None if b.suppressed else b.share,
                    "suppressed": SUPPRESSED if b.suppressed else "",
                }
            )
        for bal in lo.balance:
            rows["balance"].append(
                key
                | {"covariate": bal.covariate, "label": bal.label}
                | _estimate_row(bal.estimate)
                | {"verdict": _jump_verdict(bal.estimate)}
            )
        for check in lo.placebo:
            rows["placebo"].append(
                key
                | {"place": check.place}
                | _estimate_row(check.estimate)
                | {"verdict": _placebo_verdict(check.estimate)}
            )
        for s in lo.bandwidths:
            rows["bandwidths"].append(key | {"factor": s.factor} | _estimate_row(s.estimate))
        for d in lo.detectable:
            rows["detectable"].append(
                key | {"area": d.area, "years": d.years, "effect": d.effect, "relative": d.relative}
            )
        for area, e in lo.by_area.items():
            rows["by_area"].append(key | {"area": area} | _estimate_row(e))
    keys = ["list", "outcome"]
    columns = {
        "estimates": [
            *keys, "estimate", *ESTIMATE_COLUMNS, "relative", "relative_low", "relative_high"
        ],
        "rd_bins": [*keys, "place", "discussed", "listings", "involved", "share", "suppressed"],
        "balance": [*keys, "covariate", "label", *ESTIMATE_COLUMNS, "verdict"],
        "placebo": [*keys, "place", *ESTIMATE_COLUMNS, "verdict"],
        "bandwidths": [*keys, "factor", *ESTIMATE_COLUMNS],
        "detectable": [*keys, "area", "years", "effect", "relative"],
        "by_area": [*keys, "area", *ESTIMATE_COLUMNS],
    }  # fmt: skip
    counts = {name: ["n_below", "n_above"] for name in TABLES}
    counts["rd_bins"] = ["place", "listings", "involved"]
    return {name: _frame(rows[name], columns[name], counts[name]) for name in TABLES}


def write_report(evaluation: Evaluation, out: Path, *, run_name: str | None = None) -> list[Path]:
    """Write the board report (:data:`REPORT`) and the tables behind it
    (``<name>.csv`` for each of :data:`TABLES`) into ``out``.

    Parameters
    ----------
    evaluation
        One run of ``vru evaluate``.
    out
        The folder to write into (made if missing; files in it are overwritten).
    run_name
        The run's name, when it has one (named in the page's footer).

    Returns
    -------
    list[Path]
        Every file written, the page first.
    """
    out.mkdir(parents=True, exist_ok=True)
    page = out / REPORT
    page.write_text(render_report(evaluation, run_name=run_name), encoding="utf-8")
    written = [page]
    for name, frame in tables(evaluation).items():
        path = out / f"{name}.csv"
        frame.to_csv(path, index=False)
        written.append(path)
    return written
