"""``vru score``: the monthly batch for the local-authority referral panels.

The work is done by :func:`serving.batch.score_panels`; this module checks the
arguments, loads the released models, shows progress and prints where the
packs are. Bad input is one line beginning ``error:``, exit 2, nothing written.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from features.vocabulary import LISTS, OUTCOMES
from vru.clikit import (
    DEFAULT_DATA,
    DataOption,
    err,
    fail,
    out,
    parse_dates,
    progress,
    quiet_mlflow,
    require_raw,
    stage_reporter,
)

if TYPE_CHECKING:
    from models.registry import Registry, Released

BOTH = "both"


def _outcomes(outcome: str) -> list[str]:
    if outcome == BOTH:
        return list(OUTCOMES)
    if outcome not in OUTCOMES:
        fail(f"--outcome must be one of {', '.join([*OUTCOMES, BOTH])}, got {outcome!r}")
    return [outcome]


def _versions(text: str | None, outcomes: list[str]) -> dict[str, str | None]:
    """``--model-version 3`` (one outcome) or ``victim=3,perpetrator=2``."""
    pinned: dict[str, str | None] = dict.fromkeys(outcomes)
    if text is None:
        return pinned
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) == 1 and "=" not in parts[0]:
        if len(outcomes) > 1:
            fail(
                "--model-version with --outcome both needs one version per outcome, "
                "e.g. victim=3,perpetrator=2"
            )
        parts = [f"{outcomes[0]}={parts[0]}"]
    for part in parts:
        name, _, version = part.partition("=")
        if name not in pinned or not version.isdigit():
            fail(f"--model-version: {part!r} is not OUTCOME=VERSION for {', '.join(outcomes)}")
        pinned[name] = version
    return pinned


def _load(registry: Registry, outcome: str, version: str | None) -> Released:
    """The champion (or the pinned version) of one outcome, with its fairness verdict."""
    from models.registry import RegistryError

    try:
        return registry.load(outcome, version=version)
    except RegistryError as exc:  # "cannot load vru-victim@champion: …"
        fail(f"{exc} (see vru promote)" if version is None else str(exc))


def score(
    data: DataOption = DEFAULT_DATA,
    as_of: Annotated[
        str,
        typer.Option(
            "--as-of", help="Assessment date, YYYY-MM-DD: records made before it are used."
        ),
    ] = "2025-01-01",
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Output folder, replaced as a whole each run; the previous run there is what "
            "'new / still listed / no longer on the list' compare with.",
        ),
    ] = Path("data/panels"),
    outcome: Annotated[
        str,
        typer.Option("--outcome", help="victim, perpetrator or both (one pack with two parts)."),
    ] = BOTH,
    model_version: Annotated[
        str | None,
        typer.Option(
            "--model-version",
            help="Pin a registered version instead of the champion: 3 for one outcome, or "
            "victim=3,perpetrator=2.",
        ),
    ] = None,
) -> None:
    """Rank, explain and list young people for each local authority's referral panel.

    Scores everyone aged 10–24 resident on the as-of date with the champion model of
    each outcome (refused unless its fairness verdict is pass or a recorded override).
    An outcome whose model is switched off after release (vru suspend) gets no list:
    the other outcome is listed as usual and each pack says why; when every outcome
    asked for is switched off, nothing is written. A model whose latest monitoring is
    amber or red is used, and every pack says so.
    Each panel gets two lists per outcome: young people already known to services for
    serious violence ('known') and those with no such record yet ('early', early help),
    each cut at its capacity (VRU_PANEL_CAPACITY, e.g. '{"Bristol": {"known": 50,
    "early": 20}}'). Only those within capacity are named; the rest are counted by band.
    Writes per local authority panel_<la>.csv/.parquet and an HTML panel pack, with
    manifest.json, and logs the run to MLflow. Every list is a prompt for professional
    review.
    """
    from features.schemas import ContractError
    from features.snapshot import SnapshotError
    from models.registry import Registry
    from serving.batch import BatchError, Tracking, check_out_dir, check_releasable, score_panels
    from serving.batch.checks import MSG_NOT_LISTED
    from vru.clikit import settings as clikit_settings

    settings = clikit_settings()
    outcomes = _outcomes(outcome)
    (when,) = parse_dates(as_of)
    pinned = _versions(model_version, outcomes)
    folder = settings.resolve(data)
    target = settings.resolve(out_dir)
    require_raw(folder)
    try:
        check_out_dir(target)
        quiet_mlflow()
        registry = Registry(settings.tracking_uri())
        models = {o: _load(registry, o, pinned[o]) for o in outcomes}
        check_releasable(models)  # a switched-off one is left out; refused if all are
    except BatchError as exc:
        fail(str(exc))
    tracking = Tracking(
        settings.tracking_uri(),
        settings.experiment,
        settings.resolve(Path("mlartifacts")),
        launched_experiment_id=settings.launched_experiment_id(),
    )
    began = time.perf_counter()
    try:
        with progress() as bar:
            report = stage_reporter(bar)
            manifest = score_panels(
                folder,
                when,
                target,
                models,
                settings.panel_capacity,
                tracking=tracking,
                progress=report,
                access_log=settings.access_log_files(),
            )
    except SnapshotError as exc:  # the as-of date against the data: its own words
        fail(str(exc))
    except ContractError as exc:
        fail(f"input refused — {exc}")
    except BatchError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"could not write {target}: {exc.strerror or exc}")
    for o in outcomes:
        if o in manifest.suspended:
            out.print(
                MSG_NOT_LISTED.format(outcome=o, words=manifest.suspended[o]),
                highlight=False,
                soft_wrap=True,
            )
            continue
        named = {key: sum(c[o][key]["named"] for c in manifest.counts.values()) for key in LISTS}
        m = manifest.models[o]
        out.print(
            f"{o}: {named['known']:,} named on known lists, {named['early']:,} on early lists, of "
            f"{manifest.people_scored:,} scored with {m['name']} version {m['version']} "
            f"(fairness verdict {m['fairness_verdict']})",
            highlight=False,
        )
    for o, note in manifest.monitoring.items():
        if note["shown"] and o not in manifest.suspended:
            out.print(f"{o}: on every pack — {note['words']}", highlight=False, soft_wrap=True)
    for la, path in manifest.packs.items():
        out.print(f"panel pack {la}: {path}", highlight=False, soft_wrap=True)
    err.print(
        f"wrote {target} (manifest.json; MLflow run {manifest.mlflow_run_id}) in "
        f"{time.perf_counter() - began:.0f}s — a prompt for professional review, never a decision",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``vru score`` to the ``vru`` app."""
    app.command("score")(score)
