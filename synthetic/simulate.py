"""Month-by-month simulation of the true world and of what each agency records.

Two random streams keep truth and records apart:

* the **truth** stream draws social-care episodes, missing episodes, gang
  involvement, behaviour incidents at school, violence (victimisation and
  perpetration), other offending and service contacts. Nothing drawn from it
  depends on a recording setting, so the true world is identical with and
  without bias for one seed;
* the **record** stream decides which true events an agency records (and
  draws police stops, exclusion decisions and youth-justice orders, which are
  agency actions rather than events in a young person's life). Recording bias
  (B1–B5) acts only here.

Causal ordering (SYNTHETIC_DATA.md "Structure"): adversity → social care;
behaviour → school incidents; missing episodes → gang involvement and
exploitation → police contact and serious violence; victimisation raises later
perpetration and the reverse; every repeat process feeds on its own recent
history, which is what concentrates violence in few people. Recorded events
never feed back into the true world.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from features.vocabulary import AGENCIES, CONTACT_TYPES, ETHNICITIES, OFFENCE_GROUPS
from synthetic.config import BiasSettings, GeneratorSettings
from synthetic.population import Population

TRUE_EVENT_KINDS = (
    "cin_start",
    "cin_end",
    "cpp_start",
    "cpp_end",
    "lac_start",
    "lac_end",
    "social_care_referral",
    "missing_episode",
    "gang_entry",
    "gang_exit",
    "school_incident",
    "sv_perpetration",
    "sv_victimisation",
    "violence_perpetration",
    "violence_victimisation",
    "other_offence",
    "ae_attendance",
    "camhs_referral",
    "homelessness",
)

_C = {name: i for i, name in enumerate(CONTACT_TYPES)}
_A = {name: i for i, name in enumerate(AGENCIES)}
_K = {name: i for i, name in enumerate(TRUE_EVENT_KINDS)}
_O = {name: i for i, name in enumerate(OFFENCE_GROUPS)}


def _curve(values: dict[int, float]) -> np.ndarray:
    """Age curve over ages 10..24 (index = age − 10), missing ages 0."""
    out = np.zeros(15)
    for age, v in values.items():
        out[age - 10] = v
    return out


@dataclass(frozen=True)
class Dynamics:
    """Coefficients of the true world (log-hazard per month unless stated).

    These are tuned so that the *recorded* data match the published targets in
    :mod:`synthetic.targets` under the default bias settings; the calibration
    test checks them.
    """

    # social care (ages 10-17)
    cin_base: float = -5.85
    cin_adversity: float = 0.7
    cin_end: float = 1 / 11
    cpp_base: float = -4.05
    cpp_adversity: float = 0.55
    cpp_end: float = 1 / 9
    lac_base: float = -5.2
    lac_adversity: float = 0.6
    lac_behaviour: float = 0.2
    lac_male: float = 0.2
    lac_missing: float = 0.8
    lac_end: float = 1 / 40
    referral_nfa_base: float = -6.0
    referral_adversity: float = 0.8
    # missing episodes
    missing_base: float = -8.45
    missing_exploitation: float = 0.9
    missing_adversity: float = 0.45
    missing_lac: float = 1.9
    missing_repeat: float = 1.2
    missing_age: np.ndarray = field(
        default_factory=lambda: _curve(
            {
                10: 0.3,
                11: 0.5,
                12: 0.8,
                13: 1.0,
                14: 1.2,
                15: 1.3,
                16: 1.2,
                17: 0.9,
                18: 0.3,
                19: 0.2,
                20: 0.15,
                21: 0.1,
                22: 0.1,
                23: 0.1,
                24: 0.1,
            }
        )
    )
    # gang involvement
    gang_base: float = -7.9
    gang_exploitation: float = 1.25
    gang_behaviour: float = 0.5
    gang_missing: float = 1.0
    gang_lac: float = 0.5
    gang_exit: float = 1 / 30
    gang_age: np.ndarray = field(
        default_factory=lambda: _curve(
            {
                12: 0.3,
                13: 0.6,
                14: 0.9,
                15: 1.0,
                16: 1.0,
                17: 0.9,
                18: 0.7,
                19: 0.5,
                20: 0.3,
                21: 0.2,
            }
        )
    )
    # behaviour incidents at school (ages 10-17)
    school_base: float = -4.25
    school_behaviour: float = 1.0
    school_fsm: float = 0.9
    school_sen_support: float = 0.2
    school_ehcp: float = 0.55
    school_male: float = 0.2
    school_repeat: float = 0.8
    school_age: np.ndarray = field(
        default_factory=lambda: _curve(
            {10: 0.10, 11: 0.40, 12: 0.75, 13: 0.95, 14: 1.0, 15: 0.85, 16: 0.2, 17: 0.12}
        )
    )
    suspension_given_incident: float = 0.30
    pex_base: float = -7.6
    pex_behaviour: float = 0.7
    pex_prior_suspensions: float = 0.55
    pex_sen_support: float = 0.2
    pex_fsm: float = 0.2
    pex_male: float = 0.3
    pex_age: np.ndarray = field(
        default_factory=lambda: _curve(
            {10: 0.3, 11: 0.5, 12: 0.8, 13: 1.0, 14: 1.2, 15: 1.2, 16: 0.3, 17: 0.2}
        )
    )
    # violence (serious violence = homicide, violence with injury, robbery)
    perp_base: float = -10.35
    perp_behaviour: float = 0.6
    perp_exploitation: float = 0.85
    perp_adversity: float = 0.2
    perp_male: float = 1.35
    perp_gang: float = 0.9
    perp_after_victim: float = 1.0
    perp_repeat: float = 1.5
    perp_age: np.ndarray = field(
        default_factory=lambda: _curve(
            {
                10: 0.03,
                11: 0.06,
                12: 0.15,
                13: 0.3,
                14: 0.55,
                15: 0.85,
                16: 1.0,
                17: 1.0,
                18: 0.9,
                19: 0.8,
                20: 0.7,
                21: 0.6,
                22: 0.5,
                23: 0.45,
                24: 0.4,
            }
        )
    )
    vic_base: float = -9.35
    vic_behaviour: float = 0.4
    vic_exploitation: float = 0.8
    vic_adversity: float = 0.2
    vic_deprivation: float = 0.25
    vic_male: float = 1.5
    vic_gang: float = 1.8
    vic_after_perp: float = 2.2
    vic_repeat: float = 3.0
    vic_age: np.ndarray = field(
        default_factory=lambda: _curve(
            {
                10: 0.1,
                11: 0.15,
                12: 0.25,
                13: 0.4,
                14: 0.55,
                15: 0.75,
                16: 0.9,
                17: 1.0,
                18: 1.05,
                19: 1.1,
                20: 1.1,
                21: 1.05,
                22: 1.0,
                23: 0.95,
                24: 0.9,
            }
        )
    )
    # common assault (violence without injury): commoner and less concentrated than SV
    ca_perp_base: float = -7.2
    ca_vic_base: float = -8.15
    ca_perp_latent_share: float = 0.4
    ca_perp_adversity: float = 0.45
    ca_vic_latent_share: float = 1.0
    other_base: float = -6.3
    other_behaviour: float = 0.8
    other_exploitation: float = 0.5
    other_male: float = 0.6
    other_gang: float = 0.8
    other_adversity: float = 0.35
    other_lac: float = 0.7
    other_repeat: float = 1.0
    other_age: np.ndarray = field(
        default_factory=lambda: _curve(
            {
                10: 0.1,
                11: 0.2,
                12: 0.4,
                13: 0.7,
                14: 0.9,
                15: 1.0,
                16: 1.0,
                17: 0.95,
                18: 0.85,
                19: 0.75,
                20: 0.6,
                21: 0.5,
                22: 0.45,
                23: 0.4,
                24: 0.35,
            }
        )
    )
    recent_decay: float = 0.94
    #: ceiling on anyone's monthly log-hazard of victimisation (about one a year at most)
    vic_ceiling: float = -2.3
    ae_given_sv_victim: float = 0.5
    ae_given_common_assault: float = 0.06
    # police stops (record side)
    stop_base: float = -7.2
    stop_exploitation: float = 0.6
    stop_behaviour: float = 0.4
    stop_gang: float = 1.0
    stop_male: float = 1.0
    stop_age: np.ndarray = field(
        default_factory=lambda: _curve(
            {
                12: 0.2,
                13: 0.4,
                14: 0.7,
                15: 0.9,
                16: 1.0,
                17: 1.0,
                18: 1.0,
                19: 0.9,
                20: 0.8,
                21: 0.7,
                22: 0.6,
                23: 0.5,
                24: 0.45,
            }
        )
    )
    yot_given_recorded_sv: float = 0.35
    yot_given_recorded_other: float = 0.03
    camhs_base: float = -6.9
    camhs_adversity: float = 0.6
    housing_base: float = -7.6
    housing_adversity: float = 0.7
    housing_care_leaver: float = 1.3


@dataclass
class _Chunks:
    """Append-only columnar buffer of event arrays, concatenated once at the end."""

    columns: tuple[str, ...]
    parts: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, **arrays: np.ndarray | int) -> None:
        n = np.size(arrays["person"])
        if n == 0:
            return
        for name in self.columns:
            value = arrays[name]
            arr = np.broadcast_to(np.asarray(value), (n,))
            self.parts.setdefault(name, []).append(np.array(arr))

    def frame(self, dtypes: dict[str, type | str]) -> dict[str, np.ndarray]:
        return {
            name: (
                np.concatenate(self.parts[name]).astype(dtypes[name])
                if name in self.parts
                else np.zeros(0, dtype=dtypes[name])
            )
            for name in self.columns
        }


@dataclass
class SimulationResult:
    """Arrays produced by :func:`simulate` (indices refer to :class:`Population`)."""

    true_events: dict[str, np.ndarray]
    school: dict[str, np.ndarray]
    contacts: dict[str, np.ndarray]
    incidents: dict[str, np.ndarray]
    person_month: dict[str, np.ndarray]


def exclusion_multiplier(detail: np.ndarray, bias: BiasSettings) -> np.ndarray:
    """B5: how much likelier a permanent exclusion is for the same behaviour, by ethnicity."""
    return np.select(
        [detail == "BCRB", detail == "MWBC"],
        [bias.exclusion_black_caribbean_ratio, bias.exclusion_mixed_wbc_ratio],
        1.0,
    )


def suspension_multiplier(detail: np.ndarray, bias: BiasSettings) -> np.ndarray:
    """B5: how much likelier a suspension is for the same behaviour (Traveller children)."""
    return np.where(detail == "WIRT", bias.exclusion_traveller_ratio, 1.0)


def stop_search_multiplier(ethnicity: np.ndarray, bias: BiasSettings) -> np.ndarray:
    """B1: how much likelier a police stop is for the same behaviour, by 5-group ethnicity."""
    black, mixed = ETHNICITIES.index("Black"), ETHNICITIES.index("Mixed")
    return np.select(
        [ethnicity == black, ethnicity == mixed],
        [bias.stop_search_black_ratio, bias.stop_search_mixed_ratio],
        1.0,
    )


def _excite(recent: np.ndarray) -> np.ndarray:
    """Saturating effect of recent events (0 with none, towards 1 with many).

    Self-excitation in log-hazard units: a coefficient ``c`` multiplies the hazard
    by at most ``exp(c)``, so repeats concentrate events without running away.
    """
    return -np.expm1(-recent)


def _bernoulli(
    rng: np.random.Generator, log_hazard: np.ndarray, ceiling: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """Monthly event probability from a log-hazard, and whether the event happened."""
    p = -np.expm1(-np.exp(np.minimum(log_hazard, ceiling)))
    return p, rng.random(p.shape[0]) < p


def simulate(
    pop: Population,
    settings: GeneratorSettings,
    truth_rng: np.random.Generator,
    record_rng: np.random.Generator,
    dyn: Dynamics | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Run the monthly simulation over ``settings.n_months`` months.

    Parameters
    ----------
    pop
        People and latent factors from :func:`synthetic.population.generate_population`.
    settings
        Generator settings (period and recording bias).
    truth_rng, record_rng
        Independent random streams for the true world and for recording.
    dyn
        World coefficients; the defaults are the calibrated ones.
    progress
        Called as ``progress(done_months, total_months)``.
    """
    dyn = dyn or Dynamics()
    bias = settings.bias
    n = pop.size
    n_months = settings.n_months
    start_month0 = settings.start.month - 1

    # --- state -------------------------------------------------------------------
    cin = np.zeros(n, bool)
    cpp = np.zeros(n, bool)
    lac = np.zeros(n, bool)
    lac_ever = np.zeros(n, bool)
    gang = np.zeros(n, bool)
    missing_ever = np.zeros(n, bool)
    recent_missing = np.zeros(n)
    recent_school = np.zeros(n)
    recent_perp = np.zeros(n)
    recent_vic = np.zeros(n)
    recent_other = np.zeros(n)
    any_vic = np.zeros(n, bool)
    any_perp = np.zeros(n, bool)
    # record-side state
    police_contacts = np.zeros(n, np.int32)
    suspensions = np.zeros(n, np.int32)

    truth = _Chunks(("person", "month", "day", "kind", "offence", "weapon"))
    school = _Chunks(("person", "month", "day", "event_type", "reason", "days"))
    contacts = _Chunks(("person", "month", "day", "agency", "contact_type"))
    incidents = _Chunks(("person", "month", "day", "role", "offence", "weapon"))

    total_pm = int(np.sum(pop.last - pop.first))
    pm_person = np.empty(total_pm, np.int32)
    pm_month = np.empty(total_pm, np.int16)
    pm_p_vic = np.empty(total_pm, np.float32)
    pm_p_perp = np.empty(total_pm, np.float32)
    pm_flags = {k: np.empty(total_pm, bool) for k in ("cin", "cpp", "lac", "gang")}
    offset = 0

    def true_event(
        idx: np.ndarray,
        t: int,
        kind: str,
        offence: np.ndarray | int = -1,
        weapon: np.ndarray | bool = False,
    ) -> np.ndarray:
        """Log true events and return their day of month (drawn from the truth stream)."""
        day = (truth_rng.random(idx.size) * 28).astype(np.int8) + 1
        truth.add(person=idx, month=t, day=day, kind=_K[kind], offence=offence, weapon=weapon)
        return day

    def contact(idx: np.ndarray, t: int, day: np.ndarray | int, agency: str, ctype: str) -> None:
        contacts.add(person=idx, month=t, day=day, agency=_A[agency], contact_type=_C[ctype])

    for t in range(n_months):
        act = np.flatnonzero((pop.first <= t) & (t < pop.last))
        age_m = t - pop.birth[act]
        age = np.clip(age_m // 12, 10, 24)
        ai = age - 10
        child = age < 18
        august = (start_month0 + t) % 12 == 7
        adv = pop.adversity[act]
        beh = pop.behaviour[act]
        expl = pop.exploitation[act]
        male = pop.male[act]
        open_sc = cin[act] | lac[act]

        # --- social care (truth; recorded completely by social care) -------------
        turned_18 = act[age_m == 18 * 12]
        for state, ctype in (
            (cpp, "child_protection_plan_end"),
            (lac, "looked_after_end"),
            (cin, "child_in_need_end"),
        ):
            ending = turned_18[state[turned_18]]
            state[ending] = False
            d = true_event(
                ending,
                t,
                {
                    "child_protection_plan_end": "cpp_end",
                    "looked_after_end": "lac_end",
                    "child_in_need_end": "cin_end",
                }[ctype],
            )
            contact(ending, t, d, "social_care", ctype)

        u_end = truth_rng.random(act.size)
        ends_cpp = act[cpp[act] & child & (u_end < dyn.cpp_end)]
        cpp[ends_cpp] = False
        contact(
            ends_cpp,
            t,
            true_event(ends_cpp, t, "cpp_end"),
            "social_care",
            "child_protection_plan_end",
        )
        ends_lac = act[lac[act] & child & (u_end < dyn.lac_end)]
        lac[ends_lac] = False
        contact(ends_lac, t, true_event(ends_lac, t, "lac_end"), "social_care", "looked_after_end")
        ends_cin = act[cin[act] & ~cpp[act] & ~lac[act] & child & (u_end < dyn.cin_end)]
        cin[ends_cin] = False
        contact(ends_cin, t, true_event(ends_cin, t, "cin_end"), "social_care", "child_in_need_end")

        _, starts = _bernoulli(truth_rng, dyn.cin_base + dyn.cin_adversity * adv)
        new_cin = act[starts & child & ~cin[act]]
        cin[new_cin] = True
        d = true_event(new_cin, t, "cin_start")
        contact(new_cin, t, d, "social_care", "referral")
        contact(new_cin, t, d, "social_care", "child_in_need")
        _, starts = _bernoulli(truth_rng, dyn.cpp_base + dyn.cpp_adversity * adv)
        new_cpp = act[starts & child & cin[act] & ~cpp[act] & ~lac[act]]
        cpp[new_cpp] = True
        contact(
            new_cpp, t, true_event(new_cpp, t, "cpp_start"), "social_care", "child_protection_plan"
        )
        _, starts = _bernoulli(
            truth_rng,
            dyn.lac_base
            + dyn.lac_adversity * adv
            + dyn.lac_behaviour * beh
            + dyn.lac_male * male
            + dyn.lac_missing * _excite(recent_missing[act]),
        )
        new_lac = act[starts & child & cin[act] & ~lac[act] & (age < 17)]
        lac[new_lac] = True
        lac_ever[new_lac] = True
        ending_plans = new_lac[cpp[new_lac]]
        cpp[ending_plans] = False
        d = true_event(new_lac, t, "lac_start")
        contact(new_lac, t, d, "social_care", "looked_after_start")
        _, referred = _bernoulli(truth_rng, dyn.referral_nfa_base + dyn.referral_adversity * adv)
        nfa = act[referred & child & ~cin[act]]
        contact(nfa, t, true_event(nfa, t, "social_care_referral"), "social_care", "referral")

        # --- missing episodes -----------------------------------------------------
        _, went = _bernoulli(
            truth_rng,
            dyn.missing_base
            + np.log(dyn.missing_age[ai] + 1e-9)
            + dyn.missing_exploitation * expl
            + dyn.missing_adversity * adv
            + dyn.missing_lac * lac[act]
            + dyn.missing_repeat * _excite(recent_missing[act]),
        )
        miss = act[went]
        d = true_event(miss, t, "missing_episode")
        visible = np.where(open_sc[went], bias.social_care_visibility, 1.0)
        reported = record_rng.random(miss.size) < bias.missing_reporting_rate * visible
        contact(miss[reported], t, d[reported], "police", "missing_episode")
        recent_missing *= dyn.recent_decay
        recent_missing[miss] += 1
        missing_ever[miss] = True

        # --- gang involvement -----------------------------------------------------
        u_gang = truth_rng.random(act.size)
        leaving = act[gang[act] & (u_gang < np.where(age >= 20, 3 * dyn.gang_exit, dyn.gang_exit))]
        gang[leaving] = False
        true_event(leaving, t, "gang_exit")
        _, joins = _bernoulli(
            truth_rng,
            dyn.gang_base
            + np.log(dyn.gang_age[ai] + 1e-9)
            + dyn.gang_exploitation * expl
            + dyn.gang_behaviour * beh
            + dyn.gang_missing * missing_ever[act]
            + dyn.gang_lac * lac[act],
        )
        joining = act[joins & ~gang[act]]
        gang[joining] = True
        true_event(joining, t, "gang_entry")

        # --- behaviour at school --------------------------------------------------
        sen = pop.sen[act]
        fsm = pop.fsm[act]
        _, incident = _bernoulli(
            truth_rng,
            dyn.school_base
            + np.log(dyn.school_age[ai] + 1e-9)
            + dyn.school_behaviour * beh
            + dyn.school_fsm * fsm
            + dyn.school_sen_support * (sen == 1)
            + dyn.school_ehcp * (sen == 2)
            + dyn.school_male * male
            + pop.school_effect[act]
            + dyn.school_repeat * _excite(recent_school[act])
            + (np.log(0.1) if august else 0.0),
        )
        inc = act[incident]
        d = true_event(inc, t, "school_incident")
        recent_school *= dyn.recent_decay
        recent_school[inc] += 1
        # the school's decision (record side): suspension, and rarely permanent exclusion
        detail = pop.ethnicity_detail[inc]
        p_susp = dyn.suspension_given_incident * suspension_multiplier(detail, bias)
        suspended = record_rng.random(inc.size) < p_susp
        eth_pex = exclusion_multiplier(detail, bias)
        inc_ai = ai[incident]
        lp_pex = (
            dyn.pex_base
            + np.log(dyn.pex_age[inc_ai] + 1e-9)
            + dyn.pex_behaviour * beh[incident]
            + dyn.pex_prior_suspensions * np.log1p(suspensions[inc])
            + dyn.pex_sen_support * (sen[incident] == 1)
            + dyn.pex_fsm * fsm[incident]
            + dyn.pex_male * male[incident]
            + np.log(eth_pex)
        )
        excluded = record_rng.random(inc.size) < -np.expm1(-np.exp(lp_pex))
        reason_logits = np.column_stack(
            [
                -1.6 + 0.5 * beh[incident],
                -2.8 + 0.5 * beh[incident],
                np.zeros(inc.size),
                -3.8 + 0.6 * expl[incident],
                -3.0 + 0.6 * expl[incident],
                np.full(inc.size, -0.7),
            ]
        )
        reason = np.argmax(reason_logits + record_rng.gumbel(size=reason_logits.shape), axis=1)
        days = np.maximum(1, np.round(record_rng.lognormal(0.5, 0.6, inc.size))).astype(int)
        keep = suspended | excluded
        school.add(
            person=inc[keep],
            month=t,
            day=d[keep],
            event_type=excluded[keep].astype(int),
            reason=reason[keep],
            days=np.where(excluded[keep], -1, days[keep]),
        )
        suspensions[inc[suspended]] += 1

        # --- violence and offending (truth) ---------------------------------------
        gang_a = gang[act]
        lp_perp = (
            dyn.perp_base
            + np.log(dyn.perp_age[ai])
            + dyn.perp_behaviour * beh
            + dyn.perp_exploitation * expl
            + dyn.perp_adversity * adv
            + dyn.perp_male * male
            + dyn.perp_gang * gang_a
            + dyn.perp_after_victim * _excite(recent_vic[act])
            + dyn.perp_repeat * _excite(recent_perp[act])
        )
        lp_vic = (
            dyn.vic_base
            + np.log(dyn.vic_age[ai])
            + dyn.vic_behaviour * beh
            + dyn.vic_exploitation * expl
            + dyn.vic_adversity * adv
            + dyn.vic_deprivation * pop.deprivation[act]
            + dyn.vic_male * male
            + dyn.vic_gang * gang_a
            + dyn.vic_after_perp * _excite(recent_perp[act])
            + dyn.vic_repeat * _excite(recent_vic[act])
            + pop.victim_frailty[act]
        )
        p_perp, sv_perp = _bernoulli(truth_rng, lp_perp)
        lp_vic = np.minimum(lp_vic, dyn.vic_ceiling)
        p_vic, sv_vic = _bernoulli(truth_rng, lp_vic)
        _, ca_perp = _bernoulli(
            truth_rng,
            dyn.ca_perp_base
            + np.log(dyn.perp_age[ai])
            + dyn.ca_perp_latent_share * (lp_perp - dyn.perp_base - np.log(dyn.perp_age[ai]))
            + dyn.ca_perp_adversity * adv,
        )
        _, ca_vic = _bernoulli(
            truth_rng,
            dyn.ca_vic_base
            + np.log(dyn.vic_age[ai])
            + dyn.ca_vic_latent_share * (lp_vic - dyn.vic_base - np.log(dyn.vic_age[ai])),
            ceiling=dyn.vic_ceiling,
        )
        _, other = _bernoulli(
            truth_rng,
            dyn.other_base
            + np.log(dyn.other_age[ai])
            + dyn.other_behaviour * beh
            + dyn.other_exploitation * expl
            + dyn.other_male * male
            + dyn.other_gang * gang_a
            + dyn.other_adversity * adv
            + dyn.other_lac * lac_ever[act]
            + dyn.other_repeat * _excite(recent_other[act]),
        )

        sl = slice(offset, offset + act.size)
        pm_person[sl] = act
        pm_month[sl] = t
        pm_p_vic[sl] = p_vic
        pm_p_perp[sl] = p_perp
        pm_flags["cin"][sl] = cin[act]
        pm_flags["cpp"][sl] = cpp[act]
        pm_flags["lac"][sl] = lac[act]
        pm_flags["gang"][sl] = gang_a
        offset += act.size

        seen_by_care = np.where(open_sc, bias.social_care_visibility, 1.0)  # B3
        usual_suspect = 1.0 + bias.usual_suspects_per_contact * np.minimum(  # B2
            police_contacts[act], 4
        )
        for mask, kind, role, rate in (
            (
                sv_perp,
                "sv_perpetration",
                1,
                bias.violence_reporting_rate * bias.suspect_identification_rate,
            ),
            (sv_vic, "sv_victimisation", 0, bias.violence_reporting_rate),
            (
                ca_perp,
                "violence_perpetration",
                1,
                bias.violence_reporting_rate * bias.suspect_identification_rate,
            ),
            (ca_vic, "violence_victimisation", 0, bias.violence_reporting_rate),
            (other, "other_offence", 1, bias.other_crime_recording_rate),
        ):
            who = act[mask]
            g = gang_a[mask]
            u_off = truth_rng.random(who.size)
            u_weapon = truth_rng.random(who.size)
            if kind in ("sv_perpetration", "sv_victimisation"):
                offence = np.where(
                    u_off < 0.004,
                    _O["homicide"],
                    np.where(u_off < 0.36, _O["robbery"], _O["violence_with_injury"]),
                )
                weapon = u_weapon < np.where(g, 0.5, 0.22)
            elif kind in ("violence_perpetration", "violence_victimisation"):
                offence = np.full(who.size, _O["violence_without_injury"])
                weapon = u_weapon < 0.03
            else:
                offence = np.select(
                    [u_off < 0.12 + 0.2 * g, u_off < 0.32 + 0.2 * g, u_off < 0.62, u_off < 0.82],
                    [
                        _O["possession_of_weapons"],
                        _O["drug_offences"],
                        _O["theft"],
                        _O["criminal_damage"],
                    ],
                    _O["public_order"],
                )
                weapon = offence == _O["possession_of_weapons"]
            d = true_event(who, t, kind, offence, weapon)
            if kind == "sv_victimisation":
                ae = who[truth_rng.random(who.size) < dyn.ae_given_sv_victim]
            elif kind == "violence_victimisation":
                ae = who[truth_rng.random(who.size) < dyn.ae_given_common_assault]
            else:
                ae = who[:0]
            if ae.size:
                contact(
                    ae, t, true_event(ae, t, "ae_attendance"), "health", "ae_assault_attendance"
                )
            visibility = seen_by_care[mask] * (usual_suspect[mask] if role == 1 else 1.0)
            recorded = record_rng.random(who.size) < rate * visibility
            u_yot = record_rng.random(who.size)
            incidents.add(
                person=who[recorded],
                month=t,
                day=d[recorded],
                role=role,
                offence=offence[recorded],
                weapon=weapon[recorded],
            )
            police_contacts[who[recorded]] += 1
            if role == 1:
                p_yot = (
                    dyn.yot_given_recorded_sv
                    if kind == "sv_perpetration"
                    else dyn.yot_given_recorded_other
                )
                ordered = recorded & child[mask] & (u_yot < p_yot)
                contact(
                    who[ordered], min(t + 2, n_months - 1), d[ordered], "youth_justice", "yot_order"
                )
        recent_perp *= dyn.recent_decay
        recent_vic *= dyn.recent_decay
        recent_other *= dyn.recent_decay
        recent_perp[act[sv_perp]] += 1
        recent_perp[act[ca_perp]] += 0.3
        recent_vic[act[sv_vic]] += 1
        recent_vic[act[ca_vic]] += 1
        recent_other[act[other]] += 1
        any_perp[act[sv_perp]] = True
        any_vic[act[sv_vic]] = True

        # --- other service contacts (truth, recorded completely) -------------------
        _, camhs = _bernoulli(truth_rng, dyn.camhs_base + dyn.camhs_adversity * adv)
        who = act[camhs & child]
        contact(who, t, true_event(who, t, "camhs_referral"), "camhs", "referral")
        _, homeless = _bernoulli(
            truth_rng,
            dyn.housing_base
            + dyn.housing_adversity * adv
            + dyn.housing_care_leaver * lac_ever[act],
        )
        who = act[homeless & (age >= 16) & ~lac[act]]
        contact(who, t, true_event(who, t, "homelessness"), "housing", "homelessness_presentation")

        # --- police stop and search (record side; B1 and B2) -----------------------
        eth_mult = stop_search_multiplier(pop.ethnicity[act], bias)
        lp_stop = (
            dyn.stop_base
            + np.log(dyn.stop_age[ai] + 1e-9)
            + dyn.stop_exploitation * expl
            + dyn.stop_behaviour * beh
            + dyn.stop_gang * gang_a
            + dyn.stop_male * male
            + np.log(eth_mult)
        )
        stopped = record_rng.random(act.size) < -np.expm1(-np.exp(lp_stop))
        # one day drawn per resident, so the record stream stays aligned across bias settings
        day = (record_rng.random(act.size) * 28).astype(np.int8) + 1
        who = act[stopped]
        contact(who, t, day[stopped], "police", "stop_and_search")
        police_contacts[who] += 1

        if progress is not None:
            progress(t + 1, n_months)

    int_cols: dict[str, type | str] = {"person": np.int32, "month": np.int16, "day": np.int8}
    return SimulationResult(
        true_events=truth.frame({**int_cols, "kind": np.int8, "offence": np.int8, "weapon": bool}),
        school=school.frame(
            {**int_cols, "event_type": np.int8, "reason": np.int8, "days": np.int16}
        ),
        contacts=contacts.frame({**int_cols, "agency": np.int8, "contact_type": np.int8}),
        incidents=incidents.frame(
            {**int_cols, "role": np.int8, "offence": np.int8, "weapon": bool}
        ),
        person_month={
            "person": pm_person[:offset],
            "month": pm_month[:offset],
            "p_sv_victim": pm_p_vic[:offset],
            "p_sv_perpetrator": pm_p_perp[:offset],
            **{k: v[:offset] for k, v in pm_flags.items()},
        },
    )
