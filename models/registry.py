"""The one gateway to the MLflow registry: names, loading, release status, promotion.

Training registers through it, the fairness gate records its verdict through it,
and the service, the monthly batch and the command line load released models
through it — so a model is named ``vru-<outcome>`` in one place, and the rule
"only a pass or a named override reaches people" is written once
(:func:`release_verdict`).

The release status is recorded in the release ledger (:mod:`models.ledger`: append-only,
keyed, anchored) and mirrored in model-version tags. Everything that uses a model's output
loads it through :meth:`Registry.load`, which refuses a version whose tags disagree with
the ledger, naming the difference: a verdict edited in the MLflow UI releases nothing.
Each version's description ends with its release status in words
(:func:`with_release_status`), rewritten at every decision; it informs, it never decides.

After release a version can be **suspended** (:meth:`Registry.suspend`: switched off by a
monitoring check or by its senior responsible owner) and **reinstated**
(:meth:`Registry.reinstate`: a named person and a reason, like an override). Both are
ledger entries like every other decision; a suspended version keeps its fairness verdict
but is not releasable, and every check that releases a version refuses it with the
sentence of :meth:`Suspension.words`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from features.vocabulary import outcome as outcome_named
from models.ledger import LedgerError, ReleaseLedger, ledger_path_for

__all__ = [
    "CANDIDATE",
    "CHAMPION",
    "GATE_TAG",
    "RELEASABLE",
    "RELEASE_STATUS",
    "STATUS_TAG",
    "SUSPENDED",
    "TRUTH_GATE_TAG",
    "MonitoringNote",
    "PromotionRefusedError",
    "Registry",
    "RegistryError",
    "Released",
    "StatusRefusedError",
    "Suspension",
    "configure_tracking",
    "is_release_tag",
    "model_name",
    "monitoring_of",
    "releasable",
    "release_status_text",
    "release_verdict",
    "suspension_of",
    "with_release_status",
]

CANDIDATE = "candidate"
CHAMPION = "champion"
#: model-version tag holding the gate's verdict: "not run", "pass", "fail" (or "error")
GATE_TAG = "fairness_gate"
#: the same gate against the synthetic truth, where one was run: a failure there also blocks
TRUTH_GATE_TAG = "fairness_gate_truth"
POLICY_VERSION_TAG = "fairness_policy_version"
POLICY_HASH_TAG = "fairness_policy_sha256"
REPORT_TAG = "fairness_report"
APPROVER_TAG = "fairness_override_approver"
REASON_TAG = "fairness_override_reason"
OVERRIDE_TAG = "fairness_override"
OVERRIDE_AT_TAG = "fairness_override_at"
PROMOTED_AT_TAG = "promoted_at"
#: model-version tag saying whether a released version is switched off: "suspended" or
#: "active" (absent: never suspended)
STATUS_TAG = "release_status"
SUSPENDED = "suspended"
ACTIVE = "active"
#: the latest suspension (kept after a reinstatement, as its history)
SUSPENDED_CHECK_TAG = "suspended_check"
SUSPENDED_FIGURES_TAG = "suspended_figures"
SUSPENDED_AT_TAG = "suspended_at"
SUSPENDED_BY_TAG = "suspended_by"
SUSPENDED_REASON_TAG = "suspended_reason"
#: the latest reinstatement
REINSTATED_BY_TAG = "reinstated_by"
REINSTATED_REASON_TAG = "reinstated_reason"
REINSTATED_AT_TAG = "reinstated_at"
#: the latest monthly monitoring (vru monitor): not release status, not in the ledger —
#: what every pack and the practitioners' page show beside the estimates
MONITORING_STATUS_TAG = "monitoring_status"
MONITORING_AS_OF_TAG = "monitoring_as_of"
MONITORING_SUMMARY_TAG = "monitoring_summary"
MONITORING_PLAN_TAG = "monitoring_plan"
#: statuses a monitoring note may carry
MONITORING_STATUSES = ("green", "amber", "red")
#: the most a monitoring note's summary may say
MAX_SUMMARY = 1000
#: the most a suspension's figures may say (a short text, e.g. "PSI 0.41 in Bristol")
MAX_FIGURES = 200
#: verdicts that allow a version to become champion and to score people
RELEASABLE = ("pass", "override")
#: known verdicts that release nothing without a recorded override
NOT_RELEASED = ("fail", "too small", "insufficient evidence", "error")
#: the MLflow UI opens classic-ML experiments on runs and models, not its GenAI overview
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
#: where a version's description says its release status (rewritten at every decision)
RELEASE_STATUS = "**Release status:**"


class RegistryError(RuntimeError):
    """A model or version cannot be found or loaded (one line naming it)."""


class PromotionRefusedError(RuntimeError):
    """The version may not become champion (one line saying why)."""


class StatusRefusedError(RuntimeError):
    """A suspension or reinstatement cannot be recorded (one line saying why)."""


def is_release_tag(key: str) -> bool:
    """Is this model-version tag part of the release status (recorded in the ledger)?"""
    return key.startswith(("fairness_", "suspended_", "reinstated_")) or key in (
        PROMOTED_AT_TAG,
        STATUS_TAG,
    )


_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def _long_date(text: str) -> str:
    """``2026-12-03T09:00:00+00:00`` as ``3 December 2026`` (the text itself if unreadable)."""
    try:
        day = dt.date.fromisoformat(text[:10])
    except ValueError:
        return text or "an unrecorded date"
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


@dataclass(frozen=True)
class Suspension:
    """Why and since when a released version is switched off (from its tags)."""

    outcome: str
    version: str
    #: the monitoring check that found the problem ("inputs drift"), or the owner's own
    check: str
    #: the figures behind it in a short text ("PSI 0.41 in Bristol"); may be empty
    figures: str
    #: when (ISO date-time, UTC)
    at: str
    #: who or what switched it off ("vru monitor", or a person's name)
    by: str
    reason: str

    def words(self) -> str:
        """The suspension in a sentence for people: which model, since when, which check,
        why, and what can be done."""
        title = outcome_named(self.outcome).title
        figures = f" ({self.figures})" if self.figures else ""
        reason = self.reason.rstrip(". ")
        return (
            f"The estimate of the risk of {title} (model version {self.version}) was switched "
            f"off on {_long_date(self.at)} by {self.by}, after the check '{self.check}'"
            f"{figures}: {reason}. No estimates from it are given while it is switched off; "
            "the senior responsible owner can switch it back on once the problem is "
            "understood."
        )


@dataclass(frozen=True)
class MonitoringNote:
    """The latest month's monitoring of a released version (from its tags)."""

    outcome: str
    version: str
    #: ``green``, ``amber`` or ``red``
    status: str
    #: the month's as-of date (ISO)
    as_of: str
    #: the checks that are amber or red, in words (empty when all are green)
    summary: str
    #: the monitoring plan's version
    plan: str

    @property
    def amber(self) -> bool:
        """Is something amber or red (shown on every pack and page)?"""
        return self.status in ("amber", "red")

    def words(self) -> str:
        """The note in a sentence or two for a pack or the page."""
        title = outcome_named(self.outcome).title
        when = _long_date(self.as_of)
        if not self.amber:
            return (
                f"Monitoring of the estimate of the risk of {title} (model version "
                f"{self.version}) found nothing out of the ordinary in the month to {when}."
            )
        return (
            f"Monitoring of the estimate of the risk of {title} (model version {self.version}) "
            f"is {self.status} for the month to {when}: {self.summary.rstrip('. ')}. Read its "
            "estimates with this in mind; the monitoring report says more."
        )


def monitoring_of(outcome: str, version: str, tags: Mapping[str, str]) -> MonitoringNote | None:
    """The version's latest monitoring note, or ``None`` when it was never monitored."""
    status = tags.get(MONITORING_STATUS_TAG)
    if status not in MONITORING_STATUSES:
        return None
    return MonitoringNote(
        outcome=outcome,
        version=str(version),
        status=str(status),
        as_of=tags.get(MONITORING_AS_OF_TAG, ""),
        summary=tags.get(MONITORING_SUMMARY_TAG, ""),
        plan=tags.get(MONITORING_PLAN_TAG, ""),
    )


def suspension_of(outcome: str, version: str, tags: Mapping[str, str]) -> Suspension | None:
    """The version's suspension when its tags say it is switched off, else ``None``."""
    if tags.get(STATUS_TAG) != SUSPENDED:
        return None
    return Suspension(
        outcome=outcome,
        version=str(version),
        check=tags.get(SUSPENDED_CHECK_TAG, "") or "not recorded",
        figures=tags.get(SUSPENDED_FIGURES_TAG, ""),
        at=tags.get(SUSPENDED_AT_TAG, ""),
        by=tags.get(SUSPENDED_BY_TAG, "") or "an unrecorded person",
        reason=tags.get(SUSPENDED_REASON_TAG, "") or "no reason recorded",
    )


def model_name(outcome: str) -> str:
    """Registered name of an outcome's model: ``vru-victim``, ``vru-perpetrator``."""
    return outcome_named(outcome).registry_name


def release_verdict(tags: Mapping[str, str]) -> str:
    """``pass``, ``override`` (a failure released by a named approver), ``fail``, ``too small``
    (no enforced check of a list could be assessed: never a silent pass), ``insufficient
    evidence`` (some protected attribute could not be assessed at all), ``error`` or
    ``not run``.

    A pass against the recorded outcomes does not count when the same model failed
    against the synthetic truth: recording bias can make a biased model look fair.
    """
    gate = tags.get(GATE_TAG, "not run")
    if tags.get(TRUTH_GATE_TAG) in NOT_RELEASED and gate == "pass":
        gate = tags[TRUTH_GATE_TAG]
    if gate == "pass":
        return "pass"
    if tags.get(OVERRIDE_TAG) == "true" and tags.get(APPROVER_TAG) and tags.get(REASON_TAG):
        return "override"
    return gate if gate in NOT_RELEASED else "not run"


def releasable(tags: Mapping[str, str]) -> bool:
    """May this version's output reach practitioners and panels? (A releasable verdict, and
    not switched off.)"""
    return release_verdict(tags) in RELEASABLE and tags.get(STATUS_TAG) != SUSPENDED


def release_status_text(tags: Mapping[str, str]) -> str:
    """The release status of a version in a sentence or two, from its tags (Markdown)."""
    verdict = release_verdict(tags)
    gate = tags.get(GATE_TAG, "not run")
    if verdict == "not run" and gate == "not run":
        text = (
            "not yet audited. The fairness gate (`vru fairness gate`) must pass, or a named "
            "person must override it with a reason, before this version can become champion."
        )
    else:
        text = f"fairness gate **{gate}** against the recorded outcomes"
        if tags.get(TRUTH_GATE_TAG):
            text += f", **{tags[TRUTH_GATE_TAG]}** against the synthetic true outcomes"
        if tags.get(POLICY_VERSION_TAG):
            text += f" (policy {tags[POLICY_VERSION_TAG]})"
        if verdict == "override":
            text += (
                f". Released by override by {tags[APPROVER_TAG]} on "
                f"{tags.get(OVERRIDE_AT_TAG, '')[:10] or 'an unrecorded date'}: "
                f'"{tags[REASON_TAG]}".'
            )
        elif verdict == "pass":
            text += ": may become champion."
        else:
            text += ": not released; the fairness report on the training run says why."
    if tags.get(PROMOTED_AT_TAG):
        text += f" Promoted to champion on {tags[PROMOTED_AT_TAG][:10]}."
    if tags.get(STATUS_TAG) == SUSPENDED:
        figures = f" ({tags[SUSPENDED_FIGURES_TAG]})" if tags.get(SUSPENDED_FIGURES_TAG) else ""
        text += (
            f" **Suspended** on {tags.get(SUSPENDED_AT_TAG, '')[:10] or 'an unrecorded date'} "
            f"by {tags.get(SUSPENDED_BY_TAG, 'an unrecorded person')} after the check "
            f"'{tags.get(SUSPENDED_CHECK_TAG, '')}'{figures}: "
            f'"{tags.get(SUSPENDED_REASON_TAG, "")}". Nothing is served or listed from it '
            "until it is reinstated (vru reinstate)."
        )
    elif tags.get(STATUS_TAG) == ACTIVE and tags.get(REINSTATED_BY_TAG):
        text += (
            f" Reinstated on {tags.get(REINSTATED_AT_TAG, '')[:10] or 'an unrecorded date'} "
            f'by {tags[REINSTATED_BY_TAG]}: "{tags.get(REINSTATED_REASON_TAG, "")}" '
            f"(it had been suspended on {tags.get(SUSPENDED_AT_TAG, '')[:10]} after the check "
            f"'{tags.get(SUSPENDED_CHECK_TAG, '')}')."
        )
    return text


def with_release_status(description: str, tags: Mapping[str, str]) -> str:
    """``description`` with its release-status paragraph (:data:`RELEASE_STATUS`) replaced
    by the one ``tags`` give (or added, when it has none)."""
    body = description.split(RELEASE_STATUS, 1)[0].rstrip()
    status = f"{RELEASE_STATUS} {release_status_text(tags)}"
    return f"{body}\n\n{status}" if body else status


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def configure_tracking(
    tracking_uri: str,
    experiment: str,
    artifact_dir: Path,
    *,
    launched_experiment_id: str | None = None,
) -> str:
    """Point MLflow at the store and make sure the experiment exists; return its id.

    ``launched_experiment_id`` is the experiment of a run that ``mlflow run``
    created (its ``MLFLOW_EXPERIMENT_ID``, read by the settings): log into it.
    """
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    if launched_experiment_id:
        _mark_classic(mlflow.get_experiment(launched_experiment_id))
        return launched_experiment_id
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        _mark_classic(found)
        mlflow.set_experiment(experiment)
        return str(found.experiment_id)
    artifact_dir.mkdir(parents=True, exist_ok=True)
    experiment_id = mlflow.create_experiment(
        experiment, artifact_location=artifact_dir.as_uri(), tags=EXPERIMENT_KIND
    )
    mlflow.set_experiment(experiment)
    return str(experiment_id)


def _mark_classic(found: Any) -> None:
    """Tag an experiment made before the kind was set (or by ``mlflow run``) as classic ML,
    so the MLflow UI opens it on its runs; an experiment already given a kind keeps it."""
    import mlflow

    for key, value in EXPERIMENT_KIND.items():
        if key not in found.tags:
            mlflow.MlflowClient().set_experiment_tag(found.experiment_id, key, value)


@dataclass(frozen=True)
class Released:
    """A registered version of one outcome's model, loaded, with its release status."""

    outcome: str
    name: str
    version: str
    verdict: str
    model: Any  # models.risk_model.RiskModel
    run_id: str | None
    tags: Mapping[str, str]
    #: the training run's model card (Markdown), when loaded with it
    card: str = ""
    #: why and since when it is switched off (``None``: it is not)
    suspension: Suspension | None = None
    #: the latest month's monitoring (``None``: never monitored)
    monitoring: MonitoringNote | None = None

    @property
    def features(self) -> list[str]:
        """The model's input columns."""
        return list(self.model.bundle.features)

    @property
    def calibration_columns(self) -> list[str]:
        """The columns besides the features a row needs to be calibrated (``sex``)."""
        return list(self.model.calibration_columns())

    @property
    def label(self) -> str:
        """``vru-victim/3``."""
        return f"{self.name}/{self.version}"

    @property
    def suspended(self) -> bool:
        """Is this version switched off (:meth:`Registry.suspend`)?"""
        return self.suspension is not None

    @property
    def releasable(self) -> bool:
        """A releasable fairness verdict, and not switched off."""
        return self.verdict in RELEASABLE and self.suspension is None


class Registry:
    """The registry of one tracking store (``sqlite:///…`` or a server URI)."""

    def __init__(self, tracking_uri: str) -> None:
        import mlflow

        self.tracking_uri = tracking_uri
        self.client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._ledger: ReleaseLedger | None = None

    @property
    def ledger(self) -> ReleaseLedger:
        """The release ledger of this store (:func:`models.ledger.ledger_path_for`)."""
        if self._ledger is None:
            try:
                self._ledger = ReleaseLedger(ledger_path_for(self.tracking_uri))
            except LedgerError as exc:
                raise RegistryError(str(exc)) from None
        return self._ledger

    def checked_tags(self, outcome: str, version: str, tags: Mapping[str, str]) -> dict[str, str]:
        """``tags`` once the ledger agrees with every release-status tag in them.

        Raises :class:`RegistryError` naming the difference when it does not, when the
        ledger has no entry for the version, or when the ledger's own chain is broken.
        """
        name = f"{model_name(outcome)} version {version}"
        try:
            check = self.ledger.verify()
            recorded = self.ledger.status(outcome, str(version))
        except LedgerError as exc:
            raise RegistryError(f"cannot check {name} against the release ledger: {exc}") from None
        if not check.ok:
            raise RegistryError(
                f"the release ledger is broken: {check.reason}; nothing is released"
            )
        if recorded is None:
            raise RegistryError(
                f"{name} has no entry in the release ledger ({self.ledger.path}): it was "
                "registered outside vru or before the ledger; run vru fairness gate on it"
            )
        in_tags = {k: v for k, v in tags.items() if is_release_tag(k)}
        differ = sorted(
            k for k in set(in_tags) | set(recorded) if in_tags.get(k) != recorded.get(k)
        )
        if differ:
            k = differ[0]
            raise RegistryError(
                f"{name}: the registry's tag {k} reads {in_tags.get(k, '(none)')!r} but the "
                f"release ledger records {recorded.get(k, '(none)')!r}"
                + (f" (and {len(differ) - 1} more)" if len(differ) > 1 else "")
                + ": the tags were changed outside vru; nothing is released until they agree"
            )
        return dict(tags)

    # ------------------------------------------------------------ finding versions

    def version(self, outcome: str, *, version: str | None = None, alias: str = CHAMPION) -> Any:
        """The MLflow model version (pinned, or by alias); :class:`RegistryError` if absent."""
        name = model_name(outcome)
        try:
            if version is not None:
                return self.client.get_model_version(name, str(version))
            return self.client.get_model_version_by_alias(name, alias)
        except Exception as exc:  # MLflow raises several types for a missing model or alias
            which = f"{name} version {version}" if version is not None else f"{name}@{alias}"
            raise RegistryError(f"cannot load {which}: {_first_line(exc)}") from None

    def tags(self, outcome: str, version: str) -> dict[str, str]:
        """A version's tags, once the release ledger agrees with them (:meth:`checked_tags`)."""
        return self.checked_tags(outcome, version, self.version(outcome, version=version).tags)

    def verdict(self, outcome: str, version: str) -> str:
        """The release verdict of a version (see :func:`release_verdict`), checked against
        the release ledger."""
        return release_verdict(self.tags(outcome, version))

    def load(self, outcome: str, *, version: str | None = None, alias: str = CHAMPION) -> Released:
        """Load a version's :class:`~models.risk_model.RiskModel` with its release status."""
        mv = self.version(outcome, version=version, alias=alias)
        name = model_name(outcome)
        try:
            model = self._load_pyfunc(name, str(mv.version)).unwrap_python_model()
        except Exception as exc:  # a broken artifact, an unreadable store
            raise RegistryError(
                f"cannot load {name} version {mv.version}: {_first_line(exc)}"
            ) from None
        if getattr(model, "bundle", None) is None:
            raise RegistryError(f"{name} version {mv.version} is not a RiskModel with a bundle")
        tags = self.checked_tags(outcome, str(mv.version), mv.tags)
        return Released(
            outcome=outcome,
            name=name,
            version=str(mv.version),
            verdict=release_verdict(tags),
            model=model,
            run_id=mv.run_id,
            tags=tags,
            suspension=suspension_of(outcome, str(mv.version), tags),
            monitoring=monitoring_of(outcome, str(mv.version), tags),
        )

    def _load_pyfunc(self, name: str, version: str) -> Any:
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        return mlflow.pyfunc.load_model(f"models:/{name}/{version}")

    def run_params(self, run_id: str) -> dict[str, str]:
        """The parameters of a version's training run (e.g. ``data_dir``)."""
        return dict(self.client.get_run(run_id).data.params)

    def with_card(self, released: Released) -> Released:
        """``released`` with its training run's model card."""
        return replace(released, card=self.model_card(released))

    def model_card(self, released: Released) -> str:
        """The training run's model card (Markdown), or a line saying why there is none."""
        import tempfile

        if not released.run_id:
            return "No model card: the version has no training run."
        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = self.client.download_artifacts(released.run_id, "model_card.md", tmp)
                return Path(path).read_text(encoding="utf-8")
        except Exception as exc:
            return f"No model card found in training run {released.run_id} ({_first_line(exc)})."

    # ------------------------------------------------------------ writing status

    def register(self, outcome: str, version: str, tags: Mapping[str, str]) -> None:
        """Give a freshly registered version the ``candidate`` alias and its first tags
        (the ledger's first entry for it: not yet audited)."""
        name = model_name(outcome)
        self.ledger.append("registered", outcome, version, {GATE_TAG: "not run"}, "vru train")
        self.client.set_registered_model_alias(name, CANDIDATE, version)
        for key, value in {**tags, GATE_TAG: "not run"}.items():
            self.client.set_model_version_tag(name, version, key, value)

    def describe(self, outcome: str, version: str, *, model: str, version_text: str) -> None:
        """Set the registered model's description (``model``) and the version's
        (``version_text``, followed by its release status: :func:`with_release_status`)."""
        name = model_name(outcome)
        self.client.update_registered_model(name, description=model)
        tags = self.version(outcome, version=version).tags
        self.client.update_model_version(
            name, version, description=with_release_status(version_text, tags)
        )

    def _describe_release(self, outcome: str, version: str) -> None:
        """Rewrite the version description's release status from its tags."""
        mv = self.version(outcome, version=version)
        text = with_release_status(mv.description or "", mv.tags)
        if text != (mv.description or ""):
            self.client.update_model_version(model_name(outcome), version, description=text)

    def set_tags(
        self,
        outcome: str,
        version: str,
        tags: Mapping[str, str],
        *,
        kind: str = "verdict",
        actor: str = "vru fairness gate",
    ) -> None:
        """Record a release decision in the ledger (its release-status tags), then mirror
        ``tags`` on the version."""
        status = {k: v for k, v in tags.items() if is_release_tag(k)}
        if status:
            self.ledger.append(kind, outcome, version, status, actor)
        name = model_name(outcome)
        for key, value in tags.items():
            self.client.set_model_version_tag(name, version, key, value)
        if status:
            self._describe_release(outcome, version)

    def promote(
        self,
        outcome: str,
        version: str,
        *,
        approver: str | None = None,
        reason: str | None = None,
    ) -> str:
        """Move ``champion`` to ``version`` if its verdict allows; an override needs who and why.

        Returns the verdict that allowed it (``pass`` or ``override``).

        Raises
        ------
        PromotionRefusedError
            No pass and no complete override; an override of a pass or of an
            unaudited version.
        """
        name = model_name(outcome)
        tags = self.tags(outcome, version)
        verdict = release_verdict(tags)
        suspension = suspension_of(outcome, version, tags)
        if suspension is not None:
            raise PromotionRefusedError(f"{name} version {version}: {suspension.words()}")
        if approver is not None or reason is not None:
            if not (approver and approver.strip()) or not (reason and reason.strip()):
                raise PromotionRefusedError("an override needs both --approver and --reason")
            if verdict == "pass":
                raise PromotionRefusedError(
                    f"{name} version {version} passed; no override is needed"
                )
            if verdict == "not run":
                raise PromotionRefusedError(
                    f"{name} version {version} has not been audited: run vru fairness gate first "
                    "(an override releases a known failure, never an unknown one)"
                )
            self.set_tags(
                outcome,
                version,
                {
                    OVERRIDE_TAG: "true",
                    APPROVER_TAG: approver.strip(),
                    REASON_TAG: reason.strip(),
                    OVERRIDE_AT_TAG: _now(),
                },
                kind="override",
                actor=approver.strip(),
            )
            verdict = "override"
        elif verdict not in RELEASABLE:
            raise PromotionRefusedError(
                f"{name} version {version} has fairness verdict '{verdict}'; promotion needs a "
                "pass (vru fairness gate) or --override --approver NAME --reason TEXT"
            )
        self.set_tags(
            outcome,
            version,
            {PROMOTED_AT_TAG: _now()},
            kind="promotion",
            actor=(approver or "").strip() or "vru promote",
        )
        self.client.set_registered_model_alias(name, CHAMPION, version)
        return verdict

    def suspend(
        self,
        outcome: str,
        version: str,
        *,
        check: str,
        figures: str,
        by: str,
        reason: str,
    ) -> Suspension:
        """Switch a version off: the service stops answering with it and the batch writes no
        list from it until :meth:`reinstate`. Its fairness verdict is kept.

        ``check`` names the monitoring check (or the owner's own), ``figures`` the numbers
        behind it in a short text (may be empty), ``by`` who or what decided, ``reason`` why.

        Raises
        ------
        StatusRefusedError
            A blank check, ``by`` or reason, figures too long, or a version already
            suspended.
        RegistryError
            The version is missing or its tags disagree with the ledger.
        """
        name = model_name(outcome)
        fields = {"check": check, "by": by, "reason": reason}
        blank = [k for k, v in fields.items() if not (v and v.strip())]
        if blank:
            raise StatusRefusedError(
                f"a suspension needs a non-blank {' and '.join(blank)}: say which check, who "
                "or what decided, and why"
            )
        if len(figures.strip()) > MAX_FIGURES:
            raise StatusRefusedError(
                f"the figures of a suspension are a short text (at most {MAX_FIGURES} "
                f"characters), got {len(figures.strip())}"
            )
        version = str(version)
        current = suspension_of(outcome, version, self.tags(outcome, version))
        if current is not None:
            raise StatusRefusedError(
                f"{name} version {version} is already suspended (since "
                f"{_long_date(current.at)}, check '{current.check}')"
            )
        self.set_tags(
            outcome,
            version,
            {
                STATUS_TAG: SUSPENDED,
                SUSPENDED_CHECK_TAG: check.strip(),
                SUSPENDED_FIGURES_TAG: figures.strip(),
                SUSPENDED_AT_TAG: _now(),
                SUSPENDED_BY_TAG: by.strip(),
                SUSPENDED_REASON_TAG: reason.strip(),
            },
            kind="suspension",
            actor=by.strip(),
        )
        suspension = suspension_of(outcome, version, self.tags(outcome, version))
        assert suspension is not None  # just recorded
        return suspension

    def note_monitoring(
        self, outcome: str, version: str, *, status: str, as_of: str, summary: str, plan: str
    ) -> MonitoringNote:
        """Record the latest month's monitoring on a version (tags, not release status).

        Raises
        ------
        StatusRefusedError
            An unknown status or a summary too long for a tag.
        """
        if status not in MONITORING_STATUSES:
            raise StatusRefusedError(
                f"a monitoring status is one of {', '.join(MONITORING_STATUSES)}, got {status!r}"
            )
        summary = summary.strip()
        if len(summary) > MAX_SUMMARY:
            summary = summary[: MAX_SUMMARY - 1].rstrip() + "…"
        self.set_tags(
            outcome,
            str(version),
            {
                MONITORING_STATUS_TAG: status,
                MONITORING_AS_OF_TAG: as_of,
                MONITORING_SUMMARY_TAG: summary,
                MONITORING_PLAN_TAG: plan,
            },
        )
        note = monitoring_of(outcome, str(version), self.tags(outcome, str(version)))
        assert note is not None  # just recorded
        return note

    def reinstate(self, outcome: str, version: str, *, approver: str, reason: str) -> Suspension:
        """Switch a suspended version back on; like an override, it needs who and why.

        Returns the suspension it ended. The suspension's tags stay as its history;
        ``release_status`` becomes ``active`` and the ``reinstated_*`` tags say who, why
        and when.

        Raises
        ------
        StatusRefusedError
            A blank approver or reason, or a version that is not suspended.
        RegistryError
            The version is missing or its tags disagree with the ledger.
        """
        name = model_name(outcome)
        if not (approver and approver.strip()) or not (reason and reason.strip()):
            raise StatusRefusedError("a reinstatement needs both --approver and --reason")
        version = str(version)
        current = suspension_of(outcome, version, self.tags(outcome, version))
        if current is None:
            raise StatusRefusedError(
                f"{name} version {version} is not suspended: there is nothing to reinstate"
            )
        self.set_tags(
            outcome,
            version,
            {
                STATUS_TAG: ACTIVE,
                REINSTATED_BY_TAG: approver.strip(),
                REINSTATED_REASON_TAG: reason.strip(),
                REINSTATED_AT_TAG: _now(),
            },
            kind="reinstatement",
            actor=approver.strip(),
        )
        return current


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
