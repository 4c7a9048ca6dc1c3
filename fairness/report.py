"""A self-contained HTML fairness report: verdict, summary in words, rules, charts, tables.

One section per audited list (:class:`ReportSection`): the gate's known and
early-identification lists, each on its own cohort, or one section for a standalone
predictions table.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from fairness.audit import LABELS
from fairness.policy import Policy
from fairness.rules import PASS, RuleCheck, worst
from features.vocabulary import LISTS

__all__ = [
    "CHART_METRICS",
    "LIST_HEADINGS",
    "LIST_NOTES",
    "TABLE_COLUMNS",
    "ReportSection",
    "render_report",
    "section_verdict",
]

TABLE_COLUMNS = (
    "attribute",
    "group",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "reference_group",
    "difference",
    "ratio",
    "n",
    "events",
    "flagged",
    "note",
)
CHART_METRICS = ("selection_rate", "fpr", "calibration")
WORDS = {"recorded": "recorded", "truth": "true"}
#: the heading of each audited list's section
LIST_HEADINGS = {
    "known": "The known list: young people already known to services for serious violence",
    "early": "The early-identification list: young people with no serious-violence record yet",
    "all": "Everyone on the held-out snapshot",
}
#: each list in a few words (chart captions)
LIST_NAMES = {"known": "known list", "early": "early-identification list"}
#: what a reader of each list's audit should keep in mind
LIST_NOTES = {
    "early": (
        "Nobody on this list has a police record of serious violence, so it is flagged on "
        "school, social-care and contact signals alone. That is where the social-care "
        "visibility bias bites hardest: a child open to social care has more of their life "
        "written down, so the same behaviour leaves more records, and their estimates can "
        "rise for that reason alone. Read this list's care-experience and deprivation rows "
        "with that in mind, and ask what support is already in place before adding more."
    ),
}


@dataclass(frozen=True)
class ReportSection:
    """One audited list (or a whole predictions table) in the report."""

    #: ``known``, ``early``, ``all`` (any other key: a standalone table)
    key: str
    #: who was flagged, in words
    operating_point: str
    #: ``recorded``/``truth`` → a :class:`fairness.gate.AuditRun` or a ``(table, rules)`` pair
    runs: Mapping[str, Any]
    #: the section's heading ("" for a report with one section)
    heading: str = ""
    #: what the list is for (``LISTS[key].purpose``)
    purpose: str = ""
    #: what to keep in mind reading it (:data:`LIST_NOTES`)
    note: str = ""
    #: young people audited, and of them flagged (when known)
    audited: int | None = None
    flagged: int | None = None

    @classmethod
    def for_list(
        cls,
        key: str,
        operating_point: str,
        runs: Mapping[str, Any],
        *,
        audited: int | None = None,
        flagged: int | None = None,
    ) -> ReportSection:
        """The section of one of the gate's lists (heading, purpose and note filled in)."""
        return cls(
            key,
            operating_point,
            runs,
            heading=LIST_HEADINGS.get(key, key),
            purpose=LISTS[key].purpose if key in LISTS else "",
            note=LIST_NOTES.get(key, ""),
            audited=audited,
            flagged=flagged,
        )


def _frames(runs: Mapping[str, Any]) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    return {k: (v if isinstance(v, tuple) else (v.table, v.rules.table)) for k, v in runs.items()}


def _verdict_of(rules: pd.DataFrame) -> str:
    if not len(rules):
        return PASS
    return RuleCheck(rules.assign(enforce=rules["enforce"].astype(bool))).verdict


def section_verdict(section: ReportSection) -> str:
    """The verdict of a section's deciding audit (against the truth when it was run)."""
    frames = _frames(section.runs)
    return _verdict_of(frames["truth" if "truth" in frames else "recorded"][1])


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("fairness", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )


def _fmt(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    if isinstance(value, float | np.floating):
        return f"{value:.{digits}f}"
    return str(value)


def _interval(value: float, low: float, high: float) -> str:
    if np.isfinite(low) and np.isfinite(high):
        return f"{_fmt(value)} ({_fmt(low)}–{_fmt(high)})"
    return _fmt(value)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _ns(record: dict[str, Any]) -> Any:
    return SimpleNamespace(**record)


def _chart(tables: Mapping[str, pd.DataFrame], attribute: str, where: str = "") -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shades = {"recorded": "#2b5d8a", "truth": "#9dc3e6"}
    first = next(iter(tables.values()))
    groups = list(first.loc[first["attribute"] == attribute, "group"].drop_duplicates())
    # horizontal bars, one row per group: long intersection names never overlap
    fig, axes = plt.subplots(
        1,
        len(CHART_METRICS),
        figsize=(13, max(3.2, 1.4 + 0.3 * len(groups))),
        sharey=True,
        constrained_layout=True,
    )
    width = 0.8 / len(tables)
    for ax, metric in zip(axes, CHART_METRICS, strict=True):
        for k, (against, table) in enumerate(tables.items()):
            part = (
                table[(table["attribute"] == attribute) & (table["metric"] == metric)]
                .set_index("group")
                .reindex(groups)
            )
            y = np.arange(len(groups)) + k * width
            value = part["value"].to_numpy(dtype=float)
            low = np.clip(value - part["ci_low"].to_numpy(dtype=float), 0, None)
            high = np.clip(part["ci_high"].to_numpy(dtype=float) - value, 0, None)
            ax.barh(y, value, width, color=shades[against], label=WORDS[against])
            ax.errorbar(
                value,
                y,
                xerr=np.nan_to_num(np.vstack([low, high])),
                fmt="none",
                ecolor="#333",
                capsize=2,
            )
            ref = part.loc[part["is_reference"].astype(bool), "value"]
            if len(ref):
                ax.axvline(float(ref.iloc[0]), color=shades[against], linestyle="--", linewidth=1)
        ax.set_yticks(np.arange(len(groups)) + width * (len(tables) - 1) / 2)
        ax.set_yticklabels(groups, fontsize=8)
        ax.set_title(LABELS[metric], fontsize=10)
    axes[0].invert_yaxis()  # the first group at the top, as in the tables
    if len(tables) > 1:  # beside the title, clear of the bars
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside upper right", ncol=len(tables), fontsize=8)
    fig.suptitle(attribute, fontsize=11)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    suffix = f" ({where})" if where else ""
    return {
        "png": base64.b64encode(buffer.getvalue()).decode("ascii"),
        "alt": "Bar charts of selection rate, false-positive rate and calibration by "
        f"{attribute}{suffix}",
        "caption": f"{attribute}: selection rate, false-positive rate and calibration by group"
        f"{suffix}",
    }


def _summary(runs: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]], deciding: str) -> list[str]:
    lines = []
    for against, (_, rules) in runs.items():
        enforced = rules[rules["enforce"].astype(bool)]
        breaches = enforced[enforced["status"] == "breach"]
        small = enforced[enforced["status"] == "too small to assess"]
        passed = enforced[enforced["status"] == "pass"]
        head = (
            f"Against the {WORDS[against]} outcomes the model "
            + ("breaks " if len(breaches) else "breaks none of ")
            + (f"{len(breaches)} of " if len(breaches) else "")
            + f"the {len(enforced)} enforced checks ({len(passed)} passed; {len(small)} could not "
            "be assessed because the group is too small)."
        )
        lines.append(head)
        single = enforced[~enforced["attribute"].astype(str).str.contains(" × ")]
        unassessed = [
            str(a)
            for a, none in (single["status"] == "too small to assess")
            .groupby(single["attribute"], sort=False)
            .all()
            .items()
            if none
        ]
        if unassessed:
            lines.append(
                f"Not assessed at all: {', '.join(unassessed)} — no group was large enough "
                "(or had enough outcomes) for any enforced check, so this audit says nothing "
                "about fairness by "
                + ("that attribute." if len(unassessed) == 1 else "those attributes.")
            )
        for record in _records(breaches.head(8)):
            r = SimpleNamespace(**record)
            if r.metric == "calibration":
                what = "over-states" if r.statistic > 1 else "under-states"
                lines.append(
                    f"For {r.attribute} = {r.group}, the model {what} risk relative to "
                    f"{r.reference_group}: its estimates are {r.statistic:.2f} times as high, "
                    f"relative to what happened, as for {r.reference_group} (limit {r.limits})."
                )
            elif r.metric == "fpr":
                lines.append(
                    f"{r.attribute} = {r.group}: wrongly flagged {abs(r.statistic) * 100:.1f} "
                    f"percentage points {'more' if r.statistic > 0 else 'less'} often than "
                    f"{r.reference_group} (limit {r.limits})."
                )
            else:
                lines.append(
                    f"{r.attribute} = {r.group}: {LABELS.get(r.metric, r.metric)} {r.compare} "
                    f"{r.statistic:.3f} against {r.reference_group} (limit {r.limits})."
                )
        if len(breaches) > 8:
            lines.append(f"… and {len(breaches) - 8} more breaches (see the table below).")
    if len(runs) > 1:
        lines.append(
            f"The verdict is decided against the {WORDS[deciding]} outcomes. Both audits judge the "
            "same model on the same people, so where they disagree the difference lies in the "
            "labels: recording bias, or chance in a small group (the intervals show which is "
            "plausible)."
        )
    return lines


def _comparison(runs: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]]) -> list[dict[str, str]]:
    recorded, truth = runs["recorded"][0], runs["truth"][0]
    rows = []
    key = ["attribute", "group"]
    for metric, column, stat in (("calibration", "cal", "ratio"), ("fpr", "fpr", "difference")):
        r = recorded[(recorded["metric"] == metric) & ~recorded["is_reference"].astype(bool)]
        t = truth[(truth["metric"] == metric) & ~truth["is_reference"].astype(bool)]
        merged = r[[*key, stat, "assessable"]].merge(
            t[[*key, stat, "assessable"]], on=key, suffixes=("_r", "_t")
        )
        for record in _records(merged):
            m = SimpleNamespace(**record)
            rows.append(
                {
                    "attribute": m.attribute,
                    "group": m.group,
                    f"{column}_recorded": _fmt(getattr(m, f"{stat}_r"))
                    + ("" if m.assessable_r else " (too small)"),
                    f"{column}_truth": _fmt(getattr(m, f"{stat}_t"))
                    + ("" if m.assessable_t else " (too small)"),
                }
            )
    combined: dict[tuple[str, str], dict[str, str]] = {}
    for row in rows:
        combined.setdefault((row["attribute"], row["group"]), {}).update(row)
    return [
        {"cal_recorded": "—", "cal_truth": "—", "fpr_recorded": "—", "fpr_truth": "—", **v}
        for v in combined.values()
    ]


def _run_view(
    policy: Policy, against: str, table: pd.DataFrame, rules: pd.DataFrame
) -> dict[str, Any]:
    rule_rows = []
    for rule in policy.rules:
        part = rules[rules["rule"] == rule.id] if len(rules) else rules
        rule_rows.append(
            {
                "id": rule.id,
                "enforce": rule.enforce,
                "metric": LABELS.get(rule.metric, rule.metric),
                "compare": rule.compare,
                "limits": rule.limits_text(),
                "why": rule.why,
                "passed": int((part["status"] == "pass").sum()) if len(part) else 0,
                "breached": int((part["status"] == "breach").sum()) if len(part) else 0,
                "small": int((part["status"] == "too small to assess").sum()) if len(part) else 0,
            }
        )
    enforced = rules[rules["enforce"].astype(bool)] if len(rules) else rules
    breaches = (
        [
            {
                "rule": r.rule,
                "attribute": r.attribute,
                "group": r.group,
                "reference_group": r.reference_group,
                "value": _interval(r.statistic, r.ci_low, r.ci_high),
                "limits": r.limits,
                "n": r.n,
                "events": r.events,
            }
            for r in map(_ns, _records(enforced[enforced["status"] == "breach"]))
        ]
        if len(enforced)
        else []
    )
    small = (
        [
            f"{r.rule}: {r.attribute} = {r.group} — {r.note}"
            for r in enforced[enforced["status"] == "too small to assess"].itertuples()
        ]
        if len(enforced)
        else []
    )
    return {
        "label": WORDS[against],
        "verdict": _verdict_of(rules),
        "rule_rows": rule_rows,
        "breaches": breaches,
        "small": small,
        "table_rows": [{c: _fmt(row.get(c)) for c in TABLE_COLUMNS} for row in _records(table)],
    }


def _section_view(policy: Policy, section: ReportSection) -> dict[str, Any]:
    frames = _frames(section.runs)
    deciding = "truth" if "truth" in frames else "recorded"
    attributes = list(dict.fromkeys(frames[deciding][0]["attribute"]))
    counts = ""
    if section.audited is not None:
        counts = f"{section.audited:,} young people audited"
        if section.flagged is not None:
            named = "named to the panels" if section.key in LISTS else "flagged"
            counts += f", {section.flagged:,} {named}"
    rules = frames[deciding][1]
    enforced = rules[rules["enforce"].astype(bool)] if len(rules) else rules
    unassessed = ""
    if len(enforced) and (enforced["status"] == "too small to assess").all():
        unassessed = (
            f"None of the {len(enforced)} enforced checks could be assessed: every group has "
            "too few young people or outcomes. This pass shows that no breach was seen, not "
            "that the list is fair; judge it on a larger population or a longer period."
        )
    return {
        "key": section.key,
        "heading": section.heading,
        "unassessed": unassessed,
        "purpose": section.purpose,
        "note": section.note,
        "operating_point": section.operating_point,
        "counts": counts,
        "verdict": section_verdict(section),
        "summary": _summary(frames, deciding),
        "comparison": _comparison(frames) if len(frames) > 1 else None,
        "runs": [_run_view(policy, a, table, rules) for a, (table, rules) in frames.items()],
        "charts": [
            _chart({k: v[0] for k, v in frames.items()}, a, LIST_NAMES.get(section.key, ""))
            for a in attributes
        ],
    }


def render_report(
    *,
    title: str,
    sections: Sequence[ReportSection],
    policy: Policy,
    policy_hash: str,
    context: Mapping[str, str],
    override: Mapping[str, str] | None = None,
) -> str:
    """The report as one HTML string (charts embedded), one section per audited list.

    The verdict at the top fails if any section's deciding audit (against the truth when
    it was run, else the recorded outcomes) breaks an enforced rule.
    """
    views = [_section_view(policy, section) for section in sections]
    verdict = worst(v["verdict"] for v in views)
    verdict_text = verdict
    if override:
        verdict_text = f"{verdict} — released by override ({override['approver']})"
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            title=title,
            verdict_text=verdict_text,
            verdict_class="override" if override else verdict.replace(" ", "-"),
            context=context,
            policy=policy,
            policy_hash=policy_hash,
            override=override,
            sections=views,
            table_columns=TABLE_COLUMNS,
        )
    )
