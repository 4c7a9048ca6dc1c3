"""Who lives in the synthetic Avon and Somerset: static person attributes and latent risk.

Nothing here is a record: these are the people and their (unobservable) latent
factors. Ethnicity has no direct effect on any latent factor; it is linked to
risk only through deprivation (IMD decile) and neighbourhood, which is the
"modelled pathway" that SYNTHETIC_DATA.md requires.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.vocabulary import ETHNICITIES, LOCAL_AUTHORITIES
from synthetic.config import (
    ETHNICITY_DETAIL,
    ETHNICITY_MIX,
    IMD_MIX,
    LOCAL_AUTHORITY_POPULATION,
    GeneratorSettings,
)

#: months of age at which people enter and leave the 10–24 window
AGE_FROM_MONTHS = 10 * 12
AGE_UNTIL_MONTHS = 25 * 12
#: how strongly each ethnic group's residents are tilted towards deprived deciles
#: (residential segregation by deprivation, the only route from ethnicity to risk)
IMD_TILT = {"White": 0.0, "Mixed": 0.10, "Asian": 0.08, "Black": 0.16, "Other": 0.06}
#: correlation of the three latent factors (adversity, behaviour, exploitation)
LATENT_CORRELATION = np.array([[1.0, 0.45, 0.45], [0.45, 1.0, 0.50], [0.45, 0.50, 1.0]])
PEOPLE_PER_SCHOOL = 1_500
VICTIM_FRAILTY_SD = 1.0


@dataclass(frozen=True)
class Population:
    """Static per-person arrays; index ``i`` is the same person in every array.

    Months are integers counted from the first simulated month (0). ``first`` and
    ``last`` bound the months in which the person is resident *and* aged 10–24
    (``last`` excluded). ``moved_in``/``moved_out`` are ``-1`` when the person did
    not move during the period.
    """

    birth: np.ndarray
    first: np.ndarray
    last: np.ndarray
    moved_in: np.ndarray
    moved_out: np.ndarray
    male: np.ndarray
    local_authority: np.ndarray
    ethnicity: np.ndarray
    ethnicity_detail: np.ndarray
    imd_decile: np.ndarray
    deprivation: np.ndarray
    neighbourhood: np.ndarray
    neighbourhood_effect: np.ndarray
    school: np.ndarray
    school_effect: np.ndarray
    fsm: np.ndarray
    sen: np.ndarray
    adversity: np.ndarray
    behaviour: np.ndarray
    exploitation: np.ndarray
    ace_count: np.ndarray
    victim_frailty: np.ndarray

    @property
    def size(self) -> int:
        """Number of people ever generated (resident at some point or not)."""
        return int(self.birth.shape[0])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _residence(
    rng: np.random.Generator, n_base: int, n_months: int, migration_rate: float
) -> tuple[np.ndarray, ...]:
    """Birth months and moves such that about the same number are resident each month."""
    earliest_birth = -(AGE_UNTIL_MONTHS - 1)  # aged 24y11m in month 0
    latest_birth = n_months - 1 - AGE_FROM_MONTHS  # turns 10 in the last month
    n_in = round(n_base * migration_rate)
    n = n_base + n_in
    birth = rng.integers(earliest_birth, latest_birth + 1, size=n)
    window_lo = np.maximum(birth + AGE_FROM_MONTHS, 0)
    window_hi = np.minimum(birth + AGE_UNTIL_MONTHS, n_months)
    span = window_hi - window_lo
    moved_in = np.full(n, -1)
    moved_out = np.full(n, -1)
    move_draw = rng.random(n)
    position = rng.random(n)
    # out-movers among the base cohort: leave at a uniform month of their window
    out = (np.arange(n) < n_base) & (move_draw < migration_rate) & (span > 1)
    moved_out[out] = window_lo[out] + 1 + (position[out] * (span[out] - 1)).astype(int)
    # in-movers: arrive at a uniform month of their window
    inn = (np.arange(n) >= n_base) & (span > 1)
    moved_in[inn] = window_lo[inn] + 1 + (position[inn] * (span[inn] - 1)).astype(int)
    first = np.where(moved_in >= 0, moved_in, window_lo)
    last = np.where(moved_out >= 0, moved_out, window_hi)
    keep = last > first
    return (
        birth[keep].astype(np.int32),
        first[keep].astype(np.int32),
        last[keep].astype(np.int32),
        moved_in[keep].astype(np.int32),
        moved_out[keep].astype(np.int32),
    )


def generate_population(settings: GeneratorSettings, rng: np.random.Generator) -> Population:
    """Draw the people, their attributes and their latent factors.

    Parameters
    ----------
    settings
        Generator settings; ``settings.people`` is the resident population aged
        10–24 at any one month, so about ``people × (months + 180) / 180`` people
        are generated over the whole period.
    rng
        The *truth* random stream.
    """
    n_months = settings.n_months
    birth_months = n_months + AGE_UNTIL_MONTHS - AGE_FROM_MONTHS - 1
    n_base = round(settings.people * birth_months / (AGE_UNTIL_MONTHS - AGE_FROM_MONTHS))
    birth, first, last, moved_in, moved_out = _residence(
        rng, n_base, n_months, settings.migration_rate
    )
    n = birth.shape[0]

    la_weights = np.array([LOCAL_AUTHORITY_POPULATION[la] for la in LOCAL_AUTHORITIES], float)
    local_authority = np.asarray(
        rng.choice(len(LOCAL_AUTHORITIES), size=n, p=la_weights / la_weights.sum())
    )
    male = np.asarray(rng.random(n) < 0.51, dtype=bool)

    ethnicity = np.zeros(n, dtype=np.int8)
    imd = np.zeros(n, dtype=np.int8)
    for la_code, la in enumerate(LOCAL_AUTHORITIES):
        in_la = np.flatnonzero(local_authority == la_code)
        mix = np.asarray(ETHNICITY_MIX[la])
        eth = rng.choice(len(ETHNICITIES), size=in_la.size, p=mix / mix.sum())
        ethnicity[in_la] = eth
        for eth_code, eth_name in enumerate(ETHNICITIES):
            members = in_la[eth == eth_code]
            weights = np.asarray(IMD_MIX[la]) * np.exp(-IMD_TILT[eth_name] * np.arange(10))
            imd[members] = 1 + rng.choice(10, size=members.size, p=weights / weights.sum())

    detail = np.empty(n, dtype=object)
    for eth_code, eth_name in enumerate(ETHNICITIES):
        members = np.flatnonzero(ethnicity == eth_code)
        codes, shares = zip(*ETHNICITY_DETAIL[eth_name], strict=True)
        share_arr = np.asarray(shares)
        detail[members] = np.asarray(codes, dtype=object)[
            rng.choice(len(codes), size=members.size, p=share_arr / share_arr.sum())
        ]

    deprivation = (5.5 - imd) / 2.87
    # neighbourhoods: a handful per (local authority, decile); their effect leans on deprivation
    neighbourhood = local_authority * 1000 + imd.astype(np.int64) * 10 + rng.integers(0, 6, size=n)
    nb_ids, nb_index = np.unique(neighbourhood, return_inverse=True)
    nb_effect = (rng.normal(0.0, 0.25, size=nb_ids.size))[nb_index]
    # about one secondary school per 1,500 young people in each local authority
    n_schools = max(3, n // (len(LOCAL_AUTHORITIES) * PEOPLE_PER_SCHOOL))
    school = local_authority * 10_000 + rng.integers(0, n_schools, size=n)
    sc_ids, sc_index = np.unique(school, return_inverse=True)
    school_effect = rng.normal(0.0, 0.3, size=sc_ids.size)[sc_index]

    latent = rng.multivariate_normal(np.zeros(3), LATENT_CORRELATION, size=n)
    adversity = latent[:, 0] + 0.45 * deprivation + 0.8 * nb_effect
    behaviour = latent[:, 1] + 0.20 * deprivation + 0.25 * male + 0.5 * nb_effect
    exploitation = latent[:, 2] + 0.30 * deprivation + 0.20 * male + nb_effect

    # a person's own proneness to being targeted, beyond the three factors (a frailty term,
    # independent of every group): it is what makes most victims repeat victims
    victim_frailty = np.asarray(rng.normal(0.0, VICTIM_FRAILTY_SD, size=n), dtype=float)
    ace_count = rng.binomial(9, _sigmoid(-2.9 + 1.7 * adversity))
    fsm = rng.random(n) < _sigmoid(-1.75 + 0.9 * deprivation + 0.5 * adversity)
    u = rng.random(n)
    p_ehcp = _sigmoid(-3.6 + 0.6 * behaviour + 0.5 * male)
    p_support = _sigmoid(-2.05 + 0.3 * behaviour + 0.25 * adversity + 0.3 * male)
    sen = np.where(u < p_ehcp, 2, np.where(u < p_ehcp + p_support, 1, 0)).astype(np.int8)

    return Population(
        birth=birth,
        first=first,
        last=last,
        moved_in=moved_in,
        moved_out=moved_out,
        male=male,
        local_authority=local_authority.astype(np.int8),
        ethnicity=ethnicity,
        ethnicity_detail=detail,
        imd_decile=imd,
        deprivation=deprivation,
        neighbourhood=neighbourhood.astype(np.int32),
        neighbourhood_effect=nb_effect,
        school=school.astype(np.int32),
        school_effect=school_effect,
        fsm=fsm,
        sen=sen,
        adversity=adversity,
        behaviour=behaviour,
        exploitation=exploitation,
        ace_count=ace_count.astype(np.int8),
        victim_frailty=victim_frailty,
    )
