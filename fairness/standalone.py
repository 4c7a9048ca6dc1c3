"""Audit any predictions table — another tool's output too — against the policy.

:func:`audit_predictions` reads a ``.csv`` or ``.parquet`` table with a 0/1 outcome,
group columns and either a score with a threshold or a 0/1 decision; audits it by group
(:func:`fairness.audit.audit`); applies the policy's limits to every group column; and
writes ``by_group.csv``, ``by_group.json``, ``rules.csv``, ``verdict.json`` and
``report.html``. Every refusal is a :class:`PredictionsError` whose text is one of the
``MSG_*`` constants below, raised before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fairness.audit import AuditError, AuditSettings, audit
from fairness.policy import Policy
from fairness.report import ReportSection, render_report
from fairness.rules import RuleCheck, check_rules

__all__ = [
    "MSG_DECISION_NOT_BINARY",
    "MSG_LABEL_NOT_BINARY",
    "MSG_NO_COLUMN",
    "MSG_NO_FILE",
    "MSG_NO_SENSITIVE",
    "MSG_NO_THRESHOLD",
    "MSG_REFERENCE_ABSENT",
    "MSG_REFERENCE_NOT_SENSITIVE",
    "MSG_SCORE_NOT_NUMBERS",
    "MSG_SCORE_OR_DECISION",
    "MSG_SUFFIX",
    "MSG_UNREADABLE",
    "PredictionsAudit",
    "PredictionsError",
    "audit_predictions",
    "policy_for_columns",
    "read_predictions",
]

SUFFIXES = (".csv", ".parquet")
BINARY = (0, 1, True, False)

MSG_SCORE_OR_DECISION = "give either --score COL --threshold T or --decision COL"
MSG_NO_THRESHOLD = "--score needs --threshold T (rows with score >= T are flagged)"
MSG_NO_FILE = "no predictions file at {path}"
MSG_SUFFIX = "--predictions must be .csv or .parquet, got {name}"
MSG_UNREADABLE = "cannot read {path}: {problem}"
MSG_NO_SENSITIVE = "--sensitive needs at least one column"
MSG_NO_COLUMN = "{name} has no column {column!r} (columns: {have})"
MSG_LABEL_NOT_BINARY = "--label {label}: every value must be 0 or 1"
MSG_REFERENCE_NOT_SENSITIVE = "--reference {column}: not one of the --sensitive columns"
MSG_REFERENCE_ABSENT = "--reference {column}={value}: no row has {column} = {value}"
MSG_SCORE_NOT_NUMBERS = "--score {score}: {count} rows are not numbers"
MSG_DECISION_NOT_BINARY = "--decision {decision}: every value must be 0 or 1"


class PredictionsError(ValueError):
    """The predictions table or the options cannot be audited (one line); nothing written."""


@dataclass(frozen=True)
class PredictionsAudit:
    """What :func:`audit_predictions` found and wrote."""

    table: pd.DataFrame
    rules: RuleCheck
    #: the reference group of each group column (given, or the largest)
    reference: dict[str, str]
    rows: int
    report: Path

    @property
    def verdict(self) -> str:
        return self.rules.verdict

    @property
    def passed(self) -> bool:
        return self.rules.passed


def read_predictions(path: Path) -> pd.DataFrame:
    """Read a ``.csv`` or ``.parquet`` predictions table; :class:`PredictionsError` if not."""
    if not path.is_file():
        raise PredictionsError(MSG_NO_FILE.format(path=path))
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise PredictionsError(MSG_SUFFIX.format(name=path.name))
    try:
        return pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except Exception as exc:  # unreadable file: say so in one line
        problem = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise PredictionsError(MSG_UNREADABLE.format(path=path, problem=problem)) from None


def _references(
    frame: pd.DataFrame, sensitive: Sequence[str], given: Mapping[str, str]
) -> dict[str, str]:
    """The given reference groups, checked; the largest group for every other column."""
    references: dict[str, str] = {}
    for column, value in given.items():
        if column not in sensitive:
            raise PredictionsError(MSG_REFERENCE_NOT_SENSITIVE.format(column=column))
        if value not in set(frame[column].astype(str)):
            raise PredictionsError(MSG_REFERENCE_ABSENT.format(column=column, value=value))
        references[column] = value
    for column in sensitive:
        references.setdefault(column, str(frame[column].astype(str).value_counts().index[0]))
    return references


def _flags(
    frame: pd.DataFrame, score: str | None, threshold: float | None, decision: str | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Who was flagged, and the probability when the score is one (for calibration, AUC)."""
    if score is not None:
        values = pd.to_numeric(frame[score], errors="coerce")
        if values.isna().any():
            count = int(values.isna().sum())
            raise PredictionsError(MSG_SCORE_NOT_NUMBERS.format(score=score, count=count))
        flagged = (values >= threshold).to_numpy()
        probability = values.to_numpy(dtype=float) if values.between(0, 1).all() else None
        return flagged, probability
    assert decision is not None  # checked by the caller
    if not frame[decision].isin(BINARY).all():
        raise PredictionsError(MSG_DECISION_NOT_BINARY.format(decision=decision))
    return frame[decision].astype(bool).to_numpy(), None


def policy_for_columns(
    policy: Policy, columns: Sequence[str], reference: Mapping[str, str]
) -> Policy:
    """The policy with its limits applied to every given column (no intersections)."""
    return policy.model_copy(
        update={
            "attributes": list(columns),
            "reference": dict(reference),
            "intersections": [],
            "rules": [r.model_copy(update={"attributes": "all"}) for r in policy.rules],
        }
    )


def _prepare(
    predictions: Path,
    *,
    label: str,
    sensitive: Sequence[str],
    score: str | None,
    threshold: float | None,
    decision: str | None,
) -> pd.DataFrame:
    """Check the options, read the table, check its columns; rows with an outcome only."""
    if (score is None) == (decision is None):
        raise PredictionsError(MSG_SCORE_OR_DECISION)
    if score is not None and threshold is None:
        raise PredictionsError(MSG_NO_THRESHOLD)
    frame = read_predictions(predictions)
    if not sensitive:
        raise PredictionsError(MSG_NO_SENSITIVE)
    needed = [label, *sensitive, *(c for c in (score, decision) if c)]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns[:12]))
        raise PredictionsError(
            MSG_NO_COLUMN.format(name=predictions.name, column=missing[0], have=have)
        )
    frame = frame.dropna(subset=[label]).reset_index(drop=True)
    if not frame[label].isin(BINARY).all():
        raise PredictionsError(MSG_LABEL_NOT_BINARY.format(label=label))
    return frame


def audit_predictions(
    predictions: Path,
    *,
    label: str,
    sensitive: Sequence[str],
    out_dir: Path,
    policy: Policy,
    policy_hash: str,
    score: str | None = None,
    threshold: float | None = None,
    decision: str | None = None,
    reference: Mapping[str, str] | None = None,
) -> PredictionsAudit:
    """Audit a predictions table by group, apply the policy to every group column, write it all.

    Parameters
    ----------
    predictions
        A ``.csv`` or ``.parquet`` file; rows without an outcome are left out.
    label
        The outcome column (0/1).
    sensitive
        Group columns; the policy's rules apply to each.
    out_dir
        Folder for ``by_group.csv``, ``by_group.json``, ``rules.csv``, ``verdict.json``
        and ``report.html`` (created; written only when the audit ran).
    policy, policy_hash
        The policy and the SHA-256 of its file.
    score, threshold
        A score column; rows with score ≥ ``threshold`` are flagged. A score within
        [0, 1] is also audited as a probability (calibration, AUC).
    decision
        A 0/1 decision column instead of a score.
    reference
        Reference group per column; the largest group for columns not named.

    Raises
    ------
    PredictionsError
        One of the ``MSG_*`` messages (or the audit's own); nothing is written.
    """
    frame = _prepare(
        predictions,
        label=label,
        sensitive=sensitive,
        score=score,
        threshold=threshold,
        decision=decision,
    )
    columns = list(sensitive)
    refs = _references(frame, columns, reference or {})
    flagged, probability = _flags(frame, score, threshold, decision)
    try:
        table = audit(
            frame[label].astype(int).to_numpy(),
            flagged,
            frame[columns].astype(str),
            refs,
            probability=probability,
            settings=AuditSettings(
                min_group_size=policy.min_group_size,
                min_events=policy.min_events,
                bootstrap_samples=policy.bootstrap_samples,
                confidence=policy.confidence,
            ),
        )
    except AuditError as exc:
        raise PredictionsError(str(exc)) from None
    local = policy_for_columns(policy, columns, refs)
    rules = check_rules(table, local)
    point = f"score ≥ {threshold:g} in column {score}" if score else f"decision column {decision}"
    report = _write(
        out_dir,
        table,
        rules,
        refs,
        render_report(
            title=f"Fairness audit — {predictions.name}",
            sections=[ReportSection("table", point, {"recorded": (table, rules.table)})],
            policy=local,
            policy_hash=policy_hash,
            context={"Predictions": str(predictions), "Rows": f"{len(frame):,}", "Outcome": label},
        ),
    )
    return PredictionsAudit(table, rules, refs, len(frame), report)


def _write(
    out_dir: Path, table: pd.DataFrame, rules: RuleCheck, refs: Mapping[str, str], html: str
) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "by_group.csv", index=False)
    (out_dir / "by_group.json").write_text(table.to_json(orient="records", indent=1))
    rules.table.to_csv(out_dir / "rules.csv", index=False)
    report = out_dir / "report.html"
    report.write_text(html)
    verdict = {"verdict": rules.verdict, "breaches": rules.summary(), "reference": dict(refs)}
    (out_dir / "verdict.json").write_text(json.dumps(verdict, indent=1) + "\n")
    return report
