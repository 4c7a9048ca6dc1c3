"""Failed authentication, throttled per client and logged within bounds.

Used for the practitioners' page's sign-ins (:mod:`serving.web.app`) and for API requests
without a valid bearer token (:class:`serving.auth.Gatekeeper`). A token is 32 random
bytes, so guessing one is hopeless; but a flood of guesses should still be seen by the
data protection officer, should not be answered at full speed, and must not grow the
access log row by row. :class:`FailureGuard` keeps, per client address, the times of its
recent failures:

- after ``limit`` failures within ``window`` seconds the client's next attempts are
  refused (429, with the seconds to wait) *without looking at the token*;
- each failure that was looked at is written to the access log — at most ``limit`` a
  minute per client — but never more than ``log_cap`` rows per window from all
  clients together; what is not written one by one is counted, and one summary row per
  throttled client (and one for the rows over the cap) says how many.

So the log grows by at most ``log_cap`` + one row per throttled client per window,
whatever the flood. Behind a reverse proxy every client has the proxy's address: the
limit is then shared by everyone behind it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["LOG_CAP", "FailureGuard", "SigninGuard"]

#: failures logged one by one per window, from all clients together (then summary rows)
LOG_CAP = 100


@dataclass
class _Client:
    failures: deque[float] = field(default_factory=deque)  # times of recent failures
    refused: int = 0  # attempts refused while throttled, not yet summarised


class FailureGuard:
    """Per-client throttle of failed authentication, and the rows to log about them.

    Parameters
    ----------
    record
        Writes one access-log row with this detail (the sign-in action, decision
        ``unauthenticated``); never given any token text.
    limit
        Failed sign-ins a client may make within ``window`` before it must wait.
    window
        Seconds over which failures are counted.
    log_cap
        Failed sign-ins logged one by one per window, from all clients together.
    clock
        Seconds on a monotonic clock; tests pass their own.
    failure, attempts
        The words of the log rows: "failed sign-in" and "sign-in attempt(s)" for the page.
    """

    def __init__(
        self,
        record: Callable[[str], None],
        *,
        limit: int = 5,
        window: float = 60.0,
        log_cap: int = LOG_CAP,
        clock: Callable[[], float] = time.monotonic,
        failure: str = "failed sign-in",
        attempts: str = "sign-in attempt(s)",
    ) -> None:
        self.failure = failure
        self.attempts = attempts
        self.record = record
        self.limit = limit
        self.window = window
        self.log_cap = log_cap
        self._clock = clock
        self._lock = threading.Lock()
        self._clients: dict[str, _Client] = {}
        self._period_start = clock()
        self._logged = 0  # failures logged one by one in this period
        self._unlogged = 0  # failures over the cap in this period

    def _forget_old(self, client: _Client, now: float) -> None:
        while client.failures and now - client.failures[0] >= self.window:
            client.failures.popleft()

    def _sweep(self, now: float) -> list[str]:
        """Once a window: the summary rows due, and clients with nothing recent forgotten."""
        if now - self._period_start < self.window:
            return []
        due = []
        for address, client in list(self._clients.items()):
            self._forget_old(client, now)
            if client.failures:
                continue
            if client.refused:
                due.append(self._refused_note(address, client.refused))
            del self._clients[address]
        if self._unlogged:
            due.append(
                f"{self._unlogged} more {self.failure}(s) in {self.window:.0f} s were not "
                "logged one by one (too many at once)"
            )
        self._period_start, self._logged, self._unlogged = now, 0, 0
        return due

    def retry_after(self, address: str) -> int | None:
        """Seconds ``address`` must wait before its next sign-in, or ``None`` if it may try.

        A refused attempt is counted for the client's summary row; its token is not read.
        """
        with self._lock:
            now = self._clock()
            due = self._sweep(now)
            client = self._clients.get(address)
            wait = None
            if client is not None:
                self._forget_old(client, now)
                if len(client.failures) >= self.limit:
                    client.refused += 1
                    wait = max(1, math.ceil(client.failures[0] + self.window - now))
                elif client.refused:
                    due.append(self._refused_note(address, client.refused))
                    client.refused = 0
        for note in due:
            self.record(note)
        return wait

    def failed(self, address: str, log: bool = True) -> None:
        """Count a failure from ``address`` and (unless ``log`` is false: counted for the
        throttle only) log it, within the bounds."""
        with self._lock:
            now = self._clock()
            due = self._sweep(now)
            client = self._clients.setdefault(address, _Client())
            client.failures.append(now)
            if not log:
                pass
            elif self._logged < self.log_cap:
                self._logged += 1
                due.append(f"{self.failure} from {address}")
            else:
                self._unlogged += 1
        for note in due:
            self.record(note)

    def _refused_note(self, address: str, refused: int) -> str:
        return f"{refused} {self.attempts} from {address} refused while throttled"


#: the page's guard (its words are the defaults)
SigninGuard = FailureGuard
