"""Recording the gate's verdict: the files, the version's tags, its MLflow run, its card.

:func:`write_outputs` writes a :class:`~fairness.gate.GateResult` to a folder (by-group
tables, rule statuses, the policy echo, ``verdict.json`` and the HTML report).
:func:`record` logs that folder to the model's training run, tags the registered version
through :class:`models.registry.Registry` (the tags that decide whether it may be
released) and patches the fairness section of the run's model card.
:func:`note_override` re-renders the report after a failure was released by a named
person (``vru promote --override``), beside the original.

Run logging goes through the registry's MLflow client, pinned to its store: nothing here
depends on MLflow's global tracking URI or on an active run.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from fairness.gate import GateResult, gate_model
from fairness.policy import Policy
from fairness.report import render_report
from models.registry import (
    APPROVER_TAG,
    GATE_TAG,
    OVERRIDE_AT_TAG,
    POLICY_HASH_TAG,
    POLICY_VERSION_TAG,
    REASON_TAG,
    REPORT_TAG,
    TRUTH_GATE_TAG,
    Registry,
    Released,
    model_name,
)

__all__ = [
    "MODEL_CARD",
    "artifact_folder",
    "fairness_section",
    "gate_and_record",
    "note_override",
    "record",
    "write_outputs",
]

#: the training run's model card, whose "## Fairness" section the gate fills in
MODEL_CARD = "model_card.md"


def artifact_folder(result: GateResult) -> str:
    """Where in the run the gate's files go: ``fairness/recorded`` or ``fairness/truth``."""
    return f"fairness/{'truth' if 'truth' in result.runs else 'recorded'}"


def _render(
    *,
    outcome: str,
    version: str,
    runs: Mapping[str, Any],
    policy: Policy,
    policy_hash: str,
    operating_point: str,
    as_of: str,
    verdict: str,
    override: Mapping[str, str] | None = None,
) -> str:
    """The report of one gate run (the same page before and after an override)."""
    model = f"{model_name(outcome)} version {version}"
    return render_report(
        title=f"Fairness audit — {model}",
        runs=runs,
        policy=policy,
        policy_hash=policy_hash,
        operating_point=operating_point,
        context={"Model": model, "Held-out snapshot": as_of, "Verdict": verdict},
        override=override,
    )


def write_outputs(result: GateResult, out_dir: Path) -> Path:
    """Write by-group tables (CSV + JSON), rule statuses, the policy, the verdict and the report.

    Returns the report's path (also set on ``result.report``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for against, run in result.runs.items():
        run.table.to_csv(out_dir / f"by_group_{against}.csv", index=False)
        (out_dir / f"by_group_{against}.json").write_text(
            run.table.to_json(orient="records", indent=1)
        )
        run.rules.table.to_csv(out_dir / f"rules_{against}.csv", index=False)
    verdict = {
        "outcome": result.outcome,
        "model_version": result.version,
        "verdict": result.verdict,
        "decided_against": result.deciding.against,
        "policy_version": result.policy.policy_version,
        "policy_sha256": result.policy_hash,
        "operating_point": result.operating_point,
        "panel_capacity": result.capacity,
        "held_out_as_of": result.as_of.isoformat(),
        "breaches": {a: r.rules.summary() for a, r in result.runs.items()},
    }
    (out_dir / "verdict.json").write_text(json.dumps(verdict, indent=1) + "\n")
    (out_dir / "policy.json").write_text(result.policy.model_dump_json(indent=1) + "\n")
    report = out_dir / "report.html"
    report.write_text(
        _render(
            outcome=result.outcome,
            version=result.version,
            runs=result.runs,
            policy=result.policy,
            policy_hash=result.policy_hash,
            operating_point=result.operating_point,
            as_of=result.as_of.isoformat(),
            verdict=result.verdict,
        )
    )
    result.report = report
    return report


def record(result: GateResult, registry: Registry, run_id: str, out_dir: Path) -> None:
    """Log the gate's files and counts to the model's run, tag the version, patch its card.

    Parameters
    ----------
    result
        The gate's result, already written to ``out_dir`` by :func:`write_outputs`.
    registry
        The registry holding the version (its tags are the release status).
    run_id
        The version's training run (``Registry.version(...).run_id``).
    out_dir
        The folder :func:`write_outputs` wrote.
    """
    client = registry.client
    folder = artifact_folder(result)
    client.log_artifacts(run_id, str(out_dir), artifact_path=folder)
    for against, run in result.runs.items():
        client.log_metric(run_id, f"fairness_{against}_breaches", len(run.rules.breaches))
        client.log_metric(run_id, f"fairness_{against}_too_small", len(run.rules.too_small))
    run_tags = {
        f"fairness_{folder.split('/')[1]}_verdict": result.verdict,
        POLICY_VERSION_TAG: result.policy.policy_version,
        POLICY_HASH_TAG: result.policy_hash,
    }
    for key, value in run_tags.items():
        client.set_tag(run_id, key, value)
    tags = {
        GATE_TAG if "truth" not in result.runs else TRUTH_GATE_TAG: result.verdict,
        POLICY_VERSION_TAG: result.policy.policy_version,
        POLICY_HASH_TAG: result.policy_hash,
        REPORT_TAG: f"runs:/{run_id}/{folder}/report.html",
    }
    if "truth" in result.runs:
        # the recorded audit ran too: it is the gate a real deployment would have
        tags[GATE_TAG] = result.runs["recorded"].rules.verdict
    registry.set_tags(result.outcome, result.version, tags)
    _update_model_card(result, registry, run_id, folder)


def fairness_section(result: GateResult, artifact_path: str) -> str:
    """The model card's fairness section after a gate run (Markdown)."""
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


def _update_model_card(
    result: GateResult, registry: Registry, run_id: str, artifact_path: str
) -> None:
    """Replace the card's "not yet audited" paragraph with the verdict (when there is a card)."""
    client = registry.client
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(client.download_artifacts(run_id, MODEL_CARD, tmp))
        except Exception:  # a run without a card (e.g. another tool's model): nothing to update
            return
        text = local.read_text()
        start = text.find("## Fairness")
        end = text.find("\n## ", start + 1)
        if start < 0 or end < 0:
            return
        section = "## Fairness\n\n" + fairness_section(result, artifact_path) + "\n"
        local.write_text(text[:start] + section + text[end:])
        client.log_artifact(run_id, str(local))


def _read_outputs(
    local: Path,
) -> tuple[dict[str, Any], Policy, dict[str, tuple[pd.DataFrame, pd.DataFrame]]]:
    """What :func:`write_outputs` wrote, read back: verdict, policy, tables per audit."""
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
    return verdict, policy, runs


def note_override(registry: Registry, outcome: str, version: str) -> None:
    """Re-render the gate's report with the override section; log it beside the original.

    Call after :meth:`models.registry.Registry.promote` returned ``override`` (it wrote
    the approver, reason and time on the version). Does nothing for a version whose
    gate report is not in its own run.
    """
    client = registry.client
    mv = registry.version(outcome, version=version)
    tags = dict(mv.tags)
    report_uri = tags.get(REPORT_TAG, "")
    prefix = f"runs:/{mv.run_id}/"
    if not report_uri.startswith(prefix):
        return
    artifact_dir = report_uri.removeprefix(prefix).rsplit("/", 1)[0]
    override = {
        "approver": tags[APPROVER_TAG],
        "reason": tags[REASON_TAG],
        "at": tags.get(OVERRIDE_AT_TAG, ""),
    }
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(client.download_artifacts(mv.run_id, artifact_dir, tmp))
        verdict, policy, runs = _read_outputs(local)
        (local / "report.html").write_text(
            _render(
                outcome=outcome,
                version=version,
                runs=runs,
                policy=policy,
                policy_hash=verdict["policy_sha256"],
                operating_point=verdict["operating_point"],
                as_of=verdict["held_out_as_of"],
                verdict=verdict["verdict"],
                override=override,
            )
        )
        (local / "override.json").write_text(json.dumps(override, indent=1) + "\n")
        for name in ("report.html", "override.json"):
            client.log_artifact(mv.run_id, str(local / name), artifact_path=artifact_dir)
    client.set_tag(mv.run_id, APPROVER_TAG, override["approver"])


def gate_and_record(
    registry: Registry,
    released: Released,
    *,
    data_dir: Path,
    policy: Policy,
    policy_hash: str,
    capacity: Mapping[str, int],
    out_dir: Path,
    against: str = "recorded",
    say: Callable[[str], None] | None = None,
) -> tuple[GateResult, Path]:
    """The whole gate for a loaded version: audit, write the files, record the verdict.

    What ``vru fairness gate`` and :func:`vru.release.release_version` both run.
    Returns the result and the report's path.
    """
    result = gate_model(
        outcome=released.outcome,
        version=released.version,
        model=released.model,
        data_dir=data_dir,
        policy=policy,
        policy_hash=policy_hash,
        capacity=capacity,
        against=against,
        say=say,
    )
    report = write_outputs(result, out_dir)
    record(result, registry, str(released.run_id), out_dir)
    return result, report
