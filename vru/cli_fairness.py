"""``vru fairness gate``, ``vru fairness audit`` and ``vru promote``.

Exit codes: 0 pass, 1 a rule is breached (or promotion refused), 2 the command could
not run (bad input, missing model, malformed policy) — and then nothing is recorded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from vru.clikit import err, fail, fit_width, out, quiet_mlflow, require_outcome
from vru.config import load_settings

fairness_app = typer.Typer(
    help="Audit models (or any predictions table) for fairness; the gate before release.",
    no_args_is_help=True,
)

PolicyOption = Annotated[
    Path | None,
    typer.Option("--policy", help="Policy YAML (default: fairness/policy.yaml shipped with vru)."),
]


def _policy(path: Path | None) -> tuple[Any, str]:
    from fairness.policy import PolicyError, load_policy

    try:
        return load_policy(path)
    except PolicyError as exc:
        fail(f"policy refused — {exc}")


def _client(tracking_uri: str) -> Any:
    quiet_mlflow()
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return mlflow.MlflowClient()


def _version(client: Any, outcome: str, version: str | None, alias: str) -> Any:
    name = f"vru-{outcome}"
    try:
        if version is not None:
            return client.get_model_version(name, version)
        return client.get_model_version_by_alias(name, alias)
    except Exception as exc:  # MLflow raises several types for a missing model
        which = f"version {version}" if version is not None else f"@{alias}"
        fail(f"no registered model {name} {which}: {str(exc).splitlines()[0]} (vru train first)")


def _print_rules(result: Any) -> None:
    fit_width()
    for against, run in result.runs.items():
        rules = run.rules
        table = Table(
            title=f"vru-{result.outcome} v{result.version} against the {against} outcomes: "
            f"{rules.verdict.upper()}",
            title_justify="left",
        )
        for column in ("rule", "enforced", "passed", "breached", "too small to assess"):
            table.add_column(column, justify="left" if column in ("rule",) else "right")
        for rule in result.policy.rules:
            part = rules.table[rules.table["rule"] == rule.id] if len(rules.table) else rules.table
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


def gate(
    outcome: Annotated[str, typer.Option("--outcome", help="victim or perpetrator.")] = "victim",
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

    Records the by-group tables, the policy and its hash, each rule's status and the
    verdict on the model version (tags) and its MLflow run, and writes an HTML report.
    """
    from fairness.gate import GateError, gate_model, record, write_outputs
    from features.schemas import ContractError
    from training.train import OUTCOMES

    settings = load_settings()
    require_outcome(outcome, OUTCOMES)
    if against not in ("recorded", "truth"):
        fail(f"--against must be recorded or truth, got {against!r}")
    policy, policy_hash = _policy(policy_path)
    client = _client(settings.tracking_uri())
    mv = _version(client, outcome, version, alias)
    run = client.get_run(mv.run_id)
    folder = settings.resolve(data) if data else Path(run.data.params.get("data_dir", ""))
    if not (folder / "raw").is_dir():
        fail(f"no raw tables in {folder} (pass --data DIR)")
    if against == "truth" and not (folder / "truth" / "events.parquet").exists():
        fail(f"--against truth needs {folder / 'truth'}: only synthetic data carry the truth")
    import mlflow

    try:
        uri = f"models:/vru-{outcome}/{mv.version}"
        model = mlflow.pyfunc.load_model(uri).unwrap_python_model()
    except Exception as exc:  # a broken artifact is an error, not a verdict
        fail(f"cannot load vru-{outcome} version {mv.version}: {str(exc).splitlines()[0]}")
    target = settings.resolve(
        out_dir or Path("reports") / "fairness" / f"{outcome}-v{mv.version}-{against}"
    )
    with err.status(f"fairness gate: vru-{outcome} version {mv.version} against {against}") as s:
        try:
            result = gate_model(
                outcome=outcome,
                version=str(mv.version),
                model=model,
                data_dir=folder,
                policy=policy,
                policy_hash=policy_hash,
                capacity=settings.panel_capacity,
                against=against,
                say=lambda message: s.update(f"fairness gate: {message}"),
            )
        except (GateError, ContractError) as exc:
            fail(str(exc))
        report = write_outputs(result, target)
        record(result, client, mv.run_id, target)
    _print_rules(result)
    out.print(
        f"verdict: {result.verdict.upper()} (vru-{outcome} version {mv.version}, against the "
        f"{result.deciding.against} outcomes, policy {policy.policy_version}, operating point: "
        f"{result.operating_point})",
        highlight=False,
        markup=False,
    )
    out.print(f"report: {report}", highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(0 if result.verdict == "pass" else 1)


def _references(items: list[str], sensitive: list[str], frame: Any) -> dict[str, str]:
    references: dict[str, str] = {}
    for item in items:
        column, sep, value = item.partition("=")
        if not sep or not value:
            fail(f"--reference must look like COLUMN=VALUE, got {item!r}")
        if column not in sensitive:
            fail(f"--reference {column}: not one of the --sensitive columns")
        if value not in set(frame[column].astype(str)):
            fail(f"--reference {item}: no row has {column} = {value}")
        references[column] = value
    for column in sensitive:
        # the largest group unless told otherwise
        references.setdefault(column, str(frame[column].astype(str).value_counts().index[0]))
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

    Writes by_group.csv, by_group.json, rules.csv and report.html. The policy's rules
    apply to every --sensitive column; calibration and AUC need --score to be a
    probability in [0, 1].
    """
    import numpy as np
    import pandas as pd

    from fairness.audit import AuditError, AuditSettings, audit
    from fairness.gate import check_rules
    from fairness.report import render_report

    policy, policy_hash = _policy(policy_path)
    if (score is None) == (decision is None):
        fail("give either --score COL --threshold T or --decision COL")
    if score is not None and threshold is None:
        fail("--score needs --threshold T (rows with score >= T are flagged)")
    if not predictions.is_file():
        fail(f"no predictions file at {predictions}")
    suffix = predictions.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        fail(f"--predictions must be .csv or .parquet, got {predictions.name}")
    try:
        frame = pd.read_csv(predictions) if suffix == ".csv" else pd.read_parquet(predictions)
    except Exception as exc:  # unreadable file: say so in one line
        fail(f"cannot read {predictions}: {str(exc).splitlines()[0]}")
    columns = [c.strip() for c in sensitive.split(",") if c.strip()]
    if not columns:
        fail("--sensitive needs at least one column")
    needed = [label, *columns, *(c for c in (score, decision) if c)]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns[:12]))
        fail(f"{predictions.name} has no column {missing[0]!r} (columns: {have})")
    frame = frame.dropna(subset=[label]).reset_index(drop=True)
    if not frame[label].isin([0, 1, True, False]).all():
        fail(f"--label {label}: every value must be 0 or 1")
    refs = _references(reference or [], columns, frame)
    probability = None
    if score is not None:
        values = pd.to_numeric(frame[score], errors="coerce")
        if values.isna().any():
            fail(f"--score {score}: {int(values.isna().sum())} rows are not numbers")
        flagged = (values >= threshold).to_numpy()
        if values.between(0, 1).all():
            probability = values.to_numpy(dtype=float)
    else:
        assert decision is not None
        if not frame[decision].isin([0, 1, True, False]).all():
            fail(f"--decision {decision}: every value must be 0 or 1")
        flagged = frame[decision].astype(bool).to_numpy()
    settings = AuditSettings(
        min_group_size=policy.min_group_size,
        min_events=policy.min_events,
        bootstrap_samples=policy.bootstrap_samples,
        confidence=policy.confidence,
    )
    try:
        table = audit(
            frame[label].astype(int).to_numpy(),
            np.asarray(flagged),
            frame[columns].astype(str),
            refs,
            probability=probability,
            settings=settings,
        )
    except AuditError as exc:
        fail(str(exc))
    # the policy's limits apply to every --sensitive column given
    local = policy.model_copy(
        update={
            "attributes": columns,
            "reference": refs,
            "intersections": [],
            "rules": [r.model_copy(update={"attributes": "all"}) for r in policy.rules],
        }
    )
    rules = check_rules(table, local)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "by_group.csv", index=False)
    (out_dir / "by_group.json").write_text(table.to_json(orient="records", indent=1))
    rules.table.to_csv(out_dir / "rules.csv", index=False)
    point = f"score ≥ {threshold:g} in column {score}" if score else f"decision column {decision}"
    (out_dir / "report.html").write_text(
        render_report(
            title=f"Fairness audit — {predictions.name}",
            runs={"recorded": (table, rules.table)},
            policy=local,
            policy_hash=policy_hash,
            operating_point=point,
            context={"Predictions": str(predictions), "Rows": f"{len(frame):,}", "Outcome": label},
        )
    )
    (out_dir / "verdict.json").write_text(
        json.dumps(
            {"verdict": rules.verdict, "breaches": rules.summary(), "reference": refs}, indent=1
        )
        + "\n"
    )
    for line in rules.summary():
        out.print(f"breach — {line}", highlight=False, markup=False)
    out.print(
        f"verdict: {rules.verdict.upper()} ({len(frame):,} rows; {len(rules.too_small)} checks too "
        f"small to assess); report: {out_dir / 'report.html'}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    raise typer.Exit(0 if rules.passed else 1)


def promote(
    outcome: Annotated[str, typer.Option("--outcome", help="victim or perpetrator.")] = "victim",
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
    from fairness.gate import PromotionRefusedError
    from fairness.gate import promote as do_promote
    from training.train import OUTCOMES

    settings = load_settings()
    require_outcome(outcome, OUTCOMES)
    if override and not (approver and approver.strip() and reason and reason.strip()):
        fail("--override needs --approver NAME and --reason TEXT")
    if not override and (approver or reason):
        fail("--approver and --reason are only for --override")
    client = _client(settings.tracking_uri())
    mv = _version(client, outcome, version, "candidate")
    try:
        verdict = do_promote(
            client,
            outcome,
            str(mv.version),
            approver=approver if override else None,
            reason=reason if override else None,
        )
    except PromotionRefusedError as exc:
        err.print(f"refused: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    out.print(
        f"vru-{outcome} version {mv.version} is now champion (fairness: {verdict}"
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
