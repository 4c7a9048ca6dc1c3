"""Training snapshots out of core and the case-control sample of large populations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.registry import model_inputs
from features.snapshot import build_snapshot, load_tables
from models.candidates import LogisticCandidate
from synthetic.generate import SyntheticDataset, write_dataset
from training.snapshots import (
    MIN_CONTROLS_PER_CASE,
    WEIGHT,
    CaseControl,
    SnapshotStore,
    draws,
)
from training.splits import Fold
from training.train import fold_slices

LABEL = "sv_victim_12m"
DATES = [dt.date(2021, 1, 1), dt.date(2022, 1, 1), dt.date(2023, 1, 1), dt.date(2024, 1, 1)]


@pytest.fixture(scope="module")
def stored(small_dataset: SyntheticDataset, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("store")
    folder = write_dataset(small_dataset, root / "pop")
    data = load_tables(folder)
    # a small build size: the four dates are built two builds at a time, not in one
    store = SnapshotStore.build(data, DATES, root / "work", seed=3, build_rows=2 * len(data.people))
    whole = build_snapshot(data, DATES, labels=True).frame
    return store, whole


def test_share_brings_the_slice_to_the_size_and_keeps_enough_others() -> None:
    policy = CaseControl(above=1_000)
    assert policy.share(900, 30) == 1.0  # under the size: every row
    assert policy.share(10_000, 100) == pytest.approx(900 / 9_900)
    # so many involved that the size would keep almost no others: keep 5 per case
    assert policy.share(10_000, 900) == pytest.approx(MIN_CONTROLS_PER_CASE * 900 / 9_100)
    assert CaseControl(None).share(10**7, 10) == 1.0
    with pytest.raises(ValueError, match="1 row or more"):
        CaseControl(0)


def test_draws_follow_the_person_not_the_row_order() -> None:
    ids = np.array([f"P{i:06d}" for i in range(5_000)], dtype=object)
    day = dt.date(2023, 1, 1)
    u = draws(ids, day, seed=1)
    assert ((u >= 0) & (u < 1)).all()
    assert abs(u.mean() - 0.5) < 0.02
    shuffled = np.random.default_rng(0).permutation(5_000)
    assert np.array_equal(draws(ids[shuffled], day, seed=1), u[shuffled])
    assert not np.array_equal(draws(ids, day, seed=2), u)  # another seed, another sample
    assert not np.array_equal(draws(ids, dt.date(2024, 1, 1), seed=1), u)  # and another date


def test_full_reads_are_the_snapshots_as_one_table(stored) -> None:
    store, whole = stored
    fold = Fold("f", (DATES[0],), DATES[1], DATES[2], DATES[3])
    from_store = fold_slices(store, fold, LABEL)
    from_table = fold_slices(whole, fold, LABEL)
    assert from_store.share == 1.0
    for a, b in zip(from_store, from_table, strict=True):
        assert (a[WEIGHT] == 1.0).all()
        key = ["person_id", "as_of"]
        left = a.drop(columns=[WEIGHT]).sort_values(key).reset_index(drop=True)
        right = b.sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(left[right.columns], right, check_dtype=True)


def test_a_sample_keeps_every_case_and_weights_the_others(stored) -> None:
    store, _ = stored
    full = store.read(DATES[:2], LABEL)
    rows, involved = store.rows(DATES[:2], LABEL)
    assert (rows, involved) == (len(full), int(full[LABEL].sum()))
    share = 0.25
    sample = store.read(DATES[:2], LABEL, share)
    cases = sample[sample[LABEL] == 1]
    others = sample[sample[LABEL] == 0]
    assert len(cases) == involved  # every young person involved
    assert (cases[WEIGHT] == 1.0).all()
    assert (others[WEIGHT] == 4.0).all()
    kept = len(others) / (rows - involved)
    assert abs(kept - share) < 0.05
    # a smaller share keeps a subset of a larger one (the draws are fixed per person)
    smaller = store.read(DATES[:2], LABEL, 0.1)
    key = list(zip(smaller["person_id"], smaller["as_of"], strict=True))
    assert set(key) <= set(zip(sample["person_id"], sample["as_of"], strict=True))
    with pytest.raises(ValueError, match="share"):
        store.read(DATES[:2], LABEL, 0.0)


def test_the_weights_give_back_the_population_rate(stored) -> None:
    """Without its weights, a model fitted on the sample would state risk several times
    too high; with them, its mean estimate on the full later snapshot is near the rate."""
    store, _ = stored
    features = model_inputs()
    later = store.read([DATES[3]], LABEL)
    share = 0.2
    sample = store.read(DATES[:3], LABEL, share)
    y = sample[LABEL].to_numpy(dtype=int)

    def mean_estimate(weight: np.ndarray | None) -> float:
        model = LogisticCandidate().fit(sample[features], y, sample_weight=weight)
        return float((1 / (1 + np.exp(-model.score(later[features])))).mean())

    rate = later[LABEL].to_numpy(dtype=float).mean()
    weighted = mean_estimate(sample[WEIGHT].to_numpy(dtype=float))
    unweighted = mean_estimate(None)
    assert weighted == pytest.approx(rate, rel=0.35)
    assert unweighted > 2.5 * weighted


def test_store_paths_stay_in_its_folder(stored) -> None:
    store, _ = stored
    assert store.dates == DATES
    assert all(Path(p).parent == store.folder for p in store.folder.glob("*.parquet"))
    assert len(list(store.folder.glob("snapshot-*.parquet"))) == len(DATES)
