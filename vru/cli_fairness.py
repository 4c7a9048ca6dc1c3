"""``vru fairness gate``, ``vru fairness audit`` and ``vru promote``.

Exit codes: 0 pass, 1 a rule is breached (or promotion refused), 2 the command could
not run (bad input, missing model, malformed policy) — and then nothing is recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from vru.clikit import OutcomeOption, err, fail, fit_width, out, quiet_mlflow, require_outcome
from vru.clikit import settings as clikit_settings

if TYPE_CHECKING:
    from fairness.gate import GateResult
    from fairness.policy import Policy
    from models.registry import Registry

fairness_app = typer.Typer(
    help="Audit models (or any predictions table) for fairness; the gate before release.",
    no_args_is_help=True,
)

PolicyOption = Annotated[
    Path | None,
    typer.Option("--policy", help="Policy YAML (default: fairness/policy.yaml shipped with vru)."),
]


def _policy(path: Path | None) -> tuple[Policy, str]:
    from fairness.policy import PolicyError, load_policy

    try:
        return load_policy(path)
    except PolicyError as exc:
        fail(f"policy refused — {exc}")


def _registry(tracking_uri: str) -> Registry:
    from models.registry import Registry

    quiet_mlflow()
    return Registry(tracking_uri)


def _require_outcome(outcome: str) -> None:
    from features.vocabulary import OUTCOMES

    require_outcome(outcome, {key: o.registry_name for key, o in OUTCOMES.items()})


def _version(registry: Registry, outcome: str, version: str | None, alias: str) -> Any:
    """The MLflow model version (pinned, or by alias), or exit 2 naming what is missing."""
    from models.registry import RegistryError

    try:
        return registry.version(outcome, version=version, alias=alias)
    except RegistryError as exc:
        fail(f"{exc} (vru train first)")


def _print_rules(result: GateResult) -> None:
    fit_width()
    for audit in result.lists.values():
        for against, run in audit.runs.items():
            rules = run.rules
            table = Table(
                title=f"{result.name} v{result.version}, {audit.name}, against the {against} "
                f"outcomes: {rules.verdict.upper()}",
                title_justify="left",
            )
            for column in ("rule", "enforced", "passed", "breached", "too small to assess"):
                table.add_column(column, justify="left" if column in ("rule",) else "right")
            for rule in result.policy.rules:
                part = (
                    rules.table[rules.table["rule"] == rule.id] if len(rules.table) else rules.table
                )
                table.add_row(
                    rule.id,
                    "yes" if rule.enforce else "reported",
                    str(int((part["status"] == "pass").sum())) if len(part) else "0",
                    str(int((part["status"] == "breach").sum())) if len(part) else "0",
                    str(int((part["status"] == "too small to assess").sum())) if len(part) else "0",
                )
            out.print(table)
            for line in rules.summary():
                out.print(f"  breach — {line}", highlight=False, markup=False)


def _print_verdicts(result: GateResult) -> None:
    """Each list's verdict with its operating point, then the overall verdict."""
    for audit in result.lists.values():
        out.print(
            f"{audit.verdict.upper()} — {audit.operating_point} ({audit.counts})"
            + (f"; {audit.caveat}" if audit.caveat else ""),
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    out.print(
        f"verdict: {result.verdict.upper()} ({result.name} version {result.version}, against "
        f"the {result.decided_against} outcomes, policy {result.policy.policy_version}; the "
        "worst list decides)",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _training_data(registry: Registry, run_id: str | None) -> Path:
    """The data folder a version was trained on (a parameter of its training run)."""
    if not run_id:
        return Path()
    return Path(registry.run_params(run_id).get("data_dir", ""))


def gate(
    outcome: OutcomeOption = "victim",
    version: Annotated[
        str | None, typer.Option("--version", help="Registered version (default: --alias).")
    ] = None,
    alias: Annotated[str, typer.Option("--alias", help="Alias to audit.")] = "candidate",
    against: Annotated[
        str,
        typer.Option(
            "--against",
            help="recorded (what any deployment has) or truth (synthetic data only: audits "
            "against what truly happened and shows the recorded audit beside it).",
        ),
    ] = "recorded",
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Data folder (default: the one the model was trained on)."),
    ] = None,
    policy_path: PolicyOption = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for the report and tables.")
    ] = None,
) -> None:
    """Audit a registered model on its held-out snapshot; exit 0 pass, 1 breach, 2 error.

    By default each list at its own operating point: the known list (each local
    authority's VRU_PANEL_CAPACITY highest estimates among young people already involved
    in serious violence) and the early-identification list (its capacity among those not
    yet involved), each audited on its own cohort; the verdict fails if either list
    fails. Records the by-group tables, the policy and its hash, each rule's status and
    each list's verdict on the model version (tags) and its MLflow run, and writes an
    HTML report.
    """
    from fairness.gate import AGAINST, MSG_AGAINST, GateError
    from fairness.recording import gate_and_record
    from features.schemas import ContractError
    from models.registry import RegistryError

    settings = clikit_settings()
    _require_outcome(outcome)
    if against not in AGAINST:
        fail(MSG_AGAINST.format(against=against))
    policy, policy_hash = _policy(policy_path)
    registry = _registry(settings.tracking_uri())
    mv = _version(registry, outcome, version, alias)
    folder = settings.resolve(data) if data else _training_data(registry, mv.run_id)
    if not (folder / "raw").is_dir():
        fail(f"no raw tables in {folder} (pass --data DIR)")
    if against == "truth" and not (folder / "truth" / "events.parquet").exists():
        fail(f"--against truth needs {folder / 'truth'}: only synthetic data carry the truth")
    try:  # a broken artifact is an error, not a verdict
        released = registry.load(outcome, version=str(mv.version))
    except RegistryError as exc:
        fail(str(exc))
    target = settings.resolve(
        out_dir or Path("reports") / "fairness" / f"{outcome}-v{released.version}-{against}"
    )
    status = f"fairness gate: {released.name} version {released.version} against {against}"
    with err.status(status) as s:
        try:
            result, report = gate_and_record(
                registry,
                released,
                data_dir=folder,
                policy=policy,
                policy_hash=policy_hash,
                capacity=settings.panel_capacity,
                out_dir=target,
                against=against,
                say=lambda message: s.update(f"fairness gate: {message}"),
            )
        except (GateError, ContractError) as exc:
            fail(str(exc))
    _print_rules(result)
    _print_verdicts(result)
    out.print(f"report: {report}", highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(0 if result.verdict == "pass" else 1)


def _reference_items(items: list[str]) -> dict[str, str]:
    """``--reference COLUMN=VALUE`` options as a mapping (or exit 2)."""
    references: dict[str, str] = {}
    for item in items:
        column, sep, value = item.partition("=")
        if not sep or not value:
            fail(f"--reference must look like COLUMN=VALUE, got {item!r}")
        references[column] = value
    return references


def audit_table(
    predictions: Annotated[
        Path, typer.Option("--predictions", help="Predictions table (.csv or .parquet).")
    ],
    label: Annotated[str, typer.Option("--label", help="Outcome column (0/1).")],
    sensitive: Annotated[str, typer.Option("--sensitive", help="Group columns, comma-separated.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the tables and report.")],
    score: Annotated[
        str | None, typer.Option("--score", help="Score column (with --threshold).")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Flag rows with score >= this.")
    ] = None,
    decision: Annotated[
        str | None, typer.Option("--decision", help="Decision column (0/1) instead of a score.")
    ] = None,
    reference: Annotated[
        list[str] | None,
        typer.Option("--reference", help="COLUMN=VALUE reference group (default: the largest)."),
    ] = None,
    policy_path: PolicyOption = None,
) -> None:
    """Audit any predictions table — another tool's output too; exit 0 pass, 1 breach, 2 error.

    Writes by_group.csv, by_group.json, rules.csv, verdict.json and report.html. The
    policy's rules apply to every --sensitive column; calibration and AUC need --score
    to be a probability in [0, 1].
    """
    from fairness.standalone import PredictionsError, audit_predictions

    policy, policy_hash = _policy(policy_path)
    references = _reference_items(reference or [])
    try:
        found = audit_predictions(
            predictions,
            label=label,
            sensitive=[c.strip() for c in sensitive.split(",") if c.strip()],
            out_dir=out_dir,
            policy=policy,
            policy_hash=policy_hash,
            score=score,
            threshold=threshold,
            decision=decision,
            reference=references,
        )
    except PredictionsError as exc:
        fail(str(exc))
    for line in found.rules.summary():
        out.print(f"breach — {line}", highlight=False, markup=False)
    out.print(
        f"verdict: {found.verdict.upper()} ({found.rows:,} rows; {len(found.rules.too_small)} "
        f"checks too small to assess); report: {found.report}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    raise typer.Exit(0 if found.passed else 1)


def promote(
    outcome: OutcomeOption = "victim",
    version: Annotated[
        str | None, typer.Option("--version", help="Version to promote (default: @candidate).")
    ] = None,
    override: Annotated[
        bool, typer.Option("--override", help="Release despite a failed gate (needs who and why).")
    ] = False,
    approver: Annotated[
        str | None, typer.Option("--approver", help="Name of the person taking responsibility.")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, in words.")] = None,
) -> None:
    """Make a version the champion — only after a fairness pass, or a recorded override."""
    from fairness.recording import note_override
    from models.registry import CANDIDATE, PromotionRefusedError, model_name

    settings = clikit_settings()
    _require_outcome(outcome)
    if override and not (approver and approver.strip() and reason and reason.strip()):
        fail("--override needs --approver NAME and --reason TEXT")
    if not override and (approver or reason):
        fail("--approver and --reason are only for --override")
    registry = _registry(settings.tracking_uri())
    mv = _version(registry, outcome, version, CANDIDATE)
    try:
        verdict = registry.promote(
            outcome,
            str(mv.version),
            approver=approver if override else None,
            reason=reason if override else None,
        )
    except PromotionRefusedError as exc:
        err.print(f"refused: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    if verdict == "override":
        note_override(registry, outcome, str(mv.version))
    out.print(
        f"{model_name(outcome)} version {mv.version} is now champion (fairness: {verdict}"
        + (f", approved by {approver.strip()}" if verdict == "override" and approver else "")
        + ")",
        highlight=False,
        markup=False,
    )


def register(app: typer.Typer) -> None:
    fairness_app.command("gate")(gate)
    fairness_app.command("audit")(audit_table)
    app.add_typer(fairness_app, name="fairness")
    app.command("promote")(promote)
