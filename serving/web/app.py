"""A small FastAPI app mounted on the BentoML service at ``/``.

``GET /model_card`` (bearer token, checked by :class:`serving.auth.Gatekeeper`)
and the practitioners' page under ``/ui/``: sign in with a token (kept in an
HttpOnly, SameSite=Strict cookie scoped to ``/ui``), ask why a young person is
flagged and for what purpose, read both explanations with a bar chart of domain
contributions, and record agreement or disagreement. Server-rendered forms: no
JavaScript is needed, so keyboard and screen-reader use follow from the markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from features.vocabulary import OUTCOMES, SOURCE_TITLES
from models.reasons import NO_CHANGE
from serving.schemas import REASON_CODES, ModelCardResponse

HERE = Path(__file__).parent
COOKIE = "vru_session"
OUTCOME_TITLES = {key: o.heading for key, o in OUTCOMES.items()}

web = FastAPI(title="vru-risk web", docs_url=None, redoc_url=None, openapi_url=None)
web.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="static")
_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"])
)


def _practice() -> Any:
    import bentoml

    return bentoml.get_current_service().practice


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(name).render(
        reason_codes=REASON_CODES, outcome_titles=OUTCOME_TITLES, no_change=NO_CHANGE, **context
    )
    return HTMLResponse(html, status_code=status)


def _signed_in(request: Request) -> Any:
    return _practice().tokens.lookup(request.cookies.get(COOKIE))


def domain_bars(domains: dict[str, float]) -> list[dict[str, Any]]:
    """Bars for the chart: width as a share of the largest contribution, and direction."""
    largest = max((abs(v) for v in domains.values()), default=0.0) or 1.0
    bars = [
        {
            "domain": name,
            "value": value,
            "width": round(50 * abs(value) / largest, 1),
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
    return _page("signin.html")


@web.post("/ui/signin", include_in_schema=False)
def signin(token: Annotated[str, Form()] = "") -> Response:
    principal = _practice().tokens.lookup(token.strip())
    if principal is None:
        return _page("signin.html", 401, error="That token is not recognised.")
    response = RedirectResponse("/ui/explain", status_code=303)
    response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict", path="/ui")
    return response


@web.post("/ui/signout", include_in_schema=False)
def signout() -> Response:
    response = RedirectResponse("/ui/", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@web.get("/ui/explain", include_in_schema=False)
def explain_page(request: Request) -> Response:
    principal = _signed_in(request)
    if principal is None:
        return RedirectResponse("/ui/", status_code=303)
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
        return RedirectResponse("/ui/", status_code=303)
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
    try:
        result = await anyio.to_thread.run_sync(
            practice.explain, principal, person_id.strip(), purpose.strip()
        )
    except RefusalError as refusal:
        return _page("explain.html", refusal.status, error=refusal.message, **context)
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
        return RedirectResponse("/ui/", status_code=303)
    practice = _practice()
    context = {"user": principal, "snapshot": practice.snapshot.as_of}
    if (
        outcome not in practice.champions
        or agrees not in ("yes", "no")
        or reason_code not in REASON_CODES
        or not person_id.strip()
        or len(text) > 2000
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
        return _page("explain.html", refusal.status, error=refusal.message, **context)
    return _page(
        "explain.html",
        notice=f"Thank you: your feedback on the {outcome} explanation was recorded "
        f"(reference {receipt.feedback_id}).",
        **context,
    )
