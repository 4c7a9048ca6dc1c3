"""The service's single-row path gives what the batch gives; under load nothing is lost.

The service explains one young person at a time through :meth:`RiskModel.explain_record`
and :func:`models.changes.changes_of_record` (the calibrator read as arrays, no one-row
frames): each explanation and each "what changed" must be exactly the one the batch path
(:meth:`RiskModel.explain` and :func:`models.changes.changes_since` on many rows) gives.
Under concurrent load every answered ``/explain`` has its one access-log row, written
before the answer, and the chain holds.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from models.changes import changes_of_record, changes_since
from models.risk_model import one_request
from serving.access_log import AccessLog, Entry, read_rows, verify_file
from serving.runtime import calibrated_by, load_champions, model_inputs
from serving.startup import Snapshot
from tests.serving.conftest import People
from vru.cli_serve import ServingProcess
from vru.serving_stack import ServingStack

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving")]

#: young people compared, spread over the snapshot
PEOPLE = 240


def test_one_young_person_gets_exactly_the_batch_explanation_and_changes(
    stack: ServingStack,
) -> None:
    champions = load_champions(stack.tracking_uri, list(stack.versions))
    features, texts = model_inputs(champions), calibrated_by(champions)
    snapshot = Snapshot.load(stack.snapshot, features, texts)
    assert stack.previous_snapshot is not None
    previous = Snapshot.load(stack.previous_snapshot, features, texts)
    step = max(1, len(snapshot) // PEOPLE)
    ids = [p for p in snapshot.person_ids[::step] if p in previous.positions]
    now = pd.concat([snapshot.row(p) for p in ids], ignore_index=True)
    then = pd.concat([previous.row(p) for p in ids], ignore_index=True)
    for outcome, champion in champions.items():
        model = champion.model
        assert model._maps().usable, f"{outcome}: the single-row path must be the one tested"
        batch = model.explain(now, data_as_of=snapshot.freshness)
        changed = changes_since(model, now, then)
        predicted = model.predict(None, now)
        contributions = model.contributions(now).values.to_numpy()
        moved = 0
        for i, person in enumerate(ids):
            record, before = snapshot.record(person), previous.record(person)
            assert record is not None
            assert before is not None
            with one_request():
                explanation = model.explain_record(record, data_as_of=snapshot.freshness)
                change = changes_of_record(
                    model, record, before, as_of=snapshot.as_of, since=previous.as_of
                )
            assert explanation.to_dict() == batch[i].to_dict(), (outcome, person)
            assert change == changed[person], (outcome, person)
            moved += bool(change.moved)
            # a one-row frame takes the single-row path too: the same numbers as its batch row
            one = now.iloc[[i]]
            (framed,) = model.explain(one, data_as_of=snapshot.freshness)
            assert framed.to_dict() == batch[i].to_dict()
            scored = model.predict(None, one)
            assert scored["probability"].iloc[0] == predicted["probability"].iloc[i]
            assert scored["band"].iloc[0] == predicted["band"].iloc[i]
            assert np.array_equal(model.contributions(one).values.to_numpy()[0], contributions[i])
        # the comparison covered explanations with reasons and changes with named moves
        assert moved > 0
        assert any(e.reasons for e in batch)
        assert any(e.probability_interval for e in batch)


def test_a_row_is_scored_once_within_a_request_and_never_remembered_after(
    stack: ServingStack,
) -> None:
    champions = load_champions(stack.tracking_uri, ["victim"])
    snapshot = Snapshot.load(stack.snapshot, model_inputs(champions), calibrated_by(champions))
    model = champions["victim"].model
    record = snapshot.record(str(snapshot.person_ids[0]))
    assert record is not None
    estimator = model.bundle.estimator
    calls = 0
    score = estimator.score

    def counted(inputs: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        return score(inputs)

    estimator.score = counted
    try:
        with one_request():
            first = model.explain_record(record)
            assert model.score_record(record).probability == first.probability
        assert calls == 1  # explained and scored again within one request: one score
        model.score_record(record)
        once = calls - 1
        model.score_record(record)
        # outside a request nothing is remembered: the second call scores as the first did
        assert once > 0
        assert calls - 1 == 2 * once
    finally:
        del estimator.score


def test_every_answered_explain_under_load_has_its_one_row(
    server: ServingProcess, stack: ServingStack, people: People
) -> None:
    purpose = f"load check {uuid.uuid4().hex[:8]}"
    requests = 96
    body = {"person_id": people.flagged_bristol, "purpose": purpose}
    headers = {"Authorization": f"Bearer {stack.tokens['pat']}"}
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    with (
        httpx.Client(base_url=server.url, headers=headers, limits=limits, timeout=60) as client,
        ThreadPoolExecutor(max_workers=16) as pool,
    ):
        answers = list(pool.map(lambda _: client.post("/explain", json=body), range(requests)))
    assert [a.status_code for a in answers] == [200] * requests
    assert all(set(a.json()["outcomes"]) == set(stack.versions) for a in answers)
    rows = [r for r in read_rows(stack.access_log) if r["purpose"] == purpose]
    assert len(rows) == requests
    assert {(r["action"], r["decision"], r["user"]) for r in rows} == {
        ("explain", "allowed", "pat")
    }
    assert verify_file(stack.access_log).ok


def test_a_submitted_row_is_on_disk_when_waited_for_and_close_writes_the_rest(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.sqlite"
    log = AccessLog(path)
    entry = Entry("explain", "allowed", "pat", "practitioner", "Bristol", person_id="P1")
    written = log.submit(entry)
    row_id = written.wait()
    # read by another connection: committed, not only queued
    assert [r["id"] for r in read_rows(path)] == [row_id]
    pending = [log.submit(entry) for _ in range(50)]
    log.close()  # nothing queued is dropped
    assert sorted(w.wait() for w in pending) == list(range(row_id + 1, row_id + 51))
    assert verify_file(path).rows == 51


def test_a_group_the_calibrator_never_saw_is_refused_as_the_batch_refuses_it(
    stack: ServingStack,
) -> None:
    champions = load_champions(stack.tracking_uri, list(stack.versions))
    snapshot = Snapshot.load(stack.snapshot, model_inputs(champions), calibrated_by(champions))
    found = snapshot.record(str(snapshot.person_ids[0]))
    assert found is not None
    record = {**found, "sex": "not recorded"}
    for champion in champions.values():
        model = champion.model
        assert "sex" in (model.calibrate_by or ())
        with pytest.raises(ValueError, match="not recorded") as batch:
            model.explain(pd.DataFrame([record, record]))
        with pytest.raises(ValueError, match="not recorded") as one:
            model.explain_record(record)
        assert str(one.value) == str(batch.value)
