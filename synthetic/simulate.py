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

A ``risk-rises`` scenario (:mod:`synthetic.scenarios`) is the only scenario that
acts here: from its start month it multiplies the true monthly probability of
serious-violence victimisation in one local authority. The random draws are the
same ones, so every month before the start is identical to the world without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from features.vocabulary import (
    AGENCIES,
    CONTACT_TYPES,
    ETHNICITIES,
    OFFENCE_GROUPS,
    ROLES,
    SERIOUS_OFFENCES,
)
from synthetic.config import BiasSettings, GeneratorSettings
from synthetic.dynamics import Dynamics
from synthetic.panels import PanelRun
from synthetic.population import Population
from synthetic.scenarios import VictimisationRise, victimisation_rise

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
_R = {name: i for i, name in enumerate(ROLES)}


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

    def mark(self) -> int:
        """How many parts are held (for :meth:`since`)."""
        return len(self.parts.get(self.columns[0], []))

    def since(self, mark: int) -> dict[str, np.ndarray]:
        """The rows added after ``mark``, by column."""
        parts = {name: self.parts.get(name, [])[mark:] for name in self.columns}
        return {
            name: np.concatenate(arrays) if arrays else np.zeros(0, np.int64)
            for name, arrays in parts.items()
        }

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
    #: the historic panels' ranked lists and the help taken up (empty without panels)
    panel_lists: dict[str, np.ndarray] = field(default_factory=dict)
    helped: dict[str, np.ndarray] = field(default_factory=dict)


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
    rng: np.random.Generator,
    log_hazard: np.ndarray,
    ceiling: float = 3.0,
    scale: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Monthly event probability from a log-hazard, and whether the event happened.

    ``scale`` multiplies the probability itself (capped at 1); one uniform draw per
    row either way, so a scale changes which events happen, not the random stream.
    """
    p = -np.expm1(-np.exp(np.minimum(log_hazard, ceiling)))
    if scale is not None:
        p = np.minimum(p * scale, 1.0)
    return p, rng.random(p.shape[0]) < p


# ------------------------------------------------------------------ the run


@dataclass
class _State:
    """What each person carries from one month to the next (index = person)."""

    # true world
    cin: np.ndarray
    cpp: np.ndarray
    lac: np.ndarray
    lac_ever: np.ndarray
    gang: np.ndarray
    missing_ever: np.ndarray
    recent_missing: np.ndarray
    recent_school: np.ndarray
    recent_perp: np.ndarray
    recent_vic: np.ndarray
    recent_other: np.ndarray
    # record side
    police_contacts: np.ndarray
    suspensions: np.ndarray

    @classmethod
    def start(cls, n: int) -> _State:
        """Nobody open to any service, no history."""
        return cls(
            cin=np.zeros(n, bool),
            cpp=np.zeros(n, bool),
            lac=np.zeros(n, bool),
            lac_ever=np.zeros(n, bool),
            gang=np.zeros(n, bool),
            missing_ever=np.zeros(n, bool),
            recent_missing=np.zeros(n),
            recent_school=np.zeros(n),
            recent_perp=np.zeros(n),
            recent_vic=np.zeros(n),
            recent_other=np.zeros(n),
            police_contacts=np.zeros(n, np.int32),
            suspensions=np.zeros(n, np.int32),
        )


class _EventLog:
    """The event buffers of one run: true events and the three recorded sources."""

    def __init__(self, truth_rng: np.random.Generator) -> None:
        self._truth_rng = truth_rng
        self.truth = _Chunks(("person", "month", "day", "kind", "offence", "weapon"))
        self.school = _Chunks(("person", "month", "day", "event_type", "reason", "days"))
        self.contacts = _Chunks(("person", "month", "day", "agency", "contact_type"))
        self.incidents = _Chunks(("person", "month", "day", "role", "offence", "weapon"))

    def true_event(
        self,
        idx: np.ndarray,
        t: int,
        kind: str,
        offence: np.ndarray | int = -1,
        weapon: np.ndarray | bool = False,
    ) -> np.ndarray:
        """Log true events and return their day of month (drawn from the truth stream)."""
        day = (self._truth_rng.random(idx.size) * 28).astype(np.int8) + 1
        self.truth.add(person=idx, month=t, day=day, kind=_K[kind], offence=offence, weapon=weapon)
        return day

    def contact(
        self, idx: np.ndarray, t: int, day: np.ndarray | int, agency: str, ctype: str
    ) -> None:
        """Log agency contacts on the given days (the caller decides what is recorded)."""
        self.contacts.add(person=idx, month=t, day=day, agency=_A[agency], contact_type=_C[ctype])


class _PersonMonths:
    """True monthly probabilities and states, one row per resident month."""

    def __init__(self, total: int) -> None:
        self.person = np.empty(total, np.int32)
        self.month = np.empty(total, np.int16)
        self.p_vic = np.empty(total, np.float32)
        self.p_perp = np.empty(total, np.float32)
        self.flags = {k: np.empty(total, bool) for k in ("cin", "cpp", "lac", "gang")}
        self.size = 0

    def add(self, m: _Month, state: _State, p_vic: np.ndarray, p_perp: np.ndarray) -> None:
        """Append this month's rows (states as they stand after the month's changes)."""
        act = m.act
        sl = slice(self.size, self.size + act.size)
        self.person[sl] = act
        self.month[sl] = m.t
        self.p_vic[sl] = p_vic
        self.p_perp[sl] = p_perp
        self.flags["cin"][sl] = state.cin[act]
        self.flags["cpp"][sl] = state.cpp[act]
        self.flags["lac"][sl] = state.lac[act]
        self.flags["gang"][sl] = state.gang[act]
        self.size += act.size

    def columns(self) -> dict[str, np.ndarray]:
        """The filled rows, by column."""
        n = self.size
        return {
            "person": self.person[:n],
            "month": self.month[:n],
            "p_sv_victim": self.p_vic[:n],
            "p_sv_perpetrator": self.p_perp[:n],
            **{k: v[:n] for k, v in self.flags.items()},
        }


@dataclass(frozen=True)
class _Run:
    """Everything one simulation shares across months."""

    pop: Population
    dyn: Dynamics
    bias: BiasSettings
    n_months: int
    truth_rng: np.random.Generator
    record_rng: np.random.Generator
    state: _State
    log: _EventLog
    person_months: _PersonMonths
    #: the ``risk-rises`` scenario, if any
    vic_rise: VictimisationRise | None = None
    #: the historic referral panels, if any
    panels: PanelRun | None = None


@dataclass(frozen=True)
class _Month:
    """The residents of month ``t``; every array is aligned with ``act``."""

    t: int
    #: indices of the people resident and aged 10–24 this month
    act: np.ndarray
    age_m: np.ndarray
    age: np.ndarray
    #: index into the age curves (age − 10)
    ai: np.ndarray
    child: np.ndarray
    august: bool
    adv: np.ndarray
    beh: np.ndarray
    expl: np.ndarray
    male: np.ndarray
    #: open to social care at the start of the month (B3 acts on this)
    open_sc: np.ndarray


def _residents(run: _Run, t: int, start_month0: int) -> _Month:
    """Who is resident in month ``t``, their age and latent factors."""
    pop, state = run.pop, run.state
    act = np.flatnonzero((pop.first <= t) & (t < pop.last))
    age_m = t - pop.birth[act]
    age = np.clip(age_m // 12, 10, 24)
    return _Month(
        t=t,
        act=act,
        age_m=age_m,
        age=age,
        ai=age - 10,
        child=age < 18,
        august=(start_month0 + t) % 12 == 7,
        adv=pop.adversity[act],
        beh=pop.behaviour[act],
        expl=pop.exploitation[act],
        male=pop.male[act],
        open_sc=state.cin[act] | state.lac[act],
    )


# ------------------------------------------------------------------ social care (truth)


def _close_cases_at_18(run: _Run, m: _Month) -> None:
    """Plans, care and child-in-need episodes all close in the month a child turns 18."""
    s, log = run.state, run.log
    turned_18 = m.act[m.age_m == 18 * 12]
    for open_, kind, ctype in (
        (s.cpp, "cpp_end", "child_protection_plan_end"),
        (s.lac, "lac_end", "looked_after_end"),
        (s.cin, "cin_end", "child_in_need_end"),
    ):
        ending = turned_18[open_[turned_18]]
        open_[ending] = False
        log.contact(ending, m.t, log.true_event(ending, m.t, kind), "social_care", ctype)


def _end_cases(run: _Run, m: _Month) -> None:
    """Episodes of children end at their monthly rates (one shared draw per resident)."""
    s, log, dyn, act, t = run.state, run.log, run.dyn, m.act, m.t
    u_end = run.truth_rng.random(act.size)
    ends_cpp = act[s.cpp[act] & m.child & (u_end < dyn.cpp_end)]
    s.cpp[ends_cpp] = False
    log.contact(
        ends_cpp,
        t,
        log.true_event(ends_cpp, t, "cpp_end"),
        "social_care",
        "child_protection_plan_end",
    )
    ends_lac = act[s.lac[act] & m.child & (u_end < dyn.lac_end)]
    s.lac[ends_lac] = False
    log.contact(
        ends_lac, t, log.true_event(ends_lac, t, "lac_end"), "social_care", "looked_after_end"
    )
    ends_cin = act[s.cin[act] & ~s.cpp[act] & ~s.lac[act] & m.child & (u_end < dyn.cin_end)]
    s.cin[ends_cin] = False
    log.contact(
        ends_cin, t, log.true_event(ends_cin, t, "cin_end"), "social_care", "child_in_need_end"
    )


def _open_cases(run: _Run, m: _Month) -> None:
    """New child-in-need episodes, protection plans, care, and referrals with no further action."""
    s, log, dyn, rng, act, t = run.state, run.log, run.dyn, run.truth_rng, m.act, m.t
    _, starts = _bernoulli(rng, dyn.cin_base + dyn.cin_adversity * m.adv)
    new_cin = act[starts & m.child & ~s.cin[act]]
    s.cin[new_cin] = True
    d = log.true_event(new_cin, t, "cin_start")
    log.contact(new_cin, t, d, "social_care", "referral")
    log.contact(new_cin, t, d, "social_care", "child_in_need")

    _, starts = _bernoulli(rng, dyn.cpp_base + dyn.cpp_adversity * m.adv)
    new_cpp = act[starts & m.child & s.cin[act] & ~s.cpp[act] & ~s.lac[act]]
    s.cpp[new_cpp] = True
    log.contact(
        new_cpp, t, log.true_event(new_cpp, t, "cpp_start"), "social_care", "child_protection_plan"
    )

    _, starts = _bernoulli(
        rng,
        dyn.lac_base
        + dyn.lac_adversity * m.adv
        + dyn.lac_behaviour * m.beh
        + dyn.lac_male * m.male
        + dyn.lac_missing * _excite(s.recent_missing[act]),
    )
    new_lac = act[starts & m.child & s.cin[act] & ~s.lac[act] & (m.age < 17)]
    s.lac[new_lac] = True
    s.lac_ever[new_lac] = True
    s.cpp[new_lac[s.cpp[new_lac]]] = False  # a plan ends when the child comes into care
    d = log.true_event(new_lac, t, "lac_start")
    log.contact(new_lac, t, d, "social_care", "looked_after_start")

    _, referred = _bernoulli(rng, dyn.referral_nfa_base + dyn.referral_adversity * m.adv)
    nfa = act[referred & m.child & ~s.cin[act]]
    log.contact(nfa, t, log.true_event(nfa, t, "social_care_referral"), "social_care", "referral")


def _social_care(run: _Run, m: _Month) -> None:
    """Social care this month: closures at 18, ends, then starts (recorded completely)."""
    _close_cases_at_18(run, m)
    _end_cases(run, m)
    _open_cases(run, m)


# ------------------------------------------------------------------ missing and gangs


def _missing_episodes(run: _Run, m: _Month) -> None:
    """True missing episodes, and the share reported to the police (B3, B4)."""
    s, dyn, bias, act = run.state, run.dyn, run.bias, m.act
    _, went = _bernoulli(
        run.truth_rng,
        dyn.missing_base
        + np.log(dyn.missing_age[m.ai] + 1e-9)
        + dyn.missing_exploitation * m.expl
        + dyn.missing_adversity * m.adv
        + dyn.missing_lac * s.lac[act]
        + dyn.missing_repeat * _excite(s.recent_missing[act]),
    )
    miss = act[went]
    d = run.log.true_event(miss, m.t, "missing_episode")
    visible = np.where(m.open_sc[went], bias.social_care_visibility, 1.0)
    reported = run.record_rng.random(miss.size) < bias.missing_reporting_rate * visible
    run.log.contact(miss[reported], m.t, d[reported], "police", "missing_episode")
    s.recent_missing *= dyn.recent_decay
    s.recent_missing[miss] += 1
    s.missing_ever[miss] = True


def _gang_involvement(run: _Run, m: _Month) -> None:
    """Leaving and joining a gang (truth only; no agency records it)."""
    s, dyn, act = run.state, run.dyn, m.act
    u_gang = run.truth_rng.random(act.size)
    exit_rate = np.where(m.age >= 20, 3 * dyn.gang_exit, dyn.gang_exit)
    leaving = act[s.gang[act] & (u_gang < exit_rate)]
    s.gang[leaving] = False
    run.log.true_event(leaving, m.t, "gang_exit")
    _, joins = _bernoulli(
        run.truth_rng,
        dyn.gang_base
        + np.log(dyn.gang_age[m.ai] + 1e-9)
        + dyn.gang_exploitation * m.expl
        + dyn.gang_behaviour * m.beh
        + dyn.gang_missing * s.missing_ever[act]
        + dyn.gang_lac * s.lac[act],
    )
    joining = act[joins & ~s.gang[act]]
    s.gang[joining] = True
    run.log.true_event(joining, m.t, "gang_entry")


# ------------------------------------------------------------------ school


def _school_incidents(run: _Run, m: _Month) -> tuple[np.ndarray, np.ndarray]:
    """True behaviour incidents at school (none to speak of in August).

    Returns the mask of residents with an incident and the incidents' days of month.
    """
    s, dyn, pop, act = run.state, run.dyn, run.pop, m.act
    sen = pop.sen[act]
    _, incident = _bernoulli(
        run.truth_rng,
        dyn.school_base
        + np.log(dyn.school_age[m.ai] + 1e-9)
        + dyn.school_behaviour * m.beh
        + dyn.school_fsm * pop.fsm[act]
        + dyn.school_sen_support * (sen == 1)
        + dyn.school_ehcp * (sen == 2)
        + dyn.school_male * m.male
        + pop.school_effect[act]
        + dyn.school_repeat * _excite(s.recent_school[act])
        + (np.log(0.1) if m.august else 0.0),
    )
    inc = act[incident]
    day = run.log.true_event(inc, m.t, "school_incident")
    s.recent_school *= dyn.recent_decay
    s.recent_school[inc] += 1
    return incident, day


def _school_decisions(run: _Run, m: _Month, incident: np.ndarray, day: np.ndarray) -> None:
    """The school's decision on each incident (record side, B5): suspension or exclusion."""
    dyn, bias, pop, rng = run.dyn, run.bias, run.pop, run.record_rng
    inc = m.act[incident]
    beh, expl = m.beh[incident], m.expl[incident]
    sen = pop.sen[inc]
    fsm = pop.fsm[inc]
    detail = pop.ethnicity_detail[inc]
    p_susp = dyn.suspension_given_incident * suspension_multiplier(detail, bias)
    suspended = rng.random(inc.size) < p_susp
    eth_pex = exclusion_multiplier(detail, bias)
    lp_pex = (
        dyn.pex_base
        + np.log(dyn.pex_age[m.ai[incident]] + 1e-9)
        + dyn.pex_behaviour * beh
        + dyn.pex_prior_suspensions * np.log1p(run.state.suspensions[inc])
        + dyn.pex_sen_support * (sen == 1)
        + dyn.pex_fsm * fsm
        + dyn.pex_male * m.male[incident]
        + np.log(eth_pex)
    )
    excluded = rng.random(inc.size) < -np.expm1(-np.exp(lp_pex))
    # one column per SCHOOL_REASONS code, in its order
    reason_logits = np.column_stack(
        [
            -1.6 + 0.5 * beh,
            -2.8 + 0.5 * beh,
            np.zeros(inc.size),
            -3.8 + 0.6 * expl,
            -3.0 + 0.6 * expl,
            np.full(inc.size, -0.7),
        ]
    )
    reason = np.argmax(reason_logits + rng.gumbel(size=reason_logits.shape), axis=1)
    days = np.maximum(1, np.round(rng.lognormal(0.5, 0.6, inc.size))).astype(int)
    keep = suspended | excluded
    run.log.school.add(
        person=inc[keep],
        month=m.t,
        day=day[keep],
        event_type=excluded[keep].astype(int),  # SCHOOL_EVENT_TYPES: 0 suspension, 1 exclusion
        reason=reason[keep],
        days=np.where(excluded[keep], -1, days[keep]),
    )
    run.state.suspensions[inc[suspended]] += 1


def _school(run: _Run, m: _Month) -> None:
    """Behaviour at school (truth) and the school's decisions (records)."""
    incident, day = _school_incidents(run, m)
    _school_decisions(run, m, incident, day)


# ------------------------------------------------------------------ violence and offending


@dataclass(frozen=True)
class _Violence:
    """One month's true violence and offending; masks are aligned with the residents."""

    #: true monthly probability of serious violence, as perpetrator and as victim
    p_perp: np.ndarray
    p_vic: np.ndarray
    sv_perp: np.ndarray
    sv_vic: np.ndarray
    #: common assault (violence without injury)
    ca_perp: np.ndarray
    ca_vic: np.ndarray
    other: np.ndarray


def _draw_violence(run: _Run, m: _Month) -> _Violence:
    """Draw serious violence, common assault and other offending from the truth stream."""
    s, dyn, pop, rng, act, ai = run.state, run.dyn, run.pop, run.truth_rng, m.act, m.ai
    gang = s.gang[act]
    lp_perp = (
        dyn.perp_base
        + np.log(dyn.perp_age[ai])
        + dyn.perp_behaviour * m.beh
        + dyn.perp_exploitation * m.expl
        + dyn.perp_adversity * m.adv
        + dyn.perp_male * m.male
        + dyn.perp_gang * gang
        + dyn.perp_after_victim * _excite(s.recent_vic[act])
        + dyn.perp_repeat * _excite(s.recent_perp[act])
    )
    lp_vic = (
        dyn.vic_base
        + np.log(dyn.vic_age[ai])
        + dyn.vic_behaviour * m.beh
        + dyn.vic_exploitation * m.expl
        + dyn.vic_adversity * m.adv
        + dyn.vic_deprivation * pop.deprivation[act]
        + dyn.vic_male * m.male
        + dyn.vic_gang * gang
        + dyn.vic_after_perp * _excite(s.recent_perp[act])
        + dyn.vic_repeat * _excite(s.recent_vic[act])
        + pop.victim_frailty[act]
    )
    helped = None if run.panels is None else run.panels.hazard_scale(m.t, act)
    p_perp, sv_perp = _bernoulli(rng, lp_perp, scale=helped)
    lp_vic = np.minimum(lp_vic, dyn.vic_ceiling)
    rise = None if run.vic_rise is None else run.vic_rise.multiplier(m.t, act)
    if helped is not None:
        rise = helped if rise is None else rise * helped
    p_vic, sv_vic = _bernoulli(rng, lp_vic, scale=rise)
    # common assault shares part of the serious-violence risk beyond age
    _, ca_perp = _bernoulli(
        rng,
        dyn.ca_perp_base
        + np.log(dyn.perp_age[ai])
        + dyn.ca_perp_latent_share * (lp_perp - dyn.perp_base - np.log(dyn.perp_age[ai]))
        + dyn.ca_perp_adversity * m.adv,
    )
    _, ca_vic = _bernoulli(
        rng,
        dyn.ca_vic_base
        + np.log(dyn.vic_age[ai])
        + dyn.ca_vic_latent_share * (lp_vic - dyn.vic_base - np.log(dyn.vic_age[ai])),
        ceiling=dyn.vic_ceiling,
    )
    _, other = _bernoulli(
        rng,
        dyn.other_base
        + np.log(dyn.other_age[ai])
        + dyn.other_behaviour * m.beh
        + dyn.other_exploitation * m.expl
        + dyn.other_male * m.male
        + dyn.other_gang * gang
        + dyn.other_adversity * m.adv
        + dyn.other_lac * s.lac_ever[act]
        + dyn.other_repeat * _excite(s.recent_other[act]),
    )
    return _Violence(p_perp, p_vic, sv_perp, sv_vic, ca_perp, ca_vic, other)


def _offence_and_weapon(
    rng: np.random.Generator, kind: str, gang: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Offence group and weapon use of true events of one kind (gang members carry more)."""
    u_off = rng.random(gang.size)
    u_weapon = rng.random(gang.size)
    if kind in ("sv_perpetration", "sv_victimisation"):
        offence = np.where(
            u_off < 0.004,
            _O["homicide"],
            np.where(u_off < 0.36, _O["robbery"], _O["violence_with_injury"]),
        )
        weapon = u_weapon < np.where(gang, 0.5, 0.22)
    elif kind in ("violence_perpetration", "violence_victimisation"):
        offence = np.full(gang.size, _O["violence_without_injury"])
        weapon = u_weapon < 0.03
    else:
        offence = np.select(
            [u_off < 0.12 + 0.2 * gang, u_off < 0.32 + 0.2 * gang, u_off < 0.62, u_off < 0.82],
            [_O["possession_of_weapons"], _O["drug_offences"], _O["theft"], _O["criminal_damage"]],
            _O["public_order"],
        )
        weapon = offence == _O["possession_of_weapons"]
    return offence, weapon


def _hospital_attendances(run: _Run, m: _Month, victims: np.ndarray, kind: str) -> None:
    """A&E attendances after an assault (truth, recorded completely by health)."""
    if kind == "sv_victimisation":
        ae = victims[run.truth_rng.random(victims.size) < run.dyn.ae_given_sv_victim]
    elif kind == "violence_victimisation":
        ae = victims[run.truth_rng.random(victims.size) < run.dyn.ae_given_common_assault]
    else:
        return
    if ae.size:
        run.log.contact(
            ae, m.t, run.log.true_event(ae, m.t, "ae_attendance"), "health", "ae_assault_attendance"
        )


def _record_violence(run: _Run, m: _Month, v: _Violence) -> None:
    """Log each kind of true violence and offending, and what the police record of it.

    Recording is thinned by under-reporting (B4), raised while the child is open to
    social care (B3) and, for suspects, by each earlier police contact (B2). Recorded
    child suspects may get a youth-justice order two months later.
    """
    s, bias, dyn, log, t = run.state, run.bias, run.dyn, run.log, m.t
    gang = s.gang[m.act]
    seen_by_care = np.where(m.open_sc, bias.social_care_visibility, 1.0)  # B3
    usual_suspect = 1.0 + bias.usual_suspects_per_contact * np.minimum(  # B2
        s.police_contacts[m.act], 4
    )
    suspect_rate = bias.violence_reporting_rate * bias.suspect_identification_rate
    for mask, kind, role, rate in (
        (v.sv_perp, "sv_perpetration", _R["suspect"], suspect_rate),
        (v.sv_vic, "sv_victimisation", _R["victim"], bias.violence_reporting_rate),
        (v.ca_perp, "violence_perpetration", _R["suspect"], suspect_rate),
        (v.ca_vic, "violence_victimisation", _R["victim"], bias.violence_reporting_rate),
        (v.other, "other_offence", _R["suspect"], bias.other_crime_recording_rate),
    ):
        who = m.act[mask]
        offence, weapon = _offence_and_weapon(run.truth_rng, kind, gang[mask])
        d = log.true_event(who, t, kind, offence, weapon)
        _hospital_attendances(run, m, who, kind)
        suspect = role == _R["suspect"]
        visibility = seen_by_care[mask] * (usual_suspect[mask] if suspect else 1.0)
        recorded = run.record_rng.random(who.size) < rate * visibility
        u_yot = run.record_rng.random(who.size)
        log.incidents.add(
            person=who[recorded],
            month=t,
            day=d[recorded],
            role=role,
            offence=offence[recorded],
            weapon=weapon[recorded],
        )
        s.police_contacts[who[recorded]] += 1
        if suspect:
            p_yot = (
                dyn.yot_given_recorded_sv
                if kind == "sv_perpetration"
                else dyn.yot_given_recorded_other
            )
            ordered = recorded & m.child[mask] & (u_yot < p_yot)
            order_month = min(t + 2, run.n_months - 1)
            log.contact(who[ordered], order_month, d[ordered], "youth_justice", "yot_order")


def _remember_violence(run: _Run, m: _Month, v: _Violence) -> None:
    """Decay recent violence and offending and add this month's (self-excitation)."""
    s, decay, act = run.state, run.dyn.recent_decay, m.act
    s.recent_perp *= decay
    s.recent_vic *= decay
    s.recent_other *= decay
    s.recent_perp[act[v.sv_perp]] += 1
    s.recent_perp[act[v.ca_perp]] += 0.3
    s.recent_vic[act[v.sv_vic]] += 1
    s.recent_vic[act[v.ca_vic]] += 1
    s.recent_other[act[v.other]] += 1


# ------------------------------------------------------------------ other services, police stops


def _service_contacts(run: _Run, m: _Month) -> None:
    """CAMHS referrals and homelessness presentations (truth, recorded completely)."""
    s, dyn, log, act, t = run.state, run.dyn, run.log, m.act, m.t
    _, camhs = _bernoulli(run.truth_rng, dyn.camhs_base + dyn.camhs_adversity * m.adv)
    who = act[camhs & m.child]
    log.contact(who, t, log.true_event(who, t, "camhs_referral"), "camhs", "referral")
    _, homeless = _bernoulli(
        run.truth_rng,
        dyn.housing_base
        + dyn.housing_adversity * m.adv
        + dyn.housing_care_leaver * s.lac_ever[act],
    )
    who = act[homeless & (m.age >= 16) & ~s.lac[act]]
    log.contact(
        who, t, log.true_event(who, t, "homelessness"), "housing", "homelessness_presentation"
    )


def _stop_and_search(run: _Run, m: _Month) -> None:
    """Police stops (record side): behaviour, gangs, and ethnicity through B1."""
    s, dyn, rng, act = run.state, run.dyn, run.record_rng, m.act
    eth_mult = stop_search_multiplier(run.pop.ethnicity[act], run.bias)
    lp_stop = (
        dyn.stop_base
        + np.log(dyn.stop_age[m.ai] + 1e-9)
        + dyn.stop_exploitation * m.expl
        + dyn.stop_behaviour * m.beh
        + dyn.stop_gang * s.gang[act]
        + dyn.stop_male * m.male
        + np.log(eth_mult)
    )
    stopped = rng.random(act.size) < -np.expm1(-np.exp(lp_stop))
    # one day drawn per resident, so the record stream stays aligned across bias settings
    day = (rng.random(act.size) * 28).astype(np.int8) + 1
    who = act[stopped]
    run.log.contact(who, m.t, day[stopped], "police", "stop_and_search")
    s.police_contacts[who] += 1


# ------------------------------------------------------------------ the monthly loop


def _count_records(run: _Run, marks: tuple[int, int, int]) -> None:
    """Give the panels this month's records of the kinds their hand rules count."""
    assert run.panels is not None
    window = run.panels.records
    school = run.log.school.since(marks[0])
    window.add(
        "permanent_exclusion",
        school["person"][school["event_type"] == 1],
        school["month"][school["event_type"] == 1],
    )
    contacts = run.log.contacts.since(marks[1])
    for kind, ctype in (("missing", "missing_episode"), ("yot_order", "yot_order")):
        rows = contacts["contact_type"] == _C[ctype]
        window.add(kind, contacts["person"][rows], contacts["month"][rows])
    incidents = run.log.incidents.since(marks[2])
    serious = np.isin(incidents["offence"], [_O[o] for o in SERIOUS_OFFENCES])
    for kind, role in (("sv_suspect", "suspect"), ("sv_victim", "victim")):
        rows = serious & (incidents["role"] == _R[role])
        window.add(kind, incidents["person"][rows], incidents["month"][rows])
    rows = incidents["weapon"].astype(bool)
    window.add("weapon", incidents["person"][rows], incidents["month"][rows])


def _simulate_month(run: _Run, m: _Month) -> None:
    """One month in causal order; the order of the steps fixes the order of random draws."""
    if run.panels is not None:
        run.panels.meet(m.t, m.act, run.pop.local_authority[m.act], m.age)
        marks = (run.log.school.mark(), run.log.contacts.mark(), run.log.incidents.mark())
    _social_care(run, m)
    _missing_episodes(run, m)
    _gang_involvement(run, m)
    _school(run, m)
    violence = _draw_violence(run, m)
    run.person_months.add(m, run.state, violence.p_vic, violence.p_perp)
    _record_violence(run, m, violence)
    _remember_violence(run, m, violence)
    _service_contacts(run, m)
    _stop_and_search(run, m)
    if run.panels is not None:
        _count_records(run, marks)


def _result(run: _Run) -> SimulationResult:
    """Concatenate the event buffers into typed columns."""
    log = run.log
    int_cols: dict[str, type | str] = {"person": np.int32, "month": np.int16, "day": np.int8}
    return SimulationResult(
        true_events=log.truth.frame(
            {**int_cols, "kind": np.int8, "offence": np.int8, "weapon": bool}
        ),
        school=log.school.frame(
            {**int_cols, "event_type": np.int8, "reason": np.int8, "days": np.int16}
        ),
        contacts=log.contacts.frame({**int_cols, "agency": np.int8, "contact_type": np.int8}),
        incidents=log.incidents.frame(
            {**int_cols, "role": np.int8, "offence": np.int8, "weapon": bool}
        ),
        person_month=run.person_months.columns(),
        **(
            dict(zip(("panel_lists", "helped"), run.panels.columns(), strict=True))
            if run.panels
            else {}
        ),
    )


def simulate(
    pop: Population,
    settings: GeneratorSettings,
    truth_rng: np.random.Generator,
    record_rng: np.random.Generator,
    dyn: Dynamics | None = None,
    progress: Callable[[int, int], None] | None = None,
    panel_rng: np.random.Generator | None = None,
) -> SimulationResult:
    """Run the monthly simulation over ``settings.n_months`` months.

    Parameters
    ----------
    pop
        People and latent factors from :func:`synthetic.population.generate_population`.
    settings
        Generator settings (period, recording bias and scenario).
    truth_rng, record_rng
        Independent random streams for the true world and for recording.
    dyn
        World coefficients; the defaults are the calibrated ones.
    progress
        Called as ``progress(done_months, total_months)``.
    panel_rng
        The historic panels' own random stream (:mod:`synthetic.panels`); needed when
        ``settings.panels`` is set.

    Returns
    -------
    SimulationResult
        True events, recorded events and the true person-month table.
    """
    run = _Run(
        pop=pop,
        dyn=dyn if dyn is not None else Dynamics(),
        bias=settings.bias,
        n_months=settings.n_months,
        truth_rng=truth_rng,
        record_rng=record_rng,
        state=_State.start(pop.size),
        log=_EventLog(truth_rng),
        person_months=_PersonMonths(int(np.sum(pop.last - pop.first))),
        vic_rise=victimisation_rise(settings, pop.local_authority),
        panels=None
        if settings.panels is None
        else PanelRun(
            settings.panels,
            settings.panels.first_month(settings),
            panel_rng if panel_rng is not None else np.random.default_rng(0),
            pop.size,
        ),
    )
    start_month0 = settings.start.month - 1
    for t in range(run.n_months):
        _simulate_month(run, _residents(run, t, start_month0))
        if progress is not None:
            progress(t + 1, run.n_months)
    return _result(run)
