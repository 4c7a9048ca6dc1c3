"""The by-group audit: every number checked against scikit-learn on the masked subset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix, precision_score, recall_score, roc_auc_score

from fairness.audit import AuditError, AuditSettings, add_intersections, audit
from fairness.policy import load_policy, parse_policy
from fairness.rules import check_rules

N = 20_000


@pytest.fixture(scope="module")
def predictions() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    group = rng.choice(["A", "B", "C", "tiny"], size=N, p=[0.6, 0.25, 0.145, 0.005])
    sex = rng.choice(["f", "m"], size=N)
    risk = rng.beta(1, 30, size=N) * np.where(group == "B", 1.8, 1.0)
    y = (rng.random(N) < risk).astype(int)
    # the model over-states group C's risk by half
    probability = np.clip(risk * np.where(group == "C", 1.5, 1.0), 0, 1)
    return pd.DataFrame(
        {"group": group, "sex": sex, "y": y, "p": probability, "d": probability >= 0.06}
    )


@pytest.fixture(scope="module")
def table(predictions: pd.DataFrame) -> pd.DataFrame:
    groups = add_intersections(predictions[["group", "sex"]], [["group", "sex"]])
    return audit(
        predictions["y"].to_numpy(),
        predictions["d"].to_numpy(),
        groups,
        {"group": "A", "sex": "m"},
        probability=predictions["p"].to_numpy(),
        settings=AuditSettings(min_group_size=300, min_events=20, bootstrap_samples=100),
    )


def _sklearn(y: np.ndarray, d: np.ndarray, p: np.ndarray) -> dict[str, float]:
    tn, fp, fn, tp = confusion_matrix(y, d, labels=[0, 1]).ravel()
    return {
        "selection_rate": d.mean(),
        "tpr": recall_score(y, d),
        "fpr": fp / (fp + tn),
        "fnr": fn / (fn + tp),
        "precision": precision_score(y, d),
        "mean_predicted": p.mean(),
        "observed_rate": y.mean(),
        "calibration": p.mean() / y.mean(),
        "auc": roc_auc_score(y, p),
    }


def test_every_number_equals_scikit_learn_on_the_masked_subset(
    predictions: pd.DataFrame, table: pd.DataFrame
) -> None:
    checked = 0
    for attribute, column in (("group", predictions["group"]), ("sex", predictions["sex"])):
        for value in column.unique():
            mask = (column == value).to_numpy()
            expected = _sklearn(
                predictions["y"].to_numpy()[mask],
                predictions["d"].to_numpy()[mask],
                predictions["p"].to_numpy()[mask],
            )
            rows = table[(table["attribute"] == attribute) & (table["group"] == value)]
            for metric, want in expected.items():
                got = rows.loc[rows["metric"] == metric, "value"].item()
                assert got == pytest.approx(want, rel=1e-9), (attribute, value, metric)
                checked += 1
    assert checked == 9 * 6


def test_differences_and_ratios_are_to_the_reference_group(table: pd.DataFrame) -> None:
    fpr = table[(table["attribute"] == "group") & (table["metric"] == "fpr")].set_index("group")
    assert fpr.loc["B", "difference"] == pytest.approx(
        fpr.loc["B", "value"] - fpr.loc["A", "value"]
    )
    assert fpr.loc["B", "ratio"] == pytest.approx(fpr.loc["B", "value"] / fpr.loc["A", "value"])
    assert bool(fpr.loc["A", "is_reference"])
    assert fpr.loc["A", "difference"] == 0


def test_intervals_surround_the_estimate_and_flag_the_overstated_group(
    table: pd.DataFrame,
) -> None:
    solid = table[table["assessable"] & table["metric"].isin(["fpr", "calibration"])]
    assert (solid["ci_low"] <= solid["value"] + 1e-12).all()
    assert (solid["value"] <= solid["ci_high"] + 1e-12).all()
    c = table[(table["group"] == "C") & (table["metric"] == "calibration")].iloc[0]
    # C's risk is over-stated by half: its ratio interval sits above 1.25
    assert c["ratio"] == pytest.approx(1.5, abs=0.25)
    assert c["ratio_ci_low"] > 1.0


def test_intersections_hold_the_second_attribute_fixed(table: pd.DataFrame) -> None:
    rows = table[(table["attribute"] == "group × sex") & (table["metric"] == "fpr")]
    refs = dict(zip(rows["group"], rows["reference_group"], strict=True))
    assert refs["C × f"] == "A × f"
    assert refs["C × m"] == "A × m"


def test_small_groups_are_reported_never_passed(table: pd.DataFrame) -> None:
    tiny = table[(table["attribute"] == "group") & (table["group"] == "tiny")]
    assert not tiny["assessable"].any()
    assert tiny["note"].str.startswith("too small to assess").all()
    policy, _ = load_policy()
    calibration = policy.rules[0].model_copy(update={"attributes": "all"})
    assert calibration.id == "calibration-within-groups"
    assert calibration.enforce
    local = policy.model_copy(
        update={
            "attributes": ["group", "sex"],
            "reference": {"group": "A", "sex": "m"},
            "intersections": [],
            "rules": [calibration],
        }
    )
    rules = check_rules(table, local).table
    tiny_rules = rules[(rules["attribute"] == "group") & (rules["group"] == "tiny")]
    assert set(tiny_rules["status"]) == {"too small to assess"}
    # and group C's overstated risk is a breach of the enforced calibration rule
    c = rules[(rules["group"] == "C") & (rules["rule"] == "calibration-within-groups")]
    assert c["status"].item() == "breach"


def test_a_rule_passes_only_inside_its_limits(table: pd.DataFrame) -> None:
    text = load_policy()[0].model_dump()
    text.update(attributes=["group"], reference={"group": "A"}, intersections=[])
    text["rules"] = [
        {
            "id": "wide",
            "metric": "calibration",
            "compare": "ratio",
            "low": 0.1,
            "high": 10,
            "why": "test",
        },
        {
            "id": "narrow",
            "metric": "calibration",
            "compare": "ratio",
            "low": 0.99,
            "high": 1.01,
            "why": "test",
        },
    ]
    import yaml

    policy = parse_policy(yaml.safe_dump(text))
    rules = check_rules(table, policy)
    statuses = rules.table.groupby("rule")["status"].apply(set).to_dict()
    assert statuses["wide"] == {"pass", "too small to assess"}
    assert "breach" in statuses["narrow"]
    assert not rules.passed
    assert rules.verdict == "fail"


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 2, 1], [0.1, 0.2, 0.3], "0 or 1"),
        ([0, 1, 1], [0.1, 1.2, 0.3], "between 0 and 1"),
        ([], [], "no rows"),
    ],
)
def test_unauditable_input_is_refused(y: list[int], p: list[float], message: str) -> None:
    groups = pd.DataFrame({"g": ["a"] * len(y)})
    with pytest.raises(AuditError, match=message):
        audit(np.array(y), np.array(p) > 0.5, groups, {"g": "a"}, probability=np.array(p))
