"""The monthly monitoring report: one self-contained HTML page for a partnership board.

Three parts, from the monitoring history (:mod:`monitoring.history`):

1. the current status in words for the month ``as_of``: each model's overall status
   (colour *and* word), whether it was switched off and why, each amber or red check with
   its sentence, and the checks that could not be judged (never counted as green);
2. one small chart per check and local authority, month by month, with the plan's amber
   and red limits drawn as lines and zones, the interval as error bars, markers shaped and
   coloured by status, and months that could not be judged shown as hatched gaps;
3. a compact table of every judged figure of the month.

Charts are PNGs embedded in the page (no external assets); line styles, marker shapes and
labels keep them readable printed in black and white.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from features.vocabulary import OUTCOMES
from monitoring.history import ALL_AREAS, ANY_OUTCOME, JUDGED, STATUSES
from monitoring.plan import CHECKS, CheckSpec, Plan

__all__ = ["LIST_COMPOSITION", "REPORT", "STATUS_CHECK", "render_report", "write_report"]

#: the report's file name in its folder
REPORT = "report.html"
#: ``check`` of the month's summary row of each outcome
STATUS_CHECK = "status"
#: ``check`` of the information rows on who is on the lists
LIST_COMPOSITION = "list_composition"

#: each status as a reader sees it (always the word, never the colour alone)
STATUS_WORDS = {
    "info": "for information",
    "too few": "too few to judge",
    "not yet": "not yet judged",
    "green": "green",
    "amber": "amber",
    "red": "red",
}
#: what each check's figure means, in plain words (the plan's ``measure`` says it tersely)
PLAIN_MEASURES = {
    "data_volume": (
        "records that arrived last month, as a multiple of the same month in the two years "
        "before (1 means as many as usual; a feed that stops reads 0)"
    ),
    "data_freshness": "days since the latest record arrived from the source",
    "input_drift": (
        "how far the information the model uses has moved since the model was trained, as a "
        "multiple of what chance alone gives (1 or less means no more movement than chance); "
        "the largest over all the model's inputs"
    ),
    "band_shares": (
        "the share of young people in the raised band or above, as a multiple of that share "
        "when the model was trained (1 means unchanged)"
    ),
    "precision": (
        "of the young people named on the lists 12 months ago, the share with a recorded "
        "outcome since, as a multiple of what their bands said to expect (1 means as expected)"
    ),
    "calibration": (
        "outcomes recorded as a multiple of the number the estimates of 12 months ago "
        "expected (1 means right on average; above 1 the estimates were too low, below 1 "
        "too high)"
    ),
    "group_calibration": (
        "the same for one group of young people (by sex, ethnicity, special educational "
        "needs …), relative to everyone else (1 means the estimates were as right for this "
        "group as for everyone else)"
    ),
    "disagreement": "the share of practitioners' feedback that disagrees with the estimate",
    LIST_COMPOSITION: (
        "the make-up of the lists: the share of young people named who are new since last "
        "month, and of those in the high band or above, the share already known to services "
        "for serious violence"
    ),
}
#: how each status is drawn: colour, marker shape (shape carries it in black and white)
_COLOURS = {"green": "#2e7d32", "amber": "#d08c00", "red": "#c62828"}
#: limit lines and their labels: darker, so they still show printed in grey
_INK = {"amber": "#9a6400", "red": "#a01818"}
_UNJUDGED_GREY = "#8a8a8a"
#: how a point is marked by status: shape and fill (the shape carries it in black and white)
_MARKS: dict[str, dict[str, Any]] = {
    "green": {
        "marker": "o",
        "markersize": 5,
        "markerfacecolor": _COLOURS["green"],
        "markeredgecolor": "black",
        "markeredgewidth": 0.6,
    },
    "amber": {
        "marker": "^",
        "markersize": 8,
        "markerfacecolor": _COLOURS["amber"],
        "markeredgecolor": "black",
        "markeredgewidth": 0.8,
    },
    "red": {
        "marker": "s",
        "markersize": 7.5,
        "markerfacecolor": _COLOURS["red"],
        "markeredgecolor": "black",
        "markeredgewidth": 0.8,
    },
    "info": {
        "marker": "o",
        "markersize": 4,
        "markerfacecolor": "#555555",
        "markeredgecolor": "#555555",
    },
}
_HOLLOW: dict[str, Any] = {
    "marker": "o",
    "markersize": 5.5,
    "markerfacecolor": "white",
    "markeredgecolor": _UNJUDGED_GREY,
    "markeredgewidth": 1.0,
}
_SERIES_COLOURS = ("#1f3b73", "#5b5b5b", "#6a3d9a", "#0f6d6d", "#8c510a", "#333333")
_SERIES_STYLES: tuple[Any, ...] = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)))
_SEVERITY = {status: rank for rank, status in enumerate(STATUSES)}
_DPI = 80
_HALF_MONTH = 15.0  # days either side of a month's point that its hatched gap covers
_MAX_ALT_SERIES = 6
_MAX_SERIES = 6  # lines in colour on one panel; more are drawn thin and grey
_OTHER_GREY = "#c2c2c2"
_MAX_SENTENCES = 2
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


# ------------------------------------------------------------------ words and figures


def _long_date(day: dt.date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _month_name(day: dt.date) -> str:
    return f"{_MONTHS[day.month - 1]} {day.year}"


def _model_label(outcome: str) -> str:
    """A model in a few words ("as a victim"); the data checks concern both models."""
    if outcome == ANY_OUTCOME:
        return "both models"
    known = OUTCOMES.get(outcome)
    return f"risk {known.short}" if known else outcome


def _model_heading(outcome: str) -> str:
    known = OUTCOMES.get(outcome)
    return known.heading if known else f"Risk: {outcome}"


def _title(check: str) -> str:
    if check == LIST_COMPOSITION:
        return "who is on the lists"
    spec = CHECKS.get(check)
    return spec.title if spec else check.replace("_", " ")


def _is_share(check: str) -> bool:
    return check in ("disagreement", LIST_COMPOSITION)


def _number(check: str, value: float) -> str:
    if not math.isfinite(value):
        return "—"
    if check == "data_freshness":
        return f"{value:.0f}"
    if _is_share(check):
        return f"{value * 100:.0f}%"
    return f"{value:.2f}"


def _figure(check: str, value: float, low: float, high: float) -> str:
    """The figure with its interval in words ("0.42 (0.30 to 0.55)", "12 days")."""
    if not math.isfinite(value):
        return "—"
    unit = ""
    if check == "data_freshness":
        unit = " day" if _number(check, value) == "1" else " days"
    text = f"{_number(check, value)}{unit}"
    if math.isfinite(low) and math.isfinite(high):
        text += f" ({_number(check, low)} to {_number(check, high)}{unit})"
    return text


def _limit_number(check: str, value: float) -> str:
    """A limit as people write it: 30%, 14, 2, 1.25, 0.8, 0.67."""
    if _is_share(check):
        return _number(check, value)
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _limits_text(check: str, direction: str, amber: float, red: float) -> str:
    """The limits in words; for a check judged on both sides, the lower limit too."""
    if not (math.isfinite(amber) and math.isfinite(red)):
        return "—"

    def n(v: float) -> str:
        return _limit_number(check, v)

    if direction == "below":
        return f"amber below {n(amber)}, red below {n(red)}"
    if direction == "above":
        return f"amber above {n(amber)}, red above {n(red)}"
    return (
        f"amber above {n(amber)} or below {n(1 / amber)}, red above {n(red)} or below {n(1 / red)}"
    )


def _sentences(words: Iterable[str], limit: int = _MAX_SENTENCES) -> str:
    """Distinct sentences joined, at most ``limit`` of them and a count of the rest."""
    distinct = list(dict.fromkeys(w.strip() for w in words if isinstance(w, str) and w.strip()))
    shown = " ".join(w if w.endswith((".", "!", "?")) else f"{w}." for w in distinct[:limit])
    if len(distinct) > limit:
        shown += f" (And {len(distinct) - limit} more like this: see the table below.)"
    return shown


def _worst(statuses: Iterable[str]) -> str | None:
    judged = [s for s in statuses if s in JUDGED]
    return max(judged, key=_SEVERITY.__getitem__) if judged else None


# ------------------------------------------------------------------ the history


def _normalised(history: pd.DataFrame) -> pd.DataFrame:
    frame = history.copy()
    frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.date
    for column in ("value", "low", "high", "amber", "red"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for column in (
        "local_authority",
        "outcome",
        "model_version",
        "check",
        "subject",
        "status",
        "words",
    ):
        frame[column] = frame[column].fillna("").astype(str)
    frame["enforced"] = frame["enforced"].fillna(False).astype(bool)
    return frame


def _areas(rows: pd.DataFrame) -> list[str]:
    """The authorities of ``rows``: all areas together first, then by name."""
    present = set(rows["local_authority"])
    return ([ALL_AREAS] if ALL_AREAS in present else []) + sorted(present - {ALL_AREAS})


def _outcomes(present: Iterable[str], models: Mapping[str, str]) -> list[str]:
    named = [o for o in dict.fromkeys([*models, *present]) if o not in ("", ANY_OUTCOME)]
    return [o for o in OUTCOMES if o in named] + sorted(o for o in named if o not in OUTCOMES)


def _check_order(check: str) -> int:
    order = list(CHECKS)
    return order.index(check) if check in order else len(order)


def _ordered(rows: pd.DataFrame) -> pd.DataFrame:
    """Worst status first, then the plan's order of checks, then all areas before each one."""
    keys = pd.DataFrame(
        {
            "severity": -rows["status"].map(_SEVERITY).astype(float).fillna(-1.0),
            "check_order": rows["check"].map(_check_order).astype(float),
            "area": rows["local_authority"].ne(ALL_AREAS),
        },
        index=rows.index,
    )
    order = keys.join(rows[["local_authority", "outcome", "subject"]]).sort_values(
        ["severity", "check_order", "area", "local_authority", "outcome", "subject"],
        kind="mergesort",
    )
    return rows.loc[order.index]


def _where(area: str, subject: str, sentence: str) -> str:
    """The area and subject of a figure, leaving out what its sentence already names."""
    said = sentence.casefold()
    parts = [p for p in (area, subject) if p and p.casefold() not in said]
    if area == ALL_AREAS and "every area" in said:
        parts = [p for p in parts if p != ALL_AREAS]
    return ", ".join(parts)


def _flagged(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Each amber or red figure of the month, worst first, with its sentence."""
    bad = _ordered(rows[rows["status"].isin(("amber", "red"))])
    return [
        {
            "status": str(r.status),
            "word": STATUS_WORDS[str(r.status)],
            "title": _title(str(r.check)),
            "where": _where(str(r.local_authority), str(r.subject), str(r.words)),
            "sentence": r.words,
            "switches_off": bool(r.enforced) and r.status == "red",
        }
        for r in bad.itertuples()
    ]


def _unjudged(rows: pd.DataFrame) -> list[dict[str, str]]:
    """One line per check that could not be judged somewhere, from the rows' own words."""
    lines = []
    for status in ("not yet", "too few"):
        part = rows[rows["status"] == status]
        for check in sorted(set(part["check"]), key=_check_order):
            of_check = part[part["check"] == check]
            areas = _areas(of_check)
            where = (
                ", ".join(areas)
                if len(areas) <= 3
                else f"{areas[0]}, {areas[1]} and {len(areas) - 2} more areas"
            )
            lines.append(
                {
                    "status": status,
                    "word": STATUS_WORDS[status],
                    "title": _title(check),
                    "where": where,
                    "sentence": _sentences(of_check["words"]),
                }
            )
    return lines


def _block(
    key: str, heading: str, model: str, rows: pd.DataFrame, summary: pd.DataFrame
) -> dict[str, Any]:
    """One model's (or the records') status for the month, for the top of the report."""
    checks = rows[rows["check"].isin(list(CHECKS))]
    status = str(summary["status"].iloc[0]) if len(summary) else None
    if status not in STATUSES:
        status = _worst(checks["status"])
    switched_off = checks[checks["enforced"] & (checks["status"] == "red")]
    return {
        "key": key,
        "heading": heading,
        "model": model,
        "status": status or "not yet",
        "word": STATUS_WORDS[status] if status else "not judged yet",
        "summary": " ".join(w for w in summary["words"] if w.strip()),
        "switched_off": sorted({_title(c) for c in switched_off["check"]}, key=str),
        "flagged": _flagged(checks),
        "unjudged": _unjudged(checks),
        "judged": int(checks["status"].isin(JUDGED).sum()),
        "green": int((checks["status"] == "green").sum()),
    }


def _status_blocks(month: pd.DataFrame, models: Mapping[str, str]) -> list[dict[str, Any]]:
    """One block per model, each with the checks of the records it uses (as the month's
    status row judges them: red on an enforced check of the records switches every model
    off); the records alone when no model was monitored."""
    blocks = []
    data = month[month["outcome"] == ANY_OUTCOME]
    for outcome in _outcomes(month["outcome"], models):
        rows = month[month["outcome"].isin((outcome, ANY_OUTCOME))]
        summary = rows[(rows["check"] == STATUS_CHECK) & (rows["outcome"] == outcome)]
        versions = sorted({v for v in rows["model_version"] if v})
        model = models.get(outcome) or (f"model version {', '.join(versions)}" if versions else "")
        blocks.append(_block(outcome, _model_heading(outcome), model, rows, summary))
    if not blocks and len(data):
        blocks.append(_block(ANY_OUTCOME, "The records the models use", "", data, data.iloc[0:0]))
    return blocks


def _table_row(r: Any) -> dict[str, str]:
    return {
        "title": _title(r.check),
        "area": r.local_authority,
        "model": _model_label(r.outcome),
        "subject": r.subject or "—",
        "figure": _figure(r.check, r.value, r.low, r.high),
        "status": r.status,
        "word": STATUS_WORDS.get(r.status, r.status),
        "sentence": r.words,
    }


def _table(month: pd.DataFrame) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The month's judged figures, grouped by check (the worst check first, the worst
    figure first within it), and the figures that could not be judged."""
    rows = month[month["check"].isin(list(CHECKS))]
    judged = _ordered(rows[rows["status"].isin(JUDGED)])
    groups = []
    for check in dict.fromkeys(judged["check"]):
        part = judged[judged["check"] == check]
        spec = CHECKS[check]
        first = part.iloc[0]
        groups.append(
            {
                "title": spec.title,
                "limits": _limits_text(check, spec.direction, first["amber"], first["red"]),
                "enforced": bool(part["enforced"].any()),
                "rows": [_table_row(r) for r in part.itertuples()],
            }
        )
    unjudged = _ordered(rows[rows["status"].isin(("too few", "not yet"))])
    return groups, [_table_row(r) for r in unjudged.itertuples()]


# ------------------------------------------------------------------ charts


def _series_label(outcome: str, subject: str, outcomes: int) -> str:
    parts = [] if outcome == ANY_OUTCOME or outcomes < 2 else [_model_label(outcome)]
    if subject:
        parts.append(subject)
    return " · ".join(parts) or _model_label(outcome)


def _limit_steps(
    rows: pd.DataFrame, months: Sequence[dt.date], plan_amber: float, plan_red: float
) -> tuple[np.ndarray, np.ndarray]:
    """The amber and red limits used each month (the plan's where a month recorded none)."""
    per_month = rows.groupby("as_of")[["amber", "red"]].first()
    amber = per_month["amber"].reindex(list(months)).fillna(plan_amber).to_numpy(dtype=float)
    red = per_month["red"].reindex(list(months)).fillna(plan_red).to_numpy(dtype=float)
    return amber, red


def _y_range(
    spec: CheckSpec, check: str, rows: pd.DataFrame, limits: np.ndarray
) -> tuple[float, float]:
    """Shared y limits for every panel of a check (a log scale centred on 1 for 'both')."""
    values = rows.loc[rows["status"] != "info", ["value", "low", "high"]].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    finite_limits = limits[np.isfinite(limits)]
    if spec.direction == "both":
        reach = float(np.log(finite_limits.max())) * 1.3 if len(finite_limits) else 1.0
        positive = values[values > 0]
        if len(positive):
            # intervals may run far out on small numbers: let them stretch the axis a little
            reach = max(reach, min(float(np.abs(np.log(positive)).max()) * 1.1, reach * 2.5))
        return math.exp(-reach), math.exp(reach)
    top = max([*finite_limits.tolist(), 0.0]) * 1.25
    if len(values):
        data_top = float(values.max())
        point_top = float(rows["value"].max()) if rows["value"].notna().any() else data_top
        top = max(top, min(data_top, 2 * max(point_top, top)) * 1.08)
    if check not in ("data_freshness",) and not _is_share(check):
        top = max(top, 1.2)
    if _is_share(check):
        top = min(max(top, 0.1), 1.05)
    return 0.0, top or 1.0


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _series_rows(
    rows: pd.DataFrame, outcome: str, subject: str, months: Sequence[dt.date]
) -> pd.DataFrame:
    """One line's rows, one per month of the report (empty status and NaN where none)."""
    part = rows[(rows["outcome"] == outcome) & (rows["subject"] == subject)]
    part = part.drop_duplicates("as_of", keep="last").set_index("as_of")
    out = part[["status", "value", "low", "high"]].reindex(list(months))
    out["status"] = out["status"].fillna("").astype(str)
    return out


def _split_series(
    rows: pd.DataFrame, direction: str
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The lines of a panel: those drawn in colour with a legend, and the rest (grey).

    With more than :data:`_MAX_SERIES` lines (a check by group or by band), colour goes
    to the lines ever amber or red (red first), then the whole population ("everyone"),
    then those whose latest judged figure lies farthest on the bad side.
    """
    keys = list(rows[["outcome", "subject"]].drop_duplicates().itertuples(index=False, name=None))
    if len(keys) <= _MAX_SERIES:
        return keys, []

    def priority(key: tuple[str, str]) -> tuple[float, float, float]:
        part = rows[(rows["outcome"] == key[0]) & (rows["subject"] == key[1])]
        worst = max((_SEVERITY.get(s, -1) for s in part["status"]), default=-1)
        flagged = -float(worst) if worst >= _SEVERITY["amber"] else 0.0
        everyone = 0.0 if key[1] in ("", "everyone") else 1.0
        judged = part[part["status"].isin(JUDGED) & part["value"].notna()]
        if not len(judged):
            return flagged, everyone, math.inf
        v = float(judged.sort_values("as_of")["value"].iloc[-1])
        if direction == "both":
            badness = abs(math.log(v)) if v > 0 else math.inf
        else:
            badness = -v if direction == "below" else v
        return flagged, everyone, -badness

    ranked = sorted(keys, key=priority)
    chosen = set(ranked[:_MAX_SERIES])
    return [k for k in keys if k in chosen], [k for k in keys if k not in chosen]


def _gap_spans(x: np.ndarray, at: np.ndarray) -> list[tuple[float, float]]:
    """Contiguous spans covering the months ``at``, from midpoint to midpoint (no slivers)."""
    mids = np.concatenate([[x[0] - _HALF_MONTH], (x[:-1] + x[1:]) / 2, [x[-1] + _HALF_MONTH]])
    spans: list[tuple[float, float]] = []
    for i in np.flatnonzero(at):
        left, right = float(mids[i]), float(mids[i + 1])
        if spans and spans[-1][1] == left:
            spans[-1] = (spans[-1][0], right)
        else:
            spans.append((left, right))
    return spans


def _two_columns(left: list[Any], right: list[Any]) -> list[Any]:
    """Legend handles so that a two-column legend (filled column by column) shows the
    lines on the left and the keys to markers and gaps on the right."""
    from matplotlib.lines import Line2D

    rows = max(len(left), len(right))

    def padded(items: list[Any]) -> list[Any]:
        blank = [Line2D([], [], alpha=0, label=" ") for _ in range(rows - len(items))]
        return items + blank

    return padded(left) + padded(right)


def _panel(
    rows: pd.DataFrame,
    *,
    check: str,
    area: str,
    months: Sequence[dt.date],
    limits: tuple[np.ndarray, np.ndarray] | None,
    y_range: tuple[float, float],
) -> dict[str, str]:
    """One check in one area, month by month: a small PNG and its alt text."""
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    spec = CHECKS.get(check)
    direction = spec.direction if spec else "above"
    x_all = np.asarray(mdates.date2num(list(months)), dtype=float)
    series, others = _split_series(rows, direction)
    n_outcomes = rows["outcome"].nunique()
    lines_key: list[Any] = []
    marks_key: list[Any] = []
    legend_rows = max(len(series) + bool(others), 3)
    fig = Figure(figsize=(6.0, 2.9 + 0.17 * legend_rows), layout="constrained")
    ax = fig.add_subplot()
    low, high = y_range
    if direction == "both":
        ax.set_yscale("log")
    ax.set_ylim(low, high)
    edge = (float(x_all[0]) - _HALF_MONTH, float(x_all[-1]) + _HALF_MONTH)
    ax.set_xlim(*edge)

    # limits: shaded zones and labelled lines (dashed amber, solid red: readable in grey)
    if limits is not None:
        amber, red = limits
        x_steps = np.concatenate([[edge[0]], x_all, [edge[1]]])
        a = np.concatenate([[amber[0]], amber, [amber[-1]]])
        r = np.concatenate([[red[0]], red, [red[-1]]])
        zones: list[tuple[Any, Any, str]]
        if direction == "below":
            zones = [(low, r, "red"), (r, a, "amber")]
        elif direction == "above":
            zones = [(a, r, "amber"), (r, high, "red")]
        else:
            zones = [
                (low, 1 / r, "red"),
                (1 / r, 1 / a, "amber"),
                (a, r, "amber"),
                (r, high, "red"),
            ]
        for bottom, top, status in zones:
            ax.fill_between(
                x_steps, bottom, top, step="mid", color=_COLOURS[status], alpha=0.10, lw=0
            )
        levels = [(a, "amber"), (r, "red")]
        if direction == "both":
            levels += [(1 / a, "amber"), (1 / r, "red")]
        for level, status in levels:
            style = (0, (5, 2)) if status == "amber" else "-"
            ax.step(x_steps, level, where="mid", color=_INK[status], lw=1.2, linestyle=style)
            ax.annotate(  # outside the plot, on the right: never over a point
                f"{status} {_limit_number(check, float(level[-1]))}",
                (1.0, float(level[-1])),
                xycoords=("axes fraction", "data"),
                xytext=(3, 0),
                textcoords="offset points",
                ha="left",
                va="center",
                fontsize=8,
                color=_INK[status],
            )
    if check != "data_freshness" and not _is_share(check):
        ax.axhline(1.0, color="#888888", lw=0.8, linestyle=(0, (1, 2)))

    # months nobody could judge: hatched gaps, never a green point
    statuses = rows.groupby("as_of")["status"].agg(set).reindex(list(months))
    unjudged = np.array([isinstance(s, set) and not s & set(JUDGED) for s in statuses])
    not_yet = unjudged & np.array([isinstance(s, set) and "not yet" in s for s in statuses])
    too_few = (
        unjudged & ~not_yet & np.array([isinstance(s, set) and "too few" in s for s in statuses])
    )
    for at, hatch, label in (
        (not_yet, "////", "not yet judged"),
        (too_few, "....", "too few to judge"),
    ):
        for left, right in _gap_spans(x_all, at):
            ax.axvspan(left, right, facecolor="#f2f2f2", edgecolor="#a0a0a0", hatch=hatch, lw=0)
        if at.any():
            marks_key.append(
                Patch(facecolor="#f2f2f2", edgecolor="#a0a0a0", hatch=hatch, label=label)
            )

    # one line per model and subject through its judged months only, so gaps stay gaps;
    # lines are nudged apart a few days so their intervals do not hide each other
    floor, ceiling = (low * 1.02, high / 1.02) if direction == "both" else (low, high)
    nudge = min(4.0, 16.0 / max(len(series), 1))
    clipped = False
    # many lines (groups, bands): the ones to look at in colour, the rest thin and grey
    for outcome, subject in others:
        part = _series_rows(rows, outcome, subject, months)
        states = part["status"].to_numpy(dtype=str)
        value = part["value"].to_numpy(dtype=float)
        drawn = (np.isin(states, JUDGED) | (states == "info")) & np.isfinite(value)
        line = np.where(drawn, np.clip(value, floor, ceiling), np.nan)
        ax.plot(x_all, line, color=_OTHER_GREY, lw=0.8, zorder=1.5)
        for mark, at in _status_marks(states, drawn & (states != "green")):
            ax.plot(x_all[at], line[at], linestyle="none", **mark)
    if others:
        lines_key.append(
            Line2D([], [], color=_OTHER_GREY, lw=0.8, label=f"{len(others)} more (grey): the table")
        )
    for k, (outcome, subject) in enumerate(series):
        colour = _SERIES_COLOURS[k % len(_SERIES_COLOURS)]
        style = _SERIES_STYLES[k % len(_SERIES_STYLES)]
        x = x_all + (k - (len(series) - 1) / 2) * nudge
        part = _series_rows(rows, outcome, subject, months)
        states = part["status"].to_numpy(dtype=str)
        value = part["value"].to_numpy(dtype=float)
        drawn = (np.isin(states, JUDGED) | (states == "info")) & np.isfinite(value)
        shown = np.clip(value, floor, ceiling)
        clipped = clipped or bool(np.any(drawn & (shown != value)))
        line = np.where(drawn, shown, np.nan)
        ax.plot(x, line, color=colour, linestyle=style, lw=1.5)
        lines_key.append(
            Line2D(
                [],
                [],
                color=colour,
                linestyle=style,
                lw=1.5,
                label=_series_label(outcome, subject, n_outcomes),
            )
        )
        lo = part["low"].to_numpy(dtype=float)
        hi = part["high"].to_numpy(dtype=float)
        bars = drawn & np.isfinite(lo) & np.isfinite(hi)
        if bars.any():
            centre = line[bars]
            ax.errorbar(
                x[bars],
                centre,
                yerr=np.vstack(
                    [
                        np.clip(centre - np.clip(lo[bars], floor, ceiling), 0, None),
                        np.clip(np.clip(hi[bars], floor, ceiling) - centre, 0, None),
                    ]
                ),
                fmt="none",
                ecolor=colour,
                elinewidth=0.9,
                capsize=2,
                alpha=0.75,
            )
        for mark, at in _status_marks(states, drawn):
            ax.plot(x[at], line[at], linestyle="none", **mark)
        # a figure from too few to judge: a hollow grey circle, off the line
        few = (states == "too few") & np.isfinite(value)
        if few.any():
            ax.plot(x[few], np.clip(value[few], floor, ceiling), linestyle="none", **_HOLLOW)

    present = set(rows["status"])
    for status_name in (*JUDGED, "info"):
        if status_name in present:
            marks_key.append(
                Line2D(
                    [], [], linestyle="none", label=STATUS_WORDS[status_name], **_MARKS[status_name]
                )
            )
    if "too few" in present and rows.loc[rows["status"] == "too few", "value"].notna().any():
        marks_key.append(Line2D([], [], linestyle="none", label="figure from too few", **_HOLLOW))

    ax.set_title(area, fontsize=10, loc="left", fontweight="bold")
    if direction == "both":
        ticks = sorted({1.0, *_tick_levels(limits)})
        ax.set_yticks(ticks, [_limit_number(check, t) for t in ticks])
        ax.minorticks_off()
    elif _is_share(check):
        ax.yaxis.set_major_formatter(lambda v, _: f"{v * 100:.0f}%")
    step = max(1, math.ceil(len(months) / 8))
    ax.xaxis.set_major_locator(mdates.MonthLocator(interval=step, bymonthday=months[0].day))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b\n%Y"))
    ax.tick_params(labelsize=8)
    if check == "data_freshness":
        ax.set_ylabel("days", fontsize=8)
    ax.grid(axis="y", color="#e4e4e4", lw=0.6)
    ax.set_axisbelow(True)
    fig.legend(
        handles=_two_columns(lines_key, marks_key),
        loc="outside lower left",
        ncol=2,
        fontsize=8,
        frameon=False,
        handlelength=2.6,
    )
    return {
        "png": _png(fig),
        "alt": _alt(rows, check=check, area=area, months=months),
        "area": area,
        "clipped": "yes" if clipped else "",
    }


def _status_marks(status: np.ndarray, drawn: np.ndarray) -> list[tuple[dict[str, Any], np.ndarray]]:
    """The markers of a line's points, one style per status present."""
    return [
        (_MARKS[name], drawn & (status == name))
        for name in (*JUDGED, "info")
        if np.any(drawn & (status == name))
    ]


def _tick_levels(limits: tuple[np.ndarray, np.ndarray] | None) -> list[float]:
    if limits is None:
        return []
    levels = [float(v[-1]) for v in limits if len(v) and math.isfinite(float(v[-1]))]
    return [x for v in levels for x in (v, 1 / v)]


def _alt(rows: pd.DataFrame, *, check: str, area: str, months: Sequence[dt.date]) -> str:
    """The chart in words: which check, which area, which months, the latest figures."""
    title = _title(check)
    text = (
        f"Chart of {title} in {area}, month by month from {_month_name(months[0])} to "
        f"{_month_name(months[-1])}."
    )
    latest = _ordered(rows[rows["as_of"] == rows["as_of"].max()])
    outcomes = rows["outcome"].nunique()
    items = []
    for record in latest.head(_MAX_ALT_SERIES).to_dict("records"):
        label = _series_label(str(record["outcome"]), str(record["subject"]), outcomes)
        figure = _figure(check, float(record["value"]), float(record["low"]), float(record["high"]))
        status = str(record["status"])
        items.append(f"{label}: {figure}, {STATUS_WORDS.get(status, status)}")
    if items:
        text += f" {_month_name(latest['as_of'].iloc[0])}: " + "; ".join(items) + "."
    if len(latest) > _MAX_ALT_SERIES:
        text += f" And {len(latest) - _MAX_ALT_SERIES} more in the table."
    return text


def _chart_sections(history: pd.DataFrame, plan: Plan) -> list[dict[str, Any]]:
    months = sorted(set(history["as_of"]))
    sections = []
    for check in [*CHECKS, LIST_COMPOSITION]:
        rows = history[history["check"] == check]
        spec = CHECKS.get(check)
        view: dict[str, Any] = {
            "key": check.replace("_", "-"),
            "check": check,
            "title": _title(check),
            "plain": PLAIN_MEASURES.get(check, spec.measure if spec else ""),
            "limits": "",
            "enforced": bool(plan.checks[check].enforce) if check in plan.checks else False,
            "info": spec is None,
            "panels": [],
        }
        if spec is None and not len(rows):
            continue
        limits = None
        y_range: tuple[float, float] = (0.0, 1.05)
        if spec is not None:
            plan_limits = plan.checks.get(check)
            amber = plan_limits.amber if plan_limits else math.nan
            red = plan_limits.red if plan_limits else math.nan
            view["limits"] = _limits_text(check, spec.direction, amber, red)
            if len(rows):
                limits = _limit_steps(rows, months, amber, red)
                y_range = _y_range(spec, check, rows, np.concatenate(limits))
        for area in _areas(rows):
            view["panels"].append(
                _panel(
                    rows[rows["local_authority"] == area],
                    check=check,
                    area=area,
                    months=months,
                    limits=limits,
                    y_range=y_range,
                )
            )
        sections.append(view)
    return sections


# ------------------------------------------------------------------ the report


def _first_upper(text: str) -> str:
    # jinja's ``capitalize`` lowercases the rest ("Bristol" → "bristol")
    return text[:1].upper() + text[1:]


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("monitoring", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["first_upper"] = _first_upper
    return environment


def _plan_rows(plan: Plan) -> list[dict[str, str]]:
    return [
        {
            "title": spec.title,
            "plain": PLAIN_MEASURES.get(name, spec.measure),
            "limits": _limits_text(
                name, spec.direction, plan.checks[name].amber, plan.checks[name].red
            ),
            "enforced": "yes: red switches the model off"
            if plan.checks[name].enforce
            else "no: red is reported for review",
        }
        for name, spec in CHECKS.items()
        if name in plan.checks
    ]


def render_report(
    history: pd.DataFrame,
    *,
    plan: Plan,
    as_of: dt.date,
    models: Mapping[str, str],
    mlflow_run_id: str | None = None,
    enforced: bool = True,
) -> str:
    """The monitoring report for the month ``as_of`` as one self-contained HTML string.

    ``enforced``: whether the run applied the switch-off rule (``vru monitor
    --no-enforce`` records and reports only, and the report says so).

    Parameters
    ----------
    history
        The monitoring history (:data:`monitoring.history.COLUMNS`), every month so far;
        the charts show all of it, the status and the table the month ``as_of``.
    plan
        The monitoring plan the month was judged against (version, owner, limits).
    as_of
        The month reported on (its as-of date, as in the history).
    models
        Each monitored outcome's model in words (``"victim"`` → ``"vru-victim version 3"``).
    mlflow_run_id
        The monitoring run's MLflow id, when it was recorded.

    Returns
    -------
    str
        The page: charts are embedded PNGs, nothing is fetched from elsewhere. An empty
        history, or a month with no rows, gives a page that says so.
    """
    if isinstance(as_of, dt.datetime):  # a datetime never equals the history's dates
        as_of = as_of.date()
    frame = _normalised(history) if len(history) else history
    month = frame[frame["as_of"] == as_of] if len(frame) else frame
    recorded = sorted(set(frame["as_of"])) if len(frame) else []
    if not recorded:
        notice = (
            "No monitoring has been recorded yet: the history is empty. This report fills "
            "in after the first monthly monitoring run."
        )
    elif not len(month):
        notice = (
            f"Nothing was recorded for the month to {_long_date(as_of)}. The months recorded "
            f"run from {_long_date(recorded[0])} to {_long_date(recorded[-1])}."
        )
    else:
        notice = ""
    blocks = _status_blocks(month, models) if len(month) else []
    judged, unjudged = _table(month) if len(month) else ([], [])
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            as_of=_long_date(as_of),
            plan=plan,
            run_id=mlflow_run_id or "",
            models=[(_model_heading(o), models[o]) for o in _outcomes([], models)],
            notice=notice,
            blocks=blocks,
            plan_rows=_plan_rows(plan),
            first_month=_long_date(recorded[0]) if recorded else "",
            last_month=_long_date(recorded[-1]) if recorded else "",
            charts=_chart_sections(frame, plan) if recorded else [],
            judged=judged,
            unjudged=unjudged,
            status_words=STATUS_WORDS,
            enforced=enforced,
        )
    )


def write_report(folder: Path, html: str) -> Path:
    """Write ``html`` to ``folder/report.html`` atomically; the old report stays whole on error.

    Parameters
    ----------
    folder
        Where the report goes (made if missing).
    html
        The page, from :func:`render_report`.

    Returns
    -------
    Path
        The report's path.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / REPORT
    handle, partial = tempfile.mkstemp(dir=folder, prefix=f".{REPORT}.", suffix=".partial")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(html)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return path
