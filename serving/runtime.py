"""What the service does while it runs: who may see what, and a log row for every access.

:class:`Practice` holds what the service loaded at start (:mod:`serving.startup`:
the pinned champions, the snapshot, this month's panel lists drawn from it and, when
set, an earlier snapshot to say what changed since), the token store and the access
log, and answers explain, score, feedback and model-card requests by its rules. The
HTTP layer (:mod:`serving.service`) and the web page both call it.

The versions are pinned, but their release status is not: a version can be suspended
after release (:meth:`models.registry.Registry.suspend`). :meth:`Practice.refuse_if_suspended`
re-reads the status of the pinned versions when its last reading is older than
``settings.status_recheck_seconds`` (at most a minute; one reader at a time, never on
every request), and while one is suspended explain, score and feedback are refused with
:class:`SuspendedError` (503, the suspension's sentence).

The same reading keeps each pinned version's latest monitoring note
(:meth:`models.registry.Registry.note_monitoring`): while one is amber or red the service
still answers, and the page and each explanation carry the note
(:meth:`Practice.monitoring_words`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.vocabulary import COHORTS, LISTS
from serving.startup import (
    CannotStartError,
    Champion,
    ListPlace,
    PanelLists,
    Snapshot,
    first_line,
    load_champions,
)

__all__ = [
    "LIST_NAMES",
    "MAX_SCORE_ROWS",
    "CannotStartError",
    "Champion",
    "ListPlace",
    "PanelLists",
    "Practice",
    "RefusalError",
    "Snapshot",
    "SuspendedError",
    "calibrated_by",
    "list_next_step",
    "list_sentence",
    "load_champions",
    "rows_frame",
]


def _finite(value: float) -> bool:
    try:
        return math.isfinite(float(value))
    except (OverflowError, TypeError, ValueError):
        return False


def rows_frame(
    rows: Sequence[Mapping[str, float | str | None]],
    features: Sequence[str],
    texts: Sequence[str] = (),
) -> tuple[pd.DataFrame | None, list[str]]:
    """Feature records as a float frame (and the ``texts`` columns the models calibrate
    by, as text), or the problems found, one string per bad row."""
    wanted = set(features) | set(texts)
    problems = []
    for i, row in enumerate(rows):
        missing = [f for f in features if f not in row]
        uncalibrated = [t for t in texts if row.get(t) is None]
        unknown = sorted(k for k in row if k not in wanted)
        bad = sorted(
            k
            for k, v in row.items()
            if k not in texts and v is not None and (isinstance(v, str) or not _finite(v))
        )
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} feature(s): {', '.join(missing[:5])}")
        if uncalibrated:
            parts.append(
                f"missing {' and '.join(uncalibrated)} (female or male), which the estimate "
                "is calibrated by"
            )
        if unknown:
            parts.append(f"unknown field(s): {', '.join(unknown[:5])}")
        if bad:
            parts.append(f"non-finite value(s): {', '.join(bad[:5])}")
        if parts:
            problems.append(f"row {i}: " + "; ".join(parts))
    if problems:
        return None, problems
    values = np.full((len(rows), len(features)), np.nan)
    for i, row in enumerate(rows):
        for j, name in enumerate(features):
            value = row[name]
            if value is not None:
                values[i, j] = float(value)
    frame = pd.DataFrame(values, columns=list(features))
    for column in texts:
        frame[column] = [str(row[column]) for row in rows]
    return frame, []


class RefusalError(Exception):
    """A request the service answers with a 4xx: status, one-line message, named fields."""

    def __init__(self, status: int, message: str, fields: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = list(fields)

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.message}
        if self.fields:
            body["fields"] = self.fields
        return body


logger = logging.getLogger("vru.serving")
#: how often the release status is re-read when the settings do not say (seconds)
STATUS_RECHECK_SECONDS = 60.0


class SuspendedError(RefusalError):
    """A loaded model version is switched off: answered 503 with its sentence, and a
    ``Retry-After`` of the recheck interval (a reinstatement is obeyed within it)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(503, message)
        self.retry_after = max(1, math.ceil(retry_after))


#: the most rows one /score call may carry
MAX_SCORE_ROWS = 1000
_NOT_FOUND = (
    "no young person with this person_id on the snapshot of {as_of} "
    "(not resident, not aged 10–24, or mistyped)"
)
#: a local role's answer both for an unknown id and for a young person of another local
#: authority: one status and one sentence, so it cannot tell who lives elsewhere (the
#: access log still records which it was)
_NOT_ON_YOUR_RECORDS = (
    "no young person with this person_id on {la}'s records as of {as_of} "
    "(not resident in {la}, not aged 10–24, or mistyped): check the ID"
)


#: how a practitioner's sentence names each list ("on Bristol's early-help list")
LIST_NAMES = {"known": "list", "early": "early-help list"}


def list_sentence(place: ListPlace) -> str:
    """Where a young person stands on this month's list, in plain words.

    ``No serious-violence record yet — on Bristol's early-help list this month (number 4
    of 20).`` or ``Already known to services for serious violence — not among the 50 on
    Bristol's list this month.``
    """
    title = COHORTS[place.cohort].title
    lead = title[:1].upper() + title[1:]
    where = f"{place.local_authority}'s {LIST_NAMES[place.list_key]}"
    if place.rank is not None:
        return f"{lead} — on {where} this month (number {place.rank} of {place.capacity})."
    if place.capacity == 0:
        return f"{lead} — {where} has no places this month."
    among = "the one young person" if place.capacity == 1 else f"among the {place.capacity}"
    return f"{lead} — not {among} on {where} this month."


def list_next_step(place: ListPlace) -> str:
    """What the list place means for the young person, and what a worried professional can do."""
    if place.named:
        return (
            "Their name goes to the panel this month, so it can look at what support "
            "could help them."
        )
    return (
        "Their name does not go to the panel this month. If you are worried about them, "
        "you can still raise it through your usual safeguarding route."
    )


def calibrated_by(champions: Mapping[str, Champion]) -> list[str]:
    """The columns besides the features the champions' estimates are calibrated by (sex),
    each once."""
    return list(dict.fromkeys(c for ch in champions.values() for c in ch.calibration_columns))


def model_inputs(champions: Mapping[str, Champion]) -> list[str]:
    """Every champion's input columns, each once, in first-seen order."""
    features: list[str] = []
    for champion in champions.values():
        features += [f for f in champion.features if f not in features]
    return features


class Practice:
    """The service's work with its rules: who may see what, and a log row for every access.

    Holds the pinned champions, the snapshot, this month's panel lists, the token
    store and the access log. The HTTP layer (:mod:`serving.service`) and the web
    page both call it.
    """

    def __init__(
        self,
        champions: Mapping[str, Champion],
        snapshot: Snapshot,
        tokens: Any,
        access_log: Any,
        lists: PanelLists,
        previous: Snapshot | None = None,
        settings: Any = None,
    ) -> None:
        self.champions = dict(champions)
        self.snapshot = snapshot
        self.lists = lists
        #: an earlier snapshot: explanations say what changed since its as-of date
        self.previous = previous
        #: the settings it started with (the web page reads its session settings there)
        self.settings = settings
        self.tokens = tokens  # serving.auth.TokenStore
        self.log = access_log  # serving.access_log.AccessLog
        self.features = model_inputs(self.champions)
        #: what a /score row holds besides the features: the calibration attributes (sex)
        self.texts = calibrated_by(self.champions)
        self.versions = ",".join(c.label for c in self.champions.values())
        #: the pinned versions that are switched off, by outcome (re-read by
        #: :meth:`refresh_status`); none at start (:func:`load_champions` refuses them)
        self.suspensions: dict[str, Any] = {
            o: c.suspension for o, c in self.champions.items() if c.suspension is not None
        }
        #: each pinned version's latest monitoring note (any status), by outcome (re-read
        #: with the suspensions); none for a version never monitored
        self.monitoring: dict[str, Any] = {
            o: c.monitoring for o, c in self.champions.items() if c.monitoring is not None
        }
        self.recheck_seconds = float(
            getattr(settings, "status_recheck_seconds", None) or STATUS_RECHECK_SECONDS
        )
        self._status_lock = threading.Lock()
        self._status_read_at = time.monotonic()

    @classmethod
    def start(cls, settings: Any) -> Practice:
        """Load everything the settings name, or raise :class:`CannotStartError` (one line)."""
        from features.vocabulary import OUTCOMES
        from serving.access_log import AccessLog
        from serving.auth import TokenStore

        champions = load_champions(settings.tracking_uri(), list(OUTCOMES))
        texts = calibrated_by(champions)
        snapshot = Snapshot.load(
            settings.resolve(settings.snapshot_path), model_inputs(champions), texts
        )
        # drawn once, here: every request reads the same lists the panels get
        lists = PanelLists.draw(champions, snapshot, settings.panel_capacity)
        previous = None
        if settings.previous_snapshot_path is not None:
            previous = Snapshot.load(
                settings.resolve(settings.previous_snapshot_path), model_inputs(champions), texts
            )
            if previous.as_of >= snapshot.as_of:
                raise CannotStartError(
                    f"the previous snapshot ({previous.as_of}) is not earlier than the "
                    f"snapshot ({snapshot.as_of}): give last month's as the previous one"
                )
        tokens_path = settings.resolve(settings.tokens_path)
        if not tokens_path.exists():
            raise CannotStartError(
                f"no token file at {tokens_path}: issue one with "
                "vru tokens add USER --role ROLE --la LA"
            )
        try:
            log = AccessLog(*settings.access_log_files())
            log.anchor("service start")
        except Exception as exc:
            raise CannotStartError(f"cannot open the access log: {first_line(exc)}") from None
        return cls(
            champions, snapshot, TokenStore(tokens_path), log, lists, previous, settings=settings
        )

    # -- release status ----------------------------------------------------------------
    def refresh_status(self, *, force: bool = False) -> None:
        """Re-read the release status and monitoring notes of the pinned versions if the last
        reading is older than :attr:`recheck_seconds` (or ``force``).

        One thread reads while the others go on with the last reading; a reading that
        fails (the registry unreachable, its tags disagreeing with the release ledger)
        keeps the last one and is logged, and is tried again on the next request.
        """
        if self.settings is None:  # no tracking store to read (a Practice built by hand)
            return
        if not force and time.monotonic() - self._status_read_at < self.recheck_seconds:
            return
        if not self._status_lock.acquire(blocking=False):
            return  # another request is reading it now
        try:
            if not force and time.monotonic() - self._status_read_at < self.recheck_seconds:
                return
            self.suspensions, self.monitoring = self._read_suspensions()
            self._status_read_at = time.monotonic()
        except Exception as exc:  # keep serving by the last reading; say so in the log
            logger.warning("could not re-read the release status: %s", first_line(exc))
        finally:
            self._status_lock.release()

    def _read_suspensions(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The pinned versions' suspensions and monitoring notes, by outcome, from their
        tags (checked against the release ledger)."""
        from models.registry import Registry, monitoring_of, suspension_of

        registry = Registry(self.settings.tracking_uri())
        found, notes = {}, {}
        for outcome, champion in self.champions.items():
            tags = registry.tags(outcome, champion.version)  # checked against the ledger
            suspension = suspension_of(outcome, champion.version, tags)
            if suspension is not None:
                found[outcome] = suspension
            note = monitoring_of(outcome, champion.version, tags)
            if note is not None:
                notes[outcome] = note
        for outcome in set(found) - set(self.suspensions):
            logger.warning("%s is switched off: answers are refused", self.champions[outcome].label)
        for outcome in set(self.suspensions) - set(found):
            logger.warning("%s is reinstated: answering again", self.champions[outcome].label)
        return found, notes

    def suspension_words(self) -> list[str]:
        """The sentence of each switched-off version (status re-read when due): what the
        page's banner says; empty while every version is in use."""
        self.refresh_status()
        return [s.words() for s in dict(self.suspensions).values()]

    def monitoring_words(self, *, refresh: bool = True) -> list[str]:
        """The note of each version in use whose latest monitoring is amber or red (status
        re-read when due, unless ``refresh`` is false): what the page's amber notice
        says; empty when every note is green or there is none. A switched-off version's
        note is left to its suspension banner."""
        if refresh:
            self.refresh_status()
        notes, suspended = dict(self.monitoring), dict(self.suspensions)
        return [n.words() for o, n in notes.items() if n.amber and o not in suspended]

    def refuse_if_suspended(self) -> None:
        """Raise :class:`SuspendedError` while a pinned version is switched off."""
        words = self.suspension_words()
        if words:
            raise SuspendedError(" ".join(words), self.recheck_seconds)

    # -- rules and logging -------------------------------------------------------------
    def _entry(self, principal: Any, action: str, decision: str, **fields: Any) -> Any:
        from serving.access_log import Entry

        return Entry(
            action=action,
            decision=decision,
            user=principal.user,
            role=principal.role,
            la=principal.la,
            **fields,
        )

    def _locate(self, principal: Any, action: str, person_id: str, **fields: Any) -> None:
        """Refuse (and log) a person who is not on the snapshot or not the caller's to see.

        Both refusals are the same 404 with the same words, so a practitioner cannot learn
        that a young person lives in another area; the log row records the true decision
        (``not found``, or ``denied`` with the area the person is recorded in).
        """
        from serving.auth import LOCAL_ROLES, may_see

        area = self.snapshot.area(person_id)
        if area is not None and may_see(principal, area):
            return
        if area is None:
            entry = self._entry(principal, action, "not found", person_id=person_id, **fields)
        else:
            detail = f"person recorded in {area}"
            entry = self._entry(
                principal, action, "denied", person_id=person_id, detail=detail, **fields
            )
        self.log.record(entry)
        words = _NOT_ON_YOUR_RECORDS if principal.role in LOCAL_ROLES else _NOT_FOUND
        raise RefusalError(
            404, words.format(la=principal.la, as_of=self.snapshot.as_of), ["person_id"]
        )

    # -- the work ----------------------------------------------------------------------
    def explain(self, principal: Any, person_id: str, purpose: str) -> Any:
        """Both outcomes' explanations for one young person (an ``ExplainResponse``)."""
        from models.changes import attach_changes, changes_of_record
        from models.reasons import CAVEAT
        from models.risk_model import one_request
        from serving.schemas import CohortOut, ExplainResponse, MonitoringOut, OutcomeExplanation

        self.refuse_if_suspended()  # nothing is looked up with a switched-off model
        fields = {"purpose": purpose, "outcome": ",".join(self.champions)}
        self._locate(principal, "explain", person_id, model_version=self.versions, **fields)
        # the access is decided: its row is written and synced while the explanations are
        # worked out, and the answer waits for it (nothing is answered that is not on disk)
        written = self.log.submit(
            self._entry(
                principal, "explain", "allowed", person_id=person_id,
                model_version=self.versions, **fields,
            )
        )  # fmt: skip
        row = self.snapshot.record(person_id)
        assert row is not None  # _locate checked
        cohort = COHORTS[str(self.lists.cohort(person_id))]
        as_of = self.snapshot.as_of.isoformat()
        previous = self.previous
        before = None if previous is None else previous.record(person_id)
        notes = dict(self.monitoring)  # as read with the status check above
        outcomes = {}
        for outcome, champion in self.champions.items():
            # one row, the model's single-row path: the explanation a one-row frame gets,
            # the row scored once for its explanation and what changed
            with one_request():
                explanation = champion.model.explain_record(row, data_as_of=self.snapshot.freshness)
                if previous is not None and before is not None:
                    # the same model on the records as they stood on the previous as-of date
                    changed = changes_of_record(
                        champion.model, row, before,
                        as_of=self.snapshot.as_of, since=previous.as_of,
                    )  # fmt: skip
                    (explanation,) = attach_changes([explanation], {person_id: changed})
            data = explanation.to_dict()
            for key in ("person_id", "as_of", "outcome"):
                data.pop(key)
            outcomes[outcome] = OutcomeExplanation(
                outcome=outcome,
                model=champion.name,
                model_version=champion.version,
                fairness_verdict=champion.verdict,
                snapshot_as_of=as_of,
                panel_list=self._place(outcome, person_id),
                estimate=explanation.estimate_sentence(),
                monitoring=(
                    MonitoringOut(status=note.status, as_of=note.as_of, words=note.words())
                    if (note := notes.get(outcome)) is not None and note.amber
                    else None
                ),
                **data,
            )
        written.wait()  # LogBusyError when it could not be written: a 503, nothing shown
        return ExplainResponse(
            person_id=person_id,
            local_authority=str(self.snapshot.area(person_id)),
            purpose=purpose,
            snapshot_as_of=as_of,
            cohort=CohortOut(key=cohort.key, title=cohort.title),
            outcomes=outcomes,
            caveat=CAVEAT,
        )

    def _place(self, outcome: str, person_id: str) -> Any:
        """The young person's own place on this month's list of ``outcome`` (a
        ``PanelListPlace``): never anyone else's."""
        from serving.schemas import PanelListPlace

        place = self.lists.place(outcome, person_id)
        assert place is not None  # _locate checked
        return PanelListPlace(
            list_key=place.list_key,
            list_title=LISTS[place.list_key].list_title,
            local_authority=place.local_authority,
            capacity=place.capacity,
            named=place.named,
            rank=place.rank,
            lists_as_of=place.as_of.isoformat(),
            sentence=list_sentence(place),
            next_step=list_next_step(place),
        )

    def score(self, principal: Any, rows: Sequence[Mapping[str, float | str | None]]) -> Any:
        """Probability and band of each outcome for each row of model inputs."""
        from serving.auth import SCORE_ROLES
        from serving.schemas import OutcomeScore, RowScore, ScoreResponse

        fields = {
            "purpose": "score feature rows",
            "outcome": ",".join(self.champions),
            "model_version": self.versions,
        }
        if principal.role not in SCORE_ROLES:
            self.log.record(
                self._entry(principal, "score", "denied", detail="role may not score", **fields)
            )
            raise RefusalError(
                403,
                f"a {principal.role} may not score feature rows (roles allowed: "
                f"{', '.join(sorted(SCORE_ROLES))}); this refusal has been recorded",
            )
        self.refuse_if_suspended()
        frame, problems = rows_frame(rows, self.features, self.texts)
        if frame is None:
            raise RefusalError(
                422,
                f"{len(problems)} row(s) do not match the model's feature list: "
                + " | ".join(problems[:5]),
                [p.split(":")[0] for p in problems],
            )
        predictions = {o: c.model.predict(None, frame) for o, c in self.champions.items()}
        results = [
            RowScore(
                row=i,
                scores={
                    o: OutcomeScore(
                        probability=float(p["probability"].iloc[i]), band=str(p["band"].iloc[i])
                    )
                    for o, p in predictions.items()
                },
            )
            for i in range(len(frame))
        ]
        self.log.record(
            self._entry(principal, "score", "allowed", detail=f"{len(frame)} rows", **fields)
        )
        return ScoreResponse(
            results=results,
            model_versions={o: c.version for o, c in self.champions.items()},
            fairness_verdicts={o: c.verdict for o, c in self.champions.items()},
        )

    def feedback(
        self,
        principal: Any,
        *,
        person_id: str,
        outcome: str,
        agrees: bool,
        reason_code: str,
        text: str,
    ) -> Any:
        """Store a practitioner's agreement or disagreement with one outcome's explanation."""
        from serving.schemas import FeedbackReceipt

        self.refuse_if_suspended()
        champion = self.champions[outcome]
        fields = {
            "purpose": "feedback",
            "outcome": outcome,
            "model_version": champion.label,
        }
        self._locate(principal, "feedback", person_id, **fields)
        feedback_id = self.log.record_feedback(
            self._entry(
                principal,
                "feedback",
                "allowed",
                person_id=person_id,
                detail=f"agrees={str(agrees).lower()}; {reason_code}",
                **fields,
            ),
            agrees=agrees,
            reason_code=reason_code,
            text=text,
        )
        return FeedbackReceipt(
            feedback_id=feedback_id,
            person_id=person_id,
            outcome=outcome,
            model_version=champion.version,
            stored=True,
        )

    def model_card(self) -> Any:
        from serving.schemas import BandOut, ModelCardResponse, OutcomeCard

        return ModelCardResponse(
            snapshot_as_of=self.snapshot.as_of.isoformat(),
            outcomes={
                o: OutcomeCard(
                    model=c.name,
                    model_version=c.version,
                    fairness_verdict=c.verdict,
                    features=len(c.features),
                    bands=[
                        BandOut(
                            name=b.name,
                            lower=b.lower,
                            observed_rate=b.observed_rate,
                            meaning=b.meaning(o),
                        )
                        for b in c.model.bundle.bands
                    ],
                    card_markdown=c.card,
                )
                for o, c in self.champions.items()
            },
        )
