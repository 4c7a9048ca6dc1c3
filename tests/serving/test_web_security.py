"""The practitioners' page holds against the attacks of issue 21, finding 9.

Each test replays what the attacker did to the served page (raw HTTP, no browser: an
attacker does not need one) and checks it is refused now: the cookie held the bearer
token and outlived sign-out, pages carried no security headers, other sites could post
the page's forms, failed sign-ins were neither logged nor slowed, and a 403 told a
practitioner that a young person lives in another area. Idle expiry runs on a fake clock
in ``tests/unit/test_web_sessions.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pandas as pd
import pytest

from serving.access_log import read_rows
from serving.auth import TokenStore
from serving.web.app import COOKIE
from serving.web.security import CONTENT_SECURITY_POLICY
from tests.serving.conftest import People
from vru.cli_serve import ServingProcess
from vru.serving_stack import ServingStack

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving")]

PURPOSE = "checking a referral"


def _client(address: str = "127.0.0.1") -> httpx.Client:
    """A client whose requests come from ``address`` (any 127.x.y.z reaches the server):
    the throttle counts per address, so its test does not hold up the other tests."""
    return httpx.Client(
        transport=httpx.HTTPTransport(local_address=address), timeout=30, follow_redirects=False
    )


def _cookie_header(session: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={session}"}


def _sign_in(server: ServingProcess, token: str, client: httpx.Client | None = None) -> str:
    """Sign in with the form; the session id the cookie carries."""
    http = client or _client()
    try:
        answer = http.post(f"{server.url}/ui/signin", data={"token": token})
    finally:
        if client is None:
            http.close()
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/ui/explain"
    (value,) = [c for c in answer.headers.get_list("set-cookie") if c.startswith(COOKIE + "=")]
    return value.split(";")[0].split("=", 1)[1]


def _explain_page(
    server: ServingProcess, session: str, person_id: str, **headers: str
) -> httpx.Response:
    with _client() as http:
        return http.post(
            f"{server.url}/ui/explain",
            data={"person_id": person_id, "purpose": PURPOSE},
            headers={**_cookie_header(session), **headers},
        )


def _rows(log: Path, **match: object) -> list[dict[str, object]]:
    return [r for r in read_rows(log) if all(r[k] == v for k, v in match.items())]


def test_the_cookie_holds_a_session_id_never_the_token(
    server: ServingProcess, stack: ServingStack
) -> None:
    token = stack.tokens["pat"]
    with _client() as http:
        answer = http.post(f"{server.url}/ui/signin", data={"token": token})
    assert answer.status_code == 303
    (cookie,) = answer.headers.get_list("set-cookie")
    assert token not in cookie
    assert token not in str(answer.headers)
    session = cookie.split(";")[0].split("=", 1)[1]
    assert len(session) >= 43
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/ui"} <= flags
    assert "secure" not in flags  # loopback default; VRU_SESSION_COOKIE_SECURE turns it on
    with _client() as http:
        signed_in = http.get(f"{server.url}/ui/explain", headers=_cookie_header(session))
        # the old cookie's content, the token itself, opens nothing any more
        with_token = http.get(f"{server.url}/ui/explain", headers=_cookie_header(token))
    assert signed_in.status_code == 200
    assert "Signed in as <strong>pat</strong>" in signed_in.text
    assert with_token.status_code == 303
    assert with_token.headers["location"] == "/ui/"
    assert _sign_in(server, token) != session  # a new session at every sign-in


def test_after_sign_out_the_old_cookie_no_longer_works(
    server: ServingProcess, stack: ServingStack, people: People
) -> None:
    session = _sign_in(server, stack.tokens["pat"])
    assert _explain_page(server, session, people.other_bristol).status_code == 200
    with _client() as http:
        out = http.post(f"{server.url}/ui/signout", headers=_cookie_header(session))
    assert out.status_code == 303
    assert f'{COOKIE}=""' in out.headers["set-cookie"]  # the browser forgets it
    before = len(read_rows(stack.access_log))
    # a copy of the cookie kept by an attacker is refused by the server too
    replayed = _explain_page(server, session, people.other_bristol)
    assert replayed.status_code == 303
    assert replayed.headers["location"] == "/ui/"
    assert len(read_rows(stack.access_log)) == before
    with _client() as http:
        page = http.get(f"{server.url}/ui/", headers=_cookie_header(session))
    assert page.status_code == 200
    assert "You have been signed out" in page.text


def test_a_revoked_token_ends_its_sessions(
    server: ServingProcess, stack: ServingStack, people: People
) -> None:
    store = TokenStore(stack.tokens_path)
    token = store.add("rita", "practitioner", "Bristol")
    try:
        session = _sign_in(server, token)
        assert _explain_page(server, session, people.other_bristol).status_code == 200
    finally:
        assert store.revoke("rita") == 1
    assert _explain_page(server, session, people.other_bristol).status_code == 303


def _check_headers(answer: httpx.Response, *, personal: bool = True) -> None:
    where = f"{answer.request.method} {answer.request.url.path} ({answer.status_code})"
    assert answer.headers.get("content-security-policy") == CONTENT_SECURITY_POLICY, where
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert answer.headers.get("x-frame-options") == "DENY", where
    assert answer.headers.get("x-content-type-options") == "nosniff", where
    assert answer.headers.get("referrer-policy") == "same-origin", where
    if personal:
        assert answer.headers.get("cache-control") == "no-store", where
    if answer.headers.get("content-type", "").startswith("text/html"):
        # the policy allows no inline script or style: the page must need none
        assert "<script" not in answer.text, where
        assert not re.search(r"\sstyle=", answer.text), where


def test_every_page_carries_the_security_headers(
    server: ServingProcess, stack: ServingStack, people: People
) -> None:
    session = _sign_in(server, stack.tokens["pat"])
    cookie = _cookie_header(session)
    url = server.url
    with _client() as http:
        answers = [
            http.get(f"{url}/ui"),
            http.get(f"{url}/ui/"),
            http.get(f"{url}/ui/explain", headers=cookie),
            http.post(f"{url}/ui/signin", data={"token": stack.tokens["pat"]}),
            http.post(f"{url}/ui/explain", data={"person_id": "", "purpose": ""}, headers=cookie),
            http.get(
                f"{url}/model_card", headers={"Authorization": f"Bearer {stack.tokens['pat']}"}
            ),
        ]
        stylesheet = http.get(f"{url}/ui/static/style.css")
    answers.append(_explain_page(server, session, people.flagged_bristol))
    answers.append(_explain_page(server, session, "NOBODY-HEADERS"))
    answers.append(_explain_page(server, session, people.flagged_bristol, origin="http://x.test"))
    assert [a.status_code for a in answers] == [307, 200, 200, 303, 422, 200, 200, 404, 403]
    assert "What each area of the records contributed" in answers[6].text  # the chart page
    assert re.search(r'class="bar (raises|lowers) w\d+"', answers[6].text)
    for answer in answers:
        _check_headers(answer)
    assert stylesheet.status_code == 200
    _check_headers(stylesheet, personal=False)  # no personal data: it may be cached
    assert ".w50 { width: 50%; }" in stylesheet.text


def test_a_cross_origin_post_is_refused_and_nothing_happens(
    server: ServingProcess, stack: ServingStack, people: People
) -> None:
    session = _sign_in(server, stack.tokens["pat"])
    cookie = _cookie_header(session)
    before = len(read_rows(stack.access_log))
    feedback_before = len(read_rows(stack.access_log, "feedback"))
    elsewhere = (
        {"origin": "https://attacker.example"},
        {"origin": "null"},  # a sandboxed frame
        {"referer": "https://attacker.example/form.html"},  # no Origin: the Referer counts
        {"origin": "http://127.0.0.1:1"},  # same host, another port: another origin
    )
    with _client() as http:
        for headers in elsewhere:
            for path, data in (
                ("/ui/explain", {"person_id": people.flagged_bristol, "purpose": PURPOSE}),
                (
                    "/ui/feedback",
                    {
                        "person_id": people.flagged_bristol,
                        "outcome": "victim",
                        "agrees": "no",
                        "reason_code": "other",
                    },
                ),
                ("/ui/signout", {}),
                ("/ui/signin", {"token": stack.tokens["sam"]}),
            ):
                answer = http.post(f"{server.url}{path}", data=data, headers={**cookie, **headers})
                assert answer.status_code == 403, (path, headers)
                assert "sent from another website, so nothing was done" in answer.text
                assert "set-cookie" not in answer.headers  # no session for the attacker
                assert people.flagged_bristol not in answer.text
        assert len(read_rows(stack.access_log)) == before  # no explain, no feedback row
        assert len(read_rows(stack.access_log, "feedback")) == feedback_before
        # sign-out was refused too: the session still works, from the page's own origin
        own = _explain_page(server, session, people.flagged_bristol, origin=server.url)
        assert own.status_code == 200
        assert _rows(stack.access_log)[-1]["person_id"] == people.flagged_bristol


def test_failed_sign_ins_are_logged_without_the_token_and_the_sixth_is_throttled(
    server: ServingProcess, stack: ServingStack
) -> None:
    guesses = [f"guess-{i}-Zq8vT3kLm9" for i in range(7)]
    before = len(read_rows(stack.access_log))
    with _client("127.0.0.2") as attacker:
        for guess in guesses[:5]:
            answer = attacker.post(f"{server.url}/ui/signin", data={"token": guess})
            assert answer.status_code == 401
            assert "That token is not recognised." in answer.text
        sixth = attacker.post(f"{server.url}/ui/signin", data={"token": guesses[5]})
        # throttled before the token is read: even a real token opens nothing now
        real = attacker.post(f"{server.url}/ui/signin", data={"token": stack.tokens["pat"]})
    assert sixth.status_code == 429
    assert 1 <= int(sixth.headers["retry-after"]) <= 60
    assert "Too many sign-in attempts from this computer: please wait" in sixth.text
    _check_headers(sixth)
    assert real.status_code == 429
    assert "set-cookie" not in real.headers
    new = read_rows(stack.access_log)[before:]
    failed = [r for r in new if r["action"] == "signin"]
    assert len(failed) == 5
    assert {(r["decision"], r["user"], r["detail"]) for r in failed} == {
        ("unauthenticated", "-", "failed sign-in from 127.0.0.2")
    }
    written = str(read_rows(stack.access_log)) + server.log.read_text(errors="replace")
    for guess in guesses:
        assert guess not in written
    # another computer is not held up by the attacker's guesses
    with _client("127.0.0.3") as colleague:
        assert _sign_in(server, stack.tokens["pat"], colleague)


def test_unknown_and_other_authority_ids_get_the_same_answer(
    server: ServingProcess, stack: ServingStack, people: People
) -> None:
    """A Bristol practitioner cannot tell a Somerset young person from an id nobody has:
    the same status and words on the API and the page; the log rows still differ."""
    token = stack.tokens["pat"]
    unknown = "YP9999999"
    assert unknown not in set(pd.read_parquet(stack.snapshot, columns=["person_id"])["person_id"])
    bearer = {"Authorization": f"Bearer {token}"}
    api = {}
    for who in (unknown, people.somerset):
        api[who] = (
            httpx.post(
                f"{server.url}/explain",
                json={"person_id": who, "purpose": PURPOSE},
                headers=bearer,
                timeout=30,
            ),
            httpx.post(
                f"{server.url}/feedback",
                json={
                    "person_id": who,
                    "outcome": "victim",
                    "agrees": True,
                    "reason_code": "other",
                },
                headers=bearer,
                timeout=30,
            ),
        )
    for kind in (0, 1):
        a, b = api[unknown][kind], api[people.somerset][kind]
        assert a.status_code == b.status_code == 404
        assert a.content == b.content
    assert api[unknown][0].json() == {
        "error": "no young person with this person_id on Bristol's records as of 2025-01-01 "
        "(not resident in Bristol, not aged 10–24, or mistyped): check the ID",
        "fields": ["person_id"],
    }
    assert "Somerset" not in api[people.somerset][0].text

    session = _sign_in(server, token)
    pages = {who: _explain_page(server, session, who) for who in (unknown, people.somerset)}
    assert pages[unknown].status_code == pages[people.somerset].status_code == 404
    # the pages differ only by the id typed into the form
    assert pages[unknown].text.replace(unknown, "ID") == pages[people.somerset].text.replace(
        people.somerset, "ID"
    )
    assert "in Bristol&#39;s records as of 1 January 2025" in pages[unknown].text

    for action, count in (("explain", 2), ("feedback", 1)):
        nobody = _rows(stack.access_log, person_id=unknown, action=action, user="pat")
        elsewhere = _rows(stack.access_log, person_id=people.somerset, action=action, user="pat")
        assert [r["decision"] for r in nobody[-count:]] == ["not found"] * count
        assert [(r["decision"], r["detail"]) for r in elsewhere[-count:]] == [
            ("denied", "person recorded in Somerset")
        ] * count


@pytest.mark.parametrize("purpose", ["\u200b", "audit\x00", "\u202eliated"])
def test_the_page_refuses_a_purpose_nobody_can_read_as_the_api_does(
    server: ServingProcess, stack: ServingStack, people: People, purpose: str
) -> None:
    """Finding 8 on the page: a zero-width, NUL or direction-changing purpose is refused
    with a kind sentence and nothing is looked up or logged."""
    session = _sign_in(server, stack.tokens["pat"])
    before = len(read_rows(stack.access_log))
    with _client() as http:
        answer = http.post(
            f"{server.url}/ui/explain",
            data={"person_id": people.flagged_bristol, "purpose": purpose},
            headers=_cookie_header(session),
        )
    assert answer.status_code == 422
    assert "invisible or control characters" in answer.text
    assert len(read_rows(stack.access_log)) == before
