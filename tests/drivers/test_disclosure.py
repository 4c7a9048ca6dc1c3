"""Disclosure control of the drivers report (issue 16): a reader must not be able to work
out any withheld figure from the published tables.

Two kinds of test. Unit tests of :func:`drivers.disclosure.protect` on small tables made
by hand: small cells and zeros are withheld with their rates, counts are rounded to 5,
totals do not give a withheld cell away by subtraction, groups are protected apart.

Then **the attack** the issue asks for. :func:`attack` is what a determined reader can do
with a published table and the report's methods: per group, it writes every published row
as a sum of the table's finest cells (unknown, never negative), with

- each published count known to within the rounding (an integer rounded to the nearest 5
  lies within 2 of the published figure);
- each published rate taken as exact when it was worked out before rounding (as soon as
  one differs from the ratio of its row's rounded counts): it ties the count to its
  population and, counts being whole numbers, often gives both exactly;
- a row the table leaves out meaning that nobody lives in that cell (the tables list
  every cell with a population);
- those with an event being among the young people counted (a part is never more than
  its whole, cell by cell).

For each withheld row and each of its counts, two linear programs (HiGHS) give the least
and the greatest value consistent with all that. The cell is *recovered* when they are
less than 1 apart (at most one whole number between them): the count is pinned, and the
failure message prints the published facts that pin it (the programs' duals). The
attacker is not told which withheld rows are small (both kinds carry the same mark). It
recovers a cell exactly when only the small cell is withheld, so it would catch a broken
secondary suppression; the report's own tables, on the session's small synthetic world
(``tests/drivers/conftest.py``), must give it nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.optimize import linprog

from drivers.base import ALL_AGES, BOTH_SEXES, FORCE_AREA, People, Period, month_index, wilson
from drivers.base import periods as report_periods
from drivers.disclosure import ROUND_TO, SUPPRESSED, THRESHOLD, protect, round_count
from drivers.pathways import first_involvement, pathway_table
from drivers.recording import (
    ALL_GROUPS,
    ALL_QUINTILES,
    read_true_involvement,
    recorded_involvement,
    recording_table,
    truth_table,
)
from drivers.run import DriversTables
from drivers.trends import MEASURES, measure_events, trend_table
from features.snapshot import Tables
from tests.drivers.conftest import AS_OF, YEARS, SmallWorld

#: one worker builds the small world for all the drivers tests
pytestmark = pytest.mark.xdist_group("drivers")

#: an integer rounded to the nearest 5 lies within this of the published figure
SLACK = 2
#: the attacker's numerical tolerance (HiGHS solves to about 1e-7)
TOLERANCE = 1e-6
STATUS = "suppressed"

# ---------------------------------------------------------------------------- the attacker


@dataclass(frozen=True)
class Rate:
    """A published figure worked out as ``numerator / denominator × per`` before rounding."""

    column: str
    numerator: str
    denominator: str
    #: None: read from the row's ``unit`` ("per 1,000 young people aged 10–24")
    per: float | None = None


@dataclass(frozen=True)
class Layout:
    """What a reader knows of how a table is built: its counts, the columns whose margin
    value marks a total, the columns that split it into independent parts, its rates."""

    counts: tuple[str, ...]
    dims: tuple[str, ...]
    margins: Mapping[str, str]
    group_by: tuple[str, ...] = ()
    rates: tuple[Rate, ...] = ()
    #: ``(part, whole)``: in every cell the part is at most the whole
    within: tuple[tuple[str, str], ...] = ()


@dataclass
class _System:
    """The attacker's linear system over one group's finest cells: one unknown per count
    and cell, each constraint with a label saying where it comes from."""

    cells: int
    counts: int
    upper: list[np.ndarray] = field(default_factory=list)
    upper_rhs: list[float] = field(default_factory=list)
    upper_labels: list[str] = field(default_factory=list)
    #: −1 for a lower bound written as an upper one (``−x ≤ −b``), to print it as ``x ≥ b``
    upper_sides: list[float] = field(default_factory=list)
    equal: list[np.ndarray] = field(default_factory=list)
    equal_rhs: list[float] = field(default_factory=list)
    equal_labels: list[str] = field(default_factory=list)
    _arrays: dict[str, Any] | None = None

    def block(self, count: int, vector: np.ndarray) -> np.ndarray:
        """``vector`` over the cells of count number ``count``, zero elsewhere."""
        out = np.zeros(self.cells * self.counts)
        out[count * self.cells : (count + 1) * self.cells] = vector
        return out

    def at_most(self, row: np.ndarray, value: float, label: str, side: float = 1.0) -> None:
        self.upper.append(row)
        self.upper_rhs.append(value)
        self.upper_labels.append(label)
        self.upper_sides.append(side)

    def at_least(self, row: np.ndarray, value: float, label: str) -> None:
        self.at_most(-row, -value, label, side=-1.0)

    def exactly(self, row: np.ndarray, value: float, label: str) -> None:
        self.equal.append(row)
        self.equal_rhs.append(value)
        self.equal_labels.append(label)

    def solve(self, objective: np.ndarray) -> Any:
        """Minimise ``objective`` over the cells consistent with everything published."""
        if self._arrays is None:
            self._arrays = {
                "A_ub": sparse.csr_array(self.upper) if self.upper else None,
                "b_ub": np.array(self.upper_rhs) if self.upper else None,
                "A_eq": sparse.csr_array(self.equal) if self.equal else None,
                "b_eq": np.array(self.equal_rhs) if self.equal else None,
            }
        result = linprog(objective, **self._arrays, bounds=(0, None), method="highs")
        assert result.status in (0, 3), (
            f"the published figures contradict the attacker's reading of them: {result.message}"
        )
        return result

    def relation(self, result: Any, sign: float = 1.0) -> str:
        """The published facts the optimum rests on (the linear program's dual, times
        ``sign``: −1 for a maximum): the linear relation that gives the cell away."""
        parts = []
        for marginals, labels, sides in (
            (getattr(result.ineqlin, "marginals", ()), self.upper_labels, self.upper_sides),
            (getattr(result.eqlin, "marginals", ()), self.equal_labels, [1.0] * len(self.equal)),
        ):
            for weight, label, side in zip(marginals, labels, sides, strict=True):
                if abs(weight) > TOLERANCE:
                    parts.append(f"{sign * side * weight:+.4g} × [{label}]")
        return " ".join(parts) or "(no published figure: non-negativity alone)"


def _per(rate: Rate, group: pd.DataFrame) -> np.ndarray:
    if rate.per is not None:
        return np.full(len(group), float(rate.per))

    def parse(unit: str) -> float:
        found = re.search(r"per ([\d,]+)", unit)
        assert found, f"no 'per …' in the unit {unit!r}"
        return float(found.group(1).replace(",", ""))

    return group["unit"].map(parse).to_numpy(dtype=float)


def _ratio(group: pd.DataFrame, rate: Rate) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``numerator / denominator`` as its rate gives it, and where it is
    published (the rate and both rounded counts)."""
    ratio = group[rate.column].to_numpy(dtype=float) / _per(rate, group)
    known = ~np.isnan(ratio)
    for column in (rate.numerator, rate.denominator):
        known &= group[column].notna().to_numpy()
    return ratio, known


def exact_rates(table: pd.DataFrame, layout: Layout) -> tuple[Rate, ...]:
    """The rates a reader can take as exact: those worked out before rounding, which
    shows as soon as one differs from the ratio of its row's rounded counts (a rate
    worked out from the rounded counts adds nothing to them)."""
    out = []
    for rate in layout.rates:
        ratio, known = _ratio(table, rate)
        with np.errstate(divide="ignore", invalid="ignore"):
            rounded = (table[rate.numerator] / table[rate.denominator]).to_numpy(dtype=float)
        if (known & ~np.isclose(ratio, rounded, rtol=1e-12, atol=0)).any():
            out.append(rate)
    return tuple(out)


def _whole_counts(group: pd.DataFrame, rates: Sequence[Rate]) -> dict[tuple[int, str], int]:
    """Counts the exact rates pin: the only whole numbers within the rounding whose
    ratio is the published rate."""
    found: dict[tuple[int, str], set[int]] = {}
    for rate in rates:
        ratio, known = _ratio(group, rate)
        top = group[rate.numerator].to_numpy(dtype=float)
        bottom = group[rate.denominator].to_numpy(dtype=float)
        for i in np.flatnonzero(known):
            pairs = []
            for n in range(max(int(bottom[i]) - SLACK, 1), int(bottom[i]) + SLACK + 1):
                k = ratio[i] * n
                if abs(k - round(k)) < TOLERANCE and abs(round(k) - top[i]) <= SLACK:
                    pairs.append((round(k), n))
            for column, values in (
                (rate.numerator, {k for k, _ in pairs}),
                (rate.denominator, {n for _, n in pairs}),
            ):
                key = (int(i), column)
                found[key] = found[key] & values if key in found else values
    return {key: next(iter(values)) for key, values in found.items() if len(values) == 1}


def _describe(row: pd.Series, layout: Layout) -> str:
    return " / ".join(str(row[d]) for d in layout.dims)


def _group_system(
    group: pd.DataFrame, layout: Layout, rates: Sequence[Rate]
) -> tuple[_System, np.ndarray, list[str]] | None:
    """The attacker's system for one group (``rates``: those taken as exact), each row's
    vector over the finest cells and each row's description; None when the group
    publishes nothing."""
    dims = list(layout.dims)
    if not any(group[c].notna().any() for c in layout.counts):
        return None
    labels = group[dims].astype(str).to_numpy()
    levels = [
        list(dict.fromkeys(v for v in labels[:, k] if v != layout.margins[d]))
        for k, d in enumerate(dims)
    ]
    cells = np.array(list(product(*levels)), dtype=object).reshape(-1, len(dims))

    def vector(row: Sequence[str] | np.ndarray) -> np.ndarray:
        inside = np.ones(len(cells), dtype=bool)
        for k, d in enumerate(dims):
            if row[k] != layout.margins[d]:
                inside &= cells[:, k] == row[k]
        return inside.astype(float)

    vectors = np.array([vector(row) for row in labels])
    names = [" / ".join(row) for row in labels]
    system = _System(cells=len(cells), counts=len(layout.counts))
    # a row left out is a cell nobody lives in: every count of it is 0
    present = {tuple(row) for row in labels}
    shapes = {
        tuple(v == layout.margins[d] for v, d in zip(row, dims, strict=True)) for row in labels
    }
    for shape in shapes:
        choices = [
            [layout.margins[d]] if total else levels[k]
            for k, (total, d) in enumerate(zip(shape, dims, strict=True))
        ]
        for combination in product(*choices):
            if combination not in present:
                for c in range(len(layout.counts)):
                    system.exactly(
                        system.block(c, vector(combination)),
                        0.0,
                        f"{' / '.join(combination)}: not listed, nobody lives there",
                    )
    exact = _whole_counts(group, rates)
    for c, column in enumerate(layout.counts):
        values = group[column].to_numpy(dtype=float)
        for i in np.flatnonzero(~np.isnan(values)):
            row = system.block(c, vectors[i])
            if (int(i), column) in exact:
                value = exact[(int(i), column)]
                system.exactly(row, value, f"{names[i]}: {column} = {value} (from its rate)")
            else:
                shown = f"{names[i]}: {column} (published {values[i]:g})"
                system.at_most(row, values[i] + SLACK, f"{shown} ≤ {values[i] + SLACK:g}")
                system.at_least(row, values[i] - SLACK, f"{shown} ≥ {values[i] - SLACK:g}")
    for rate in rates:
        ratio, known = _ratio(group, rate)
        top, bottom = layout.counts.index(rate.numerator), layout.counts.index(rate.denominator)
        for i in np.flatnonzero(known):
            system.exactly(
                system.block(top, vectors[i]) - ratio[i] * system.block(bottom, vectors[i]),
                0.0,
                f"{names[i]}: {rate.column} = {rate.numerator} / {rate.denominator}",
            )
    for part, whole in layout.within:
        p, w = layout.counts.index(part), layout.counts.index(whole)
        for j in range(len(cells)):
            one = np.zeros(len(cells))
            one[j] = 1.0
            system.at_most(system.block(p, one) - system.block(w, one), 0.0, f"{part} ≤ {whole}")
    return system, vectors, names


def attack(table: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """The least and greatest value of every count of every withheld row, consistent with
    everything the table publishes.

    Returns
    -------
    One row per withheld row and count: ``row`` (the table's index), ``cell`` (its
    description), ``column`` (the count's), ``low``, ``high`` and, for a recovered
    count, ``relation`` (the published facts that pin it). Where nothing bounds a count
    from above, ``high`` is infinite and ``low`` is 0 (its least value is not sought: it
    cannot be pinned).
    """
    out = []
    rates = exact_rates(table, layout)
    parts = table.groupby(list(layout.group_by), sort=False) if layout.group_by else [((), table)]
    for key, group in parts:
        withheld = np.flatnonzero(group[STATUS].to_numpy() != "")
        if not withheld.size:
            continue
        built = _group_system(group, layout, rates)
        for i in withheld:
            where = f"{key} {_describe(group.iloc[i], layout)}"
            for c, column in enumerate(layout.counts):
                record = {"row": group.index[int(i)], "cell": where, "column": column}
                if built is None:  # nothing published in the group: anything goes
                    out.append({**record, "low": 0.0, "high": np.inf, "relation": ""})
                    continue
                system, vectors, _ = built
                objective = system.block(c, vectors[i])
                most = system.solve(-objective)
                if most.status == 3:  # unbounded: not pinned, whatever its least value
                    out.append({**record, "low": 0.0, "high": np.inf, "relation": ""})
                    continue
                least, high = system.solve(objective), -most.fun
                relation = ""
                if np.floor(high + TOLERANCE) - np.ceil(least.fun - TOLERANCE) < 1:
                    relation = (
                        f"at least {least.fun:g}: {system.relation(least)}; "
                        f"at most {high:g}: {system.relation(most, -1.0)}"
                    )
                out.append({**record, "low": least.fun, "high": high, "relation": relation})
    return pd.DataFrame(out, columns=["row", "cell", "column", "low", "high", "relation"])


def recovered(bounds: pd.DataFrame) -> pd.DataFrame:
    """The withheld counts the attacker pins to one value: at most one whole number lies
    between the least and the greatest (so less than 1 apart, allowing for the solver's
    rounding: [0, 0.9999999] still leaves 0 and 1)."""
    low = np.ceil(bounds["low"].to_numpy(dtype=float) - TOLERANCE)
    high = np.floor(bounds["high"].to_numpy(dtype=float) + TOLERANCE)
    return bounds[high - low < 1]


def _report(found: pd.DataFrame) -> str:
    return "\n".join(
        f"{r.cell}: {r.column} in [{r.low:g}, {r.high:g}] — {r.relation}"
        for r in found.itertuples()
    )


# ------------------------------------------------------------------ hand-made tables

COUNTS = ["young_people", "population"]
RATES = ["rate", "rate_low", "rate_high"]
PER = 1000
HAND = Rate("rate", "young_people", "population", PER)
AREA = {"local_authority": FORCE_AREA}
AREA_SEX = {"local_authority": FORCE_AREA, "sex": BOTH_SEXES}
AREA_AGE = {"local_authority": FORCE_AREA, "age_band": ALL_AGES}
AREA_QUINTILE = {"local_authority": FORCE_AREA, "deprivation_quintile": ALL_QUINTILES}
Cells = Mapping[tuple[str, ...], tuple[int, int]]


def _layout(margins: Mapping[str, str], group_by: Sequence[str] = ()) -> Layout:
    return Layout(
        counts=tuple(COUNTS),
        dims=tuple(margins),
        margins=margins,
        group_by=tuple(group_by),
        rates=(HAND,),
        within=(("young_people", "population"),),
    )


def _table(cells: Cells, margins: Mapping[str, str]) -> pd.DataFrame:
    """Every combination of each dimension at one of its levels or at its margin, as
    :func:`drivers.base.tabulate` lays a table out: young people with the event and the
    population summed from ``cells`` (finest cell → (young people, population); a cell
    nobody lives in is absent, and so is every row whose population is 0), with the rate
    per 1,000 and its interval worked out before rounding, as the report does."""
    dims = list(margins)
    levels = [list(dict.fromkeys(key[k] for key in cells)) for k in range(len(dims))]
    rows = []
    for choice in product(*[[*lv, margins[d]] for lv, d in zip(levels, dims, strict=True)]):
        inside = [
            value
            for key, value in cells.items()
            if all(c in (margins[d], k) for c, d, k in zip(choice, dims, key, strict=True))
        ]
        population = sum(p for _, p in inside)
        if population:
            young = sum(y for y, _ in inside)
            rows.append(
                {
                    **dict(zip(dims, choice, strict=True)),
                    "young_people": young,
                    "population": population,
                }
            )
    frame = pd.DataFrame(rows)
    share, low, high = wilson(frame["young_people"], frame["population"])
    frame["rate"], frame["rate_low"], frame["rate_high"] = share * PER, low * PER, high * PER
    return frame


def _publish(
    frame: pd.DataFrame, margins: Mapping[str, str], group_by: Sequence[str] = ()
) -> pd.DataFrame:
    """The table as the report would publish it (rates from the rounded counts)."""
    return protect(
        frame,
        counts=COUNTS,
        derived=RATES,
        dims=list(margins),
        margins=margins,
        group_by=list(group_by),
        derive=_rates,
    )


def _rates(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    share, low, high = wilson(out["young_people"], out["population"])
    out["rate"], out["rate_low"], out["rate_high"] = share * PER, low * PER, high * PER
    return out


def _withheld(published: pd.DataFrame, margins: Mapping[str, str]) -> set[tuple[str, ...]]:
    rows = published[published[STATUS] != ""]
    return {tuple(str(v) for v in row) for row in rows[list(margins)].to_numpy()}


def _row(frame: pd.DataFrame, **where: str) -> pd.Series:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy()
    assert mask.sum() == 1, where
    return frame[mask].iloc[0]


def _unrecoverable(published: pd.DataFrame, raw: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """Attack ``published``; check the truth lies within every interval (the attacker reads
    the table right) and that nothing is recovered."""
    bounds = attack(published, layout)
    truth = np.array([raw.loc[r, c] for r, c in zip(bounds["row"], bounds["column"], strict=True)])
    assert (bounds["low"].to_numpy() <= truth + TOLERANCE).all()
    assert (truth <= bounds["high"].to_numpy() + TOLERANCE).all()
    found = recovered(bounds)
    assert found.empty, "withheld figures worked out from the published ones:\n" + _report(found)
    return bounds


# 1-D: three authorities and the force area
THREE_AREAS: Cells = {
    ("Bath and North East Somerset",): (3, 400),
    ("Bristol",): (50, 900),
    ("Somerset",): (20, 700),
}


def test_a_small_cell_is_withheld_with_its_rate_and_interval() -> None:
    raw = _table(THREE_AREAS, AREA)
    published = _publish(raw, AREA)
    bath = _row(published, local_authority="Bath and North East Somerset")
    assert bath[STATUS] == SUPPRESSED == "fewer than 10*"
    assert bath[[*COUNTS, *RATES]].isna().all()
    # the raw rate was there to blank
    assert _row(raw, local_authority="Bath and North East Somerset")[RATES].notna().all()
    assert set(published[STATUS]) <= {"", SUPPRESSED}


def test_zero_counts_are_withheld() -> None:
    cells: Cells = {
        ("Bristol",): (0, 300),
        ("Somerset",): (40, 800),
        ("North Somerset",): (25, 600),
    }
    published = _publish(_table(cells, AREA), AREA)
    bristol = _row(published, local_authority="Bristol")
    assert bristol[STATUS] == SUPPRESSED
    assert bristol[[*COUNTS, *RATES]].isna().all()


def test_any_small_count_withholds_the_row() -> None:
    # a pathway-like table: Bristol's cohort of 40 is large, but only 3 of them went on
    # to be involved in serious violence
    raw = pd.DataFrame(
        {
            "local_authority": ["Bristol", "Somerset", "North Somerset", FORCE_AREA],
            "young_people": [40, 50, 60, 150],
            "involved": [3, 20, 15, 38],
        }
    )
    raw["share"] = raw["involved"] / raw["young_people"]
    published = protect(
        raw, counts=["young_people", "involved"], derived=["share"], dims=list(AREA), margins=AREA
    )
    bristol = _row(published, local_authority="Bristol")
    assert bristol[STATUS] == SUPPRESSED
    assert bristol[["young_people", "involved", "share"]].isna().all()
    layout = Layout(
        counts=("young_people", "involved"),
        dims=tuple(AREA),
        margins=AREA,
        rates=(Rate("share", "involved", "young_people", 1),),
        within=(("involved", "young_people"),),
    )
    _unrecoverable(published, raw, layout)


def test_counts_round_to_the_nearest_5_with_halves_up() -> None:
    # halves go up (12.5 → 15, 22.5 → 25): not to the even multiple, as np.round would
    values = np.array([0, 2, 2.5, 10, 12, 12.5, 13, 17.5, 22.5, 1234])
    expected = np.array([0, 0, 5, 10, 10, 15, 15, 20, 25, 1235])
    np.testing.assert_array_equal(round_count(values), expected)
    assert ROUND_TO == 5
    assert THRESHOLD == 10


def test_a_group_with_no_small_cell_is_only_rounded() -> None:
    cells: Cells = {
        ("Bristol",): (12, 612),
        ("Somerset",): (13, 498),
        ("North Somerset",): (27, 1001),
    }
    raw = _table(cells, AREA)
    published = _publish(raw, AREA)
    assert (published[STATUS] == "").all()
    assert published["young_people"].tolist() == [10, 15, 25, 50]  # 12, 13, 27, 52
    assert published["population"].tolist() == [610, 500, 1000, 2110]  # …, 2111
    # rates from the rounded counts: exact ones would give the exact counts back
    pd.testing.assert_frame_equal(published[RATES], _rates(published)[RATES])
    assert published.loc[0, "rate"] == pytest.approx(10 / 610 * PER)
    assert published.loc[0, "rate"] != pytest.approx(raw.loc[0, "rate"])
    pd.testing.assert_series_equal(published["local_authority"], raw["local_authority"])


#: one authority's young people by sex: 4 girls, 30 boys
SEX = {"sex": BOTH_SEXES}
GIRLS_AND_BOYS: Cells = {("female",): (4, 400), ("male",): (30, 420)}


def test_female_cannot_be_worked_out_from_male_and_both_sexes() -> None:
    raw = _table(GIRLS_AND_BOYS, SEX)
    published = _publish(raw, SEX)
    withheld = {s for (s,) in _withheld(published, SEX)}
    assert "female" in withheld
    assert withheld & {"male", BOTH_SEXES}, "female = both sexes − male"
    _unrecoverable(published, raw, _layout(SEX))


def _spans(basis: np.ndarray, vector: np.ndarray) -> bool:
    """Whether ``vector`` is a linear combination of the rows of ``basis``."""
    if basis.size == 0:
        return False
    return bool(np.linalg.matrix_rank(np.vstack([basis, vector])) == np.linalg.matrix_rank(basis))


# 2-D: three authorities × sex, both margins and the force area; Bath's girls are few
TWO_WAY: Cells = {
    ("Bath and North East Somerset", "female"): (3, 150),
    ("Bath and North East Somerset", "male"): (40, 160),
    ("Bristol", "female"): (25, 300),
    ("Bristol", "male"): (30, 310),
    ("Somerset", "female"): (35, 280),
    ("Somerset", "male"): (45, 290),
}


def test_a_two_way_table_leaves_no_withheld_cell_recoverable() -> None:
    raw = _table(TWO_WAY, AREA_SEX)
    assert len(raw) == 4 * 3
    published = _publish(raw, AREA_SEX)
    withheld = _withheld(published, AREA_SEX)
    assert ("Bath and North East Somerset", "female") in withheld
    assert len(withheld) >= 4, "a lone cell in a two-way table needs three more withheld"
    built = _group_system(published, _layout(AREA_SEX), ())
    assert built is not None
    _, vectors, _ = built
    hidden = (published[STATUS] != "").to_numpy()
    for i in np.flatnonzero(hidden):
        assert not _spans(vectors[~hidden], vectors[i]), published.iloc[i].to_dict()
    _unrecoverable(published, raw, _layout(AREA_SEX))


def test_groups_are_protected_independently() -> None:
    big = {key: (y + 20, p) for key, (y, p) in TWO_WAY.items()}
    small = _table(TWO_WAY, AREA_SEX).assign(measure="sv_victim")
    large = _table(big, AREA_SEX).assign(measure="sv_suspect")
    together = _publish(pd.concat([small, large], ignore_index=True), AREA_SEX, ["measure"])
    apart = [_publish(small, AREA_SEX), _publish(large, AREA_SEX)]
    pd.testing.assert_frame_equal(together, pd.concat(apart, ignore_index=True))
    assert (together.loc[together["measure"] == "sv_suspect", STATUS] == "").all()
    assert (together.loc[together["measure"] == "sv_victim", STATUS] != "").any()
    _unrecoverable(
        together,
        pd.concat([small, large], ignore_index=True),
        _layout(AREA_SEX, ["measure"]),
    )


def test_secondary_suppression_withholds_the_smallest_row_so_the_total_survives() -> None:
    """Bath's 3 can be worked out as the force area − Bristol − Somerset: withholding
    Somerset (20, the smallest row whose loss protects Bath) keeps the force-area total,
    the figure readers look for first."""
    raw = _table(THREE_AREAS, AREA)
    published = _publish(raw, AREA)
    withheld = {a for (a,) in _withheld(published, AREA)}
    assert withheld == {"Bath and North East Somerset", "Somerset"}
    assert _row(published, local_authority=FORCE_AREA)["young_people"] == 75  # 73 rounded
    _unrecoverable(published, raw, _layout(AREA))


def test_a_cell_nobody_lives_in_does_not_give_a_withheld_cell_away() -> None:
    """Nobody in Bristol lives in a quintile-3 area and nobody in Bath in a quintile-2
    area, so the table has no such rows: a reader knows those cells are 0. Bristol's
    quintile 2 (1 young person among 80) is then Bristol's total − its quintile 1."""
    cells: Cells = {
        ("Bath and North East Somerset", "1 (most deprived)"): (0, 402),
        ("Bath and North East Somerset", "3"): (2, 133),
        ("Bristol", "1 (most deprived)"): (39, 253),
        ("Bristol", "2"): (1, 80),
    }
    raw = _table(cells, AREA_QUINTILE)
    assert len(raw) == 3 * 4 - 2  # (2 authorities, force area) × (3 quintiles, all) − 2 empty
    published = _publish(raw, AREA_QUINTILE)
    assert ("Bristol", "2") in _withheld(published, AREA_QUINTILE)
    _unrecoverable(published, raw, _layout(AREA_QUINTILE))


def test_withheld_zeros_are_not_pinned_by_a_published_total() -> None:
    """Bristol's 27 young people are all aged 18–24: its two younger bands (0 each) are
    withheld, but if its total and its 18–24 row are both published exactly, the two
    withheld cells add up to 0 and, never negative, are each 0."""
    cells: Cells = {
        ("Bath and North East Somerset", "10–13"): (8, 329),
        ("Bath and North East Somerset", "14–17"): (2, 365),
        ("Bath and North East Somerset", "18–24"): (5, 429),
        ("Bristol", "10–13"): (0, 347),
        ("Bristol", "14–17"): (0, 458),
        ("Bristol", "18–24"): (27, 420),
    }
    raw = _table(cells, AREA_AGE)
    published = _publish(raw, AREA_AGE)
    assert {("Bristol", "10–13"), ("Bristol", "14–17")} <= _withheld(published, AREA_AGE)
    _unrecoverable(published, raw, _layout(AREA_AGE))


# ------------------------------------------------------------ the attacker has teeth


def test_the_attacker_recovers_a_cell_when_only_the_small_cell_is_withheld() -> None:
    raw = _table(GIRLS_AND_BOYS, SEX)
    # primary suppression only: female withheld, male and both sexes published, rounded
    published = raw.copy()
    small = (published["young_people"] < THRESHOLD).to_numpy()
    for column in COUNTS:
        published[column] = np.where(small, np.nan, round_count(published[column]))
    published.loc[small, RATES] = np.nan
    published[STATUS] = np.where(small, SUPPRESSED, "")
    assert published[STATUS].tolist() == [SUPPRESSED, "", ""]
    found = recovered(attack(published, _layout(SEX)))
    assert set(found["column"]) == set(COUNTS)
    for row, column, low in zip(found["row"], found["column"], found["low"], strict=True):
        assert low == pytest.approx(raw.loc[row, column], abs=TOLERANCE)
    assert found.set_index("column").loc["young_people", "low"] == pytest.approx(4)


def test_the_attacker_recovers_a_cell_when_a_secondary_row_is_published_again() -> None:
    raw = _table(TWO_WAY, AREA_SEX)
    published = _publish(raw, AREA_SEX)
    secondary = published.index[(published[STATUS] != "") & (raw["young_people"] >= THRESHOLD)]
    assert len(secondary) >= 3
    for row in secondary:
        broken = published.copy()
        broken.loc[row, COUNTS] = round_count(raw.loc[row, COUNTS])
        broken.loc[row, RATES] = raw.loc[row, RATES]
        broken.loc[row, STATUS] = ""
        # and every rate worked out from the exact counts, as they were before the fix:
        # the counts are then known exactly, and one republished row is enough
        shown = broken[STATUS] == ""
        broken.loc[shown, RATES] = raw.loc[shown, RATES]
        found = recovered(attack(broken, _layout(AREA_SEX)))
        bath_girls = _row(raw, local_authority="Bath and North East Somerset", sex="female")
        pinned = found[found["row"] == bath_girls.name]
        assert set(pinned["column"]) == set(COUNTS), f"publishing row {row} gives nothing away?"
        for column, low in zip(pinned["column"], pinned["low"], strict=True):
            assert low == pytest.approx(bath_girls[column], abs=TOLERANCE)


# --------------------------------------------------------------------- the report

TRENDS = Layout(
    counts=("young_people", "population"),
    dims=("local_authority", "age_band", "sex"),
    margins={"local_authority": FORCE_AREA, "age_band": ALL_AGES, "sex": BOTH_SEXES},
    group_by=("measure", "period"),
    rates=(Rate("rate", "young_people", "population"),),
    within=(("young_people", "population"),),
)
RECORDING = Layout(
    counts=("young_people", "population"),
    dims=("local_authority", "ethnicity", "deprivation_quintile"),
    margins={
        "local_authority": FORCE_AREA,
        "ethnicity": ALL_GROUPS,
        "deprivation_quintile": ALL_QUINTILES,
    },
    group_by=("measure",),
    rates=(Rate("rate", "young_people", "population"),),
    within=(("young_people", "population"),),
)
TRUTH = Layout(
    counts=("recorded", "true", "population"),
    dims=RECORDING.dims,
    margins=RECORDING.margins,
    rates=(
        Rate("recorded_rate", "recorded", "population", 1000),
        Rate("true_rate", "true", "population", 1000),
        Rate("recorded_share", "recorded", "true", 1),
    ),
    within=(("recorded", "population"), ("true", "population")),
)
PATHWAYS = Layout(
    counts=("young_people", "involved", "matched", "matched_involved"),
    dims=("local_authority",),
    margins=AREA,
    group_by=("pathway", "window_months"),
    rates=(Rate("share", "involved", "young_people", 1),),
    within=(("involved", "young_people"), ("matched_involved", "matched")),
)
LAYOUTS = {
    "trends_yearly": TRENDS,
    "trends_quarterly": TRENDS,
    "recording": RECORDING,
    "recording_truth": TRUTH,
    "pathways": PATHWAYS,
}
#: quarterly groups attacked per measure (all 108 take about half a minute)
PERIODS_PER_MEASURE = 2


@dataclass(frozen=True)
class World:
    people: pd.DataFrame
    report: DriversTables
    #: the same tables before disclosure control
    raw: dict[str, pd.DataFrame]


def _raw_tables(tables: Tables, folder: Path) -> dict[str, pd.DataFrame]:
    """Every table of the report before protection, counted as :func:`build_drivers`
    counts them."""
    people = People.from_table(tables.people)
    events = {m.key: measure_events(tables.tables, m, people, AS_OF) for m in MEASURES}
    end = month_index(AS_OF)
    span = Period(end - 12 * YEARS, end - 1)
    incidents = tables.tables["incidents"]
    true_events = read_true_involvement(folder, people)
    assert true_events is not None
    return {
        "trends_quarterly": trend_table(people, events, report_periods(AS_OF, YEARS, 3)),
        "trends_yearly": trend_table(people, events, report_periods(AS_OF, YEARS, 12)),
        "pathways": pathway_table(
            people, events, first_involvement(incidents, people, AS_OF), end, YEARS
        ),
        "recording": recording_table(people, events, span),
        "recording_truth": truth_table(
            people, recorded_involvement(incidents, people, AS_OF), true_events, span
        ),
    }


@pytest.fixture(scope="module")
def world(small_world: SmallWorld) -> World:
    """The session's small world (``tests/drivers/conftest.py``), its report and the same
    tables before protection."""
    return World(
        small_world.tables.people,
        small_world.report,
        _raw_tables(small_world.tables, small_world.folder),
    )


def _derived(name: str, table: pd.DataFrame) -> list[str]:
    layout = LAYOUTS[name]
    known = {*layout.counts, *layout.dims, *layout.group_by, STATUS}
    return [c for c in table.columns if c not in known and pd.api.types.is_float_dtype(table[c])]


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_published_counts_are_rounded_and_never_below_10(world: World, name: str) -> None:
    published, raw = world.report.tables()[name], world.raw[name]
    layout = LAYOUTS[name]
    assert len(published) == len(raw)
    for column in [*layout.dims, *layout.group_by]:
        assert published[column].astype(str).tolist() == raw[column].astype(str).tolist()
    assert set(published[STATUS]) <= {"", SUPPRESSED}
    shown = (published[STATUS] == "").to_numpy()
    assert (~shown).any()
    if name != "pathways":  # 6,000 young people are too few for most pathway figures
        assert shown.any()
    counts = list(layout.counts)
    truth = raw[counts].to_numpy(dtype=float)
    values = published[counts].to_numpy(dtype=float)
    # every row with a count under 10 is withheld; every published count was 10 or more
    assert not ((truth < THRESHOLD).any(axis=1) & shown).any()
    assert (truth[shown] >= THRESHOLD).all()
    # published counts: multiples of 5, within 2 of the truth
    assert (values[shown] % ROUND_TO == 0).all()
    assert (np.abs(values[shown] - truth[shown]) <= SLACK).all()
    # withheld rows: no count, no figure worked out from one
    assert np.isnan(values[~shown]).all()
    derived = _derived(name, published)
    assert derived, "rates or shares expected"
    assert published.loc[~shown, derived].isna().all().all()


def _period_sample(table: pd.DataFrame) -> pd.DataFrame:
    """Per measure, the periods with the most published rows among those that also
    withhold some: the groups where a reader has most to work with."""
    status = table[STATUS] != ""
    per_group = (
        pd.DataFrame(
            {
                "measure": table["measure"],
                "period": table["period"],
                "shown": ~status,
                "hidden": status,
            }
        )
        .groupby(["measure", "period"], sort=False)
        .sum()
        .reset_index()
    )
    mixed = per_group[(per_group["shown"] > 0) & (per_group["hidden"] > 0)]
    chosen = (
        mixed.sort_values("shown", ascending=False, kind="stable")
        .groupby("measure", sort=False)
        .head(PERIODS_PER_MEASURE)
    )
    keys = set(zip(chosen["measure"], chosen["period"], strict=True))
    assert len(keys) >= len(MEASURES)
    keep = [k in keys for k in zip(table["measure"], table["period"], strict=True)]
    return table[keep]


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_the_attack_recovers_nothing_from_the_report(world: World, name: str) -> None:
    published, raw = world.report.tables()[name], world.raw[name]
    if name.startswith("trends_"):
        # the groups where a reader has most to work with (every group: ~45 s)
        published = _period_sample(published)
    bounds = attack(published, LAYOUTS[name])
    assert len(bounds) == (published[STATUS] != "").sum() * len(LAYOUTS[name].counts)
    # the attacker has something to work with (or nothing is published at all), and
    # reads the table right
    if published[list(LAYOUTS[name].counts)].notna().any(axis=None):
        assert np.isfinite(bounds["high"]).any()
    else:
        assert np.isinf(bounds["high"]).all()
    truth = np.array(
        [raw.loc[r, c] for r, c in zip(bounds["row"], bounds["column"], strict=True)],
        dtype=float,
    )
    assert (bounds["low"].to_numpy() <= truth + TOLERANCE).all()
    assert (truth <= bounds["high"].to_numpy() + TOLERANCE).all()
    found = recovered(bounds)
    assert found.empty, f"{name}: withheld figures worked out:\n" + _report(found)


#: a column name that could point at a person
IDENTIFYING = re.compile(
    r"person|^id$|_id$|birth|dob|name|address|postcode|lsoa|nhs|upn", re.IGNORECASE
)


def test_no_published_table_identifies_a_young_person(world: World) -> None:
    tables = world.report.tables()
    assert set(tables) == set(LAYOUTS) | {"contributions"}
    ids = set(world.people["person_id"].astype(str))
    for name, table in tables.items():
        assert "person_id" not in table.columns
        assert not [c for c in table.columns if IDENTIFYING.search(c)], name
        for column in table.columns:
            if not pd.api.types.is_numeric_dtype(table[column]):
                assert not set(table[column].dropna().astype(str)) & ids, (name, column)
