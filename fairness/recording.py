"""Recording the gate's verdict: the files, the version's tags, its MLflow run, its card.

:func:`write_outputs` writes a :class:`~fairness.gate.GateResult` to a folder, list by
list (by-group tables and rule statuses per list and kind of outcome, the policy echo,
``verdict.json`` naming each list's verdict and operating point, and the HTML report).
:func:`record` logs that folder to the model's training run, tags the registered version
through :class:`models.registry.Registry` (the overall tags decide whether it may be
released; per-list tags say which list failed) and patches the fairness section of the
run's model card. :func:`note_override` re-renders the report after a failure was
released by a named person (``vru promote --override``), beside the original.

Run logging goes through the registry's MLflow client, pinned to its store: nothing here
depends on MLflow's global tracking URI or on an active run.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fairness.gate import AGAINST, LIST_NAMES, GateResult, gate_model
from fairness.policy import Policy
from fairness.report import ReportSection, render_report
from models.panels import PanelCapacity
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
    "list_tag",
    "note_override",
    "record",
    "write_outputs",
]

#: the training run's model card, whose "## Fairness" section the gate fills in
MODEL_CARD = "model_card.md"


def artifact_folder(result: GateResult) -> str:
    """Where in the run the gate's files go: ``fairness/recorded`` or ``fairness/truth``."""
    return f"fairness/{result.decided_against}"


def list_tag(against: str, list_key: str) -> str:
    """The version tag of one list's verdict: ``fairness_gate_early``, ``…_truth_known``."""
    return f"{TRUTH_GATE_TAG if against == 'truth' else GATE_TAG}_{list_key}"


def _sections(result: GateResult) -> list[ReportSection]:
    return [
        ReportSection.for_list(
            key,
            audit.operating_point,
            audit.runs,
            audited=audit.audited,
            flagged=audit.flagged,
        )
        for key, audit in result.lists.items()
    ]


def _render(
    *,
    outcome: str,
    version: str,
    sections: Sequence[ReportSection],
    policy: Policy,
    policy_hash: str,
    as_of: str,
    verdict: str,
    override: Mapping[str, str] | None = None,
) -> str:
    """The report of one gate run (the same page before and after an override)."""
    model = f"{model_name(outcome)} version {version}"
    return render_report(
        title=f"Fairness audit — {model}",
        sections=sections,
        policy=policy,
        policy_hash=policy_hash,
        context={"Model": model, "Held-out snapshot": as_of, "Verdict": verdict},
        override=override,
    )


def _verdict_record(result: GateResult) -> dict[str, Any]:
    """What ``verdict.json`` holds: the overall verdict and each list's, in words too."""
    lists = {
        key: {
            "list": LIST_NAMES[key],
            "verdict": audit.verdict,
            "operating_point": audit.operating_point,
            "audited": audit.audited,
            "flagged": audit.flagged,
            "enforced_checks": len(audit.deciding.rules.enforced),
            "assessed_checks": audit.assessed,
            "caveat": audit.caveat,
            "verdicts": {a: run.rules.verdict for a, run in audit.runs.items()},
            "breaches": {a: run.rules.summary() for a, run in audit.runs.items()},
        }
        for key, audit in result.lists.items()
    }
    return {
        "outcome": result.outcome,
        "model_version": result.version,
        "verdict": result.verdict,
        "decided_against": result.decided_against,
        "verdicts_in_words": [
            f"{LIST_NAMES[key]}: {audit.verdict} ({audit.operating_point})"
            for key, audit in result.lists.items()
        ],
        "policy_version": result.policy.policy_version,
        "policy_sha256": result.policy_hash,
        "operating_point": result.operating_point,
        "panel_capacity": result.capacity.as_dict(),
        "held_out_as_of": result.as_of.isoformat(),
        "lists": lists,
    }


def write_outputs(result: GateResult, out_dir: Path) -> Path:
    """Write, per list and kind of outcome, the by-group table (``by_group_<list>_<against>``
    CSV and JSON) and the rule statuses (``rules_<list>_<against>.csv``); then the policy,
    the verdict and the report.

    Returns the report's path (also set on ``result.report``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for key, runs in result.runs_by_list.items():
        for against, run in runs.items():
            stem = f"{key}_{against}"
            run.table.to_csv(out_dir / f"by_group_{stem}.csv", index=False)
            (out_dir / f"by_group_{stem}.json").write_text(
                run.table.to_json(orient="records", indent=1)
            )
            run.rules.table.to_csv(out_dir / f"rules_{stem}.csv", index=False)
    verdict = _verdict_record(result)
    (out_dir / "verdict.json").write_text(json.dumps(verdict, indent=1) + "\n")
    (out_dir / "policy.json").write_text(result.policy.model_dump_json(indent=1) + "\n")
    report = out_dir / "report.html"
    report.write_text(
        _render(
            outcome=result.outcome,
            version=result.version,
            sections=_sections(result),
            policy=result.policy,
            policy_hash=result.policy_hash,
            as_of=result.as_of.isoformat(),
            verdict=result.verdict,
        )
    )
    result.report = report
    return report


def record(result: GateResult, registry: Registry, run_id: str, out_dir: Path) -> None:
    """Log the gate's files and counts to the model's run, tag the version, patch its card.

    The version's ``fairness_gate`` (against the recorded outcomes) and
    ``fairness_gate_truth`` (against the truth, when audited) hold the overall verdict — a
    fail if any list fails — and decide release (:func:`models.registry.release_verdict`);
    ``fairness_gate_<list>`` and ``fairness_gate_truth_<list>`` say which list it was.

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
    for against in result.kinds:
        runs = [audit.runs[against] for audit in result.lists.values()]
        client.log_metric(
            run_id, f"fairness_{against}_breaches", sum(len(r.rules.breaches) for r in runs)
        )
        client.log_metric(
            run_id, f"fairness_{against}_too_small", sum(len(r.rules.too_small) for r in runs)
        )
        for key, audit in result.lists.items():
            rules = audit.runs[against].rules
            client.log_metric(run_id, f"fairness_{key}_{against}_breaches", len(rules.breaches))
            client.log_metric(run_id, f"fairness_{key}_{against}_too_small", len(rules.too_small))
    run_tags = {
        f"fairness_{result.decided_against}_verdict": result.verdict,
        **{
            f"fairness_{result.decided_against}_verdict_{key}": audit.verdict
            for key, audit in result.lists.items()
        },
        POLICY_VERSION_TAG: result.policy.policy_version,
        POLICY_HASH_TAG: result.policy_hash,
    }
    for key, value in run_tags.items():
        client.set_tag(run_id, key, value)
    tags = {
        POLICY_VERSION_TAG: result.policy.policy_version,
        POLICY_HASH_TAG: result.policy_hash,
        REPORT_TAG: f"runs:/{run_id}/{folder}/report.html",
    }
    # the recorded audit always runs: it is the gate a real deployment would have
    for against in result.kinds:
        tags[TRUTH_GATE_TAG if against == "truth" else GATE_TAG] = result.verdict_against(against)
        for key, audit in result.lists.items():
            tags[list_tag(against, key)] = audit.runs[against].rules.verdict
    registry.set_tags(result.outcome, result.version, tags)
    _update_model_card(result, registry, run_id, folder)


def fairness_section(result: GateResult, artifact_path: str) -> str:
    """The model card's fairness section after a gate run (Markdown)."""
    lines = [
        f"**Verdict: {result.verdict}** against the {result.decided_against} outcomes "
        f"(policy {result.policy.policy_version}, SHA-256 {result.policy_hash[:16]}…; held-out "
        f"snapshot {result.as_of}; each list audited on its own young people; the worst list "
        "decides: it fails if any list fails, and is too small if a list could not be "
        "assessed at all).",
        "",
    ]
    for audit in result.lists.values():
        name = audit.name[0].upper() + audit.name[1:]
        lines.append(
            f"- {name}: **{audit.verdict}** — operating point: {audit.operating_point} "
            f"({audit.counts})" + (f"; {audit.caveat}." if audit.caveat else ".")
        )
        for against, run in audit.runs.items():
            rules = run.rules
            lines.append(
                f"  - Against the {against} outcomes: {len(rules.breaches)} breaches of "
                f"{len(rules.enforced)} enforced checks; {len(rules.too_small)} too small to "
                "assess."
            )
            lines.extend(f"    - {line}" for line in rules.summary())
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


def _read_outputs(local: Path) -> tuple[dict[str, Any], Policy, list[ReportSection]]:
    """What :func:`write_outputs` wrote, read back: the verdict, the policy, the sections.

    A folder written before the gate audited each list (``by_group_<against>.csv``, one
    operating point) is read as one section.
    """
    verdict = json.loads((local / "verdict.json").read_text())
    policy = Policy.model_validate_json((local / "policy.json").read_text())
    lists = verdict.get("lists") or {"": {"operating_point": verdict["operating_point"]}}
    sections = []
    for key, about in lists.items():
        stem = f"{key}_" if key else ""
        runs = {
            against: (
                pd.read_csv(local / f"by_group_{stem}{against}.csv"),
                pd.read_csv(local / f"rules_{stem}{against}.csv"),
            )
            for against in AGAINST
            if (local / f"by_group_{stem}{against}.csv").exists()
        }
        for table, _ in runs.values():
            table["is_reference"] = table["is_reference"].astype(bool)
        if key:
            sections.append(
                ReportSection.for_list(
                    key,
                    about["operating_point"],
                    runs,
                    audited=about.get("audited"),
                    flagged=about.get("flagged"),
                )
            )
        else:
            sections.append(ReportSection("all", about["operating_point"], runs))
    return verdict, policy, sections


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
        verdict, policy, sections = _read_outputs(local)
        (local / "report.html").write_text(
            _render(
                outcome=outcome,
                version=version,
                sections=sections,
                policy=policy,
                policy_hash=verdict["policy_sha256"],
                as_of=verdict["held_out_as_of"],
                verdict=verdict["verdict"],
                override=override,
            )
        )
        (local / "override.json").write_text(json.dumps(override, indent=1) + "\n")
        for name in ("report.html", "override.json"):
            client.log_artifact(mv.run_id, str(local / name), artifact_path=artifact_dir)
    client.set_tag(mv.run_id, APPROVER_TAG, override["approver"])
    _note_override_in_card(registry, mv.run_id, override)


def override_paragraph(override: dict[str, str]) -> str:
    """The model card's words for a release by override (who, when, why)."""
    return (
        f"**Released by override** on {override['at'] or 'an unrecorded date'} by "
        f'{override["approver"]}: "{override["reason"]}". The verdict below stands; the '
        "override is in the release ledger and the report."
    )


def _note_override_in_card(registry: Registry, run_id: str, override: dict[str, str]) -> None:
    """Put the override (who, when, why) at the top of the card's fairness section."""
    client = registry.client
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(client.download_artifacts(run_id, MODEL_CARD, tmp))
        except Exception:  # a run without a card: nothing to update
            return
        text = local.read_text()
        start = text.find("## Fairness\n\n")
        if start < 0:
            return
        head = start + len("## Fairness\n\n")
        if text.startswith("**Released by override**", head):  # a later override replaces it
            head_end = text.find("\n\n", head)
            text = text[:head] + text[head_end + 2 :]
        local.write_text(text[:head] + override_paragraph(override) + "\n\n" + text[head:])
        client.log_artifact(run_id, str(local))


def gate_and_record(
    registry: Registry,
    released: Released,
    *,
    data_dir: Path,
    policy: Policy,
    policy_hash: str,
    capacity: PanelCapacity | Mapping[str, Any],
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
