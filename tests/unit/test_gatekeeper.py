"""The Gatekeeper under a flood of requests without a token (issue 21, finding 5).

The "unauthenticated" row used to be written on the event loop, one synced row per
request: anyone without a token grew the log at 124 rows a second per client, and four
such clients cut legitimate throughput by 73%. Now failures are counted per client,
throttled after :data:`serving.auth.API_FAILURE_LIMIT` a minute (429 with Retry-After),
logged within bounds, and written in a worker thread.
"""

from __future__ import annotations

import threading
from typing import Any

import anyio

from serving.auth import API_FAILURE_LIMIT, Gatekeeper


class _Log:
    def __init__(self) -> None:
        self.rows: list[Any] = []
        self.threads: set[int] = set()

    def record(self, entry: Any) -> int:
        self.threads.add(threading.get_ident())
        self.rows.append(entry)
        return len(self.rows)


class _Tokens:
    def lookup(self, token: str | None) -> Any:
        return {"pat": object()}.get(token or "")


class _Practice:
    def __init__(self) -> None:
        self.log = _Log()
        self.tokens = _Tokens()


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _call(gate: Gatekeeper, client: str, token: str | None = None) -> tuple[int, dict]:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    scope = {"type": "http", "path": "/explain", "headers": headers, "client": (client, 5000)}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await gate(scope, receive, send)
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}


def test_a_flood_without_a_token_is_throttled_and_logged_off_the_event_loop() -> None:
    practice = _Practice()
    gate = Gatekeeper(_app, practice=lambda: practice)
    loop_threads: set[int] = set()

    async def main() -> list[tuple[int, dict]]:
        loop_threads.add(threading.get_ident())
        answers = [await _call(gate, "10.0.0.9") for _ in range(API_FAILURE_LIMIT + 50)]
        # another client is not throttled by the first one's flood, nor is a valid token
        answers.append(await _call(gate, "10.0.0.10"))
        answers.append(await _call(gate, "10.0.0.9", token="pat"))
        return answers

    answers = anyio.run(main)
    flood = [status for status, _ in answers[: API_FAILURE_LIMIT + 50]]
    assert flood[:API_FAILURE_LIMIT] == [401] * API_FAILURE_LIMIT
    assert flood[API_FAILURE_LIMIT:] == [429] * 50
    assert 1 <= int(answers[API_FAILURE_LIMIT][1]["retry-after"]) <= 60
    assert answers[-2][0] == 401
    assert answers[-1][0] == 200
    # one row per failure looked at (the limit, and the other client's), none while throttled
    assert len(practice.log.rows) == API_FAILURE_LIMIT + 1
    # a made-up path is counted for the throttle, never logged
    rows = len(practice.log.rows)

    async def made_up() -> int:
        scope = {"type": "http", "path": "/other", "headers": [], "client": ("10.0.0.11", 1)}
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        for _ in range(API_FAILURE_LIMIT + 1):
            await gate(scope, receive, send)
        starts = [m for m in sent if m["type"] == "http.response.start"]
        return int(starts[-1]["status"])

    assert anyio.run(made_up) == 429
    assert len(practice.log.rows) == rows
    assert all(r.decision == "unauthenticated" for r in practice.log.rows)
    assert "from 10.0.0.9" in practice.log.rows[0].detail
    # never on the event loop's thread
    assert practice.log.threads
    assert not practice.log.threads & loop_threads
