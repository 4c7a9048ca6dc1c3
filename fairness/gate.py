"""The fairness gate's verdict: audit a registered model on its held-out snapshot.

:func:`operating_decision` says whom each audit covers and counts as flagged. By
default (``operating_point: panel``) each list at its own operating point: the two lists
each panel receives, drawn by :func:`models.panels.select_lists` (the function the
monthly batch uses), each audited on its own cohort — the ``known`` list on the young
people already involved in serious violence, the ``early`` (early-identification) list
on those not yet involved — with flagged meaning named to the panel (within the list's
capacity). :func:`gate_model` runs the whole verdict for a registered version: build the
held-out test snapshot it never saw (:func:`features.snapshot.build_snapshot`), score it
through the one scoring path (``RiskModel.predict``), audit each list against the
recorded outcomes (and, where the synthetic truth exists and is asked for, against the
true outcomes too). The verdict fails if any list's deciding audit fails.

Nothing here writes: :mod:`fairness.recording` writes the outputs, tags the version and
logs to its MLflow run; promotion is :meth:`models.registry.Registry.promote`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairness.audit import AuditSettings, add_intersections, audit
from fairness.policy import Policy
from fairness.rules import RuleCheck, check_rules, worst
from features.snapshot import build_snapshot
from features.vocabulary import LISTS, OUTCOMES, cohort_of
from models.panels import PanelCapacity, PanelError, as_capacity, select_lists
from models.registry import model_name
from models.risk_model import RiskModel
from training.evaluate import truth_for

__all__ = [
    "AGAINST",
    "AGE_BANDS",
    "LIST_COHORT_WORDS",
    "LIST_NAMES",
    "MSG_AGAINST",
    "MSG_EMPTY_COHORT",
    "MSG_NEEDS_TRUTH",
    "MSG_NOT_TESTED",
    "MSG_NO_BAND",
    "MSG_NO_CLOSED_WINDOW",
    "AuditRun",
    "GateError",
    "GateResult",
    "ListAudit",
    "ListDecision",
    "audit_lists",
    "audit_snapshot",
    "gate_model",
    "list_words",
    "operating_decision",
    "snapshot_groups",
]

AGE_BANDS = ((10, 13, "10–13"), (14, 17, "14–17"), (18, 24, "18–24"))
#: the outcomes a model can be audited against
AGAINST = ("recorded", "truth")
#: each audited list in words: the two panel lists, and everyone (``operating_point: band``)
LIST_NAMES = {
    "known": "the known list",
    "early": "the early-identification list",
    "all": "the whole held-out snapshot",
}
#: whom each panel list is drawn from, in words (after "among young people …")
LIST_COHORT_WORDS = {
    "known": LISTS["known"].title,
    "early": f"with {LISTS['early'].title}",
}

MSG_AGAINST = "--against must be recorded or truth, got {against!r}"
MSG_NOT_TESTED = "{name} version {version} does not record the snapshot it was tested on"
MSG_NO_CLOSED_WINDOW = "the held-out snapshot {as_of} has no closed outcome window in {folder}"
MSG_NEEDS_TRUTH = "--against truth needs {truth} (synthetic data only)"
MSG_NO_BAND = "the model has no '{band}' band (its bands: {bands})"
MSG_EMPTY_COHORT = "nobody in the cohort of {name} ({title}) on the snapshot: it cannot be audited"


class GateError(ValueError):
    """The gate could not run (one line naming the problem); nothing was recorded."""


# ------------------------------------------------------------------ rules


def snapshot_groups(frame: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """The policy's attributes for each row of a feature snapshot (and intersections)."""
    age = frame["demo_asof_age_years"].astype(int)
    band = pd.Series("", index=frame.index)
    for low, high, name in AGE_BANDS:
        band[(age >= low) & (age <= high)] = name
    derived = pd.DataFrame(
        {
            "sex": frame["sex"].astype(str),
            "ethnicity": frame["ethnicity"].astype(str),
            "local_authority": frame["local_authority"].astype(str),
            "imd_quintile": ((frame["imd_decile"].astype(int) + 1) // 2).astype(str),
            "sen": frame["sen_status"].astype(str),
            "care_experience": np.where(
                frame["contacts_all_looked_after_flag"].fillna(0).astype(int) > 0, "yes", "no"
            ),
            "age_band": band,
        },
        index=frame.index,
    )
    return add_intersections(derived[policy.attributes], policy.intersections)


def _band_lower(bands: Sequence[Any], name: str) -> float:
    for band in bands:
        if band.name == name:
            return float(band.lower)
    raise GateError(MSG_NO_BAND.format(band=name, bands=", ".join(b.name for b in bands)))


def list_words(list_key: str, capacity: Mapping[str, int]) -> str:
    """The operating point of one list in words, at the capacities of the areas audited."""
    low, high = min(capacity.values(), default=0), max(capacity.values(), default=0)
    if high == 0:
        named = "nobody named (capacity 0)"
    elif low == high:
        named = f"each local authority's {high} highest estimate{'s' if high > 1 else ''}"
    else:
        named = f"each local authority's highest estimates up to its capacity ({low}–{high})"
    return f"{LIST_NAMES[list_key]}: {named} among young people {LIST_COHORT_WORDS[list_key]}"


@dataclass(frozen=True)
class ListDecision:
    """Who one list's audit covers and who on it is flagged (masks in ``scored``'s order)."""

    #: ``known`` or ``early`` (operating point ``panel``), ``all`` (``band``)
    key: str
    #: the rows audited: the list's own cohort (everyone for ``all``)
    rows: np.ndarray
    #: the rows flagged: named to the panel (a subset of ``rows``)
    flagged: np.ndarray
    #: the operating point in words
    words: str


def operating_decision(
    scored: pd.DataFrame,
    policy: Policy,
    bands: Sequence[Any],
    capacity: PanelCapacity | Mapping[str, Any],
    cohort: np.ndarray | pd.Series | None = None,
) -> dict[str, ListDecision]:
    """Who each list's audit covers and flags at the policy's operating point.

    Parameters
    ----------
    scored
        One row per young person: ``person_id``, ``local_authority``, ``probability``
        (and a ``cohort`` column or the involvement features when ``cohort`` is not given).
    policy
        Its ``operating_point`` decides: ``panel`` (each list at its own operating point:
        :func:`models.panels.select_lists` draws the ``known`` and the ``early`` list,
        each audited on its own cohort, flagged = named to the panel, i.e. within the
        list's capacity) or ``band`` (one audit of everyone, flagged = at or above the
        lower edge of ``policy.band``; capacity ignored).
    bands
        The model's absolute-risk bands (``model.bundle.bands``).
    capacity
        Each list's capacity by local authority (the settings' ``panel_capacity``, as for
        ``vru score``; a plain ``{la: n}`` mapping sets the known list).
    cohort
        The cohort key of each row (:func:`features.vocabulary.cohort_of` of the snapshot).

    Returns
    -------
    One :class:`ListDecision` per list, keyed ``known`` and ``early`` (``all`` for ``band``).

    Raises
    ------
    GateError
        A local authority without capacity, or a model without the band needed.
    """
    try:
        if policy.operating_point == "band":
            cut = _band_lower(bands, policy.band)
            flagged = scored["probability"].to_numpy(dtype=float) >= cut
            words = f"estimate at or above the '{policy.band}' band ({cut:.2%})"
            everyone = np.ones(len(scored), dtype=bool)
            return {"all": ListDecision("all", everyone, flagged, words)}
        capacity = as_capacity(capacity)
        lists = select_lists(scored, capacity, cohort=cohort)
    except PanelError as exc:
        raise GateError(str(exc)) from None
    areas = scored["local_authority"].astype(str)
    within = lists["within_capacity"].to_numpy(dtype=bool)
    decisions = {}
    for key in LISTS:
        rows = (lists["list"] == key).to_numpy(dtype=bool)
        present = set(areas[rows]) or set(areas)
        of_list = capacity.of(key)
        words = list_words(key, {la: of_list[la] for la in sorted(present)})
        decisions[key] = ListDecision(key, rows, within & rows, words)
    return decisions


# ------------------------------------------------------------------ audits and results


@dataclass
class AuditRun:
    """One audit of one model against one kind of outcome."""

    against: str
    table: pd.DataFrame
    rules: RuleCheck


def _deciding(runs: Mapping[str, AuditRun]) -> AuditRun:
    return runs.get("truth", runs["recorded"])


@dataclass
class ListAudit:
    """The audits of one list on its own cohort, one per kind of outcome."""

    #: ``known``, ``early`` or ``all``
    key: str
    #: the list's operating point in words
    operating_point: str
    #: young people audited (the list's cohort on the held-out snapshot)
    audited: int
    #: of whom flagged (named to the panel, or at or above the band)
    flagged: int
    runs: dict[str, AuditRun] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The list in words (``the early-identification list``)."""
        return LIST_NAMES[self.key]

    @property
    def deciding(self) -> AuditRun:
        """The audit that decides: against the truth when it was asked for."""
        return _deciding(self.runs)

    @property
    def counts(self) -> str:
        """Who was audited and flagged, in words."""
        flagged = "named to the panels" if self.key in LISTS else "flagged"
        return f"{self.audited:,} young people audited, {self.flagged:,} {flagged}"

    @property
    def assessed(self) -> int:
        """Enforced checks of the deciding audit that could be assessed (passed or breached)."""
        rules = self.deciding.rules
        return len(rules.enforced) - len(rules.too_small)

    @property
    def caveat(self) -> str:
        """A warning when the verdict rests on no assessed check at all ("" otherwise)."""
        enforced = len(self.deciding.rules.enforced)
        if self.assessed or not enforced:
            return ""
        return (
            f"none of its {enforced} enforced checks could be assessed (too few young people "
            "or outcomes in every group), so nobody could audit it: the verdict is too small, "
            "which releases the model only by a recorded override"
        )

    @property
    def verdict(self) -> str:
        return self.deciding.rules.verdict


@dataclass
class GateResult:
    """The gate's audits of one registered version, list by list, and the verdict they give."""

    outcome: str
    version: str
    policy: Policy
    policy_hash: str
    as_of: dt.date
    #: the audits of each list, keyed ``known``/``early`` (``all`` at the ``band`` point)
    lists: dict[str, ListAudit] = field(default_factory=dict)
    #: the panel capacity the operating point used
    capacity: PanelCapacity = field(default_factory=PanelCapacity.uniform)
    #: who was flagged on any list (in memory only: never written or logged)
    flagged: frozenset[str] = frozenset()
    report: Path | None = None

    @property
    def name(self) -> str:
        """Registered name of the audited model (``vru-victim``)."""
        return model_name(self.outcome)

    @property
    def runs_by_list(self) -> dict[str, dict[str, AuditRun]]:
        """``{list: {"recorded" | "truth": AuditRun}}``."""
        return {key: audit.runs for key, audit in self.lists.items()}

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of outcome audited against (``recorded``, and ``truth`` if asked)."""
        return tuple(k for k in AGAINST if all(k in a.runs for a in self.lists.values()))

    @property
    def decided_against(self) -> str:
        """``truth`` when the truth was audited (it decides), else ``recorded``."""
        return "truth" if "truth" in self.kinds else "recorded"

    @property
    def deciding(self) -> dict[str, AuditRun]:
        """Each list's deciding audit."""
        return {key: audit.deciding for key, audit in self.lists.items()}

    def verdict_against(self, against: str) -> str:
        """The worst list's verdict against these outcomes: ``fail`` if any list breaks an
        enforced rule, ``too small`` if any list could not be assessed at all, else ``pass``."""
        return worst(audit.runs[against].rules.verdict for audit in self.lists.values())

    @property
    def verdict(self) -> str:
        """The worst list's deciding verdict (:meth:`verdict_against`)."""
        return self.verdict_against(self.decided_against)

    @property
    def operating_point(self) -> str:
        """Every list's operating point in words (report, verdict, model card)."""
        points = "; ".join(audit.operating_point for audit in self.lists.values())
        if self.policy.operating_point == "panel":
            return f"each list at its own operating point — {points}"
        return points


def audit_snapshot(
    frame: pd.DataFrame,
    probability: np.ndarray,
    decision: np.ndarray,
    y: np.ndarray,
    policy: Policy,
    *,
    against: str,
    expected: np.ndarray | None = None,
) -> AuditRun:
    """Audit one scored snapshot against one kind of outcome and apply the policy."""
    settings = AuditSettings(
        min_group_size=policy.min_group_size,
        min_events=policy.min_events,
        bootstrap_samples=policy.bootstrap_samples,
        confidence=policy.confidence,
    )
    table = audit(
        y,
        decision,
        snapshot_groups(frame, policy),
        policy.reference,
        probability=probability,
        expected=expected,
        settings=settings,
    )
    return AuditRun(against, table, check_rules(table, policy))


def audit_lists(
    frame: pd.DataFrame,
    probability: np.ndarray,
    decisions: Mapping[str, ListDecision],
    policy: Policy,
    *,
    recorded: np.ndarray,
    truth: np.ndarray | None = None,
    expected: np.ndarray | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, ListAudit]:
    """Audit each list on its own rows: against the recorded outcomes, and the truth if given.

    Parameters
    ----------
    frame
        The scored snapshot (the policy's attributes are derived from it).
    probability
        The model's estimate for each row of ``frame``.
    decisions
        Each list's rows and flags (:func:`operating_decision`).
    recorded, truth, expected
        Per row of ``frame``: the recorded outcome, the true outcome and its expected
        value (the true probability, for calibration against the truth).

    Raises
    ------
    GateError
        A list has nobody to audit (its cohort is empty on this snapshot).
    """
    say = say or (lambda message: None)
    lists = {}
    for key, decision in decisions.items():
        rows = decision.rows
        if not rows.any():
            title = LISTS[key].title if key in LISTS else "everyone"
            raise GateError(MSG_EMPTY_COHORT.format(title=title, name=LIST_NAMES[key]))
        part = frame[rows].reset_index(drop=True)
        listed = ListAudit(key, decision.words, int(rows.sum()), int(decision.flagged[rows].sum()))
        say(f"auditing {listed.name} against the recorded outcomes")
        listed.runs["recorded"] = audit_snapshot(
            part,
            probability[rows],
            decision.flagged[rows],
            recorded[rows],
            policy,
            against="recorded",
        )
        if truth is not None:
            say(f"auditing {listed.name} against the true outcomes")
            listed.runs["truth"] = audit_snapshot(
                part,
                probability[rows],
                decision.flagged[rows],
                truth[rows],
                policy,
                against="truth",
                expected=None if expected is None else expected[rows],
            )
        lists[key] = listed
    return lists


def _held_out(outcome: str, as_of: dt.date, data_dir: Path) -> pd.DataFrame:
    """The labelled rows of the held-out snapshot (people whose outcome window has closed)."""
    frame = build_snapshot(data_dir, [as_of], labels=True).frame
    label = OUTCOMES[outcome].label
    frame = frame[frame[label].notna()].reset_index(drop=True)
    if frame.empty:
        raise GateError(MSG_NO_CLOSED_WINDOW.format(as_of=as_of, folder=data_dir))
    return frame


def gate_model(
    *,
    outcome: str,
    version: str,
    model: RiskModel,
    data_dir: Path,
    policy: Policy,
    policy_hash: str,
    capacity: PanelCapacity | Mapping[str, Any],
    against: str = "recorded",
    say: Callable[[str], None] | None = None,
) -> GateResult:
    """Audit a registered version on the held-out snapshot it was tested on, list by list.

    Parameters
    ----------
    outcome
        ``victim`` or ``perpetrator``.
    version
        The registered version (named in the result, the report and the tags).
    model
        The version's :class:`~models.risk_model.RiskModel` (``Registry.load(...).model``).
    data_dir
        Data folder holding ``raw/`` (and ``truth/`` for ``against="truth"``).
    policy, policy_hash
        The policy and the SHA-256 of the file it came from (:func:`fairness.policy.load_policy`).
    capacity
        Each list's panel capacity by local authority (``settings.panel_capacity``; a
        plain ``{la: n}`` mapping sets the known list, :func:`models.panels.as_capacity`).
    against
        ``recorded`` (what any deployment has) or ``truth`` (synthetic data only: the
        recorded audit runs too and the truth decides).
    say
        Called with a short progress message at each stage.

    Raises
    ------
    GateError, features.schemas.ContractError
        One line naming the problem; nothing is written.
    """
    say = say or (lambda message: None)
    if against not in AGAINST:
        raise GateError(MSG_AGAINST.format(against=against))
    try:
        capacity = as_capacity(capacity)
    except PanelError as exc:
        raise GateError(str(exc)) from None
    bundle = model.bundle
    tested = bundle.trained_on.get("test") if bundle is not None else None
    if bundle is None or not tested:
        raise GateError(MSG_NOT_TESTED.format(name=model_name(outcome), version=version))
    as_of = dt.date.fromisoformat(str(tested))
    say(f"building the held-out snapshot of {as_of}")
    frame = _held_out(outcome, as_of, data_dir)
    probability = model.predict(None, frame)["probability"].to_numpy(dtype=float)
    truth = None
    if against == "truth":
        truth = truth_for(data_dir, outcome, as_of, frame["person_id"])
        if truth is None:
            raise GateError(MSG_NEEDS_TRUTH.format(truth=data_dir / "truth"))
    scored = pd.DataFrame(
        {
            "person_id": frame["person_id"].to_numpy(),
            "local_authority": frame["local_authority"].astype(str).to_numpy(),
            "probability": probability,
        }
    )
    decisions = operating_decision(scored, policy, bundle.bands, capacity, cohort=cohort_of(frame))
    result = GateResult(outcome, version, policy, policy_hash, as_of, capacity=capacity)
    result.lists = audit_lists(
        frame,
        probability,
        decisions,
        policy,
        recorded=frame[OUTCOMES[outcome].label].to_numpy(dtype=int),
        truth=None if truth is None else truth["true_outcome"].to_numpy(dtype=int),
        expected=None if truth is None else truth["oracle_probability"].to_numpy(dtype=float),
        say=say,
    )
    flagged = np.zeros(len(scored), dtype=bool)
    for decision in decisions.values():
        flagged |= decision.flagged
    result.flagged = frozenset(scored.loc[flagged, "person_id"].astype(str))
    return result
