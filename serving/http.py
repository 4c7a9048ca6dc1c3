"""The service's HTTP plumbing: JSON answers, one error shape, an honest OpenAPI document.

BentoML answers an invalid body with a 400 and pydantic's error list; the
:class:`HonestErrors` middleware makes that a 422 whose message names the fields,
gives every error the shape ``{"error": str, "fields"?: [str]}``, refuses bodies
not sent as JSON with 415, and completes ``/docs.json`` with the bearer scheme,
every refusal an endpoint can answer and the exact feature record ``/score``
accepts. :func:`send_json` is the one way a middleware answers by itself (the
:class:`serving.auth.Gatekeeper` uses it too).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = [
    "API_PATHS",
    "REFUSAL_SCHEMA",
    "UNSUPPORTED",
    "HonestErrors",
    "document",
    "normalise",
    "send_bytes",
    "send_json",
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
    "404": "No such young person on the snapshot",
    "415": "Body not sent as application/json",
    "422": "Invalid request: the message names the fields",
    "503": "Service starting",
}
UNSUPPORTED = "send the body as JSON (Content-Type: application/json)"


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
            problems.append(f"{loc}: {e.get('msg', 'invalid')}")
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


def document(spec: dict[str, Any], features: list[str]) -> dict[str, Any]:
    """Declare the bearer scheme, every refusal the endpoints can answer, required bodies,
    and the exact feature record ``/score`` accepts (known only once the models load)."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Refusal"] = REFUSAL_SCHEMA
    schemas["FeatureRecord"] = {
        "type": "object",
        "title": "FeatureRecord",
        "description": "every input of the champion models: a number, or null when missing",
        "properties": {f: {"type": "number", "nullable": True} for f in features},
        "required": list(features),
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
        if method == "GET" and path == "/docs.json":
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
            self._spec = json.dumps(document(json.loads(body), features)).encode("utf-8")
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
