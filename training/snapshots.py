"""Training snapshots out of core, and the case-control sample of large populations.

A training run needs eight yearly snapshots, but each fold reads only some of them, and
only its validation, calibration and test snapshots in full. So :class:`SnapshotStore`
builds the snapshots a few as-of dates at a time, writes each to Parquet in a working
folder, and reads back one fold's slices when the fold starts: memory holds one fold,
never the eight snapshots as one table.

Above a configured number of training rows (:class:`CaseControl`), the training slice
keeps every young person involved in the outcome and a random share of the others, each
of those weighted by one over the share (a case-control sample with inverse-probability
weights). The weights give the fitted model the population's own base rate, and the
calibration is fitted afterwards on a later snapshot read in full, so the published
probabilities are on the population's scale; the validation, calibration and test
snapshots are never sampled. Which rows are kept is a pure function of the young person,
the as-of date and the seed (a hash), so a smaller share keeps a subset of a larger one
and a rerun keeps the same rows.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.build import build_feature_table, to_frame
from features.labels import LABELS
from features.snapshot import Tables, check_dates

__all__ = [
    "DEFAULT_SAMPLE_ABOVE",
    "WEIGHT",
    "CaseControl",
    "SnapshotStore",
    "draws",
]

#: the frame column holding each training row's weight (1 for every row when unsampled)
WEIGHT = "sample_weight"
#: the stored column holding each row's uniform draw (never read by a model)
DRAW = "case_control_draw"
#: training rows above which the others are sampled (the default population's folds train
#: on 1.2–1.6 million rows; this keeps about a third of those not involved)
DEFAULT_SAMPLE_ABOVE = 500_000
#: at the smallest share, still keep this many others per young person involved
MIN_CONTROLS_PER_CASE = 5
#: rows of snapshots built in one go (several as-of dates at a time while they fit)
BUILD_ROWS = 1_500_000


@dataclass(frozen=True)
class CaseControl:
    """When and how much to sample those not involved in the outcome.

    ``above``: training rows above which the sample is drawn (``None``: never, every row
    is used). The share of the others kept is what brings the slice to ``above`` rows,
    and never so small that fewer than :data:`MIN_CONTROLS_PER_CASE` others are kept per
    young person involved.
    """

    above: int | None = DEFAULT_SAMPLE_ABOVE
    seed: int = 0

    def __post_init__(self) -> None:
        if self.above is not None and self.above < 1:
            raise ValueError(f"the case-control size must be 1 row or more, got {self.above}")

    def share(self, rows: int, involved: int) -> float:
        """The share of those not involved to keep, of a slice of ``rows`` rows of which
        ``involved`` are involved in the outcome (1.0: all)."""
        others = rows - involved
        if self.above is None or rows <= self.above or others <= 0:
            return 1.0
        wanted = max(self.above - involved, MIN_CONTROLS_PER_CASE * involved)
        return min(1.0, wanted / others)

    def describe(self) -> str:
        """One line for parameters and the model card."""
        if self.above is None:
            return "every row (no sample)"
        return (
            f"above {self.above:,} training rows: every young person involved and a "
            "weighted random share of the others"
        )


def draws(person_ids: Iterable[object], as_of: dt.date, seed: int) -> np.ndarray:
    """A uniform number in [0, 1) for each young person at ``as_of``: the same person,
    date and seed always give the same number, whatever the row order."""
    ids = np.asarray(list(person_ids) if not isinstance(person_ids, np.ndarray) else person_ids)
    key = f"{seed % 10**8:08d}{as_of:%Y%m%d}"
    hashed = pd.util.hash_array(ids.astype(object), hash_key=key, categorize=False)
    return (hashed >> np.uint64(11)).astype(np.float64) * 2.0**-53


@dataclass(frozen=True)
class _Stored:
    path: Path
    rows: int
    #: labelled rows involved, per label
    involved: dict[str, int]
    #: labelled rows, per label
    labelled: dict[str, int]


class SnapshotStore:
    """Snapshots with labels on disk, one Parquet file per as-of date.

    Build with :meth:`build`; read slices back with :meth:`read`.
    """

    def __init__(self, folder: Path, stored: dict[dt.date, _Stored], seed: int) -> None:
        self.folder = folder
        self._stored = stored
        self.seed = seed

    @classmethod
    def build(
        cls,
        data: Tables,
        dates: Sequence[dt.date],
        folder: Path,
        *,
        seed: int = 0,
        progress: Callable[[str], None] | None = None,
        build_rows: int = BUILD_ROWS,
    ) -> SnapshotStore:
        """Build the snapshots (labels included) of ``dates`` into ``folder``, as many
        as-of dates at a time as keep one build under about ``build_rows`` rows."""
        say = progress or (lambda message: None)
        folder.mkdir(parents=True, exist_ok=True)
        ordered = sorted(set(dates))
        per_date = max(1, len(data.people))  # an upper bound on one snapshot's rows
        step = max(1, min(len(ordered), build_rows // per_date))
        stored: dict[dt.date, _Stored] = {}
        for begin in range(0, len(ordered), step):
            part = ordered[begin : begin + step]
            say(
                f"building features for as-of dates {begin + 1}–{begin + len(part)} of "
                f"{len(ordered)} ({part[0]:%Y-%m-%d}–{part[-1]:%Y-%m-%d})"
            )
            # the Arrow table alone: a snapshot's pandas frame would double its memory here
            check_dates(part, data)
            table = build_feature_table(data.tables, part, data.end)
            as_of = pc.cast(table["as_of"], pa.timestamp("us")).to_numpy(zero_copy_only=False)
            for day in part:
                mask = as_of == np.datetime64(day, "us")
                one = table.filter(pa.array(mask))
                ids = one["person_id"].to_numpy(zero_copy_only=False)
                one = one.append_column(DRAW, pa.array(draws(ids, day, seed), pa.float64()))
                path = folder / f"snapshot-{day:%Y-%m-%d}.parquet"
                pq.write_table(one, path, compression="zstd")
                stored[day] = _Stored(
                    path,
                    one.num_rows,
                    {lab: int(pc.sum(pc.equal(one[lab], 1)).as_py() or 0) for lab in LABELS},
                    {lab: one.num_rows - one[lab].null_count for lab in LABELS},
                )
            del table
        return cls(folder, stored, seed)

    @property
    def dates(self) -> list[dt.date]:
        return sorted(self._stored)

    def rows(self, dates: Iterable[dt.date], label: str) -> tuple[int, int]:
        """Labelled rows and those involved (``label`` = 1) over ``dates``."""
        chosen = [self._stored[d] for d in dates]
        return sum(s.labelled[label] for s in chosen), sum(s.involved[label] for s in chosen)

    def read(self, dates: Iterable[dt.date], label: str, share: float = 1.0) -> pd.DataFrame:
        """The labelled rows of ``dates`` as one frame, with :data:`WEIGHT`.

        With ``share`` below 1, every row involved in ``label`` and the others whose draw
        falls below ``share``; those others weigh ``1 / share``.
        """
        if not 0 < share <= 1 or math.isnan(share):
            raise ValueError(f"share must be in (0, 1], got {share}")
        parts = []
        for day in dates:
            table = pq.read_table(self._stored[day].path)
            table = table.filter(pc.is_valid(table[label]))
            involved = pc.equal(table[label], 1)
            if share < 1:
                table = table.filter(pc.or_(involved, pc.less(table[DRAW], share)))
                involved = pc.equal(table[label], 1)
            weight = pc.if_else(involved, 1.0, 1.0 / share)
            parts.append(table.drop_columns([DRAW]).append_column(WEIGHT, weight))
        if not parts:
            raise ValueError("no as-of dates to read")
        frame = to_frame(pa.concat_tables(parts))
        return frame.reset_index(drop=True)
