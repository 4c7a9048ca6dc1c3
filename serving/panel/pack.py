"""The HTML panel pack: one page per local authority, rendered with Jinja2 + matplotlib.

A pack opens with what the list is and is not (a prompt for professional review),
then for each outcome: a summary (how many, what the bands mean, the base rate,
the model version and its fairness verdict), one card per young person within
the panel's capacity (reasons, protective factors, a contributions chart), a
table of others at or above the threshold beyond capacity, and who dropped off
since the last run and why. Charts are inline SVG with fixed ids, so the same
inputs give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from features.vocabulary import OUTCOMES
from models.panels import panel_threshold
from models.reasons import CAVEAT, NO_FACTORS

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


def distribution_chart(probability: np.ndarray, threshold: float, cut: float | None) -> Markup:
    """Estimates of everyone in the area (log scale), with the threshold and the panel's cut."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    if len(probability) == 0:
        return Markup("")
    values = np.clip(np.asarray(probability, dtype=float), 1e-5, 1.0)
    with mpl.rc_context(SVG_STYLE):  # type: ignore[arg-type]
        figure = Figure(figsize=(8.0, 2.4))
        figure.subplots_adjust(left=0.1, right=0.98, top=0.95, bottom=0.22)
        axes = figure.add_subplot()
        bins = np.logspace(math.log10(values.min()), math.log10(values.max()) + 1e-9, 40)
        axes.hist(values, bins=bins.tolist(), color="#999999")
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.axvline(threshold, color=RAISE_COLOUR, linewidth=1, label="'high' band threshold")
        if cut is not None:
            axes.axvline(cut, color="#000000", linestyle="--", linewidth=1, label="last listed")
        axes.set_xlabel("estimated probability within 12 months")
        axes.set_ylabel("young people")
        axes.legend(frameon=False, loc="upper right")
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


def _section(
    outcome: str,
    lists: pd.DataFrame,
    snapshot: pd.DataFrame,
    released: Released,
    explanations: Mapping[tuple[str, str], Any],
    capacity: int,
    counts: Mapping[str, int],
) -> dict[str, object]:
    mine = lists[lists["outcome"] == outcome]
    listed = mine[mine["status"] != "dropped off"]
    residents = snapshot[snapshot["outcome"] == outcome]
    model = released.model
    threshold = panel_threshold(model.bundle.bands)
    bands = []
    in_band = residents["band"].value_counts()
    for band in model.bundle.bands:
        bands.append(
            {
                "name": band.name,
                "lower": _percent(band.lower),
                "meaning": band.meaning(outcome),
                "residents": int(in_band.get(band.name, 0)),
            }
        )
    cards = []
    for row in listed[listed["within_capacity"]].to_dict("records"):
        explanation = explanations[(outcome, str(row["person_id"]))]
        cards.append(
            {
                "rank": int(row["rank"]),
                "person_id": row["person_id"],
                "probability": _percent(row["probability"]),
                "band": row["band"],
                "band_meaning": explanation.band_meaning,
                "age": "" if pd.isna(row["age_years"]) else int(row["age_years"]),
                "status": row["status"],
                "previous_rank": None
                if pd.isna(row["previous_rank"])
                else int(row["previous_rank"]),
                "reasons": [r.sentence for r in explanation.reasons],
                "protective": [r.sentence for r in explanation.protective],
                "chart": contributions_chart(explanation),
            }
        )
    beyond = [
        {
            "rank": int(r["rank"]),
            "person_id": r["person_id"],
            "probability": _percent(r["probability"]),
            "band": r["band"],
            "status": r["status"],
            "reason": r["reason_1"] or NO_FACTORS,
        }
        for r in listed[~listed["within_capacity"]].to_dict("records")
    ]
    dropped = [
        {
            "person_id": r["person_id"],
            "previous_rank": int(r["previous_rank"]),
            "previous_probability": _percent(r["previous_probability"]),
            "probability": _percent(r["probability"]),
            "reason": r["dropped_reason"],
        }
        for r in mine[mine["status"] == "dropped off"].to_dict("records")
    ]
    within = listed[listed["within_capacity"]]
    cut = float(within["probability"].min()) if len(within) else None
    return {
        "outcome": outcome,
        "title": OUTCOMES[outcome].title,
        "model": f"{released.name} version {released.version}",
        "candidate": model.bundle.candidate_name,
        "verdict": released.verdict,
        "threshold": _percent(threshold),
        "base_rate": _percent(base_rate(model.bundle.bands)),
        "mean_estimate": _percent(float(residents["probability"].mean()))
        if len(residents)
        else "—",
        "capacity": capacity,
        "counts": dict(counts),
        "bands": bands,
        "cards": cards,
        "beyond": beyond,
        "dropped": dropped,
        "chart": distribution_chart(residents["probability"].to_numpy(), threshold, cut),
    }


def render_pack(
    *,
    local_authority: str,
    as_of: dt.date,
    lists: pd.DataFrame,
    snapshot: pd.DataFrame,
    models: Mapping[str, Released],
    explanations: Mapping[tuple[str, str], Any],
    capacity: int,
    freshness: str,
    baseline_as_of: str | None,
    counts: Mapping[str, Mapping[str, int]],
) -> str:
    """The panel pack of one local authority as an HTML page.

    Parameters
    ----------
    lists
        This authority's rows of the panel list (all outcomes, with status).
    snapshot
        Everyone resident in the authority on ``as_of``: ``person_id, outcome,
        probability, band`` (for the summary and the distribution chart).
    models
        :class:`models.registry.Released` per outcome, in section order.
    explanations
        Explanation per ``(outcome, person_id)`` of everyone listed.
    """
    sections = [
        _section(outcome, lists, snapshot, models[outcome], explanations, capacity, counts[outcome])
        for outcome in models
    ]
    template = _environment().get_template(TEMPLATE)
    return template.render(
        local_authority=local_authority,
        as_of=as_of.isoformat(),
        sections=sections,
        capacity=capacity,
        freshness=freshness,
        baseline_as_of=baseline_as_of,
        caveat=CAVEAT,
        no_factors=NO_FACTORS,
    )
