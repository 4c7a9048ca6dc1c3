"""Temporal folds: exact dates, and no label window that reaches into a later slice."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.labels import label_window_end
from training.splits import SplitError, make_folds, yearly_as_of


def test_yearly_folds_have_exact_dates() -> None:
    folds = make_folds(yearly_as_of(2017, 2024), [dt.date(2023, 1, 1), dt.date(2024, 1, 1)])
    first, second = folds
    assert first.name == "test-2023-01"
    assert first.train == tuple(dt.date(y, 1, 1) for y in range(2017, 2021))
    assert (first.valid, first.calib, first.test) == (
        dt.date(2021, 1, 1),
        dt.date(2022, 1, 1),
        dt.date(2023, 1, 1),
    )
    assert second.train == tuple(dt.date(y, 1, 1) for y in range(2017, 2022))
    assert (second.valid, second.calib, second.test) == (
        dt.date(2022, 1, 1),
        dt.date(2023, 1, 1),
        dt.date(2024, 1, 1),
    )
    assert second.all_dates() == tuple(yearly_as_of(2017, 2024))


def test_quarterly_dates_use_the_latest_closed_slice() -> None:
    dates = [dt.date(y, m, 1) for y in range(2018, 2025) for m in (1, 4, 7, 10)]
    (fold,) = make_folds(dates, [dt.date(2024, 4, 1)])
    # calibration window must end by the test as-of: 2023-04-01 + 12 months = 2024-04-01
    assert fold.calib == dt.date(2023, 4, 1)
    assert fold.valid == dt.date(2022, 4, 1)
    assert fold.train[-1] == dt.date(2021, 4, 1)


@given(
    st.lists(
        st.dates(dt.date(2010, 1, 1), dt.date(2030, 1, 1)), min_size=6, max_size=30, unique=True
    ),
    st.data(),
)
def test_no_label_window_reaches_past_the_next_slice(dates, data) -> None:
    test = data.draw(st.sampled_from(sorted(dates)))
    try:
        (fold,) = make_folds(dates, [test], min_train=1)
    except SplitError:
        return
    assert all(label_window_end(d) <= fold.valid for d in fold.train)
    assert label_window_end(fold.valid) <= fold.calib
    assert label_window_end(fold.calib) <= fold.test
    assert max(fold.train) < fold.valid < fold.calib < fold.test


def test_unknown_test_date_is_refused() -> None:
    with pytest.raises(SplitError, match="not one of the as-of dates"):
        make_folds(yearly_as_of(2017, 2024), [dt.date(2024, 6, 1)])


def test_too_little_history_is_refused() -> None:
    with pytest.raises(SplitError):
        make_folds(yearly_as_of(2021, 2024), [dt.date(2023, 1, 1)])
