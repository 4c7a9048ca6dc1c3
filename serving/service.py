"""The BentoML service practitioners call: ``bentoml serve serving.service:VruRisk``.

At start it loads, through :class:`serving.runtime.Practice`, the ``champion`` of
each outcome (version pinned, fairness verdict checked) and the latest feature
snapshot, or refuses with one line. Every endpoint but health needs a bearer
token (:class:`serving.auth.Gatekeeper`); every explain, score, feedback and
refusal is written to the hash-chained access log. The practitioner web page and
``GET /model_card`` are a FastAPI app mounted on the same service
(:mod:`serving.web.app`). Configuration comes from ``VRU_*`` environment
variables (:class:`vru.config.Settings`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, cast

import bentoml
from pydantic import Field

from serving.auth import Gatekeeper, bearer_token, send_bytes, send_json
from serving.runtime import MAX_SCORE_ROWS, CannotStartError, Practice, RefusalError
from serving.schemas import (
    ExplainResponse,
    FeatureRecord,
    FeedbackReceipt,
    FeedbackText,
    Outcome,
    PersonId,
    PingResponse,
    Purpose,
    ReasonCode,
    ScoreResponse,
)
from serving.web.app import web

logger = logging.getLogger("vru.serving")
T = TypeVar("T")


@bentoml.service(name="vru_risk", workers=1, threads=4, traffic={"timeout": 30})
@bentoml.asgi_app(web, path="/")
class VruRisk:
    """Serious-violence risk explanations for practitioners (synthetic data only).

    Every answer is a prompt for professional review, never a decision.
    Authenticate with `Authorization: Bearer <token>`.
    """

    def __init__(self) -> None:
        from vru.config import load_settings

        try:
            self.practice = Practice.start(load_settings())
        except CannotStartError as exc:
            logger.error("refusing to start: %s", exc)
            raise
        logger.info(
            "serving %s on the snapshot of %s",
            self.practice.versions,
            self.practice.snapshot.as_of,
        )

    def _answer(self, ctx: bentoml.Context, work: Callable[[Any], T]) -> T:
        """Run ``work(principal)``; a :class:`RefusalError` becomes its 4xx JSON response."""
        from starlette.responses import JSONResponse

        principal = self.practice.tokens.lookup(bearer_token(ctx.request.headers))
        try:
            if principal is None:  # the Gatekeeper already refused; never reached in practice
                raise RefusalError(401, "a valid bearer token is required")
            return work(principal)
        except RefusalError as refusal:
            ctx.response.status_code = refusal.status
            return cast(T, JSONResponse(refusal.body(), status_code=refusal.status))

    @bentoml.api
    def explain(
        self, person_id: PersonId, purpose: Purpose, ctx: bentoml.Context
    ) -> ExplainResponse:
        """Why is this young person flagged? Both outcomes: probability, band and its
        meaning, reasons, protective factors, data freshness, model version, caveat.
        `purpose` (why you are looking) is required and is written to the access log."""
        return self._answer(
            ctx, lambda who: self.practice.explain(who, person_id.strip(), purpose.strip())
        )

    @bentoml.api
    def score(
        self,
        rows: Annotated[list[FeatureRecord], Field(min_length=1, max_length=MAX_SCORE_ROWS)],
        ctx: bentoml.Context,
    ) -> ScoreResponse:
        """Probability and band of each outcome for rows of model inputs (every model
        feature, a number or null). Rows that do not match are named in a 422."""
        return self._answer(ctx, lambda who: self.practice.score(who, rows))

    @bentoml.api
    def feedback(
        self,
        person_id: PersonId,
        outcome: Outcome,
        agrees: bool,
        reason_code: ReasonCode,
        ctx: bentoml.Context,
        text: FeedbackText = "",
    ) -> FeedbackReceipt:
        """Record whether you agree with one outcome's explanation, with a reason code."""
        return self._answer(
            ctx,
            lambda who: self.practice.feedback(
                who,
                person_id=person_id.strip(),
                outcome=outcome,
                agrees=agrees,
                reason_code=reason_code,
                text=text.strip(),
            ),
        )

    @bentoml.api
    async def ping(self) -> PingResponse:
        """Authenticated no-op: the framework's own cost (the benchmark's floor)."""
        return PingResponse(ok=True)


def _practice() -> Practice | None:
    try:
        return cast(VruRisk, bentoml.get_current_service()).practice
    except Exception:
        return None


# --------------------------------------------------------------------------------------
# HTTP honesty: 422 for invalid bodies, one error shape, an OpenAPI that says all of it
# --------------------------------------------------------------------------------------
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


def _is_json(scope: Any) -> bool:
    """No Content-Type (BentoML reads JSON), or JSON; anything else is refused with 415."""
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-type":
            media = value.decode("latin-1").split(";")[0].strip().lower()
            return media in ("application/json", "")
    return True


def _normalise(status: int, body: Any) -> tuple[int, dict[str, object]]:
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


def _document(spec: dict[str, Any], features: list[str]) -> dict[str, Any]:
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
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if path in ("/livez", "/readyz", "/healthz"):
                operation["security"] = []
                continue
            for code, text in _REFUSALS.items():
                operation["responses"][code] = {"description": text, "content": ref}
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is None:
                continue
            schema = body.get("schema", {})
            if "$ref" in schema:
                schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
            if schema.get("required"):
                operation["requestBody"]["required"] = True
            rows = schema.get("properties", {}).get("rows")
            if path == "/score" and rows is not None:
                rows["items"] = {"$ref": "#/components/schemas/FeatureRecord"}
    return spec


class HonestErrors:
    """ASGI middleware applying :func:`_normalise` to API errors and :func:`_document`
    to ``/docs.json``."""

    def __init__(self, app: Any) -> None:
        self.app = app
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
            practice = _practice()
            features = practice.features if practice is not None else []
            self._spec = json.dumps(_document(json.loads(body), features)).encode("utf-8")
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
                status, body = _normalise(start["status"], original)
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


# outermost first: the Gatekeeper refuses before anything else runs (the cached
# OpenAPI document included)
_service: Any = VruRisk  # a bentoml Service at runtime; typed as the class for mypy
_service.add_asgi_middleware(Gatekeeper, practice=_practice)
_service.add_asgi_middleware(HonestErrors)
