"""Temporal backtest folds: never a random split.

A fold has four kinds of as-of date, each strictly later than the last by at
least the label horizon, so that every label window is closed before the next
slice begins:

- ``train``: the model is fitted on these snapshots;
- ``valid``: early stopping and the choice of calibration method;
- ``calib``: the probability calibration and the risk bands are fitted here;
- ``test``: held out; every figure in the comparison table comes from here.

The same young person appears at several as-of dates — that is how the model is
used — but nothing that happened on or after the test as-of is in any label
the model was fitted, stopped or calibrated on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from features.labels import label_window_end


@dataclass(frozen=True)
class Fold:
    """One temporal backtest fold."""

    name: str
    train: tuple[dt.date, ...]
    valid: dt.date
    calib: dt.date
    test: dt.date

    def all_dates(self) -> tuple[dt.date, ...]:
        """Every as-of date the fold needs, sorted."""
        return tuple(sorted({*self.train, self.valid, self.calib, self.test}))


class SplitError(ValueError):
    """The as-of dates cannot make the requested folds."""


def _latest_closed_before(dates: Sequence[dt.date], limit: dt.date) -> dt.date | None:
    """Latest date whose label window ends on or before ``limit``."""
    closed = [d for d in dates if label_window_end(d) <= limit]
    return max(closed) if closed else None


def make_folds(
    as_of_dates: Sequence[dt.date], test_dates: Sequence[dt.date], min_train: int = 2
) -> list[Fold]:
    """Build one fold per test date from a list of available as-of dates.

    Parameters
    ----------
    as_of_dates
        Snapshot dates with features available (e.g. each 1 January).
    test_dates
        Held-out as-of dates, one fold each; each must be in ``as_of_dates``.
    min_train
        Fewest training snapshots a fold may have.

    Raises
    ------
    SplitError
        When a test date is unknown or leaves too little earlier data.
    """
    dates = sorted(set(as_of_dates))
    folds = []
    for test in sorted(test_dates):
        if test not in dates:
            raise SplitError(f"test as-of {test} is not one of the as-of dates")
        calib = _latest_closed_before(dates, test)
        valid = _latest_closed_before(dates, calib) if calib else None
        if calib is None or valid is None:
            raise SplitError(
                f"not enough history before test as-of {test} for validation and calibration slices"
            )
        train = tuple(d for d in dates if label_window_end(d) <= valid)
        if len(train) < min_train:
            raise SplitError(
                f"fold testing {test} has {len(train)} training as-of dates; "
                f"at least {min_train} are needed"
            )
        folds.append(Fold(f"test-{test:%Y-%m}", train, valid, calib, test))
    return folds


def yearly_as_of(first_year: int, last_year: int, month: int = 1) -> list[dt.date]:
    """The first day of ``month`` in each year from ``first_year`` to ``last_year``."""
    return [dt.date(y, month, 1) for y in range(first_year, last_year + 1)]
