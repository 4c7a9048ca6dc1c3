"""No explanation shows a reason whose direction contradicts the feature registry.

Every young person of a generated snapshot is explained by both released models (the
victimisation and the perpetration champion), and every reason shown is checked against
the direction the registry declares for its input — read here from the registry and the
record itself, not from the code that chose the reasons:

- "what raised the estimate": a positive contribution of a record that is present — for
  a raises-risk input a value above zero, for a lowers-risk input ("days since the last",
  "age at the first") a record that exists;
- "what lowered it": a negative contribution of a lowers-risk input, or the absence (zero,
  a fall, never) of a raises-risk record.

A risk record shown as protective — the fault practitioners found in the first release —
fails this test.
"""

from __future__ import annotations

import datetime as dt

import pytest

from features.registry import REGISTRY
from features.snapshot import build_snapshot
from features.vocabulary import OUTCOMES
from models.registry import Registry
from tests.batch.conftest import Released

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("batch")]

AS_OF = dt.date(2025, 1, 1)


def _contradiction(kind: str, feature: str, value: float | None, contribution: float) -> str:
    """Why a shown reason contradicts the registry ("" when it does not)."""
    direction = REGISTRY[feature].direction
    absent = value is None or value <= 0
    if kind == "raised":
        if contribution <= 0:
            return "listed as raising with a contribution that lowers"
        if direction == 1 and absent:
            return "no record, yet listed as raising the estimate"
        if direction == -1 and value is None:
            return "never recorded, yet listed as raising the estimate"
    else:
        if contribution >= 0:
            return "listed as lowering with a contribution that raises"
        if direction == 1 and not absent:
            return "a risk record present, yet listed as lowering the estimate"
    return ""


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_no_reason_runs_against_its_declared_direction(released: Released, outcome: str) -> None:
    snapshot = build_snapshot(released.data_dir, [AS_OF]).frame
    model = Registry(released.tracking_uri).load(outcome).model
    explanations = model.explain(snapshot)
    assert len(explanations) == len(snapshot) > 10_000
    wrong: list[str] = []
    shown = folded = 0
    for e in explanations:
        folded += e.folded
        for kind, reasons in (("raised", e.reasons), ("lowered", e.protective)):
            for r in reasons:
                shown += 1
                why = _contradiction(kind, r.feature, r.value, r.contribution)
                if why:
                    wrong.append(f"{e.person_id} {r.feature}={r.value}: {why} ({r.sentence})")
    assert shown > len(snapshot), "most young people should have at least one reason"
    assert wrong == [], f"{len(wrong)} reasons against their direction, e.g. {wrong[:3]}"
    # the folding is what made this hold wherever a model still runs against a direction
    check = model.direction_check(snapshot)
    assert check["against_share"] <= 0.05
    if check["against_people"] > 0:
        assert folded > 0
