"""Explanations: exact additivity, determinism, golden sentences, no protected characteristic."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.registry import AUDIT_ONLY, REGISTRY, model_inputs
from models.candidates import (
    EBMCandidate,
    LightGBMCandidate,
    LogisticCandidate,
    RulesBaseline,
    directions,
)
from models.explain import (
    AdditivityError,
    Contributions,
    check_additivity,
    contributions,
    linear_contributions,
    tree_contributions,
)
from models.reasons import CAVEAT, NO_FACTORS, build_explanation, sentence_for


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    """A small synthetic feature frame with a signal in a few features."""
    rng = np.random.default_rng(0)
    n = 3000
    frame = pd.DataFrame(0, index=range(n), columns=model_inputs(), dtype="int64")
    frame["demo_asof_age_years"] = rng.integers(10, 25, n)
    for name in (
        "incidents_365d_sv_victim_count",
        "incidents_365d_victim_count",
        "school_365d_suspension_count",
        "contacts_365d_missing_count",
    ):
        frame[name] = rng.poisson(0.3, n)
    frame["incidents_all_victim_days_since_last"] = pd.array(
        np.where(frame["incidents_365d_victim_count"] > 0, rng.integers(1, 365, n), None),
        dtype="Int64",
    )
    logit = (
        -4
        + 1.2 * frame["incidents_365d_sv_victim_count"]
        + 0.5 * frame["school_365d_suspension_count"]
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, y


@pytest.fixture(scope="module")
def tree(data: tuple[pd.DataFrame, np.ndarray]) -> LightGBMCandidate:
    X, y = data
    return LightGBMCandidate(n_estimators=60, min_child_samples=20).fit(X, y, X, y)


def test_tree_contributions_add_up_to_the_margin(
    data: tuple[pd.DataFrame, np.ndarray], tree: LightGBMCandidate
) -> None:
    X, _ = data
    c = tree_contributions(tree, X, "native")
    total = c.base + c.values.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, tree.score(X), atol=1e-9)
    check_additivity(c)


def test_native_and_shap_treeshap_agree(
    data: tuple[pd.DataFrame, np.ndarray], tree: LightGBMCandidate
) -> None:
    X, _ = data
    native = tree_contributions(tree, X.head(300), "native")
    via_shap = tree_contributions(tree, X.head(300), "shap")
    np.testing.assert_allclose(native.values.to_numpy(), via_shap.values.to_numpy(), atol=1e-8)
    np.testing.assert_allclose(native.base, via_shap.base, atol=1e-8)


def test_linear_contributions_add_up_and_keep_the_declared_signs(
    data: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = data
    model = LogisticCandidate().fit(X, y)
    c = linear_contributions(model, X)
    assert list(c.values.columns) == list(X.columns)
    check_additivity(c)
    signs = directions(model.features_)
    n = len(model.features_)
    assert np.all(model.coef_[:n][signs > 0] >= 0)
    assert np.all(model.coef_[:n][signs < 0] <= 0)
    indicators = model.coef_[n : n + len(model.never_columns_)]
    assert np.all(indicators <= 0), "never recorded may only lower the estimate"
    # age ("either") has a free shape: its spline columns are credited to age alone
    age = model.features_.index("demo_asof_age_years")
    assert model.shape_columns_ == [age]
    assert set(model.credit_[n + len(model.never_columns_) :]) == {age}
    assert len(model.credit_) == len(model.coef_)
    # "never recorded as a victim" is read as the longest time since: it can only lower
    never = X["incidents_all_victim_days_since_last"].isna().to_numpy()
    days = c.values["incidents_all_victim_days_since_last"].to_numpy()
    assert np.all(days[never] <= 1e-12)
    assert np.all(days[never] <= days[~never].min() + 1e-12)
    # without the directions the same data can give a sign the registry forbids
    free = LogisticCandidate(constrained=False).fit(X, y)
    assert free.coef_.shape == model.coef_.shape


def test_ebm_contributions_are_its_terms_and_add_up(
    data: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = data
    model = EBMCandidate(outer_bags=1, max_rounds=200).fit(X, y)
    c = contributions(model, X.head(400))
    check_additivity(c)
    assert list(c.values.columns) == list(X.columns)
    # the strongest signal of the data is what the terms carry most
    top = c.values.abs().sum().idxmax()
    assert top in {"incidents_365d_sv_victim_count", "school_365d_suspension_count"}


def test_rules_contributions_are_the_points_that_fired(
    data: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, _ = data
    rules = RulesBaseline().fit(X)
    c = contributions(rules, X)
    fired = X["incidents_365d_sv_victim_count"] >= 1
    assert (c.values.loc[fired, "incidents_365d_sv_victim_count"] == 3).all()
    np.testing.assert_array_equal(c.values.sum(axis=1).to_numpy(), rules.score(X))


def test_additivity_check_catches_a_gap() -> None:
    c = Contributions(np.zeros(2), pd.DataFrame({"a": [1.0, 2.0]}), np.array([1.0, 2.5]))
    with pytest.raises(AdditivityError, match="miss the margin"):
        check_additivity(c)


def test_explanations_are_deterministic(
    data: tuple[pd.DataFrame, np.ndarray], tree: LightGBMCandidate
) -> None:
    X, _ = data
    a = tree_contributions(tree, X.head(50))
    b = tree_contributions(tree, X.head(50))
    pd.testing.assert_frame_equal(a.values, b.values)


GOLDEN_ROW = {
    "person_id": "YP0000001",
    "as_of": pd.Timestamp("2024-04-01"),
    "school_365d_suspension_count": 3,
    "school_all_suspension_days_since_last": 30,  # latest suspension 2024-03-02
    "incidents_365d_sv_victim_count": 1,
    "incidents_all_sv_victim_days_since_last": 100,  # 2023-12-23
    "contacts_asof_looked_after_flag": 0,
    "contacts_all_looked_after_start_days_since_last": None,
    "demo_asof_age_years": 15,
    "incidents_all_suspect_days_since_last": None,
    "sex": "male",
    "ethnicity": "Black",
}
GOLDEN_CONTRIBUTIONS = {
    "school_365d_suspension_count": 0.8,
    "incidents_365d_sv_victim_count": 1.3,
    "demo_asof_age_years": 0.1,
    "contacts_asof_looked_after_flag": -0.2,
    "incidents_all_suspect_days_since_last": -0.4,
}


def _registry() -> dict[str, dict[str, object]]:
    return {
        name: {
            "template": REGISTRY[name].template,
            "domain": REGISTRY[name].domain,
            "latest_from": REGISTRY[name].latest_from,
            "absent": REGISTRY[name].absent,
            "direction": REGISTRY[name].direction,
        }
        for name in GOLDEN_CONTRIBUTIONS
    }


def test_golden_explanation_of_a_hand_built_record() -> None:
    e = build_explanation(
        outcome="victim",
        row=GOLDEN_ROW,
        contributions=GOLDEN_CONTRIBUTIONS,
        registry=_registry(),
        probability=0.084,
        band="high",
        band_meaning="about 8 in 100 young people with similar records were victims of "
        "serious violence within 12 months",
        data_as_of={"school_events": dt.date(2024, 3, 28), "incidents": dt.date(2024, 3, 31)},
    )
    assert [r.sentence for r in e.reasons] == [
        "1 time recorded as a victim of serious violence in the last 12 months — police "
        "records, latest 2023-12-23",
        "3 suspensions in the last 12 months — school records, latest 2024-03-02",
        "aged 15 at the time of this assessment",
    ]
    assert [r.sentence for r in e.protective] == [
        "never recorded as a suspect (police records)",
        "not looked after now (social care records)",
    ]
    assert e.domains == {"demographic": 0.1, "education": 0.8, "police": 0.9, "social care": -0.2}
    text = e.text()
    # the band and its meaning first; the individual estimate after, with its interval
    assert text.splitlines()[0] == (
        "Risk of being the victim of serious violence within 12 months: band 'high' — "
        "about 8 in 100 young people with similar records were victims of serious violence "
        "within 12 months."
    )
    assert text.splitlines()[1] == "This young person's own estimate is 8.4%."
    # each source's date, in what the estimate draws on (features.coverage)
    assert "  • school records, to 2024-03-28: " in text
    assert "  • police records, to 2024-03-31: " in text
    assert text.endswith(CAVEAT)


def test_a_risk_record_pushing_the_estimate_down_is_folded_never_shown() -> None:
    """3 suspensions with a negative contribution (an artefact of correlated inputs) is not
    a protective factor: it goes to "other factors", counted, and out of the domain sums."""
    against = {**GOLDEN_CONTRIBUTIONS, "school_365d_suspension_count": -0.3}
    e = build_explanation(
        outcome="victim",
        row=GOLDEN_ROW,
        contributions=against,
        registry=_registry(),
        probability=0.084,
        band="high",
        band_meaning="x",
        interval=(0.05, 0.12),
        band_range=(0.041, 0.15),
    )
    shown = {r.feature for r in [*e.reasons, *e.protective]}
    assert "school_365d_suspension_count" not in shown
    assert e.folded == 1
    assert e.other_factors == pytest.approx(-0.3)
    assert "education" not in e.domains
    # still shown: the absence of a suspect record and of care lowers it, as declared
    assert "never recorded as a suspect (police records)" in [r.sentence for r in e.protective]
    # the individual estimate with its interval, placed within the band it belongs to
    assert e.text().splitlines()[1] == (
        "This young person's own estimate is 8.4% (likely between 5.0% and 12%), in a band "
        "that holds estimates from 4.1% to 15%: the band's rate is the average of everyone "
        "in it."
    )


def test_reasons_never_mention_an_audit_only_column() -> None:
    e = build_explanation(
        outcome="victim",
        row=GOLDEN_ROW,
        contributions=GOLDEN_CONTRIBUTIONS,
        registry=_registry(),
        probability=0.084,
        band="high",
        band_meaning="x",
    )
    words = " ".join(r.sentence for r in [*e.reasons, *e.protective]).lower()
    for column in AUDIT_ONLY:
        assert column not in {r.feature for r in [*e.reasons, *e.protective]}
    for value in ("male", "black", "ethnic", "deprivation", "free school meals"):
        assert value not in words


def test_a_record_with_no_history_gets_a_sensible_explanation() -> None:
    row = {
        "person_id": "YP0000002",
        "as_of": pd.Timestamp("2024-04-01"),
        "school_365d_suspension_count": 0,
        "incidents_365d_sv_victim_count": 0,
        "demo_asof_age_years": 11,
        "contacts_asof_looked_after_flag": 0,
        "incidents_all_suspect_days_since_last": None,
    }
    contrib = {
        "school_365d_suspension_count": 0.05,
        "incidents_365d_sv_victim_count": -0.6,
        "demo_asof_age_years": -0.3,
        "contacts_asof_looked_after_flag": -0.1,
        "incidents_all_suspect_days_since_last": -0.2,
    }
    e = build_explanation(
        outcome="perpetrator",
        row=row,
        contributions=contrib,
        registry=_registry(),
        probability=0.0004,
        band="low",
        band_meaning="fewer than 1 in 1,000 …",
    )
    assert e.reasons == []  # an absence is never a reason for concern
    assert e.summary == NO_FACTORS
    assert NO_FACTORS in e.text()
    assert e.protective[0].sentence == (
        "not recorded as a victim of serious violence in the last 12 months (police records)"
    )


@pytest.mark.parametrize(
    ("name", "value", "latest", "expected"),
    [
        (
            "school_365d_suspension_escalation",
            -2,
            "2024-01-01",
            "2 fewer suspensions in the last 12 months than in the 12 months before — school "
            "records, latest 2024-01-01",
        ),
        (
            "school_365d_suspension_escalation",
            0,
            None,
            "no change in suspensions year on year (school records)",
        ),
        (
            "contacts_asof_looked_after_flag",
            1,
            "2022-05-01",
            "looked after (in care) at the time of this assessment — social care records, since "
            "2022-05-01",
        ),
        (
            "school_all_exclusion_first_age",
            12,
            "2023-02-02",
            "first suspended or excluded at age 12 — school records, latest 2023-02-02",
        ),
        (
            "contacts_365d_stop_search_count",
            2,
            None,
            "2 police stops and searches in the last 12 months — multi-agency records, latest "
            "date not recorded",
        ),
    ],
)
def test_sentences(name: str, value: object, latest: str | None, expected: str) -> None:
    info = {"template": REGISTRY[name].template, "absent": REGISTRY[name].absent}
    assert sentence_for(name, info, value, latest) == expected


def test_a_row_with_nothing_filled_in_still_gets_a_finite_score(
    data: tuple[pd.DataFrame, np.ndarray], tree: LightGBMCandidate
) -> None:
    """A missing count reads as no record, a missing "days since" as never, a missing age
    as the training median: every candidate scores it (the service's /score may send it)."""
    X, y = data
    empty = pd.DataFrame(np.nan, index=[0], columns=X.columns)
    for model in (tree, LogisticCandidate().fit(X, y)):
        assert np.isfinite(model.score(empty)).all()
        read = model.prepare(empty)[0]
        columns = list(X.columns)
        assert read[columns.index("school_365d_suspension_count")] == 0
        assert read[columns.index("incidents_all_victim_days_since_last")] == 10_000
        assert 10 <= read[columns.index("demo_asof_age_years")] <= 24


def test_a_count_of_one_reads_in_the_singular() -> None:
    """ "1 agency involved", "1 time recorded as a victim": never "1 agencies"."""
    from features.registry import REGISTRY
    from models.reasons import sentence_for

    counted = [
        (name, info)
        for name, info in REGISTRY.items()
        if info.model_input and info.template.startswith("{value} ")
    ]
    assert len(counted) > 40
    for name, info in counted:
        one = sentence_for(name, {"template": info.template}, 1, "2024-05-01")
        two = sentence_for(name, {"template": info.template}, 2, "2024-05-01")
        words = one.removeprefix("1 ").split(" ")[:2]
        assert not any(w.endswith(("es", "ies")) or w in {"times", "days"} for w in words), one
        assert one.removeprefix("1 ") != two.removeprefix("2 "), two


def test_a_rise_or_fall_of_one_reads_in_the_singular() -> None:
    """ "1 fewer suspension", "1 more missing episode": never "1 fewer suspensions"."""
    escalations = [
        (name, {"template": info.template, "absent": info.absent})
        for name, info in REGISTRY.items()
        if info.model_input and name.endswith("_escalation")
    ]
    assert len(escalations) >= 3
    for name, entry in escalations:
        one_more, one_fewer, two_more, two_fewer = (
            sentence_for(name, entry, value, "2024-05-01") for value in (1, -1, 2, -2)
        )
        assert one_more.startswith("1 more "), one_more
        assert one_fewer.startswith("1 fewer "), one_fewer
        assert two_more.startswith("2 more "), two_more
        assert two_fewer.startswith("2 fewer "), two_fewer
        # a rise and a fall of the same size read the same after "more" or "fewer"
        assert one_more.removeprefix("1 more ") == one_fewer.removeprefix("1 fewer ")
        assert two_more.removeprefix("2 more ") == two_fewer.removeprefix("2 fewer ")
        singular = one_fewer.removeprefix("1 fewer ").split(" in the last ")[0]
        plural = two_fewer.removeprefix("2 fewer ").split(" in the last ")[0]
        assert plural.endswith("s"), plural
        assert not singular.endswith("s"), singular
        assert plural.startswith(singular), (singular, plural)


def test_an_estimate_never_reads_as_a_certainty_or_an_empty_interval() -> None:
    """Issue 20: a pack showed "100% (likely between 95% and 100%)" and the page "likely
    between under 0.1% and under 0.1%"."""
    from models.reasons import Explanation, percent

    assert percent(0.999) == "over 99%"
    assert percent(0.994) == "99%"
    assert percent(0.0004) == "under 0.1%"
    assert percent(0.034) == "3.4%"

    def sentence(interval: tuple[float, float]) -> str:
        return Explanation(
            None, None, "victim", 0.0005, "low", "", [], [], {}, {}, probability_interval=interval
        ).estimate_sentence()

    assert "likely between" not in sentence((0.0002, 0.0008))
    assert "(likely between under 0.1% and 0.2%)" in sentence((0.0002, 0.002))
