"""Coefficients of the synthetic world (:class:`Dynamics`).

:mod:`synthetic.simulate` builds every monthly hazard from these: a base rate, an
age curve, and the effects of latent factors, current states and recent history.
They are calibrated so that the *recorded* data match :mod:`synthetic.targets`;
the recording biases themselves live in :class:`synthetic.config.BiasSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
