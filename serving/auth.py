"""Bearer tokens mapped to a user, a role and a local authority; the access rules.

Tokens live in a JSON file (its path is ``Settings.tokens_path``) holding only
their SHA-256 hashes: a token is 32 random bytes, so an unsalted hash cannot be
reversed by guessing, and a stolen file grants nothing. ``vru tokens add`` prints
a new token once; it cannot be shown again.

Access rules (also in ``docs/serving.md``):

- every endpoint except health needs a valid token (401 otherwise);
- practitioners and panel coordinators see only young people of their own local
  authority (403, and the denial is logged); analysts and admins see all;
- scoring raw feature rows (``/score``) is for panels, analysts and admins.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import secrets
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio

from serving.http import send_json
from serving.throttle import LOG_CAP, FailureGuard

__all__ = [
    "LOCAL_ROLES",
    "PRINCIPAL_KEY",
    "PUBLIC_PATHS",
    "ROLES",
    "SCORE_ROLES",
    "Gatekeeper",
    "Principal",
    "TokenError",
    "TokenStore",
    "bearer_token",
    "hash_token",
    "may_see",
]

ROLES = ("practitioner", "panel", "analyst", "admin")
#: roles limited to young people of their own local authority
LOCAL_ROLES = frozenset({"practitioner", "panel"})
#: roles allowed to score raw feature rows
SCORE_ROLES = frozenset({"panel", "analyst", "admin"})
ALL_AREAS = "all"


class TokenError(ValueError):
    """A token request the store refuses (unknown role, missing local authority, …)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: user name, role and local authority (``all`` for hub roles)."""

    user: str
    role: str
    la: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, if any."""
    value = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def may_see(principal: Principal, person_la: str) -> bool:
    """May this caller see a young person recorded in ``person_la``?"""
    return principal.role not in LOCAL_ROLES or principal.la == person_la


@dataclass(frozen=True)
class _Entry:
    user: str
    role: str
    la: str
    sha256: str
    created: str


class TokenStore:
    """The token file: add, revoke, list and look up tokens (hashes only on disk)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._by_hash: dict[str, Principal] | None = None
        self._mtime: float | None = None

    def _read(self) -> list[_Entry]:
        if not self.path.exists():
            return []
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return [_Entry(**e) for e in data.get("tokens", [])]

    def _write(self, entries: list[_Entry]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"tokens": [asdict(e) for e in entries]}, f, indent=1)
        os.chmod(tmp, 0o600)
        Path(tmp).replace(self.path)

    def add(
        self, user: str, role: str, la: str | None, areas: tuple[str, ...] | None = None
    ) -> str:
        """Issue a new token for ``user``; returns it (the only time it is visible).

        Parameters
        ----------
        areas
            Known local authorities; when given, ``la`` must be one of them.
        """
        user = user.strip()
        if not user:
            raise TokenError("user name must not be empty")
        if role not in ROLES:
            raise TokenError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if role in LOCAL_ROLES and not la:
            raise TokenError(f"a {role} token needs --la (the local authority they work in)")
        la = la or ALL_AREAS
        if areas is not None and la != ALL_AREAS and la not in areas:
            raise TokenError(f"--la must be one of {', '.join(areas)}, got {la!r}")
        token = secrets.token_urlsafe(32)
        created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self._lock:
            entries = self._read()
            entries.append(_Entry(user, role, la, hash_token(token), created))
            self._write(entries)
            self._by_hash = None
        return token

    def revoke(self, user: str) -> int:
        """Remove every token of ``user``; returns how many were removed."""
        with self._lock:
            entries = self._read()
            kept = [e for e in entries if e.user != user]
            self._write(kept)
            self._by_hash = None
        return len(entries) - len(kept)

    def principals(self) -> list[tuple[Principal, str]]:
        """Every token's owner with its creation time (no token material)."""
        return [(Principal(e.user, e.role, e.la), e.created) for e in self._read()]

    def lookup(self, token: str | None) -> Principal | None:
        """The owner of ``token``, or ``None`` (the file is re-read when it changes)."""
        if not token:
            return None
        try:  # one stat a request: a changed file (a token added or revoked) is re-read
            mtime: float | None = os.stat(self.path).st_mtime
        except FileNotFoundError:
            mtime = None
        with self._lock:
            if self._by_hash is None or mtime != self._mtime:
                self._by_hash = {e.sha256: Principal(e.user, e.role, e.la) for e in self._read()}
                self._mtime = mtime
            table = self._by_hash
        # a dict lookup on the hash: timing can reveal at most a hash prefix, never the token
        return table.get(hash_token(token))


#: where the :class:`Gatekeeper` leaves the caller it checked, in the request's ASGI scope
PRINCIPAL_KEY = "vru.principal"
#: reachable without a token: health probes, and the web page (it signs in with a form)
PUBLIC_PATHS = frozenset({"/livez", "/readyz", "/healthz"})
PUBLIC_PREFIXES = ("/ui/",)
UNAUTHENTICATED = (
    "a valid bearer token is required (header 'Authorization: Bearer <token>'); "
    "an admin issues one with vru tokens add"
)

#: paths whose requests without a valid token are written to the access log (the ones
#: that reach a young person's records); every other is counted for the throttle only
LOGGED_PATHS = frozenset({"/explain", "/score", "/feedback"})
ONE_AUTHORIZATION = "send exactly one Authorization header"
#: requests without a valid token one client may make in a minute before it must wait
#: (``Settings.auth_failure_limit`` when the service has settings)
API_FAILURE_LIMIT = 30
TOO_MANY_FAILURES = (
    "too many requests without a valid token from this address; try again in {seconds} s"
)


class Gatekeeper:
    """ASGI middleware: every path but health and the web page needs a valid bearer token.

    ``practice`` returns the running :class:`serving.runtime.Practice` (its token store
    and access log), or ``None`` while the service is still starting (503).
    """

    def __init__(self, app: Any, practice: Callable[[], Any]) -> None:
        self.app = app
        self.practice = practice
        #: rows about failed authentication, written off the event loop after each request
        self._notes: deque[str] = deque()
        self._guard: FailureGuard | None = None

    def guard(self, practice: Any) -> FailureGuard:
        """The throttle of requests without a valid token (its limit from the settings)."""
        if self._guard is None:
            settings = getattr(practice, "settings", None)
            limit = int(getattr(settings, "auth_failure_limit", API_FAILURE_LIMIT))
            self._guard = FailureGuard(
                self._notes.append,
                limit=limit,
                # at least one address's limit a minute is logged one by one
                log_cap=max(LOG_CAP, limit),
                failure="request without a valid token",
                attempts="request(s) without a valid token",
            )
        return self._guard

    async def _write_notes(self, practice: Any) -> None:
        """Write the failed-authentication rows due, in a worker thread (never on the loop)."""
        from serving.access_log import Entry

        notes = []
        while self._notes:
            notes.append(self._notes.popleft())
        if not notes:
            return

        def write() -> None:
            for note in notes:
                with contextlib.suppress(Exception):  # a busy log must not turn a 401 into a 500
                    practice.log.record(
                        Entry("request", "unauthenticated", "-", "-", "-", detail=note)
                    )

        await anyio.to_thread.run_sync(write)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in PUBLIC_PATHS or path == "/ui":
            await self.app(scope, receive, send)
            return
        if path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        practice = self.practice()
        if practice is None:
            await send_json(send, 503, {"error": "the service is starting; try again shortly"})
            return
        authorization = [v for k, v in scope["headers"] if k.lower() == b"authorization"]
        if len(authorization) > 1:
            # the check and the handler must read the same identity: one header, or none
            await send_json(send, 400, {"error": ONE_AUTHORIZATION})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        principal = practice.tokens.lookup(bearer_token(headers))
        if principal is None:
            address = str((scope.get("client") or ("unknown", 0))[0])
            guard = self.guard(practice)
            wait = guard.retry_after(address)
            if wait is None:
                # counted for the throttle; logged (within the guard's bounds) where the
                # request was for a young person's records
                guard.failed(address, log=path in LOGGED_PATHS)
            await self._write_notes(practice)
            if wait is not None:
                await send_json(
                    send,
                    429,
                    {"error": TOO_MANY_FAILURES.format(seconds=wait)},
                    [(b"retry-after", str(wait).encode())],
                )
                return
            challenge = [(b"www-authenticate", b"Bearer")]
            await send_json(send, 401, {"error": UNAUTHENTICATED}, challenge)
            return
        # the handler reads who this is from here: the token is looked up once a request
        scope[PRINCIPAL_KEY] = principal
        await self.app(scope, receive, send)
