"""``vru drivers``: what drives serious violence here, per authority and for the force area.

The work is done by :mod:`drivers` (the tables in :func:`drivers.run.build_drivers`,
disclosure control in :mod:`drivers.disclosure`, the reports and the MLflow run in
:mod:`drivers.record`); this module checks the arguments, loads the released models
(when there are any), shows progress and says where the report went. Bad input is one
line beginning ``error:``, exit 2, nothing written.
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


def drivers(
    data: DataOption = DEFAULT_DATA,
    as_of: Annotated[
        str,
        typer.Option(
            "--as-of",
            help="The first day after the period reported on (YYYY-MM-01): records made before it.",
        ),
    ] = "2026-01-01",
    years: Annotated[
        int, typer.Option("--years", help="How many years before --as-of to cover.")
    ] = 5,
    authority: Annotated[
        list[str] | None,
        typer.Option(
            "--authority",
            help="A local authority to write a report for (repeat for more; default all "
            "five). The force-area report is always written.",
        ),
    ] = None,
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder of the report: one folder per area with report.html and its "
            "tables (CSV), and manifest.json. Replaced whole by each run.",
        ),
    ] = Path("reports/drivers"),
    models: Annotated[
        bool,
        typer.Option(
            "--models/--no-models",
            help="Describe what the released models lean on (default, when models have "
            "been released).",
        ),
    ] = True,
) -> None:
    """Write the partnership's drivers report: trends, pathways, what the models lean
    on, and where recording itself may drive the picture.

    Per local authority and for the force area: serious violence and the school,
    social-care, police and health signals around it per quarter, by age band and sex;
    what followed a signal (a permanent exclusion, coming into care, a first missing
    episode, an A&E attendance after an assault) against matched young people without
    it (an association, not a cause); the released models' weight by domain; and
    stop-and-search and exclusion by ethnic group and deprivation. No person-level
    data: cells of fewer than 10 young people are suppressed (with the cells that
    would reveal them) and counts rounded to 5. Logged as the MLflow run
    drivers-<as-of>.
    """
    from drivers.base import DriversError
    from drivers.record import Tracking, check_out_dir, record_drivers
    from drivers.run import build_drivers, check_request
    from features.snapshot import SnapshotError, load_tables
    from features.vocabulary import OUTCOMES
    from models.registry import Registry, RegistryError
    from vru.clikit import settings as clikit_settings

    settings = clikit_settings()
    try:
        day = dt.date.fromisoformat(as_of)
    except ValueError:
        fail(f"--as-of must be a date, YYYY-MM-DD (the first day of a month), got {as_of!r}")
    folder = settings.resolve(data)
    target = settings.resolve(out_dir)
    require_raw(folder)
    try:
        check_out_dir(target)
        tables = load_tables(folder)
        check_request(tables, day, years, authority)
    except (DriversError, SnapshotError) as exc:
        fail(str(exc))
    quiet_mlflow()
    released = {}
    notes = []
    if models:
        registry = Registry(settings.tracking_uri())
        for outcome in OUTCOMES:
            try:
                released[outcome] = registry.load(outcome)
            except RegistryError:
                notes.append(f"No released model for {OUTCOMES[outcome].title}: not described.")
    began = time.perf_counter()
    try:
        with progress() as bar:
            built = build_drivers(
                tables,
                day,
                years=years,
                areas=authority,
                models=released,
                capacity=settings.panel_capacity,
                truth_folder=folder,
                notes=notes,
                progress=stage_reporter(bar),
            )
        recorded = record_drivers(
            target,
            built,
            tracking=Tracking(
                settings.tracking_uri(),
                settings.experiment,
                settings.resolve(Path("mlartifacts")),
                launched_experiment_id=settings.launched_experiment_id(),
            ),
        )
    except (DriversError, SnapshotError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"could not write {target}: {exc.strerror or exc}")
    for path in recorded.reports:
        out.print(f"report: {path}", highlight=False, soft_wrap=True)
    err.print(
        f"wrote the drivers report for {built.start} to {built.as_of} ({len(built.areas)} "
        f"authorities and the force area; {built.suppressed_cells:,} cells suppressed; MLflow "
        f"run {recorded.run_id}) in {time.perf_counter() - began:.0f}s — counts of young "
        "people, no person-level data",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add ``vru drivers`` to the ``vru`` app."""
    app.command("drivers")(drivers)
