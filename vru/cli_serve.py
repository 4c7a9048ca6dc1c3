"""``vru serve``, ``vru tokens`` and ``vru access-log``: the service and its governance.

``vru serve`` checks, in this process, everything the service needs (champions
that may be released, a snapshot matching their features, a token file) and
prints one ``error:`` line if anything is missing; then it runs ``bentoml serve``
with the settings passed down as ``VRU_*`` environment variables.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from vru.clikit import err, fail, out, quiet_mlflow
from vru.config import load_settings

tokens_app = typer.Typer(help="Bearer tokens of the service (stored as hashes only).")
log_app = typer.Typer(help="The service's hash-chained access log (for the DPO).")


def bentoml_command(host: str, port: int) -> list[str]:
    """The ``bentoml serve`` command line for the service (used by the tests too)."""
    return [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        "serving.service:VruRisk",
        "--host",
        host,
        "--port",
        str(port),
    ]


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default 127.0.0.1: this machine only).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 3000).")] = None,
    snapshot: Annotated[
        Path | None,
        typer.Option("--snapshot", help="Feature snapshot (Parquet from vru features)."),
    ] = None,
) -> None:
    """Serve the champion models to practitioners: API, web page (/ui/), health, metrics.

    Refuses to start, with one line, when a champion is missing or not releasable, a
    model cannot be loaded, or the snapshot does not match the models' features.
    """
    from serving.runtime import CannotStartError, Practice

    quiet_mlflow()
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["serve_host"] = host
    if port is not None:
        if not 0 < port < 65536:
            fail(f"--port must be between 1 and 65535, got {port}")
        overrides["serve_port"] = port
    if snapshot is not None:
        overrides["snapshot_path"] = snapshot
    settings = load_settings(**overrides)
    try:
        practice = Practice.start(settings)
    except CannotStartError as exc:
        fail(f"not starting the service: {exc}")
    practice.log.close()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": settings.tracking_uri(),
        "VRU_PROJECT_DIR": str(settings.project_dir.resolve()),
        "VRU_SNAPSHOT_PATH": str(settings.resolve(settings.snapshot_path).resolve()),
        "VRU_TOKENS_PATH": str(settings.resolve(settings.tokens_path).resolve()),
        "VRU_ACCESS_LOG_PATH": str(settings.resolve(settings.access_log_path).resolve()),
        "BENTOML_DO_NOT_TRACK": os.environ.get("BENTOML_DO_NOT_TRACK", "true"),
    }
    url = f"http://{settings.serve_host}:{settings.serve_port}"
    err.print(
        f"serving {practice.versions} on the snapshot of {practice.snapshot.as_of} "
        f"({len(practice.snapshot.positions):,} young people)\n"
        f"web page: {url}/ui/   API: {url}/explain   OpenAPI: {url}/docs.json (token needed)\n"
        "stop with Ctrl+C",
        highlight=False,
    )
    command = bentoml_command(settings.serve_host, settings.serve_port)
    try:
        code = subprocess.call(command, env=env)
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)


@tokens_app.command("add")
def tokens_add(
    user: Annotated[str, typer.Argument(help="Who the token is for.")],
    role: Annotated[
        str, typer.Option("--role", help="practitioner, panel, analyst or admin.")
    ] = "practitioner",
    la: Annotated[
        str | None,
        typer.Option("--la", help="Local authority (required for practitioner and panel)."),
    ] = None,
) -> None:
    """Issue a token and print it once (only its hash is kept)."""
    from serving.auth import TokenError, TokenStore

    settings = load_settings()
    store = TokenStore(settings.resolve(settings.tokens_path))
    try:
        token = store.add(user, role, la, areas=tuple(settings.panel_capacity))
    except TokenError as exc:
        fail(str(exc))
    err.print(
        f"token for {user} ({role}, {la or 'all areas'}) — shown once, store it safely:",
        highlight=False,
    )
    out.print(token, highlight=False, markup=False, soft_wrap=True)


@tokens_app.command("list")
def tokens_list() -> None:
    """Who holds a token (never the tokens themselves)."""
    from serving.auth import TokenStore

    settings = load_settings()
    for principal, created in TokenStore(settings.resolve(settings.tokens_path)).principals():
        out.print(f"{principal.user}\t{principal.role}\t{principal.la}\t{created}", markup=False)


@tokens_app.command("revoke")
def tokens_revoke(user: Annotated[str, typer.Argument(help="Whose tokens to remove.")]) -> None:
    """Remove every token of a user (the running service notices at once)."""
    from serving.auth import TokenStore

    settings = load_settings()
    removed = TokenStore(settings.resolve(settings.tokens_path)).revoke(user)
    if not removed:
        fail(f"{user} has no token")
    err.print(f"revoked {removed} token(s) of {user}")


def _open_log() -> object:
    from serving.access_log import AccessLog

    settings = load_settings()
    path = settings.resolve(settings.access_log_path)
    if not path.exists():
        fail(f"no access log at {path} (the service writes it when it first answers)")
    return AccessLog(path)


@log_app.command("verify")
def log_verify() -> None:
    """Check the hash chain; report the first broken row (exit 1) or the head hash."""
    from serving.access_log import AccessLog

    log = _open_log()
    assert isinstance(log, AccessLog)
    result = log.verify()
    if not result.ok:
        err.print(
            f"error: access log chain broken at row {result.first_broken}: {result.reason}",
            highlight=False,
        )
        raise typer.Exit(1)
    out.print(
        f"access log intact: {result.rows} rows; head hash {result.head} "
        "(record it to detect later truncation)",
        highlight=False,
        soft_wrap=True,
    )


@log_app.command("export")
def log_export(
    since: Annotated[str, typer.Option("--since", help="First day (UTC), YYYY-MM-DD.")],
    output: Annotated[
        Path | None, typer.Option("--out", help="CSV file to write (default: standard output).")
    ] = None,
) -> None:
    """Rows from a date on, as CSV with their hashes (for the data protection officer)."""
    from serving.access_log import AccessLog

    try:
        day = dt.date.fromisoformat(since)
    except ValueError:
        fail(f"--since: {since!r} is not a date in the form YYYY-MM-DD")
    log = _open_log()
    assert isinstance(log, AccessLog)
    if output is None:
        log.export_csv(sys.stdout, day)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", newline="", encoding="utf-8") as f:
        n = log.export_csv(f, day)
    err.print(f"wrote {n} rows to {output}")


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.add_typer(tokens_app, name="tokens")
    app.add_typer(log_app, name="access-log")
