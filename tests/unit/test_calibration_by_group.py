"""Calibration by sex within cohort (issue 21, finding 12): each group's estimates add up
to its outcomes, no young person moves past another of the same group, and a row that
cannot be placed in a group is refused, never calibrated as somebody else."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.vocabulary import ALREADY_INVOLVED, INVOLVEMENT_FEATURES, NOT_YET_INVOLVED
from models.calibration import (
    CALIBRATE_BY,
    KEY_SEPARATOR,
    METHODS,
    Calibrator,
    group_keys,
    row_columns,
)


def _world(n: int = 20_000, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A score that ranks well within each sex but means three times as much for girls as
    it should (their true rate is a third of boys' at the same score)."""
    rng = np.random.default_rng(seed)
    score = rng.normal(-3.0, 1.0, n)
    female = rng.random(n) < 0.5
    truth = 1 / (1 + np.exp(-score))
    truth = np.where(female, truth / 3, truth)
    y = (rng.random(n) < truth).astype(int)
    return score, y, np.where(female, "female", "male")


@pytest.mark.parametrize("method", METHODS)
def test_each_groups_estimates_add_up_to_its_outcomes(method: str) -> None:
    score, y, sex = _world()
    one_map = Calibrator(method).fit(score, y)
    by_sex = Calibrator(method, by=("sex",)).fit(score, y, groups=sex)
    girls = sex == "female"
    for mask in (girls, ~girls):
        assert by_sex.predict(score, sex)[mask].sum() == pytest.approx(y[mask].sum(), rel=1e-6)
    # one map for everyone over-states girls (and under-states boys) by a wide margin
    shared = one_map.predict(score)
    assert shared[girls].sum() > 1.4 * y[girls].sum()
    assert by_sex.shifts()["female"] < 0 < by_sex.shifts()["male"]


@pytest.mark.parametrize("method", METHODS)
def test_no_young_person_moves_past_another_of_the_same_group(method: str) -> None:
    score, y, sex = _world()
    calibrator = Calibrator(method, by=("sex",)).fit(score, y, groups=sex)
    p = calibrator.predict(score, sex)
    for group in ("female", "male"):
        mask = sex == group
        order = np.argsort(score[mask], kind="stable")
        # within a group the estimate never falls as the score rises
        assert np.all(np.diff(p[mask][order]) >= -1e-12)


def test_intervals_are_refitted_by_group_and_hold_the_estimate() -> None:
    score, y, sex = _world(8_000)
    calibrator = Calibrator("platt", by=("sex",)).fit(score, y, resamples=8, groups=sex)
    interval = calibrator.interval(score[:50], groups=sex[:50])
    assert interval is not None
    low, high = interval
    point = calibrator.predict(score[:50], sex[:50])
    assert np.all(low <= point)
    assert np.all(point <= high)
    assert all(refit.by == ("sex",) for refit in calibrator.resampled_)


def test_a_row_without_a_group_is_refused_not_calibrated_as_someone_else() -> None:
    score, y, sex = _world(2_000)
    calibrator = Calibrator("platt", by=("sex",)).fit(score, y, groups=sex)
    with pytest.raises(ValueError, match="each row's group is needed"):
        calibrator.predict(score)
    with pytest.raises(ValueError, match="'unknown' was not seen when calibrating"):
        calibrator.predict(score[:2], np.array(["female", "unknown"]))
    # a calibrator that does not calibrate by group ignores groups
    plain = Calibrator("platt").fit(score, y)
    assert np.allclose(plain.predict(score[:5], sex[:5]), plain.predict(score[:5]))


def test_a_group_with_no_outcome_is_shifted_within_bounds_not_to_zero() -> None:
    score, y, sex = _world(4_000)
    y = np.where(sex == "female", 0, y)
    calibrator = Calibrator("platt", by=("sex",)).fit(score, y, groups=sex)
    assert np.all(calibrator.predict(score, sex) > 0)


def test_groups_are_sex_within_the_cohort_each_list_is_drawn_from() -> None:
    frame = pd.DataFrame(
        {
            "sex": ["female", "male", "female"],
            INVOLVEMENT_FEATURES[0]: [0, 2, 1],
            INVOLVEMENT_FEATURES[1]: [0, 0, 0],
        },
        index=[10, 11, 12],
    )
    assert CALIBRATE_BY == ("sex", "cohort")
    assert row_columns(CALIBRATE_BY) == ["sex"]
    keys = group_keys(frame, CALIBRATE_BY)
    assert keys.tolist() == [
        f"female{KEY_SEPARATOR}{NOT_YET_INVOLVED}",
        f"male{KEY_SEPARATOR}{ALREADY_INVOLVED}",
        f"female{KEY_SEPARATOR}{ALREADY_INVOLVED}",
    ]
    frame.loc[11, "sex"] = None
    with pytest.raises(
        ValueError, match="1 row\\(s\\) lack sex, which the estimate is calibrated by: 11"
    ):
        group_keys(frame, CALIBRATE_BY)
