"""The trained model: registry round trip, calibration, quality, direction, MLflow record."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.metrics import brier_score_loss

from features.build import write_feature_table
from features.snapshot import build_snapshot
from models.bands import BAND_ORDER, load_bands
from models.calibration import CALIBRATE_BY, Calibrator, group_keys
from models.candidates import directions
from models.risk_model import RiskModel
from tests.model.conftest import LEAD_MONTHS, Trained
from training.by_sex import SEX_VARIANTS

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("training")]


@pytest.fixture(scope="module")
def test_rows(trained: Trained) -> pd.DataFrame:
    return _rows_for(trained, trained.result.folds[-1].test)


def _probability(bundle, rows: pd.DataFrame) -> np.ndarray:
    return RiskModel(bundle).predict(None, rows)["probability"].to_numpy()


def _result(trained: Trained, candidate: str, fold: int = -1):
    name = trained.result.folds[fold].name
    return next(r for r in trained.result.results if r.fold == name and r.candidate == candidate)


def test_registry_round_trip_gives_identical_probabilities(
    trained: Trained, test_rows: pd.DataFrame
) -> None:
    mlflow.set_tracking_uri(trained.tracking_uri)
    mlflow.set_registry_uri(trained.tracking_uri)
    loaded = mlflow.pyfunc.load_model("models:/vru-victim@candidate")
    chosen = _result(trained, trained.result.chosen)
    # the features and the sex the estimate is calibrated by: nothing else is needed
    got = loaded.predict(test_rows[RiskModel(chosen.bundle).required_columns()])
    expected = _probability(chosen.bundle, test_rows)
    np.testing.assert_array_equal(got["probability"].to_numpy(), expected)
    assert set(got["band"]) <= set(BAND_ORDER)
    assert list(got.columns) == ["probability", "band"]


def test_the_registered_model_takes_the_projects_own_feature_tables(
    trained: Trained, test_rows: pd.DataFrame, tmp_path: Path
) -> None:
    """What MLflow documents, on what the project writes: the `vru features` Parquet read
    back with pandas (integers, floats with NaN, keys, labels and audit columns beside the
    inputs) and the in-memory snapshot (nullable Int64) both score, extra columns ignored."""
    mlflow.set_tracking_uri(trained.tracking_uri)
    mlflow.set_registry_uri(trained.tracking_uri)
    loaded = mlflow.pyfunc.load_model("models:/vru-victim@candidate")
    snapshot = build_snapshot(trained.data_dir, [trained.result.folds[-1].test], labels=True)
    path = write_feature_table(snapshot.table, tmp_path / "features.parquet")
    from_disk = pd.read_parquet(path)
    assert (from_disk.dtypes == "int64").any()
    assert (from_disk.dtypes == "float64").any()
    assert from_disk.isna().any().any(), "some days-since columns are missing on disk"
    expected = _probability(_result(trained, trained.result.chosen).bundle, snapshot.frame)
    for frame in (from_disk, snapshot.frame):
        got = loaded.predict(frame)
        assert len(got) == len(snapshot.frame)
        np.testing.assert_allclose(got["probability"].to_numpy(), expected, rtol=0, atol=1e-12)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def test_calibration_on_a_later_slice_repairs_an_overconfident_score(trained: Trained) -> None:
    """Stretch the tree's log-odds ×3 (overconfident); calibrating on the calibration slice
    must bring the held-out Brier score back down."""
    r = _result(trained, "lightgbm")
    fold = next(f for f in trained.result.folds if f.name == r.fold)
    calib_rows = _rows_for(trained, fold.calib)
    test_rows = _rows_for(trained, fold.test)
    stretched_calib = 3 * r.bundle.estimator.score(calib_rows)
    stretched_test = 3 * r.bundle.estimator.score(test_rows)
    calibrator = Calibrator(r.calibration).fit(
        stretched_calib, calib_rows["sv_victim_12m"].to_numpy(dtype=int)
    )
    y = test_rows["sv_victim_12m"].to_numpy(dtype=int)
    raw = brier_score_loss(y, _sigmoid(stretched_test))
    calibrated = brier_score_loss(y, calibrator.predict(stretched_test))
    assert calibrated < raw


def test_calibration_never_costs_much_on_held_out_data(trained: Trained) -> None:
    """Where the raw score already is a probability, calibrating on a later slice keeps the
    held-out Brier score within 1% of it (and usually improves it)."""
    for candidate in ("logistic", "lightgbm"):
        r = _result(trained, candidate)
        fold = next(f for f in trained.result.folds if f.name == r.fold)
        raw = _sigmoid(r.bundle.estimator.score(_rows_for(trained, fold.test)))
        assert brier_score_loss(r.y, r.probability) <= 1.01 * brier_score_loss(r.y, raw)


def test_the_estimate_is_calibrated_by_sex_within_cohort_and_sex_moves_nobody_on_a_list(
    trained: Trained,
) -> None:
    """Issue 21, finding 12: one map for everyone over-stated girls' risk relative to
    boys'. On the calibration slice each sex's estimates within each cohort add up to its
    outcomes; a girl's estimate is never above the same records read as a boy's (boys'
    rate is higher); two girls (or two boys) on one list keep the order the score gives
    them; and training records the comparison with one map and with sex as an input."""
    r = _result(trained, trained.result.chosen)
    fold = next(f for f in trained.result.folds if f.name == r.fold)
    model = RiskModel(r.bundle)
    assert model.calibrate_by == CALIBRATE_BY
    assert model.calibration_columns() == ["sex"]
    calib_rows = _rows_for(trained, fold.calib)
    p = _probability(r.bundle, calib_rows)
    y = calib_rows["sv_victim_12m"].to_numpy(dtype=int)
    groups = group_keys(calib_rows, CALIBRATE_BY)
    assert len(set(groups)) == 4
    for group in set(groups):
        mask = groups == group
        assert p[mask].sum() == pytest.approx(y[mask].sum(), rel=1e-3), group
    test_rows = _rows_for(trained, fold.test)
    as_girls = _probability(r.bundle, test_rows.assign(sex="female"))
    as_boys = _probability(r.bundle, test_rows.assign(sex="male"))
    assert np.all(as_girls <= as_boys)
    score = r.bundle.estimator.score(test_rows[r.bundle.features])
    actual = _probability(r.bundle, test_rows)
    test_groups = group_keys(test_rows, CALIBRATE_BY)
    for group in set(test_groups):
        mask = test_groups == group
        order = np.argsort(score[mask], kind="stable")
        assert np.all(np.diff(actual[mask][order]) >= -1e-12), group
    # without sex the model cannot say what its estimate means: refused, naming it
    with pytest.raises(KeyError, match="sex"):
        _probability(r.bundle, test_rows.drop(columns="sex"))
    table = trained.result.by_sex
    assert table is not None
    assert list(table["variant"]) == [v.key for v in SEX_VARIANTS]
    by = table.set_index("variant")["girls_calibration_recorded"]
    # one map for everyone over-states girls' risk; calibrating by sex brings it near 1
    assert by["one_map"] > 1.3
    assert abs(np.log(by["by_sex"])) < abs(np.log(by["one_map"]))
    client = MlflowClient(trained.tracking_uri)
    names = {a.path for a in client.list_artifacts(trained.result.run_id)}
    assert "calibration_by_sex.csv" in names
    card = Path(client.download_artifacts(trained.result.run_id, "model_card.md")).read_text()
    assert "## Calibration by sex" in card
    assert "sex as a model input" in card
    metrics = client.get_run(trained.result.run_id).data.metrics
    assert metrics["sex_one_map_girls_calibration_recorded"] == pytest.approx(by["one_map"])


def _rows_for(trained: Trained, as_of: dt.date) -> pd.DataFrame:
    frame = build_snapshot(trained.data_dir, [as_of], labels=True).frame
    return frame[frame["sv_victim_12m"].notna()]


def test_lightgbm_beats_the_rules_baseline_on_pr_auc(trained: Trained) -> None:
    for fold in range(len(trained.result.folds)):
        rules = _result(trained, "rules", fold).metrics["pr_auc"]
        tree = _result(trained, "lightgbm", fold).metrics["pr_auc"]
        assert tree.value > rules.value
        assert tree.low > rules.value, "the tree's interval should clear the baseline"


@pytest.mark.parametrize("candidate", ["logistic", "lightgbm", "ebm"])
def test_every_candidate_respects_every_declared_direction(
    trained: Trained, test_rows: pd.DataFrame, candidate: str
) -> None:
    """More of a risk record never lowers the estimate; a longer time since the last record
    (or a first record at an older age) never raises it — and "never" sits at the far end."""
    estimator = _result(trained, candidate).bundle.estimator
    rows = test_rows[estimator.features_]
    before = estimator.score(rows)
    moved = 0
    for feature, direction in zip(
        estimator.features_, directions(estimator.features_), strict=True
    ):
        if direction == 0:
            continue
        more = rows.copy()
        if direction > 0:
            more[feature] = more[feature] + 1
        else:  # the last record a year more recent (or the first a year younger); "never"
            # becomes a record long ago (or a first record at 24)
            values = more[feature].astype(float)
            step, far = (1.0, 24.0) if feature.endswith("_first_age") else (365.0, 9_000.0)
            more[feature] = np.where(values.isna(), far, np.maximum(values - step, 0.0))
        after = estimator.score(more)
        # every move above is towards more risk: the score may only rise
        assert np.all(after - before >= -1e-9), feature
        moved += int(np.any(np.abs(after - before) > 1e-9))
    assert moved >= 5, "the constraints should still let many inputs matter"


def test_the_unconstrained_comparison_is_reported_never_chosen(trained: Trained) -> None:
    names = {r.candidate for r in trained.result.results}
    assert {"logistic (unconstrained)", "lightgbm (unconstrained)"} <= names
    assert "unconstrained" not in trained.result.chosen
    constrained = _result(trained, "lightgbm")
    free = _result(trained, "lightgbm (unconstrained)")
    # the directions remove (almost) all contribution that runs against them
    assert constrained.directions["against_share"] < free.directions["against_share"]
    assert constrained.directions["against_share"] <= 0.05


def test_bands_sit_at_the_policy_edges_and_are_told_apart(trained: Trained) -> None:
    """Issue 20: bands start at the band policy's absolute edges (never at shares of the
    population); each band kept has an observed rate whose 95% interval lies wholly
    above the band below's; whatever was merged is said."""
    bundle = _result(trained, trained.result.chosen).bundle
    policy, _ = load_bands()
    edges = policy.outcomes[bundle.outcome].edges()
    names = [b.name for b in bundle.bands]
    assert names[0] == "low"
    assert names == [n for n in BAND_ORDER if n in names]
    kept_and_merged = [n for b in bundle.bands for n in (b.name, *b.merged)]
    assert sorted(kept_and_merged, key=BAND_ORDER.index) == list(edges)
    assert [b.lower for b in bundle.bands] == [edges[n] for n in names]
    for below, above in zip(bundle.bands, bundle.bands[1:], strict=False):
        assert above.interval()[0] > below.interval()[1], (below, above)
        assert above.people >= policy.minimum_people
    assert bundle.trained_on["band_policy"] == policy.version
    assert "young people with similar records" in bundle.bands[-1].meaning("victim")


def test_models_come_close_to_the_truth_ceiling(trained: Trained) -> None:
    truth = _result(trained, "lightgbm").truth
    assert 0.5 < truth["ratio_to_ceiling_auc"] <= 1.05
    assert truth["ceiling_roc_auc"] > truth["true_roc_auc"] - 0.05


def test_the_ceiling_knows_only_the_as_of_state(trained: Trained, tmp_path: Path) -> None:
    """The honest ceiling is the as-of month's hazard carried forward: rewriting the true
    hazards of later months inside the window moves the realised-path oracle, never it."""
    import shutil

    from training.evaluate import truth_for

    as_of = trained.result.folds[-1].test
    people = pd.read_parquet(
        trained.data_dir / "truth" / "person_months.parquet", columns=["person_id"]
    )["person_id"].drop_duplicates()
    before = truth_for(trained.data_dir, "victim", as_of, people)
    assert before is not None
    changed = tmp_path / "changed"
    shutil.copytree(trained.data_dir / "truth", changed / "truth")
    months = pd.read_parquet(changed / "truth" / "person_months.parquet")
    later = pd.to_datetime(months["month"]) > pd.Timestamp(as_of)
    months.loc[later, "p_sv_victim"] = 0.5
    months.to_parquet(changed / "truth" / "person_months.parquet")
    after = truth_for(changed, "victim", as_of, people)
    assert after is not None
    np.testing.assert_allclose(after["ceiling_probability"], before["ceiling_probability"])
    assert (after["oracle_probability"] > before["oracle_probability"] + 0.1).mean() > 0.5
    # carried forward: 1 − (1 − h)^12 from the as-of month's hazard
    at = months[pd.to_datetime(months["month"]) == pd.Timestamp(as_of)]
    hazard = at.set_index("person_id")["p_sv_victim"].astype(float)
    some = before.set_index("person_id").loc[hazard.index[:50], "ceiling_probability"]
    np.testing.assert_allclose(some, 1 - (1 - hazard.iloc[:50].clip(upper=0.999999)) ** 12)


def test_each_list_is_ranked_within_its_own_cohort_against_the_ceiling(trained: Trained) -> None:
    from features.vocabulary import LISTS
    from training.lists import CEILING, COHORT_ONLY

    lists = trained.result.lists
    chosen = trained.result.chosen
    for fold in trained.result.folds:
        here = lists[lists["fold"] == fold.name]
        early = here[here["list"] == "early"].set_index("ranked_by")
        known = here[here["list"] == "known"].set_index("ranked_by")
        for option in ("rules", "logistic", "lightgbm", COHORT_ONLY, CEILING):
            assert option in early.index, option
        assert COHORT_ONLY not in known.index  # trained on the other cohort
        # capacity 25 per authority on the known list, the early list's default of 20
        assert early.loc[chosen, "named"] == 5 * LISTS["early"].default_capacity
        assert known.loc[chosen, "named"] <= 5 * 25
        assert early.loc[CEILING, "ratio_to_ceiling"] == pytest.approx(1.0)
        # the early cohort is nearly everyone and far rarer than the known one
        assert early.loc[chosen, "cohort_size"] > 10 * known.loc[chosen, "cohort_size"]
        assert early.loc[chosen, "base_rate"] < known.loc[chosen, "base_rate"] / 5
        # the model finds the not-yet-involved far above their base rate, above the rules
        assert early.loc[chosen, "precision"] > 3 * early.loc[chosen, "base_rate"]
    pooled = lists[lists["list"] == "early"].groupby("ranked_by")[["involved", "named"]].sum()
    assert pooled.loc[chosen, "involved"] > pooled.loc["rules", "involved"]


def test_mlflow_holds_everything_an_analyst_needs(trained: Trained) -> None:
    client = MlflowClient(tracking_uri=trained.tracking_uri, registry_uri=trained.tracking_uri)
    run = client.get_run(trained.result.run_id)
    for key in (
        "roc_auc",
        "pr_auc",
        "brier",
        "ece",
        "precision_at_capacity",
        "lift_at_capacity",
        "ratio_to_ceiling_auc",
        "early_precision_at_capacity",
        "early_rules_precision_at_capacity",
        "early_ceiling_precision_at_capacity",
        "early_ratio_to_ceiling",
        "known_precision_at_capacity",
    ):
        assert key in run.data.metrics, key
    for tag in ("data_fingerprint", "git_commit", "chosen_candidate"):
        assert run.data.tags.get(tag), tag
    assert len(run.data.tags["data_fingerprint"]) == 64
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    for artifact in (
        "model_card.md",
        "comparison.csv",
        "roc.png",
        "pr.png",
        "calibration.png",
        "precision_at_capacity.png",
        "shap_summary.png",
        "domain_importance.png",
        "bands.csv",
        "lists.csv",
    ):
        assert artifact in names, artifact
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    assert sorted(c.data.tags["mlflow.runName"] for c in children) == sorted(
        f.name for f in trained.result.folds
    )
    version = client.get_model_version_by_alias("vru-victim", "candidate")
    assert str(version.version) == trained.result.registered_version
    assert version.tags["fairness_gate"] == "not run"
    model_info = mlflow.models.get_model_info(f"models:/vru-victim/{version.version}")
    assert model_info.signature is not None
    assert model_info.saved_input_example_info is not None


def test_model_card_says_what_it_is_not_for(trained: Trained, tmp_path) -> None:
    client = MlflowClient(tracking_uri=trained.tracking_uri)
    path = client.download_artifacts(trained.result.run_id, "model_card.md", str(tmp_path))
    card = Path(path).read_text()
    for heading in (
        "## Intended use",
        "## Not for",
        "## Data",
        "## The two lists",
        "## Fairness",
        "## Caveats",
    ):
        assert heading in card
    assert "prompt for professional review" in card
    assert "- ROC AUC " in card
    assert "–" in card  # every metric comes with its interval


def test_risk_model_explains_its_highest_estimates(
    trained: Trained, test_rows: pd.DataFrame
) -> None:
    mlflow.set_tracking_uri(trained.tracking_uri)
    mlflow.set_registry_uri(trained.tracking_uri)
    model = mlflow.pyfunc.load_model("models:/vru-victim@candidate").unwrap_python_model()
    scored = model.predict(None, test_rows)
    top = test_rows.loc[scored["probability"].nlargest(20).index]
    explanations = model.explain(top)
    assert len(explanations) == 20
    as_of = pd.Timestamp(test_rows["as_of"].iloc[0]).date().isoformat()
    for e in explanations:
        assert e.band in ("high", "very high")
        assert e.reasons, "a high estimate must come with reasons"
        assert all(r.contribution > 0 for r in e.reasons)
        assert all(r.latest is None or r.latest < as_of for r in e.reasons)
        assert "latest" in e.reasons[0].sentence
        assert e.probability == pytest.approx(
            scored.loc[top.index[explanations.index(e)], "probability"]
        )
    contrib = model.contributions(top)
    margin = contrib.base + contrib.values.sum(axis=1).to_numpy()
    np.testing.assert_allclose(margin, contrib.margin, atol=1e-6)


def test_vru_explain_prints_reasons_for_a_person(
    trained: Trained, test_rows: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from vru.cli import app

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained.tracking_uri)
    person = str(test_rows["person_id"].iloc[0])
    as_of = pd.Timestamp(test_rows["as_of"].iloc[0]).date().isoformat()
    result = CliRunner().invoke(
        app,
        ["explain", "--data", str(trained.data_dir), "--as-of", as_of, "--person", person],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert person in result.output
    assert "prompt for professional review" in result.output
    missing = CliRunner().invoke(
        app, ["explain", "--data", str(trained.data_dir), "--as-of", as_of, "--person", "nobody"]
    )
    assert missing.exit_code == 2
    assert "is not on the" in missing.stderr


def test_explanations_carry_the_probability_of_predict_and_check_their_margin(
    trained: Trained, test_rows: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One decision path: an explanation states exactly the probability `predict` gives,
    and refuses to explain when its contributions do not add up to the scored margin."""
    import copy

    from models.risk_model import ExplanationMismatchError

    for candidate in ("logistic", "lightgbm"):
        bundle = copy.deepcopy(_result(trained, candidate).bundle)
        model = RiskModel(bundle)
        rows = test_rows.head(40)
        predicted = model.predict(None, rows)
        explained = model.explain(rows)
        assert [e.probability for e in explained] == predicted["probability"].tolist()
        assert [e.band for e in explained] == predicted["band"].tolist()
        scored = bundle.estimator.score
        monkeypatch.setattr(bundle.estimator, "score", lambda X, f=scored: f(X) + 0.5)
        with pytest.raises(ExplanationMismatchError, match="disagrees"):
            model.explain(rows)


def test_lead_time_is_measured_with_a_model_that_never_saw_the_backtest(trained: Trained) -> None:
    leads = trained.result.lead_time
    assert leads is not None
    first_test = trained.result.folds[0].test
    assert leads.months[0] == first_test
    assert len(leads.months) == LEAD_MONTHS
    # the backtest model is the earliest test fold's: all its labels close by the first month
    fold = trained.result.folds[0]
    assert max(fold.train) < fold.valid < fold.calib < first_test
    table = leads.table().set_index("scorer")
    assert set(table.index) == {"model", "rules"}
    assert table.loc["model", "events"] == table.loc["rules", "events"] > 0
    # the model names more of those who later become involved, and earlier, than the rules
    assert table.loc["model", "flagged"] > table.loc["rules", "flagged"]
    for k in (3, 6, 12):
        assert table.loc["model", f"eligible_{k}"] <= table.loc["model", "events"]
    client = MlflowClient(tracking_uri=trained.tracking_uri)
    metrics = client.get_run(trained.result.run_id).data.metrics
    assert metrics["lead_model_share_flagged"] == pytest.approx(table.loc["model", "share_flagged"])
    card = Path(
        client.download_artifacts(trained.result.run_id, "model_card.md", str(trained.data_dir))
    ).read_text()
    assert "## Lead time" in card
