"""The fairness verdict is about the lists people actually get.

For the same snapshot and the same released model, the set of young people the gate
flags at its `panel` operating point equals the set `vru score` names in the panel
lists: the union of each local authority's two lists (``known`` and ``early``), each
cut at its own capacity, and each list audited on its own cohort. Both come from one
selection function (`models.panels.select_lists`), and this test is what keeps them
one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from fairness.gate import gate_model
from fairness.policy import load_policy
from features.vocabulary import LISTS, OUTCOMES
from models.registry import Registry
from tests.batch.conftest import CAPACITY, PANEL_CAPACITY, Released, score

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("batch")]


def _lists(folder: Path) -> pd.DataFrame:
    frames = [pd.read_csv(p, dtype={"person_id": str}) for p in sorted(folder.glob("panel_*.csv"))]
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_the_gate_audits_exactly_the_lists_the_panels_receive(
    released: Released, tmp_path: Path, outcome: str
) -> None:
    champion = Registry(released.tracking_uri).load(outcome)
    held_out = str(champion.model.bundle.trained_on["test"])
    out = tmp_path / "panels"
    code, _, stderr = score(released, out, held_out, "--outcome", outcome)
    assert code == 0, stderr
    lists = _lists(out)
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    policy, policy_hash = load_policy(None)
    assert policy.operating_point == "panel", "the shipped policy audits the panels' lists"
    result = gate_model(
        outcome=outcome,
        version=champion.version,
        model=champion.model,
        data_dir=released.data_dir,
        policy=policy.model_copy(update={"bootstrap_samples": 0}),
        policy_hash=policy_hash,
        capacity=CAPACITY,  # what the runs read from VRU_PANEL_CAPACITY
    )
    assert result.as_of.isoformat() == held_out
    assert result.capacity == PANEL_CAPACITY
    # flagged = named on either list, in any local authority
    assert result.flagged == set(lists["person_id"])
    # each list audited on its own cohort, flagging the people named on it
    assert set(result.lists) == set(LISTS)
    for key in LISTS:
        audit = result.lists[key]
        assert audit.flagged == int((lists["list"] == key).sum())
        assert audit.audited == sum(c[outcome][key]["cohort"] for c in counts.values())
    # the lists are a small part of everyone, so the equality above says something
    people = sum(c[outcome]["residents"] for c in counts.values())
    assert len(result.flagged) == sum(
        PANEL_CAPACITY.as_dict()[la][k] for la in counts for k in LISTS
    )
    assert len(result.flagged) < people / 10
