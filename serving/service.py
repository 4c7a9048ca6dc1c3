"""The BentoML service practitioners call: :class:`VruRisk`.

Served as ``bentoml serve vru.bento:VruRisk``: :mod:`vru.bento` imports this class
and names where its settings come from (:func:`use_settings`), so this module
reads no configuration itself. At start the service loads, through
:class:`serving.runtime.Practice`, the ``champion`` of each outcome (version
pinned, fairness verdict checked) and the latest feature snapshot, and draws this
month's panel lists from them (``settings.panel_capacity``), or refuses with one
line. Every endpoint but health needs a bearer token
(:class:`serving.auth.Gatekeeper`); every explain, score, feedback and refusal is
written to the hash-chained access log. While a loaded version is switched off after
release (suspended), explain, score and feedback answer 503 with a ``Retry-After`` and the
suspension's sentence, and ``/readyz`` answers 503 (the status is re-read at least once a
minute, :meth:`serving.runtime.Practice.refresh_status`). HTTP plumbing (one error shape, the
OpenAPI document, the body limit, and :class:`serving.http.KnownPaths` around the
whole application so that metrics and logs never carry a made-up path) is
:mod:`serving.http`; the practitioner web page and
``GET /model_card`` are a FastAPI app mounted on the same service
(:mod:`serving.web.app`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, cast

import bentoml
from pydantic import Field, StrictBool

from serving.access_log import LogBusyError
from serving.auth import PRINCIPAL_KEY, SCORE_ROLES, Gatekeeper, bearer_token
from serving.http import BodyLimit, HonestErrors, KnownPaths
from serving.runtime import (
    MAX_SCORE_ROWS,
    CannotStartError,
    Practice,
    RefusalError,
    SuspendedError,
)
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
    normalise_person_id,
    out_of_domain,
    reason_mismatch,
)
from serving.web.app import web

__all__ = ["VruRisk", "current_practice", "use_settings"]

logger = logging.getLogger("vru.serving")
T = TypeVar("T")
MSG_NO_SETTINGS = (
    "no settings for the service: serve vru.bento:VruRisk (it names vru.config.load_settings)"
)
#: where the settings come from (set by the entry point with :func:`use_settings`)
_settings_loader: Callable[[], Any] | None = None


def use_settings(loader: Callable[[], Any]) -> None:
    """Name the function that gives the service its settings (``vru.config.load_settings``).

    Called once by the entry point (:mod:`vru.bento`) when BentoML imports it, in
    the server process and in every worker; the service calls ``loader()`` as it
    starts. Tests may pass a loader that returns settings they built.
    """
    global _settings_loader
    _settings_loader = loader


#: the answer while another process holds the access log (503, retry after a second)
LOG_BUSY = "the access log is busy; nothing was looked up — try again in a moment"
RETRY_SECONDS = "1"


class _KnownPathsService(bentoml.Service):
    """A BentoML service whose ASGI application is wrapped in :class:`KnownPaths`.

    ``to_asgi`` is what BentoML's worker (and ``TestClient``) serve; the wrapper has to
    sit outside the application, because BentoML installs its metrics middleware before
    any added with ``add_asgi_middleware``.
    """

    __slots__ = ()

    def to_asgi(self, is_main: bool = True) -> Any:
        return KnownPaths(super().to_asgi(is_main=is_main))


@bentoml.service(
    name="vru_risk",
    workers=1,
    threads=4,
    traffic={"timeout": 30},
    service_class=_KnownPathsService,
)
@bentoml.asgi_app(web, path="/")
class VruRisk:
    """Serious-violence risk explanations for practitioners (synthetic data only).

    Every answer is a prompt for professional review, never a decision.
    Authenticate with `Authorization: Bearer <token>`.
    """

    def __init__(self) -> None:
        try:
            if _settings_loader is None:
                raise CannotStartError(MSG_NO_SETTINGS)
            self.practice = Practice.start(_settings_loader())
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

        # the Gatekeeper checked the token of this very request and left its owner here
        principal = ctx.request.scope.get(PRINCIPAL_KEY) or self.practice.tokens.lookup(
            bearer_token(ctx.request.headers)
        )
        try:
            if principal is None:  # the Gatekeeper already refused; never reached in practice
                raise RefusalError(401, "a valid bearer token is required")
            return work(principal)
        except SuspendedError as suspended:  # a switched-off model: retry after the recheck
            ctx.response.status_code = 503
            return cast(
                T,
                JSONResponse(
                    suspended.body(),
                    status_code=503,
                    headers={"Retry-After": str(suspended.retry_after)},
                ),
            )
        except RefusalError as refusal:
            ctx.response.status_code = refusal.status
            return cast(T, JSONResponse(refusal.body(), status_code=refusal.status))
        except LogBusyError:  # nothing is answered that the access log could not record
            ctx.response.status_code = 503
            return cast(
                T,
                JSONResponse(
                    {"error": LOG_BUSY}, status_code=503, headers={"Retry-After": RETRY_SECONDS}
                ),
            )

    def __is_ready__(self) -> bool:
        """Ready while no loaded model version is switched off (BentoML's ``/readyz``)."""
        return not self.practice.suspension_words()

    @bentoml.api
    def explain(
        self, person_id: PersonId, purpose: Purpose, ctx: bentoml.Context
    ) -> ExplainResponse:
        """Why is this young person flagged? Their cohort (already known to services for
        serious violence, or no serious-violence record yet) and, for both outcomes, their
        place on this month's list (named within capacity, or not), probability, band and
        its meaning, reasons, protective factors, data freshness, model version, caveat.
        `purpose` (why you are looking) is required and is written to the access log."""
        return self._answer(
            ctx,
            lambda who: self.practice.explain(who, normalise_person_id(person_id), purpose.strip()),
        )

    @bentoml.api
    def score(
        self,
        rows: Annotated[list[FeatureRecord], Field(min_length=1, max_length=MAX_SCORE_ROWS)],
        ctx: bentoml.Context,
    ) -> ScoreResponse:
        """Probability and band of each outcome for rows of model inputs (every model
        feature, a number within its domain or null). Rows that do not match, and values
        outside their domain, are named in a 422."""

        def work(who: Any) -> ScoreResponse:
            # the role first (the practice refuses and records it), then the domains
            problems = out_of_domain(rows) if who.role in SCORE_ROLES else []
            if problems:
                raise RefusalError(
                    422,
                    f"{len(problems)} value(s) outside their domain — "
                    + "; ".join(message for _, message in problems[:5]),
                    [field for field, _ in problems],
                )
            return cast(ScoreResponse, self.practice.score(who, rows))

        return self._answer(ctx, work)

    @bentoml.api
    def feedback(
        self,
        person_id: PersonId,
        outcome: Outcome,
        agrees: StrictBool,
        reason_code: ReasonCode,
        ctx: bentoml.Context,
        text: FeedbackText = "",
    ) -> FeedbackReceipt:
        """Record whether you agree with one outcome's explanation, with a reason code
        that goes with it: `matches professional judgement`, `already known and supported`
        or `other` when you agree; `information out of date`, `information incorrect`,
        `disagree with risk level`, `important context not recorded` or `other` when you
        do not (anything else is refused with a 422 naming `reason_code`)."""

        def work(who: Any) -> FeedbackReceipt:
            mismatch = reason_mismatch(agrees, reason_code)
            if mismatch is not None:
                raise RefusalError(422, mismatch, ["reason_code"])
            return cast(
                FeedbackReceipt,
                self.practice.feedback(
                    who,
                    person_id=normalise_person_id(person_id),
                    outcome=outcome,
                    agrees=agrees,
                    reason_code=reason_code,
                    text=text.strip(),
                ),
            )

        return self._answer(ctx, work)

    @bentoml.api
    async def ping(self) -> PingResponse:
        """Authenticated no-op: the framework's own cost (the benchmark's floor)."""
        return PingResponse(ok=True)


def current_practice() -> Practice | None:
    """The running service's :class:`Practice`, or ``None`` while it is starting."""
    try:
        return cast(VruRisk, bentoml.get_current_service()).practice
    except Exception:
        return None


# outermost first: the Gatekeeper refuses before anything else runs (the cached
# OpenAPI document included); no body is read beyond the limit
_service: Any = VruRisk  # a bentoml Service at runtime; typed as the class for mypy
_service.add_asgi_middleware(Gatekeeper, practice=current_practice)
_service.add_asgi_middleware(BodyLimit)
_service.add_asgi_middleware(HonestErrors, practice=current_practice)
