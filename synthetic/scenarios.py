"""What each :class:`~synthetic.config.Scenario` changes, and what it leaves alone.

A scenario acts at exactly one place, so that everything else in the world stays
as it is without it:

* ``risk-rises`` changes the **true** world: :func:`victimisation_rise` gives the
  simulation a multiplier on the monthly probability of serious-violence
  victimisation. More true victimisation then flows into the records (and into
  later risk) through the generator's usual paths.
* ``exclusions-halved`` and ``feed-stops`` change only the **records**:
  :func:`withhold_records` removes rows from the finished raw tables. The true
  world, the other raw tables and the rows outside the scenario stay
  byte-identical to the world without a scenario from the same seed. In
  particular the true risk of serious violence never reads a recorded exclusion
  (the simulation keeps recorded events out of the true world), and the schools'
  own decisions — including "prior suspensions" in the decision to exclude — are
  taken on every suspension, recorded or not.

Thinning uses its own random stream (the fifth child of the seed; the generator's
four streams are the first four), so no other draw moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.vocabulary import LOCAL_AUTHORITIES
from synthetic.config import GeneratorSettings, Scenario

#: share of suspensions and permanent exclusions still recorded under ``exclusions-halved``
EXCLUSIONS_RECORDED_SHARE = 0.5
#: multiplier on the true monthly probability of SV victimisation under ``risk-rises``
VICTIMISATION_RISE = 1.5
#: plain names of the records of each raw table that a feed can carry
SOURCE_WORDS: dict[str, str] = {
    "school_events": "school suspension and exclusion",
    "agency_contacts": "agency contact",
    "incidents": "police incident",
}
#: index of the scenario stream among the seed's children (0–3 belong to the generator)
_SCENARIO_STREAM = 4


def scenario_stream(seed: int) -> np.random.Generator:
    """The scenario's own random stream, independent of the generator's four."""
    child = np.random.SeedSequence(seed).spawn(_SCENARIO_STREAM + 1)[_SCENARIO_STREAM]
    return np.random.default_rng(child)


def describe(scenario: Scenario) -> str:
    """One plain sentence on what changes, from when and where (for people and manifests)."""
    when = f"From {scenario.start:%B %Y}"
    area = scenario.local_authority
    where = f"young people living in {area}" if area is not None else "young people in every area"
    who = f"a young person living in {area}" if area is not None else "a young person"
    if scenario.name == "exclusions-halved":
        return (
            f"{when}, schools record only about half of the suspensions and permanent "
            f"exclusions of {where}. What young people do, and their true risk of serious "
            "violence, do not change."
        )
    if scenario.name == "feed-stops":
        return (
            f"{when}, no {SOURCE_WORDS[str(scenario.source)]} records arrive for {where}. "
            "What happened to them does not change; only the records are missing."
        )
    return (
        f"{when}, the true chance each month that {who} is harmed by serious violence is "
        f"{VICTIMISATION_RISE:g} times what it would otherwise be. Police records follow from "
        "what happens, as before."
    )


@dataclass(frozen=True)
class VictimisationRise:
    """``risk-rises`` as the simulation uses it."""

    #: first simulated month (index from the first month of history) of the rise
    from_month: int
    #: per person (population index): lives in the scenario's local authority
    in_area: np.ndarray
    factor: float = VICTIMISATION_RISE

    def multiplier(self, t: int, residents: np.ndarray) -> np.ndarray | None:
        """Multiplier on month ``t``'s victimisation probability of ``residents``.

        ``None`` before the rise, so that those months are computed exactly as
        without a scenario.
        """
        if t < self.from_month:
            return None
        return np.where(self.in_area[residents], self.factor, 1.0)


def victimisation_rise(
    settings: GeneratorSettings, local_authority: np.ndarray
) -> VictimisationRise | None:
    """The rise in true victimisation, or ``None`` when the scenario is not ``risk-rises``.

    Parameters
    ----------
    settings
        Generator settings with their scenario.
    local_authority
        Each person's local authority (index into ``LOCAL_AUTHORITIES``). People
        move only into and out of the whole area, never between authorities, so
        this is also where they live at every event.
    """
    scenario = settings.scenario
    if scenario is None or scenario.name != "risk-rises":
        return None
    assert scenario.local_authority is not None  # filled in by Scenario
    code = LOCAL_AUTHORITIES.index(scenario.local_authority)
    return VictimisationRise(
        from_month=settings.month_index(scenario.start),
        in_area=np.asarray(local_authority == code, dtype=bool),
    )


def _lives_in(table: pa.Table, people: pa.Table, local_authority: str | None) -> pa.Array:
    """Per row of ``table``: the young person lives in ``local_authority`` (all when None)."""
    if local_authority is None:
        return pa.array(np.ones(table.num_rows, dtype=bool))
    residents = people.filter(pc.equal(people["local_authority"], local_authority))
    return pc.is_in(table["person_id"], value_set=residents["person_id"].combine_chunks())


def withhold_records(
    raw: dict[str, pa.Table], settings: GeneratorSettings
) -> tuple[dict[str, pa.Table], dict[str, int]]:
    """Remove the records that ``exclusions-halved`` or ``feed-stops`` keep from agencies.

    * ``exclusions-halved``: each school event with ``event_date`` on or after the
      start (of a young person in the scenario's area) is kept with probability
      :data:`EXCLUSIONS_RECORDED_SHARE`, drawn from :func:`scenario_stream`.
    * ``feed-stops``: every row of the source table with ``recorded_date`` on or
      after the start (so also every event on or after it) of a young person living
      in the scenario's area is removed: a stopped feed delivers nothing more, not
      even late records of earlier events.

    Parameters
    ----------
    raw
        The four raw tables of a generated world (not changed).
    settings
        Generator settings with their scenario.

    Returns
    -------
    tuple
        The raw tables after the scenario, and the number of rows withheld per table
        (empty when the scenario does not act on records).
    """
    scenario = settings.scenario
    if scenario is None or scenario.name == "risk-rises":
        return raw, {}
    start = pa.scalar(scenario.start, type=pa.date32())
    if scenario.name == "exclusions-halved":
        name = "school_events"
        table = raw[name]
        affected = pc.and_(
            pc.greater_equal(table["event_date"], start),
            _lives_in(table, raw["people"], scenario.local_authority),
        )
        draw = scenario_stream(settings.seed).random(table.num_rows)
        withheld = pc.and_(affected, pa.array(draw >= EXCLUSIONS_RECORDED_SHARE))
    else:
        assert scenario.source is not None  # filled in by Scenario
        name = scenario.source
        table = raw[name]
        withheld = pc.and_(
            pc.greater_equal(table["recorded_date"], start),
            _lives_in(table, raw["people"], scenario.local_authority),
        )
    kept = table.filter(pc.invert(withheld))
    return {**raw, name: kept}, {name: table.num_rows - kept.num_rows}


def scenario_manifest(scenario: Scenario, withheld: dict[str, int]) -> dict[str, object]:
    """The scenario block of ``manifest.json``: what changed, from when, where, and how much."""
    return {
        "name": scenario.name,
        "start": scenario.start.isoformat(),
        "local_authority": scenario.local_authority,
        "source": scenario.source,
        "what_changes": describe(scenario),
        "records_withheld": dict(withheld),
        **(
            {"victimisation_multiplier": VICTIMISATION_RISE}
            if scenario.name == "risk-rises"
            else {}
        ),
        **(
            {"recorded_share": EXCLUSIONS_RECORDED_SHARE}
            if scenario.name == "exclusions-halved"
            else {}
        ),
    }
