"""Known answer: recording bias makes a model over-flag the over-policed group — and the
gate sees it only against the truth the generator keeps.

One seed, two worlds: the default (recording bias on: Black young people stopped four
times as often for the same behaviour, and earlier police contact makes a suspect more
likely to be recorded) and ``--no-bias``. Truth and people are identical; only the
records differ. A perpetration model is trained on each and audited on its held-out
snapshot against the recorded and the true outcomes, twice: each list at its own
operating point (the shipped policy) and the whole snapshot (operating point ``band``).

What each list can show on 100,000 young people (measured, seed 7): in both cohorts
the biased model over-states Black young people's risk against the truth (ratio to
White 1.48 among those already known to services, 1.19 among those with no record
yet; 0.97 and 0.87 for the unbiased model) — but neither cohort has the 20 true
outcomes among Black young people the policy needs to assess it (13 and 9), so no
list's *verdict* can carry the known answer: the check is reported as too small to
assess, never passed. Calibration does not depend on who is named, so a larger
capacity would not change that. The whole snapshot (22 outcomes) carries it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairness.gate import GateResult, gate_model
from fairness.policy import load_policy
from features.vocabulary import LOCAL_AUTHORITIES
from models.panels import PanelCapacity
from models.risk_model import RiskModel
from synthetic.config import BiasSettings, GeneratorSettings, PanelHistory
from synthetic.generate import generate, write_dataset
from training.train import train_outcome

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("known_answer")]
#: tests/conftest.py's population_pair (seed 20241) does not carry the known answer even
#: on the whole snapshot: 19 true outcomes among Black young people, too few to assess
PEOPLE, SEED = 100_000, 7
#: the settings' default panel capacity (VRU_PANEL_CAPACITY): known 50, early 20
CAPACITY = PanelCapacity.uniform()
CHECK = ("calibration-within-groups", "ethnicity", "Black")


@dataclass(frozen=True)
class World:
    #: each list at its own operating point, on its own cohort (the shipped policy)
    lists: GateResult
    #: the whole held-out snapshot (one audit of everyone)
    whole: GateResult
    #: calibration by sex beside one map for everyone and sex as an input (training.by_sex)
    by_sex: pd.DataFrame

    def row(
        self, against: str, attribute: str, group: str, metric: str, list_key: str = "all"
    ) -> pd.Series:
        result = self.whole if list_key == "all" else self.lists
        table = result.lists[list_key].runs[against].table
        part = table[
            (table["attribute"] == attribute)
            & (table["group"] == group)
            & (table["metric"] == metric)
        ]
        return part.iloc[0]

    def checks(self, against: str, status: str, list_key: str = "all") -> set[tuple[str, ...]]:
        result = self.whole if list_key == "all" else self.lists
        rules = result.lists[list_key].runs[against].rules.enforced
        part = rules[rules["status"] == status]
        return set(zip(part["rule"], part["attribute"], part["group"], strict=True))

    def breaches(self, against: str, list_key: str = "all") -> set[tuple[str, ...]]:
        return self.checks(against, "breach", list_key)


def _world(root: Path, bias: BiasSettings) -> World:
    # help that does nothing: where it works, who is helped follows the biased records,
    # and the truth the audit is measured against would depend on the bias
    settings = GeneratorSettings(
        people=PEOPLE, seed=SEED, bias=bias, panels=PanelHistory(intervention_effect=0.0)
    )
    data = write_dataset(generate(settings), root)
    trained = train_outcome(
        data,
        "perpetrator",
        capacity=dict.fromkeys(LOCAL_AUTHORITIES, 50),
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        experiment="known-answer",
        artifact_dir=root / "mlartifacts",
        project_dir=root,
        n_boot=10,
        lead_months=0,  # lead time measures; it changes no model or verdict
        # the known answer is about the chosen model's bias, not the candidates' race: the
        # three quickest candidates, no unconstrained comparisons (100,000 people, twice)
        candidates=("rules", "logistic", "lightgbm"),
        compare_unconstrained=False,
    )
    chosen = next(
        r
        for r in trained.results
        if r.fold == trained.folds[-1].name and r.candidate == trained.chosen
    )
    policy, digest = load_policy()
    results = {
        point: gate_model(
            outcome="perpetrator",
            version=trained.registered_version,
            model=RiskModel(chosen.bundle),
            data_dir=data,
            policy=policy.model_copy(update={"operating_point": point}),
            policy_hash=digest,
            capacity=CAPACITY,
            against="truth",
        )
        for point in ("panel", "band")
    }
    assert trained.by_sex is not None
    return World(results["panel"], results["band"], trained.by_sex.set_index("variant"))


@pytest.fixture(scope="module")
def biased(tmp_path_factory: pytest.TempPathFactory) -> World:
    return _world(tmp_path_factory.mktemp("biased"), BiasSettings())


@pytest.fixture(scope="module")
def unbiased(tmp_path_factory: pytest.TempPathFactory) -> World:
    return _world(tmp_path_factory.mktemp("unbiased"), BiasSettings.none())


# ------------------------------------------------------------------ the whole snapshot


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
    assert CHECK in biased.breaches("truth")
    assert biased.whole.verdict == "fail"


def test_biased_model_wrongly_flags_black_young_people_more_often(
    biased: World, unbiased: World
) -> None:
    over = biased.row("truth", "ethnicity", "Black", "fpr")
    fair = unbiased.row("truth", "ethnicity", "Black", "fpr")
    assert over["ratio"] > fair["ratio"] + 0.25
    assert over["difference"] > fair["difference"]


#: the one check the unbiased world's model may breach: it under-states the most deprived
#: fifth's risk (0.77× the least deprived, 95% interval 0.72–0.83, against the policy's
#: 0.8), because place is kept out of the model — no input tells a young person with no
#: record in the most deprived fifth from one in the least (README, "What the truth shows")
PLACE = ("calibration-within-groups", "imd_quintile", "1")


def test_model_trained_on_the_unbiased_world_passes_every_check_but_place(
    unbiased: World,
) -> None:
    """Without recording bias the model passes every enforced check on the whole snapshot —
    ethnicity, age, care experience, SEN, area — except, at most, the deprivation check
    that keeping place out of the model costs (an under-statement, never an over-one).

    Age is the regression issue 14's directions brought and re-anchoring fixed: the
    extract's "on record" counts of 18–24 year olds grow with every year of history, and a
    model whose counts may only raise the estimate over-stated them (1.26× 14–17 year
    olds') until the age shape was re-estimated on the latest labelled year."""
    breaches = unbiased.breaches("truth")
    assert breaches <= {PLACE}
    assert unbiased.whole.verdict == ("pass" if not breaches else "fail")
    place = unbiased.row("truth", *PLACE[1:], "calibration")
    assert 0.7 < place["ratio"] < 1.0
    policy, _ = load_policy()
    calibration = policy.rules[0]
    age = unbiased.row("truth", "age_band", "18–24", "calibration")
    assert calibration.low <= age["ratio"] <= calibration.high


#: girls compared with boys in the audit's calibration check
SEX = ("calibration-within-groups", "sex", "female")


@pytest.mark.parametrize("world", ["biased", "unbiased"])
def test_girls_risk_is_neither_over_nor_under_stated_against_the_truth(
    world: str, request: pytest.FixtureRequest
) -> None:
    """Issue 21, finding 12: calibrated with one map for everyone, a model that does not
    read sex over-stated girls' risk against the truth about twofold (boys' true rate is
    several times girls'); the policy did not enforce the check. Now it does, and
    training calibrates by sex within each cohort. Without recording bias the check is
    assessed and passes on the whole snapshot. With it, the model under-states girls'
    true risk a little (0.79): an earlier police contact makes a suspect more likely to
    be recorded, boys have more of them, so calibrating on the records credits boys with
    more of their true violence than girls — recording bias the truth shows and the
    records cannot. One map for everyone breaches the check in both worlds."""
    result: World = request.getfixturevalue(world)
    policy, _ = load_policy()
    calibration = policy.rules[0]
    assert "sex" in calibration.attributes
    assert calibration.enforce
    girls = result.row("truth", "sex", "female", "calibration")
    assert girls["assessable"]
    if world == "unbiased":
        assert SEX in result.checks("truth", "pass")
        assert calibration.low <= girls["ratio"] <= calibration.high
    else:
        assert 0.7 < girls["ratio"] < 1.0
    table = result.by_sex
    released = table.loc["by_sex", "girls_calibration_truth"]
    one_map = table.loc["one_map", "girls_calibration_truth"]
    assert one_map > calibration.high  # what the policy let through before
    assert abs(np.log(released)) < abs(np.log(one_map)) / 2
    # calibrating never changes who is ranked above whom within a sex and cohort, so the
    # released model's precision at capacity stays within reach of one map's
    assert table.loc["by_sex", "pr_auc"] >= table.loc["one_map", "pr_auc"] - 0.02


def test_recorded_outcomes_hide_what_the_truth_shows(biased: World) -> None:
    """Recording bias is in the labels too, so the recorded audit sees less of it."""
    truth = biased.row("truth", "ethnicity", "Black", "calibration")
    recorded = biased.row("recorded", "ethnicity", "Black", "calibration")
    assert recorded["ratio"] < truth["ratio"] - 0.2
    assert CHECK not in biased.breaches("recorded")


# ------------------------------------------------------------------ each list on its own cohort


@pytest.mark.parametrize("list_key", ["known", "early"])
def test_each_list_shows_the_over_statement_in_its_own_cohort(
    biased: World, unbiased: World, list_key: str
) -> None:
    """Among young people already known to services and among those with no record yet,
    the biased model over-states Black young people's risk against the truth; the
    unbiased model does not."""
    policy, _ = load_policy()
    calibration = policy.rules[0]
    over = biased.row("truth", "ethnicity", "Black", "calibration", list_key)
    fair = unbiased.row("truth", "ethnicity", "Black", "calibration", list_key)
    assert over["ratio"] - fair["ratio"] > 0.2
    assert calibration.low <= fair["ratio"] <= calibration.high
    # the cohorts split the whole snapshot
    whole = biased.row("truth", "ethnicity", "Black", "calibration")
    other = biased.row("truth", "ethnicity", "Black", "calibration", _other(list_key))
    assert over["n"] + other["n"] == whole["n"]


@pytest.mark.parametrize("list_key", ["known", "early"])
def test_no_list_passes_the_black_calibration_check_it_cannot_assess(
    biased: World, list_key: str
) -> None:
    """Too few true outcomes among Black young people in either cohort (fewer than the
    policy's 20) to judge the check: it is reported as too small, never passed."""
    policy, _ = load_policy()
    row = biased.row("truth", "ethnicity", "Black", "calibration", list_key)
    assert row["events"] < policy.min_events or row["n"] < policy.min_group_size
    assert CHECK in biased.checks("truth", "too small to assess", list_key)
    assert CHECK not in biased.checks("truth", "pass", list_key)


def _other(list_key: str) -> str:
    return "early" if list_key == "known" else "known"
