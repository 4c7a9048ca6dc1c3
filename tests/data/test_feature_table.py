"""The feature table built from a generated population.

- the Ibis/DuckDB builders equal the pandas reference for every feature;
- records recorded on or after as_of change nothing (end to end, real feature set);
- the table honours its contract and one row per spine row;
- labels agree with the raw incidents.
"""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pytest

from features import contacts, incidents, school
from features._engine import memtable, pandas_features
from features.build import build_feature_table, feature_columns, to_frame
from features.schemas import data_end, feature_table_schema, validate_raw
from features.spine import build_spine
from synthetic.generate import SyntheticDataset

AS_OF = [dt.date(2022, 7, 1), dt.date(2023, 1, 1), dt.date(2024, 1, 1)]
SOURCES = {
    "school_events": (school.FEATURES, school.build_school_features),
    "agency_contacts": (contacts.FEATURES, contacts.build_contact_features),
    "incidents": (incidents.FEATURES, incidents.build_incident_features),
}


@pytest.fixture(scope="module")
def raw(small_dataset: SyntheticDataset) -> dict[str, pd.DataFrame]:
    return validate_raw(
        {k: v.to_pandas(date_as_object=False) for k, v in small_dataset.raw.items()}
    )


@pytest.fixture(scope="module")
def table(raw: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return to_frame(build_feature_table(raw, AS_OF, data_end(raw)))


@pytest.mark.parametrize("source", list(SOURCES))
def test_ibis_builders_equal_the_pandas_reference(
    raw: dict[str, pd.DataFrame], source: str
) -> None:
    features, builder = SOURCES[source]
    spine = build_spine(raw["people"], AS_OF)
    con = ibis.duckdb.connect()
    try:
        events = con.create_table("events", memtable(raw[source]))
        spine_t = con.create_table("spine", memtable(spine.rows))
        got = builder(events, spine_t, spine).to_pyarrow().to_pandas()
    finally:
        con.disconnect()
    ref = pandas_features(raw[source], spine.rows, [f.spec for f in features], spine.as_of_dates)
    key = ["snapshot", "person_id"]
    got = got.drop(columns="row").sort_values(key, ignore_index=True)
    ref = ref.sort_values(key, ignore_index=True)
    assert len(got) == len(ref) == len(spine.rows)
    for f in features:
        a = pd.to_numeric(got[f.info.name]).astype("Float64")
        b = pd.to_numeric(ref[f.info.name]).astype("Float64")
        same = (a == b) | (a.isna() & b.isna())
        assert same.fillna(False).all(), f"{f.info.name}: {(~same).sum()} rows differ"
        if f.info.name.endswith("_count"):  # a count that is always 0 tests nothing
            assert a.sum() > 0, f"{f.info.name} is zero for everyone"


def test_table_has_one_row_per_spine_row_and_honours_its_contract(
    raw: dict[str, pd.DataFrame], table: pd.DataFrame
) -> None:
    spine = build_spine(raw["people"], AS_OF)
    assert len(table) == len(spine.rows)
    assert not table.duplicated(["person_id", "as_of"]).any()
    feature_table_schema().validate(table)


def test_records_arriving_after_as_of_change_no_feature(
    raw: dict[str, pd.DataFrame], table: pd.DataFrame
) -> None:
    """Copy real events, stamp them recorded on or after the last as_of, rebuild."""
    last = pd.Timestamp(AS_OF[-1])
    rng = np.random.default_rng(0)
    late = {}
    for name in ("school_events", "agency_contacts", "incidents"):
        sample = raw[name].sample(n=min(400, len(raw[name])), random_state=1).copy()
        lag = pd.to_timedelta(rng.integers(0, 200, len(sample)), unit="D")
        sample["recorded_date"] = (last + lag).astype("datetime64[ns]")
        # their event dates may be long before as_of: only the recording is late
        sample["event_date"] = np.minimum(sample["event_date"], sample["recorded_date"])
        if name == "incidents":
            sample["incident_id"] = "LATE-" + sample["incident_id"]
        else:
            sample["event_date"] = sample["event_date"] - pd.Timedelta(days=1)
        late[name] = pd.concat([raw[name], sample], ignore_index=True).drop_duplicates(
            subset=None, keep="first"
        )
    rebuilt = to_frame(build_feature_table({**raw, **late}, AS_OF, data_end(raw)))
    columns = feature_columns()
    pd.testing.assert_frame_equal(table[columns], rebuilt[columns])


def test_labels_agree_with_the_raw_incidents(
    raw: dict[str, pd.DataFrame], table: pd.DataFrame
) -> None:
    inc = raw["incidents"]
    for as_of in AS_OF[:2]:
        start = pd.Timestamp(as_of)
        stop = start + pd.DateOffset(months=12)
        sv = inc[
            inc["serious_violence"] & (inc["event_date"] >= start) & (inc["event_date"] < stop)
        ]
        rows = table[table["as_of"] == start].set_index("person_id")
        victims = set(sv.loc[sv["role"] == "victim", "person_id"]) & set(rows.index)
        assert set(rows.index[rows["sv_victim_12m"] == 1]) == victims
        suspects = set(sv.loc[sv["role"] == "suspect", "person_id"]) & set(rows.index)
        assert set(rows.index[rows["sv_perpetrator_12m"] == 1]) == suspects


def test_labels_are_rare_but_present(table: pd.DataFrame) -> None:
    labelled = table.dropna(subset=["sv_victim_12m"])
    assert 0.002 < labelled["sv_victim_12m"].mean() < 0.05
    assert labelled["sv_perpetrator_12m"].mean() < 0.02
