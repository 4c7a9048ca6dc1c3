"""The web page's sessions and sign-in throttle on a clock the test moves (issue 21, finding 9).

The served page is tested in ``tests/serving/test_web_security.py``; here the parts whose
rules depend on time — idle expiry, the failed sign-in window, the bound on log rows —
run on a fake clock, so no test waits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from serving.auth import Principal, TokenStore
from serving.throttle import SigninGuard
from serving.web.sessions import SessionStore
from vru.config import Settings, load_settings

IDLE = 30 * 60.0


class Clock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tokens(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "tokens.json")


def _signed_in(store: SessionStore, tokens: TokenStore, user: str = "pat") -> tuple[str, str]:
    token = tokens.add(user, "practitioner", "Bristol")
    principal = tokens.lookup(token)
    return store.open(token, principal), token


def test_a_session_id_is_random_and_never_the_token(tokens: TokenStore) -> None:
    store = SessionStore(IDLE)
    first, token = _signed_in(store, tokens)
    second = store.open(token, tokens.lookup(token))
    assert token not in (first, second)
    assert first != second  # a fresh id at every sign-in
    assert len(first) >= 43  # 32 random bytes, URL-safe
    assert store.principal(first, tokens) == Principal("pat", "practitioner", "Bristol")
    assert token not in repr(store._sessions)


def test_a_session_ends_after_the_idle_time_and_use_keeps_it_alive(tokens: TokenStore) -> None:
    clock = Clock()
    store = SessionStore(IDLE, clock=clock)
    session, _ = _signed_in(store, tokens)
    clock.now += IDLE - 1
    assert store.principal(session, tokens) is not None  # used: idle time starts again
    clock.now += IDLE - 1
    assert store.principal(session, tokens) is not None
    clock.now += IDLE  # unused for the whole idle time
    assert store.principal(session, tokens) is None
    assert len(store) == 0
    clock.now -= IDLE  # even if the clock went back, an ended session stays ended
    assert store.principal(session, tokens) is None


def test_sign_out_and_revocation_end_the_session(tokens: TokenStore) -> None:
    store = SessionStore(IDLE)
    signed_out, _ = _signed_in(store, tokens, "pat")
    store.close(signed_out)
    assert store.principal(signed_out, tokens) is None
    revoked, _ = _signed_in(store, tokens, "sam")
    assert store.principal(revoked, tokens) is not None
    assert tokens.revoke("sam") == 1
    assert store.principal(revoked, tokens) is None
    # a new token for the same person does not bring the old session back
    tokens.add("sam", "practitioner", "Bristol")
    assert store.principal(revoked, tokens) is None
    assert store.principal("made-up", tokens) is None
    assert store.principal(None, tokens) is None


def test_the_store_keeps_at_most_its_limit_dropping_the_least_recently_used(
    tokens: TokenStore,
) -> None:
    clock = Clock()
    store = SessionStore(IDLE, clock=clock, limit=3)
    token = tokens.add("pat", "practitioner", "Bristol")
    principal = tokens.lookup(token)
    ids = []
    for _ in range(3):
        ids.append(store.open(token, principal))
        clock.now += 1
    assert store.principal(ids[0], tokens) is not None  # the first is now the most recent
    newest = store.open(token, principal)
    assert len(store) == 3
    assert store.principal(ids[1], tokens) is None
    assert all(store.principal(s, tokens) is not None for s in (ids[0], ids[2], newest))


def test_failed_sign_ins_are_throttled_after_five_a_minute_and_summarised() -> None:
    clock, rows = Clock(), list[str]()
    guard = SigninGuard(rows.append, clock=clock)
    for _ in range(5):
        assert guard.retry_after("10.0.0.7") is None
        guard.failed("10.0.0.7")
        clock.now += 1
    assert rows == ["failed sign-in from 10.0.0.7"] * 5
    assert guard.retry_after("10.0.0.7") == 55  # the first failure leaves the window then
    for _ in range(999):
        assert guard.retry_after("10.0.0.7") is not None
    assert guard.retry_after("10.0.0.8") is None  # another client is not held up
    assert len(rows) == 5  # a thousand refused attempts: no row each
    clock.now += 55
    assert guard.retry_after("10.0.0.7") is None
    assert rows[5:] == ["1000 sign-in attempt(s) from 10.0.0.7 refused while throttled"]


def test_rows_about_failed_sign_ins_are_capped_across_clients() -> None:
    clock, rows = Clock(), list[str]()
    guard = SigninGuard(rows.append, clock=clock, log_cap=100)
    for i in range(300):  # 300 addresses, one guess each
        guard.failed(f"10.1.{i // 256}.{i % 256}")
    assert len(rows) == 100
    clock.now += 60
    guard.failed("10.9.9.9")
    assert rows[100:] == [
        "200 more failed sign-in(s) in 60 s were not logged one by one (too many at once)",
        "failed sign-in from 10.9.9.9",
    ]


# bentoml 1.4.40, as the service loads, imports pathspec's deprecated 'gitwildmatch' and
# builds models with a pydantic hook deprecated in 2.11: not ours to fix
@pytest.mark.filterwarnings("ignore:GitWildMatchPattern:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The `__get_pydantic_core_schema__` method")
def test_sessions_live_in_one_worker_and_their_settings_reach_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sessions are kept in the worker's memory: with a second worker a session would
    exist in one of them only. Raising ``workers`` needs a shared session store first."""
    from serving.service import VruRisk
    from vru.cli_serve import server_variables

    service: Any = VruRisk  # a bentoml Service at runtime
    assert service.config.get("workers") == 1
    variables = server_variables(Settings(session_idle_minutes=5, session_cookie_secure=True))
    assert variables["VRU_SESSION_IDLE_MINUTES"] == "5"
    assert variables["VRU_SESSION_COOKIE_SECURE"] == "true"
    for name, value in variables.items():  # what a worker's load_settings() reads back
        monkeypatch.setenv(name, value)
    served = load_settings()
    assert (served.session_idle_minutes, served.session_cookie_secure) == (5, True)
