"""Screenshots of the MLflow pages an analyst reviews, for the README's "Reviewing
experiments in MLflow".

    .venv/bin/python docs/mlflow_screenshots.py --db mlflow.db --artifacts mlartifacts \\
        --out docs/img

Starts ``mlflow server`` on a free local port against the given store, waits until it
answers, and opens with headless Chromium (Playwright driving Debian's
``/usr/bin/chromium``; nothing is downloaded):

- ``mlflow-runs.png``: the experiment's run list in its "Headline metrics" view;
- ``mlflow-run.png``: the latest training run's overview (description, metrics);
- ``mlflow-version.png``: the model version that run registered (description, release
  status).

The server is stopped at the end, also on failure. The store is only read.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
#: big enough for the run list's headline columns and the run's description beside them
WIDTH, HEIGHT = 1600, 1000
#: the run list's saved view that training writes (training.tracking.HEADLINE_VIEW)
HEADLINE_VIEW = "headline"
#: the prefix of the headline metrics (training.tracking.HEADLINE_PREFIX)
HEADLINE_PREFIX = "headline."
#: MLflow 3 opens an experiment on its GenAI overview unless the browser chose
#: "Model training"; this asks for it on every page
CLASSIC = "workflowType=machine_learning"


@dataclass(frozen=True)
class Target:
    """What to photograph: one training run and the model version it registered."""

    experiment_id: str
    run_id: str
    run_name: str
    model: str
    version: str
    has_view: bool


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_target(db: Path, outcome: str | None) -> Target:
    """The latest training run (of ``outcome``, if given) and its registered version."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{db}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    query = "tags.`vru.stage` = 'train'"
    if outcome:
        query += f" and tags.outcome = '{outcome}'"
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, query, order_by=["start_time DESC"], max_results=1)
    if not runs:
        raise SystemExit(f"no training run in {db}: run `vru train` first")
    run = runs[0]
    versions = client.search_model_versions(f"run_id = '{run.info.run_id}'")
    if not versions:
        raise SystemExit(f"training run {run.info.run_id} registered no model version")
    experiment = client.get_experiment(run.info.experiment_id)
    return Target(
        experiment_id=run.info.experiment_id,
        run_id=run.info.run_id,
        run_name=run.info.run_name,
        model=versions[0].name,
        version=str(versions[0].version),
        has_view=f"mlflow.sharedViewState.{HEADLINE_VIEW}" in experiment.tags,
    )


@contextlib.contextmanager
def mlflow_server(db: Path, artifacts: Path, log: Path, timeout: float = 120) -> Iterator[str]:
    """Run ``mlflow server`` on a free local port for the ``with`` block; yield its URL."""
    port = free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                f"sqlite:///{db}",
                "--artifacts-destination",
                str(artifacts),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its workers share its process group: stopped together
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None:
                raise SystemExit(f"mlflow server stopped at start; see {log}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"mlflow server did not answer in {timeout:.0f} s; see {log}")
            time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)


#: what the browser would remember after a first visit: the assistant panel (which opens
#: itself on a first visit to a local server) stays closed
QUIET_UI = """
localStorage.setItem("mlflow.assistant.fab.autoOpenedOnFirstLoad_v1", "true");
localStorage.setItem("mlflow.assistant.panelOpen_v1", "false");
"""


def _settle(page: Page, text: str, timeout_ms: int = 60_000) -> None:
    """Wait until ``text`` is on the page, close the assistant panel if it opened anyway,
    and give the page a moment to finish drawing."""
    page.get_by_text(text, exact=False).first.wait_for(timeout=timeout_ms)
    close = page.get_by_role("button", name="Close", exact=True)
    if close.count():
        close.first.click()
    page.wait_for_timeout(2500)


def _show_headline(page: Page) -> None:
    """On a run's overview: the whole description, and the metrics filtered to the
    headline ones."""
    more = page.get_by_text("Show more", exact=True)
    if more.count():
        more.first.click()
    search = page.get_by_placeholder("Search metrics")
    if search.count():
        search.first.fill(HEADLINE_PREFIX)
    page.wait_for_timeout(1500)


def screenshots(url: str, target: Target, out: Path) -> list[Path]:
    """Photograph the run list, the run and the version; return the PNGs written."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    experiment = f"{url}/#/experiments/{target.experiment_id}"
    view = f"viewStateShareKey={HEADLINE_VIEW}&" if target.has_view else ""
    pages = [
        ("mlflow-runs.png", f"{experiment}/runs?{view}{CLASSIC}", target.run_name),
        ("mlflow-run.png", f"{experiment}/runs/{target.run_id}?{CLASSIC}", "Description"),
        (
            "mlflow-version.png",
            f"{url}/#/models/{target.model}/versions/{target.version}?{CLASSIC}",
            "Release status",
        ),
    ]
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
            context.add_init_script(QUIET_UI)
            page = context.new_page()
            for name, address, wait_for in pages:
                page.goto(address)
                _settle(page, wait_for)
                if name == "mlflow-run.png":
                    _show_headline(page)
                page.screenshot(path=str(out / name))
                written.append(out / name)
        finally:
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("mlflow.db"), help="SQLite store")
    parser.add_argument(
        "--artifacts", type=Path, default=Path("mlartifacts"), help="artifact folder"
    )
    parser.add_argument("--out", type=Path, default=Path("docs/img"), help="where PNGs go")
    parser.add_argument("--outcome", help="victim or perpetrator (default: the latest run)")
    args = parser.parse_args(argv)
    db = args.db.resolve()
    if not db.exists():
        parser.error(f"no store at {db}")
    target = find_target(db, args.outcome)
    log = Path(tempfile.mkdtemp(prefix="mlflow-screenshots-")) / "server.log"
    with mlflow_server(db, args.artifacts.resolve(), log) as url:
        for path in screenshots(url, target, args.out):
            print(f"wrote {path}")
    log.unlink(missing_ok=True)
    log.parent.rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
