"""Signed-in sessions of the practitioners' page, kept in the service's process.

The page's cookie carries a random session id (:func:`secrets.token_urlsafe`, 32 bytes),
never the bearer token: a cookie copied from a browser, a proxy log or a screenshot of
the developer tools is worth nothing once the session ends. A session ends

- at **sign-out** (:meth:`SessionStore.close`);
- after **idle time** (``Settings.session_idle_minutes`` without a request);
- when its **token is revoked** (``vru tokens revoke``): every request looks the token
  up again in the token store, which re-reads its file when it changes.

A session also keeps the last explanation looked up in it (:meth:`SessionStore.remember`):
after feedback the page shows both explanations again from it, without a second
look-up and so without a second access-log row. It goes when the session ends.

The store lives in the memory of the one worker process that serves the page
(``@bentoml.service(workers=1)``; ``tests/unit/test_web_sessions.py`` fails if that
changes): sessions need no shared storage, and a restart signs everyone out. With
more than one worker a session would exist only in the worker that opened it; such a
change needs a shared store (SQLite beside the access log) first.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_SESSIONS", "Session", "SessionStore"]

#: live sessions one process keeps; past it the least recently used one is closed
MAX_SESSIONS = 10_000


@dataclass
class Session:
    """Who signed in, with which token (memory only, never shown), and when; and the
    last explanation looked up in it (the page shows it again after feedback)."""

    principal: Any  # serving.auth.Principal
    token: str = field(repr=False)
    created: float
    last_seen: float
    #: the last look-up's answer and purpose (memory only; ends with the session)
    last_explained: Any = field(default=None, repr=False)


class SessionStore:
    """Session id → :class:`Session`, thread-safe; ends idle and revoked sessions.

    Parameters
    ----------
    idle_seconds
        A session unused for this long is ended (``Settings.session_idle_minutes``).
    clock
        Seconds on a monotonic clock; tests pass their own to age sessions without waiting.
    limit
        Live sessions kept at most (the least recently used one goes first).
    """

    def __init__(
        self,
        idle_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        limit: int = MAX_SESSIONS,
    ) -> None:
        if idle_seconds <= 0:
            raise ValueError("idle_seconds must be positive")
        self.idle_seconds = idle_seconds
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.last_seen >= self.idle_seconds

    def open(self, token: str, principal: Any) -> str:
        """Start a session for ``principal`` signed in with ``token``; its new id.

        A fresh id at every sign-in: an id planted before sign-in is never promoted.
        """
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            now = self._clock()
            for sid in [s for s, v in self._sessions.items() if self._expired(v, now)]:
                del self._sessions[sid]
            while len(self._sessions) >= self.limit:
                oldest = min(self._sessions, key=lambda s: self._sessions[s].last_seen)
                del self._sessions[oldest]
            self._sessions[session_id] = Session(principal, token, now, now)
        return session_id

    def principal(self, session_id: str | None, tokens: Any) -> Any | None:
        """Who holds ``session_id``, or ``None`` (unknown, idle too long, or token revoked).

        A live session's idle time starts again. ``tokens`` is the
        :class:`serving.auth.TokenStore`: the token must still be in it, for the same
        person, role and local authority.
        """
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            now = self._clock()
            if self._expired(session, now):
                del self._sessions[session_id]
                return None
            session.last_seen = now
        if tokens.lookup(session.token) != session.principal:
            self.close(session_id)
            return None
        return session.principal

    def remember(self, session_id: str | None, explained: Any) -> None:
        """Keep ``explained`` (the last look-up) in a live session; an unknown id is ignored.

        It replaces the one before: a session keeps one young person's explanation at most.
        """
        if session_id:
            with self._lock:
                session = self._sessions.get(session_id)
                if session is not None:
                    session.last_explained = explained

    def recall(self, session_id: str | None) -> Any | None:
        """The last look-up kept in a live session (:meth:`remember`), or ``None``.

        Call it after :meth:`principal` has said the session is live.
        """
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            return None if session is None else session.last_explained

    def close(self, session_id: str | None) -> None:
        """End a session (sign-out); an unknown id is ignored."""
        if session_id:
            with self._lock:
                self._sessions.pop(session_id, None)
