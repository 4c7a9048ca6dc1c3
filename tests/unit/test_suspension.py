"""Switching a released model version off and on again (vru-risk issue 15): the registry's
suspension and reinstatement, recorded in the release ledger like every other decision."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.registry import (
    CHAMPION,
    GATE_TAG,
    RELEASE_STATUS,
    STATUS_TAG,
    SUSPENDED,
    PromotionRefusedError,
    Registry,
    RegistryError,
    StatusRefusedError,
    releasable,
    release_verdict,
    suspension_of,
)

NAME = "vru-victim"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Registry, str]]:
    """A tracking store with one passed, promoted version of the victim model (no artifact:
    the status path never loads the model)."""
    root = tmp_path_factory.mktemp("suspension")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    registry = Registry(uri)
    registry.client.create_registered_model(NAME)
    mv = registry.client.create_model_version(NAME, source=str(root / "no-model"))
    version = str(mv.version)
    registry.register("victim", version, {})
    registry.describe("victim", version, model="the victim model", version_text="Version one.")
    registry.set_tags("victim", version, {GATE_TAG: "pass"})
    registry.promote("victim", version)
    return uri, registry, version


def _tags(registry: Registry, version: str) -> dict[str, str]:
    return dict(registry.client.get_model_version(NAME, version).tags)


def test_suspend_then_reinstate_records_who_why_and_when(
    store: tuple[str, Registry, str],
) -> None:
    _, registry, version = store
    before = len(registry.ledger.entries("victim", version))
    suspension = registry.suspend(
        "victim",
        version,
        check="inputs drift",
        figures="PSI 0.41 in Bristol",
        by="vru monitor",
        reason="school inputs moved after the exclusions policy",
    )
    tags = _tags(registry, version)
    assert tags[STATUS_TAG] == SUSPENDED
    assert tags["suspended_check"] == "inputs drift"
    assert tags["suspended_figures"] == "PSI 0.41 in Bristol"
    assert tags["suspended_by"] == "vru monitor"
    assert tags["suspended_at"][:4].isdigit()
    assert "T" in tags["suspended_at"]
    # the fairness verdict is kept, but the version is not releasable
    assert tags[GATE_TAG] == "pass"
    assert release_verdict(tags) == "pass"
    assert not releasable(tags)
    words = suspension.words()
    assert "switched off on" in words
    assert "'inputs drift'" in words
    assert "(PSI 0.41 in Bristol)" in words
    assert "the senior responsible owner can switch it back on" in words
    assert "offender" not in words.lower()
    assert "suspect" not in words.lower()
    # the ledger has the entry, and its status agrees with the tags
    entries = registry.ledger.entries("victim", version)
    assert len(entries) == before + 1
    assert entries[-1]["kind"] == "suspension"
    assert entries[-1]["actor"] == "vru monitor"
    assert registry.tags("victim", version)[STATUS_TAG] == SUSPENDED
    description = registry.client.get_model_version(NAME, version).description
    assert "**Suspended**" in description.split(RELEASE_STATUS, 1)[1]
    # suspending twice is refused in one line
    with pytest.raises(StatusRefusedError, match="already suspended"):
        registry.suspend("victim", version, check="x", figures="", by="y", reason="z")
    # a suspended version cannot be promoted, with the sentence
    with pytest.raises(PromotionRefusedError, match="switched off"):
        registry.promote("victim", version)

    # reinstating needs who and why
    for approver, reason in (("", "fixed"), ("A. Owner", "  "), ("  ", "")):
        with pytest.raises(StatusRefusedError, match="--approver and --reason"):
            registry.reinstate("victim", version, approver=approver, reason=reason)
    ended = registry.reinstate(
        "victim", version, approver="A. Owner", reason="drift explained by the policy change"
    )
    assert ended == suspension
    tags = _tags(registry, version)
    assert tags[STATUS_TAG] == "active"
    assert tags["reinstated_by"] == "A. Owner"
    assert tags["reinstated_reason"] == "drift explained by the policy change"
    assert suspension_of("victim", version, tags) is None
    assert releasable(tags)
    entries = registry.ledger.entries("victim", version)
    assert [e["kind"] for e in entries[-2:]] == ["suspension", "reinstatement"]
    assert entries[-1]["actor"] == "A. Owner"
    assert "Reinstated" in registry.client.get_model_version(NAME, version).description
    # a version that is not suspended cannot be reinstated
    with pytest.raises(StatusRefusedError, match="not suspended"):
        registry.reinstate("victim", version, approver="A. Owner", reason="again")
    assert registry.ledger.verify().ok


def test_a_suspension_needs_a_check_a_name_and_a_reason(store: tuple[str, Registry, str]) -> None:
    _, registry, version = store
    before = len(registry.ledger.entries())
    with pytest.raises(StatusRefusedError, match="check and by"):
        registry.suspend("victim", version, check=" ", figures="", by="", reason="why")
    with pytest.raises(StatusRefusedError, match="short text"):
        registry.suspend("victim", version, check="c", figures="9" * 500, by="b", reason="r")
    assert len(registry.ledger.entries()) == before


def test_a_suspension_tag_edited_outside_vru_is_refused(store: tuple[str, Registry, str]) -> None:
    _, registry, version = store
    recorded = registry.tags("victim", version).get(STATUS_TAG)
    assert recorded != SUSPENDED
    # someone switches it off (or back on) in the MLflow UI: the ledger disagrees
    registry.client.set_model_version_tag(NAME, version, STATUS_TAG, SUSPENDED)
    try:
        with pytest.raises(RegistryError, match="release_status"):
            registry.tags("victim", version)
    finally:
        if recorded is None:
            registry.client.delete_model_version_tag(NAME, version, STATUS_TAG)
        else:
            registry.client.set_model_version_tag(NAME, version, STATUS_TAG, recorded)
    assert registry.tags("victim", version).get(STATUS_TAG) == recorded


def test_the_command_line_suspends_and_reinstates_the_champion(
    store: tuple[str, Registry, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from vru.cli import app

    uri, registry, version = store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    runner = CliRunner()
    base = ["--outcome", "victim"]
    bad = runner.invoke(app, ["suspend", *base, "--check", "calibration", "--by", "S. Owner"])
    assert bad.exit_code == 2
    assert bad.output.strip().startswith("error:")
    assert len(bad.output.strip().splitlines()) == 1
    assert _tags(registry, version).get(STATUS_TAG) != SUSPENDED
    unknown = runner.invoke(app, ["suspend", "--outcome", "nobody", "--check", "c", "--by", "b",
                                  "--reason", "r"])  # fmt: skip
    assert unknown.exit_code == 2
    assert "--outcome" in unknown.output

    done = runner.invoke(
        app,
        [
            "suspend", *base, "--check", "calibration in the large",
            "--figures", "observed 2.1 in 100, promised 4 in 100", "--by", "S. Owner",
            "--reason", "the top band over-promises",
        ],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert f"{NAME} version {version}" in done.output
    assert "switched off" in done.output
    assert _tags(registry, version)["suspended_by"] == "S. Owner"
    # the champion alias did not move: it is switched off, not replaced
    assert str(registry.client.get_model_version_by_alias(NAME, CHAMPION).version) == version

    no_reason = runner.invoke(app, ["reinstate", *base, "--approver", "S. Owner"])
    assert no_reason.exit_code == 2
    assert no_reason.output.startswith("error:")
    assert _tags(registry, version)[STATUS_TAG] == SUSPENDED
    back = runner.invoke(
        app,
        ["reinstate", *base, "--model-version", version, "--approver", "S. Owner",
         "--reason", "recalibrated bands checked by the analyst"],
    )  # fmt: skip
    assert back.exit_code == 0, back.output
    assert "reinstated" in back.output
    assert _tags(registry, version)[STATUS_TAG] == "active"
    again = runner.invoke(
        app, ["reinstate", *base, "--approver", "S. Owner", "--reason", "once more"]
    )
    assert again.exit_code == 2
    assert "not suspended" in again.output
    kinds = [e["kind"] for e in registry.ledger.entries("victim", version)]
    assert kinds[-2:] == ["suspension", "reinstatement"]
    assert json.loads(json.dumps(registry.ledger.status("victim", version)))[STATUS_TAG] == "active"
    assert Path(registry.ledger.path).exists()
    assert registry.ledger.verify().ok
