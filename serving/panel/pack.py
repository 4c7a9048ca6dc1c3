"""The HTML panel pack: one page per local authority, rendered with Jinja2 + matplotlib.

A pack opens with what the lists are and are not (a prompt for professional review),
then for each outcome: a summary (the model version and its fairness verdict, the
base rate, what the bands mean) and two separate lists
(:data:`features.vocabulary.LISTS`) — young people already known to services for
serious violence, and the early-identification list of those with no such record
yet — each with its purpose, one card per young person within the list's capacity
(reasons, protective factors, what changed since the previous run, a contributions
chart), then the rest counted by band (never named), how to raise the list's capacity,
and how many named last time are no longer on the list, by reason. What the records
behind the lists hold and cannot see (:mod:`features.coverage`) is said once, near
the top; each card points to it. Charts are inline SVG with fixed ids, so the same
inputs give the same bytes; the page prints (each list starts a page).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from features.coverage import Coverage
from features.vocabulary import LISTS, OUTCOMES
from models.panels import PanelError, panel_threshold
from models.reasons import CAVEAT, NO_CHANGE, NO_FACTORS

if TYPE_CHECKING:
    from models.registry import Released

__all__ = ["base_rate", "contributions_chart", "distribution_chart", "render_pack"]

TEMPLATE = "pack.html.j2"
#: matplotlib settings that make SVG output small and byte-for-byte reproducible
SVG_STYLE: dict[str, Any] = {
    "svg.hashsalt": "vru-panel-pack",
    "svg.fonttype": "none",
    "font.size": 8,
    "font.family": "DejaVu Sans",
}
RAISE_COLOUR = "#b2182b"
LOWER_COLOUR = "#2166ac"
LABEL_CHARS = 58


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(Path(__file__).parent),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _svg(figure: Any) -> Markup:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return Markup(text[text.index("<svg") :])  # inline: drop the XML prologue


def _short(text: str) -> str:
    head = text.split(" — ")[0]
    return head if len(head) <= LABEL_CHARS else head[: LABEL_CHARS - 1] + "…"


def contributions_chart(explanation: Any) -> Markup:
    """Horizontal bars: what raised (red) and lowered (blue) this estimate, in log-odds."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    items = [(r.sentence, r.contribution) for r in explanation.reasons] + [
        (r.sentence, r.contribution) for r in explanation.protective
    ]
    if not items:
        return Markup("")
    with mpl.rc_context(SVG_STYLE):  # type: ignore[arg-type]
        height = 0.26 * len(items) + 0.7
        figure = Figure(figsize=(8.0, height))
        # fixed margins (not a "tight" box): half the cost, and labels up to LABEL_CHARS fit
        figure.subplots_adjust(left=0.47, right=0.98, top=1 - 0.1 / height, bottom=0.5 / height)
        axes = figure.add_subplot()
        labels = [_short(s) for s, _ in items][::-1]
        values = [v for _, v in items][::-1]
        axes.barh(
            range(len(items)),
            values,
            color=[RAISE_COLOUR if v > 0 else LOWER_COLOUR for v in values],
            height=0.6,
        )
        axes.set_yticks(range(len(items)), labels)
        axes.axvline(0, color="#444444", linewidth=0.8)
        axes.set_xlabel("contribution to the estimate (log-odds)")
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        return _svg(figure)


def distribution_chart(
    probability: np.ndarray, threshold: float | None, cut: float | None
) -> Markup:
    """Estimates of everyone in a list's cohort (log scale), the 'high' band's lower edge
    and the last estimate named on the list."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    if len(probability) == 0:
        return Markup("")
    values = np.clip(np.asarray(probability, dtype=float), 1e-5, 1.0)
    with mpl.rc_context(SVG_STYLE):  # type: ignore[arg-type]
        figure = Figure(figsize=(8.0, 2.2))
        figure.subplots_adjust(left=0.1, right=0.98, top=0.86, bottom=0.24)
        axes = figure.add_subplot()
        bins = np.logspace(math.log10(values.min()), math.log10(values.max()) + 1e-9, 40)
        axes.hist(values, bins=bins.tolist(), color="#999999")
        axes.set_xscale("log")
        axes.set_yscale("log")
        if threshold is not None:
            axes.axvline(threshold, color=RAISE_COLOUR, linewidth=1, label="'high' band from")
        if cut is not None:
            axes.axvline(cut, color="#000000", linestyle="--", linewidth=1, label="last named")
        axes.set_xlabel("estimated probability within 12 months")
        axes.set_ylabel("young people")
        if threshold is not None or cut is not None:
            # above the axes: the bars are as likely to be on the right as on the left
            axes.legend(frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        return _svg(figure)


def _percent(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "—"
    number = float(value)  # type: ignore[arg-type]
    return f"{number:.2%}" if number < 0.1 else f"{number:.1%}"


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


def _card(row: Mapping[Any, Any], explanation: Any) -> dict[str, object]:
    status = str(row["status"])
    moved_from = status.removeprefix("moved from the ").removesuffix(" list")
    note = ""
    if moved_from != status and moved_from in LISTS:
        now = LISTS[str(row["list"])]
        note = f"last time on the {moved_from} list; now {now.title}"
    return {
        "rank": int(row["rank"]),
        "person_id": row["person_id"],
        "probability": _percent(row["probability"]),
        "band": row["band"],
        "band_meaning": explanation.band_meaning,
        "estimate": explanation.estimate_sentence(),
        "age": "" if pd.isna(row["age_years"]) else int(row["age_years"]),
        "status": status,
        "status_note": note,
        "previous_rank": None if pd.isna(row["previous_rank"]) else int(row["previous_rank"]),
        "reasons": [r.sentence for r in explanation.reasons],
        "protective": [r.sentence for r in explanation.protective],
        "changes": _changes(getattr(explanation, "changes", None)),
        "chart": contributions_chart(explanation),
    }


def _changes(changes: Any) -> dict[str, object] | None:
    """What changed since the previous run, for a card (``None``: not scored then)."""
    if changes is None:
        return None
    return {
        "since": changes.since,
        "summary": changes.summary[:1].upper() + changes.summary[1:],
        "note": changes.note,
        "moved": [c.sentence for c in changes.moved],
    }


def _list_section(
    key: str,
    outcome: str,
    *,
    local_authority: str,
    named: pd.DataFrame,
    cohort: pd.DataFrame,
    explanations: Mapping[tuple[str, str], Any],
    capacity: Mapping[str, int],
    counts: Mapping[str, Any],
    bands: Sequence[Any],
) -> dict[str, object]:
    """One list of one outcome: what it is for, the named cards, and counts of the rest."""
    cards = [
        _card(row, explanations[(outcome, str(row["person_id"]))])
        for row in named.to_dict("records")
    ]
    beyond_by_band = dict(counts["beyond_capacity_by_band"])
    high = {b.name for b in bands if b.lower >= (_high_edge(bands) or math.inf)}
    beyond_high = sum(n for band, n in beyond_by_band.items() if band in high)
    own = int(capacity[key])
    suggested = own + (beyond_high if beyond_high else RAISE_BY)
    cut = float(named["probability"].min()) if len(named) else None
    return {
        "key": key,
        "title": LISTS[key].list_title,
        "purpose": LISTS[key].purpose,
        "capacity": own,
        "counts": dict(counts),
        "cards": cards,
        "beyond_by_band": list(beyond_by_band.items()),
        "beyond_high": beyond_high,
        "high_bands": " and ".join(b.name for b in bands if b.name in high) or "high",
        "suggested": suggested,
        "raise_example": _raise_example(local_authority, capacity, key, suggested),
        "no_longer": sorted(
            counts["no_longer_named_by_reason"].items(), key=lambda kv: (-kv[1], kv[0])
        ),
        "chart": distribution_chart(
            cohort["probability"].to_numpy(dtype=float), _high_edge(bands), cut
        ),
    }


def _section(
    outcome: str,
    *,
    local_authority: str,
    lists: pd.DataFrame,
    drawn: pd.DataFrame,
    released: Released,
    explanations: Mapping[tuple[str, str], Any],
    capacity: Mapping[str, int],
    counts: Mapping[str, Any],
) -> dict[str, object]:
    mine = lists[lists["outcome"] == outcome]
    residents = drawn[drawn["outcome"].to_numpy() == outcome]
    model = released.model
    bands = model.bundle.bands
    band_rows = []
    for band in bands:
        in_band = residents[residents["band"].to_numpy() == band.name]
        band_rows.append(
            {
                "name": band.name,
                "lower": _percent(band.lower),
                "meaning": band.meaning(outcome),
                "by_list": [int((in_band["list"] == key).sum()) for key in LISTS],
            }
        )
    sections = [
        _list_section(
            key,
            outcome,
            local_authority=local_authority,
            named=mine[mine["list"] == key],
            cohort=residents[residents["list"].to_numpy() == key],
            explanations=explanations,
            capacity=capacity,
            counts=counts[key],
            bands=bands,
        )
        for key in LISTS
    ]
    return {
        "outcome": outcome,
        "title": OUTCOMES[outcome].title,
        "model": f"{released.name} version {released.version}",
        "candidate": model.bundle.candidate_name,
        "verdict": released.verdict,
        "base_rate": _percent(base_rate(bands)),
        "mean_estimate": _percent(float(residents["probability"].mean()))
        if len(residents)
        else "—",
        "counts": dict(counts),
        "bands": band_rows,
        "lists": sections,
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
) -> str:
    """The panel pack of one local authority as an HTML page.

    Parameters
    ----------
    lists
        This authority's named rows (all outcomes and lists, with status).
    drawn
        Everyone resident in the authority on ``as_of``: ``person_id, outcome, list,
        probability, band`` (for the band table and the charts; nobody in it beyond
        capacity is named in the pack).
    models
        :class:`models.registry.Released` per outcome, in section order.
    explanations
        Explanation per ``(outcome, person_id)`` of everyone named.
    capacity
        This authority's capacity of each list: ``{"known": n, "early": m}``.
    counts
        Per outcome, :func:`serving.batch.lists.list_counts`.
    coverage
        What the records hold and cannot see, with each source's date
        (:func:`features.coverage.coverage`); said once, near the top.
    """
    sections = [
        _section(
            outcome,
            local_authority=local_authority,
            lists=lists,
            drawn=drawn,
            released=models[outcome],
            explanations=explanations,
            capacity=capacity,
            counts=counts[outcome],
        )
        for outcome in models
    ]
    template = _environment().get_template(TEMPLATE)
    return template.render(
        local_authority=local_authority,
        as_of=as_of.isoformat(),
        sections=sections,
        lists=[LISTS[key] for key in LISTS],
        capacity=capacity,
        freshness=freshness,
        baseline_as_of=baseline_as_of,
        caveat=CAVEAT,
        no_factors=NO_FACTORS,
        no_change=NO_CHANGE,
        coverage=coverage,
    )
