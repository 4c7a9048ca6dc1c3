"""What the service accepts, in process (issue 21, findings 1 and 8).

The served attacks are in ``tests/serving/test_api_security.py``; here the rules behind
them run without a server: the text patterns (pydantic's engine and the OpenAPI reader
must agree), the input domains derived from the feature registry, the body limit on a
body sent in chunks, and the paths :class:`serving.http.KnownPaths` lets through.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from features.registry import model_inputs
from serving.http import (
    MAX_BODY_BYTES,
    MAX_SCORE_BODY_BYTES,
    UNKNOWN_PATH,
    BodyLimit,
    KnownPaths,
    served_paths,
)
from serving.schemas import (
    LINE_PATTERN,
    TEXT_PATTERN,
    FeedbackText,
    Purpose,
    input_domains,
    out_of_domain,
)

ZERO_WIDTH = "\u200b"
#: (value, accepted as a purpose, accepted as feedback text)
CASES = [
    ("panel preparation", True, True),
    ("réunion du panel — préparation", True, True),
    ("检查转介", True, True),
    ("?", True, True),
    ("", False, True),
    ("   ", False, True),
    ("\n\t", False, True),
    (ZERO_WIDTH, False, False),
    (ZERO_WIDTH * 3 + " \u2060\ufeff", False, False),
    ("\u3164", False, False),  # Hangul filler: drawn as nothing
    ("\x00", False, False),
    ("panel\x00", False, False),
    ("panel\x1b[2Jprep", False, False),  # a terminal escape
    ("panel\u202egnirapérp", False, False),  # right-to-left override
    ("line one\nline two", False, True),
    ("line one\u2028line two", False, True),
    ("tab\tseparated", False, True),
    ("carriage\r\nreturn", False, True),
    ("\x85", False, False),  # next line (C1)
]


@pytest.mark.parametrize(("value", "purpose", "text"), CASES)
def test_the_text_rules_agree_in_pydantic_and_in_the_openapi_pattern(
    value: str, purpose: bool, text: bool
) -> None:
    """Issue 21, finding 8: a zero-width space or a NUL was a purpose. Each rule is one
    pattern, checked by pydantic's engine and read by OpenAPI clients (Python's ``re``
    here, as schemathesis reads it): both say the same of every value."""
    for kind, pattern, accepted in (
        (Purpose, LINE_PATTERN, purpose),
        (FeedbackText, TEXT_PATTERN, text),
    ):
        adapter: TypeAdapter[str] = TypeAdapter(kind)
        try:
            adapter.validate_python(value)
            validated = True
        except ValidationError:
            validated = False
        assert validated is accepted, (pattern is LINE_PATTERN, value)
        # JSON Schema reads a pattern as a search, with $ at the very end
        assert (re.search(pattern.removesuffix("$") + r"\Z", value) is not None) is accepted
        # and the pattern survives the trip through the OpenAPI document
        assert json.loads(json.dumps(adapter.json_schema()))["pattern"] == pattern


def test_every_model_input_has_a_domain_from_the_registry() -> None:
    domains = input_domains()
    assert set(model_inputs()) == set(domains)
    age = domains["demo_asof_age_years"]
    assert (age.minimum, age.maximum) == (10, 24)
    assert domains["contacts_asof_looked_after_flag"].words() == "0 or 1 (a flag)"
    assert domains["school_365d_suspension_count"].minimum == 0
    assert domains["incidents_all_victim_days_since_last"].maximum == 10_000
    assert domains["school_365d_suspension_escalation"].minimum is None  # a fall is negative


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("demo_asof_age_years", 17, True),
        ("demo_asof_age_years", 17.0, True),
        ("demo_asof_age_years", 1000, False),  # the attack: age 1000 was "very high"
        ("demo_asof_age_years", 9, False),
        ("demo_asof_age_years", 17.5, False),
        ("school_365d_suspension_count", -1, False),
        ("school_365d_suspension_count", 10**400, True),  # big but whole: the model caps it
        ("contacts_asof_looked_after_flag", 1, True),
        ("contacts_asof_looked_after_flag", 2, False),
        ("contacts_asof_looked_after_flag", 0.5, False),
        ("school_365d_suspension_escalation", -3, True),
        ("incidents_all_victim_days_since_last", 10_001, False),
        ("incidents_all_suspect_first_age", 25, True),
        ("incidents_all_suspect_first_age", float("nan"), False),
        ("incidents_all_suspect_first_age", float("inf"), False),
        ("incidents_all_suspect_first_age", None, True),  # missing: the model reads "never"
        ("shoe_size", 1000, True),  # unknown names are the feature-list check's to refuse
    ],
)
def test_values_outside_their_domain_are_named_with_the_allowed_range(
    name: str, value: float | None, allowed: bool
) -> None:
    problems = out_of_domain([{"demo_asof_age_years": 15}, {name: value}])
    assert (problems == []) is allowed
    if not allowed:
        [(field, message)] = problems
        assert field == f"rows.1.{name}"
        assert message.startswith(f"rows.1.{name}: must be ")
        assert input_domains()[name].words() in message


def test_the_largest_score_request_fits_its_body_limit() -> None:
    """1,000 rows (the most ``/score`` takes) of every model input with long values,
    indented as a person might send them, fit the ``/score`` limit, which the general
    limit would not."""
    row: dict[str, object] = {**dict.fromkeys(model_inputs(), 1234.0), "sex": "female"}
    body = json.dumps({"rows": [row] * 1000}, indent=1).encode()
    assert len(body) < MAX_SCORE_BODY_BYTES
    assert len(body) > MAX_BODY_BYTES


class _Echo:
    """An ASGI app that reads the whole body, then answers 200 with its length, or 400
    when reading fails (as BentoML answers a body it cannot read)."""

    def __init__(self) -> None:
        self.reads = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        size = 0
        try:
            while True:
                self.reads += 1
                message = await receive()
                size += len(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            status, body = 200, str(size).encode()
        except Exception:
            status, body = 400, b"cannot read the body"
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": body})


def _post(
    app: Any, path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]
) -> tuple[int, bytes, int]:
    """POST ``chunks`` to ``app``; the status, the body and how many chunks were sent."""
    sent: list[dict[str, Any]] = []
    given = 0

    async def receive() -> dict[str, Any]:
        nonlocal given
        given += 1
        more = given < len(chunks)
        return {"type": "http.request", "body": chunks[given - 1], "more_body": more}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    asyncio.run(app(scope, receive, send))
    [start] = [m for m in sent if m["type"] == "http.response.start"]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, given


def test_a_chunked_body_over_the_limit_is_refused_at_the_first_chunk_over() -> None:
    inner = _Echo()
    chunk = b"x" * (256 * 1024)
    status, body, given = _post(BodyLimit(inner), "/explain", [chunk] * 20, [])  # 5 MiB
    assert status == 413
    error = json.loads(body)["error"]
    assert error == "the request body is larger than 1 MiB: send a smaller body"
    assert given == 5  # 1.25 MiB read, not 5
    # the application's own answer to the interrupted body is dropped for the 413
    assert b"cannot read" not in body


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    inner = _Echo()
    length = [(b"content-length", str(5 * 1024 * 1024).encode())]
    status, body, given = _post(BodyLimit(inner), "/explain", [b"{}"], length)
    assert (status, given, inner.reads) == (413, 0, 0)
    assert "1 MiB" in json.loads(body)["error"]
    # /score has room for its rows; over that, the advice says how to split them
    status, body, _ = _post(BodyLimit(_Echo()), "/score", [b"x" * (2 * MAX_BODY_BYTES)], [])
    assert (status, body) == (200, str(2 * MAX_BODY_BYTES).encode())
    length = [(b"content-length", str(MAX_SCORE_BODY_BYTES + 1).encode())]
    status, body, _ = _post(BodyLimit(_Echo()), "/score", [b"{}"], length)
    assert status == 413
    assert "split the rows over several requests" in json.loads(body)["error"]


def test_a_body_within_the_limit_reaches_the_application_whole() -> None:
    chunk = b"x" * (256 * 1024)
    status, body, given = _post(BodyLimit(_Echo()), "/explain", [chunk] * 4, [])
    assert (status, body, given) == (200, str(MAX_BODY_BYTES).encode(), 4)


def _seen_paths(app: KnownPaths, paths: list[str]) -> list[str]:
    """The path the wrapped application is given for each request."""
    seen = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])

    app.app = inner
    for path in paths:
        asyncio.run(app({"type": "http", "path": path, "headers": []}, None, None))
    return seen


def test_known_paths_pass_and_made_up_ones_become_one_label() -> None:
    async def ok(_: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = KnownPaths(Starlette(routes=[Route("/explain", ok), Route("/livez", ok)]))
    seen = _seen_paths(app, ["/explain", "/livez", "/explain/YP0000001", "/YP1", "/explain/"])
    assert seen == ["/explain", "/livez", UNKNOWN_PATH, UNKNOWN_PATH, UNKNOWN_PATH]


def test_a_route_with_path_parameters_stops_the_service_from_starting() -> None:
    """A parameterised path cannot be told from a made-up one by a set of known paths:
    rather than label metrics by raw path again, the service refuses to start."""

    async def ok(_: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    with pytest.raises(ValueError, match=r"route /people/\{person_id\} has path parameters"):
        served_paths([Route("/people/{person_id}", ok)])
