"""Browser protections of the web app: security headers on every answer, and an Origin check.

:class:`WebGuard` wraps the FastAPI app (the page under ``/ui`` and ``/model_card``):

- every answer carries a strict Content-Security-Policy (the page has no script and no
  inline style; ``frame-ancestors 'none'`` and ``X-Frame-Options: DENY`` keep it out of
  other sites' frames), ``X-Content-Type-Options: nosniff`` and a referrer policy; every
  answer but the stylesheet carries ``Cache-Control: no-store`` (pages hold personal
  data: neither the browser nor a proxy may keep them);
- a state-changing request (any ``POST``) whose ``Origin`` — or, without one, ``Referer``
  — names another site is refused with 403 before the app sees it: nothing is looked
  up, logged or changed. The session cookie is ``SameSite=Strict`` as well; this check
  also covers browsers that ignore SameSite and sites on the same domain.

The referrer policy is ``same-origin``, not ``no-referrer``: under ``no-referrer`` a
browser sends ``Origin: null`` with the page's own form posts (the Fetch standard's rule
for non-CORS requests), which the Origin check must refuse. ``same-origin`` still sends
nothing to other sites, and the page's addresses hold no personal data anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

__all__ = ["CONTENT_SECURITY_POLICY", "CROSS_SITE", "SECURITY_HEADERS", "WebGuard"]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
NO_STORE = (b"cache-control", b"no-store")
#: the stylesheet: no personal data, may be cached
CACHEABLE_PREFIX = "/ui/static/"
CROSS_SITE = (
    "This form was sent from another website, so nothing was done: "
    "please open vru-risk's own page and try again."
)


def _header(scope: Any, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def own_origins(scope: Any, https: bool) -> set[str]:
    """The origins the service answers as: its scheme and ``Host``; with ``https`` (a TLS
    proxy in front) also ``https://`` and that host."""
    host = (_header(scope, b"host") or "").strip().lower()
    if not host:
        return set()
    origins = {f"{scope.get('scheme', 'http')}://{host}"}
    if https:
        origins.add(f"https://{host}")
    return origins


def sent_from(scope: Any) -> str | None:
    """The origin a request says it came from: ``Origin``, else ``Referer``'s, else ``None``."""
    origin = _header(scope, b"origin")
    if origin is not None:
        return origin.strip().lower()
    referer = _header(scope, b"referer")
    if referer is None:
        return None
    parts = urlsplit(referer.strip())
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme else "null"


class WebGuard:
    """ASGI middleware: security headers on every answer; cross-site POSTs refused.

    Parameters
    ----------
    app
        The wrapped ASGI app.
    https
        Returns whether the service is reached over HTTPS (``session_cookie_secure``);
        called per request, as settings load after the app is built.
    refusal
        Renders the HTML page of the 403 (the app's templates).
    """

    def __init__(
        self, app: Any, https: Callable[[], bool], refusal: Callable[[str], bytes]
    ) -> None:
        self.app = app
        self.https = https
        self.refusal = refusal

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(SECURITY_HEADERS)
        if not scope.get("path", "").startswith(CACHEABLE_PREFIX):
            extra.append(NO_STORE)

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in extra}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": [*kept, *extra]}
            await send(message)

        if scope.get("method") == "POST":
            origin = sent_from(scope)
            if origin is not None and origin not in own_origins(scope, self.https()):
                body = self.refusal(CROSS_SITE)
                await with_headers(
                    {
                        "type": "http.response.start",
                        "status": 403,
                        "headers": [
                            (b"content-type", b"text/html; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await with_headers({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, with_headers)
