"""What every ``vru`` command shares: consoles, one-line errors, progress, checks.

Commands live in :mod:`vru.cli` and in ``vru/cli_*.py`` modules that register
themselves on the one Typer app; all of them use these helpers so that errors
look the same everywhere (one line beginning ``error:``, exit 2, nothing written).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

#: ``--data DIR``, the data folder every stage reads
DataOption = Annotated[
    Path, typer.Option("--data", help="Data folder made by `vru synth` (reads DIR/raw/).")
]
DEFAULT_DATA = Path("data/synthetic")
#: ``--outcome``, one of the two outcomes
OutcomeOption = Annotated[str, typer.Option("--outcome", help="victim or perpetrator.")]

err = Console(stderr=True)
out = Console()
#: width for tables when output is not a terminal (logs, CI, pipes)
PIPE_WIDTH = 132


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error and exit (2 = bad input, nothing written)."""
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def settings(**overrides: object) -> Any:
    """The settings (:func:`vru.config.load_settings`), or a one-line refusal naming the bad one."""
    from vru.config import SettingsError, load_settings

    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        fail(str(exc))


def fit_width() -> None:
    """Tables are wide: give them room when writing to a pipe or a log."""
    if not out.is_terminal:
        out.width = PIPE_WIDTH


def progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def stage_reporter(bar: Progress) -> Callable[[str, int, int], None]:
    """A ``progress(stage, done, total)`` callback that shows each stage as a task of ``bar``
    (what ``vru score`` and ``vru monitor`` pass to the work they run)."""
    tasks: dict[str, Any] = {}

    def report(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return report


def require_raw(folder: Path) -> None:
    """Refuse a data folder without raw tables (one line, exit 2)."""
    if not (folder / "raw").is_dir():
        fail(f"no raw tables in {folder} (expected {folder / 'raw'}; make one with vru synth)")


def require_outcome(outcome: str, outcomes: Mapping[str, object]) -> None:
    if outcome not in outcomes:
        fail(f"--outcome must be one of {', '.join(outcomes)}, got {outcome!r}")


def quiet_mlflow() -> None:
    """Keep MLflow's progress bars and INFO lines out of the command's output."""
    import logging
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)


def parse_dates(text: str) -> list[dt.date]:
    dates = []
    for part in text.split(","):
        part = part.strip()
        try:
            dates.append(dt.date.fromisoformat(part))
        except ValueError:
            fail(f"--as-of: {part!r} is not a date in the form YYYY-MM-DD")
    if not dates:
        fail("--as-of needs at least one date")
    return dates


def load_registered(tracking_uri: str, outcome: str, alias: str = "champion") -> tuple[Any, str]:
    """The RiskModel registered as ``vru-<outcome>@<alias>`` and its version (or exit 2)."""
    quiet_mlflow()
    from models.registry import Registry, RegistryError

    try:
        released = Registry(tracking_uri).load(outcome, alias=alias)
    except RegistryError as exc:
        hint = "train one with vru train" if alias == "candidate" else "see vru promote"
        fail(f"{exc} ({hint})")
    return released.model, released.version
