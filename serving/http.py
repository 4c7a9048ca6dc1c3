"""The service's HTTP plumbing: JSON answers, one error shape, an honest OpenAPI document.

BentoML answers an invalid body with a 400 and pydantic's error list; the
:class:`HonestErrors` middleware makes that a 422 whose message names the fields,
gives every error the shape ``{"error": str, "fields"?: [str]}``, refuses bodies
not sent as JSON with 415, and completes ``/docs.json`` with the bearer scheme,
every refusal an endpoint can answer and the exact feature record ``/score``
accepts. :class:`BodyLimit` refuses a body over :data:`MAX_BODY_BYTES` with 413
before it is read. :func:`send_json` is the one way a middleware answers by itself
(the :class:`serving.auth.Gatekeeper` uses it too).

:class:`KnownPaths` wraps the whole application, outside BentoML's own middleware:
BentoML 1.4 labels its request metrics (and its access log lines) with the raw
path, so every distinct path a client made up, with or without a token, was a new
Prometheus series (≈ 65 KB of worker memory each, and a person id in ``/metrics``
and the log when a client put one in a path). Paths the service does not serve
reach BentoML as the one path :data:`UNKNOWN_PATH`, answered 404 after the token
check.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from serving.schemas import (
    CALIBRATION_INPUTS,
    PATTERN_RULES,
    calibration_words,
    input_domains,
    reason_rule_schema,
)

__all__ = [
    "API_PATHS",
    "MAX_BODY_BYTES",
    "MAX_SCORE_BODY_BYTES",
    "NO_SUCH_PATH",
    "REFUSAL_SCHEMA",
    "UNKNOWN_PATH",
    "UNSUPPORTED",
    "BodyLimit",
    "HonestErrors",
    "KnownPaths",
    "document",
    "normalise",
    "send_bytes",
    "send_json",
    "served_paths",
]

API_PATHS = ("/explain", "/score", "/feedback", "/ping")
REFUSAL_SCHEMA = {
    "title": "RefusalError",
    "type": "object",
    "properties": {
        "error": {"type": "string", "title": "Message"},
        "fields": {"type": "array", "items": {"type": "string"}, "title": "Fields"},
    },
    "required": ["error"],
}
_REFUSALS = {
    "400": "Malformed request (body is not JSON)",
    "401": "Missing or unknown bearer token",
    "403": "Not allowed for this role or local authority (recorded in the access log)",
    "404": "No such young person on the snapshot, or no such path",
    "413": "Request body too large (over 1 MiB; over 4 MiB for /score)",
    "415": "Body not sent as application/json",
    "422": "Invalid request: the message names the fields",
    "503": "Service starting",
}
UNSUPPORTED = "send the body as JSON (Content-Type: application/json)"
#: what every path the service does not serve is, to BentoML's metrics and logs
UNKNOWN_PATH = "/other"
NO_SUCH_PATH = "no such path: the API is described at /docs.json (bearer token needed)"
#: the largest request body read (a setting would need vru.config: a constant for now)
MAX_BODY_BYTES = 1024 * 1024
#: ``/score`` takes up to 1,000 rows of every model input: about 2.5 MB as compact JSON
MAX_SCORE_BODY_BYTES = 4 * 1024 * 1024
TOO_LARGE = "the request body is larger than {limit}: {advice}"


async def send_bytes(
    send: Any, status: int, payload: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer an ASGI request directly with a JSON payload (used by every middleware)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *(headers or []),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def send_json(
    send: Any,
    status: int,
    body: dict[str, object],
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Answer an ASGI request directly with ``body`` as JSON."""
    await send_bytes(send, status, json.dumps(body).encode("utf-8"), headers)


def _is_json(scope: Any) -> bool:
    """No Content-Type (BentoML reads JSON), or JSON; anything else is refused with 415."""
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-type":
            media = value.decode("latin-1").split(";")[0].strip().lower()
            return media in ("application/json", "")
    return True


def _message(error: dict[str, Any], loc: str) -> str:
    """Pydantic's message, but the rule in words where it would quote a long pattern, and
    what a strict boolean takes."""
    if error.get("type") == "string_pattern_mismatch":
        rule = PATTERN_RULES.get(loc.rsplit(".", 1)[-1])
        if rule is not None:
            return rule
    if error.get("type") == "bool_type":
        return 'must be true or false (a JSON boolean: not "yes", "true" or 1)'
    return str(error.get("msg", "invalid"))


def normalise(status: int, body: Any) -> tuple[int, dict[str, object]]:
    """BentoML answers invalid input with 400 and pydantic's error list: make it a 422
    whose message names the fields; keep every error body ``{"error": str, ...}``."""
    if isinstance(body, list) and len(body) == 1 and isinstance(body[0], dict):
        body = body[0]
    if not isinstance(body, dict):
        return status, {"error": str(body)}
    detail = body.get("detail")
    if status == 400 and isinstance(detail, list):
        if any(isinstance(e, dict) and e.get("type") == "json_invalid" for e in detail):
            return 400, {"error": "the request body is not valid JSON"}
        fields, problems = [], []
        for e in detail:
            loc = ".".join(str(part) for part in e.get("loc", ())) or "body"
            fields.append(loc)
            problems.append(f"{loc}: {_message(e, loc)}")
        return 422, {"error": "invalid request — " + "; ".join(problems[:10]), "fields": fields}
    if not isinstance(body.get("error"), str):
        return status, {"error": json.dumps(body)[:500]}
    return status, body


def _document_operation(
    path: str, operation: dict[str, Any], schemas: dict[str, Any], ref: dict[str, Any]
) -> None:
    if path in ("/livez", "/readyz", "/healthz"):
        operation["security"] = []
        return
    for code, text in _REFUSALS.items():
        operation["responses"][code] = {"description": text, "content": ref}
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is None:
        return
    schema = body.get("schema", {})
    if "$ref" in schema:
        schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
    if schema.get("required"):
        operation["requestBody"]["required"] = True
    rows = schema.get("properties", {}).get("rows")
    if path == "/score" and rows is not None:
        rows["items"] = {"$ref": "#/components/schemas/FeatureRecord"}
    if path == "/feedback" and "reason_code" in schema.get("properties", {}):
        schema["anyOf"] = reason_rule_schema()  # a reason must go with agrees


def document(
    spec: dict[str, Any], features: list[str], texts: Sequence[str] = ()
) -> dict[str, Any]:
    """Declare the bearer scheme, every refusal the endpoints can answer, required bodies,
    the reasons ``/feedback`` accepts with each answer, and the exact feature record
    ``/score`` accepts (known only once the models load): the features and the ``texts``
    the estimates are calibrated by (sex)."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Refusal"] = REFUSAL_SCHEMA
    domains = input_domains()
    schemas["FeatureRecord"] = {
        "type": "object",
        "title": "FeatureRecord",
        "description": "every input of the champion models: a number within its domain, "
        "or null when missing; and the young person's recorded sex, which the estimates are "
        "calibrated by (never a model input, never used to rank young people of one sex)",
        "properties": {
            **{
                f: domains[f].json_schema()
                if f in domains
                else {"type": "number", "nullable": True}
                for f in features
            },
            **{
                t: {
                    "type": "string",
                    "enum": list(CALIBRATION_INPUTS[t]),
                    "description": calibration_words(t),
                }
                for t in texts
            },
        },
        "required": [*features, *texts],
        "additionalProperties": False,
    }
    spec["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "vru tokens add"}
    }
    spec["security"] = [{"bearer": []}]
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Refusal"}}}
    for path, item in spec.get("paths", {}).items():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                _document_operation(path, operation, schemas, ref)
    return spec


class HonestErrors:
    """ASGI middleware applying :func:`normalise` to API errors and :func:`document`
    to ``/docs.json``.

    ``practice`` returns the running :class:`serving.runtime.Practice` (for the
    models' feature list), or ``None`` while the service is starting.
    """

    def __init__(self, app: Any, practice: Callable[[], Any]) -> None:
        self.app = app
        self.practice = practice
        self._spec: bytes | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope.get("path", ""), scope.get("method", "")
        if path == UNKNOWN_PATH:
            await send_json(send, 404, {"error": NO_SUCH_PATH})
        elif method == "GET" and path == "/docs.json":
            await self._docs(scope, receive, send)
        elif method == "POST" and path in API_PATHS:
            if not _is_json(scope):
                await send_json(send, 415, {"error": UNSUPPORTED})
                return
            await self._api(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _docs(self, scope: Any, receive: Any, send: Any) -> None:
        if self._spec is None:
            status, body = await _capture(self.app, scope, receive)
            if status != 200:
                await send_json(send, status, {"error": "no OpenAPI document"})
                return
            practice = self.practice()
            features = practice.features if practice is not None else []
            texts = practice.texts if practice is not None else []
            spec = document(json.loads(body), features, texts)
            self._spec = json.dumps(spec).encode("utf-8")
        await send_bytes(send, 200, self._spec)

    async def _api(self, scope: Any, receive: Any, send: Any) -> None:
        held: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def relay(message: Any) -> None:
            if message["type"] == "http.response.start":
                if message["status"] < 400:
                    held["pass"] = True
                    await send(message)
                else:
                    held["start"] = message
                return
            if held.get("pass") or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                start = held["start"]
                try:
                    original = json.loads(b"".join(chunks) or b"null")
                except ValueError:
                    original = b"".join(chunks).decode("utf-8", "replace")
                status, body = normalise(start["status"], original)
                keep = [
                    (k, v)
                    for k, v in start.get("headers", [])
                    if k.lower() not in (b"content-length", b"content-type")
                ]
                await send_json(send, status, body, keep)

        await self.app(scope, receive, relay)


async def _capture(app: Any, scope: Any, receive: Any) -> tuple[int, bytes]:
    status = 500
    chunks: list[bytes] = []

    async def keep(message: Any) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, keep)
    return status, b"".join(chunks)


def _static_paths(prefix: str, app: Any) -> set[str]:
    """Every file a mounted ``StaticFiles`` serves, as a path (the files are fixed)."""
    paths = set()
    for directory in getattr(app, "all_directories", []):
        root = Path(directory)
        for folder, _, files in os.walk(root):
            for name in files:
                relative = (Path(folder) / name).relative_to(root).as_posix()
                paths.add(f"{prefix}/{relative}")
    return paths


def served_paths(routes: Iterable[Any], prefix: str = "") -> frozenset[str]:
    """Every path the routes serve: literal routes, mounted apps' routes, static files.

    Raises
    ------
    ValueError
        A route has path parameters, or a mounted app lists no routes: such paths cannot
        be told from made-up ones, so the service would refuse to start rather than label
        its metrics by raw path again.
    """
    paths: set[str] = set()
    for route in routes:
        path = prefix + str(getattr(route, "path", ""))
        app = getattr(route, "app", None)
        if hasattr(app, "all_directories"):  # StaticFiles
            paths |= _static_paths(path, app)
        elif hasattr(route, "routes") and hasattr(route, "path_format"):  # a Mount
            inner = list(route.routes)
            if not inner:
                raise ValueError(f"the app mounted at {path or '/'} lists no routes")
            paths |= served_paths(inner, path)
        elif getattr(route, "param_convertors", None):
            raise ValueError(f"route {path} has path parameters: KnownPaths cannot label it")
        else:
            paths.add(path)
    return frozenset(paths)


class KnownPaths:
    """ASGI wrapper around the whole application: unknown paths become :data:`UNKNOWN_PATH`.

    BentoML's metrics middleware runs first inside the application and labels each
    request with ``scope["path"]``; so do its tracing and access log. Wrapped here, they
    see only paths the service serves (:func:`served_paths`, listed once at start) and
    one label for everything else: a client can no longer add a Prometheus series, a
    log line with an id in it, or worker memory by making up paths. The request itself
    goes on — the :class:`serving.auth.Gatekeeper` refuses it without a token, and
    :class:`HonestErrors` answers 404 with one line otherwise.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.paths = served_paths(app.routes)
        if UNKNOWN_PATH in self.paths:
            raise ValueError(f"{UNKNOWN_PATH} is served: pick another label for unknown paths")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("path") not in self.paths:
            scope = {**scope, "path": UNKNOWN_PATH, "raw_path": UNKNOWN_PATH.encode()}
        await self.app(scope, receive, send)


class _BodyTooLargeError(Exception):
    """The body went over the limit while the application was reading it."""


class BodyLimit:
    """ASGI middleware: a body over the limit is refused with 413 before it is read in full.

    A declared ``Content-Length`` over the limit is refused before anything is read; a
    body sent in chunks (no length) is counted as the application reads it: at the
    first chunk over, reading stops, whatever the application makes of that is dropped
    and the answer is the 413. ``/score`` has its own larger limit (1,000 rows of every
    model input).
    """

    def __init__(
        self,
        app: Any,
        limit: int = MAX_BODY_BYTES,
        limits: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.limits = {"/score": MAX_SCORE_BODY_BYTES} if limits is None else limits

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope.get("path", ""), self.limit)
        declared = [v for k, v in scope.get("headers", []) if k.lower() == b"content-length"]
        if any(not v.strip().isdigit() or int(v) > limit for v in declared):
            await self._refuse(send, scope, limit)
            return
        received = 0
        exceeded = started = False

        async def counted() -> Any:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _BodyTooLargeError
            return message

        async def watched(message: Any) -> None:
            nonlocal started
            if exceeded:  # the application's answer to a body it could not read
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(send, scope, limit)

    async def _refuse(self, send: Any, scope: Any, limit: int) -> None:
        advice = (
            "split the rows over several requests"
            if scope.get("path") == "/score"
            else "send a smaller body"
        )
        size = f"{limit // (1024 * 1024)} MiB"
        headers = [(b"connection", b"close")]  # the rest of the body is not read
        await send_json(send, 413, {"error": TOO_LARGE.format(limit=size, advice=advice)}, headers)
