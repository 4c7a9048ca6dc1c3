"""The monthly checks, as pure functions of frames: each returns history rows.

Every check gives a figure with an interval at the plan's confidence and is judged by
:func:`judge`: amber or red only when the whole interval lies beyond the limit, "too
few" below the plan's minimum numbers (never green). The rows' columns are
:data:`monitoring.history.COLUMNS`; their ``words`` are one plain sentence each.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from features.registry import input_info
from features.vocabulary import SOURCE_TITLES
from monitoring.history import ALL_AREAS, ANY_OUTCOME, JUDGED
from monitoring.plan import CHECKS, Limits, Plan

__all__ = [
    "DriftReference",
    "Judged",
    "RecordDates",
    "band_share_rows",
    "calibration_rows",
    "composition_rows",
    "data_rows",
    "disagreement_rows",
    "drift_rows",
    "group_calibration_rows",
    "input_words",
    "judge",
    "long_date",
    "month_add",
    "outcomes_in_window",
    "poisson_interval",
    "precision_rows",
    "ratio_of_counts",
    "worst",
]

#: statuses from mildest to worst, for :func:`worst`
_RANK = {"info": 0, "too few": 1, "not yet": 2, "green": 3, "amber": 4, "red": 5}
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
#: quantile bins for a numeric input with more distinct values than this
_BINS = 10


def month_add(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole months (first days of months stay first days)."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1 if day.day == 1 else min(day.day, 28))


def long_date(day: dt.date) -> str:
    """``1 March 2026``."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def month_words(day: dt.date) -> str:
    """``March 2026``."""
    return f"{_MONTHS[day.month - 1]} {day.year}"


def worst(statuses: Sequence[str]) -> str:
    """The worst judged status among ``statuses`` (``green`` when none is amber or red;
    ``info`` when nothing was judged)."""
    judged = [s for s in statuses if s in JUDGED]
    if not judged:
        return "info"
    return max(judged, key=_RANK.__getitem__)


def z_of(confidence: float) -> float:
    """The two-sided normal quantile of ``confidence`` (0.99 → 2.576)."""
    return float(stats.norm.ppf(0.5 + confidence / 2))


def poisson_interval(count: float, confidence: float) -> tuple[float, float]:
    """Exact (Garwood) interval for a Poisson count."""
    alpha = 1 - confidence
    low = 0.0 if count <= 0 else float(stats.chi2.ppf(alpha / 2, 2 * count) / 2)
    high = float(stats.chi2.ppf(1 - alpha / 2, 2 * count + 2) / 2)
    return low, high


def wilson(hits: float, n: float, confidence: float) -> tuple[float, float]:
    """Wilson interval for a proportion (exact 0 and 1 at the ends)."""
    if n <= 0:
        return (math.nan, math.nan)
    z = z_of(confidence)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (0.0 if hits <= 0 else max(0.0, centre - half), 1.0 if hits >= n else centre + half)


@dataclass(frozen=True)
class Judged:
    """A figure, its interval and its status."""

    value: float
    low: float
    high: float
    status: str


def judge(check: str, value: float, low: float, high: float, limits: Limits) -> Judged:
    """Amber or red only when the whole interval ``[low, high]`` lies beyond the limit.

    ``both`` checks are ratios judged on both sides: beyond ``amber`` or below
    ``1 / amber``. A missing interval is the figure itself.
    """
    low = value if math.isnan(low) else low
    high = value if math.isnan(high) else high
    direction = CHECKS[check].direction
    if direction == "below":
        red, amber = high < limits.red, high < limits.amber
    elif direction == "above":
        red, amber = low > limits.red, low > limits.amber
    else:
        red = low > limits.red or high < 1 / limits.red
        amber = low > limits.amber or high < 1 / limits.amber
    status = "red" if red else "amber" if amber else "green"
    return Judged(value, low, high, status)


def row(
    as_of: dt.date,
    la: str,
    outcome: str,
    version: str,
    check: str,
    subject: str,
    *,
    value: float = math.nan,
    low: float = math.nan,
    high: float = math.nan,
    observed: float = math.nan,
    expected: float = math.nan,
    n: int = 0,
    status: str,
    words: str,
    plan: Plan | None = None,
) -> dict[str, object]:
    """One history row (the plan's limits filled in for a planned check)."""
    limits = plan.checks.get(check) if plan is not None else None
    return {
        "as_of": as_of,
        "local_authority": la,
        "outcome": outcome,
        "model_version": version,
        "check": check,
        "subject": subject,
        "value": float(value),
        "low": float(low),
        "high": float(high),
        "observed": float(observed),
        "expected": float(expected),
        "n": int(n),
        "status": status,
        "enforced": bool(limits.enforce) if limits is not None else False,
        "amber": float(limits.amber) if limits is not None else math.nan,
        "red": float(limits.red) if limits is not None else math.nan,
        "words": words,
    }


def _first_up(text: str) -> str:
    """``text`` with its first letter a capital (and the rest as it is: place names)."""
    return text[:1].upper() + text[1:]


def _pct(x: float) -> str:
    if math.isnan(x):
        return "–"
    return f"{x:.0%}" if x >= 0.01 or x == 0 else f"{x:.1%}"


def _times(x: float) -> str:
    return f"{x:.2f}×"


def _interval(j: Judged, fmt: str = "{:.2f}") -> str:
    if math.isnan(j.low) or math.isnan(j.high) or j.low == j.high:
        return ""
    return f" (range {fmt.format(j.low)} to {fmt.format(j.high)})"


# ------------------------------------------------------------------------- data


def ratio_of_counts(
    count: float, before: float, years: int, confidence: float
) -> tuple[float, float, float]:
    """``count`` against the average of ``years`` earlier counts totalling ``before``: the
    ratio and its interval from the conditional binomial (exact for two Poisson counts)."""
    total = count + before
    share_low, share_high = wilson(count, total, confidence)

    def ratio(share: float) -> float:
        return math.inf if share >= 1 else years * share / (1 - share)

    return ratio(count / total), ratio(share_low), ratio(share_high)


#: years of the same calendar month a month's records are compared with (school records
#: stop in August every year: a month is compared with the same month before)
NORM_YEARS = 2


@dataclass(frozen=True)
class RecordDates:
    """Each source's recorded dates per local authority (and pooled over every area),
    sorted: what the data checks count, built once for every month."""

    dates: Mapping[str, Mapping[str, np.ndarray]]

    @classmethod
    def of(cls, tables: Mapping[str, pd.DataFrame], people_la: pd.Series) -> RecordDates:
        out: dict[str, dict[str, np.ndarray]] = {}
        for source in SOURCE_TITLES:
            events = tables[source]
            recorded = pd.to_datetime(events["recorded_date"]).to_numpy().astype("datetime64[D]")
            la = events["person_id"].map(people_la).astype(str).to_numpy()
            out[source] = {ALL_AREAS: np.sort(recorded)}
            for area in np.unique(la):
                out[source][str(area)] = np.sort(recorded[la == area])
        return cls(out)

    def count(self, source: str, area: str, start: dt.date, end: dt.date) -> int:
        """Records recorded in ``[start, end)``."""
        days = self.dates[source].get(area, np.array([], dtype="datetime64[D]"))
        lo, hi = np.searchsorted(days, np.array([start, end], dtype="datetime64[D]"))
        return int(hi - lo)

    def latest(self, source: str, area: str, end: dt.date) -> dt.date | None:
        """The latest record made before ``end``."""
        days = self.dates[source].get(area, np.array([], dtype="datetime64[D]"))
        i = int(np.searchsorted(days, np.datetime64(end, "D")))
        return None if i == 0 else days[i - 1].astype(dt.date)


def data_rows(
    records: RecordDates,
    as_of: dt.date,
    plan: Plan,
    authorities: Sequence[str],
) -> list[dict[str, object]]:
    """Per local authority (and every area together) and source: records arriving last
    month against the same month of the two years before (``data_volume``; school
    records stop every August), and days since the latest record (``data_freshness``).
    Only records made before ``as_of`` are counted."""
    rows: list[dict[str, object]] = []
    last = month_add(as_of, -1)
    windows = [(month_add(last, -12 * y), month_add(as_of, -12 * y)) for y in (1, 2)]
    volume, fresh = plan.limits("data_volume"), plan.limits("data_freshness")
    month = _MONTHS[last.month - 1]
    for source, title in SOURCE_TITLES.items():
        for area in [*authorities, ALL_AREAS]:
            who = "young people in every area" if area == ALL_AREAS else f"young people in {area}"
            count = records.count(source, area, last, as_of)
            earlier = [records.count(source, area, a, b) for a, b in windows]
            norm = sum(earlier) / NORM_YEARS
            when = records.latest(source, area, as_of)
            days = float((as_of - when).days) if when is not None else math.inf
            if norm >= float(volume.min_expected or 0):
                value, lo, hi = ratio_of_counts(count, sum(earlier), NORM_YEARS, plan.confidence)
                j = judge("data_volume", value, lo, hi, volume)
                words = (
                    f"{_first_up(title)} for {who}: {count:,} arrived in "
                    f"{month_words(last)}, against about {norm:,.0f} in {month} of the two "
                    f"years before ({_pct(j.value)} of usual)."
                )
                if j.status != "green":
                    words += (
                        " Check with the service that its records are still being sent."
                        if j.value < 0.3
                        else " Fewer records than usual are arriving: ask the service whether "
                        "how or what it records has changed before reading any change in the "
                        "estimates as a change in risk."
                    )
                rows.append(
                    row(
                        as_of,
                        area,
                        ANY_OUTCOME,
                        "",
                        "data_volume",
                        title,
                        value=j.value,
                        low=j.low,
                        high=j.high,
                        observed=count,
                        expected=norm,
                        n=count,
                        status=j.status,
                        words=words,
                        plan=plan,
                    )
                )
            else:
                rows.append(
                    row(
                        as_of,
                        area,
                        ANY_OUTCOME,
                        "",
                        "data_volume",
                        title,
                        value=count / norm if norm else math.nan,
                        observed=count,
                        expected=norm,
                        n=count,
                        status="too few",
                        plan=plan,
                        words=f"{_first_up(title)} for {who}: too few in {month} usually "
                        f"(about {norm:.0f}) to judge whether they still arrive.",
                    )
                )
            if norm >= float(fresh.min_expected or 0):
                j = judge("data_freshness", days, math.nan, math.nan, fresh)
                latest_words = (
                    "none has ever arrived"
                    if when is None
                    else f"the latest arrived on {long_date(when)}, {days:.0f} days before"
                )
                rows.append(
                    row(
                        as_of,
                        area,
                        ANY_OUTCOME,
                        "",
                        "data_freshness",
                        title,
                        value=days,
                        n=count,
                        status=j.status,
                        plan=plan,
                        words=f"{_first_up(title)} for {who}: {latest_words} {long_date(as_of)}.",
                    )
                )
            else:
                rows.append(
                    row(
                        as_of,
                        area,
                        ANY_OUTCOME,
                        "",
                        "data_freshness",
                        title,
                        value=days,
                        n=count,
                        status="too few",
                        plan=plan,
                        words=f"{_first_up(title)} for {who}: too few in {month} usually "
                        "to judge how fresh they are.",
                    )
                )
    return rows


# ----------------------------------------------------------------------- inputs


def input_words(name: str) -> str:
    """A model input in words: ``suspensions in the last 12 months``."""
    info = input_info(name)
    what = info.what or name.replace("_", " ")
    if info.window is None:
        return what
    months = round(info.window / 30.4)
    span = "12 months" if months == 12 else "2 years" if months == 24 else f"{months} months"
    return f"{what} in the last {span}"


def _bins(reference: pd.Series) -> tuple[np.ndarray | None, np.ndarray]:
    """Bin edges from the reference (quantiles; ``None`` for a few distinct values, which
    are their own bins) and the distinct values."""
    values = pd.to_numeric(reference, errors="coerce").to_numpy(dtype=float)
    finite = values[~np.isnan(values)]
    distinct = np.unique(finite)
    if len(distinct) <= _BINS:
        return None, distinct
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, _BINS + 1)[1:-1]))
    return edges, distinct


def _counts(column: pd.Series, edges: np.ndarray | None, distinct: np.ndarray) -> np.ndarray:
    """Counts per bin (the last bin: missing values)."""
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    missing = np.isnan(values)
    present = values[~missing]
    if edges is None:
        # values never seen in the reference share one extra bin
        index = np.searchsorted(distinct, present)
        index = np.where(
            (index < len(distinct)) & (distinct[np.minimum(index, len(distinct) - 1)] == present),
            index,
            len(distinct),
        )
        counts = np.bincount(index, minlength=len(distinct) + 1)
    else:
        counts = np.bincount(
            np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1
        )
    return np.append(counts, missing.sum()).astype(float)


def psi(current: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Population stability index between count vectors (last axis), half a count added
    to every bin so that an empty bin does not give infinity."""
    c = (current + 0.5) / (current + 0.5).sum(axis=-1, keepdims=True)
    r = (reference + 0.5) / (reference + 0.5).sum(axis=-1, keepdims=True)
    return ((c - r) * np.log(c / r)).sum(axis=-1)


@dataclass(frozen=True)
class InputProfile:
    """One input's bins on the reference, its reference counts, and the PSI chance alone
    gives between two samples of the reference's and the current month's sizes."""

    edges: np.ndarray | None
    distinct: np.ndarray
    counts: np.ndarray
    chance: float


class DriftReference:
    """The reference snapshot of one local authority, profiled once per input and reused
    for every month (the resampled limits depend on the sizes, which change little from
    month to month; the first month's size sets them)."""

    def __init__(self, reference: pd.DataFrame, *, resamples: int, quantile: float, seed: int):
        self.reference = reference
        self.resamples = resamples
        self.quantile = quantile
        self.seed = seed
        self.profiles: dict[str, InputProfile] = {}

    def profile(self, name: str, n_current: int) -> InputProfile:
        if name not in self.profiles:
            edges, distinct = _bins(self.reference[name])
            counts = _counts(self.reference[name], edges, distinct)
            rng = np.random.default_rng([self.seed, zlib_crc(name)])
            p = (counts + 0.5) / (counts + 0.5).sum()
            null = psi(
                rng.multinomial(n_current, p, size=self.resamples),
                rng.multinomial(len(self.reference), p, size=self.resamples),
            )
            chance = float(np.quantile(null, self.quantile))
            self.profiles[name] = InputProfile(edges, distinct, counts, chance)
        return self.profiles[name]

    def table(self, current: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
        """Per input: its PSI against the reference and that PSI ÷ what chance gives."""
        out = []
        for name in features:
            prof = self.profile(name, len(current))
            value = float(psi(_counts(current[name], prof.edges, prof.distinct), prof.counts))
            out.append(
                {"input": name, "psi": value, "chance": prof.chance, "ratio": value / prof.chance}
            )
        return pd.DataFrame(out)


def zlib_crc(text: str) -> int:
    """A stable small integer of ``text`` (seeds)."""
    import zlib

    return zlib.crc32(text.encode())


def drift_rows(
    table: pd.DataFrame,
    sizes: tuple[int, int],
    *,
    as_of: dt.date,
    la: str,
    outcome: str,
    version: str,
    plan: Plan,
) -> list[dict[str, object]]:
    """``input_drift`` for one local authority and model from its inputs' shifts
    (:meth:`DriftReference.table`; ``sizes``: people in the reference and now): the
    largest shift as a multiple of chance, naming the inputs that moved most. Amber or
    red needs the shift to be material too (the plan's ``min_shift``, a PSI): at large
    populations chance is so small that slow, harmless changes would otherwise pass any
    multiple of it."""
    limits = plan.limits("input_drift")
    n_reference, n_current = sizes
    if min(n_reference, n_current) < int(limits.min_people or 0) or table.empty:
        return [
            row(
                as_of,
                la,
                outcome,
                version,
                "input_drift",
                "all inputs",
                n=n_current,
                status="too few",
                plan=plan,
                words=f"Too few young people in {la} ({n_current:,}) to judge whether the "
                "model's inputs have moved.",
            )
        ]
    table = table.sort_values("ratio", ascending=False)
    material = table[table["psi"] >= float(limits.min_shift or 0)]
    top = (material if len(material) else table).iloc[0]
    j = judge("input_drift", float(top["ratio"]), math.nan, math.nan, limits)
    if not len(material):
        j = Judged(j.value, j.low, j.high, "green")
    moved = material[material["ratio"] > limits.amber]
    if j.status == "green":
        words = (
            f"The records the {outcome} model reads for young people in {la} look like those "
            f"it was checked on: the largest shift ({input_words(str(top['input']))}) is "
            f"{top['ratio']:.1f} times what chance alone gives."
        )
    else:
        names = ", ".join(input_words(str(n)) for n in moved["input"].head(3))
        words = (
            f"The records the {outcome} model reads for young people in {la} have moved away "
            f"from those it was checked on, most in {names} ({top['ratio']:.1f} times what "
            "chance alone gives). Its estimates there may no longer mean what they say: find "
            "out whether what is recorded, or what is happening, has changed."
        )
    return [
        row(
            as_of,
            la,
            outcome,
            version,
            "input_drift",
            str(top["input"]),
            value=j.value,
            observed=float(top["psi"]),
            expected=float(top["chance"]),
            n=n_current,
            status=j.status,
            words=words,
            plan=plan,
        )
    ]


# ----------------------------------------------------------------------- scores


def raised_or_above(bands: pd.Series) -> np.ndarray:
    """Is each band ``raised`` or above?"""
    return (bands.astype(str) != "low").to_numpy()


def band_share_rows(
    reference_bands: pd.Series,
    current_bands: pd.Series,
    *,
    as_of: dt.date,
    la: str,
    outcome: str,
    version: str,
    plan: Plan,
) -> list[dict[str, object]]:
    """``band_shares``: the share in the raised band or above now ÷ in the reference."""
    limits = plan.limits("band_shares")
    n_c, n_r = len(current_bands), len(reference_bands)
    h_c = float(raised_or_above(current_bands).sum())
    h_r = float(raised_or_above(reference_bands).sum())
    if min(n_c, n_r) < int(limits.min_people or 0) or h_r == 0:
        return [
            row(
                as_of,
                la,
                outcome,
                version,
                "band_shares",
                "raised or above",
                n=n_c,
                status="too few",
                plan=plan,
                words=f"Too few young people in {la} to judge the share in the raised band "
                "or above.",
            )
        ]
    p_c, p_r = h_c / n_c, h_r / n_r
    ratio = p_c / p_r
    se = math.sqrt((1 - p_c) / max(h_c, 0.5) + (1 - p_r) / h_r)
    z = z_of(plan.confidence)
    j = judge("band_shares", ratio, ratio * math.exp(-z * se), ratio * math.exp(z * se), limits)
    words = (
        f"{_pct(p_c)} of young people in {la} are in the raised band or above for the "
        f"{outcome} estimate, against {_pct(p_r)} when the model was checked "
        f"({_times(ratio)})."
    )
    return [
        row(
            as_of,
            la,
            outcome,
            version,
            "band_shares",
            "raised or above",
            value=j.value,
            low=j.low,
            high=j.high,
            observed=h_c,
            expected=p_r * n_c,
            n=n_c,
            status=j.status,
            words=words,
            plan=plan,
        )
    ]


def composition_rows(
    lists_now: pd.DataFrame,
    lists_before: pd.DataFrame | None,
    *,
    as_of: dt.date,
    la: str,
    outcome: str,
    version: str,
) -> list[dict[str, object]]:
    """``list_composition`` (recorded, not judged): of those named this month, the share
    new since last month and still listed; of those in the high band or above, the
    share already known to services for serious violence."""
    named = lists_now[lists_now["within_capacity"]]
    out = []
    if len(named) and lists_before is not None:
        before = set(lists_before.loc[lists_before["within_capacity"], "person_id"].astype(str))
        new = float((~named["person_id"].astype(str).isin(before)).mean())
        out += [
            row(
                as_of,
                la,
                outcome,
                version,
                "list_composition",
                "new",
                value=new,
                n=len(named),
                status="info",
                words=f"{_pct(new)} of the young people named in {la} were not named the "
                "month before.",
            ),
            row(
                as_of,
                la,
                outcome,
                version,
                "list_composition",
                "still listed",
                value=1 - new,
                n=len(named),
                status="info",
                words=f"{_pct(1 - new)} of the young people named in {la} were named the "
                "month before too.",
            ),
        ]
    high = lists_now[lists_now["band"].astype(str).isin(("high", "very high"))]
    if len(high):
        known = float((high["list"] == "known").mean())
        out.append(
            row(
                as_of,
                la,
                outcome,
                version,
                "list_composition",
                "already involved",
                value=known,
                n=len(high),
                status="info",
                words=f"{_pct(known)} of the young people in {la} in the high band or above "
                "are already known to services for serious violence.",
            )
        )
    return out


# --------------------------------------------------------------------- outcomes


def outcomes_in_window(
    incidents: pd.DataFrame, role: str, start: dt.date, end: dt.date
) -> set[str]:
    """Young people with a serious-violence incident in ``role`` whose event falls in
    ``[start, end)`` and that was recorded before ``end`` (what was known then)."""
    sv = incidents[incidents["serious_violence"].astype(bool) & (incidents["role"] == role)]
    event = pd.to_datetime(sv["event_date"])
    recorded = pd.to_datetime(sv["recorded_date"])
    inside = (event >= pd.Timestamp(start)) & (event < pd.Timestamp(end))
    inside &= recorded < pd.Timestamp(end)
    return set(sv.loc[inside, "person_id"].astype(str))


def not_yet_rows(
    as_of: dt.date,
    la: str,
    outcome: str,
    version: str,
    first: dt.date,
    plan: Plan,
) -> list[dict[str, object]]:
    """The outcome checks of a month whose lists of 12 months ago predate the model's
    checked snapshot: no outcome window has closed yet (never reported as zeros)."""
    words = (
        f"No outcomes can be judged yet: the first 12-month window of this model's "
        f"estimates closes on {long_date(month_add(first, 12))}."
    )
    return [
        row(as_of, la, outcome, version, check, "", status="not yet", words=words, plan=plan)
        for check in ("precision", "calibration")
    ]


def precision_rows(
    matured: pd.DataFrame,
    *,
    as_of: dt.date,
    la: str,
    outcome: str,
    version: str,
    band_rates: Mapping[str, float],
    plan: Plan,
) -> list[dict[str, object]]:
    """``precision``: of each list named 12 months ago, the share with a recorded outcome
    since, ÷ what their bands promised (the bands' observed rates at training)."""
    limits = plan.limits("precision")
    out = []
    for key, title in (("known", "known list"), ("early", "early list")):
        named = matured[(matured["list"] == key) & matured["within_capacity"]]
        n = len(named)
        drawn_on = long_date(month_add(as_of, -12))
        if n < int(limits.min_people or 0):
            out.append(
                row(
                    as_of,
                    la,
                    outcome,
                    version,
                    "precision",
                    key,
                    n=n,
                    status="too few",
                    plan=plan,
                    words=f"The {title} of {la} drawn on {drawn_on} named {n} young people: "
                    "too few to judge what it found.",
                )
            )
            continue
        hits = float(named["outcome"].sum())
        promised = float(named["band"].astype(str).map(band_rates).mean())
        lo, hi = wilson(hits, n, plan.confidence)
        j = judge("precision", hits / n / promised, lo / promised, hi / promised, limits)
        words = (
            f"Of the {n} young people on the {title} of {la} drawn on {drawn_on}, "
            f"{hits:.0f} ({_pct(hits / n)}) were recorded as {outcome_words(outcome)} in the "
            f"12 months after; their bands promised about {_pct(promised)}."
        )
        out.append(
            row(
                as_of,
                la,
                outcome,
                version,
                "precision",
                key,
                value=j.value,
                low=j.low,
                high=j.high,
                observed=hits,
                expected=promised * n,
                n=n,
                status=j.status,
                words=words,
                plan=plan,
            )
        )
    return out


def outcome_words(outcome: str) -> str:
    """``harmed by serious violence`` / ``involved in serious violence``."""
    return "harmed by serious violence" if outcome == "victim" else "involved in serious violence"


def _calibration_row(
    check: str,
    observed: float,
    expected: float,
    n: int,
    *,
    as_of: dt.date,
    la: str,
    outcome: str,
    version: str,
    subject: str,
    who: str,
    plan: Plan,
) -> dict[str, object]:
    limits = plan.limits(check)
    if expected < float(limits.min_expected or 0):
        return row(
            as_of,
            la,
            outcome,
            version,
            check,
            subject,
            observed=observed,
            expected=expected,
            n=n,
            status="too few",
            plan=plan,
            words=f"{_first_up(who)}: too few outcomes expected ({expected:.1f}) to "
            "judge the estimates.",
        )
    lo, hi = poisson_interval(observed, plan.confidence)
    j = judge(check, observed / expected, lo / expected, hi / expected, limits)
    if j.status == "green":
        tail = ""
    elif j.value > 1:
        tail = (
            " The estimates understated what happened: young people here may be at more risk "
            "than the lists say."
        )
    else:
        tail = " The estimates overstated what happened here."
    words = (
        f"{_first_up(who)}: {observed:.0f} were recorded as {outcome_words(outcome)} in the "
        f"12 months to {long_date(as_of)}, where the estimates made then expected about "
        f"{expected:.0f} ({_times(j.value)}{_interval(j)}).{tail}"
    )
    return row(
        as_of,
        la,
        outcome,
        version,
        check,
        subject,
        value=j.value,
        low=j.low,
        high=j.high,
        observed=observed,
        expected=expected,
        n=n,
        status=j.status,
        words=words,
        plan=plan,
    )


def calibration_rows(
    matured: pd.DataFrame,
    *,
    as_of: dt.date,
    la: str,
    outcome: str,
    version: str,
    bands: Sequence[str],
    plan: Plan,
) -> list[dict[str, object]]:
    """``calibration``: recorded outcomes ÷ the sum of the estimates of 12 months ago, for
    everyone in ``la`` and for each band."""
    place = "every area" if la == ALL_AREAS else la
    out = [
        _calibration_row(
            "calibration",
            float(matured["outcome"].sum()),
            float(matured["probability"].sum()),
            len(matured),
            as_of=as_of,
            la=la,
            outcome=outcome,
            version=version,
            subject="everyone",
            who=f"young people in {place}",
            plan=plan,
        )
    ]
    for band in bands:
        mine = matured[matured["band"].astype(str) == band]
        out.append(
            _calibration_row(
                "calibration",
                float(mine["outcome"].sum()),
                float(mine["probability"].sum()),
                len(mine),
                as_of=as_of,
                la=la,
                outcome=outcome,
                version=version,
                subject=band,
                who=f"young people in {place} in the {band} band",
                plan=plan,
            )
        )
    return out


def group_calibration_rows(
    matured: pd.DataFrame,
    groups: pd.DataFrame,
    *,
    as_of: dt.date,
    outcome: str,
    version: str,
    plan: Plan,
) -> list[dict[str, object]]:
    """``group_calibration``: each group of the fairness policy, its recorded ÷ expected
    outcomes relative to everyone else's — month after month, does an estimate still mean
    the same for every group? (Compared with everyone else rather than with the policy's
    reference group: a reference group with few outcomes would make every other group's
    figure swing with it.)"""
    limits = plan.limits("group_calibration")
    min_people, min_expected = int(limits.min_people or 0), float(limits.min_expected or 0)
    z = z_of(plan.confidence)
    out = []
    y = matured["outcome"].to_numpy(dtype=float)
    p = matured["probability"].to_numpy(dtype=float)
    o_all, e_all = y.sum(), p.sum()
    for attribute in groups.columns:
        column = groups[attribute].astype(str).to_numpy()
        for group in sorted(set(column)):
            mine = column == group
            n, o_g, e_g = int(mine.sum()), y[mine].sum(), p[mine].sum()
            subject = f"{attribute.replace('_', ' ')}: {group}"
            if n < min_people or e_g < min_expected or o_all == 0:
                out.append(
                    row(
                        as_of,
                        ALL_AREAS,
                        outcome,
                        version,
                        "group_calibration",
                        subject,
                        observed=o_g,
                        expected=e_g,
                        n=n,
                        status="too few",
                        plan=plan,
                        words=f"{subject}: too few young people or outcomes to judge.",
                    )
                )
                continue
            # the group against everyone else: two independent counts
            o_rest, e_rest = o_all - o_g, e_all - e_g
            if o_rest <= 0 or e_rest <= 0:
                continue
            ratio = (max(o_g, 0.5) / e_g) / (o_rest / e_rest)
            se = math.sqrt(1 / max(o_g, 0.5) + 1 / o_rest)
            j = judge(
                "group_calibration",
                ratio,
                ratio * math.exp(-z * se),
                ratio * math.exp(z * se),
                limits,
            )
            side = (
                ""
                if j.status == "green"
                else " The estimates understate this group's risk compared with everyone else's."
                if ratio > 1
                else " The estimates overstate this group's risk compared with everyone "
                "else's: they may bring its young people to panels on weaker evidence."
            )
            words = (
                f"{subject}: {o_g:.0f} recorded outcomes against {e_g:.0f} expected "
                f"({o_g / e_g:.2f}×), where everyone else had {_times(o_rest / e_rest)}; relative "
                f"{_times(ratio)}{_interval(j)}.{side}"
            )
            out.append(
                row(
                    as_of,
                    ALL_AREAS,
                    outcome,
                    version,
                    "group_calibration",
                    subject,
                    value=j.value,
                    low=j.low,
                    high=j.high,
                    observed=o_g,
                    expected=e_g,
                    n=n,
                    status=j.status,
                    words=words,
                    plan=plan,
                )
            )
    return out


# ----------------------------------------------------------------------- people


def disagreement_rows(
    feedback: pd.DataFrame,
    *,
    as_of: dt.date,
    authorities: Sequence[str],
    outcome: str,
    version: str,
    plan: Plan,
) -> list[dict[str, object]]:
    """``disagreement``: the share of last month's practitioner feedback on this outcome
    that disagrees, with the commonest reasons."""
    limits = plan.limits("disagreement")
    out = []
    for la in authorities:
        mine = feedback[(feedback["la"] == la) & (feedback["outcome"] == outcome)]
        n = len(mine)
        if n < int(limits.min_people or 0):
            out.append(
                row(
                    as_of,
                    la,
                    outcome,
                    version,
                    "disagreement",
                    "feedback",
                    n=n,
                    status="too few",
                    plan=plan,
                    words=f"{n} piece{'s' if n != 1 else ''} of practitioner feedback from "
                    f"{la} in the month: too few to judge.",
                )
            )
            continue
        against = ~mine["agrees"].astype(bool)
        hits = float(against.sum())
        lo, hi = wilson(hits, n, plan.confidence)
        j = judge("disagreement", hits / n, lo, hi, limits)
        reasons = mine.loc[against, "reason_code"].astype(str).value_counts().head(2)
        why = (
            " Most often: "
            + "; ".join(f"{str(r).replace('_', ' ')} ({c})" for r, c in reasons.items())
            + "."
            if len(reasons)
            else ""
        )
        out.append(
            row(
                as_of,
                la,
                outcome,
                version,
                "disagreement",
                "feedback",
                value=j.value,
                low=j.low,
                high=j.high,
                observed=hits,
                n=n,
                status=j.status,
                plan=plan,
                words=f"Practitioners in {la} disagreed with {hits:.0f} of {n} estimates they "
                f"gave feedback on ({_pct(hits / n)}).{why}",
            )
        )
    return out
