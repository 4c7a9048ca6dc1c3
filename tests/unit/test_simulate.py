"""Pieces of the monthly simulation and the tables made from it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.vocabulary import (
    AGENCIES,
    CONTACT_TYPES,
    ETHNICITIES,
    OFFENCE_GROUPS,
    ROLES,
    SCHOOL_EVENT_TYPES,
    SCHOOL_REASONS,
    SERIOUS_OFFENCES,
)
from synthetic.config import BiasSettings
from synthetic.generate import SyntheticDataset
from synthetic.simulate import (
    _bernoulli,
    _excite,
    exclusion_multiplier,
    stop_search_multiplier,
    suspension_multiplier,
)
from synthetic.tables import extract_date


def test_excitation_is_bounded_and_monotone() -> None:
    recent = np.array([0.0, 0.5, 1.0, 3.0, 100.0])
    effect = _excite(recent)
    assert effect[0] == 0.0
    assert np.all(np.diff(effect) > 0)
    assert effect[-1] <= 1.0


def test_bernoulli_matches_its_probability() -> None:
    rng = np.random.default_rng(0)
    p, hit = _bernoulli(rng, np.full(200_000, np.log(0.05)))
    assert np.allclose(p, -np.expm1(-0.05))
    assert abs(hit.mean() - p[0]) < 0.003


def test_bernoulli_ceiling_caps_probability() -> None:
    p, _ = _bernoulli(np.random.default_rng(0), np.array([5.0, -1.0]), ceiling=-2.0)
    assert p[0] == pytest.approx(-np.expm1(-np.exp(-2.0)))
    assert p[1] == pytest.approx(-np.expm1(-np.exp(-2.0)))


def _people(data: SyntheticDataset) -> pd.DataFrame:
    return data.raw["people"].to_pandas().set_index("person_id")


def _age_months(events: pd.DataFrame, people: pd.DataFrame) -> pd.Series:
    birth = pd.to_datetime(people.loc[events["person_id"], "birth_month"]).to_numpy()
    when = pd.to_datetime(events["event_date"]).to_numpy()
    b = pd.DatetimeIndex(birth)
    w = pd.DatetimeIndex(when)
    return pd.Series((w.year - b.year) * 12 + (w.month - b.month), index=events.index)


def test_raw_tables_have_the_design_columns(small_dataset: SyntheticDataset) -> None:
    assert small_dataset.raw["people"].column_names == [
        "person_id",
        "birth_month",
        "sex",
        "ethnicity",
        "ethnicity_detail",
        "local_authority",
        "imd_decile",
        "sen_status",
        "fsm",
        "moved_in",
        "moved_out",
    ]
    assert small_dataset.raw["school_events"].column_names == [
        "person_id",
        "event_date",
        "recorded_date",
        "event_type",
        "reason",
        "days",
    ]
    assert small_dataset.raw["agency_contacts"].column_names == [
        "person_id",
        "event_date",
        "recorded_date",
        "agency",
        "contact_type",
    ]
    assert small_dataset.raw["incidents"].column_names == [
        "incident_id",
        "person_id",
        "event_date",
        "recorded_date",
        "role",
        "offence_group",
        "serious_violence",
        "weapon",
    ]


def test_codes_are_from_the_design_lists(small_dataset: SyntheticDataset) -> None:
    raw = {k: v.to_pandas() for k, v in small_dataset.raw.items()}
    p = raw["people"]
    assert set(p["sex"]) == {"female", "male"}
    assert set(p["ethnicity"]) == {"White", "Mixed", "Asian", "Black", "Other"}
    assert set(p["sen_status"]) <= {"none", "sen_support", "ehcp"}
    assert p["imd_decile"].between(1, 10).all()
    assert set(raw["school_events"]["event_type"]) == set(SCHOOL_EVENT_TYPES)
    assert set(raw["school_events"]["reason"]) <= set(SCHOOL_REASONS)
    assert set(raw["agency_contacts"]["agency"]) == set(AGENCIES)
    assert set(raw["agency_contacts"]["contact_type"]) <= set(CONTACT_TYPES)
    assert set(raw["incidents"]["role"]) == set(ROLES)
    assert set(raw["incidents"]["offence_group"]) <= set(OFFENCE_GROUPS)


def test_no_date_of_birth_finer_than_month(small_dataset: SyntheticDataset) -> None:
    birth = pd.to_datetime(small_dataset.raw["people"].to_pandas()["birth_month"])
    assert (birth.dt.day == 1).all()


def test_person_ids_are_unique_and_pseudonymous(small_dataset: SyntheticDataset) -> None:
    ids = small_dataset.raw["people"].to_pandas()["person_id"]
    assert ids.is_unique
    assert ids.str.fullmatch(r"YP\d{7}").all()


def test_records_are_recorded_on_or_after_the_event_and_by_the_extract(
    small_dataset: SyntheticDataset,
) -> None:
    extract = pd.Timestamp(extract_date(small_dataset.settings))
    for name in ("school_events", "agency_contacts", "incidents"):
        t = small_dataset.raw[name].to_pandas()
        event, recorded = pd.to_datetime(t["event_date"]), pd.to_datetime(t["recorded_date"])
        assert (recorded >= event).all(), name
        assert (recorded <= extract).all(), name
        assert (event >= pd.Timestamp(small_dataset.settings.start)).all(), name
        assert (recorded > event).mean() > 0.3, f"{name}: lags should usually be positive"


def test_recording_lags_differ_by_agency(small_dataset: SyntheticDataset) -> None:
    c = small_dataset.raw["agency_contacts"].to_pandas()
    lag = (pd.to_datetime(c["recorded_date"]) - pd.to_datetime(c["event_date"])).dt.days
    median = lag.groupby(c["agency"]).median()
    assert median["camhs"] > median["health"]


def test_events_happen_only_while_resident_and_aged_10_to_24(
    small_dataset: SyntheticDataset,
) -> None:
    people = _people(small_dataset)
    for name in ("school_events", "agency_contacts", "incidents"):
        t = small_dataset.raw[name].to_pandas()
        if name == "agency_contacts":
            t = t[t["contact_type"] != "yot_order"]  # orders follow an offence by two months
        age = _age_months(t, people)
        assert age.between(120, 299).all(), name
        moved_in = pd.to_datetime(people.loc[t["person_id"], "moved_in"]).to_numpy()
        when = pd.to_datetime(t["event_date"]).to_numpy()
        arrived = pd.isna(moved_in) | (when >= moved_in)
        assert arrived.all(), name


def test_school_and_social_care_events_are_for_children(small_dataset: SyntheticDataset) -> None:
    people = _people(small_dataset)
    school = small_dataset.raw["school_events"].to_pandas()
    assert _age_months(school, people).lt(18 * 12).all()
    c = small_dataset.raw["agency_contacts"].to_pandas()
    starts = c[
        c["contact_type"].isin(["child_in_need", "child_protection_plan", "looked_after_start"])
    ]
    assert _age_months(starts, people).lt(18 * 12).all()


def test_serious_violence_flag_follows_offence_group(small_dataset: SyntheticDataset) -> None:
    i = small_dataset.raw["incidents"].to_pandas()
    assert (i["serious_violence"] == i["offence_group"].isin(SERIOUS_OFFENCES)).all()
    assert i.loc[i["offence_group"] == "possession_of_weapons", "weapon"].all()


def test_incident_roles_are_unique_and_witnesses_share_an_incident(
    small_dataset: SyntheticDataset,
) -> None:
    i = small_dataset.raw["incidents"].to_pandas()
    assert not i.duplicated(["incident_id", "person_id", "role"]).any()
    witnesses = i[i["role"] == "witness"]
    assert len(witnesses) > 0
    principals = i[i["role"] != "witness"].set_index("incident_id")
    assert witnesses["incident_id"].isin(principals.index).all()
    same = principals.loc[witnesses["incident_id"], "event_date"].to_numpy()
    assert (same == witnesses["event_date"].to_numpy()).all()


def test_permanent_exclusions_have_no_days(small_dataset: SyntheticDataset) -> None:
    s = small_dataset.raw["school_events"].to_pandas()
    pex = s["event_type"] == "permanent_exclusion"
    assert s.loc[pex, "days"].isna().all()
    assert (s.loc[~pex, "days"] >= 1).all()


def test_truth_covers_every_resident_month(small_dataset: SyntheticDataset) -> None:
    pm = small_dataset.truth["person_months"].to_pandas()
    assert not pm.duplicated(["person_id", "month"]).any()
    assert pm["p_sv_victim"].between(0, 1).all()
    assert pm["p_sv_perpetrator"].between(0, 1).all()
    people = _people(small_dataset)
    age = _age_months(pm.rename(columns={"month": "event_date"}), people)
    assert age.between(120, 299).all()
    assert set(pm["person_id"]) <= set(people.index)


def test_manifest_is_deterministic_and_names_the_extract(small_dataset: SyntheticDataset) -> None:
    m = small_dataset.manifest()
    assert m == small_dataset.manifest()
    assert m["extract_date"] == dt.date(2025, 12, 31).isoformat()
    assert "Synthetic" in str(m["note"])


def test_b5_multipliers_apply_to_the_named_groups_only() -> None:
    detail = np.array(["BCRB", "MWBC", "WBRI", "WIRT", "BAFR"], dtype=object)
    assert exclusion_multiplier(detail, BiasSettings()).tolist() == [1.7, 1.6, 1.0, 1.0, 1.0]
    assert suspension_multiplier(detail, BiasSettings()).tolist() == [1.0, 1.0, 1.0, 3.0, 1.0]
    assert np.all(exclusion_multiplier(detail, BiasSettings.none()) == 1.0)
    assert np.all(suspension_multiplier(detail, BiasSettings.none()) == 1.0)


def test_b1_multiplier_targets_black_and_mixed_young_people() -> None:
    codes = np.arange(len(ETHNICITIES))
    got = dict(zip(ETHNICITIES, stop_search_multiplier(codes, BiasSettings()), strict=True))
    assert got == {"White": 1.0, "Mixed": 2.0, "Asian": 1.0, "Black": 4.0, "Other": 1.0}
    assert np.all(stop_search_multiplier(codes, BiasSettings.none()) == 1.0)
