"""One or more monthly monitoring runs: snapshots → scores → checks → status rows.

:func:`monitor_months` builds every snapshot it needs in one pass (each month, the month
before it, 12 months before it, and the model's reference), scores each once with the
released models (:meth:`models.risk_model.RiskModel.predict`, the one decision path;
lists from :func:`models.panels.select_lists`) and returns the history rows of every
check (:mod:`monitoring.checks`). It writes nothing and changes no status:
:func:`enforce_month` turns a red enforced check into a suspension, and
:mod:`monitoring.record` writes the history, the report and the MLflow run.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.snapshot import Tables, build_snapshot
from features.vocabulary import OUTCOMES, cohort_of
from models.panels import PanelCapacity, select_lists
from models.registry import Registry, Released, Suspension
from monitoring import checks
from monitoring.checks import long_date, month_add, worst
from monitoring.history import ALL_AREAS, ANY_OUTCOME, COLUMNS, empty_history
from monitoring.plan import CHECKS, Plan

__all__ = [
    "MonitorError",
    "count_flags",
    "enforce_month",
    "first_red",
    "monitor_months",
    "reference_date",
    "snapshot_dates",
    "status_summary",
]

Progress = Callable[[str, int, int], None]


class MonitorError(ValueError):
    """The months, the data or the models cannot be monitored (one line; nothing written)."""


def _silent(stage: str, done: int, total: int) -> None:
    """The default progress callback: report nothing."""


def reference_date(released: Released) -> dt.date:
    """The snapshot a model was checked on before release (its held-out test as-of date,
    else its calibration date): the reference its inputs and bands are compared with, and
    the first month whose list can be judged by its outcomes."""
    trained = released.model.bundle.trained_on or {}
    for key in ("test", "calib"):
        value = trained.get(key)
        if value:
            return dt.date.fromisoformat(str(value)[:10])
    raise MonitorError(
        f"{released.label} does not record the snapshot it was checked on, so it has no "
        "reference to monitor against"
    )


@dataclass
class _Scored:
    """One as-of date's features with each outcome's scores and lists."""

    frame: pd.DataFrame
    lists: dict[str, pd.DataFrame]
    #: each row's local authority (plain strings, for quick masks)
    la: np.ndarray


def _score(
    frame: pd.DataFrame, models: Mapping[str, Released], capacity: PanelCapacity
) -> dict[str, pd.DataFrame]:
    cohort = cohort_of(frame)
    out = {}
    for outcome, released in models.items():
        scores = released.model.predict(None, frame)
        scored = pd.DataFrame(
            {
                "person_id": frame["person_id"].astype(str).to_numpy(),
                "local_authority": frame["local_authority"].astype(str).to_numpy(),
                "probability": scores["probability"].to_numpy(dtype=float),
                "band": scores["band"].astype(str).to_numpy(),
            }
        )
        out[outcome] = select_lists(scored, capacity, cohort=cohort)
    return out


def _seed(*parts: object) -> int:
    return zlib.crc32("|".join(str(p) for p in parts).encode())


def snapshot_dates(
    data: Tables, months: Sequence[dt.date], references: Mapping[str, dt.date]
) -> set[dt.date]:
    """The snapshots ``months`` need: each month, the month before it, 12 months before it
    (when on or after the model's reference) and each reference.

    Raises
    ------
    MonitorError
        A month outside the data (named as asked), or a reference before the data begin.
    """
    months = sorted(set(months))
    bad = [m for m in months if m.day != 1]
    if bad:
        raise MonitorError(
            f"--as-of {bad[0].isoformat()} is not the first day of a month: monitoring "
            "judges whole months"
        )
    if months[-1] > data.end:
        raise MonitorError(
            f"--as-of {months[-1]} is after the data end ({data.end}): its month has not "
            "been recorded yet"
        )
    if months[0] <= month_add(data.start, 1):
        raise MonitorError(
            f"--as-of {months[0]} leaves no month of records before it (the data begin "
            f"{data.start})"
        )
    dates: set[dt.date] = set(references.values())
    if min(dates) <= data.start:
        raise MonitorError(
            f"the model's reference snapshot {min(dates)} is not after the data begin "
            f"({data.start}): monitor with the data it was trained on"
        )
    for m in months:
        dates.add(m)
        if month_add(m, -1) > data.start:
            dates.add(month_add(m, -1))
        matured = month_add(m, -12)
        if matured >= min(references.values()) and matured > data.start:
            dates.add(matured)
    return dates


def monitor_months(
    data: Tables,
    months: Sequence[dt.date],
    models: Mapping[str, Released],
    plan: Plan,
    capacity: PanelCapacity,
    *,
    fairness_attributes: tuple[Callable[[pd.DataFrame], pd.DataFrame], Mapping[str, str]]
    | None = None,
    feedback: pd.DataFrame | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Every check's history rows for each month (first days of months), with one
    ``status`` row per outcome and month.

    Parameters
    ----------
    data
        The raw tables (:func:`features.snapshot.load_tables`).
    months
        As-of dates to monitor, each the first day of a month.
    models
        The released version of each outcome to monitor.
    plan
        The monitoring plan (:func:`monitoring.plan.load_plan`).
    capacity
        The panels' capacities (the lists whose outcomes are judged).
    fairness_attributes
        ``(groups_of, reference)``: a function giving the fairness policy's groups of each
        row of a feature frame, and each attribute's reference group
        (``group_calibration``; skipped without it).
    feedback
        Practitioners' feedback rows (``time``, ``la``, ``outcome``, ``agrees``,
        ``reason_code``); ``disagreement`` reads the month before each as-of date.

    Raises
    ------
    MonitorError, features.snapshot.SnapshotError
        A month that is not a first day, lies outside the data, or a model without a
        reference; nothing is computed.
    """
    say = progress or _silent
    months = sorted(set(months))
    if not months:
        raise MonitorError("at least one month is needed")
    references = {o: reference_date(m) for o, m in models.items()}
    dates = snapshot_dates(data, months, references)
    say("building features", 0, 1)
    snapshot = build_snapshot(data, sorted(dates))
    frame = snapshot.frame
    stamps = pd.to_datetime(frame["as_of"]).dt.date.to_numpy()
    say("building features", 1, 1)

    scored: dict[dt.date, _Scored] = {}

    def at(day: dt.date) -> _Scored:
        if day not in scored:
            mine = frame[stamps == day].sort_values("person_id", kind="mergesort")
            mine = mine.reset_index(drop=True)
            la = mine["local_authority"].astype(str).to_numpy(dtype=object)
            scored[day] = _Scored(mine, _score(mine, models, capacity), la)
        return scored[day]

    keep = set(references.values())

    people_la = data.people.set_index("person_id")["local_authority"].astype(str)
    authorities = list(capacity.authorities)
    feedback = (
        feedback
        if feedback is not None
        else pd.DataFrame(columns=["time", "la", "outcome", "agrees", "reason_code"])
    )
    feedback_time = pd.to_datetime(feedback["time"], utc=True, errors="coerce")
    rows: list[dict[str, object]] = []
    limits = plan.limits("input_drift")
    drift: dict[tuple[dt.date, str], checks.DriftReference] = {}
    records = checks.RecordDates.of(data.tables, people_la)
    for k, month in enumerate(months):
        say("checking months", k, len(months))
        month_rows = checks.data_rows(records, month, plan, authorities)
        now = at(month)
        before = at(month_add(month, -1)) if month_add(month, -1) in dates else None
        window = (feedback_time >= pd.Timestamp(month_add(month, -1), tz="UTC")) & (
            feedback_time < pd.Timestamp(month, tz="UTC")
        )
        inputs = sorted({f for m in models.values() for f in m.features})
        shifts: dict[tuple[dt.date, str], pd.DataFrame] = {}
        for outcome, released in models.items():
            version = released.version
            reference = at(references[outcome])
            lists_now = now.lists[outcome]
            for la in authorities:
                ref_la = reference.la == la
                now_la = now.la == la
                key = (references[outcome], la)
                if key not in drift:
                    drift[key] = checks.DriftReference(
                        reference.frame.loc[ref_la],
                        resamples=int(limits.resamples or 200),
                        quantile=float(limits.quantile or 0.99),
                        seed=_seed(*key),
                    )
                if key not in shifts:  # once for both outcomes' inputs
                    shifts[key] = drift[key].table(now.frame.loc[now_la], inputs)
                table = shifts[key]
                month_rows += checks.drift_rows(
                    table[table["input"].isin(released.features)],
                    (int(ref_la.sum()), int(now_la.sum())),
                    as_of=month,
                    la=la,
                    outcome=outcome,
                    version=version,
                    plan=plan,
                )
                month_rows += checks.band_share_rows(
                    reference.lists[outcome].loc[ref_la, "band"],
                    lists_now.loc[now_la, "band"],
                    as_of=month,
                    la=la,
                    outcome=outcome,
                    version=version,
                    plan=plan,
                )
                lists_before = before.lists[outcome] if before is not None else None
                month_rows += checks.composition_rows(
                    lists_now[lists_now["local_authority"] == la],
                    None
                    if lists_before is None
                    else lists_before[lists_before["local_authority"] == la],
                    as_of=month,
                    la=la,
                    outcome=outcome,
                    version=version,
                )
            month_rows += _outcome_rows(
                data,
                month,
                outcome,
                released,
                references[outcome],
                at,
                dates,
                plan,
                authorities,
                fairness_attributes,
            )
            month_rows += checks.disagreement_rows(
                feedback[window.to_numpy()],
                as_of=month,
                authorities=authorities,
                outcome=outcome,
                version=version,
                plan=plan,
            )
        month_rows = _interpret(month_rows)
        # a month needs itself, the month before and 12 months before: let older dates go
        for day in [d for d in scored if d not in keep and d < month_add(month, -12)]:
            del scored[day]
        rows += month_rows
        rows += [
            _status_row(month, outcome, models[outcome].version, month_rows) for outcome in models
        ]
    say("checking months", len(months), len(months))
    if not rows:
        return empty_history()
    out = pd.DataFrame(rows)
    return out[list(COLUMNS)]


def _outcome_rows(
    data: Tables,
    month: dt.date,
    outcome: str,
    released: Released,
    reference: dt.date,
    at: Callable[[dt.date], _Scored],
    dates: set[dt.date],
    plan: Plan,
    authorities: Sequence[str],
    fairness_attributes: tuple[Callable[[pd.DataFrame], pd.DataFrame], Mapping[str, str]] | None,
) -> list[dict[str, object]]:
    """Precision and calibration of the lists and estimates of 12 months ago."""
    version = released.version
    drawn = month_add(month, -12)
    if drawn < reference or drawn not in dates:
        return [
            r
            for la in [*authorities, ALL_AREAS]
            for r in checks.not_yet_rows(month, la, outcome, version, reference, plan)
        ]
    then = at(drawn)
    role = OUTCOMES[outcome].role
    hit = checks.outcomes_in_window(data.tables["incidents"], role, drawn, month)
    matured = then.lists[outcome].assign(
        outcome=then.lists[outcome]["person_id"].astype(str).isin(hit).astype(int)
    )
    bands = [b.name for b in released.model.bundle.bands]
    rates = {b.name: float(b.observed_rate) for b in released.model.bundle.bands}
    out: list[dict[str, object]] = []
    for la in authorities:
        mine = matured[matured["local_authority"] == la]
        out += checks.precision_rows(
            mine,
            as_of=month,
            la=la,
            outcome=outcome,
            version=version,
            band_rates=rates,
            plan=plan,
        )
        out += checks.calibration_rows(
            mine, as_of=month, la=la, outcome=outcome, version=version, bands=bands, plan=plan
        )
    out += checks.calibration_rows(
        matured,
        as_of=month,
        la=ALL_AREAS,
        outcome=outcome,
        version=version,
        bands=bands,
        plan=plan,
    )
    if fairness_attributes is not None:
        groups_of, attributes = fairness_attributes
        groups = groups_of(then.frame)
        # the policy's attributes (not their intersections: too few outcomes a month);
        # the local authorities have their own rows
        groups = groups[[c for c in groups.columns if c in attributes and c != "local_authority"]]
        out += checks.group_calibration_rows(
            matured.reset_index(drop=True),
            groups.reset_index(drop=True),
            as_of=month,
            outcome=outcome,
            version=version,
            plan=plan,
        )
    return out


def _interpret(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Read the checks together where one explains another: fewer young people in the
    higher bands while fewer records arrive, or the inputs drift, is a change in what is
    recorded before it is a fall in risk."""
    flagged_data: dict[str, list[str]] = {}
    for r in rows:
        la = str(r["local_authority"])
        if r["check"] == "data_volume" and r["status"] in ("amber", "red"):
            flagged_data.setdefault(la, []).append(f"fewer {r['subject']} arriving")
        if r["check"] == "input_drift" and r["status"] in ("amber", "red"):
            flagged_data.setdefault(la, []).append("the model's inputs have moved")
    for r in rows:
        value = float(r["value"])  # type: ignore[arg-type]
        if r["check"] != "band_shares" or not value < 1:
            continue
        why = flagged_data.get(str(r["local_authority"]))
        if why:
            r["words"] = (
                f"{r['words']} This fall comes with {' and '.join(sorted(set(why)))}: it is "
                "most likely a change in what is recorded, not a fall in risk. Do not read "
                "it as young people being safer until the records are understood."
            )
    return rows


def _short(r: Mapping[str, object]) -> str:
    title = CHECKS[str(r["check"])].title if r["check"] in CHECKS else str(r["check"])
    subject = f", {r['subject']}" if r["subject"] and r["subject"] != "everyone" else ""
    return f"{title} ({r['local_authority']}{subject}): {r['status']}"


def status_summary(rows: Sequence[Mapping[str, object]]) -> tuple[str, str]:
    """The worst status of ``rows`` and the amber and red checks in a short sentence."""
    status = worst([str(r["status"]) for r in rows])
    flagged = [r for r in rows if r["status"] in ("amber", "red")]
    flagged.sort(key=lambda r: (r["status"] != "red", str(r["check"])))
    if not flagged:
        judged = sum(1 for r in rows if r["status"] == "green")
        too_few = sum(1 for r in rows if r["status"] == "too few")
        return status, (
            f"Nothing out of the ordinary: {judged} checks within their limits"
            + (f", {too_few} with too few young people or records to judge" if too_few else "")
            + "."
        )
    parts = [_short(r) for r in flagged[:4]]
    more = f" and {len(flagged) - 4} more" if len(flagged) > 4 else ""
    return status, "; ".join(parts) + more


def _status_row(
    month: dt.date, outcome: str, version: str, month_rows: Sequence[Mapping[str, object]]
) -> dict[str, object]:
    mine = [r for r in month_rows if r["outcome"] in (outcome, ANY_OUTCOME)]
    status, words = status_summary(mine)
    return checks.row(
        month,
        ALL_AREAS,
        outcome,
        version,
        "status",
        "",
        status=status,
        words=words,
        n=sum(1 for r in mine if r["status"] in ("green", "amber", "red")),
    )


def _figures(r: Mapping[str, object]) -> str:
    """The figures of a red row in a short plain text (at most 200 characters)."""
    value, low, high, red = (float(r[k]) for k in ("value", "low", "high", "red"))  # type: ignore[arg-type]
    spec = CHECKS[str(r["check"])]
    interval = "" if math.isnan(low) or low == high else f" (range {low:.2f} to {high:.2f})"
    side = {"below": "below", "above": "above", "both": "beyond"}[spec.direction]
    return f"{spec.measure}: {value:.2f}{interval}; red {side} {red:g}"[:200]


@dataclass(frozen=True)
class Enforced:
    """What :func:`enforce` did for one outcome in one month."""

    outcome: str
    month: dt.date
    #: the suspension recorded now, or ``None`` (nothing red, or already suspended)
    suspension: Suspension | None
    #: the red enforced rows behind it
    red: tuple[Mapping[str, object], ...]


def red_enforced(rows: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """The red rows of enforced checks that concern ``outcome`` (its own, and the data's)."""
    mine = rows[rows["outcome"].isin((outcome, ANY_OUTCOME)) & (rows["check"] != "status")]
    return mine[(mine["status"] == "red") & mine["enforced"].astype(bool)]


def enforce_month(
    registry: Registry,
    models: Mapping[str, Released],
    rows: pd.DataFrame,
    month: dt.date,
    plan: Plan,
) -> list[Enforced]:
    """The switch-off rule for one month of ``rows``: suspend each model version with a
    red enforced check (unless it already is), and note the month's status on every
    version (what packs and the page show)."""
    latest = rows[(pd.to_datetime(rows["as_of"]).dt.date == month).to_numpy()]
    if latest.empty:
        return []
    done = []
    for outcome, released in models.items():
        red = red_enforced(latest, outcome)
        suspension = None
        current = registry.load(outcome, version=released.version).suspension
        if len(red) and current is None:
            first = red.iloc[0]
            title = CHECKS[str(first["check"])].title
            suspension = registry.suspend(
                outcome,
                released.version,
                check=f"{title} — {first['local_authority']} (month to {long_date(month)})",
                figures=_figures({str(k): v for k, v in first.items()}),
                by=f"vru monitor (monitoring plan {plan.version})",
                reason=str(first["words"]).rstrip(". ")
                + (f"; and {len(red) - 1} more red check(s) this month" if len(red) > 1 else ""),
            )
        status_rows = latest[(latest["check"] == "status") & (latest["outcome"] == outcome)]
        status, summary = (
            (str(status_rows.iloc[0]["status"]), str(status_rows.iloc[0]["words"]))
            if len(status_rows)
            else ("green", "")
        )
        registry.note_monitoring(
            outcome,
            released.version,
            status=status if status in ("green", "amber", "red") else "green",
            as_of=month.isoformat(),
            summary=summary,
            plan=plan.version,
        )
        reds: list[Mapping[str, object]] = red.to_dict("records")  # type: ignore[assignment]
        done.append(Enforced(outcome, month, suspension, tuple(reds)))
    return done


def first_red(rows: pd.DataFrame, outcome: str) -> dt.date | None:
    """The first month with a red enforced check for ``outcome`` (when it would suspend)."""
    red = red_enforced(rows, outcome)
    if red.empty:
        return None
    return min(pd.to_datetime(red["as_of"]).dt.date)


def count_flags(rows: pd.DataFrame) -> dict[str, int]:
    """Amber and red rows (of judged checks, not status rows)."""
    judged = rows[rows["check"] != "status"]
    return {s: int((judged["status"] == s).sum()) for s in ("amber", "red")}
