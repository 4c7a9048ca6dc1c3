"""What the service holds while it runs: the champion of each outcome and the snapshot.

Loaded once at start and pinned: the registry may move on (a new champion), the
running service keeps answering with the versions it loaded and reports them in
every response. Anything that would make answers wrong stops the start with a
one-line :class:`CannotStartError`: no champion, a version whose fairness verdict does not
allow release, a model that does not load, a snapshot missing the model's inputs.

Data freshness: the snapshot holds features, not raw tables. For each source the
service reports the latest record date implied by the snapshot's support columns
(``as_of − min(days since the latest matching record)`` over everyone on it):
the newest record of that source that reached anyone's features. It is a lower
bound on the true extract date — a source whose newest rows are of a kind no
feature counts would look older — and ``docs/serving.md`` says so.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["CannotStartError", "Champion", "Snapshot", "load_champions"]

KEY_COLUMNS = ("person_id", "as_of", "local_authority")


class CannotStartError(RuntimeError):
    """The service cannot start (or answer) honestly; the message is one line."""


@dataclass(frozen=True)
class Champion:
    """A pinned, releasable model version of one outcome."""

    outcome: str
    name: str
    version: str
    verdict: str
    model: Any  # models.risk_model.RiskModel
    card: str

    @property
    def features(self) -> list[str]:
        return list(self.model.bundle.features)

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_champions(tracking_uri: str, outcomes: Sequence[str]) -> dict[str, Champion]:
    """The ``champion`` of ``vru-<outcome>`` for each outcome (or :class:`CannotStartError`)."""
    import mlflow

    from fairness.status import releasable, release_verdict

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    champions = {}
    for outcome in outcomes:
        name = f"vru-{outcome}"
        try:
            mv = client.get_model_version_by_alias(name, "champion")
        except Exception as exc:
            raise CannotStartError(
                f"no champion for {name} in {tracking_uri} ({_first_line(exc)}); "
                "train, gate and promote one first (vru train, vru fairness gate, vru promote)"
            ) from None
        verdict = release_verdict(mv.tags)
        if not releasable(mv.tags):
            raise CannotStartError(
                f"{name} version {mv.version} is champion but its fairness verdict is "
                f"'{verdict}': only a pass or a recorded override may be served"
            )
        try:
            model = mlflow.pyfunc.load_model(f"models:/{name}/{mv.version}").unwrap_python_model()
        except Exception as exc:
            raise CannotStartError(
                f"cannot load {name} version {mv.version}: {_first_line(exc)}"
            ) from None
        if getattr(model, "bundle", None) is None:
            raise CannotStartError(f"{name} version {mv.version} is not a RiskModel with a bundle")
        _one_thread_per_request(model)
        champions[outcome] = Champion(
            outcome, name, str(mv.version), verdict, model, _model_card(client, mv.run_id)
        )
    return champions


def _one_thread_per_request(model: Any) -> None:
    """Predict each request on one thread: the service runs requests in parallel, and for a
    one-row prediction LightGBM's OpenMP start-up costs more than the trees (several ms on a
    busy machine). Outputs are unchanged."""
    booster_model = getattr(model.bundle.estimator, "model_", None)
    if booster_model is not None and hasattr(booster_model, "set_params"):
        booster_model.set_params(n_jobs=1)


def _model_card(client: Any, run_id: str | None) -> str:
    import tempfile

    if not run_id:
        return "No model card: the version has no training run."
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = client.download_artifacts(run_id, "model_card.md", tmp)
            return Path(path).read_text(encoding="utf-8")
    except Exception as exc:
        return f"No model card found in training run {run_id} ({_first_line(exc)})."


def _freshness(frame: pd.DataFrame, as_of: dt.date) -> dict[str, dt.date]:
    from features.registry import REGISTRY, support_columns

    by_source: dict[str, list[str]] = {}
    for column in support_columns():
        if column in frame.columns:
            by_source.setdefault(str(REGISTRY[column].source), []).append(column)
    fresh = {}
    for source, columns in sorted(by_source.items()):
        days = frame[columns].min(skipna=True).min(skipna=True)
        if days is not pd.NA and not (isinstance(days, float) and math.isnan(days)):
            fresh[source] = as_of - dt.timedelta(days=int(days))
    return fresh


class Snapshot:
    """The latest as-of of a feature table, indexed by person, with per-source freshness."""

    def __init__(self, path: Path, frame: pd.DataFrame, as_of: dt.date) -> None:
        from features.registry import support_columns

        self.path = path
        self.as_of = as_of
        frame = frame.reset_index(drop=True)
        self.person_ids = frame["person_id"].astype(str).to_numpy(dtype=object)
        self.positions = {p: i for i, p in enumerate(self.person_ids)}
        self.areas = frame["local_authority"].astype(str).to_numpy(dtype=object)
        self.freshness = _freshness(frame, as_of)
        # one float matrix of what explanations read (inputs and the dates behind them):
        # a one-row frame cut from it costs microseconds, not the milliseconds of slicing a
        # wide frame of nullable and Arrow-backed columns
        support = set(support_columns())
        self.columns = [
            c
            for c in frame.columns
            if c not in KEY_COLUMNS and (c in support or pd.api.types.is_numeric_dtype(frame[c]))
        ]
        self.values = frame[self.columns].to_numpy(dtype=float, na_value=np.nan)
        self._as_of = pd.Timestamp(as_of)
        # the column index built once (object dtype: a one-row frame on Arrow-string columns,
        # pandas 3's default, costs half as much again to build)
        self._columns = pd.Index(self.columns, dtype=object)

    def __len__(self) -> int:
        return len(self.person_ids)

    @classmethod
    def load(cls, path: Path, features: Sequence[str]) -> Snapshot:
        """Read the Parquet snapshot; refuse one that lacks a model input or a key column."""
        import pyarrow.parquet as pq

        from features.build import to_frame

        if not path.exists():
            raise CannotStartError(f"no feature snapshot at {path} (make one with vru features)")
        try:
            schema = pq.read_schema(path)
        except Exception as exc:
            raise CannotStartError(f"cannot read the snapshot {path}: {_first_line(exc)}") from None
        needed = [*KEY_COLUMNS, *features]
        missing = [c for c in needed if c not in schema.names]
        if missing:
            raise CannotStartError(
                f"the snapshot {path} does not match the model: it lacks {len(missing)} "
                f"column(s) the model needs, e.g. {', '.join(missing[:3])}"
            )
        from features.registry import AUDIT_ONLY

        keep = [c for c in schema.names if c not in AUDIT_ONLY or c == "local_authority"]
        frame = to_frame(pq.read_table(path, columns=keep))
        if frame.empty:
            raise CannotStartError(f"the snapshot {path} has no rows")
        as_of = pd.Timestamp(frame["as_of"].max()).date()
        latest = frame[frame["as_of"].dt.date == as_of]
        if latest["person_id"].duplicated().any():
            raise CannotStartError(
                f"the snapshot {path} has more than one row per person on {as_of}"
            )
        return cls(path, latest, as_of)

    def row(self, person_id: str) -> pd.DataFrame | None:
        """The person's row as a one-row frame, or ``None`` if they are not on the snapshot."""
        position = self.positions.get(person_id)
        if position is None:
            return None
        row = pd.DataFrame(self.values[position : position + 1], columns=self._columns)
        row.insert(0, "as_of", [self._as_of])
        row.insert(0, "person_id", [person_id])
        return row

    def area(self, person_id: str) -> str | None:
        position = self.positions.get(person_id)
        return None if position is None else str(self.areas[position])


def _finite(value: float) -> bool:
    try:
        return math.isfinite(float(value))
    except (OverflowError, TypeError, ValueError):
        return False


def rows_frame(
    rows: Sequence[Mapping[str, float | None]], features: Sequence[str]
) -> tuple[pd.DataFrame | None, list[str]]:
    """Feature records as a float frame, or the problems found, one string per bad row."""
    wanted = set(features)
    problems = []
    for i, row in enumerate(rows):
        missing = [f for f in features if f not in row]
        unknown = sorted(k for k in row if k not in wanted)
        bad = sorted(k for k, v in row.items() if v is not None and not _finite(v))
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} feature(s): {', '.join(missing[:5])}")
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
    return pd.DataFrame(values, columns=list(features)), []


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


#: the most rows one /score call may carry
MAX_SCORE_ROWS = 1000
_NOT_FOUND = (
    "no young person with this person_id on the snapshot of {as_of} "
    "(not resident, not aged 10–24, or mistyped)"
)
_OTHER_AREA = (
    "a {role} may only see young people of their own local authority ({la}); "
    "this refusal has been recorded in the access log"
)


class Practice:
    """The service's work with its rules: who may see what, and a log row for every access.

    Holds the pinned champions, the snapshot, the token store and the access log.
    The HTTP layer (:mod:`serving.service`) and the web page both call it.
    """

    def __init__(
        self,
        champions: Mapping[str, Champion],
        snapshot: Snapshot,
        tokens: Any,
        access_log: Any,
    ) -> None:
        self.champions = dict(champions)
        self.snapshot = snapshot
        self.tokens = tokens  # serving.auth.TokenStore
        self.log = access_log  # serving.access_log.AccessLog
        features: list[str] = []
        for champion in self.champions.values():
            features += [f for f in champion.features if f not in features]
        self.features = features
        self.versions = ",".join(c.label for c in self.champions.values())

    @classmethod
    def start(cls, settings: Any) -> Practice:
        """Load everything the settings name, or raise :class:`CannotStartError` (one line)."""
        from serving.access_log import AccessLog
        from serving.auth import TokenStore
        from training.train import OUTCOMES

        champions = load_champions(settings.tracking_uri(), list(OUTCOMES))
        features: list[str] = []
        for champion in champions.values():
            features += [f for f in champion.features if f not in features]
        snapshot = Snapshot.load(settings.resolve(settings.snapshot_path), features)
        tokens_path = settings.resolve(settings.tokens_path)
        if not tokens_path.exists():
            raise CannotStartError(
                f"no token file at {tokens_path}: issue one with "
                "vru tokens add USER --role ROLE --la LA"
            )
        try:
            log = AccessLog(settings.resolve(settings.access_log_path))
        except Exception as exc:
            raise CannotStartError(f"cannot open the access log: {_first_line(exc)}") from None
        return cls(champions, snapshot, TokenStore(tokens_path), log)

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
        """Refuse (and log) a person who is not on the snapshot or not the caller's to see."""
        from serving.auth import may_see

        area = self.snapshot.area(person_id)
        if area is None:
            self.log.record(
                self._entry(principal, action, "not found", person_id=person_id, **fields)
            )
            raise RefusalError(404, _NOT_FOUND.format(as_of=self.snapshot.as_of), ["person_id"])
        if not may_see(principal, area):
            self.log.record(
                self._entry(
                    principal,
                    action,
                    "denied",
                    person_id=person_id,
                    detail=f"person recorded in {area}",
                    **fields,
                )
            )
            raise RefusalError(403, _OTHER_AREA.format(role=principal.role, la=principal.la))

    # -- the work ----------------------------------------------------------------------
    def explain(self, principal: Any, person_id: str, purpose: str) -> Any:
        """Both outcomes' explanations for one young person (an ``ExplainResponse``)."""
        from models.reasons import CAVEAT
        from serving.schemas import ExplainResponse, OutcomeExplanation

        fields = {"purpose": purpose, "outcome": ",".join(self.champions)}
        self._locate(principal, "explain", person_id, model_version=self.versions, **fields)
        row = self.snapshot.row(person_id)
        assert row is not None  # _locate checked
        as_of = self.snapshot.as_of.isoformat()
        outcomes = {}
        for outcome, champion in self.champions.items():
            (explanation,) = champion.model.explain(row, data_as_of=self.snapshot.freshness)
            data = explanation.to_dict()
            for key in ("person_id", "as_of", "outcome"):
                data.pop(key)
            outcomes[outcome] = OutcomeExplanation(
                outcome=outcome,
                model=champion.name,
                model_version=champion.version,
                fairness_verdict=champion.verdict,
                snapshot_as_of=as_of,
                **data,
            )
        self.log.record(
            self._entry(
                principal, "explain", "allowed", person_id=person_id,
                model_version=self.versions, **fields,
            )
        )  # fmt: skip
        return ExplainResponse(
            person_id=person_id,
            local_authority=str(self.snapshot.area(person_id)),
            purpose=purpose,
            snapshot_as_of=as_of,
            outcomes=outcomes,
            caveat=CAVEAT,
        )

    def score(self, principal: Any, rows: Sequence[Mapping[str, float | None]]) -> Any:
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
        frame, problems = rows_frame(rows, self.features)
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
