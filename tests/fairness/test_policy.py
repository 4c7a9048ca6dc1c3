"""The policy file: the shipped one is valid and says why; broken ones are refused clearly."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from fairness.policy import DEFAULT_POLICY, PolicyError, load_policy, parse_policy


def _default() -> dict[str, object]:
    return yaml.safe_load(DEFAULT_POLICY.read_text())


def test_shipped_policy_is_versioned_hashed_and_enforces_calibration() -> None:
    policy, digest = load_policy()
    assert policy.policy_version
    assert digest == hashlib.sha256(DEFAULT_POLICY.read_bytes()).hexdigest()
    enforced = [r for r in policy.rules if r.enforce]
    assert [r.metric for r in enforced] == ["calibration"]
    assert all(r.why for r in policy.rules)
    # error-rate rules are still computed and shown
    assert {r.metric for r in policy.rules if not r.enforce} >= {"fpr", "equalised_odds"}
    # the gate audits each list a panel receives, at its own operating point, unless a
    # policy says otherwise
    assert policy.operating_point == "panel"
    assert policy.policy_version == "2026.12-4"
    assert "2026.12-2: each list at its own operating point" in DEFAULT_POLICY.read_text()
    text = DEFAULT_POLICY.read_text()
    assert "cannot all hold" in text.replace("\n#", "") or "no model can have equal error" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("policy_version"), "policy_version: Field required"),
        (lambda p: p["rules"][0].update(low=2.0, high=1.0), "low 2.0 is above high 1.0"),
        (lambda p: p["rules"][0].update(metric="accuracy"), "rules.0.metric"),
        (lambda p: p["rules"][0].update(attributes=["postcode"]), "'postcode'"),
        (lambda p: p["reference"].pop("ethnicity"), "'ethnicity' has no reference group"),
        (lambda p: p.update(min_group_size=0), "min_group_size"),
        (lambda p: p.update(intersections=[["ethnicity"]]), "exactly two"),
        (lambda p: p.update(colour="blue"), "colour: Extra inputs are not permitted"),
        (lambda p: p.update(operating_point="top-k"), "operating_point: must be 'panel' or 'band'"),
        (lambda p: p.update(operating_point="capacity"), "operating_point: 'capacity' is now"),
    ],
)
def test_malformed_policy_is_refused_with_the_field_named(change, message: str) -> None:
    raw = _default()
    change(raw)
    with pytest.raises(PolicyError) as caught:
        parse_policy(yaml.safe_dump(raw, allow_unicode=True), "my-policy.yaml")
    text = str(caught.value)
    assert message in text
    assert text.startswith("my-policy.yaml: ")
    assert "\n" not in text


def test_unreadable_and_non_yaml_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy"):
        load_policy(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [unclosed\n")
    with pytest.raises(PolicyError, match="not valid YAML at line"):
        load_policy(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(PolicyError, match="mapping"):
        load_policy(bad)
