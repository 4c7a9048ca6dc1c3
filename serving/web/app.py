"""A small FastAPI app mounted on the BentoML service at ``/``.

``GET /model_card`` (bearer token, checked by :class:`serving.auth.Gatekeeper`)
and the practitioners' page under ``/ui/``: sign in with a token, ask why a young
person is flagged and for what purpose, read both explanations with a bar chart of
domain contributions, and record agreement or disagreement. Server-rendered forms: no
JavaScript is needed, so keyboard and screen-reader use follow from the markup.

Signing in opens a server-side session (:mod:`serving.web.sessions`): the HttpOnly,
SameSite=Strict cookie scoped to ``/ui`` holds its random id, never the token
(``Secure`` too when ``session_cookie_secure`` is set). Failed sign-ins are throttled
per client and logged within bounds (:mod:`serving.web.throttle`); every answer carries
the security headers and cross-site posts are refused (:mod:`serving.web.security`).
"""

from __future__ import annotations

import re
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from features.vocabulary import OUTCOMES, SOURCE_TITLES
from models.reasons import NO_CHANGE
from serving.access_log import LogBusyError
from serving.schemas import LINE_PATTERN, REASON_CODES, TEXT_PATTERN, ModelCardResponse
from serving.throttle import SigninGuard
from serving.web.security import WebGuard
from serving.web.sessions import SessionStore

HERE = Path(__file__).parent
#: the page's words while another process holds the access log (nothing was looked up)
LOG_BUSY_PAGE = (
    "The record of who has looked at whose information is busy for a moment, so nothing "
    "was looked up. Please try again."
)
COOKIE = "vru_session"
OUTCOME_TITLES = {key: o.heading for key, o in OUTCOMES.items()}
#: defaults when the service was given no settings object (never in `vru serve`)
IDLE_MINUTES = 30
NOT_RECOGNISED = "That token is not recognised."
TOO_MANY = "Too many sign-in attempts from this computer: please wait {wait} and try again."
SESSION_ENDED = "You have been signed out. Please sign in again to continue."

web = FastAPI(title="vru-risk web", docs_url=None, redoc_url=None, openapi_url=None)
web.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="static")
_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"])
)


def _practice() -> Any:
    import bentoml

    return bentoml.get_current_service().practice


def _setting(name: str, default: Any) -> Any:
    return getattr(getattr(_practice(), "settings", None), name, default)


@dataclass(frozen=True)
class _WebState:
    """What the page keeps while the service runs: sessions and the sign-in throttle."""

    sessions: SessionStore
    signins: SigninGuard


_state_lock = threading.Lock()
_states: weakref.WeakKeyDictionary[Any, _WebState] = weakref.WeakKeyDictionary()


def _state() -> _WebState:
    """The running service's sessions and throttle, made on first use from its settings."""
    practice = _practice()
    with _state_lock:
        state = _states.get(practice)
        if state is None:
            from serving.access_log import Entry

            def record(detail: str) -> None:
                practice.log.record(
                    Entry("signin", "unauthenticated", "-", "-", "-", detail=detail)
                )

            minutes = _setting("session_idle_minutes", IDLE_MINUTES)
            state = _WebState(SessionStore(60.0 * minutes), SigninGuard(record))
            _states[practice] = state
        return state


def _page_html(name: str, **context: Any) -> str:
    return _templates.get_template(name).render(
        reason_codes=REASON_CODES, outcome_titles=OUTCOME_TITLES, no_change=NO_CHANGE, **context
    )


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_page_html(name, **context), status_code=status)


def _refusal_page(message: str) -> bytes:
    return _page_html("refused.html", error=message).encode("utf-8")


web.add_middleware(
    WebGuard,
    https=lambda: bool(_setting("session_cookie_secure", False)),
    refusal=_refusal_page,
)


def _signed_in(request: Request) -> Any:
    """Who holds the session in the request's cookie, or ``None``."""
    return _state().sessions.principal(request.cookies.get(COOKIE), _practice().tokens)


def _to_signin() -> RedirectResponse:
    """Back to the sign-in page (it says the session ended if the cookie is stale)."""
    return RedirectResponse("/ui/", status_code=303)


def _sentence(message: str) -> str:
    """A refusal's one line as the page shows it: a capital first letter, a full stop."""
    text = message[:1].upper() + message[1:]
    return text if text.endswith(".") else text + "."


def domain_bars(domains: dict[str, float]) -> list[dict[str, Any]]:
    """Bars for the chart: width (0–50, percent of the track) as a share of the largest
    contribution, and direction."""
    largest = max((abs(v) for v in domains.values()), default=0.0) or 1.0
    bars = [
        {
            "domain": name,
            "value": value,
            # a whole percent: the stylesheet has one class per width (no inline style)
            "width": round(50 * abs(value) / largest),
            "direction": "raises" if value >= 0.005 else "lowers" if value <= -0.005 else "none",
        }
        for name, value in domains.items()
    ]
    return sorted(bars, key=lambda b: -abs(b["value"]))


@web.get("/model_card", response_model=ModelCardResponse, tags=["Service APIs"])
def model_card() -> ModelCardResponse:
    """The champions' model cards, versions, fairness verdicts and band meanings."""
    return _practice().model_card()


@web.get("/ui", include_in_schema=False)
def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@web.get("/ui/", include_in_schema=False)
def signin_page(request: Request) -> Response:
    if _signed_in(request) is not None:
        return RedirectResponse("/ui/explain", status_code=303)
    if request.cookies.get(COOKIE) is None:
        return _page("signin.html")
    # a cookie whose session ended (idle, signed out elsewhere, token revoked): say so
    response = _page("signin.html", notice=SESSION_ENDED)
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return response


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _wait_words(seconds: int) -> str:
    return "a minute" if seconds > 30 else f"{seconds} seconds"


@web.post("/ui/signin", include_in_schema=False)
def signin(request: Request, token: Annotated[str, Form()] = "") -> Response:
    state = _state()
    client = _client(request)
    wait = state.signins.retry_after(client)
    if wait is not None:  # refused without reading the token
        throttled = _page("signin.html", 429, error=TOO_MANY.format(wait=_wait_words(wait)))
        throttled.headers["Retry-After"] = str(wait)
        return throttled
    principal = _practice().tokens.lookup(token.strip())
    if principal is None:
        state.signins.failed(client)
        return _page("signin.html", 401, error=NOT_RECOGNISED)
    state.sessions.close(request.cookies.get(COOKIE))
    session_id = state.sessions.open(token.strip(), principal)
    response = RedirectResponse("/ui/explain", status_code=303)
    response.set_cookie(
        COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        path="/ui",
        secure=bool(_setting("session_cookie_secure", False)),
    )
    return response


@web.post("/ui/signout", include_in_schema=False)
def signout(request: Request) -> Response:
    _state().sessions.close(request.cookies.get(COOKIE))
    response = RedirectResponse("/ui/", status_code=303)
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return response


@web.get("/ui/explain", include_in_schema=False)
def explain_page(request: Request) -> Response:
    principal = _signed_in(request)
    if principal is None:
        return _to_signin()
    return _page("explain.html", user=principal, snapshot=_practice().snapshot.as_of)


@web.post("/ui/explain", include_in_schema=False)
async def explain(
    request: Request,
    person_id: Annotated[str, Form()] = "",
    purpose: Annotated[str, Form()] = "",
) -> Response:
    from serving.runtime import RefusalError

    principal = _signed_in(request)
    if principal is None:
        return _to_signin()
    practice = _practice()
    context: dict[str, Any] = {
        "user": principal,
        "snapshot": practice.snapshot.as_of,
        "person_id": person_id.strip(),
        "purpose": purpose.strip(),
    }
    if not person_id.strip() or not purpose.strip():
        missing = [n for n, v in (("person ID", person_id), ("purpose", purpose)) if not v.strip()]
        return _page(
            "explain.html", 422, error=f"Please enter the {' and '.join(missing)}.", **context
        )
    unreadable = [
        n
        for n, v in (("person ID", person_id), ("purpose", purpose))
        if not re.fullmatch(LINE_PATTERN, v.strip())
    ]
    if unreadable:  # the API's rule: something visible, no control or direction characters
        return _page(
            "explain.html",
            422,
            error=f"Please write the {' and '.join(unreadable)} in plain characters "
            "(it has invisible or control characters in it).",
            **context,
        )
    try:
        result = await anyio.to_thread.run_sync(
            practice.explain, principal, person_id.strip(), purpose.strip()
        )
    except RefusalError as refusal:
        return _page("explain.html", refusal.status, error=_sentence(refusal.message), **context)
    except LogBusyError:
        return _page("explain.html", 503, error=LOG_BUSY_PAGE, **context)
    outcomes = [
        {"data": o, "title": OUTCOME_TITLES.get(name, name), "bars": domain_bars(o.domains)}
        for name, o in result.outcomes.items()
    ]
    return _page(
        "explain.html", result=result, outcomes=outcomes, source_titles=SOURCE_TITLES, **context
    )


@web.post("/ui/feedback", include_in_schema=False)
async def feedback(
    request: Request,
    person_id: Annotated[str, Form()] = "",
    outcome: Annotated[str, Form()] = "",
    agrees: Annotated[str, Form()] = "",
    reason_code: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
) -> Response:
    from serving.runtime import RefusalError

    principal = _signed_in(request)
    if principal is None:
        return _to_signin()
    practice = _practice()
    context = {"user": principal, "snapshot": practice.snapshot.as_of}
    if (
        outcome not in practice.champions
        or agrees not in ("yes", "no")
        or reason_code not in REASON_CODES
        or not person_id.strip()
        or len(text) > 2000
        or not re.fullmatch(LINE_PATTERN, person_id.strip())
        or not re.fullmatch(TEXT_PATTERN, text.strip())
    ):
        return _page(
            "explain.html",
            422,
            error="Feedback needs the outcome, whether you agree and a reason from the list.",
            **context,
        )
    try:
        receipt = await anyio.to_thread.run_sync(
            lambda: practice.feedback(
                principal,
                person_id=person_id.strip(),
                outcome=outcome,
                agrees=agrees == "yes",
                reason_code=reason_code,
                text=text.strip(),
            )
        )
    except RefusalError as refusal:
        return _page("explain.html", refusal.status, error=_sentence(refusal.message), **context)
    except LogBusyError:
        return _page("explain.html", 503, error=LOG_BUSY_PAGE, **context)
    return _page(
        "explain.html",
        notice=f"Thank you: your feedback on the {outcome} explanation was recorded "
        f"(reference {receipt.feedback_id}).",
        **context,
    )
