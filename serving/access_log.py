"""Append-only, keyed and anchored access log of every explain, score, feedback and denial.

One SQLite file in WAL mode (its path is ``Settings.access_log_path``). Each row
records when, who (user, role, local authority), what (action, person, purpose,
outcome, model version) and the decision (``allowed``, ``denied``,
``not found``), and carries ``hash = HMAC-SHA256(key, prev_hash + canonical row)``:

- **keyed**: the key lives in its own file (``access_log_key_path``, 0600), created
  when the service first opens the log; without it nobody can recompute a valid chain
  after editing a row, inserting one or appending a forged one;
- **anchored**: the head of the chain (row count and hash) is appended to a file
  outside the log (``access_log_anchor_path``) when the service starts, at least daily
  while it runs and at every panel run (which also keeps it in its manifest), and
  ``verify`` checks the log against the latest anchor, so removing the newest rows is
  found too;
- **feedback joins the chain**: each feedback row's digest is written into the detail
  of the access-log row of the same transaction.

Triggers refuse ``UPDATE`` and ``DELETE`` on both tables; the chain is the evidence
when someone goes around them. :func:`verify_file` opens the log read-only and changes
nothing. Every file is created 0600 in a 0700 folder, whatever the umask.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

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
    walk,
)
from models.chain import rows as chain_rows

__all__ = [
    "FIELDS",
    "GENESIS",
    "AccessLog",
    "Entry",
    "LogBusyError",
    "LogError",
    "Verification",
    "Written",
    "anchor_path_for",
    "export_csv",
    "key_path_for",
    "latest_anchor",
    "neutralise",
    "read_feedback_on",
    "read_rows",
    "verify_file",
]

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
CREATE TRIGGER IF NOT EXISTS feedback_no_update BEFORE UPDATE ON feedback
BEGIN SELECT RAISE(ABORT, 'feedback is append-only'); END;
CREATE TRIGGER IF NOT EXISTS feedback_no_delete BEFORE DELETE ON feedback
BEGIN SELECT RAISE(ABORT, 'feedback is append-only'); END;
"""
#: feedback columns its digest covers, in order
FEEDBACK_FIELDS = (
    "time",
    "user",
    "role",
    "la",
    "person_id",
    "outcome",
    "agrees",
    "reason_code",
    "text",
    "model_version",
    "access_id",
)
#: the mark of a feedback row's digest in its access-log row's detail
FEEDBACK_MARK = "feedback sha256 "
#: the service anchors the head at least this often while it writes
ANCHOR_EVERY = dt.timedelta(days=1)
#: a spreadsheet reads a cell starting with one of these as a formula
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


#: the access log's refusals (one line for the user)
LogError = ChainError


def neutralise(value: object) -> object:
    """A text a spreadsheet would run as a formula, made inert with a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _feedback_digest(values: dict[str, object]) -> str:
    body = json.dumps(
        [values[f] for f in FEEDBACK_FIELDS], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


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
    """Result of checking the chain: rows checked, first broken row id, why, the head, and
    the anchor it was checked against (its row count and time; ``None`` when none yet)."""

    rows: int
    first_broken: int | None
    reason: str | None
    head: str
    anchored_rows: int | None = None
    anchored_at: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_broken is None and self.reason is None


def row_hash(key: bytes, prev_hash: str, values: Mapping[str, object]) -> str:
    """``HMAC-SHA256(key, prev_hash + canonical JSON of the chained columns)``."""
    return chain_hash(key, prev_hash, [values[f] for f in FIELDS])


def _read_only(path: Path) -> contextlib.AbstractContextManager[sqlite3.Connection]:
    return read_only(path, ("access_log", "feedback"), "access log")


def verify_file(
    path: Path, key_path: Path | None = None, anchor_path: Path | None = None
) -> Verification:
    """Check the log at ``path`` read-only: the keyed chain, the feedback digests and the
    latest anchor. Changes nothing; :class:`LogError` when it cannot be checked at all."""
    key = read_key(key_path or key_path_for(path), "access-log")
    anchor = latest_anchor(anchor_path or anchor_path_for(path))
    with _read_only(path) as con:
        done = walk(chain_rows(con, "SELECT * FROM access_log ORDER BY id"), key, row_hash, anchor)
        found = Verification(
            done.count,
            done.broken_at,
            done.problem,
            done.head,
            done.anchored_rows,
            done.anchored_at,
        )
        if done.problem is not None and done.anchored_rows is None:
            return found  # a broken row: named before anything else
        details = dict(con.execute("SELECT id, detail FROM access_log").fetchall())
        for fb in chain_rows(con, "SELECT * FROM feedback ORDER BY id"):
            access_id = int(fb["access_id"])  # type: ignore[call-overload]
            if not str(details.get(access_id) or "").endswith(FEEDBACK_MARK + _feedback_digest(fb)):
                return Verification(
                    done.count,
                    access_id,
                    f"feedback {fb['id']} does not match what its access-log row recorded (edited)",
                    done.head,
                )
    return found


def read_rows(
    path: Path, table: str = "access_log", since: dt.date | None = None
) -> list[dict[str, object]]:
    """Rows of a log's ``access_log`` or ``feedback`` table, read-only, oldest first."""
    if table not in ("access_log", "feedback"):
        raise ValueError(f"no table {table}")
    with _read_only(path) as con:
        if since is None:
            return list(chain_rows(con, f"SELECT * FROM {table} ORDER BY id"))
        return list(
            chain_rows(
                con, f"SELECT * FROM {table} WHERE time >= ? ORDER BY id", (since.isoformat(),)
            )
        )


def read_feedback_on(path: Path, person_id: str, limit: int = 50) -> list[dict[str, object]]:
    """Feedback on one young person, newest first (at most ``limit`` rows), read-only.

    What the practitioners' page shows beside an explanation; whoever calls it has
    already been allowed to see that young person (their explanation was looked up).
    """
    with _read_only(path) as con:
        return list(
            chain_rows(
                con,
                "SELECT * FROM feedback WHERE person_id = ? ORDER BY id DESC LIMIT ?",
                (person_id, int(limit)),
            )
        )


def export_csv(path: Path, out: IO[str], since: dt.date | None = None) -> int:
    """Write a log's rows (with their hashes) as CSV, read-only; text a spreadsheet would
    run as a formula is made inert (:func:`neutralise`). Returns how many rows."""
    rows = read_rows(path, since=since)
    writer = csv.DictWriter(out, fieldnames=[*FIELDS, "prev_hash", "hash"])
    writer.writeheader()
    writer.writerows({k: neutralise(v) for k, v in row.items()} for row in rows)
    return len(rows)


class LogBusyError(ChainError):
    """Another process held the log too long; nothing was written (answer 503, retry)."""


#: how long a write waits for another process's transaction before giving up
BUSY_SECONDS = 2.0


@dataclass
class _Pending:
    """One entry waiting for the next group commit."""

    entry: Entry
    feedback: dict[str, object] | None = None
    done: bool = False
    result: int = 0
    error: BaseException | None = None


class Written:
    """An entry handed to the log's writer: :meth:`wait` returns once it is on disk.

    What :meth:`AccessLog.submit` returns, so that a request can go on with its work while
    its row is written and synced, and answer only after :meth:`wait`.
    """

    def __init__(self, log: AccessLog, pending: _Pending) -> None:
        self._log = log
        self._pending = pending

    def wait(self) -> int:
        """Block until the entry's transaction is committed (synced to disk); its row id.

        Raises :class:`LogBusyError` (or the write's own error) when it was not written.
        """
        return self._log._wait(self._pending)


class AccessLog:
    """The log the service writes: append entries (and feedback) to the keyed chain, and
    anchor its head. Opening it creates the file, its key and its folder, private."""

    def __init__(
        self, path: Path, key_path: Path | None = None, anchor_path: Path | None = None
    ) -> None:
        self.path = path
        self.key_path = key_path or key_path_for(path)
        self.anchor_path = anchor_path or anchor_path_for(path)
        private_folder(path.parent)
        fresh = not path.exists() or path.stat().st_size == 0
        if not fresh and not self.key_path.exists():
            raise LogError(
                f"the access log {path} has no key at {self.key_path}: "
                "its chain cannot be continued (restore the key)"
            )
        private_file(path)
        self._key = (
            create_key(self.key_path)
            if not self.key_path.exists()
            else read_key(self.key_path, "access-log")
        )
        self._lock = threading.Lock()  # the connection: one user at a time
        #: entries waiting for the writer, and the writer's signal that some are written
        self._written = threading.Condition()
        self._queue: list[_Pending] = []
        self._writer: threading.Thread | None = None
        self._closed = False
        #: transactions written (each holds every entry queued while the one before ran)
        self.commits = 0
        self._con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._con.execute("PRAGMA journal_mode=WAL")
        # every commit reaches the disk: an audit trail must survive a power cut
        self._con.execute("PRAGMA synchronous=FULL")
        self._con.execute(f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}")
        self._con.executescript(_SCHEMA)
        for side in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(path.with_name(path.name + side), 0o600)
        last = latest_anchor(self.anchor_path)
        self._anchored_at = (
            dt.datetime.fromisoformat(str(last["time"])) if last and last.get("time") else None
        )

    def close(self) -> None:
        """Write what is queued, stop the writer and close the file."""
        with self._written:
            self._closed = True
            self._written.notify_all()
        if self._writer is not None and self._writer is not threading.current_thread():
            self._writer.join()
        with self._lock:
            self._con.close()

    def head(self) -> tuple[int, str]:
        """Rows in the chain and the newest row's hash."""
        with self._lock:
            last = self._con.execute(
                "SELECT id, hash FROM access_log ORDER BY id DESC LIMIT 1"
            ).fetchone()
        return (int(last[0]), str(last[1])) if last else (0, GENESIS)

    def anchor(self, reason: str) -> dict[str, object]:
        """Record the head outside the log (the anchor file); returns the anchor."""
        anchor = append_anchor(self.anchor_path, *self.head(), reason)
        self._anchored_at = dt.datetime.fromisoformat(str(anchor["time"]))
        return anchor

    def _anchor_if_due(self) -> None:
        now = dt.datetime.now(dt.UTC)
        if self._anchored_at is None or now - self._anchored_at >= ANCHOR_EVERY:
            self.anchor("daily")

    def _append(self, entry: Entry) -> int:
        """Insert one chained row inside an open transaction; returns its id."""
        last = self._con.execute(
            "SELECT id, hash FROM access_log ORDER BY id DESC LIMIT 1"
        ).fetchone()
        row_id, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        values: dict[str, object] = {"id": row_id, "time": now(), **entry.__dict__}
        digest = row_hash(self._key, prev, values)
        columns = [*FIELDS, "prev_hash", "hash"]
        self._con.execute(
            f"INSERT INTO access_log ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})",
            [*(values[f] for f in FIELDS), prev, digest],
        )
        return row_id

    def _append_feedback(self, entry: Entry, feedback: dict[str, object]) -> int:
        """An access-log row carrying the feedback's digest, then the feedback row."""
        last = self._con.execute("SELECT MAX(id) FROM access_log").fetchone()
        access_id = int(last[0] or 0) + 1
        feedback = {**feedback, "time": now(), "access_id": access_id}
        mark = FEEDBACK_MARK + _feedback_digest(feedback)
        detail = f"{entry.detail}; {mark}" if entry.detail else mark
        written = self._append(replace(entry, detail=detail))
        assert written == access_id
        cursor = self._con.execute(
            f"INSERT INTO feedback ({', '.join(FEEDBACK_FIELDS)}) "
            f"VALUES ({', '.join('?' * len(FEEDBACK_FIELDS))})",
            [feedback[f] for f in FEEDBACK_FIELDS],
        )
        return int(cursor.lastrowid or 0)

    def _write(self, batch: list[_Pending]) -> None:
        """Write ``batch`` in one transaction (one sync to disk for all of its entries),
        and set each entry's row id or error."""
        with self._lock:
            try:
                self._con.execute("BEGIN IMMEDIATE")
                try:
                    for pending in batch:
                        pending.result = (
                            self._append(pending.entry)
                            if pending.feedback is None
                            else self._append_feedback(pending.entry, pending.feedback)
                        )
                except BaseException:
                    self._con.execute("ROLLBACK")
                    raise
                self._con.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                error: BaseException = (
                    LogBusyError("the access log is busy; try again in a moment")
                    if "locked" in str(exc) or "busy" in str(exc)
                    else exc
                )
                for pending in batch:
                    pending.error = error
            except BaseException as exc:
                for pending in batch:
                    pending.error = exc
            self.commits += 1

    def _run_writer(self) -> None:
        """The writer thread: each transaction holds every entry queued while the one
        before it was written (group commit), until the log is closed."""
        while True:
            with self._written:
                while not self._queue and not self._closed:
                    self._written.wait()
                if not self._queue:  # closed, and nothing left to write
                    return
                batch, self._queue = self._queue, []
            self._write(batch)
            with self._written:
                for pending in batch:
                    pending.done = True
                self._written.notify_all()

    def _submit(self, pending: _Pending) -> Written:
        with self._written:
            if self._closed:
                raise LogError("the access log is closed")
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._run_writer, name="access-log-writer", daemon=True
                )
                self._writer.start()
            self._queue.append(pending)
            self._written.notify_all()
        return Written(self, pending)

    def _wait(self, pending: _Pending) -> int:
        with self._written:
            while not pending.done:
                self._written.wait()
        if pending.error is not None:
            raise pending.error
        self._anchor_if_due()
        return int(pending.result)

    def submit(self, entry: Entry) -> Written:
        """Hand ``entry`` to the writer (the next group commit) and return at once; the
        caller answers only after :meth:`Written.wait`, which returns once it is on disk.

        A request submits its row as soon as the access is decided and does its work
        while the row is written and synced: the row does not depend on the answer.
        """
        return self._submit(_Pending(entry))

    def record(self, entry: Entry) -> int:
        """Append one entry (in the next group commit) and wait until it is on disk; returns
        its row id. Raises :class:`LogBusyError` when another process held the log longer
        than :data:`BUSY_SECONDS` (the service answers 503 with Retry-After, never a 500)."""
        return self.submit(entry).wait()

    def record_feedback(self, entry: Entry, *, agrees: bool, reason_code: str, text: str) -> int:
        """Store feedback and its access-log row in one transaction; the feedback's digest
        is written into that row's detail, so the chain covers it. Returns the feedback id."""
        feedback: dict[str, object] = {
            "user": entry.user,
            "role": entry.role,
            "la": entry.la,
            "person_id": entry.person_id,
            "outcome": entry.outcome,
            "agrees": int(agrees),
            "reason_code": reason_code,
            "text": text,
            "model_version": entry.model_version,
        }
        return self._submit(_Pending(entry, feedback)).wait()

    def rows(self, since: dt.date | None = None) -> list[dict[str, object]]:
        """Access-log rows (oldest first), from ``since`` (UTC date) on when given."""
        return read_rows(self.path, since=since)

    def feedback(self) -> list[dict[str, object]]:
        return read_rows(self.path, "feedback")

    def feedback_on(self, person_id: str, limit: int = 50) -> list[dict[str, object]]:
        """:func:`read_feedback_on` of this log: one young person's feedback, newest first."""
        return read_feedback_on(self.path, person_id, limit)

    def verify(self) -> Verification:
        """:func:`verify_file` on this log, its key and its anchors."""
        return verify_file(self.path, self.key_path, self.anchor_path)

    def export_csv(self, out: IO[str], since: dt.date | None = None) -> int:
        """:func:`export_csv` of this log."""
        return export_csv(self.path, out, since)
