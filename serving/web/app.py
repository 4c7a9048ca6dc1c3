"""A small FastAPI app mounted on the BentoML service at ``/``.

``GET /model_card`` (bearer token, checked by :class:`serving.auth.Gatekeeper`)
and the practitioners' page under ``/ui/``: sign in with a token, ask why a young
person is flagged and for what purpose, read both explanations with a bar chart of
domain contributions and the feedback already recorded on them, and record agreement or
disagreement, one form per outcome. Server-rendered forms: no JavaScript is needed, so
keyboard and screen-reader use follow from the markup.

After feedback the page shows both explanations again from the session (the last look-up
is kept there, :meth:`SessionStore.remember`): nothing is looked up again, so the access
log keeps the one look-up row and gains the feedback row. IDs are read as the API reads
them (:func:`serving.schemas.normalise_person_id`), reasons must go with agreeing or
disagreeing as the API requires (:func:`serving.schemas.reason_fits`), and every date
the page shows is written out ("1 January 2025"), the snapshot's as-of date being the
one "records as of" date, as in the panel pack.

While a model version the service loaded is switched off after release (suspended), every
signed-in page shows a banner at the top with the suspension's sentence — which model,
since when, which check, what can be done — answered 503, and shows no explanation and
no look-up form (:meth:`serving.runtime.Practice.suspension_words`). While the latest
monitoring of a version in use is amber or red, every signed-in page shows an amber notice
with its note above the look-up form and the explanation; the page still answers
(:meth:`serving.runtime.Practice.monitoring_words`, re-read with the suspensions).

Signing in opens a server-side session (:mod:`serving.web.sessions`): the HttpOnly,
SameSite=Strict cookie scoped to ``/ui`` holds its random id, never the token
(``Secure`` too when ``session_cookie_secure`` is set). Failed sign-ins are throttled
per client and logged within bounds (:mod:`serving.web.throttle`); every answer carries
the security headers and cross-site posts are refused (:mod:`serving.web.security`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from features.vocabulary import OUTCOMES, SOURCE_TITLES
from models.reasons import MIN_CONTRIBUTION, NO_CHANGE
from serving.access_log import LogBusyError, LogError
from serving.schemas import (
    AGREE_REASONS,
    DISAGREE_REASONS,
    LINE_PATTERN,
    REASON_CODES,
    TEXT_PATTERN,
    ModelCardResponse,
    normalise_person_id,
    reason_fits,
)
from serving.throttle import SigninGuard
from serving.web.security import WebGuard
from serving.web.sessions import SessionStore

HERE = Path(__file__).parent
#: the page's words while another process holds the access log (nothing was looked up)
LOG_BUSY_PAGE = (
    "The record of who has looked at whose information is busy for a moment, so nothing "
    "was looked up. Please try again."
)
#: the same while feedback was being recorded (nothing was recorded)
LOG_BUSY_FEEDBACK = (
    "The record of who has looked at whose information is busy for a moment, so your "
    "feedback was not recorded. Please record it again."
)
COOKIE = "vru_session"
OUTCOME_TITLES = {key: o.heading for key, o in OUTCOMES.items()}
#: the reason list in three parts: reasons to agree, to disagree, and either way
REASON_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("If you agree", tuple(c for c in AGREE_REASONS if c not in DISAGREE_REASONS)),
    ("If you disagree", tuple(c for c in DISAGREE_REASONS if c not in AGREE_REASONS)),
    ("Either way", tuple(c for c in REASON_CODES if c in AGREE_REASONS and c in DISAGREE_REASONS)),
)
#: how the list shows a reason code (the code itself, capitalised, when not named here)
REASON_LABELS = {"other": "Other (say more in the box below)"}
#: the page's words for what went wrong, each saying what to do next
MISSING = "Enter the {missing}, then choose Explain."
UNREADABLE = (
    "The {fields} {has} invisible or control characters in it (this can happen when text is "
    "copied and pasted). Type it again in ordinary letters and numbers, then choose Explain."
)
NOT_FOUND_PAGE = (
    "We could not find a young person with the ID {person_id} in {records} as of {as_of}. "
    "Check the ID on the referral and try again."
)
FEEDBACK_FORM_BROKEN = (
    "Part of the feedback form was missing, so nothing was recorded. Look the young person "
    "up again and use the form under their explanation."
)
CHOOSE_SIDE = "Choose Agree or Disagree and a reason, then record your feedback again."
CHOOSE_REASON = "Choose a reason from the list, then record your feedback again."
REASON_MISMATCH = (
    "Nothing was recorded: you chose {side}, but \u201c{reason}\u201d is a reason to {other}. "
    "Choose a reason under \u201c{group}\u201d, or choose {other_side}, then record your "
    "feedback again."
)
TEXT_UNREADABLE = (
    "Nothing was recorded: the note is longer than 2,000 characters or has invisible or "
    "control characters in it. Shorten it or type it again, then record your feedback again."
)
RECEIPT = "Your feedback on the explanation of the {title} was recorded, reference {reference}."
LOOK_AGAIN = "To see the explanations again, look the young person up."
#: log-odds sizes at which a contribution "raised it a lot" or "somewhat" (a lot: the odds
#: about doubled or halved; somewhat: moved by a fifth or more); smaller ones "a little"
A_LOT = 0.7
SOMEWHAT = 0.2
#: feedback rows shown per young person
PAST_FEEDBACK = 50
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
_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
#: month names in English whatever the machine's locale
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def long_date(value: dt.date | str | None) -> str:
    """A date as the page writes it: ``"1 January 2025"`` (from a date or ISO text)."""
    if value is None or value == "":
        return ""
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def dates_in(text: str) -> str:
    """``text`` with every ISO date in it written out (a reason's "latest 2024-03-02")."""

    def written(match: re.Match[str]) -> str:
        try:
            return long_date(match.group(0))
        except ValueError:
            return match.group(0)

    return _ISO_DAY.sub(written, str(text))


def _uk_time(moment: dt.datetime) -> dt.datetime:
    try:
        from zoneinfo import ZoneInfo

        return moment.astimezone(ZoneInfo("Europe/London"))
    except Exception:  # no time-zone data on the machine: UTC, which the page then says
        return moment


def when(stamp: str) -> str:
    """When a row was written (UTC, ISO) in UK time: ``"3 December 2026 at 09:30"``."""
    moment = dt.datetime.fromisoformat(stamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    local = _uk_time(moment)
    suffix = " UTC" if local.utcoffset() == dt.timedelta(0) and local.tzname() == "UTC" else ""
    return f"{long_date(local.date())} at {local:%H:%M}{suffix}"


def reason_label(code: str) -> str:
    """A reason code as the page shows it: ``"Matches professional judgement"``."""
    return REASON_LABELS.get(code, code[:1].upper() + code[1:])


_templates.filters.update(long_date=long_date, dates_in=dates_in, when=when)


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
        reason_groups=REASON_GROUPS,
        reason_label=reason_label,
        outcome_titles=OUTCOME_TITLES,
        no_change=NO_CHANGE,
        **context,
    )


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page; a signed-in one carries the amber monitoring notice while a version in use
    is amber or red (from the status reading the page's suspension check just made)."""
    if context.get("user") is not None and "monitoring" not in context:
        context["monitoring"] = _practice().monitoring_words(refresh=False)
    return HTMLResponse(_page_html(name, **context), status_code=status)


def _suspended_page(practice: Any, principal: Any) -> HTMLResponse | None:
    """The page with the suspension banner (503, retry after the recheck interval) while a
    loaded model version is switched off; ``None`` while every version is in use."""
    words = practice.suspension_words()
    if not words:
        return None
    response = _page(
        "explain.html", 503, user=principal, snapshot=practice.snapshot.as_of, suspended=words
    )
    response.headers["Retry-After"] = str(max(1, math.ceil(practice.recheck_seconds)))
    return response


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


def effect_words(value: float) -> str:
    """What one area's contribution did to the estimate, in words ("raised it a lot"):
    the page never prints the number itself."""
    size = abs(value)
    if size < MIN_CONTRIBUTION:
        return "made little difference"
    amount = "a lot" if size >= A_LOT else "somewhat" if size >= SOMEWHAT else "a little"
    return f"{'raised' if value > 0 else 'lowered'} it {amount}"


def domain_bars(domains: Mapping[str, float]) -> list[dict[str, Any]]:
    """Bars for the chart: width (0–50, percent of the track) as a share of the largest
    contribution, direction, and the effect in words."""
    largest = max((abs(v) for v in domains.values()), default=0.0) or 1.0
    bars = [
        {
            "domain": name,
            "value": value,
            # a whole percent: the stylesheet has one class per width (no inline style)
            "width": round(50 * abs(value) / largest),
            "direction": "none"
            if abs(value) < MIN_CONTRIBUTION
            else "raises"
            if value > 0
            else "lowers",
            "effect": effect_words(value),
        }
        for name, value in domains.items()
    ]
    return sorted(bars, key=lambda b: -abs(b["value"]))


@dataclass(frozen=True)
class Explained:
    """A look-up kept in the session: the answer (an ``ExplainResponse``) and its purpose."""

    result: Any
    purpose: str


def past_feedback(practice: Any, principal: Any, person_id: str) -> dict[str, list[Any]] | None:
    """Feedback already recorded on ``person_id``, by outcome, newest first; ``None`` when
    the log cannot be read just now.

    Only for a young person the caller may see (their own local authority's, for a local
    role); anyone else gets nothing. Each row says who (name and role as recorded), when,
    whether they agreed, the reason and their note.
    """
    from serving.auth import may_see

    area = practice.snapshot.area(person_id)
    if area is None or not may_see(principal, area):
        return {}
    try:
        rows = practice.log.feedback_on(person_id, PAST_FEEDBACK)
    except LogError:
        return None
    by_outcome: dict[str, list[Any]] = {}
    for row in rows:
        by_outcome.setdefault(str(row["outcome"]), []).append(
            {
                "user": row["user"],
                "role": row["role"],
                "time": row["time"],
                "agrees": bool(row["agrees"]),
                "reason": reason_label(str(row["reason_code"])),
                "text": row["text"],
                # stored as the model's label ("vru-victim/3"): the page says the version
                "model_version": str(row["model_version"]).rpartition("/")[2],
            }
        )
    return by_outcome


def _explained_context(practice: Any, principal: Any, explained: Explained) -> dict[str, Any]:
    """What the page needs to show one look-up: the answer, each outcome with its bars and
    past feedback, and the look-up form filled in as it was."""
    result = explained.result
    past = past_feedback(practice, principal, result.person_id)
    outcomes = [
        {
            "data": o,
            "title": OUTCOME_TITLES.get(name, name),
            "bars": domain_bars(o.domains),
            "past": None if past is None else past.get(name, []),
        }
        for name, o in result.outcomes.items()
    ]
    return {
        "result": result,
        "outcomes": outcomes,
        "source_titles": SOURCE_TITLES,
        "person_id": result.person_id,
        "purpose": explained.purpose,
    }


def _not_found(principal: Any, person_id: str, as_of: dt.date) -> str:
    """The page's words for a young person it cannot show: the same for an unknown ID and
    for a young person of another local authority (it must not say which)."""
    from serving.auth import LOCAL_ROLES

    records = f"{principal.la}'s records" if principal.role in LOCAL_ROLES else "the records"
    return NOT_FOUND_PAGE.format(person_id=person_id, records=records, as_of=long_date(as_of))


def _refusal_words(refusal: Any, principal: Any, person_id: str, as_of: dt.date) -> str:
    if refusal.status == 404:
        return _not_found(principal, person_id, as_of)
    return _sentence(refusal.message)


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
async def explain_page(request: Request) -> Response:
    principal = _signed_in(request)
    if principal is None:
        return _to_signin()
    practice = _practice()
    suspended = await anyio.to_thread.run_sync(_suspended_page, practice, principal)
    if suspended is not None:
        return suspended
    return _page("explain.html", user=principal, snapshot=practice.snapshot.as_of)


def _unreadable(fields: list[str]) -> str:
    return UNREADABLE.format(
        fields=" and the ".join(fields), has="have" if len(fields) > 1 else "has"
    )


@web.post("/ui/explain", include_in_schema=False)
async def explain(
    request: Request,
    person_id: Annotated[str, Form()] = "",
    purpose: Annotated[str, Form()] = "",
) -> Response:
    from serving.runtime import RefusalError, SuspendedError

    principal = _signed_in(request)
    if principal is None:
        return _to_signin()
    practice = _practice()
    suspended = await anyio.to_thread.run_sync(_suspended_page, practice, principal)
    if suspended is not None:
        return suspended
    fields = (("young person's ID", person_id.strip()), ("purpose", purpose.strip()))
    context: dict[str, Any] = {
        "user": principal,
        "snapshot": practice.snapshot.as_of,
        "person_id": person_id.strip(),
        "purpose": purpose.strip(),
    }
    missing = [name for name, value in fields if not value]
    if missing:
        words = " and the ".join(missing)
        return _page("explain.html", 422, error=MISSING.format(missing=words), **context)
    unreadable = [name for name, value in fields if not re.fullmatch(LINE_PATTERN, value)]
    if unreadable:  # the API's rule: something visible, no control or direction characters
        return _page("explain.html", 422, error=_unreadable(unreadable), **context)
    wanted = normalise_person_id(person_id)
    context["person_id"] = wanted
    try:
        result = await anyio.to_thread.run_sync(
            practice.explain, principal, wanted, purpose.strip()
        )
    except SuspendedError:  # switched off since the check above
        return await anyio.to_thread.run_sync(_suspended_page, practice, principal) or _page(
            "explain.html", 503, **context
        )
    except RefusalError as refusal:
        words = _refusal_words(refusal, principal, wanted, practice.snapshot.as_of)
        return _page("explain.html", refusal.status, error=words, **context)
    except LogBusyError:
        return _page("explain.html", 503, error=LOG_BUSY_PAGE, **context)
    explained = Explained(result, purpose.strip())
    _state().sessions.remember(request.cookies.get(COOKIE), explained)
    shown = await anyio.to_thread.run_sync(_explained_context, practice, principal, explained)
    return _page("explain.html", **{**context, **shown})


@web.post("/ui/feedback", include_in_schema=False)
async def feedback(
    request: Request,
    person_id: Annotated[str, Form()] = "",
    outcome: Annotated[str, Form()] = "",
    agrees: Annotated[str, Form()] = "",
    reason_code: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
) -> Response:
    """Record feedback on one outcome, then show the same page again: both explanations
    (from the session: no second look-up), the receipt, and the feedback recorded so far.

    A refused form is shown again as it was filled in, with what to do next beside it.
    """
    from serving.runtime import RefusalError, SuspendedError

    principal = _signed_in(request)
    if principal is None:
        return _to_signin()
    practice = _practice()
    suspended = await anyio.to_thread.run_sync(_suspended_page, practice, principal)
    if suspended is not None:  # nothing recorded, and no explanation shown again
        return suspended
    readable_id = bool(person_id.strip()) and bool(re.fullmatch(LINE_PATTERN, person_id.strip()))
    wanted = normalise_person_id(person_id) if readable_id else ""
    last = _state().sessions.recall(request.cookies.get(COOKIE))
    shown = last if last is not None and last.result.person_id == wanted else None
    form = {"outcome": outcome, "agrees": agrees, "reason_code": reason_code, "text": text}

    async def again(status: int = 200, **extra: Any) -> HTMLResponse:
        context: dict[str, Any] = {"user": principal, "snapshot": practice.snapshot.as_of}
        if shown is not None:
            context.update(
                await anyio.to_thread.run_sync(_explained_context, practice, principal, shown)
            )
        return _page("explain.html", status, **{**context, **extra})

    if outcome not in practice.champions or not readable_id:
        return await again(422, error=FEEDBACK_FORM_BROKEN)
    problem = None
    if agrees not in ("yes", "no"):
        problem = CHOOSE_SIDE
    elif reason_code not in REASON_CODES:
        problem = CHOOSE_REASON
    elif not reason_fits(agrees == "yes", reason_code):
        side, other_side = ("Agree", "Disagree") if agrees == "yes" else ("Disagree", "Agree")
        problem = REASON_MISMATCH.format(
            side=side,
            reason=reason_label(reason_code),
            other=other_side.lower(),
            group=f"If you {side.lower()}",
            other_side=other_side,
        )
    elif len(text) > 2000 or not re.fullmatch(TEXT_PATTERN, text.strip()):
        problem = TEXT_UNREADABLE
    if problem is not None:
        if shown is None:  # nothing to show the form under: say it at the top
            return await again(422, error=f"{problem} {LOOK_AGAIN}")
        return await again(422, feedback_error=problem, feedback_form=form)
    try:
        receipt = await anyio.to_thread.run_sync(
            lambda: practice.feedback(
                principal,
                person_id=wanted,
                outcome=outcome,
                agrees=agrees == "yes",
                reason_code=reason_code,
                text=text.strip(),
            )
        )
    except SuspendedError:  # switched off since the check above
        return await anyio.to_thread.run_sync(_suspended_page, practice, principal) or _page(
            "explain.html", 503, user=principal, snapshot=practice.snapshot.as_of
        )
    except RefusalError as refusal:
        words = _refusal_words(refusal, principal, wanted, practice.snapshot.as_of)
        return await again(refusal.status, error=words)
    except LogBusyError:
        return await again(503, error=LOG_BUSY_FEEDBACK, feedback_form=form)
    title = OUTCOME_TITLES[outcome]
    words = RECEIPT.format(title=title[:1].lower() + title[1:], reference=receipt.feedback_id)
    if shown is None:
        return await again(notice=f"{words} {LOOK_AGAIN}")
    return await again(receipt=words, receipt_outcome=outcome)
