"""The feature registry: naming, metadata, and audit-only columns never used as model inputs."""

from __future__ import annotations

import re

import numpy as np

from features.build import feature_columns, table_columns
from features.registry import AUDIT_ONLY, DOMAINS, REGISTRY, audit_columns, model_inputs

NAME = re.compile(
    r"^(school|contacts|incidents)_(90d|365d|730d|all|asof)_[a-z_]+_"
    r"(count|sum|flag|distinct|escalation|days_since_last|first_age)$"
)
PROTECTED_WORDS = (
    "sex",
    "ethnic",
    "sen",
    "imd",
    "fsm",
    "deprivation",
    "lsoa",
    "postcode",
    "local_authority",
)


def test_audit_only_columns_are_never_model_inputs() -> None:
    inputs = set(model_inputs())
    for column in (
        "sex",
        "ethnicity",
        "ethnicity_detail",
        "sen_status",
        "imd_decile",
        "fsm",
        "local_authority",
    ):
        assert column in AUDIT_ONLY
        assert column not in inputs
        assert REGISTRY[column].model_input is False
    assert set(audit_columns()) == set(AUDIT_ONLY)


def test_no_model_input_is_a_protected_characteristic_by_another_name() -> None:
    for name in model_inputs():
        parts = name.split("_")
        assert not any(word in parts for word in PROTECTED_WORDS), name


def test_every_feature_column_is_registered_and_named_by_pattern() -> None:
    for name in feature_columns():
        assert name in REGISTRY, name
        if name != "demo_asof_age_years":
            assert NAME.match(name), name
    assert set(table_columns()) >= set(REGISTRY)


def test_registry_entries_are_complete() -> None:
    for name, info in REGISTRY.items():
        assert info.name == name
        assert info.domain in DOMAINS
        if not name.endswith("_flag"):  # a flag's sentence is shown only when it is 1
            assert "{value}" in info.template, name
        assert info.source in ("school_events", "agency_contacts", "incidents", "people")
        if info.model_input and info.source != "people":
            assert "{latest}" in info.template, name


def test_every_domain_a_practitioner_knows_is_covered() -> None:
    covered = {REGISTRY[n].domain for n in model_inputs()}
    assert covered == {
        "education",
        "social care",
        "police",
        "health",
        "youth justice",
        "demographic",
    }


def test_feature_docs_are_current() -> None:
    from pathlib import Path

    from features.docs import render_feature_docs

    docs = Path(__file__).resolve().parents[2] / "docs" / "features.md"
    assert docs.read_text() == render_feature_docs(), (
        "docs/features.md is stale: run `python -m features.docs > docs/features.md`"
    )


def test_every_model_input_declares_a_direction_with_a_reason() -> None:
    inputs = [n for n, info in REGISTRY.items() if info.model_input]
    for name in inputs:
        info = REGISTRY[name]
        assert info.direction in (-1, 0, 1), name
        assert info.direction_reason, name
    # "days since the last" and "age at the first" lower risk as they grow; never is the far end
    for name in inputs:
        if name.endswith(("_days_since_last", "_first_age")):
            assert REGISTRY[name].direction == -1, name
            never = REGISTRY[name].never
            assert never is not None, name
            assert np.isfinite(never), name
        elif name.endswith(("_count", "_flag", "_sum", "_distinct", "_escalation")):
            assert REGISTRY[name].direction == 1, name


def test_training_refuses_unknown_candidates_before_any_work(tmp_path) -> None:
    import pytest

    from training.train import train_outcome

    for wrong in (("rules", "forest"), ("logistic",)):
        with pytest.raises(ValueError, match="candidates must be among"):
            train_outcome(
                tmp_path / "nowhere",
                "victim",
                capacity={},
                tracking_uri=f"sqlite:///{tmp_path / 'm.db'}",
                experiment="x",
                artifact_dir=tmp_path,
                project_dir=tmp_path,
                candidates=wrong,
            )
