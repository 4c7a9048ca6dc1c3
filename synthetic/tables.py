"""Turn simulated arrays into the raw tables of DESIGN.md and the truth tables.

Raw tables carry only what an agency would hold: pseudonymous ids, month of
birth, coded attributes, and events with the date they happened and the date the
agency recorded them. Records whose recorded date falls after the extract date
(the last day of the last simulated month) do not exist yet and are dropped.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from features.vocabulary import (
    AGENCIES,
    CONTACT_TYPES,
    ETHNICITIES,
    LOCAL_AUTHORITIES,
    OFFENCE_GROUPS,
    PROGRAMMES,
    ROLES,
    SCHOOL_EVENT_TYPES,
    SCHOOL_REASONS,
    SEN_STATUSES,
    SERIOUS_OFFENCES,
    SEXES,
)
from synthetic.config import GeneratorSettings
from synthetic.population import Population
from synthetic.simulate import TRUE_EVENT_KINDS, SimulationResult

#: median and spread (log-normal sigma) of the recording lag in days, per agency
RECORDING_LAG_DAYS: dict[str, tuple[float, float]] = {
    "school": (3.0, 0.8),
    "social_care": (5.0, 1.0),
    "police": (2.0, 1.5),
    "health": (1.0, 0.5),
    "camhs": (10.0, 0.8),
    "youth_justice": (7.0, 0.7),
    "housing": (5.0, 1.0),
}
WITNESS_SHARE = 0.10


def _month_start(settings: GeneratorSettings, month: np.ndarray) -> np.ndarray:
    base = np.datetime64(settings.start, "M")
    return (base + month.astype("timedelta64[M]")).astype("datetime64[D]")


def _event_date(settings: GeneratorSettings, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    return _month_start(settings, month) + (day.astype(np.int64) - 1).astype("timedelta64[D]")


#: rows per Arrow chunk of a long person_id column (string offsets are 32-bit)
ID_CHUNK = 20_000_000


def _ids_of(ids: np.ndarray, index: np.ndarray) -> pa.ChunkedArray:
    """Each row's ``person_id`` as Arrow strings, taken from the ids by index: no Python
    string per row, which on the person-month table of a large population would need more
    memory than the table itself."""
    every = pa.array(ids, type=pa.string())
    parts = [
        every.take(pa.array(index[begin : begin + ID_CHUNK]))
        for begin in range(0, len(index), ID_CHUNK)
    ]
    return pa.chunked_array(parts, type=pa.string())


def _months_of(settings: GeneratorSettings, month: np.ndarray) -> pa.Array:
    """Each row's first day of its month (``date32``), by taking from the period's months."""
    months = pa.array(_month_start(settings, np.arange(int(month.max(initial=0)) + 1)))
    return months.take(pa.array(month.astype(np.int32)))


def extract_date(settings: GeneratorSettings) -> dt.date:
    """The day the synthetic extract was taken: last day of the last month."""
    nxt = np.datetime64(settings.end, "M") + np.timedelta64(1, "M")
    return (nxt.astype("datetime64[D]") - np.timedelta64(1, "D")).astype(dt.date)


def _lags(rng: np.random.Generator, agency: str, n: int) -> np.ndarray:
    median, sigma = RECORDING_LAG_DAYS[agency]
    return np.floor(rng.lognormal(np.log(median), sigma, n)).astype("timedelta64[D]")


def _codes(values: tuple[str, ...], index: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values, dtype=object)[index], type=pa.string())


def person_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Pseudonymous, order-free person ids (``YP`` + 7 digits)."""
    return np.char.mod("YP%07d", rng.permutation(n) + 1).astype(object)


def people_table(pop: Population, ids: np.ndarray, settings: GeneratorSettings) -> pa.Table:
    """The ``people`` raw table (one row per person ever resident aged 10–24)."""
    birth = _month_start(settings, pop.birth)
    moved_in = np.where(
        pop.moved_in >= 0,
        _month_start(settings, np.maximum(pop.moved_in, 0)),
        np.datetime64("NaT", "D"),
    )
    moved_out = np.where(
        pop.moved_out >= 0,
        _month_start(settings, np.maximum(pop.moved_out, 0)),
        np.datetime64("NaT", "D"),
    )
    return pa.table(
        {
            "person_id": pa.array(ids, type=pa.string()),
            "birth_month": pa.array(birth, type=pa.date32()),
            "sex": _codes(SEXES, pop.male.astype(int)),
            "ethnicity": _codes(ETHNICITIES, pop.ethnicity),
            "ethnicity_detail": pa.array(pop.ethnicity_detail, type=pa.string()),
            "local_authority": _codes(LOCAL_AUTHORITIES, pop.local_authority),
            "imd_decile": pa.array(pop.imd_decile, type=pa.int8()),
            "sen_status": _codes(SEN_STATUSES, pop.sen),
            "fsm": pa.array(pop.fsm, type=pa.bool_()),
            "moved_in": pa.array(moved_in, type=pa.date32(), mask=pop.moved_in < 0),
            "moved_out": pa.array(moved_out, type=pa.date32(), mask=pop.moved_out < 0),
        }
    )


def _recorded(
    settings: GeneratorSettings,
    rng: np.random.Generator,
    frame: dict[str, np.ndarray],
    agency_of_row: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Event date, recorded date and a mask of rows already recorded at extract time."""
    event = _event_date(settings, frame["month"], frame["day"])
    lag = np.zeros(event.shape[0], dtype="timedelta64[D]")
    for agency in np.unique(agency_of_row):
        rows = agency_of_row == agency
        lag[rows] = _lags(rng, str(agency), int(rows.sum()))
    recorded = event + lag
    visible = recorded <= np.datetime64(extract_date(settings))
    return event, recorded, visible


def _unique(table: pa.Table, keys: list[str]) -> pa.Table:
    """Keep the first row of each key (in table order)."""
    index = pa.array(np.arange(table.num_rows))
    first = (
        table.select(keys)
        .append_column("_row", index)
        .group_by(keys, use_threads=False)
        .aggregate([("_row", "min")])
    )
    rows = np.sort(first.column("_row_min").to_numpy())
    return table.take(pa.array(rows))


def raw_tables(
    pop: Population,
    ids: np.ndarray,
    sim: SimulationResult,
    settings: GeneratorSettings,
    rng: np.random.Generator,
) -> dict[str, pa.Table]:
    """Build the four raw tables from one simulation.

    ``rng`` is the record stream's own generator for lags, ids and witnesses.
    """
    # school events
    s = sim.school
    event, recorded, ok = _recorded(settings, rng, s, np.full(s["month"].size, "school"))
    school = pa.table(
        {
            "person_id": pa.array(ids[s["person"][ok]], type=pa.string()),
            "event_date": pa.array(event[ok], type=pa.date32()),
            "recorded_date": pa.array(recorded[ok], type=pa.date32()),
            "event_type": _codes(SCHOOL_EVENT_TYPES, s["event_type"][ok]),
            "reason": _codes(SCHOOL_REASONS, s["reason"][ok]),
            "days": pa.array(s["days"][ok], type=pa.int16(), mask=s["days"][ok] < 0),
        }
    )

    c = sim.contacts
    agency_names = np.asarray(AGENCIES, dtype=object)[c["agency"]]
    event, recorded, ok = _recorded(settings, rng, c, agency_names)
    contacts = pa.table(
        {
            "person_id": pa.array(ids[c["person"][ok]], type=pa.string()),
            "event_date": pa.array(event[ok], type=pa.date32()),
            "recorded_date": pa.array(recorded[ok], type=pa.date32()),
            "agency": _codes(AGENCIES, c["agency"][ok]),
            "contact_type": _codes(CONTACT_TYPES, c["contact_type"][ok]),
        }
    )

    i = sim.incidents
    event, recorded, ok = _recorded(settings, rng, i, np.full(i["month"].size, "police"))
    person = i["person"][ok]
    role = i["role"][ok]
    offence = i["offence"][ok]
    weapon = i["weapon"][ok]
    event, recorded = event[ok], recorded[ok]
    incident_no = np.arange(person.size)
    # a share of violent incidents also name a resident witness (same incident id)
    violent = offence <= OFFENCE_GROUPS.index("violence_without_injury")
    pick = np.flatnonzero(violent & (rng.random(person.size) < WITNESS_SHARE))
    month = i["month"][ok][pick]
    witness = np.full(pick.size, -1, dtype=np.int64)
    for _ in range(20):
        todo = np.flatnonzero(witness < 0)
        if todo.size == 0:
            break
        cand = rng.integers(0, pop.size, todo.size)
        good = (pop.first[cand] <= month[todo]) & (month[todo] < pop.last[cand])
        good &= cand != person[pick[todo]]
        witness[todo[good]] = cand[good]
    found = witness >= 0
    pick, witness = pick[found], witness[found]
    person = np.concatenate([person, witness.astype(np.int32)])
    role = np.concatenate([role, np.full(pick.size, ROLES.index("witness"), np.int8)])
    offence = np.concatenate([offence, offence[pick]])
    weapon = np.concatenate([weapon, weapon[pick]])
    event = np.concatenate([event, event[pick]])
    recorded = np.concatenate([recorded, recorded[pick]])
    incident_no = np.concatenate([incident_no, incident_no[pick]])
    # number incidents in order of occurrence so ids carry no information about people
    order = np.lexsort((incident_no, event))
    _, first_seen = np.unique(incident_no[order], return_index=True)
    rank = np.empty(first_seen.size, np.int64)
    rank[np.argsort(first_seen)] = np.arange(first_seen.size)
    incident_ids = np.char.mod("INC%08d", rank[incident_no] + 1).astype(object)
    serious = np.isin(np.asarray(OFFENCE_GROUPS, dtype=object)[offence], list(SERIOUS_OFFENCES))
    incidents = pa.table(
        {
            "incident_id": pa.array(incident_ids, type=pa.string()),
            "person_id": pa.array(ids[person], type=pa.string()),
            "event_date": pa.array(event, type=pa.date32()),
            "recorded_date": pa.array(recorded, type=pa.date32()),
            "role": _codes(ROLES, role),
            "offence_group": _codes(OFFENCE_GROUPS, offence),
            "serious_violence": pa.array(serious, type=pa.bool_()),
            "weapon": pa.array(weapon, type=pa.bool_()),
        }
    )
    # one record per key: two events of one kind on one day are one record to an agency
    school = _unique(school, ["person_id", "event_date", "event_type"])
    contacts = _unique(contacts, ["person_id", "event_date", "agency", "contact_type"])
    return {
        "people": people_table(pop, ids, settings).sort_by("person_id"),
        "school_events": school.sort_by([("event_date", "ascending"), ("person_id", "ascending")]),
        "agency_contacts": contacts.sort_by(
            [("event_date", "ascending"), ("person_id", "ascending")]
        ),
        "incidents": incidents.sort_by(
            [("event_date", "ascending"), ("incident_id", "ascending"), ("role", "ascending")],
        ),
    }


def truth_tables(
    pop: Population, ids: np.ndarray, sim: SimulationResult, settings: GeneratorSettings
) -> dict[str, pa.Table]:
    """Latent factors, true events and true monthly probabilities (evaluation only)."""
    latent = pa.table(
        {
            "person_id": pa.array(ids, type=pa.string()),
            "adversity": pa.array(pop.adversity, type=pa.float32()),
            "behaviour": pa.array(pop.behaviour, type=pa.float32()),
            "exploitation": pa.array(pop.exploitation, type=pa.float32()),
            "ace_count": pa.array(pop.ace_count, type=pa.int8()),
            "victim_frailty": pa.array(pop.victim_frailty, type=pa.float32()),
            "neighbourhood": pa.array(pop.neighbourhood, type=pa.int32()),
            "neighbourhood_effect": pa.array(pop.neighbourhood_effect, type=pa.float32()),
            "school": pa.array(pop.school, type=pa.int32()),
            "school_effect": pa.array(pop.school_effect, type=pa.float32()),
        }
    ).sort_by("person_id")
    e = sim.true_events
    offence = e["offence"]
    events = pa.table(
        {
            "person_id": _ids_of(ids, e["person"]),
            "event_date": pa.array(_event_date(settings, e["month"], e["day"]), type=pa.date32()),
            "kind": _codes(TRUE_EVENT_KINDS, e["kind"]),
            "offence_group": pa.array(
                np.asarray(OFFENCE_GROUPS, dtype=object)[np.maximum(offence, 0)],
                type=pa.string(),
                mask=offence < 0,
            ),
            "weapon": pa.array(e["weapon"], type=pa.bool_()),
        }
    )
    pm = sim.person_month
    person_months = pa.table(
        {
            "person_id": _ids_of(ids, pm["person"]),
            "month": _months_of(settings, pm["month"]).cast(pa.date32()),
            "p_sv_victim": pa.array(pm["p_sv_victim"], type=pa.float32()),
            "p_sv_perpetrator": pa.array(pm["p_sv_perpetrator"], type=pa.float32()),
            "child_in_need": pa.array(pm["cin"], type=pa.bool_()),
            "child_protection_plan": pa.array(pm["cpp"], type=pa.bool_()),
            "looked_after": pa.array(pm["lac"], type=pa.bool_()),
            "gang_involved": pa.array(pm["gang"], type=pa.bool_()),
        }
    )
    return {"latent": latent, "events": events, "person_months": person_months}


#: median and spread (log-normal sigma) of the lag, in days, before a programme's start is
#: recorded
PROGRAMME_LAG_DAYS: tuple[float, float] = (7.0, 0.8)


def panel_tables(
    ids: np.ndarray,
    sim: SimulationResult,
    settings: GeneratorSettings,
    rng: np.random.Generator,
) -> tuple[dict[str, pa.Table], pa.Table]:
    """The historic panels' raw tables (``panel_lists``, ``interventions``) and the truth
    of the help given (``truth/interventions``).

    ``rng`` is the panels' own stream (recording lags), so no other table changes.
    """
    assert settings.panels is not None
    lists, helped = sim.panel_lists, sim.helped
    list_month = _month_start(settings, lists["month"])
    panel_lists = pa.table(
        {
            "list_month": pa.array(list_month, type=pa.date32()),
            "local_authority": _codes(LOCAL_AUTHORITIES, lists["la"]),
            "list": pa.array(np.full(list_month.size, "hand_rules", dtype=object), pa.string()),
            "person_id": pa.array(ids[lists["person"]], type=pa.string()),
            "rank": pa.array(lists["rank"], type=pa.int32()),
            "capacity": pa.array(lists["capacity"], type=pa.int32()),
        }
    ).sort_by(
        [("list_month", "ascending"), ("local_authority", "ascending"), ("rank", "ascending")]
    )
    months = settings.panels.effect_months
    start = _event_date(settings, helped["month"], helped["day"])
    end = _event_date(settings, helped["month"].astype(np.int64) + months, helped["day"])
    median, sigma = PROGRAMME_LAG_DAYS
    recorded = start + np.floor(rng.lognormal(np.log(median), sigma, start.size)).astype(
        "timedelta64[D]"
    )
    known = recorded <= np.datetime64(extract_date(settings))
    month_of = _month_start(settings, helped["month"])
    interventions = pa.table(
        {
            "person_id": pa.array(ids[helped["person"]][known], type=pa.string()),
            "programme": _codes(tuple(PROGRAMMES), helped["programme"][known]),
            "list": pa.array(np.full(int(known.sum()), "hand_rules", dtype=object), pa.string()),
            "list_month": pa.array(month_of[known], type=pa.date32()),
            "rank": pa.array(helped["rank"][known], type=pa.int32()),
            "start_date": pa.array(start[known], type=pa.date32()),
            "end_date": pa.array(end[known], type=pa.date32()),
            "recorded_date": pa.array(recorded[known], type=pa.date32()),
        }
    ).sort_by([("list_month", "ascending"), ("person_id", "ascending")])
    truth = pa.table(
        {
            "person_id": pa.array(ids[helped["person"]], type=pa.string()),
            "list_month": pa.array(month_of, type=pa.date32()),
            "helped_from": pa.array(month_of, type=pa.date32()),
            "helped_until": pa.array(
                _month_start(settings, helped["month"].astype(np.int64) + months), type=pa.date32()
            ),
            "hazard_multiplier": pa.array(
                np.full(start.size, 1.0 - settings.panels.intervention_effect), type=pa.float64()
            ),
        }
    ).sort_by([("list_month", "ascending"), ("person_id", "ascending")])
    return {"panel_lists": panel_lists, "interventions": interventions}, truth
