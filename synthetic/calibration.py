"""Measure a generated population against the published targets.

Every measurement reads the raw tables as an analyst would, and the truth
tables where the published figure is about what really happened (true
violence, gang involvement, adverse childhood experiences). The result is one
row per target: the published value, its band, what was measured and whether
it passed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd

from synthetic.generate import SyntheticDataset
from synthetic.targets import TARGETS, Target

VIOLENT_GROUPS = ("homicide", "violence_with_injury", "robbery", "violence_without_injury")


def _month_index(dates: pd.Series | np.ndarray, start: dt.date) -> np.ndarray:
    d = pd.DatetimeIndex(pd.to_datetime(np.asarray(dates)))
    return np.asarray((d.year - start.year) * 12 + (d.month - start.month), dtype=np.int64)


class _Measures:
    """Frames prepared once and shared by all measurements of one dataset."""

    def __init__(self, data: SyntheticDataset) -> None:
        s = data.settings
        self.settings = s
        self.n_months = s.n_months
        people = data.raw["people"].to_pandas()
        self.people = people
        self.index = pd.Index(people["person_id"])
        birth = _month_index(people["birth_month"], s.start)
        moved_in = people["moved_in"].notna().to_numpy()
        moved_out = people["moved_out"].notna().to_numpy()
        mi = np.where(moved_in, _month_index(people["moved_in"].fillna(s.start), s.start), -(10**6))
        mo = np.where(moved_out, _month_index(people["moved_out"].fillna(s.start), s.start), 10**6)
        self.birth = birth
        self.lo = np.maximum.reduce([birth + 120, np.zeros_like(birth), mi])
        self.hi = np.minimum.reduce([birth + 300, np.full_like(birth, self.n_months), mo])
        self.from_ten = (self.lo == birth + 120) & ~moved_in
        self.male = (people["sex"] == "male").to_numpy()
        self.fsm = people["fsm"].to_numpy(dtype=bool)
        self.sen = people["sen_status"].to_numpy()
        self.eth = people["ethnicity"].to_numpy()
        self.detail = people["ethnicity_detail"].to_numpy()
        self.imd = people["imd_decile"].to_numpy()
        self.school = self._events(data.raw["school_events"].to_pandas())
        self.contacts = self._events(data.raw["agency_contacts"].to_pandas())
        self.incidents = self._events(data.raw["incidents"].to_pandas())
        self.truth_events = self._events(data.truth["events"].to_pandas())
        self.latent = data.truth["latent"].to_pandas().set_index("person_id").reindex(self.index)
        pm = (
            data.truth["person_months"]
            .select(
                [
                    "person_id",
                    "month",
                    "child_in_need",
                    "child_protection_plan",
                    "looked_after",
                    "gang_involved",
                ]
            )
            .to_pandas()
        )
        pm["i"] = self.index.get_indexer(pm["person_id"])
        pm["m"] = _month_index(pm["month"], s.start)
        pm["age"] = (pm["m"] - birth[pm["i"]]) // 12
        self.pm = pm.drop(columns=["person_id", "month"])

    def _events(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame["i"] = self.index.get_indexer(frame["person_id"])
        frame["m"] = _month_index(frame["event_date"], self.settings.start)
        frame["age"] = (frame["m"] - self.birth[frame["i"]]) // 12
        return frame

    def exposure(self, ages: range, mask: np.ndarray | None = None) -> float:
        """Person-years at the given ages among people selected by ``mask``."""
        mask = np.ones(self.birth.size, bool) if mask is None else mask
        total = 0
        for a in ages:
            lo = np.maximum(self.lo, self.birth + 12 * a)
            hi = np.minimum(self.hi, self.birth + 12 * (a + 1))
            total += int(np.clip(hi - lo, 0, None)[mask].sum())
        return total / 12

    def rate(self, events: pd.DataFrame, ages: range, mask: np.ndarray | None = None) -> float:
        ev = events[events["age"].isin(list(ages))]
        if mask is not None:
            ev = ev[mask[ev["i"].to_numpy()]]
        return len(ev) / max(self.exposure(ages, mask), 1e-9)


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


SECONDARY = range(11, 16)
TEEN = range(13, 20)


def _school_measures(m: _Measures) -> dict[str, float]:
    susp = m.school[m.school["event_type"] == "suspension"]
    pex = m.school[m.school["event_type"] == "permanent_exclusion"]
    out = {
        "E1": 100 * m.rate(susp, SECONDARY),
        "E2": 100 * m.rate(pex, SECONDARY),
        "E3a": _ratio(m.rate(susp, SECONDARY, m.male), m.rate(susp, SECONDARY, ~m.male)),
        "E3b": _ratio(m.rate(pex, SECONDARY, m.male), m.rate(pex, SECONDARY, ~m.male)),
        "E4a": _ratio(m.rate(susp, SECONDARY, m.fsm), m.rate(susp, SECONDARY, ~m.fsm)),
        "E4b": _ratio(m.rate(pex, SECONDARY, m.fsm), m.rate(pex, SECONDARY, ~m.fsm)),
        "E5": _ratio(
            m.rate(pex, SECONDARY, m.sen == "sen_support"), m.rate(pex, SECONDARY, m.sen == "none")
        ),
    }
    ages = range(10, 18)
    out["E6a"] = float(ages[int(np.argmax([m.rate(susp, range(a, a + 1)) for a in ages]))])
    out["E6b"] = float(ages[int(np.argmax([m.rate(pex, range(a, a + 1)) for a in ages]))])
    return out


def _social_care_measures(m: _Measures) -> dict[str, float]:
    start_month0 = m.settings.start.month - 1
    pm = m.pm
    march = pm[((pm["m"] + start_month0) % 12 == 2) & (pm["age"] < 18)]
    out = {
        "S1": 1e4 * march["child_in_need"].mean(),
        "S2": 1e4 * march["child_protection_plan"].mean(),
        "S3a": 1e4 * march["looked_after"].mean(),
        "S3b": float(m.male[march.loc[march["looked_after"], "i"].to_numpy()].mean()),
    }
    year_of = (pm["m"] + start_month0) // 12
    lac_years = pd.DataFrame({"i": pm["i"], "y": year_of})[pm["looked_after"] & (pm["age"] < 18)]
    lac_years = lac_years.drop_duplicates()
    missing = m.contacts[m.contacts["contact_type"] == "missing_episode"]
    missing_years = pd.DataFrame(
        {"i": missing["i"], "y": (missing["m"] + start_month0) // 12, "age": missing["age"]}
    )
    both = lac_years.merge(missing_years[["i", "y"]].drop_duplicates(), on=["i", "y"])
    out["S4a"] = len(both) / max(len(lac_years), 1)
    child_missing = missing_years[missing_years["age"] < 18][["i", "y"]].drop_duplicates()
    out["S4b"] = len(child_missing) / max(m.exposure(range(10, 18)), 1e-9)
    return out


def _youth_offending_measures(m: _Measures) -> dict[str, float]:
    sv_suspect = m.incidents[(m.incidents["role"] == "suspect") & m.incidents["serious_violence"]]
    cohort = m.from_ten & (m.hi >= m.birth + 18 * 12)
    child_sv = np.zeros(m.birth.size, bool)
    child_sv[sv_suspect.loc[sv_suspect["age"] < 18, "i"].to_numpy()] = True
    out = {
        "V1a": float(child_sv[cohort].mean()),
        "V1b": float(child_sv[cohort & m.male].mean()),
        "V1c": float(m.male[cohort & child_sv].mean()),
    }
    first = sv_suspect.sort_values("m").drop_duplicates("i")
    first = first[m.from_ten[first["i"].to_numpy()]]
    in_cohort = first[cohort[first["i"].to_numpy()] & (first["age"] < 18)]
    out["V1d"] = float(in_cohort["age"].value_counts().idxmax())
    yot = m.contacts[m.contacts["contact_type"] == "yot_order"].sort_values("m")
    first_yot = yot.drop_duplicates("i")
    first_yot = first_yot[m.from_ten[first_yot["i"].to_numpy()] & (first_yot["age"] < 18)]
    out["V2"] = 1e5 * len(first_yot) / max(m.exposure(range(10, 18), m.from_ten), 1e-9)

    # V6: background of children recorded for serious violence
    child_first = first[first["age"] < 18][["i", "m"]]

    def earlier(events: pd.DataFrame) -> float:
        e = events[["i", "m"]].merge(child_first, on="i", suffixes=("", "_sv"))
        hit = e.loc[e["m"] <= e["m_sv"], "i"].nunique()
        return hit / max(len(child_first), 1)

    out["V6a"] = earlier(m.school[m.school["event_type"] == "suspension"])
    out["V6b"] = earlier(m.contacts[m.contacts["contact_type"] == "child_in_need"])
    out["V6c"] = earlier(m.contacts[m.contacts["contact_type"] == "looked_after_start"])

    # V5: ever looked after vs never, ever recorded as suspect
    observed = (m.lo <= m.birth + 12 * 12) & (m.hi >= m.birth + 20 * 12)
    ever_lac = np.zeros(m.birth.size, bool)
    ever_lac[m.contacts.loc[m.contacts["contact_type"] == "looked_after_start", "i"]] = True
    ever_suspect = np.zeros(m.birth.size, bool)
    ever_suspect[m.incidents.loc[m.incidents["role"] == "suspect", "i"]] = True
    out["V5"] = _ratio(
        ever_suspect[observed & ever_lac].mean(), ever_suspect[observed & ~ever_lac].mean()
    )
    return out


def _violence_measures(m: _Measures) -> dict[str, float]:
    te = m.truth_events
    perp = te[te["kind"].isin(["sv_perpetration", "violence_perpetration"])]
    vic = te[te["kind"].isin(["sv_victimisation", "violence_victimisation"])]
    # both figures need time to happen: count people observed long enough to see it
    long_observed = (m.hi - m.lo) >= 60
    perps = pd.Index(perp["i"].unique())
    perps = perps[long_observed[perps.to_numpy()]]
    victim_counts = vic["i"].value_counts()
    out = {"V3a": float(perps.isin(victim_counts.index).mean())}
    first_victimised = vic.groupby("i")["m"].min()
    followed = (m.hi[first_victimised.index.to_numpy()] - first_victimised.to_numpy()) >= 36
    out["V3b"] = float((victim_counts.reindex(first_victimised.index)[followed] >= 2).mean())
    violent = m.incidents[
        (m.incidents["role"] == "suspect") & m.incidents["offence_group"].isin(VIOLENT_GROUPS)
    ]
    counts = np.sort(violent["i"].value_counts().to_numpy())[::-1]
    top = int(np.ceil(0.01 * m.birth.size))
    out["V4"] = float(counts[:top].sum()) / max(float(counts.sum()), 1.0)

    knife = te[(te["kind"] == "sv_victimisation") & te["weapon"]]
    ages = range(10, 25)
    q1 = m.imd <= 2
    q5 = m.imd >= 9
    out["V7a"] = _ratio(m.rate(knife, ages, m.male), m.rate(knife, ages, ~m.male))
    out["V7b"] = _ratio(m.rate(knife, ages, q1), m.rate(knife, ages, q5))

    observed = (m.hi - m.lo) >= 60
    ace = m.latent["ace_count"].to_numpy()
    ever = np.zeros(m.birth.size, bool)
    ever[perp["i"].to_numpy()] = True
    p4 = ever[observed & (ace >= 4)].mean()
    p0 = ever[observed & (ace == 0)].mean()
    out["R1"] = _ratio(p4 / (1 - p4), p0 / (1 - p0))

    pm = m.pm
    teen = pm[(pm["age"] >= TEEN.start) & (pm["age"] < TEEN.stop)]
    out["R2a"] = float(teen["gang_involved"].mean())
    sv_vic = te[(te["kind"] == "sv_victimisation") & (te["age"] >= 13) & (te["age"] < 20)]
    gang_state = np.zeros(m.birth.size * m.n_months, bool)
    gang_rows = pm[pm["gang_involved"]]
    gang_state[gang_rows["i"].to_numpy() * m.n_months + gang_rows["m"].to_numpy()] = True
    in_gang = gang_state[sv_vic["i"].to_numpy() * m.n_months + sv_vic["m"].to_numpy()]
    gang_months = teen["gang_involved"].sum()
    other_months = len(teen) - gang_months
    out["R2b"] = _ratio(
        in_gang.sum() / max(gang_months, 1), (~in_gang).sum() / max(other_months, 1)
    )

    stops = m.contacts[m.contacts["contact_type"] == "stop_and_search"]
    out["B1"] = _ratio(m.rate(stops, ages, m.eth == "Black"), m.rate(stops, ages, m.eth == "White"))
    recorded_victims = m.incidents[
        (m.incidents["role"] == "victim") & m.incidents["offence_group"].isin(VIOLENT_GROUPS)
    ]
    out["B4"] = len(recorded_victims) / max(len(vic), 1)
    return out


def _label_measures(m: _Measures) -> dict[str, float]:
    out = {}
    start_month0 = m.settings.start.month - 1
    for target, role in (("L1", "suspect"), ("L2", "victim")):
        sv = m.incidents[(m.incidents["role"] == role) & m.incidents["serious_violence"]]
        shares = []
        for as_of in range((12 - start_month0) % 12, m.n_months - 12, 12):
            resident = (m.lo <= as_of) & (as_of < m.hi)
            window = sv[(sv["m"] >= as_of) & (sv["m"] < as_of + 12)]
            flagged = np.zeros(m.birth.size, bool)
            flagged[window["i"].to_numpy()] = True
            shares.append(flagged[resident].mean())
        out[target] = float(np.mean(shares))
    return out


def _population_measures(m: _Measures) -> dict[str, float]:
    mid = m.n_months // 2
    resident = (m.lo <= mid) & (mid < m.hi)
    la = m.people["local_authority"].to_numpy()
    return {
        "P0": resident.sum() / m.settings.people,
        "P1": float((la[resident] == "Bristol").mean()),
    }


MEASURES: tuple[Callable[[_Measures], dict[str, float]], ...] = (
    _population_measures,
    _school_measures,
    _social_care_measures,
    _youth_offending_measures,
    _violence_measures,
    _label_measures,
)


def _bias_measures(biased: _Measures, unbiased: _Measures) -> dict[str, float]:
    def pex_ratio(m: _Measures) -> float:
        pex = m.school[m.school["event_type"] == "permanent_exclusion"]
        ages = range(10, 18)
        caribbean = np.isin(m.detail, ("BCRB", "MWBC"))
        return _ratio(m.rate(pex, ages, caribbean), m.rate(pex, ages, m.detail == "WBRI"))

    return {"E7": _ratio(pex_ratio(biased), pex_ratio(unbiased))}


def measure(data: SyntheticDataset, unbiased: SyntheticDataset | None = None) -> pd.DataFrame:
    """Compare a dataset with every target it can be measured against.

    Parameters
    ----------
    data
        A population generated with the default (biased) recording.
    unbiased
        The same seed generated with ``BiasSettings.none()``; when given, targets
        that compare the two worlds (E7) are measured too.

    Returns
    -------
    pandas.DataFrame
        One row per target: ``id, quantity, target, low, high, measured, passed,
        measured_as, source, year``.
    """
    m = _Measures(data)
    values: dict[str, float] = {}
    for fn in MEASURES:
        values.update(fn(m))
    if unbiased is not None:
        values.update(_bias_measures(m, _Measures(unbiased)))
    rows = []
    for target in TARGETS:
        if target.id not in values:
            continue
        v = float(values[target.id])
        rows.append(_row(target, v))
    return pd.DataFrame(rows)


def _row(target: Target, measured: float) -> dict[str, object]:
    return {
        "id": target.id,
        "quantity": target.quantity,
        "target": target.value,
        "low": target.low,
        "high": target.high,
        "measured": measured,
        "passed": bool(np.isfinite(measured) and target.passes(measured)),
        "measured_as": target.measured_as,
        "source": target.source,
        "year": target.year,
    }


def _fmt(x: float) -> str:
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def to_markdown(table: pd.DataFrame) -> str:
    """Render a calibration table as Markdown (for docs and the CLI)."""
    lines = [
        "| id | quantity | target | band | generated | ok | measured as | source (year) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in table.to_dict("records"):
        target, low, high, measured = (float(r[k]) for k in ("target", "low", "high", "measured"))
        lines.append(
            f"| {r['id']} | {r['quantity']} | {_fmt(target)} | {_fmt(low)}–{_fmt(high)} | "
            f"{_fmt(measured)} | {'yes' if r['passed'] else '**no**'} | {r['measured_as']} | "
            f"{r['source']} ({r['year']}) |"
        )
    return "\n".join(lines)
