"""Known answer: recording bias makes a model over-flag the over-policed group — and the
gate sees it only against the truth the generator keeps.

One seed, two worlds: the default (recording bias on: Black young people stopped four
times as often for the same behaviour, and earlier police contact makes a suspect more
likely to be recorded) and ``--no-bias``. Truth and people are identical; only the
records differ. A perpetration model is trained on each and audited on its held-out
snapshot against the recorded and the true outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from fairness.gate import GateResult, gate_model
from fairness.policy import load_policy
from features.vocabulary import LOCAL_AUTHORITIES
from models.risk_model import RiskModel
from synthetic.config import BiasSettings, GeneratorSettings
from synthetic.generate import generate, write_dataset
from training.train import train_outcome

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("known_answer")]
PEOPLE, SEED = 100_000, 7
#: the settings' default panel capacity (VRU_PANEL_CAPACITY): the gate audits the panel lists
CAPACITY = dict.fromkeys(LOCAL_AUTHORITIES, 50)


@dataclass(frozen=True)
class World:
    result: GateResult

    def row(self, against: str, attribute: str, group: str, metric: str) -> pd.Series:
        table = self.result.runs[against].table
        part = table[
            (table["attribute"] == attribute)
            & (table["group"] == group)
            & (table["metric"] == metric)
        ]
        return part.iloc[0]

    def breaches(self, against: str) -> set[tuple[str, str, str]]:
        b = self.result.runs[against].rules.breaches
        return set(zip(b["rule"], b["attribute"], b["group"], strict=True))


def _world(root: Path, bias: BiasSettings) -> World:
    data = write_dataset(generate(GeneratorSettings(people=PEOPLE, seed=SEED, bias=bias)), root)
    trained = train_outcome(
        data,
        "perpetrator",
        capacity=CAPACITY,
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        experiment="known-answer",
        artifact_dir=root / "mlartifacts",
        project_dir=root,
        n_boot=10,
    )
    chosen = next(
        r
        for r in trained.results
        if r.fold == trained.folds[-1].name and r.candidate == trained.chosen
    )
    policy, digest = load_policy()
    result = gate_model(
        outcome="perpetrator",
        version=trained.registered_version,
        model=RiskModel(chosen.bundle),
        data_dir=data,
        policy=policy,
        policy_hash=digest,
        capacity=CAPACITY,
        against="truth",
    )
    return World(result)


@pytest.fixture(scope="module")
def biased(tmp_path_factory: pytest.TempPathFactory) -> World:
    return _world(tmp_path_factory.mktemp("biased"), BiasSettings())


@pytest.fixture(scope="module")
def unbiased(tmp_path_factory: pytest.TempPathFactory) -> World:
    return _world(tmp_path_factory.mktemp("unbiased"), BiasSettings.none())


def test_biased_model_over_states_black_young_peoples_risk_against_the_truth(
    biased: World, unbiased: World
) -> None:
    policy, _ = load_policy()
    calibration = policy.rules[0]
    over = biased.row("truth", "ethnicity", "Black", "calibration")
    fair = unbiased.row("truth", "ethnicity", "Black", "calibration")
    # predicted risk relative to the true rate, compared with White young people
    assert over["ratio"] > calibration.high
    assert calibration.low <= fair["ratio"] <= calibration.high
    assert over["ratio"] - fair["ratio"] > 0.2
    assert ("calibration-within-groups", "ethnicity", "Black") in biased.breaches("truth")
    assert biased.result.verdict == "fail"


def test_biased_model_wrongly_flags_black_young_people_more_often(
    biased: World, unbiased: World
) -> None:
    over = biased.row("truth", "ethnicity", "Black", "fpr")
    fair = unbiased.row("truth", "ethnicity", "Black", "fpr")
    assert over["ratio"] > fair["ratio"] + 0.25
    assert over["difference"] > fair["difference"]


def test_model_trained_on_the_unbiased_world_passes_the_policy(unbiased: World) -> None:
    assert unbiased.breaches("truth") == set()
    assert unbiased.result.verdict == "pass"


def test_recorded_outcomes_hide_what_the_truth_shows(biased: World) -> None:
    """Recording bias is in the labels too, so the recorded audit sees less of it."""
    truth = biased.row("truth", "ethnicity", "Black", "calibration")
    recorded = biased.row("recorded", "ethnicity", "Black", "calibration")
    assert recorded["ratio"] < truth["ratio"] - 0.2
    assert ("calibration-within-groups", "ethnicity", "Black") not in biased.breaches("recorded")
