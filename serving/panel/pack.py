"""The HTML panel pack: one page per local authority, rendered with Jinja2.

A pack is made for a one-hour monthly meeting and prints on A4 with the protective
marking and page numbers on every page. It opens with what the lists are and are not
(a prompt for professional review), a box for each outcome whose model is switched off
this month (no list for it, and why: :meth:`models.registry.Suspension.words`) and an
amber box for each outcome whose latest monitoring is amber or red
(:meth:`models.registry.MonitoringNote.words`), and what the records cannot see
(:mod:`features.coverage`), then:

1. **the agenda**: one row per young person to discuss, whichever lists they are on
   (:data:`features.vocabulary.LISTS`, for either outcome): their place on each list,
   band, main reason, whether they are new to the agenda or were on last month's, and
   what changed; then how many on last month's agenda are not on this one, and why
   (counted, never named);
2. **one card per young person**, both outcomes on it: band and what it means, their
   own estimate and last month's, what raised and lowered it (bars relative to the
   largest, no scale a panel has to learn), what changed since the previous run;
3. **about the estimates** of each outcome: the model version and its fairness
   verdict (an override is a warning, with who approved it), what the bands mean,
   where the named estimates sit against the band edges, and per list how many are
   beyond its places and how to raise them.

Charts are inline SVG written from the numbers (no plotting library to load), with
fixed ids, so the same inputs give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import time
from collections.abc import Collection, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape
from markupsafe import Markup, escape

from features.coverage import Coverage
from features.vocabulary import LISTS, OUTCOMES
from models.panels import PanelError, panel_threshold
from models.reasons import CAVEAT, NO_CHANGE, NO_FACTORS, percent
from models.registry import APPROVER_TAG, OVERRIDE_AT_TAG, REASON_TAG

if TYPE_CHECKING:
    from models.registry import Released, Suspension

__all__ = ["MARKING", "base_rate", "estimates_chart", "render_pack"]

TEMPLATE = "pack.html.j2"
#: the Government Security Classification marking of every page of a pack
MARKING = "OFFICIAL-SENSITIVE"
RAISE_COLOUR = "#b2182b"
BAND_SHADES = ("#ffffff", "#fbeee6", "#f6d5c3", "#eeb39b")
#: what a card shows of each outcome: the first reasons, protective factors and changes
CARD_REASONS = 3
CARD_PROTECTIVE = 2
CARD_CHANGES = 2
#: the agenda's main reason is cut at this many characters
MAIN_REASON_CHARS = 90
#: an estimate that moved by less than this share of itself has "hardly changed"
NOTICEABLE = 0.2

#: an estimate that hardly moved since last month
SAME = "about the same as last month"
STATUS_NEW_TO_AGENDA = "new to the agenda"
STATUS_AGAIN = "on last month's agenda"
STATUS_FIRST = "first agenda"
#: the parts of rendering a pack that ``render_pack(timings=…)`` times
CHARTS = "charts"
RENDERING = "rendering"


@functools.cache
def _template() -> Template:
    """The pack's template, compiled once per process (compiling takes longer than
    rendering a pack)."""
    return _environment().get_template(TEMPLATE)


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(Path(__file__).parent),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["n"] = lambda value: f"{int(value):,}"
    environment.filters["people"] = _people
    return environment


def _people(count: int, one: str = "young person", many: str = "young people") -> str:
    """``1 young person``, ``1,204 young people``."""
    return f"{count:,} {one if count == 1 else many}"


def _clip(text: str, limit: int = MAIN_REASON_CHARS) -> str:
    head = text.split(" — ")[0]
    return head if len(head) <= limit else head[: limit - 1].rstrip() + "…"


#: the estimates chart's size in points (7.6 in wide; 0.55 in a list, plus 0.9 in of
#: margins), its plot area's margins, and its dots' radius
CHART_WIDTH = 547.2
CHART_ROW = 39.6
CHART_MARGINS = 64.8
CHART_LEFT, CHART_RIGHT, CHART_TOP, CHART_BOTTOM = 54.72, 536.26, 23.04, 32.4
DOT_RADIUS = 1.5
CHART_FONT = 'font-family="DejaVu Sans, sans-serif"'


def _line(x1: float, y1: float, x2: float, y2: float) -> str:
    """A black line of the chart's axis, in points."""
    return (
        f'<line x1="{x1:.2f}" y1="{y1:.2f}" x2="{x2:.2f}" y2="{y2:.2f}" '
        'stroke="#000000" stroke-width="0.8"/>'
    )


def _ticks(right: float) -> list[float]:
    """The x axis's ticks, 0 to ``right`` percent: no more than 11, at round steps."""
    step = 10 if right >= 30 else 5 if right > 10 else 2
    return [float(x) for x in range(0, int(right) + 1, step)]


def _chart_text(named: Mapping[str, np.ndarray]) -> str:
    """The chart's text alternative: each list's number named and the range of their
    estimates (the same numbers the dots show)."""
    parts = []
    for key, v in named.items():
        if not len(v):
            parts.append(f"{key.capitalize()} list: nobody named.")
            continue
        low, high = percent(float(np.min(v))), percent(float(np.max(v)))
        spread = f"an estimate of {low}" if low == high else f"estimates from {low} to {high}"
        parts.append(f"{key.capitalize()} list: {_people(len(v))}, {spread}.")
    return " ".join(parts)


def estimates_chart(named: Mapping[str, np.ndarray], bands: Sequence[Any], outcome: str) -> Markup:
    """Where the named young people's estimates sit, one row per list, against the
    bands (shaded, labelled): a linear scale in percent, nothing to decode.

    Inline SVG written from the numbers (one dot per young person, jittered within its
    list's row by a fixed seed), with a title and a text alternative giving each list's
    count and range; the same inputs give the same bytes.
    """
    values = [np.asarray(v, dtype=float) for v in named.values()]
    if not any(len(v) for v in values):
        return Markup("")
    top = max(float(np.max(v)) for v in values if len(v))
    right = min(100.0, max(10.0, math.ceil(top * 100 / 10 + 0.5) * 10))
    rows = len(named)
    height = CHART_ROW * rows + CHART_MARGINS
    x0, x1 = CHART_LEFT, CHART_RIGHT
    y0, y1 = CHART_TOP, height - CHART_BOTTOM  # the plot area's top and bottom

    def x_at(value: float) -> float:  # percent → points
        return x0 + value / right * (x1 - x0)

    def y_at(value: float) -> float:  # row units (-0.6 at the bottom, rows - 0.1 at the top)
        return y1 - (value + 0.6) / (rows - 0.1 + 0.6) * (y1 - y0)

    ids = f"estimates-{outcome}"
    title = f"Estimates of the young people named, by list: risk of {OUTCOMES[outcome].title}"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH:g}pt" '
        f'height="{height:.1f}pt" viewBox="0 0 {CHART_WIDTH:g} {height:.1f}" role="img" '
        f'aria-labelledby="{ids}-title {ids}-desc" {CHART_FONT}>',
        f'<title id="{ids}-title">{escape(title)}</title>',
        f'<desc id="{ids}-desc">{escape(_chart_text(named))}</desc>',
    ]
    lowers = [b.lower * 100 for b in bands] + [math.inf]
    for i, band in enumerate(bands):
        start, end = lowers[i], min(lowers[i + 1], right)
        if start >= right:
            break
        shade = BAND_SHADES[min(i, len(BAND_SHADES) - 1)]
        out.append(
            f'<rect x="{x_at(start):.2f}" y="{y0:.2f}" width="{x_at(end) - x_at(start):.2f}" '
            f'height="{y1 - y0:.2f}" fill="{shade}"/>'
        )
        out.append(
            f'<text x="{x_at((start + end) / 2):.2f}" y="{y_at(rows - 0.45) - 2:.2f}" '
            f'font-size="7" fill="#444444" text-anchor="middle">{escape(band.name)}</text>'
        )
    rng = np.random.default_rng(0)
    for row, (key, v) in enumerate(zip(named, values, strict=True)):
        centre = rows - 1 - row
        out.append(
            f'<text x="{x0 - 3.5:.2f}" y="{y_at(centre) + 2.5:.2f}" font-size="7" '
            f'text-anchor="end">{escape(key)} list</text>'
        )
        jitter = centre + rng.uniform(-0.18, 0.18, len(v))
        out.append(
            f'<g class="dots" data-list="{escape(key)}" fill="{RAISE_COLOUR}" fill-opacity="0.7">'
        )
        out.extend(
            f'<circle cx="{x_at(p * 100):.2f}" cy="{y_at(y):.2f}" r="{DOT_RADIUS:g}"/>'
            for p, y in zip(v, jitter, strict=True)
        )
        out.append("</g>")
    out.append(_line(x0, y1, x1, y1))  # the x axis
    for tick in _ticks(right):
        x = x_at(tick)
        out.append(_line(x, y1, x, y1 + 3.5))
        out.append(
            f'<text x="{x:.2f}" y="{y1 + 13:.2f}" font-size="8" '
            f'text-anchor="middle">{tick:.0f}%</text>'
        )
    label = (
        "each dot: a young person named in this pack, at their estimate of "
        f"{OUTCOMES[outcome].title}"
    )
    out.append(
        f'<text x="{(x0 + x1) / 2:.2f}" y="{y1 + 25:.2f}" font-size="8" '
        f'text-anchor="middle">{escape(label)}</text>'
    )
    out.append("</svg>")
    return Markup("\n".join(out))


def base_rate(bands: Sequence[Any]) -> float:
    """Observed rate of the outcome on the model's calibration slice (all bands together)."""
    people = sum(b.people for b in bands)
    return sum(b.involved for b in bands) / people if people else 0.0


#: how much to raise a list's capacity in the example when nobody beyond it is in the
#: high bands
RAISE_BY = 10


def _high_edge(bands: Sequence[Any]) -> float | None:
    """Lower edge of the model's ``high`` band (``None`` if it has none)."""
    try:
        return panel_threshold(bands)
    except PanelError:
        return None


def _raise_example(
    local_authority: str, capacity: Mapping[str, int], key: str, new_capacity: int
) -> str:
    """``VRU_PANEL_CAPACITY='{"Bristol": {"known": 60, "early": 20}}'`` with one list raised."""
    entry = {k: (new_capacity if k == key else int(capacity[k])) for k in LISTS}
    return f"VRU_PANEL_CAPACITY='{json.dumps({local_authority: entry})}'"


def _bars(items: Sequence[Any], largest: float) -> list[dict[str, object]]:
    """Sentences with a bar width (0–100, relative to the card's largest contribution)."""
    return [
        {
            "sentence": r.sentence,
            "width": max(4, round(100 * abs(r.contribution) / largest)) if largest else 0,
        }
        for r in items
    ]


def _moved_words(now: float, then: float | None) -> str:
    if then is None or math.isnan(then):
        return ""
    if abs(now - then) < NOTICEABLE * max(then, 1e-9) or percent(now) == percent(then):
        return f"{SAME} ({percent(then)})"
    word = "up" if now > then else "down"
    return f"{word} from {percent(then)} last month"


def _named_block(
    outcome: str, row: Mapping[Any, Any], explanation: Any, capacity: Mapping[str, int]
) -> dict[str, object]:
    """One outcome on a card, for a young person named on one of its lists."""
    key = str(row["list"])
    probability = float(row["probability"])
    previous = row.get("previous_probability")
    changes = getattr(explanation, "changes", None)
    then: float | None = None
    if previous is not None and not pd.isna(previous):
        then = float(previous)
    elif changes is not None:
        then = float(changes.probability_then)
    items = [*explanation.reasons, *explanation.protective]
    largest = max((abs(r.contribution) for r in items), default=0.0)
    interval = explanation.probability_interval
    status = str(row["status"])
    moved_from = status.removeprefix("moved from the ").removesuffix(" list")
    return {
        "outcome": outcome,
        "short": OUTCOMES[outcome].short,
        "named": True,
        "list": key,
        "list_title": LISTS[key].title,
        "rank": int(row["rank"]),
        "places": int(capacity.get(key, 0)),
        "status": status,
        "moved_from": LISTS[moved_from].title if moved_from in LISTS else "",
        "band": str(row["band"]),
        "band_range": _band_range(explanation.band_range),
        "band_meaning": explanation.band_meaning,
        "estimate": percent(probability),
        "interval": _interval(interval),
        "moved": _moved_words(probability, then),
        "reasons": _bars(explanation.reasons[:CARD_REASONS], largest),
        "protective": _bars(explanation.protective[:CARD_PROTECTIVE], largest),
        "changes": _changes(changes),
    }


def _interval(interval: tuple[float, float] | None) -> str:
    """``likely between 52% and 59%`` (nothing when both ends read the same)."""
    if interval is None or percent(interval[0]) == percent(interval[1]):
        return ""
    return f"likely between {percent(interval[0])} and {percent(interval[1])}"


def _band_range(band_range: tuple[float, float | None] | None) -> str:
    if band_range is None:
        return ""
    lower, upper = band_range
    if upper is None:
        return f"estimates from {percent(lower)}"
    if lower <= 0:
        return f"estimates below {percent(upper)}"
    return f"estimates {percent(lower)} to {percent(upper)}"


def _other_block(outcome: str, drawn_row: Mapping[Any, Any] | None) -> dict[str, object]:
    """One outcome on a card, for a young person named only for the other outcome."""
    return {
        "outcome": outcome,
        "short": OUTCOMES[outcome].short,
        "named": False,
        "band": "" if drawn_row is None else str(drawn_row["band"]),
        "estimate": "" if drawn_row is None else percent(float(drawn_row["probability"])),
    }


def _changes(changes: Any) -> dict[str, object] | None:
    """What changed since the previous run, for a card (``None``: not scored then)."""
    if changes is None:
        return None
    summary = changes.summary.replace("'", "")
    return {
        "since": changes.since,
        "summary": summary[:1].upper() + summary[1:],
        "moved": [c.sentence for c in changes.moved[:CARD_CHANGES]],
        "more": max(0, len(changes.moved) - CARD_CHANGES),
    }


def _agenda(
    lists: pd.DataFrame,
    drawn: pd.DataFrame,
    outcomes: Sequence[str],
    explanations: Mapping[tuple[str, str], Any],
    capacity: Mapping[str, int],
    previous_agenda: Collection[str] | None,
) -> list[dict[str, object]]:
    """One entry per young person named on any list, in the order the panel takes them:
    the ``known`` list's people first, then the ``early`` list's, each by their best
    place on a list."""
    by_person: dict[str, list[Mapping[Any, Any]]] = {}
    for row in lists.to_dict("records"):
        by_person.setdefault(str(row["person_id"]), []).append(row)
    drawn_rows = {
        (str(r["outcome"]), str(r["person_id"])): r
        for r in drawn[drawn["person_id"].astype(str).isin(by_person)].to_dict("records")
    }
    list_order = {key: i for i, key in enumerate(LISTS)}
    outcome_order = {o: i for i, o in enumerate(outcomes)}

    def order(person: str) -> tuple[int, int, int, str]:
        best = min(
            by_person[person],
            key=lambda r: (list_order[str(r["list"])], int(r["rank"]), outcome_order[r["outcome"]]),
        )
        return (
            list_order[str(best["list"])],
            int(best["rank"]),
            outcome_order[best["outcome"]],
            person,
        )

    entries = []
    for number, person in enumerate(sorted(by_person, key=order), start=1):
        rows = {str(r["outcome"]): r for r in by_person[person]}
        blocks = []
        for outcome in outcomes:
            if outcome in rows:
                blocks.append(
                    _named_block(outcome, rows[outcome], explanations[(outcome, person)], capacity)
                )
            else:
                blocks.append(_other_block(outcome, drawn_rows.get((outcome, person))))
        first = min(rows.values(), key=lambda r: (int(r["rank"]), outcome_order[r["outcome"]]))
        main = explanations[(str(first["outcome"]), person)]
        key = str(first["list"])
        if previous_agenda is None:
            status = STATUS_FIRST
        elif person in previous_agenda:
            status = STATUS_AGAIN
        else:
            status = STATUS_NEW_TO_AGENDA
        age = first.get("age_years")
        entries.append(
            {
                "number": number,
                "person_id": person,
                "list": key,
                "list_title": LISTS[key].title,
                "age": "" if age is None or pd.isna(age) else int(age),
                "status": status,
                "main_reason": _clip(main.reasons[0].sentence) if main.reasons else "",
                "blocks": blocks,
                "changed": _agenda_change(blocks),
            }
        )
    return entries


def _agenda_change(blocks: Sequence[Mapping[str, object]]) -> str:
    """What changed, in a few words, for the agenda: each named outcome whose estimate
    moved noticeably since last month, with the first record behind the move."""
    parts = []
    for block in blocks:
        words = str(block.get("moved", ""))
        if not block["named"] or not words or words.startswith(SAME):
            continue
        text = f"{str(block['short']).capitalize()}: {words}"
        changes = block["changes"]
        moved = changes["moved"] if isinstance(changes, Mapping) else []
        if moved:  # the record behind it, without its date in brackets
            text += f" ({_clip(str(moved[0]).split(' (')[0], 70)})"
        parts.append(text)
    return "; ".join(parts)


def _verdict(released: Released) -> dict[str, str]:
    tags = released.tags
    return {
        "verdict": released.verdict,
        "approver": str(tags.get(APPROVER_TAG, "")),
        "reason": str(tags.get(REASON_TAG, "")),
        "at": str(tags.get(OVERRIDE_AT_TAG, ""))[:10],
    }


def _list_section(
    key: str,
    *,
    local_authority: str,
    capacity: Mapping[str, int],
    counts: Mapping[str, Any],
    bands: Sequence[Any],
) -> dict[str, object]:
    """One list of one outcome: beyond its places, and who is no longer on it."""
    beyond_by_band = dict(counts["beyond_capacity_by_band"])
    edge = _high_edge(bands)
    high = {b.name for b in bands if edge is not None and b.lower >= edge}
    beyond_high = sum(n for band, n in beyond_by_band.items() if band in high)
    own = int(capacity[key])
    suggested = own + (beyond_high if beyond_high else RAISE_BY)
    return {
        "key": key,
        "title": LISTS[key].list_title,
        "purpose": LISTS[key].purpose,
        "capacity": own,
        "counts": dict(counts),
        "beyond_by_band": [(band, n) for band, n in beyond_by_band.items() if n],
        "beyond_high": beyond_high,
        "high_bands": " and ".join(b.name for b in bands if b.name in high) or "high",
        "suggested": suggested,
        "raise_example": _raise_example(local_authority, capacity, key, suggested),
        "no_longer": sorted(
            counts["no_longer_named_by_reason"].items(), key=lambda kv: (-kv[1], kv[0])
        ),
    }


def _section(
    outcome: str,
    *,
    local_authority: str,
    lists: pd.DataFrame,
    drawn: pd.DataFrame,
    released: Released,
    capacity: Mapping[str, int],
    counts: Mapping[str, Any],
    compared: bool = True,
    timings: MutableMapping[str, float] | None = None,
) -> dict[str, object]:
    mine = lists[lists["outcome"] == outcome]
    residents = drawn[(drawn["outcome"] == outcome).to_numpy(dtype=bool)]
    bands = released.model.bundle.bands
    band_rows = []
    for i, band in enumerate(bands):
        in_band = residents[(residents["band"] == band.name).to_numpy(dtype=bool)]
        upper = bands[i + 1].lower if i + 1 < len(bands) else None
        band_rows.append(
            {
                "name": band.name,
                "range": _band_range((band.lower, upper)),
                "meaning": band.meaning(outcome),
                "by_list": [int((in_band["list"] == key).sum()) for key in LISTS],
                "named": int((mine["band"] == band.name).sum()),
            }
        )
    sections = [
        _list_section(
            key,
            local_authority=local_authority,
            capacity=capacity,
            counts=counts[key],
            bands=bands,
        )
        for key in LISTS
    ]
    named = {
        key: mine.loc[mine["list"] == key, "probability"].to_numpy(dtype=float) for key in LISTS
    }
    began = time.perf_counter()
    chart = estimates_chart(named, bands, outcome)
    if timings is not None:
        timings[CHARTS] = timings.get(CHARTS, 0.0) + time.perf_counter() - began
    return {
        "outcome": outcome,
        "title": OUTCOMES[outcome].title,
        "short": OUTCOMES[outcome].short,
        "model": f"{released.name} version {released.version}",
        "verdict": _verdict(released),
        "base_rate": percent(base_rate(bands)),
        "mean_estimate": percent(float(residents["probability"].mean())) if len(residents) else "—",
        "counts": dict(counts),
        "compared": compared,
        "bands": band_rows,
        "lists": sections,
        "chart": chart,
    }


def render_pack(
    *,
    local_authority: str,
    as_of: dt.date,
    lists: pd.DataFrame,
    drawn: pd.DataFrame,
    models: Mapping[str, Released],
    explanations: Mapping[tuple[str, str], Any],
    capacity: Mapping[str, int],
    freshness: str,
    baseline_as_of: str | None,
    counts: Mapping[str, Mapping[str, Any]],
    coverage: Coverage | None = None,
    previous_agenda: Collection[str] | None = None,
    agenda_counts: Mapping[str, int] | None = None,
    suspended: Mapping[str, Suspension] | None = None,
    compared: Collection[str] | None = None,
    timings: MutableMapping[str, float] | None = None,
) -> str:
    """The panel pack of one local authority as an HTML page.

    Parameters
    ----------
    lists
        This authority's named rows (all outcomes and lists, with status).
    drawn
        Everyone resident in the authority on ``as_of``: ``person_id, outcome, list,
        probability, band`` (for the band table, the other outcome on a card and the
        charts; nobody in it who is not named is named in the pack).
    models
        :class:`models.registry.Released` per outcome listed, in section order; a
        version whose latest monitoring is amber or red gets an amber box near the top.
    explanations
        Explanation per ``(outcome, person_id)`` of everyone named for that outcome.
    capacity
        This authority's capacity of each list: ``{"known": n, "early": m}``.
    counts
        Per outcome, :func:`serving.batch.lists.list_counts`.
    coverage
        What the records hold and cannot see, with each source's date
        (:func:`features.coverage.coverage`); said once, near the top.
    previous_agenda
        The young people on this authority's previous agenda (any list), or ``None``
        when there was no previous run.
    agenda_counts
        :func:`serving.batch.history.agenda_changes` of this authority.
    suspended
        :class:`models.registry.Suspension` per outcome asked for whose version is
        switched off: it has no list, no section and no column; a box near the top says
        why and what the panel can still do.
    compared
        The outcomes whose lists are compared with the previous run's (``None``: all);
        the others say the previous run made no list for them.
    timings
        When given, the seconds spent drawing charts are added to its ``"charts"`` and
        the rest of the rendering (cards, agenda, template) to its ``"rendering"``.
    """
    began = time.perf_counter()
    charts_before = (timings or {}).get(CHARTS, 0.0)
    outcomes = list(models)
    switched_off = [
        {"outcome": o, "title": OUTCOMES[o].title, "words": s.words()}
        for o, s in (suspended or {}).items()
    ]
    watch = [
        {
            "outcome": o,
            "title": OUTCOMES[o].title,
            "status": note.status,
            "words": note.words(),
        }
        for o, released in models.items()
        if (note := released.monitoring) is not None and note.amber
    ]
    sections = [
        _section(
            outcome,
            local_authority=local_authority,
            lists=lists,
            drawn=drawn,
            released=models[outcome],
            capacity=capacity,
            counts=counts[outcome],
            compared=compared is None or outcome in compared,
            timings=timings,
        )
        for outcome in outcomes
    ]
    if baseline_as_of and previous_agenda is None:  # from the lists alone: still on one
        previous_agenda = set(lists.loc[lists["status"].astype(str) != "new", "person_id"])
    agenda = _agenda(
        lists, drawn, outcomes, explanations, capacity, previous_agenda if baseline_as_of else None
    )
    left_rows = [
        {
            "outcome": s["short"],
            "list": LISTS[str(section["key"])].title,
            "reason": reason,
            "n": n,
        }
        for s in sections
        for section in s["lists"]  # type: ignore[attr-defined]
        for reason, n in section["no_longer"]
    ]
    html = _template().render(
        marking=MARKING,
        local_authority=local_authority,
        as_of=as_of.isoformat(),
        sections=sections,
        outcomes=[OUTCOMES[o] for o in outcomes],
        lists=[LISTS[key] for key in LISTS],
        agenda=agenda,
        agenda_counts=agenda_counts or {},
        left_rows=left_rows,
        capacity=capacity,
        freshness=freshness,
        baseline_as_of=baseline_as_of,
        caveat=CAVEAT,
        no_factors=NO_FACTORS,
        no_change=NO_CHANGE,
        coverage=coverage,
        new_to_agenda=STATUS_NEW_TO_AGENDA,
        switched_off=switched_off,
        watch=watch,
    )
    if timings is not None:
        charts = timings.get(CHARTS, 0.0) - charts_before
        spent = time.perf_counter() - began - charts
        timings[RENDERING] = timings.get(RENDERING, 0.0) + spent
    return html
