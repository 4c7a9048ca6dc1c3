"""``vru suspend`` and ``vru reinstate``: switching a released model version off and on.

Beside ``vru promote`` (:mod:`vru.cli_fairness`). A suspension is what the monitoring
checks (or the senior responsible owner) record when a released model can no longer be
trusted: the running service stops answering with it within a minute, ``vru serve``
refuses to start on it and ``vru score`` writes no list from it. A reinstatement needs a
named person and a reason, like a fairness override. Both are entries in the release
ledger (:meth:`models.registry.Registry.suspend`, :meth:`~models.registry.Registry.reinstate`).

Bad input is one line beginning ``error:``, exit 2, nothing recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from vru.clikit import OutcomeOption, fail, out, quiet_mlflow, require_outcome
from vru.clikit import settings as clikit_settings

if TYPE_CHECKING:
    from models.registry import Registry

VersionOption = Annotated[
    str | None,
    typer.Option("--model-version", help="Registered version (default: the champion)."),
]


def _blank(**values: str | None) -> list[str]:
    return [f"--{name}" for name, value in values.items() if not (value and value.strip())]


def _target(outcome: str, version: str | None) -> tuple[Registry, str]:
    """The registry and the version meant (pinned, or the champion), or exit 2."""
    from features.vocabulary import OUTCOMES
    from models.registry import CHAMPION, Registry, RegistryError

    require_outcome(outcome, OUTCOMES)
    if version is not None and not version.strip().isdigit():
        fail(f"--model-version must be a version number, got {version!r}")
    quiet_mlflow()
    settings = clikit_settings()
    registry = Registry(settings.tracking_uri())
    try:
        mv = registry.version(outcome, version=version.strip() if version else None, alias=CHAMPION)
    except RegistryError as exc:
        fail(str(exc))
    return registry, str(mv.version)


def _refused(exc: Any) -> None:
    fail(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)


def suspend(
    outcome: OutcomeOption = "victim",
    model_version: VersionOption = None,
    check: Annotated[
        str | None,
        typer.Option("--check", help="The monitoring check that found the problem, in words."),
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, in words.")] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who decides: the senior responsible owner (or vru monitor)."),
    ] = None,
    figures: Annotated[
        str,
        typer.Option("--figures", help="The figures behind it, short: 'PSI 0.41 in Bristol'."),
    ] = "",
) -> None:
    """Switch a released model version off: no answers, no lists, until it is reinstated.

    The running service answers 503 with the reason within its recheck interval
    (VRU_STATUS_RECHECK_SECONDS, default 60), `vru serve` refuses to start on it and
    `vru score` writes no list from it. The fairness verdict is kept.
    """
    from models.registry import RegistryError, StatusRefusedError, model_name

    missing = _blank(check=check, reason=reason, by=by)
    if missing:
        fail(f"a suspension needs {', '.join(missing)}: which check, why, and who decides")
    registry, version = _target(outcome, model_version)
    assert check is not None
    assert reason is not None
    assert by is not None
    try:
        suspension = registry.suspend(
            outcome, version, check=check, figures=figures, by=by, reason=reason
        )
    except (StatusRefusedError, RegistryError) as exc:
        _refused(exc)
    out.print(
        f"suspended {model_name(outcome)} version {version}: {suspension.words()}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def reinstate(
    outcome: OutcomeOption = "victim",
    model_version: VersionOption = None,
    approver: Annotated[
        str | None, typer.Option("--approver", help="Name of the person taking responsibility.")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, in words.")] = None,
) -> None:
    """Switch a suspended model version back on — a named person and a reason, recorded."""
    from models.registry import RegistryError, StatusRefusedError, model_name

    missing = _blank(approver=approver, reason=reason)
    if missing:
        fail(f"a reinstatement needs {' and '.join(missing)}: who takes responsibility, and why")
    registry, version = _target(outcome, model_version)
    assert approver is not None
    assert reason is not None
    try:
        ended = registry.reinstate(outcome, version, approver=approver, reason=reason)
    except (StatusRefusedError, RegistryError) as exc:
        _refused(exc)
    out.print(
        f"reinstated {model_name(outcome)} version {version}, approved by {approver.strip()} "
        f"(it had been switched off after the check '{ended.check}'); the running service "
        "answers with it again within its recheck interval",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add ``vru suspend`` and ``vru reinstate`` to the ``vru`` app."""
    app.command("suspend")(suspend)
    app.command("reinstate")(reinstate)
