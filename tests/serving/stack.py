"""A complete serving stack in a temporary folder: trained champions, a snapshot, tokens.

Used by the service tests and by ``benchmarks/serving.py``: a 30k population,
both outcomes trained (``n_boot=10``), each version tagged ``fairness_gate=pass``
and made ``champion``, the 2025-01-01 feature snapshot written with
:func:`features.build.write_feature_table`, and one token per role.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SNAPSHOT_AS_OF = dt.date(2025, 1, 1)


@dataclass
class Stack:
    root: Path
    tracking_uri: str
    snapshot: Path
    tokens_path: Path
    access_log: Path
    versions: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """Environment for a ``bentoml serve`` subprocess pointed at this stack."""
        return {
            **os.environ,
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "VRU_MLFLOW_TRACKING_URI": self.tracking_uri,
            "VRU_PROJECT_DIR": str(self.root),
            "VRU_SNAPSHOT_PATH": str(self.snapshot),
            "VRU_TOKENS_PATH": str(self.tokens_path),
            "VRU_ACCESS_LOG_PATH": str(self.access_log),
            "BENTOML_HOME": str(self.root / "bentoml"),
            "BENTOML_DO_NOT_TRACK": "true",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        }


def build_stack(root: Path, people: int = 30_000, seed: int = 11) -> Stack:
    """Generate, train both outcomes, promote, write the snapshot and issue tokens."""
    from features.build import build_feature_table, write_feature_table
    from features.schemas import data_end, load_raw
    from serving.auth import TokenStore
    from tests.released import train_released

    data_dir, uri, versions = train_released(
        root, people=people, seed=seed, experiment="serving-test", first_year=2020
    )
    tables = load_raw(data_dir)
    snapshot = write_feature_table(
        build_feature_table(tables, [SNAPSHOT_AS_OF], data_end(tables)), root / "features.parquet"
    )
    stack = Stack(
        root=root,
        tracking_uri=uri,
        snapshot=snapshot,
        tokens_path=root / "tokens.json",
        access_log=root / "access-log.sqlite",
        versions=versions,
    )
    store = TokenStore(stack.tokens_path)
    for user, role, la in (
        ("pat", "practitioner", "Bristol"),
        ("sam", "practitioner", "Somerset"),
        ("pia", "panel", "Bristol"),
        ("ann", "analyst", None),
        ("ada", "admin", None),
    ):
        stack.tokens[user] = store.add(user, role, la)
    (root / "stack.json").write_text(
        json.dumps({"versions": stack.versions, "tokens": stack.tokens}), encoding="utf-8"
    )
    return stack


def load_or_build_stack(root: Path) -> Stack:
    """A stack built earlier in ``root`` (its ``stack.json``), or a new one there."""
    saved = root / "stack.json"
    if not saved.exists():
        return build_stack(root)
    data = json.loads(saved.read_text(encoding="utf-8"))
    return Stack(
        root=root,
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        snapshot=root / "features.parquet",
        tokens_path=root / "tokens.json",
        access_log=root / "access-log.sqlite",
        versions=data["versions"],
        tokens=data["tokens"],
    )


@dataclass
class Server:
    """A running ``bentoml serve`` subprocess (stop it with :meth:`stop`)."""

    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(stack: Stack, log: Path, port: int | None = None, timeout: float = 120) -> Server:
    """``bentoml serve serving.service:VruRisk`` on a free loopback port; waits for /readyz."""
    import httpx

    from vru.cli_serve import bentoml_command

    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            bentoml_command("127.0.0.1", port),
            env=stack.env(),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends the workers too
        )
    server = Server(url, log, process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bentoml serve exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"bentoml serve not ready after {timeout} s:\n{log.read_text()[-3000:]}")
