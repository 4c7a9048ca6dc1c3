"""``vru evaluate``: does the panels' help work? An impact evaluation at the capacity cut.

The work is done by :mod:`evaluation` (the design in :mod:`evaluation.design`, the
estimates in :mod:`evaluation.run`, the report and the MLflow run in
:mod:`evaluation.record`); this module checks the arguments, shows progress and says
where the report went. Bad input is one line beginning ``error:``, exit 2, nothing
written.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from vru.clikit import DEFAULT_DATA, DataOption, err, fail, out, progress, quiet_mlflow, require_raw


def evaluate(
    data: DataOption = DEFAULT_DATA,
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder of the report: report.html, its tables (CSV), evaluation.json and "
            "manifest.json. Replaced whole by each run.",
        ),
    ] = Path("reports/evaluation"),
    list_name: Annotated[
        list[str] | None,
        typer.Option("--list", help="A panel list to evaluate (repeat; default every list)."),
    ] = None,
    outcome: Annotated[
        list[str] | None,
        typer.Option("--outcome", help="victim or perpetrator (repeat; default both)."),
    ] = None,
) -> None:
    """Estimate whether being discussed by a referral panel, and the help that followed,
    changed serious-violence involvement in the next 12 months.

    Each month each panel discusses the young people ranked within its capacity; those
    just below the cut are, on their records, almost the same. Comparing them at the cut
    (a regression discontinuity, pooled over months and authorities, with rdrobust's
    robust intervals) estimates the effect of being discussed, and of a year of help
    taken up. The report shows the checks (density, balance, placebo cuts, bandwidths),
    the minimum detectable effect per year of data, and aggregates only: counts under
    10 are withheld and counts rounded to 5. Logged as the MLflow run
    evaluate-<first month>-<last month>.
    """
    from evaluation.design import EvaluationError
    from evaluation.record import Tracking, check_out_dir, record_evaluation, run_name
    from evaluation.run import run_evaluation
    from features.schemas import ContractError
    from features.snapshot import SnapshotError, load_tables
    from features.vocabulary import OUTCOMES
    from vru.clikit import settings as clikit_settings

    settings = clikit_settings()
    folder = settings.resolve(data)
    target = settings.resolve(out_dir)
    require_raw(folder)
    outcomes = tuple(outcome) if outcome else tuple(OUTCOMES)
    for name in outcomes:
        if name not in OUTCOMES:
            fail(f"--outcome must be one of {', '.join(OUTCOMES)}, got {name!r}")
    began = time.perf_counter()
    try:
        check_out_dir(target)
        tables = load_tables(folder)
        with progress() as bar:
            task = bar.add_task("evaluating", total=None)
            found = run_evaluation(
                tables,
                lists=list_name,
                outcomes=outcomes,
                progress=lambda stage: bar.update(task, description=stage),
            )
        quiet_mlflow()
        recorded = record_evaluation(
            target,
            found,
            tracking=Tracking(
                settings.tracking_uri(),
                settings.experiment,
                settings.resolve(Path("mlartifacts")),
                launched_experiment_id=settings.launched_experiment_id(),
            ),
        )
    except (EvaluationError, ContractError, SnapshotError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"could not write {target}: {exc.strerror or exc}")
    out.print(f"report: {recorded.report}", highlight=False, soft_wrap=True)
    for r in found.results:
        e = r.itt
        said = (
            f"{e.effect * 100:+.1f} points (95% interval {e.low * 100:+.1f} to {e.high * 100:+.1f})"
            if e.estimated and e.effect is not None and e.low is not None and e.high is not None
            else f"no estimate: {e.withheld}"
        )
        out.print(
            f"{r.list_name}, {OUTCOMES[r.outcome].title}: being discussed {said}",
            highlight=False,
            soft_wrap=True,
        )
    err.print(
        f"evaluated {found.listings:,} listings from {found.first_month:%Y-%m} to "
        f"{found.last_month:%Y-%m} (MLflow run {run_name(found)}, {recorded.run_id}) in "
        f"{time.perf_counter() - began:.0f}s — aggregates only, no person-level data",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
