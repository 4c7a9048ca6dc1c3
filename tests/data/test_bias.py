"""--no-bias: the same true world, recorded without bias.

Every recording bias (B1–B5) is a setting; switching all of them off must leave
the truth byte-identical and move recorded rates by group in the direction
each setting says.
"""

from __future__ import annotations

import pandas as pd
import pytest

from synthetic.generate import SyntheticDataset

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("population")]


def test_truth_is_identical_without_bias(
    population_pair: tuple[SyntheticDataset, SyntheticDataset],
) -> None:
    biased, unbiased = population_pair
    # who the historic panels helped is an agency's action on what was recorded, so it
    # differs with the bias; their help does nothing in this pair, so the world does not
    for name in set(biased.truth) - {"interventions"}:
        assert biased.truth[name].equals(unbiased.truth[name]), name
    assert biased.raw["people"].equals(unbiased.raw["people"])


def _frames(data: SyntheticDataset) -> dict[str, pd.DataFrame]:
    frames = {k: v.to_pandas() for k, v in data.raw.items()}
    people = frames["people"].set_index("person_id")
    for name in ("school_events", "agency_contacts", "incidents"):
        frames[name] = frames[name].join(people, on="person_id")
    frames["people"] = people
    return frames


@pytest.fixture(scope="module")
def worlds(
    population_pair: tuple[SyntheticDataset, SyntheticDataset],
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    biased, unbiased = population_pair
    return _frames(biased), _frames(unbiased)


def _stop_ratio(f: dict[str, pd.DataFrame]) -> float:
    c = f["agency_contacts"]
    stops = c[c["contact_type"] == "stop_and_search"].groupby("ethnicity").size()
    people = f["people"]["ethnicity"].value_counts()
    rate = stops / people
    return float(rate["Black"] / rate["White"])


def test_b1_stop_and_search_disparity_shrinks(worlds) -> None:
    biased, unbiased = worlds
    assert _stop_ratio(biased) > 4.0
    # without B1 only true pathways (deprivation, neighbourhood) remain
    assert 1.0 < _stop_ratio(unbiased) < 2.0


def test_b4_every_true_violent_event_is_recorded_without_bias(
    population_pair: tuple[SyntheticDataset, SyntheticDataset],
    worlds,
) -> None:
    biased_data = population_pair[0]
    true_events = biased_data.truth["events"].to_pandas()
    true_sv_victims = (true_events["kind"] == "sv_victimisation").sum()
    recorded = {}
    for name, f in zip(("biased", "unbiased"), worlds, strict=True):
        i = f["incidents"]
        recorded[name] = ((i["role"] == "victim") & i["serious_violence"]).sum()
    assert recorded["biased"] / true_sv_victims < 0.6
    # all but those recorded after the extract date
    assert recorded["unbiased"] / true_sv_victims > 0.98


def test_b2_b3_known_children_lose_their_recording_penalty(worlds) -> None:
    """Suspects already known to police or social care are recorded more often only with bias."""
    biased, unbiased = worlds
    ratio = {}
    for name, f in (("biased", biased), ("unbiased", unbiased)):
        i = f["incidents"]
        suspects = i[(i["role"] == "suspect")].groupby("person_id").size()
        ratio[name] = len(suspects)
    # without B2/B3 (and with complete recording) more distinct suspects appear
    assert ratio["unbiased"] > 1.5 * ratio["biased"]


def _pex_rate(f: dict[str, pd.DataFrame], details: tuple[str, ...]) -> float:
    s = f["school_events"]
    pex = s[(s["event_type"] == "permanent_exclusion") & s["ethnicity_detail"].isin(details)]
    n = f["people"]["ethnicity_detail"].isin(details).sum()
    return len(pex) / n


CARIBBEAN_HERITAGE = ("BCRB", "MWBC")


def test_b5_exclusion_disparity_for_the_same_behaviour_disappears(worlds) -> None:
    biased, unbiased = worlds
    excess_biased = _pex_rate(biased, CARIBBEAN_HERITAGE) / _pex_rate(biased, ("WBRI",))
    excess_unbiased = _pex_rate(unbiased, CARIBBEAN_HERITAGE) / _pex_rate(unbiased, ("WBRI",))
    # permanent exclusion is rare (tens of events here): B5 is 1.6-1.7, noise is wide
    assert excess_biased > 1.25 * excess_unbiased
    s_b, s_u = biased["school_events"], unbiased["school_events"]
    travellers_b = ((s_b["ethnicity_detail"] == "WIRT") & (s_b["event_type"] == "suspension")).sum()
    travellers_u = ((s_u["ethnicity_detail"] == "WIRT") & (s_u["event_type"] == "suspension")).sum()
    assert travellers_b > 2 * travellers_u


def _recording_ratio(
    f: dict[str, pd.DataFrame], true_events: pd.DataFrame, group: set[str]
) -> float:
    """Recorded SV suspect roles per true SV perpetration, inside vs outside ``group``."""
    i = f["incidents"]
    recorded = i.loc[(i["role"] == "suspect") & i["serious_violence"], "person_id"]
    true = true_events.loc[true_events["kind"] == "sv_perpetration", "person_id"]
    inside = recorded.isin(group).sum() / true.isin(group).sum()
    outside = (~recorded.isin(group)).sum() / (~true.isin(group)).sum()
    return float(inside / outside)


@pytest.mark.parametrize(
    ("bias", "contact_type"), [("B2", "stop_and_search"), ("B3", "child_in_need")]
)
def test_b2_b3_known_children_are_recorded_more_only_with_bias(
    population_pair: tuple[SyntheticDataset, SyntheticDataset],
    worlds,
    bias: str,
    contact_type: str,
) -> None:
    """The label an audit sees: for the same true offending, children already known to
    police (B2) or social care (B3) are recorded as suspects more often."""
    true_events = population_pair[0].truth["events"].to_pandas()
    ratios = []
    for f in worlds:
        c = f["agency_contacts"]
        known = set(c.loc[c["contact_type"] == contact_type, "person_id"])
        ratios.append(_recording_ratio(f, true_events, known))
    assert ratios[0] > 1.1, bias
    assert abs(ratios[1] - 1.0) < 0.03, bias
