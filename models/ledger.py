"""The release ledger: every verdict, override, promotion, suspension and reinstatement.

Each decision about whether a model version may reach people is one entry in an
append-only, keyed and anchored chain (:mod:`models.chain`, the access log's mechanism):
who or what made it, when, and the release-status tags it set. The MLflow registry's tags
*mirror* the ledger; they are not the record. A tag edited in the MLflow UI (its edit and
delete buttons sit beside ``@champion``) no longer agrees with the ledger, and the service
and the monthly batch refuse the version, naming the difference
(:meth:`models.registry.Registry.load`).

The ledger lives beside the tracking store (``release-ledger.sqlite`` next to
``mlflow.db``), with its key (``release-ledger.key``, 0600) and anchors
(``release-ledger.anchors.jsonl``, appended at every entry); ``VRU_RELEASE_LEDGER_PATH``
places it elsewhere (a tracking server has no folder to sit beside).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import unquote, urlparse

from models.chain import (
    GENESIS,
    ChainError,
    anchor_path_for,
    append_anchor,
    chain_hash,
    create_key,
    key_path_for,
    latest_anchor,
    now,
    private_file,
    private_folder,
    read_key,
    read_only,
    rows,
    walk,
)

__all__ = [
    "KINDS",
    "LEDGER_NAME",
    "LedgerCheck",
    "LedgerError",
    "ReleaseLedger",
    "ledger_path_for",
]

#: the file name of the ledger beside a SQLite tracking store
LEDGER_NAME = "release-ledger.sqlite"
#: what an entry records
KINDS = ("registered", "verdict", "override", "promotion", "suspension", "reinstatement")
#: chained columns, in hash order
FIELDS = ("id", "time", "kind", "outcome", "version", "actor", "tags")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    version TEXT NOT NULL,
    actor TEXT NOT NULL,
    tags TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS ledger_no_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'the release ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS ledger_no_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'the release ledger is append-only'); END;
"""

#: the ledger's refusals (one line for the user)
LedgerError = ChainError


def ledger_path_for(tracking_uri: str) -> Path:
    """Where the ledger of a tracking store lives: ``VRU_RELEASE_LEDGER_PATH``, else beside a
    SQLite store's file; a server store needs the variable."""
    explicit = os.environ.get("VRU_RELEASE_LEDGER_PATH")
    if explicit:
        return Path(explicit)
    parsed = urlparse(tracking_uri)
    if parsed.scheme == "sqlite":
        return Path(unquote(parsed.path)).with_name(LEDGER_NAME)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path)) / LEDGER_NAME
    raise LedgerError(
        f"the tracking store {tracking_uri} has no folder for the release ledger: "
        "set VRU_RELEASE_LEDGER_PATH"
    )


@dataclass(frozen=True)
class LedgerCheck:
    """The ledger's chain checked: entries, the first broken one and why (``None``: intact)."""

    entries: int
    first_broken: int | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.reason is None


def _row_hash(key: bytes, prev: str, values: Mapping[str, object]) -> str:
    return chain_hash(key, prev, [values[f] for f in FIELDS])


class ReleaseLedger:
    """The ledger file: append decisions, read a version's status, check the chain."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.key_path = key_path_for(path)
        self.anchor_path = anchor_path_for(path)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ writing

    def _key_for_writing(self) -> bytes:
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        if self.key_path.exists():
            return read_key(self.key_path, "release-ledger")
        if not fresh:
            raise LedgerError(
                f"the release ledger {self.path} has no key at {self.key_path}: "
                "its chain cannot be continued (restore the key)"
            )
        return create_key(self.key_path)

    def append(
        self, kind: str, outcome: str, version: str, tags: Mapping[str, str], actor: str
    ) -> int:
        """Record one decision (and anchor the new head); returns the entry's id."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}: {kind!r}")
        with self._lock:
            private_folder(self.path.parent)
            key = self._key_for_writing()
            private_file(self.path)
            con = sqlite3.connect(self.path, isolation_level=None)
            try:
                con.execute("PRAGMA synchronous=FULL")
                con.execute("PRAGMA busy_timeout=10000")
                con.executescript(_SCHEMA)
                con.execute("BEGIN IMMEDIATE")
                try:
                    last = con.execute(
                        "SELECT id, hash FROM ledger ORDER BY id DESC LIMIT 1"
                    ).fetchone()
                    entry_id, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
                    values: dict[str, object] = {
                        "id": entry_id,
                        "time": now(),
                        "kind": kind,
                        "outcome": outcome,
                        "version": str(version),
                        "actor": actor,
                        "tags": json.dumps(dict(tags), sort_keys=True, ensure_ascii=False),
                    }
                    digest = _row_hash(key, prev, values)
                    columns = [*FIELDS, "prev_hash", "hash"]
                    con.execute(
                        f"INSERT INTO ledger ({', '.join(columns)}) "
                        f"VALUES ({', '.join('?' * len(columns))})",
                        [*(values[f] for f in FIELDS), prev, digest],
                    )
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
            finally:
                con.close()
            append_anchor(self.anchor_path, entry_id, digest, f"{kind} {outcome} {version}")
        return entry_id

    # ------------------------------------------------------------------ reading

    def entries(
        self, outcome: str | None = None, version: str | None = None
    ) -> list[dict[str, object]]:
        """Entries (oldest first), of one version when named; none before the first."""
        if not self.path.exists():
            return []
        with read_only(self.path, ("ledger",), "release ledger") as con:
            found = list(rows(con, "SELECT * FROM ledger ORDER BY id"))
        return [
            {**e, "tags": json.loads(str(e["tags"]))}
            for e in found
            if (outcome is None or e["outcome"] == outcome)
            and (version is None or e["version"] == str(version))
        ]

    def status(self, outcome: str, version: str) -> dict[str, str] | None:
        """The release-status tags the ledger holds for a version (each key's latest value),
        or ``None`` when the ledger has no entry for it."""
        found = self.entries(outcome, version)
        if not found:
            return None
        status: dict[str, str] = {}
        for entry in found:
            status.update(cast(dict[str, str], entry["tags"]))
        return status

    def verify(self) -> LedgerCheck:
        """Check the keyed chain and the latest anchor, read-only."""
        if not self.path.exists():
            anchor = latest_anchor(self.anchor_path)
            if anchor is not None and int(anchor["rows"]) > 0:  # type: ignore[call-overload]
                return LedgerCheck(0, None, f"{self.path} is missing: the ledger was removed")
            return LedgerCheck(0, None, None)
        key = read_key(self.key_path, "release-ledger")
        anchor = latest_anchor(self.anchor_path)
        with read_only(self.path, ("ledger",), "release ledger") as con:
            done = walk(
                rows(con, "SELECT * FROM ledger ORDER BY id"),
                key,
                _row_hash,
                anchor,
                what="ledger",
                noun="entry",
                plural="entries",
            )
        return LedgerCheck(done.count, done.broken_at, done.describe("entry"))
