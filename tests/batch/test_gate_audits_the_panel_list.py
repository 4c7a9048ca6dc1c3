"""The fairness verdict is about the list people actually get.

For the same snapshot and the same released model, the set of young people the gate
audits at its operating point equals the set `vru score` writes into the panel lists:
the `panel` point (the default) is every listed person, the `capacity` point the
people within each panel's capacity. Both come from one selection function
(`models.panels.select_panel`), and this test is what keeps them one.
"""

from __future__ import annotations

import pandas as pd
import pytest

from fairness.gate import gate_model
from fairness.policy import load_policy
from features.vocabulary import OUTCOMES
from models.registry import Registry
from tests.batch.conftest import CAPACITY, Released, score

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("batch")]


def _lists(folder) -> pd.DataFrame:
    frames = [pd.read_csv(p) for p in sorted(folder.glob("panel_*.csv"))]
    lists = pd.concat(frames, ignore_index=True)
    return lists[lists["status"] != "dropped off"]


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_the_gate_audits_exactly_the_list_the_panels_receive(
    released: Released, tmp_path, outcome: str
) -> None:
    champion = Registry(released.tracking_uri).load(outcome)
    held_out = str(champion.model.bundle.trained_on["test"])
    code, _, stderr = score(released, tmp_path / "panels", held_out, "--outcome", outcome)
    assert code == 0, stderr
    lists = _lists(tmp_path / "panels")
    policy, policy_hash = load_policy(None)
    assert policy.operating_point == "panel", "the shipped policy audits the panels' lists"
    audited = {}
    for point in ("panel", "capacity"):
        result = gate_model(
            outcome=outcome,
            version=champion.version,
            model=champion.model,
            data_dir=released.data_dir,
            policy=policy.model_copy(update={"operating_point": point, "bootstrap_samples": 0}),
            policy_hash=policy_hash,
            capacity=CAPACITY,
        )
        assert result.as_of.isoformat() == held_out
        audited[point] = result.flagged
    listed = set(lists["person_id"].astype(str))
    within = set(lists.loc[lists["within_capacity"], "person_id"].astype(str))
    assert audited["panel"] == listed
    assert audited["capacity"] == within
    # the lists hold more than the capacity (everyone in the high bands), so the two
    # points differ and the equality above says something
    assert len(within) == sum(CAPACITY.values())
    assert len(listed) > len(within)
