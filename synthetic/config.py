"""Settings of the synthetic population generator.

Two groups of knobs live here:

* :class:`BiasSettings` — every *recording* bias (B1–B5 of ``SYNTHETIC_DATA.md``)
  as one named multiplier. :meth:`BiasSettings.none` switches all of them off at
  once; the true world (latent factors, true events, true probabilities) does not
  depend on any of them, so two datasets from one seed differ only in what the
  agencies recorded.
* :class:`Scenario` — something that changes in the world from one month on (a
  recording policy, a data feed, the true risk), so that monitoring can be tested
  on a world whose answer is known. No scenario is the default world.
* :class:`GeneratorSettings` — population size, period, seed, the bias block and
  the scenario.

The published rates the generated data must match live in
:mod:`synthetic.targets`, not here: these are the *causes*, those are the
*observed effects*.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.vocabulary import ETHNICITIES, ETHNICITY_DETAIL_CODES, LOCAL_AUTHORITIES

#: Avon and Somerset local authorities with their approximate population aged 10–24
#: (Census 2021, see SYNTHETIC_DATA.md "Scale").
LOCAL_AUTHORITY_POPULATION: dict[str, int] = {
    "Bath and North East Somerset": 41_000,
    "Bristol": 100_000,
    "North Somerset": 34_000,
    "Somerset": 89_000,
    "South Gloucestershire": 49_000,
}
assert tuple(LOCAL_AUTHORITY_POPULATION) == LOCAL_AUTHORITIES
DEFAULT_PEOPLE: int = sum(LOCAL_AUTHORITY_POPULATION.values())  # 313,000

#: Share of each ONS 18-group ethnicity (the contract's codes) within its 5-group.
ETHNICITY_DETAIL_SHARES: dict[str, tuple[float, ...]] = {
    "White": (0.905, 0.01, 0.006, 0.079),
    "Mixed": (0.36, 0.12, 0.26, 0.26),
    "Asian": (0.30, 0.28, 0.12, 0.12, 0.18),
    "Black": (0.62, 0.22, 0.16),
    "Other": (0.30, 0.70),
}
ETHNICITY_DETAIL: dict[str, tuple[tuple[str, float], ...]] = {
    group: tuple(zip(ETHNICITY_DETAIL_CODES[group], ETHNICITY_DETAIL_SHARES[group], strict=True))
    for group in ETHNICITIES
}

#: Share of each 5-group ethnicity among young people, by local authority
#: (Bristol from Census 2021; the other areas are whiter).
ETHNICITY_MIX: dict[str, tuple[float, float, float, float, float]] = {
    "Bath and North East Somerset": (0.92, 0.03, 0.03, 0.01, 0.01),
    "Bristol": (0.77, 0.06, 0.075, 0.08, 0.015),
    "North Somerset": (0.94, 0.03, 0.015, 0.008, 0.007),
    "Somerset": (0.95, 0.025, 0.012, 0.006, 0.007),
    "South Gloucestershire": (0.90, 0.035, 0.04, 0.015, 0.01),
}

#: Distribution of residents over IMD deciles (1 = most deprived) by local authority
#: (IMD 2019): Bristol has ~15% in the most deprived decile; South Gloucestershire and
#: Bath and North East Somerset sit mostly in the least deprived two quintiles; North
#: Somerset (Weston-super-Mare) and Somerset have pockets of high deprivation.
IMD_MIX: dict[str, tuple[float, ...]] = {
    "Bath and North East Somerset": (0.01, 0.02, 0.04, 0.06, 0.08, 0.10, 0.13, 0.16, 0.19, 0.21),
    "Bristol": (0.15, 0.13, 0.11, 0.09, 0.08, 0.08, 0.08, 0.09, 0.10, 0.09),
    "North Somerset": (0.07, 0.05, 0.06, 0.07, 0.09, 0.11, 0.12, 0.13, 0.15, 0.15),
    "Somerset": (0.04, 0.06, 0.09, 0.12, 0.14, 0.15, 0.14, 0.11, 0.08, 0.07),
    "South Gloucestershire": (0.01, 0.02, 0.04, 0.06, 0.08, 0.11, 0.14, 0.17, 0.18, 0.19),
}


class BiasSettings(BaseModel):
    """Recording-bias multipliers (SYNTHETIC_DATA.md B1–B5).

    Each one changes only how likely a true event (or a police stop) is to be
    *recorded*; none changes what truly happened. ``BiasSettings.none()`` is the
    unbiased world: every true violent, criminal or missing event is recorded,
    police stops do not depend on ethnicity and exclusion decisions do not depend
    on ethnicity for the same behaviour.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    stop_search_black_ratio: float = Field(
        4.0,
        ge=1.0,
        description="B1: stop-and-search rate of Black vs White young people with the same "
        "behaviour (the observed ratio is a little higher: deprivation differs too)",
    )
    stop_search_mixed_ratio: float = Field(
        2.0, ge=1.0, description="B1: as above, Mixed vs White young people"
    )
    usual_suspects_per_contact: float = Field(
        0.25,
        ge=0.0,
        description="B2: relative rise in the chance a suspect is recorded per earlier police "
        "contact (capped at four contacts)",
    )
    social_care_visibility: float = Field(
        1.6,
        ge=1.0,
        description="B3: multiplier on the chance an event is recorded while the child is "
        "open to social care",
    )
    violence_reporting_rate: float = Field(
        0.40,
        gt=0.0,
        le=1.0,
        description="B4: share of violent incidents reported to and recorded by the police",
    )
    other_crime_recording_rate: float = Field(
        0.30, gt=0.0, le=1.0, description="B4: share of other offences recorded with a suspect"
    )
    suspect_identification_rate: float = Field(
        0.60, gt=0.0, le=1.0, description="B4: share of reported incidents with a named suspect"
    )
    missing_reporting_rate: float = Field(
        0.55, gt=0.0, le=1.0, description="B3/B4: share of missing episodes reported to police"
    )
    exclusion_black_caribbean_ratio: float = Field(
        1.7, ge=1.0, description="B5: permanent exclusion, Black Caribbean, same behaviour"
    )
    exclusion_mixed_wbc_ratio: float = Field(
        1.6, ge=1.0, description="B5: permanent exclusion, Mixed White/Black Caribbean"
    )
    exclusion_traveller_ratio: float = Field(
        3.0, ge=1.0, description="B5: suspension, Gypsy/Roma and Irish Traveller"
    )

    @classmethod
    def none(cls) -> Self:
        """The unbiased world: every multiplier at 1 and complete recording."""
        return cls(
            stop_search_black_ratio=1.0,
            stop_search_mixed_ratio=1.0,
            usual_suspects_per_contact=0.0,
            social_care_visibility=1.0,
            violence_reporting_rate=1.0,
            other_crime_recording_rate=1.0,
            suspect_identification_rate=1.0,
            missing_reporting_rate=1.0,
            exclusion_black_caribbean_ratio=1.0,
            exclusion_mixed_wbc_ratio=1.0,
            exclusion_traveller_ratio=1.0,
        )

    @property
    def is_unbiased(self) -> bool:
        """True when every setting equals the unbiased world's."""
        return self == type(self).none()


#: the scenarios a world can carry (see :class:`Scenario` and docs/synthetic.md "Scenarios")
ScenarioName = Literal["exclusions-halved", "feed-stops", "risk-rises"]
SCENARIO_NAMES: tuple[str, ...] = get_args(ScenarioName)
#: the raw tables whose feed can stop (``feed-stops``)
ScenarioSource = Literal["school_events", "agency_contacts", "incidents"]
SCENARIO_SOURCES: tuple[str, ...] = get_args(ScenarioSource)
DEFAULT_SCENARIO_START = dt.date(2025, 1, 1)
#: where ``feed-stops`` and ``risk-rises`` happen unless told otherwise
DEFAULT_SCENARIO_AREA = "Bristol"
DEFAULT_SCENARIO_SOURCE: ScenarioSource = "agency_contacts"
#: the scenarios that happen in one local authority (``exclusions-halved`` may cover all)
_ONE_AREA_SCENARIOS = ("feed-stops", "risk-rises")


class Scenario(BaseModel):
    """Something that changes in the synthetic world from one month on.

    Used to check that monitoring notices a change whose size and date are known:

    * ``exclusions-halved`` — from ``start``, schools record only half of their
      suspensions and permanent exclusions (in ``local_authority``, or everywhere
      when it is ``None``). Behaviour and true risk do not change.
    * ``feed-stops`` — from ``start``, the records of one raw table (``source``,
      default ``agency_contacts``) stop arriving for young people living in
      ``local_authority`` (default Bristol). What happened does not change.
    * ``risk-rises`` — from ``start``, the true monthly probability of being a
      victim of serious violence is 1.5 times as high in ``local_authority``
      (default Bristol); police records follow from the true events as before.

    ``start`` must fall inside the generated period, after its first month (checked
    by :class:`GeneratorSettings`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ScenarioName = Field(description="which change happens")
    start: dt.date = Field(
        DEFAULT_SCENARIO_START, description="first month of the change (first day of a month)"
    )
    local_authority: str | None = Field(
        None,
        description="the one local authority where the change happens (None: every area, "
        "exclusions-halved only; feed-stops and risk-rises default to Bristol)",
    )
    source: ScenarioSource | None = Field(
        None, description="feed-stops only: the raw table that stops arriving"
    )

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        filled = dict(data)
        name = filled.get("name")
        if name in _ONE_AREA_SCENARIOS and filled.get("local_authority") is None:
            filled["local_authority"] = DEFAULT_SCENARIO_AREA
        if name == "feed-stops" and filled.get("source") is None:
            filled["source"] = DEFAULT_SCENARIO_SOURCE
        return filled

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.start.day != 1:
            raise ValueError(
                f"scenario start {self.start.isoformat()} must be the first day of a month"
            )
        if self.local_authority is not None and self.local_authority not in LOCAL_AUTHORITIES:
            raise ValueError(
                f"scenario local_authority {self.local_authority!r} is not one of "
                + ", ".join(LOCAL_AUTHORITIES)
            )
        if self.source is not None and self.name != "feed-stops":
            raise ValueError(f"scenario source applies only to feed-stops, not {self.name}")
        return self


def parse_month(text: str) -> dt.date:
    """Parse ``YYYY-MM`` into the first day of that month.

    Raises
    ------
    ValueError
        With a one-line message when the text is not a ``YYYY-MM`` month.
    """
    try:
        parsed = dt.datetime.strptime(text.strip(), "%Y-%m")
    except ValueError:
        raise ValueError(f"{text!r} is not a month in the form YYYY-MM") from None
    return parsed.date()


#: programmes a historic panel could offer (features.vocabulary.PROGRAMMES holds the codes)
class PanelHistory(BaseModel):
    """The referral panels that met before this tool, and what their help did.

    From ``start``, each month, each local authority's panel ranks its young people by
    the hand rules (:data:`synthetic.panels.HAND_RULES`, the rules baseline's points) on
    their records of the last 12 months, discusses the top ``capacity`` (the list is kept
    to ``depth`` times that, as a reserve list), and offers help; a young person takes it
    up with probability ``take_up``. While help lasts (``effect_months``) it multiplies the
    young person's true monthly probability of serious violence, as victim and as
    perpetrator, by ``1 − intervention_effect``. ``intervention_effect = 0`` is a world
    where help does nothing; everything else about that world is the same.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: dt.date = Field(
        dt.date(2019, 1, 1),
        description="first month panels met (not before the world's 13th month)",
    )
    intervention_effect: float = Field(
        0.2, ge=0.0, lt=1.0, description="reduction of the serious-violence hazards while helped"
    )
    effect_months: int = Field(12, ge=1, le=60, description="months the help lasts")
    take_up: float = Field(
        0.6, gt=0.0, le=1.0, description="share of those discussed who take it up"
    )
    capacity_per_10000: float = Field(
        5.0,
        gt=0.0,
        description="young people each panel discusses a month per 10,000 aged 10–24 living there",
    )
    depth: int = Field(3, ge=2, le=10, description="the ranked list kept, in multiples of capacity")

    def first_month(self, settings: GeneratorSettings) -> int:
        """Index of the first month panels meet: ``start``, and never before a year of
        records exists (the hand rules read the last 12 months)."""
        return max(settings.month_index(self.start), 12)

    def capacity(self, residents: int) -> int:
        """A month's capacity for an authority with ``residents`` young people (at least 1)."""
        return max(1, round(self.capacity_per_10000 * residents / 10_000))


class GeneratorSettings(BaseModel):
    """Everything that determines a generated population.

    The same settings always produce byte-identical tables.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    people: int = Field(
        DEFAULT_PEOPLE,
        gt=0,
        description="size of the resident population aged 10–24 at any one month",
    )
    seed: int = Field(20241, ge=0)
    start: dt.date = Field(dt.date(2015, 1, 1), description="first month of history")
    end: dt.date = Field(dt.date(2025, 12, 1), description="last month of history (inclusive)")
    bias: BiasSettings = Field(default_factory=BiasSettings)
    migration_rate: float = Field(
        0.15, ge=0.0, lt=1.0, description="share of each birth cohort moving out (and in)"
    )
    scenario: Scenario | None = Field(
        None, description="a change from one month on, for monitoring tests (None: no change)"
    )
    panels: PanelHistory | None = Field(
        default_factory=PanelHistory,
        description="historic referral panels and their help (None: no panels ever met)",
    )

    @model_validator(mode="after")
    def _check_period(self) -> Self:
        if self.start.day != 1 or self.end.day != 1:
            raise ValueError("start and end must be first days of months")
        if self.end < self.start:
            raise ValueError(f"end {self.end:%Y-%m} is before start {self.start:%Y-%m}")
        if self.n_months < 24:
            raise ValueError("the period must cover at least 24 months")
        scenario = self.scenario
        if scenario is not None and not self.start < scenario.start <= self.end:
            raise ValueError(
                f"scenario start {scenario.start:%Y-%m} is outside the period: it must fall "
                f"after {self.start:%Y-%m} and no later than {self.end:%Y-%m}"
            )
        if self.panels is not None and self.panels.start.day != 1:
            raise ValueError("panels' start must be the first day of a month")
        return self

    @property
    def n_months(self) -> int:
        """Number of simulated months, both ends included."""
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1

    def month_index(self, month: dt.date) -> int:
        """Months from the first simulated month to ``month`` (0 for the first)."""
        return (month.year - self.start.year) * 12 + month.month - self.start.month
