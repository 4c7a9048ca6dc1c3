"""``vru train`` and ``vru explain``: the model stages.

Training, comparison and registration of one outcome's model, and the
explanation of a young person's estimate — a prompt for professional review.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from vru.clikit import (
    DEFAULT_DATA,
    DataOption,
    OutcomeOption,
    err,
    fail,
    fit_width,
    load_registered,
    out,
    parse_dates,
    quiet_mlflow,
    require_outcome,
    require_raw,
)
from vru.clikit import settings as clikit_settings


def _progress(status: Any, message: str, began: float) -> None:
    """Show a training stage: on the spinner in a terminal, as a timed line in a log."""
    status.update(message)
    if not err.is_terminal:
        err.print(f"[{time.perf_counter() - began:6.0f} s] {message}", highlight=False)


def train(
    data: DataOption = DEFAULT_DATA,
    outcome: Annotated[
        str, typer.Option("--outcome", help="victim or perpetrator (serious violence, 12 months).")
    ] = "victim",
    first_year: Annotated[
        int | None,
        typer.Option(
            "--first-year",
            help="First 1 January as-of date to train on (default: 8 yearly snapshots ending "
            "at the last one whose 12-month label window is complete).",
        ),
    ] = None,
    bootstrap: Annotated[
        int | None, typer.Option("--bootstrap", help="Resamples for the 95% intervals.")
    ] = None,
    mitigate: Annotated[
        str | None,
        typer.Option(
            "--mitigate",
            help="threshold: also fit fairlearn's ThresholdOptimizer (equalised odds) on the "
            "validation slice and show its cost beside each candidate (reported, never "
            "registered).",
        ),
    ] = None,
    mitigate_by: Annotated[
        str, typer.Option("--mitigate-by", help="Audit-only column the mitigation equalises.")
    ] = "ethnicity",
    sample_above: Annotated[
        int | None,
        typer.Option(
            "--sample-above",
            help="Training rows above which those not involved in the outcome are sampled: "
            "every young person involved is kept, and a random share of the others weighted "
            "up to stand for them all (validation, calibration and test are never sampled). "
            "0 trains on every row. Default: 500,000 (VRU_TRAINING_SAMPLE_ABOVE).",
        ),
    ] = None,
) -> None:
    """Train, compare and register the model for one outcome; log everything to MLflow.

    Temporal folds (never random): train on earlier 1 January snapshots, stop early and
    choose the calibration on a later one, calibrate and set bands on a later one still,
    test on the last two. Candidates: a rules baseline, logistic regression and LightGBM.
    The best on the latest fold is registered as vru-<outcome> with alias `candidate`.
    """
    from features.schemas import ContractError
    from features.vocabulary import OUTCOMES
    from models.registry import model_name
    from training.splits import SplitError
    from training.train import train_outcome

    quiet_mlflow()
    settings = clikit_settings()
    require_outcome(outcome, OUTCOMES)
    if bootstrap is not None and bootstrap < 10:
        fail(f"--bootstrap must be at least 10, got {bootstrap}")
    if mitigate is not None and mitigate != "threshold":
        fail(f"--mitigate must be threshold, got {mitigate!r}")
    from features.registry import AUDIT_ONLY

    if mitigate is not None and mitigate_by not in AUDIT_ONLY:
        fail(f"--mitigate-by must be one of {', '.join(AUDIT_ONLY)}, got {mitigate_by!r}")
    if sample_above is not None and sample_above < 0:
        fail(f"--sample-above must be 0 (never) or a number of rows, got {sample_above}")
    from training.snapshots import CaseControl

    above = sample_above if sample_above is not None else settings.training_sample_above
    case_control = CaseControl(above or None) if above is not None else CaseControl()
    folder = settings.resolve(data)
    require_raw(folder)
    began = time.perf_counter()
    try:
        with err.status("training…") as status:
            result = train_outcome(
                folder,
                outcome,
                capacity=settings.panel_capacity,
                tracking_uri=settings.tracking_uri(),
                experiment=settings.experiment,
                artifact_dir=settings.resolve(Path("mlartifacts")),
                project_dir=settings.project_dir,
                n_boot=bootstrap or settings.bootstrap_samples,
                first_year=first_year,
                progress=lambda message: _progress(status, message, began),
                mitigate_by=mitigate_by if mitigate else None,
                launched_experiment_id=settings.launched_experiment_id(),
                case_control=case_control,
            )
    except ContractError as exc:
        fail(f"input refused — {exc}")
    except SplitError as exc:
        fail(str(exc))
    view = Table(
        title=f"{model_name(outcome)}: candidates on held-out test as-of dates "
        "(95% bootstrap intervals)"
    )
    shown = [
        "fold",
        "candidate",
        "roc_auc",
        "pr_auc",
        "precision_at_capacity",
        "top_band_ratio",
        "against_share",
        "ratio_to_ceiling_auc",
        "eo_gap_at_capacity_unmitigated",
        "eo_gap_at_capacity",
    ]
    columns = [c for c in shown if c in result.comparison.columns]
    for c in columns:
        view.add_column(c.replace("_", " "))
    for row in result.comparison[columns].itertuples(index=False):
        view.add_row(*(str(v) for v in row))
    fit_width()
    out.print(view)
    out.print(
        "top band ratio: mean estimate ÷ observed rate in the 'very high' band (1.00 is exact); "
        "against share: explanation mass against an input's declared direction (folded into "
        "'other factors', never shown as a reason); '(unconstrained)': the same model without "
        "the directions, to show what they cost — never chosen",
        highlight=False,
    )
    out.print(_lists_view(result))
    out.print(
        f"registered {model_name(outcome)} version {result.registered_version} "
        f"({result.chosen}) with alias 'candidate'; run {result.run_id} in "
        f"{time.perf_counter() - began:.0f}s",
        highlight=False,
    )
    out.print(
        f"review it: mlflow ui --backend-store-uri {settings.tracking_uri()}", highlight=False
    )
    out.print(
        f"then open {_review_address(settings.tracking_uri(), result.run_id)}", highlight=False
    )


def _review_address(tracking_uri: str, run_id: str) -> str:
    """The run list of the run's experiment in the headline-metrics view, as classic ML
    (MLflow 3's UI otherwise opens its GenAI overview)."""
    from mlflow import MlflowClient

    try:
        experiment = MlflowClient(tracking_uri).get_run(run_id).info.experiment_id
    except Exception:
        return "http://127.0.0.1:5000 and choose 'Model training'"
    return (
        f"http://127.0.0.1:5000/#/experiments/{experiment}/runs"
        "?viewStateShareKey=headline&workflowType=machine_learning"
    )


def _lists_view(result: Any) -> Table:
    """Each list ranked by the chosen model, the rules and the ceiling, on every test fold."""
    lists = result.lists
    view = Table(
        title="the two lists: precision at each list's capacity (recorded outcome, 95% "
        "Wilson intervals; ÷ ceiling = over a ranking by the true hazard at the as-of date)"
    )
    for c in ("fold", "list", "ranked by", "named", "precision", "÷ ceiling"):
        view.add_column(c)
    keep = lists[
        lists["ranked_by"].isin([result.chosen, "rules", "ceiling", "lightgbm (cohort only)"])
    ]
    for row in keep.to_dict("records"):
        ratio = row.get("ratio_to_ceiling", float("nan"))
        view.add_row(
            str(row["fold"]),
            str(row["list"]),
            str(row["ranked_by"]),
            str(row["named"]),
            f"{row['precision']:.3f} ({row['low']:.3f}–{row['high']:.3f})",
            "–" if ratio != ratio else f"{ratio:.2f}",
        )
    return view


def explain(
    data: DataOption = DEFAULT_DATA,
    outcome: OutcomeOption = "victim",
    as_of: Annotated[
        str, typer.Option("--as-of", help="Assessment date, YYYY-MM-DD.")
    ] = "2025-01-01",
    person: Annotated[str | None, typer.Option("--person", help="Explain this person_id.")] = None,
    top: Annotated[
        int, typer.Option("--top", help="Without --person: explain the N highest estimates.")
    ] = 1,
    alias: Annotated[
        str, typer.Option("--alias", help="Registered model alias to use.")
    ] = "candidate",
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Show what changed since this earlier date, YYYY-MM-DD (default: one month "
            "before --as-of; skipped with a note when the data begin later).",
        ),
    ] = None,
) -> None:
    """Why is this young person flagged? Reasons, protective factors and the band's meaning.

    Loads vru-<outcome>@<alias> from the MLflow registry, builds the features as they were
    known on the as-of date (and on the --since date, in the same build) and prints the
    explanation: what changed since then, what the estimate draws on and what it cannot
    see. Output is a prompt for professional review, never a decision.
    """
    import pandas as pd

    from features.schemas import ContractError
    from features.snapshot import SnapshotError, build_snapshot, load_tables
    from features.vocabulary import OUTCOMES
    from models.changes import attach_changes, changes_since, month_before
    from models.registry import model_name

    settings = clikit_settings()
    require_outcome(outcome, OUTCOMES)
    if top < 1:
        fail(f"--top must be at least 1, got {top}")
    (when,) = parse_dates(as_of)
    if since is None:
        previous = month_before(when)
    else:
        try:
            previous = dt.date.fromisoformat(since.strip())
        except ValueError:
            fail(f"--since: {since!r} is not a date in the form YYYY-MM-DD")
        if previous >= when:
            fail(f"--since {previous} must be before --as-of {when}")
    folder = settings.resolve(data)
    require_raw(folder)
    model, _ = load_registered(settings.tracking_uri(), outcome, alias)
    try:
        tables = load_tables(folder)
        dates = [previous, when] if previous > tables.start else [when]
        snapshot = build_snapshot(tables, dates)
    except SnapshotError as exc:
        fail(str(exc))
    except ContractError as exc:
        fail(f"input refused — {exc}")
    if len(dates) == 1:
        err.print(
            f"note: not showing what changed since {previous}: the data begin on {tables.start}",
            highlight=False,
        )
    stamp = pd.Timestamp(when)
    frame = snapshot.frame[snapshot.frame["as_of"] == stamp]
    earlier = snapshot.frame[snapshot.frame["as_of"] != stamp]
    if person is not None:
        rows = frame[frame["person_id"] == person]
        if rows.empty:
            fail(f"{person} is not on the {when} snapshot (not resident, or not aged 10–24)")
    else:
        scored = model.predict(None, frame)
        rows = frame.loc[scored["probability"].nlargest(top).index]
    explanations = model.explain(rows, data_as_of=snapshot.freshness)
    if len(dates) == 2:
        explanations = attach_changes(explanations, changes_since(model, rows, earlier))
    for explanation in explanations:
        heading = f"{explanation.person_id} — as of {explanation.as_of} — {model_name(outcome)}"
        out.rule(f"{heading}@{alias}")
        out.print(explanation.text(), highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add ``vru train`` and ``vru explain`` to the ``vru`` app."""
    app.command("train")(train)
    app.command("explain")(explain)
