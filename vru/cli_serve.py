"""``vru serve``, ``vru tokens`` and ``vru access-log``: the service and its governance.

``vru serve`` checks, in this process, everything the service needs (champions
that may be released, a snapshot matching their features, a token file) and
prints one ``error:`` line if anything is missing; then it becomes ``bentoml serve
vru.bento:VruRisk`` (the process is replaced, same pid) with the settings passed
down as ``VRU_*`` environment variables (:func:`server_variables`), which
:mod:`vru.bento` reads back through :func:`vru.config.load_settings` in every
worker. A supervisor's SIGTERM, or Ctrl+C, therefore reaches the server itself,
which stops its workers: no ``vru`` process is left in between to die alone and
leave the server holding the port and the models.

:func:`serving_process` runs the same command on a free loopback port and waits
until the service is ready: the serving tests and the serving benchmark start
the service through it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from vru.clikit import err, fail, out, quiet_mlflow
from vru.clikit import settings as clikit_settings
from vru.config import Settings

tokens_app = typer.Typer(help="Bearer tokens of the service (stored as hashes only).")
log_app = typer.Typer(help="The service's hash-chained access log (for the DPO).")

#: the BentoML entry of the service (it injects the settings loader)
SERVICE = "vru.bento:VruRisk"
LOOPBACK = "127.0.0.1"


def bentoml_command(host: str, port: int) -> list[str]:
    """The ``bentoml serve`` command line for the service (``vru serve`` and the tests)."""
    return [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        SERVICE,
        "--host",
        host,
        "--port",
        str(port),
    ]


def server_variables(settings: Settings) -> dict[str, str]:
    """The settings the service needs, as the environment variables its workers read."""
    return {
        "MLFLOW_TRACKING_URI": settings.tracking_uri(),
        "VRU_PROJECT_DIR": str(settings.project_dir.resolve()),
        "VRU_SNAPSHOT_PATH": str(settings.resolve(settings.snapshot_path).resolve()),
        "VRU_TOKENS_PATH": str(settings.resolve(settings.tokens_path).resolve()),
        "VRU_ACCESS_LOG_PATH": str(settings.access_log_files()[0].resolve()),
        "VRU_ACCESS_LOG_KEY_PATH": str(settings.access_log_files()[1].resolve()),
        "VRU_ACCESS_LOG_ANCHOR_PATH": str(settings.access_log_files()[2].resolve()),
        "VRU_PANEL_CAPACITY": str(settings.panel_capacity),
        "VRU_SESSION_IDLE_MINUTES": str(settings.session_idle_minutes),
        "VRU_SESSION_COOKIE_SECURE": str(settings.session_cookie_secure).lower(),
        "VRU_AUTH_FAILURE_LIMIT": str(settings.auth_failure_limit),
        **(
            {}
            if settings.previous_snapshot_path is None
            else {
                "VRU_PREVIOUS_SNAPSHOT_PATH": str(
                    settings.resolve(settings.previous_snapshot_path).resolve()
                )
            }
        ),
    }


def _server_environment(variables: Mapping[str, str]) -> dict[str, str]:
    """This process's environment with ``variables``; BentoML's telemetry off unless set."""
    return {"BENTOML_DO_NOT_TRACK": "true", **os.environ, **variables}


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on at the moment (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class ServingProcess:
    """A running ``bentoml serve`` (its own process group) and where its output goes."""

    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        """End the server and its workers (SIGTERM to the group, SIGKILL after 20 s)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@contextlib.contextmanager
def serving_process(
    variables: Mapping[str, str],
    *,
    log: Path,
    port: int | None = None,
    timeout: float = 120.0,
) -> Iterator[ServingProcess]:
    """``bentoml serve vru.bento:VruRisk`` on a loopback port, ready; stopped on exit.

    Parameters
    ----------
    variables
        Environment variables for the server on top of this process's
        (:func:`server_variables` of the settings to serve, and any others).
    log
        File that receives the server's output (an undrained pipe would hang it).
    port
        Port to listen on (default: a free one).
    timeout
        Seconds to wait for ``/readyz``.

    Raises
    ------
    RuntimeError
        The server exited or was not ready in time (with the end of its log).
    """
    port = port or free_port()
    url = f"http://{LOOPBACK}:{port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            bentoml_command(LOOPBACK, port),
            env=_server_environment(variables),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends the workers too
        )
    server = ServingProcess(url, log, process)
    try:
        deadline = time.monotonic() + timeout
        while not _ready(url):
            if process.poll() is not None:
                raise RuntimeError(f"bentoml serve exited early:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"bentoml serve not ready after {timeout} s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield server
    finally:
        server.stop()


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default 127.0.0.1: this machine only).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 3000).")] = None,
    snapshot: Annotated[
        Path | None,
        typer.Option("--snapshot", help="Feature snapshot (Parquet from vru features)."),
    ] = None,
    previous_snapshot: Annotated[
        Path | None,
        typer.Option(
            "--previous-snapshot",
            help="An earlier feature snapshot (e.g. last month's): explanations then say "
            "what changed since its as-of date.",
        ),
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
    if previous_snapshot is not None:
        overrides["previous_snapshot_path"] = previous_snapshot
    settings = clikit_settings(**overrides)
    try:
        practice = Practice.start(settings)
    except CannotStartError as exc:
        fail(f"not starting the service: {exc}")
    practice.log.close()
    env = _server_environment(server_variables(settings))
    url = f"http://{settings.serve_host}:{settings.serve_port}"
    since = (
        ""
        if practice.previous is None
        else f"; what changed since {practice.previous.as_of} is shown"
    )
    err.print(
        f"serving {practice.versions} on the snapshot of {practice.snapshot.as_of} "
        f"({len(practice.snapshot.positions):,} young people{since})\n"
        f"web page: {url}/ui/   API: {url}/explain   OpenAPI: {url}/docs.json (token needed)\n"
        "stop with Ctrl+C",
        highlight=False,
    )
    command = bentoml_command(settings.serve_host, settings.serve_port)
    sys.stdout.flush()
    sys.stderr.flush()
    # become the server rather than wait for it: signals sent to this pid reach it
    os.execve(command[0], command, env)


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

    settings = clikit_settings()
    store = TokenStore(settings.resolve(settings.tokens_path))
    try:
        token = store.add(user, role, la, areas=settings.panel_capacity.authorities)
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

    settings = clikit_settings()
    for principal, created in TokenStore(settings.resolve(settings.tokens_path)).principals():
        out.print(f"{principal.user}\t{principal.role}\t{principal.la}\t{created}", markup=False)


@tokens_app.command("revoke")
def tokens_revoke(user: Annotated[str, typer.Argument(help="Whose tokens to remove.")]) -> None:
    """Remove every token of a user (the running service notices at once)."""
    from serving.auth import TokenStore

    settings = clikit_settings()
    removed = TokenStore(settings.resolve(settings.tokens_path)).revoke(user)
    if not removed:
        fail(f"{user} has no token")
    err.print(f"revoked {removed} token(s) of {user}")


@log_app.command("verify")
def log_verify() -> None:
    """Check the keyed chain, the feedback and the latest anchor, read-only: the first
    broken row or removed rows (exit 1), or the head."""
    from serving.access_log import LogError, verify_file

    log, key, anchors = clikit_settings().access_log_files()
    try:
        result = verify_file(log, key, anchors)
    except LogError as exc:
        fail(str(exc))
    if not result.ok:
        where = f" at row {result.first_broken}" if result.first_broken is not None else ""
        err.print(f"error: access log chain broken{where}: {result.reason}", highlight=False)
        raise typer.Exit(1)
    anchored = (
        f"; matches the anchor of {result.anchored_at} ({result.anchored_rows} rows)"
        if result.anchored_rows is not None
        else "; no anchor recorded yet"
    )
    out.print(
        f"access log intact: {result.rows} rows; head hash {result.head}{anchored}",
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
    """Rows from a date on, as CSV with their hashes (for the data protection officer);
    read-only, and text a spreadsheet would run as a formula is made inert."""
    from serving.access_log import LogError, export_csv

    try:
        day = dt.date.fromisoformat(since)
    except ValueError:
        fail(f"--since: {since!r} is not a date in the form YYYY-MM-DD")
    log, _, _ = clikit_settings().access_log_files()
    try:
        if output is None:
            export_csv(log, sys.stdout, day)
            return
        output.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(output, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            n = export_csv(log, f, day)
    except LogError as exc:
        fail(str(exc))
    err.print(f"wrote {n} rows to {output}")


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.add_typer(tokens_app, name="tokens")
    app.add_typer(log_app, name="access-log")
