"""The fairness gate: audit a registered model on its held-out snapshot, apply the policy.

:func:`check_rules` turns the by-group table into one status per rule and group
(pass, breach, too small to assess); :func:`gate_model` runs the whole gate for a
registered version — rebuild the held-out test snapshot it never saw, score it at the
policy's operating point, audit against the recorded outcomes (and, where the synthetic
truth exists and is asked for, against the true outcomes too), write the report and
record the verdict on the model version and its MLflow run. :func:`promote` moves the
``champion`` alias, only for a releasable version.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairness.audit import AuditSettings, add_intersections, audit
from fairness.policy import Policy, Rule
from fairness.status import (
    APPROVER_TAG,
    GATE_TAG,
    OVERRIDE_TAG,
    POLICY_HASH_TAG,
    POLICY_VERSION_TAG,
    REASON_TAG,
    REPORT_TAG,
    TRUTH_GATE_TAG,
    release_verdict,
)

AGE_BANDS = ((10, 13, "10–13"), (14, 17, "14–17"), (18, 24, "18–24"))


class GateError(ValueError):
    """The gate could not run (one line naming the problem); nothing was recorded."""


@dataclass
class RuleCheck:
    """Every rule applied to every group, and what it means."""

    table: pd.DataFrame

    @property
    def enforced(self) -> pd.DataFrame:
        return self.table[self.table["enforce"]]

    @property
    def breaches(self) -> pd.DataFrame:
        return self.enforced[self.enforced["status"] == "breach"]

    @property
    def too_small(self) -> pd.DataFrame:
        return self.enforced[self.enforced["status"] == "too small to assess"]

    @property
    def passed(self) -> bool:
        return self.breaches.empty

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "fail"

    def summary(self) -> list[str]:
        """Broken rules in words, one line each."""
        return [
            f"{r.rule}: {r.attribute} = {r.group} — {r.metric} {r.compare} to {r.reference_group} "
            f"is {r.statistic:.3f} ({r.limits})"
            for r in self.breaches.itertuples()
        ]


def check_rules(table: pd.DataFrame, policy: Policy) -> RuleCheck:
    """Apply each rule to each non-reference group of the attributes it names."""
    rows = []
    for rule in policy.rules:
        for attribute in policy.rule_attributes(rule):
            part = table[
                (table["attribute"] == attribute)
                & (table["metric"] == rule.metric)
                & ~table["is_reference"]
            ]
            for r in part.itertuples():
                rows.append(_check_one(rule, r))
    return RuleCheck(pd.DataFrame(rows))


def _check_one(rule: Rule, r: Any) -> dict[str, object]:
    statistic = r.ratio if rule.compare == "ratio" else r.difference
    low = getattr(r, f"{rule.compare}_ci_low", np.nan)
    high = getattr(r, f"{rule.compare}_ci_high", np.nan)
    if r.reference_group is None or (isinstance(r.reference_group, float)):
        status, note = "too small to assess", "no reference group in the data"
    elif not r.assessable:
        status, note = "too small to assess", r.note
    elif not np.isfinite(statistic):
        status, note = "too small to assess", "not defined (no flagged people or outcomes)"
    else:
        status, note = ("pass" if rule.within(float(statistic)) else "breach"), ""
    return {
        "rule": rule.id,
        "enforce": rule.enforce,
        "attribute": r.attribute,
        "group": r.group,
        "reference_group": r.reference_group,
        "metric": rule.metric,
        "compare": rule.compare,
        "statistic": float(statistic) if statistic is not None else np.nan,
        "ci_low": low,
        "ci_high": high,
        "limits": rule.limits_text(),
        "status": status,
        "note": note,
        "n": r.n,
        "events": r.events,
    }


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


def operating_decision(
    probability: np.ndarray,
    area: np.ndarray,
    policy: Policy,
    band_lower: Mapping[str, float],
    capacity: Mapping[str, int],
) -> tuple[np.ndarray, str]:
    """Who is flagged at the policy's operating point, and the point in words."""
    if policy.operating_point == "band":
        cut = band_lower[policy.band]
        return probability >= cut, f"estimate at or above the '{policy.band}' band ({cut:.2%})"
    from training.evaluate import top_k_by_area

    flagged = top_k_by_area(probability, area, capacity)
    return flagged, "each local authority's panel capacity, highest estimates first"


@dataclass
class AuditRun:
    """One audit of one model against one kind of outcome."""

    against: str
    table: pd.DataFrame
    rules: RuleCheck


@dataclass
class GateResult:
    outcome: str
    version: str
    policy: Policy
    policy_hash: str
    operating_point: str
    as_of: dt.date
    runs: dict[str, AuditRun] = field(default_factory=dict)
    report: Path | None = None

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
    against: str,
    expected: np.ndarray | None = None,
) -> AuditRun:
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


def gate_model(
    *,
    outcome: str,
    version: str,
    model: Any,
    data_dir: Path,
    policy: Policy,
    policy_hash: str,
    capacity: Mapping[str, int],
    against: str = "recorded",
    say: Callable[[str], None] | None = None,
) -> GateResult:
    """Audit a registered version on the held-out snapshot it was tested on."""
    from features.build import build_feature_table, to_frame
    from features.schemas import data_end, load_raw
    from training.evaluate import truth_for
    from training.train import OUTCOMES

    say = say or (lambda message: None)
    bundle = model.bundle
    test = dt.date.fromisoformat(bundle.trained_on["test"])
    tables = load_raw(data_dir)
    end = data_end(tables)
    say(f"building the held-out snapshot of {test}")
    frame = to_frame(build_feature_table(tables, [test], end))
    label = OUTCOMES[outcome]
    frame = frame[frame[label].notna()].reset_index(drop=True)
    if frame.empty:
        raise GateError(f"the held-out snapshot {test} has no closed outcome window in {data_dir}")
    probability = bundle.probability(frame)
    decision, point = operating_decision(
        probability,
        frame["local_authority"].to_numpy(dtype=object),
        policy,
        {b.name: b.lower for b in bundle.bands},
        capacity,
    )
    result = GateResult(outcome, version, policy, policy_hash, point, test)
    say("auditing against the recorded outcomes")
    recorded = frame[label].to_numpy(dtype=int)
    result.runs["recorded"] = audit_snapshot(
        frame, probability, decision, recorded, policy, "recorded"
    )
    if against == "truth":
        truth = truth_for(data_dir, outcome, test, frame["person_id"])
        if truth is None:
            raise GateError(f"--against truth needs {data_dir / 'truth'} (synthetic data only)")
        say("auditing against the true outcomes")
        result.runs["truth"] = audit_snapshot(
            frame,
            probability,
            decision,
            truth["true_outcome"].to_numpy(dtype=int),
            policy,
            "truth",
            expected=truth["oracle_probability"].to_numpy(dtype=float),
        )
    return result


def record(result: GateResult, client: Any, run_id: str, out_dir: Path) -> None:
    """Log the tables, policy, rule statuses and report to the model's run; tag the version."""
    import mlflow

    name = f"vru-{result.outcome}"
    artifact_path = f"fairness/{'truth' if 'truth' in result.runs else 'recorded'}"
    with mlflow.start_run(run_id=run_id):
        mlflow.log_artifacts(str(out_dir), artifact_path=artifact_path)
        for against, run in result.runs.items():
            mlflow.log_metric(f"fairness_{against}_breaches", len(run.rules.breaches))
            mlflow.log_metric(f"fairness_{against}_too_small", len(run.rules.too_small))
        mlflow.set_tags(
            {
                f"fairness_{artifact_path.split('/')[1]}_verdict": result.verdict,
                POLICY_VERSION_TAG: result.policy.policy_version,
                POLICY_HASH_TAG: result.policy_hash,
            }
        )
    tags = {
        GATE_TAG if "truth" not in result.runs else TRUTH_GATE_TAG: result.verdict,
        POLICY_VERSION_TAG: result.policy.policy_version,
        POLICY_HASH_TAG: result.policy_hash,
        REPORT_TAG: f"runs:/{run_id}/{artifact_path}/report.html",
    }
    if "truth" in result.runs:
        # the recorded audit ran too: it is the gate a real deployment would have
        tags[GATE_TAG] = result.runs["recorded"].rules.verdict
    for key, value in tags.items():
        client.set_model_version_tag(name, result.version, key, value)
    _update_model_card(result, run_id, artifact_path)


def fairness_section(result: GateResult, artifact_path: str) -> str:
    """The model card's fairness section after a gate run."""
    lines = [
        f"**Verdict: {result.verdict}** against the {result.deciding.against} outcomes "
        f"(policy {result.policy.policy_version}, SHA-256 {result.policy_hash[:16]}…; operating "
        f"point: {result.operating_point}; held-out snapshot {result.as_of}).",
        "",
    ]
    for against, run in result.runs.items():
        rules = run.rules
        lines.append(
            f"- Against the {against} outcomes: {len(rules.breaches)} breaches of "
            f"{len(rules.enforced)} enforced checks; {len(rules.too_small)} too small to assess."
        )
        lines.extend(f"  - {line}" for line in rules.summary())
    lines += ["", f"Full report: `{artifact_path}/report.html` in this run."]
    return "\n".join(lines)


def _update_model_card(result: GateResult, run_id: str, artifact_path: str) -> None:
    """Replace the card's "not yet audited" paragraph with the verdict (when present)."""
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(
                mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path="model_card.md", dst_path=tmp
                )
            )
        except Exception:  # a run without a card (e.g. another tool's model): nothing to update
            return
        text = local.read_text()
        start = text.find("## Fairness")
        end = text.find("\n## ", start + 1)
        if start < 0 or end < 0:
            return
        section = "## Fairness\n\n" + fairness_section(result, artifact_path) + "\n"
        local.write_text(text[:start] + section + text[end:])
        with mlflow.start_run(run_id=run_id):
            mlflow.log_artifact(str(local))


def write_outputs(result: GateResult, out_dir: Path) -> Path:
    """By-group tables (CSV + JSON), rule statuses, the policy echo and the HTML report."""
    from fairness.report import render_report

    out_dir.mkdir(parents=True, exist_ok=True)
    for against, run in result.runs.items():
        run.table.to_csv(out_dir / f"by_group_{against}.csv", index=False)
        (out_dir / f"by_group_{against}.json").write_text(
            run.table.to_json(orient="records", indent=1)
        )
        run.rules.table.to_csv(out_dir / f"rules_{against}.csv", index=False)
    (out_dir / "verdict.json").write_text(
        json.dumps(
            {
                "outcome": result.outcome,
                "model_version": result.version,
                "verdict": result.verdict,
                "decided_against": result.deciding.against,
                "policy_version": result.policy.policy_version,
                "policy_sha256": result.policy_hash,
                "operating_point": result.operating_point,
                "held_out_as_of": result.as_of.isoformat(),
                "breaches": {a: r.rules.summary() for a, r in result.runs.items()},
            },
            indent=1,
        )
        + "\n"
    )
    (out_dir / "policy.json").write_text(result.policy.model_dump_json(indent=1) + "\n")
    report = out_dir / "report.html"
    report.write_text(
        render_report(
            title=f"Fairness audit — vru-{result.outcome} version {result.version}",
            runs=result.runs,
            policy=result.policy,
            policy_hash=result.policy_hash,
            operating_point=result.operating_point,
            context={
                "Model": f"vru-{result.outcome} version {result.version}",
                "Held-out snapshot": result.as_of.isoformat(),
                "Verdict": result.verdict,
            },
        )
    )
    result.report = report
    return report


class PromotionRefusedError(RuntimeError):
    """The version may not become champion (one line saying why)."""


def promote(
    client: Any,
    outcome: str,
    version: str,
    *,
    approver: str | None = None,
    reason: str | None = None,
) -> str:
    """Move ``champion`` to ``version`` if its verdict allows; an override needs who and why.

    Returns the verdict that allowed it (``pass`` or ``override``).
    """
    name = f"vru-{outcome}"
    tags = dict(client.get_model_version(name, version).tags)
    verdict = release_verdict(tags)
    if approver is not None or reason is not None:
        if not (approver and approver.strip()) or not (reason and reason.strip()):
            raise PromotionRefusedError("an override needs both --approver and --reason")
        if verdict == "pass":
            raise PromotionRefusedError(f"{name} version {version} passed; no override is needed")
        if verdict == "not run":
            raise PromotionRefusedError(
                f"{name} version {version} has not been audited: run vru fairness gate first "
                "(an override releases a known failure, never an unknown one)"
            )
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        client.set_model_version_tag(name, version, OVERRIDE_TAG, "true")
        client.set_model_version_tag(name, version, APPROVER_TAG, approver.strip())
        client.set_model_version_tag(name, version, REASON_TAG, reason.strip())
        client.set_model_version_tag(name, version, "fairness_override_at", stamp)
        verdict = "override"
        note_override(client, outcome, version)
    elif verdict not in ("pass", "override"):
        raise PromotionRefusedError(
            f"{name} version {version} has fairness verdict '{verdict}'; promotion needs a pass "
            "(vru fairness gate) or --override --approver NAME --reason TEXT"
        )
    client.set_registered_model_alias(name, "champion", version)
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    client.set_model_version_tag(name, version, "promoted_at", stamp)
    return verdict


def note_override(client: Any, outcome: str, version: str) -> None:
    """Re-render the gate's report with the override section and log it beside the original."""
    import tempfile

    import mlflow

    from fairness.report import render_report

    mv = client.get_model_version(f"vru-{outcome}", version)
    tags = dict(mv.tags)
    report_uri = tags.get(REPORT_TAG, "")
    prefix = f"runs:/{mv.run_id}/"
    if not report_uri.startswith(prefix):
        return
    artifact_dir = report_uri.removeprefix(prefix).rsplit("/", 1)[0]
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(
            mlflow.artifacts.download_artifacts(
                run_id=mv.run_id, artifact_path=artifact_dir, dst_path=tmp
            )
        )
        verdict = json.loads((local / "verdict.json").read_text())
        policy = Policy.model_validate_json((local / "policy.json").read_text())
        runs = {
            against: (
                pd.read_csv(local / f"by_group_{against}.csv"),
                pd.read_csv(local / f"rules_{against}.csv"),
            )
            for against in ("recorded", "truth")
            if (local / f"by_group_{against}.csv").exists()
        }
        for table, _ in runs.values():
            table["is_reference"] = table["is_reference"].astype(bool)
        override = {
            "approver": tags[APPROVER_TAG],
            "reason": tags[REASON_TAG],
            "at": tags.get("fairness_override_at", ""),
        }
        (local / "report.html").write_text(
            render_report(
                title=f"Fairness audit — vru-{outcome} version {version}",
                runs=runs,
                policy=policy,
                policy_hash=verdict["policy_sha256"],
                operating_point=verdict["operating_point"],
                context={
                    "Model": f"vru-{outcome} version {version}",
                    "Held-out snapshot": verdict["held_out_as_of"],
                    "Verdict": verdict["verdict"],
                },
                override=override,
            )
        )
        (local / "override.json").write_text(json.dumps(override, indent=1) + "\n")
        with mlflow.start_run(run_id=mv.run_id):
            mlflow.log_artifact(str(local / "report.html"), artifact_path=artifact_dir)
            mlflow.log_artifact(str(local / "override.json"), artifact_path=artifact_dir)
            mlflow.set_tags({"fairness_override_approver": override["approver"]})
