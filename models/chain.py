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
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = [
    "GENESIS",
    "ChainError",
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
