"""Keyed, anchored hash chains in SQLite: what the access log and the release ledger share.

A chain is a table whose every row carries ``hash = HMAC-SHA256(key, prev_hash + body)``:

- the **key** lives in its own file (0600), apart from the chain, so nobody without it can
  recompute a valid chain after editing, inserting or forging a row;
- the **anchors** are the chain's head (row count and newest hash) appended to a file
  outside the chain, so removing the newest rows is found too;
- the files are **private** (0600 in a 0700 folder), whatever the umask;
- a chain is **checked read-only**: :func:`read_only` changes nothing it opens.

:mod:`serving.access_log` (who looked at whom) and :mod:`models.ledger` (every release
decision) are the two chains.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "GENESIS",
    "ChainError",
    "Walk",
    "anchor_path_for",
    "append_anchor",
    "chain_hash",
    "create_key",
    "key_path_for",
    "latest_anchor",
    "now",
    "private_file",
    "private_folder",
    "read_key",
    "read_only",
    "rows",
    "walk",
]

GENESIS = "0" * 64


class ChainError(Exception):
    """A chain cannot be opened or checked; the message is one line for the user."""


def key_path_for(chain: Path) -> Path:
    """Where the key of the chain at ``chain`` lives by default (beside it, its own file)."""
    return chain.with_name(chain.stem + ".key")


def anchor_path_for(chain: Path) -> Path:
    """Where the anchors of the chain at ``chain`` are kept by default."""
    return chain.with_name(chain.stem + ".anchors.jsonl")


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def private_folder(folder: Path) -> None:
    """Create ``folder`` (and parents) 0700 if it is not there."""
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
        os.chmod(folder, 0o700)


def private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 if it is not there; make an existing one 0600."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)


def read_key(path: Path, what: str) -> bytes:
    """The key of a chain (``what`` names the chain in messages)."""
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        raise ChainError(f"no {what} key at {path}: the chain cannot be checked") from None
    except (ValueError, UnicodeDecodeError):
        raise ChainError(f"the {what} key at {path} is not a key") from None
    if len(key) < 32:
        raise ChainError(f"the {what} key at {path} is too short")
    return key


def create_key(path: Path) -> bytes:
    """A new random key, written 0600 (never over an existing one)."""
    private_folder(path.parent)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key.hex() + "\n")
    return key


def chain_hash(key: bytes, prev_hash: str, values: Sequence[object]) -> str:
    """``HMAC-SHA256(key, prev_hash + canonical JSON of the values)``."""
    body = json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))
    return hmac.new(key, (prev_hash + body).encode("utf-8"), hashlib.sha256).hexdigest()


def rows(
    con: sqlite3.Connection, sql: str, params: tuple[object, ...] = ()
) -> Iterator[dict[str, object]]:
    """The rows of a query as dicts."""
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    for row in cursor:
        yield dict(zip(names, row, strict=True))


@contextlib.contextmanager
def read_only(path: Path, tables: Sequence[str], what: str) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a chain file that exists and has ``tables``.

    With no write-ahead file (no writer has it open) it is read as immutable: a read-only
    open of a WAL database would otherwise leave new ``-wal`` and ``-shm`` files behind.
    """
    if not path.is_file():
        raise ChainError(f"no {what} at {path}")
    live = path.with_name(path.name + "-wal").exists()
    try:
        con = sqlite3.connect(
            f"{path.resolve().as_uri()}?{'mode=ro' if live else 'immutable=1'}", uri=True
        )
    except sqlite3.Error as exc:
        raise ChainError(f"cannot open {path} read-only: {exc}") from None
    try:
        try:
            found = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError:
            raise ChainError(f"{path} is not an {what} (not an SQLite database)") from None
        missing = [t for t in tables if t not in found]
        if missing:
            raise ChainError(
                f"{path} has no {' and no '.join(missing)} table: "
                f"it is not an {what}, or it was wiped"
            )
        yield con
    finally:
        con.close()


@dataclass
class Walk:
    """A chain walked from its first row: rows read, the first broken row and why
    (``None``: intact so far), the newest good hash, and each row's hash by id."""

    count: int = 0
    broken_at: int | None = None
    problem: str | None = None
    head: str = GENESIS
    hashes: dict[int, str] = field(default_factory=dict)
    #: the latest anchor checked against: its row count and time (``None``: no anchor)
    anchored_rows: int | None = None
    anchored_at: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None and self.problem is None

    def describe(self, noun: str = "row") -> str | None:
        """The problem in one line, naming the broken row (``None`` when intact)."""
        if self.problem is None:
            return None
        return (
            self.problem if self.broken_at is None else f"{noun} {self.broken_at}: {self.problem}"
        )


def walk(
    chain: Iterable[Mapping[str, object]],
    key: bytes,
    hash_of: Callable[[bytes, str, Mapping[str, object]], str],
    anchor: Mapping[str, object] | None,
    what: str = "log",
    noun: str = "row",
    plural: str = "rows",
) -> Walk:
    """Check a chain's rows (oldest first, with ``id``, ``prev_hash`` and ``hash``)
    against the key — ids without gaps, each linked to the one before, each hash the
    keyed hash of its contents (``hash_of``) — and then against ``anchor``: no fewer rows
    than were anchored, and the anchored row still the anchored head. Stops at the first
    broken row; ``what`` names the chain and ``noun`` and ``plural`` its rows in the
    problem ("ledger", "entry")."""
    result = Walk()
    for row in chain:
        result.count += 1
        row_id = int(row["id"])  # type: ignore[call-overload]
        if row_id != result.count:
            result.broken_at = row_id
            result.problem = f"{noun} {result.count} is missing before {noun} {row_id}"
        elif row["prev_hash"] != result.head:
            result.broken_at = row_id
            result.problem = f"does not link to the {noun} before it"
        elif not hmac.compare_digest(str(row["hash"]), hash_of(key, result.head, row)):
            result.broken_at = row_id
            result.problem = "contents do not match its keyed hash (edited or forged)"
        if result.broken_at is not None:
            return result
        result.hashes[row_id] = result.head = str(row["hash"])
    if anchor is None:
        return result
    anchored, when = int(anchor["rows"]), str(anchor.get("time"))  # type: ignore[call-overload]
    result.anchored_rows, result.anchored_at = anchored, when
    if result.count < anchored:
        result.problem = (
            f"{anchored} {plural} were anchored at {when} but the {what} has {result.count} "
            f"({plural} removed)"
        )
    elif anchored and result.hashes.get(anchored) != anchor["head"]:
        result.broken_at = anchored
        result.problem = f"it is not the {noun} anchored at {when} (the {what} was rewritten)"
    return result


def latest_anchor(anchor_path: Path) -> dict[str, object] | None:
    """The newest anchor recorded for a chain (``rows``, ``head``, ``time``, ``reason``)."""
    if not anchor_path.exists():
        return None
    last = None
    for line in anchor_path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                last = json.loads(line)
            except json.JSONDecodeError:
                raise ChainError(f"{anchor_path} has a line that is not an anchor") from None
    return last


def append_anchor(anchor_path: Path, rows: int, head: str, reason: str) -> dict[str, object]:
    """Record a chain's head outside it (one JSON line, flushed to disk); returns it."""
    anchor: dict[str, object] = {"time": now(), "rows": rows, "head": head, "reason": reason}
    private_folder(anchor_path.parent)
    private_file(anchor_path)
    with anchor_path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(anchor) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return anchor
