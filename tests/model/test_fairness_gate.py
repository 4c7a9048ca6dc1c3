"""`vru fairness gate` and `vru promote` on a registered model (a private copy of the registry)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import mlflow
import pytest
import yaml
from typer.testing import CliRunner, Result

from fairness.policy import DEFAULT_POLICY
from tests.model.conftest import Trained
from vru.cli import app
from vru.config import load_settings

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("training")]
runner = CliRunner()
#: the registered name of the victimisation model (the contract other tools rely on)
NAME = "vru-victim"


@pytest.fixture
def registry(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> mlflow.MlflowClient:
    """A copy of the trained registry: tags set here never reach other tests."""
    source = Path(trained.tracking_uri.removeprefix("sqlite:///"))
    shutil.copy(source, tmp_path / "mlflow.db")
    # the release ledger beside it, with its key and anchors (the tags mirror it)
    for ledger_file in source.parent.glob("release-ledger.*"):
        shutil.copy(ledger_file, tmp_path / ledger_file.name)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("VRU_PROJECT_DIR", str(tmp_path))
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient()


def _policy(tmp_path: Path, low: float, high: float) -> Path:
    """The shipped policy with the calibration limits changed (a forced pass or fail)."""
    raw = yaml.safe_load(DEFAULT_POLICY.read_text())
    raw["rules"][0].update(low=low, high=high)
    # small enough minimums that every attribute has a group to assess (a pass needs all)
    raw["min_group_size"], raw["min_events"], raw["bootstrap_samples"] = 20, 1, 20
    path = tmp_path / f"policy-{low}-{high}.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    return path


def _gate(tmp_path: Path, policy: Path, *extra: str) -> Result:
    return runner.invoke(
        app,
        [
            "fairness",
            "gate",
            "--outcome",
            "victim",
            "--policy",
            str(policy),
            "--out",
            str(tmp_path / "report"),
            *extra,
        ],
    )


def test_gate_records_verdict_policy_hash_and_report(
    registry: mlflow.MlflowClient, trained: Trained, tmp_path: Path
) -> None:
    policy = _policy(tmp_path, 0.0, 1e9)
    result = _gate(tmp_path, policy)
    assert result.exit_code == 0, result.output
    assert "verdict: PASS" in result.output
    # each list's verdict with its operating point, at the settings' capacity (50 and 20)
    assert (
        "PASS — the known list: each local authority's 50 highest estimates among young "
        "people already known to services for serious violence"
    ) in result.output
    assert (
        "PASS — the early-identification list: each local authority's 20 highest estimates "
        "among young people with no serious-violence record yet"
    ) in result.output
    assert "report:" in result.output
    version = trained.result.registered_version
    tags = registry.get_model_version(NAME, version).tags
    assert tags["fairness_gate"] == "pass"
    assert tags["fairness_gate_known"] == "pass"
    assert tags["fairness_gate_early"] == "pass"
    assert "fairness_gate_truth" not in tags
    assert tags["fairness_policy_sha256"] == hashlib.sha256(policy.read_bytes()).hexdigest()
    assert tags["fairness_report"].endswith("fairness/recorded/report.html")
    run = str(registry.get_model_version(NAME, version).run_id)
    logged = {a.path for a in registry.list_artifacts(run, "fairness/recorded")}
    assert {
        "fairness/recorded/report.html",
        "fairness/recorded/by_group_known_recorded.csv",
        "fairness/recorded/by_group_early_recorded.csv",
        "fairness/recorded/rules_early_recorded.csv",
        "fairness/recorded/policy.json",
        "fairness/recorded/verdict.json",
    } <= logged
    metrics = registry.get_run(run).data.metrics
    assert metrics["fairness_early_recorded_breaches"] == 0
    assert metrics["fairness_recorded_breaches"] == 0
    card = mlflow.artifacts.download_artifacts(
        run_id=run, artifact_path="model_card.md", dst_path=str(tmp_path / "card")
    )
    card_text = Path(card).read_text()
    assert "**Verdict: pass** against the recorded outcomes" in card_text
    assert "Not yet audited" not in card_text
    assert "- The early-identification list: **pass** — operating point: " in card_text
    verdict = json.loads((tmp_path / "report" / "verdict.json").read_text())
    assert verdict["operating_point"].startswith("each list at its own operating point")
    assert verdict["panel_capacity"] == load_settings().panel_capacity.as_dict()
    assert {k: v["verdict"] for k, v in verdict["lists"].items()} == {
        "known": "pass",
        "early": "pass",
    }
    audited = sum(v["audited"] for v in verdict["lists"].values())
    named = {k: v["flagged"] for k, v in verdict["lists"].items()}
    areas = len(verdict["panel_capacity"])
    assert named["early"] <= 20 * areas
    assert named["known"] <= 50 * areas
    assert audited > sum(named.values())
    html = (tmp_path / "report" / "report.html").read_text()
    assert "Summary for the ethics panel" in html
    assert "calibration-within-groups" in html
    assert '<section id="list-known">' in html
    assert '<section id="list-early">' in html


def test_a_breach_exits_1_names_the_rule_and_blocks_promotion(
    registry: mlflow.MlflowClient, trained: Trained, tmp_path: Path
) -> None:
    result = _gate(tmp_path, _policy(tmp_path, 0.999, 1.001))
    assert result.exit_code == 1, result.output
    assert "verdict: FAIL" in result.output
    assert "breach — calibration-within-groups" in result.output
    promoted = runner.invoke(app, ["promote", "--outcome", "victim"])
    assert promoted.exit_code == 1
    assert "fairness verdict 'fail'" in promoted.output
    with pytest.raises(mlflow.exceptions.MlflowException):
        registry.get_model_version_by_alias(NAME, "champion")


def test_promotion_needs_a_gate_run_even_with_an_override(
    registry: mlflow.MlflowClient,
) -> None:
    plain = runner.invoke(app, ["promote", "--outcome", "victim"])
    assert plain.exit_code == 1
    assert "'not run'" in plain.output
    forced = runner.invoke(
        app,
        [
            "promote",
            "--outcome",
            "victim",
            "--override",
            "--approver",
            "A. Lead",
            "--reason",
            "testing",
        ],
    )
    assert forced.exit_code == 1
    assert "has not been audited" in forced.output


def test_override_records_who_and_why_in_tags_and_report(
    registry: mlflow.MlflowClient, trained: Trained, tmp_path: Path
) -> None:
    assert _gate(tmp_path, _policy(tmp_path, 0.999, 1.001)).exit_code == 1
    missing = runner.invoke(app, ["promote", "--outcome", "victim", "--override"])
    assert missing.exit_code == 2
    assert "--approver NAME and --reason TEXT" in missing.output
    result = runner.invoke(
        app,
        [
            "promote",
            "--outcome",
            "victim",
            "--override",
            "--approver",
            "Dr R. Patel",
            "--reason",
            "Ethics panel accepted the calibration gap for 18-24 pending retraining",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "now champion (fairness: override, approved by Dr R. Patel)" in result.output
    version = trained.result.registered_version
    champion = registry.get_model_version_by_alias(NAME, "champion")
    assert str(champion.version) == version
    tags = champion.tags
    assert tags["fairness_override_approver"] == "Dr R. Patel"
    assert "pending retraining" in tags["fairness_override_reason"]
    local = mlflow.artifacts.download_artifacts(
        run_id=champion.run_id,
        artifact_path="fairness/recorded/report.html",
        dst_path=str(tmp_path / "dl"),
    )
    html = Path(local).read_text()
    assert "Dr R. Patel" in html
    assert "pending retraining" in html


def test_malformed_policy_exits_2_and_changes_nothing(
    registry: mlflow.MlflowClient, trained: Trained, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEFAULT_POLICY.read_text().replace("low: 0.8", "low: 3.0", 1))
    before = dict(registry.get_model_version(NAME, trained.result.registered_version).tags)
    result = _gate(tmp_path, bad)
    assert result.exit_code == 2
    assert "policy refused" in result.output
    assert "low 3.0 is above high" in result.output
    after = dict(registry.get_model_version(NAME, trained.result.registered_version).tags)
    assert after == before
    assert not (tmp_path / "report").exists()


def test_against_truth_shows_both_audits_and_needs_the_truth(
    registry: mlflow.MlflowClient, trained: Trained, tmp_path: Path
) -> None:
    result = _gate(tmp_path, _policy(tmp_path, 0.0, 1e9), "--against", "truth")
    assert result.exit_code == 0, result.output
    assert "against the truth outcomes" in result.output
    html = (tmp_path / "report" / "report.html").read_text()
    assert html.count("Recorded outcomes against true outcomes") == 2  # one per list
    for key in ("known", "early"):
        assert (tmp_path / "report" / f"by_group_{key}_truth.csv").exists()
        assert (tmp_path / "report" / f"by_group_{key}_recorded.csv").exists()
    verdict = json.loads((tmp_path / "report" / "verdict.json").read_text())
    assert verdict["decided_against"] == "truth"
    assert verdict["lists"]["early"]["verdicts"] == {"recorded": "pass", "truth": "pass"}
    tags = registry.get_model_version(NAME, trained.result.registered_version).tags
    assert tags["fairness_gate_truth"] == "pass"
    assert tags["fairness_gate"] == "pass"
    assert tags["fairness_gate_truth_early"] == "pass"
    assert tags["fairness_gate_known"] == "pass"
    no_truth = tmp_path / "raw-only"
    shutil.copytree(trained.data_dir / "raw", no_truth / "raw")
    refused = _gate(
        tmp_path, _policy(tmp_path, 0.0, 1e9), "--against", "truth", "--data", str(no_truth)
    )
    assert refused.exit_code == 2
    assert "only synthetic data carry the truth" in refused.output


def _override(approver: str = "Dr R. Patel") -> Result:
    return runner.invoke(
        app,
        ["promote", "--outcome", "victim", "--override", "--approver", approver,
         "--reason", "Ethics panel accepted the gap pending retraining"],
    )  # fmt: skip


def test_every_release_decision_is_in_the_ledger_in_order_with_who_made_it(
    registry: mlflow.MlflowClient, trained: Trained, tmp_path: Path
) -> None:
    """Issue 21, finding 10: verdicts, overrides and promotions are entries of the keyed,
    anchored release ledger; the MLflow tags mirror it; the card says who released it."""
    from models.ledger import ReleaseLedger
    from models.registry import Registry

    version = trained.result.registered_version
    assert _gate(tmp_path, _policy(tmp_path, 0.999, 1.001)).exit_code == 1
    assert _override().exit_code == 0
    ledger = ReleaseLedger(tmp_path / "release-ledger.sqlite")
    entries = ledger.entries("victim", version)
    kinds = [e["kind"] for e in entries]
    assert kinds[0] == "registered"
    assert kinds[-3:] == ["verdict", "override", "promotion"]
    assert entries[-2]["actor"] == "Dr R. Patel"
    assert entries[-3]["tags"]["fairness_gate"] == "fail"  # type: ignore[index]
    assert ledger.verify().ok
    tags = registry.get_model_version(NAME, version).tags
    status = ledger.status("victim", version)
    assert status == {
        k: v for k, v in tags.items() if k.startswith("fairness_") or k == "promoted_at"
    }
    assert Registry(f"sqlite:///{tmp_path / 'mlflow.db'}").load("victim").verdict == "override"
    # the model card names the override: who, when, why
    card = Path(
        mlflow.artifacts.download_artifacts(
            run_id=registry.get_model_version(NAME, version).run_id,
            artifact_path="model_card.md",
            dst_path=str(tmp_path / "card"),
        )
    ).read_text()
    assert "**Released by override**" in card
    assert "by Dr R. Patel" in card
    assert "pending retraining" in card


@pytest.mark.parametrize(
    ("tag", "value"),
    [("fairness_gate", "pass"), ("fairness_override_approver", "someone else")],
)
def test_a_tag_edited_in_mlflow_is_refused_by_the_service_and_the_batch(
    registry: mlflow.MlflowClient, trained: Trained, tmp_path: Path, tag: str, value: str
) -> None:
    """The MLflow UI's edit button beside @champion: the tag no longer agrees with the
    ledger, and everything that loads the champion refuses it, naming the difference."""
    from models.registry import Registry, RegistryError

    version = trained.result.registered_version
    assert _gate(tmp_path, _policy(tmp_path, 0.999, 1.001)).exit_code == 1
    assert _override().exit_code == 0
    registry.set_model_version_tag(NAME, version, tag, value)
    with pytest.raises(RegistryError, match=f"the registry's tag {tag} reads '{value}'"):
        Registry(f"sqlite:///{tmp_path / 'mlflow.db'}").load("victim")
    scored = runner.invoke(
        app,
        ["score", "--data", str(trained.data_dir), "--as-of", "2025-01-01",
         "--out", str(tmp_path / "panels"), "--outcome", "victim"],
    )  # fmt: skip
    assert scored.exit_code == 2
    assert f"tag {tag}" in scored.output
    assert "release ledger records" in scored.output
    assert not (tmp_path / "panels").exists()


def test_an_edited_or_shortened_ledger_releases_nothing(
    registry: mlflow.MlflowClient, trained: Trained, tmp_path: Path
) -> None:
    import sqlite3

    from models.registry import Registry, RegistryError

    assert _gate(tmp_path, _policy(tmp_path, 0.999, 1.001)).exit_code == 1
    assert _override().exit_code == 0
    path = tmp_path / "release-ledger.sqlite"
    with sqlite3.connect(path) as con, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE ledger SET actor = 'nobody'")
    shutil.copy(path, tmp_path / "ledger-before.sqlite")
    with sqlite3.connect(path) as con:
        con.execute("DROP TRIGGER ledger_no_update")
        con.execute(
            """UPDATE ledger SET tags = '{"fairness_gate": "pass"}' WHERE kind = 'verdict'"""
        )
    con.close()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(
        RegistryError, match=r"release ledger is broken: entry \d+: .*\(edited or forged\)"
    ):
        Registry(uri).load("victim")
    # removing the newest entries (the override and the promotion) is found by the anchor
    shutil.copy(tmp_path / "ledger-before.sqlite", path)
    with sqlite3.connect(path) as con:
        con.execute("DROP TRIGGER ledger_no_delete")
        con.execute("DELETE FROM ledger WHERE kind IN ('override', 'promotion')")
    con.close()
    with pytest.raises(RegistryError, match="entries removed"):
        Registry(uri).load("victim")
