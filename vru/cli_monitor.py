"""``vru monitor``: the monthly checks of each released model, and the switch-off rule.

The work is done by :mod:`monitoring` (checks in :mod:`monitoring.checks`, the months in
:func:`monitoring.run.monitor_months`, the red rule in :func:`monitoring.run.enforce`,
the history, MLflow runs and report in :mod:`monitoring.record`); this module
checks
the arguments, loads the champions and the plan, shows progress and says what it
found. Bad input is one line beginning ``error:``, exit 2, nothing written.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

import typer

from vru.clikit import (
    DEFAULT_DATA,
    DataOption,
    err,
    fail,
    out,
    progress,
    quiet_mlflow,
    require_raw,
    stage_reporter,
)

BOTH = "both"
#: colour of each status on the terminal (the word is always printed too)
STYLE = {"green": "green", "amber": "yellow", "red": "bold red"}


def _month(text: str, option: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        fail(f"{option} must be a date, YYYY-MM-DD (the first day of a month), got {text!r}")
    if day.day != 1:
        fail(f"{option} {text} is not the first day of a month: monitoring judges whole months")
    return day


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    from monitoring.checks import month_add

    months, day = [], first
    while day <= last:
        months.append(day)
        day = month_add(day, 1)
    return months


def monitor(
    data: DataOption = DEFAULT_DATA,
    as_of: Annotated[
        str,
        typer.Option(
            "--as-of",
            help="The month to check, as its first day (YYYY-MM-01): records made before it; "
            "outcomes of the lists drawn 12 months before it.",
        ),
    ] = "2025-01-01",
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Check every month from --as-of to this one (first days of months), in "
            "order, as if run monthly: a red month suspends from that month.",
        ),
    ] = None,
    outcome: Annotated[str, typer.Option("--outcome", help="victim, perpetrator or both.")] = BOTH,
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder of the monitoring history (history.parquet, appended to; a month "
            "run again is replaced) and report.html.",
        ),
    ] = Path("reports/monitoring"),
    plan_path: Annotated[
        Path | None,
        typer.Option("--plan", help="Monitoring plan (default: monitoring/plan.yaml)."),
    ] = None,
    enforce: Annotated[
        bool,
        typer.Option(
            "--enforce/--no-enforce",
            help="Suspend a model version with a red enforced check and note each month's "
            "status on it (default). --no-enforce only records and reports.",
        ),
    ] = True,
) -> None:
    """Check each champion model month by month against the monitoring plan.

    For every local authority: records arriving and how fresh they are, how far the
    model's inputs have moved from its reference, the share in the raised band or
    above and who is on the lists, what the lists of 12 months ago found and how the
    estimates of 12 months ago compare with the outcomes (by band and by fairness
    group), and practitioners' disagreement. A red result on a check the plan enforces
    suspends the model version (the service answers 503, `vru score` writes no list from
    it) until the senior responsible owner runs `vru reinstate`. Amber is shown on every
    pack and on the practitioners' page. Writes the history (Parquet), report.html and
    one MLflow run per month.
    """
    from features.snapshot import SnapshotError, load_tables
    from features.vocabulary import OUTCOMES
    from models.registry import Registry, RegistryError, StatusRefusedError
    from monitoring.history import HistoryError
    from monitoring.plan import PlanError, load_plan
    from monitoring.record import Tracking, read_feedback, record_months
    from monitoring.run import (
        MonitorError,
        count_flags,
        enforce_month,
        monitor_months,
        reference_date,
        snapshot_dates,
    )
    from vru.clikit import settings as clikit_settings

    settings = clikit_settings()
    if outcome != BOTH and outcome not in OUTCOMES:
        fail(f"--outcome must be one of {', '.join([*OUTCOMES, BOTH])}, got {outcome!r}")
    outcomes = list(OUTCOMES) if outcome == BOTH else [outcome]
    first = _month(as_of, "--as-of")
    last = _month(until, "--until") if until is not None else first
    if last < first:
        fail(f"--until {last} is before --as-of {first}")
    months = _months(first, last)
    folder = settings.resolve(data)
    target = settings.resolve(out_dir)
    require_raw(folder)
    if target.exists() and not target.is_dir():
        fail(f"--out {target} is a file, not a folder")
    try:
        plan, plan_hash = load_plan(settings.resolve(plan_path) if plan_path else None)
    except PlanError as exc:
        fail(str(exc))
    quiet_mlflow()
    registry = Registry(settings.tracking_uri())
    try:
        models = {o: registry.load(o) for o in outcomes}
    except RegistryError as exc:
        fail(f"{exc} (see vru promote)")
    from fairness.gate import snapshot_groups
    from fairness.policy import PolicyError, load_policy

    try:
        policy, _ = load_policy(None)
    except PolicyError as exc:
        fail(str(exc))
    began = time.perf_counter()
    try:
        tables = load_tables(folder)
        snapshot_dates(tables, months, {o: reference_date(m) for o, m in models.items()})
        feedback = read_feedback(settings.access_log_files()[0])
        with progress() as bar:
            report = stage_reporter(bar)
            rows = monitor_months(
                tables,
                months,
                models,
                plan,
                settings.panel_capacity,
                fairness_attributes=(lambda f: snapshot_groups(f, policy), policy.reference),
                feedback=feedback,
                progress=report,
            )
        actions = []
        if enforce:
            for month in months:
                actions += enforce_month(registry, models, rows, month, plan)
        recorded = record_months(
            target,
            rows,
            months,
            plan=plan,
            plan_hash=plan_hash,
            models=models,
            data_fingerprint=tables.fingerprint,
            tracking=Tracking(
                settings.tracking_uri(),
                settings.experiment,
                settings.resolve(Path("mlartifacts")),
                launched_experiment_id=settings.launched_experiment_id(),
            ),
            enforced=enforce,
        )
    except (SnapshotError, MonitorError, HistoryError) as exc:
        fail(str(exc))
    except StatusRefusedError as exc:
        fail(f"could not record the result on the model: {exc}")
    except OSError as exc:
        fail(f"could not write {target}: {exc.strerror or exc}")
    latest = rows[rows["as_of"] == last]
    for o in outcomes:
        status_row = latest[(latest["check"] == "status") & (latest["outcome"] == o)].iloc[0]
        status = str(status_row["status"])
        out.print(
            f"{models[o].label} in the month to {last}: [{STYLE.get(status, '')}]{status}[/] — "
            f"{status_row['words']}",
            highlight=False,
            soft_wrap=True,
        )
    for action in actions:
        if action.suspension is not None:
            out.print(
                f"[bold red]switched off[/] {models[action.outcome].label} from the month to "
                f"{action.month}: {action.suspension.words()}",
                highlight=False,
                soft_wrap=True,
            )
    flags = count_flags(rows)
    err.print(
        f"checked {len(months)} month{'s' if len(months) > 1 else ''} ({flags['amber']} amber, "
        f"{flags['red']} red results); wrote {recorded.history} and {recorded.report} in "
        f"{time.perf_counter() - began:.0f}s — a prompt for review, never a decision",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add ``vru monitor`` to the ``vru`` app."""
    app.command("monitor")(monitor)
