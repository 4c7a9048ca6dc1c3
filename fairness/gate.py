"""The fairness gate's verdict: audit a registered model on its held-out snapshot.

:func:`check_rules` turns a by-group table into one status per rule and group (pass,
breach, too small to assess). :func:`operating_decision` says who the audit counts as
flagged — by default the list each panel receives, drawn by :mod:`models.panels`, the
same function the monthly batch uses. :func:`gate_model` runs the whole verdict for a
registered version: build the held-out test snapshot it never saw
(:func:`features.snapshot.build_snapshot`), score it through the one scoring path
(``RiskModel.predict``), audit against the recorded outcomes (and, where the synthetic
truth exists and is asked for, against the true outcomes too).

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
from fairness.rules import RuleCheck, check_rules
from features.snapshot import build_snapshot
from features.vocabulary import OUTCOMES
from models.panels import PANEL_BAND, PanelError, panel_threshold, select_panel, within_capacity
from models.registry import model_name
from models.risk_model import RiskModel
from training.evaluate import truth_for

__all__ = [
    "AGAINST",
    "AGE_BANDS",
    "MSG_AGAINST",
    "MSG_NEEDS_TRUTH",
    "MSG_NOT_TESTED",
    "MSG_NO_BAND",
    "MSG_NO_CLOSED_WINDOW",
    "AuditRun",
    "GateError",
    "GateResult",
    "audit_snapshot",
    "gate_model",
    "operating_decision",
    "snapshot_groups",
]

AGE_BANDS = ((10, 13, "10–13"), (14, 17, "14–17"), (18, 24, "18–24"))
#: the outcomes a model can be audited against
AGAINST = ("recorded", "truth")

MSG_AGAINST = "--against must be recorded or truth, got {against!r}"
MSG_NOT_TESTED = "{name} version {version} does not record the snapshot it was tested on"
MSG_NO_CLOSED_WINDOW = "the held-out snapshot {as_of} has no closed outcome window in {folder}"
MSG_NEEDS_TRUTH = "--against truth needs {truth} (synthetic data only)"
MSG_NO_BAND = "the model has no '{band}' band (its bands: {bands})"


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


def operating_decision(
    scored: pd.DataFrame,
    policy: Policy,
    bands: Sequence[Any],
    capacity: Mapping[str, int],
) -> tuple[np.ndarray, str]:
    """Who is flagged at the policy's operating point, and the point in words.

    Parameters
    ----------
    scored
        One row per young person: ``person_id``, ``local_authority``, ``probability``.
    policy
        Its ``operating_point`` decides: ``panel`` (the list each panel receives,
        :func:`models.panels.select_panel`), ``capacity`` (each local authority's
        capacity only) or ``band`` (at or above the lower edge of ``policy.band``).
    bands
        The model's absolute-risk bands (``model.bundle.bands``).
    capacity
        Young people each local authority's panel can review (the settings'
        ``panel_capacity``, as for ``vru score``).

    Returns
    -------
    A boolean array in the row order of ``scored``, and the operating point in words.

    Raises
    ------
    GateError
        A local authority without capacity, or a model without the band needed.
    """
    point = policy.operating_point
    listed: np.ndarray
    try:
        if point == "panel":
            cut = panel_threshold(bands)
            listed = select_panel(scored, capacity, cut)["listed"].to_numpy(dtype=bool)
            words = (
                "each panel's list: its local authority's capacity, highest estimates first, "
                f"plus everyone at or above the '{PANEL_BAND}' band ({cut:.2%})"
            )
        elif point == "capacity":
            listed = within_capacity(
                scored["person_id"].to_numpy(dtype=object),
                scored["local_authority"].to_numpy(dtype=object),
                scored["probability"].to_numpy(dtype=float),
                capacity,
            )
            words = "each local authority's panel capacity, highest estimates first"
        else:
            cut = _band_lower(bands, policy.band)
            # no capacity: only the threshold lists anyone
            nobody = dict.fromkeys(scored["local_authority"].astype(str).unique(), 0)
            listed = select_panel(scored, nobody, cut)["listed"].to_numpy(dtype=bool)
            words = f"estimate at or above the '{policy.band}' band ({cut:.2%})"
    except PanelError as exc:
        raise GateError(str(exc)) from None
    return listed, words


# ------------------------------------------------------------------ audits and results


@dataclass
class AuditRun:
    """One audit of one model against one kind of outcome."""

    against: str
    table: pd.DataFrame
    rules: RuleCheck


@dataclass
class GateResult:
    """The gate's audits of one registered version, and the verdict they give."""

    outcome: str
    version: str
    policy: Policy
    policy_hash: str
    #: the operating point in words (report, verdict, model card)
    operating_point: str
    as_of: dt.date
    runs: dict[str, AuditRun] = field(default_factory=dict)
    #: the panel capacity the operating point used
    capacity: dict[str, int] = field(default_factory=dict)
    #: who was flagged at the operating point (in memory only: never written or logged)
    flagged: frozenset[str] = frozenset()
    report: Path | None = None

    @property
    def name(self) -> str:
        """Registered name of the audited model (``vru-victim``)."""
        return model_name(self.outcome)

    @property
    def deciding(self) -> AuditRun:
        """The audit that decides: against the truth when it was asked for."""
        return self.runs.get("truth", self.runs["recorded"])

    @property
    def verdict(self) -> str:
        return self.deciding.rules.verdict


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
    capacity: Mapping[str, int],
    against: str = "recorded",
    say: Callable[[str], None] | None = None,
) -> GateResult:
    """Audit a registered version on the held-out snapshot it was tested on.

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
        Each local authority's panel capacity (``settings.panel_capacity``).
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
    decision, point = operating_decision(scored, policy, bundle.bands, capacity)
    result = GateResult(
        outcome,
        version,
        policy,
        policy_hash,
        point,
        as_of,
        capacity=dict(capacity),
        flagged=frozenset(scored.loc[decision, "person_id"].astype(str)),
    )
    say("auditing against the recorded outcomes")
    recorded = frame[OUTCOMES[outcome].label].to_numpy(dtype=int)
    result.runs["recorded"] = audit_snapshot(
        frame, probability, decision, recorded, policy, against="recorded"
    )
    if truth is not None:
        say("auditing against the true outcomes")
        result.runs["truth"] = audit_snapshot(
            frame,
            probability,
            decision,
            truth["true_outcome"].to_numpy(dtype=int),
            policy,
            against="truth",
            expected=truth["oracle_probability"].to_numpy(dtype=float),
        )
    return result
