"""Append-only, hash-chained access log of every explain, score, feedback and denial.

One SQLite file in WAL mode (its path is ``Settings.access_log_path``). Each row
records when, who (user, role, local authority), what (action, person, purpose,
outcome, model version) and the decision (``allowed``, ``denied``,
``not found``), and carries ``hash = sha256(prev_hash + canonical row)``, so a
changed, inserted or removed row breaks the chain from that row on. Triggers
refuse ``UPDATE`` and ``DELETE``; the chain is the evidence when someone goes
around them. Removing the newest rows leaves a valid shorter chain: record the
head hash that ``vru access-log verify`` prints to detect that too.

Practitioners' feedback lives in a second table of the same file, written in the
same transaction as its access-log row.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = [
    "FIELDS",
    "GENESIS",
    "AccessLog",
    "Entry",
    "Verification",
]

GENESIS = "0" * 64
#: chained columns, in hash order
FIELDS = (
    "id",
    "time",
    "action",
    "decision",
    "user",
    "role",
    "la",
    "person_id",
    "purpose",
    "outcome",
    "model_version",
    "detail",
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS access_log (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    action TEXT NOT NULL,
    decision TEXT NOT NULL,
    user TEXT NOT NULL,
    role TEXT NOT NULL,
    la TEXT NOT NULL,
    person_id TEXT,
    purpose TEXT,
    outcome TEXT,
    model_version TEXT,
    detail TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS access_log_time ON access_log (time);
CREATE TRIGGER IF NOT EXISTS access_log_no_update BEFORE UPDATE ON access_log
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS access_log_no_delete BEFORE DELETE ON access_log
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    user TEXT NOT NULL,
    role TEXT NOT NULL,
    la TEXT NOT NULL,
    person_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    agrees INTEGER NOT NULL,
    reason_code TEXT NOT NULL,
    text TEXT NOT NULL,
    model_version TEXT NOT NULL,
    access_id INTEGER NOT NULL REFERENCES access_log (id)
);
"""


@dataclass(frozen=True)
class Entry:
    """One access: who did what to whose record, and what was decided."""

    action: str
    decision: str
    user: str
    role: str
    la: str
    person_id: str | None = None
    purpose: str | None = None
    outcome: str | None = None
    model_version: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Verification:
    """Result of checking the chain: rows checked, first broken row id, why."""

    rows: int
    first_broken: int | None
    reason: str | None
    head: str

    @property
    def ok(self) -> bool:
        return self.first_broken is None


def row_hash(prev_hash: str, values: dict[str, object]) -> str:
    """``sha256(prev_hash + canonical JSON of the chained columns)``."""
    body = json.dumps([values[f] for f in FIELDS], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


class AccessLog:
    """The log file: append entries (and feedback), verify the chain, export rows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._con.execute("PRAGMA journal_mode=WAL")
        # every commit reaches the disk: an audit trail must survive a power cut
        self._con.execute("PRAGMA synchronous=FULL")
        self._con.execute("PRAGMA busy_timeout=10000")
        self._con.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def _append(self, entry: Entry) -> int:
        """Insert one chained row inside an open transaction; returns its id."""
        last = self._con.execute(
            "SELECT id, hash FROM access_log ORDER BY id DESC LIMIT 1"
        ).fetchone()
        row_id, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        values: dict[str, object] = {"id": row_id, "time": _now(), **entry.__dict__}
        digest = row_hash(prev, values)
        columns = [*FIELDS, "prev_hash", "hash"]
        self._con.execute(
            f"INSERT INTO access_log ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})",
            [*(values[f] for f in FIELDS), prev, digest],
        )
        return row_id

    def record(self, entry: Entry) -> int:
        """Append one entry; returns its row id."""
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                row_id = self._append(entry)
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")
        return row_id

    def record_feedback(self, entry: Entry, *, agrees: bool, reason_code: str, text: str) -> int:
        """Store feedback and its access-log row in one transaction; returns the feedback id."""
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                access_id = self._append(entry)
                cursor = self._con.execute(
                    "INSERT INTO feedback (time, user, role, la, person_id, outcome, agrees, "
                    "reason_code, text, model_version, access_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        _now(),
                        entry.user,
                        entry.role,
                        entry.la,
                        entry.person_id,
                        entry.outcome,
                        int(agrees),
                        reason_code,
                        text,
                        entry.model_version,
                        access_id,
                    ),
                )
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")
        return int(cursor.lastrowid or 0)

    def _rows(self, sql: str, params: tuple[object, ...] = ()) -> Iterator[dict[str, object]]:
        cursor = self._con.execute(sql, params)
        names = [d[0] for d in cursor.description]
        for row in cursor:
            yield dict(zip(names, row, strict=True))

    def rows(self, since: dt.date | None = None) -> list[dict[str, object]]:
        """Access-log rows (oldest first), from ``since`` (UTC date) on when given."""
        with self._lock:
            if since is None:
                return list(self._rows("SELECT * FROM access_log ORDER BY id"))
            return list(
                self._rows(
                    "SELECT * FROM access_log WHERE time >= ? ORDER BY id", (since.isoformat(),)
                )
            )

    def feedback(self) -> list[dict[str, object]]:
        with self._lock:
            return list(self._rows("SELECT * FROM feedback ORDER BY id"))

    def verify(self) -> Verification:
        """Recompute the chain; report the first row whose hash or link does not hold."""
        prev = GENESIS
        expected_id = 1
        count = 0
        with self._lock:
            for row in self._rows("SELECT * FROM access_log ORDER BY id"):
                count += 1
                row_id = int(row["id"])  # type: ignore[call-overload]
                if row_id != expected_id:
                    return Verification(
                        count, row_id, f"row {expected_id} is missing before row {row_id}", prev
                    )
                if row["prev_hash"] != prev:
                    return Verification(count, row_id, "does not link to the row before it", prev)
                if row["hash"] != row_hash(prev, row):
                    return Verification(
                        count, row_id, "contents do not match its hash (edited)", prev
                    )
                prev = str(row["hash"])
                expected_id += 1
        return Verification(count, None, None, prev)

    def export_csv(self, out: IO[str], since: dt.date | None = None) -> int:
        """Write rows (with their hashes) as CSV; returns how many."""
        rows = self.rows(since)
        writer = csv.DictWriter(out, fieldnames=[*FIELDS, "prev_hash", "hash"])
        writer.writeheader()
        writer.writerows(rows)
        return len(rows)
