"""Train, compare and register one outcome's model.

For each temporal fold: fit the candidates on the training snapshots, stop
LightGBM early on the validation snapshot, choose and fit the calibration on
later snapshots, then score the held-out test snapshot. Everything goes to
MLflow (one parent run, a nested run per fold); the best candidate of the latest
fold is packaged as :class:`models.risk_model.RiskModel`, registered as
``vru-<outcome>`` and given the alias ``candidate``.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from features.labels import label_window_end
from features.registry import REGISTRY, model_inputs
from features.snapshot import Tables, load_tables
from features.vocabulary import OUTCOMES, cohort_of
from models.bands import fit_bands, load_bands
from models.calibration import CALIBRATE_BY, RESAMPLES, Calibrator, choose_method, group_keys
from models.candidates import (
    UNCONSTRAINED,
    EBMCandidate,
    LightGBMCandidate,
    LogisticCandidate,
    RulesBaseline,
)
from models.panels import PanelCapacity, as_capacity, within_capacity
from models.registry import Registry, configure_tracking
from models.risk_model import ModelBundle, RiskModel
from training.by_sex import sex_comparison
from training.evaluate import (
    Interval,
    bootstrap_metrics,
    top_band_calibration,
    truth_for,
    truth_metrics,
)
from training.leadtime import LeadTimeResult, backtest, backtest_months
from training.lists import COHORT_ONLY, fit_cohort_only, list_table
from training.results import CandidateResult, TrainResult
from training.snapshots import BUILD_ROWS, WEIGHT, CaseControl, SnapshotStore
from training.splits import Fold, make_folds, yearly_as_of
from training.tracking import (
    NOTE_TAG,
    describe_experiment,
    git_commit,
    headline_metrics,
    log_fold,
    log_model,
    model_description,
    run_note,
    version_description,
    write_review,
)

__all__ = [
    "CANDIDATES",
    "capacity_markdown",
    "comparison_table",
    "default_dates",
    "lead_metrics",
    "lead_text",
    "lead_time",
    "list_metrics",
    "run_fold",
    "train_outcome",
]

CANDIDATES = ("rules", "logistic", "lightgbm", "ebm")
#: the candidates also fitted without the declared directions: what the constraints
#: cost, reported beside them and never chosen
UNCONSTRAINED_OF = ("logistic", "lightgbm")
COMPARED = tuple(UNCONSTRAINED.format(name=n) for n in UNCONSTRAINED_OF)
#: months of the lead-time backtest (monthly early lists from the first test as-of)
LEAD_MONTHS = 24
#: early-list capacities per local authority at which lead time is also measured
LEAD_CAPACITIES = (10, 20, 50, 100)


def _fit_candidate(
    name: str, train: pd.DataFrame, valid: pd.DataFrame, features: list[str], label: str
) -> Any:
    """Fit one candidate (``"<name> (unconstrained)"``: without the declared directions)."""
    X, y = train[features], train[label].to_numpy(dtype=int)
    weight = train[WEIGHT].to_numpy(dtype=float) if WEIGHT in train.columns else None
    constrained = name in CANDIDATES
    base = name if constrained else next(n for n in UNCONSTRAINED_OF if name.startswith(n))
    if base == "rules":
        return RulesBaseline().fit(X)
    if base == "logistic":
        return LogisticCandidate(constrained=constrained).fit(
            X, y, valid[features], valid[label].to_numpy(dtype=int), sample_weight=weight
        )
    if base == "ebm":
        return EBMCandidate(constrained=constrained).fit(X, y, sample_weight=weight)
    return LightGBMCandidate(constrained=constrained).fit(
        X, y, valid[features], valid[label].to_numpy(dtype=int), sample_weight=weight
    )


def registry_entries(features: Sequence[str]) -> dict[str, dict[str, object]]:
    """What a bundle keeps of the feature registry (so an old model explains itself)."""
    keys = (
        "domain",
        "template",
        "source",
        "direction",
        "direction_reason",
        "latest_from",
        "absent",
        "what",
        "window",
    )
    return {f: {k: getattr(REGISTRY[f], k) for k in keys} for f in features}


def _labelled(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    return frame[frame[label].notna()]


@dataclass(frozen=True)
class Slices:
    """One fold's labelled rows: training (perhaps a case-control sample, with its
    weights in :data:`training.snapshots.WEIGHT`), validation, calibration and test."""

    train: pd.DataFrame
    valid: pd.DataFrame
    calib: pd.DataFrame
    test: pd.DataFrame
    #: the share of those not involved kept in ``train`` (1.0: every row)
    share: float = 1.0

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return iter((self.train, self.valid, self.calib, self.test))


def fold_slices(
    source: pd.DataFrame | SnapshotStore,
    fold: Fold,
    label: str,
    case_control: CaseControl | None = None,
) -> Slices:
    """The fold's labelled training, validation, calibration and test rows, from one
    table of every snapshot or from a :class:`training.snapshots.SnapshotStore` (whose
    training rows may be a case-control sample: ``case_control``)."""
    if isinstance(source, SnapshotStore):
        rows, involved = source.rows(fold.train, label)
        share = (case_control or CaseControl(None)).share(rows, involved)
        return Slices(
            source.read(fold.train, label, share),
            source.read([fold.valid], label),
            source.read([fold.calib], label),
            source.read([fold.test], label),
            share=share,
        )
    as_of = source["as_of"].dt.date
    train = _labelled(source[as_of.isin(fold.train)], label)
    valid, calib, test = (
        _labelled(source[as_of == day], label) for day in (fold.valid, fold.calib, fold.test)
    )
    return Slices(train, valid, calib, test)


def run_fold(
    fold: Fold,
    slices: Slices,
    outcome: str,
    features: list[str],
    capacity: PanelCapacity | Mapping[str, int],
    n_boot: int,
    data_dir: Path | None,
    mitigate_by: str | None = None,
    candidates: Sequence[str] = CANDIDATES,
    compared: Sequence[str] = COMPARED,
    calibrate_by: tuple[str, ...] | None = CALIBRATE_BY,
) -> tuple[list[CandidateResult], pd.DataFrame]:
    """Fit, calibrate and test every candidate on one fold (no MLflow here).

    Metrics at capacity are those of both lists each panel is named (the ``known`` and
    the ``early`` list, :func:`models.panels.select_lists`). With ``mitigate_by`` (an
    audit-only column), each candidate also gets a ``<name>+threshold`` row: fairlearn's
    ThresholdOptimizer fitted on the validation slice, scored on the same test slice.

    Each candidate is calibrated by ``calibrate_by`` (sex within cohort:
    :mod:`models.calibration`; ``None``, one map for everyone).

    Returns the candidates' results and the lists table (:func:`training.lists.list_table`:
    each list ranked by each candidate, by a LightGBM trained on the not-yet-involved
    alone, and by the honest ceiling).
    """
    capacity = as_capacity(capacity)
    label = OUTCOMES[outcome].label
    band_policy, _ = load_bands()
    edges = band_policy.outcomes[outcome].edges()
    train, valid, calib, test = slices
    if min(len(train), len(valid), len(calib), len(test)) == 0:
        raise ValueError(f"{fold.name}: a slice has no labelled rows")
    y_valid = valid[label].to_numpy(dtype=int)
    y_calib = calib[label].to_numpy(dtype=int)
    y_test = test[label].to_numpy(dtype=int)
    area = test["local_authority"].to_numpy(dtype=object)
    people = test["person_id"].to_numpy(dtype=object)
    cohort = cohort_of(test)
    truth = truth_for(data_dir, outcome, fold.test, test["person_id"]) if data_dir else None
    results = []
    for name in (*candidates, *compared):
        estimator = _fit_candidate(name, train, valid, features, label)
        method = choose_method(
            estimator.score(valid[features]), y_valid, valid["person_id"].to_numpy(dtype=object)
        )
        calib_score = estimator.score(calib[features])
        groups = group_keys(calib, calibrate_by) if calibrate_by else None
        calibrator = Calibrator(method, by=calibrate_by).fit(calib_score, y_calib, groups=groups)
        p_calib = calibrator.predict(calib_score, groups)
        bundle = ModelBundle(
            outcome=outcome,
            candidate_name=name,
            estimator=estimator,
            calibrator=calibrator,
            features=features,
            bands=fit_bands(p_calib, y_calib, edges, band_policy.minimum_people),
            registry=registry_entries(features),
            trained_on={
                "train": [d.isoformat() for d in fold.train],
                "valid": fold.valid.isoformat(),
                "calib": fold.calib.isoformat(),
                "test": fold.test.isoformat(),
                "calibration": method,
                "band_policy": band_policy.version,
            },
        )
        model = RiskModel(bundle)
        p_test = model.predict(None, test)["probability"].to_numpy(dtype=float)
        chosen = within_capacity(people, area, p_test, capacity, cohort)
        metrics: dict[str, Interval] = bootstrap_metrics(y_test, p_test, chosen, n_boot=n_boot)
        top = bundle.band_of(p_test) == bundle.bands[-1].name
        metrics["top_band_ratio"] = top_band_calibration(y_test, p_test, top, n_boot)
        true = (
            truth_metrics(
                truth["true_outcome"].to_numpy(), truth["ceiling_probability"].to_numpy(), p_test
            )
            if truth is not None
            else {}
        )
        results.append(
            CandidateResult(
                fold.name,
                name,
                method,
                metrics,
                true,
                y_test,
                p_test,
                area,
                chosen,
                bundle,
                directions=model.direction_check(_audit_rows(test)) if name != "rules" else {},
            )
        )
        if mitigate_by is not None and name in CANDIDATES:
            results.append(
                _mitigated(
                    bundle,
                    valid,
                    y_valid,
                    test,
                    y_test,
                    p_test,
                    area,
                    chosen,
                    capacity,
                    n_boot,
                    mitigate_by,
                    fold.name,
                    method,
                )
            )
    scores = {r.candidate: r.probability for r in results if r.candidate in CANDIDATES}
    scores[COHORT_ONLY] = fit_cohort_only(train, valid, features, label).score(test[features])
    lists = list_table(
        fold.name,
        test,
        y_test,
        scores,
        capacity,
        y_true=truth["true_outcome"].to_numpy(dtype=int) if truth is not None else None,
        ceiling=truth["ceiling_probability"].to_numpy(dtype=float) if truth is not None else None,
    )
    return results, lists


#: rows of the test slice whose explanations are audited against the declared directions
#: (a seeded sample above this: the share of contribution mass is a mean, and exact
#: TreeSHAP of every row of a large population costs more than every fit of the fold)
DIRECTION_AUDIT_ROWS = 50_000


def _audit_rows(test: pd.DataFrame) -> pd.DataFrame:
    """The rows whose explanations the direction check reads: all, or a seeded sample of
    :data:`DIRECTION_AUDIT_ROWS`."""
    if len(test) <= DIRECTION_AUDIT_ROWS:
        return test
    return test.sample(n=DIRECTION_AUDIT_ROWS, random_state=0).sort_index()


def _mitigated(
    bundle: ModelBundle,
    valid: pd.DataFrame,
    y_valid: np.ndarray,
    test: pd.DataFrame,
    y_test: np.ndarray,
    p_test: np.ndarray,
    area: np.ndarray,
    chosen: np.ndarray,
    capacity: PanelCapacity,
    n_boot: int,
    by: str,
    fold: str,
    method: str,
) -> CandidateResult:
    from training.mitigate import fit_threshold, mitigated_metrics

    optimizer = fit_threshold(bundle, valid, y_valid, by)
    metrics, gaps, mitigated_chosen = mitigated_metrics(
        optimizer, test, y_test, p_test, chosen, capacity, by, n_boot
    )
    return CandidateResult(
        fold,
        f"{bundle.candidate_name}+threshold",
        method,
        metrics,
        {},
        y_test,
        p_test,
        area,
        mitigated_chosen,
        bundle,
        gaps,
    )


def list_metrics(lists: pd.DataFrame, fold: str, candidate: str) -> dict[str, float]:
    """The lists' figures MLflow keeps for one fold: precision at capacity of each list
    ranked by the chosen candidate, by the rules and by the ceiling, and the ratio."""
    out: dict[str, float] = {}
    prefixes = {
        candidate: "",
        "rules": "rules_",
        "ceiling": "ceiling_",
        COHORT_ONLY: "cohort_only_",
    }
    for row in lists[lists["fold"] == fold].to_dict("records"):
        list_key, ranked_by = str(row["list"]), str(row["ranked_by"])
        if ranked_by not in prefixes:
            continue
        prefix = f"{list_key}_{prefixes[ranked_by]}"
        out[f"{prefix}precision_at_capacity"] = float(row["precision"])
        if "precision_true" in row:
            out[f"{prefix}true_precision_at_capacity"] = float(row["precision_true"])
        if ranked_by == candidate and "ratio_to_ceiling" in row:
            out[f"{list_key}_ratio_to_ceiling"] = float(row["ratio_to_ceiling"])
            if "ratio_to_ceiling_true" in row:
                out[f"{list_key}_true_ratio_to_ceiling"] = float(row["ratio_to_ceiling_true"])
    return {k: v for k, v in out.items() if v == v}  # MLflow refuses NaN in some stores


def lead_time(
    data: Tables,
    outcome: str,
    folds: Sequence[Fold],
    results: Sequence[CandidateResult],
    candidate: str,
    capacity: PanelCapacity,
    months: int,
) -> LeadTimeResult | None:
    """The lead-time backtest of the chosen candidate and of the rules, honestly.

    The model is the chosen candidate **of the earliest test fold**: fitted, stopped and
    calibrated on labels that all close by that fold's test as-of, which is where the
    monthly backtest starts — it never saw anything that happens inside it. The backtest
    runs ``months`` months, fewer when the data end sooner (``None`` under 2 months).
    """
    fold = folds[0]
    first = fold.test
    available = (data.end.year - first.year) * 12 + data.end.month - first.month
    n = min(months, available)
    if n < 2:
        return None
    bundle = next(r.bundle for r in results if r.fold == fold.name and r.candidate == candidate)
    model = RiskModel(bundle)
    features = bundle.features
    rules = RulesBaseline()

    def by_model(frame: pd.DataFrame) -> np.ndarray:
        return model.predict(None, frame)["probability"].to_numpy(dtype=float)

    def by_rules(frame: pd.DataFrame) -> np.ndarray:
        return rules.fit(frame[features]).score(frame[features])

    return backtest(
        data,
        outcome,
        backtest_months(first, n),
        {"model": by_model, "rules": by_rules},
        capacity,
        also_at=LEAD_CAPACITIES,
        # months per snapshot build: as many as keep one build near BUILD_ROWS rows
        chunk=max(1, min(6, BUILD_ROWS // max(1, len(data.people)))),
    )


def lead_metrics(leads: LeadTimeResult) -> dict[str, float]:
    """What MLflow keeps of a lead-time backtest: shares flagged ahead, median lead."""
    out: dict[str, float] = {}
    for scorer, summary in leads.summary.items():
        for key in ("share_flagged", "share_ahead_3", "share_ahead_6", "share_ahead_12"):
            out[f"lead_{scorer}_{key}"] = float(summary[key])
        out[f"lead_{scorer}_median_months"] = float(summary["median_lead"])
        out[f"lead_{scorer}_events"] = float(summary["events"])
    return {k: v for k, v in out.items() if v == v}


def lead_text(leads: LeadTimeResult) -> str:
    """The card's lead-time section: what was measured, then the table."""
    return (
        f"Each month from {leads.months[0]:%B %Y} to {leads.months[-1]:%B %Y} the early list "
        f"was drawn as panels would receive it ({sum(leads.capacity.values())} young people "
        "across the local authorities), by the model of the earliest test fold — which saw "
        "nothing from this period — and by the hand rules. For every young person whose "
        "first recorded serious-violence involvement (in this outcome's role) fell in the "
        "period: how many months before it they were first on the early list.\n\n"
        + leads.markdown()
        + "\n\n"
        + capacity_markdown(leads)
    )


def capacity_markdown(leads: LeadTimeResult) -> str:
    """How the early list's reach and lead time grow with its capacity (a partnership's
    choice: a longer list names more young people, earlier, and asks more of a panel)."""
    if leads.by_capacity.empty:
        return ""
    lines = [
        "If each local authority's early list were longer or shorter (same months, same models):",
        "",
        "| early list per authority | ranked by | on the list before | ≥ 6 months ahead "
        "| median lead (months) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in leads.by_capacity.to_dict("records"):
        median = row["median_lead"]
        lines.append(
            f"| {row['early_capacity']} | {row['scorer']} | {row['share_flagged']:.1%} "
            f"({row['flagged']} of {row['events']}) | {row['share_ahead_6']:.1%} | "
            + ("–" if median != median else f"{median:.0f}")
            + " |"
        )
    return "\n".join(lines)


def comparison_table(results: Sequence[CandidateResult]) -> pd.DataFrame:
    """Every candidate on every fold, side by side (values with 95% intervals)."""
    rows = []
    for r in results:
        row: dict[str, object] = {
            "fold": r.fold,
            "candidate": r.candidate,
            "calibration": r.calibration,
        }
        for m, interval in r.metrics.items():
            row[m] = interval.text(4 if m == "brier" else 3)
        for m, v in r.truth.items():
            row[m] = round(v, 3)
        for m, v in r.fairness.items():
            row[m] = round(v, 3)
        for m, v in r.directions.items():
            row[m] = round(v, 4)
        rows.append(row)
    return pd.DataFrame(rows)


def with_interval(
    chosen: CandidateResult, calib: pd.DataFrame, features: list[str], label: str
) -> None:
    """Refit the chosen model's calibrator on its calibration slice (``calib``, the
    fold's labelled calibration rows) with :data:`models.calibration.RESAMPLES` bootstrap
    refits beside it: the same point estimates, now with each one's interval."""
    bundle = chosen.bundle
    score = np.asarray(bundle.estimator.score(calib[features]), dtype=float)
    by = bundle.calibrator.by
    bundle.calibrator.fit(
        score,
        calib[label].to_numpy(dtype=int),
        resamples=RESAMPLES,
        groups=group_keys(calib, by) if by else None,
    )


def compare_by_sex(
    chosen: CandidateResult,
    slices: Slices,
    fold: Fold,
    features: list[str],
    outcome: str,
    capacity: PanelCapacity,
    data_dir: Path | None,
) -> pd.DataFrame:
    """The chosen model calibrated by sex, beside one map for everyone and sex as an
    input, on the fold's test snapshot (:func:`training.by_sex.sex_comparison`)."""
    label = OUTCOMES[outcome].label
    train, valid, calib, test = slices
    truth = truth_for(data_dir, outcome, fold.test, test["person_id"]) if data_dir else None
    return sex_comparison(
        chosen_candidate=chosen.candidate,
        bundle=chosen.bundle,
        fit_candidate=_fit_candidate,
        train=train,
        valid=valid,
        calib=calib,
        test=test,
        features=features,
        label=label,
        capacity=capacity,
        truth=truth["oracle_probability"].to_numpy(dtype=float) if truth is not None else None,
    )


def sex_metrics(table: pd.DataFrame) -> dict[str, float]:
    """The comparison's figures as MLflow metrics (``sex_<variant>_<figure>``)."""
    out = {}
    for _, row in table.iterrows():
        for column, value in row.items():
            if column in ("variant", "how") or value != value:
                continue
            out[f"sex_{row['variant']}_{column}"] = float(value)
    return out


def choose(results: Sequence[CandidateResult], last_fold: str) -> CandidateResult:
    """Best PR AUC on the latest fold (ties go to the tree model, which TreeSHAP explains)."""
    latest = [r for r in results if r.fold == last_fold and r.candidate in CANDIDATES]
    return max(
        latest, key=lambda r: (round(r.metrics["pr_auc"].value, 4), r.candidate == "lightgbm")
    )


def default_dates(
    end: dt.date, first_year: int | None = None
) -> tuple[list[dt.date], list[dt.date]]:
    """Each 1 January with a complete label window; test on the last two."""
    last_year = max(
        y for y in range(1990, end.year + 1) if label_window_end(dt.date(y, 1, 1)) <= end
    )
    first = first_year if first_year is not None else last_year - 7
    dates = yearly_as_of(first, last_year)
    return dates, dates[-2:]


def train_outcome(
    data_dir: Path,
    outcome: str,
    *,
    capacity: PanelCapacity | Mapping[str, int],
    tracking_uri: str,
    experiment: str,
    artifact_dir: Path,
    project_dir: Path,
    n_boot: int = 100,
    first_year: int | None = None,
    progress: Callable[[str], None] | None = None,
    mitigate_by: str | None = None,
    launched_experiment_id: str | None = None,
    lead_months: int = LEAD_MONTHS,
    candidates: Sequence[str] = CANDIDATES,
    compare_unconstrained: bool = True,
    calibrate_by: tuple[str, ...] | None = CALIBRATE_BY,
    case_control: CaseControl | None = None,
) -> TrainResult:
    """Train, evaluate and register one outcome's model; log everything to MLflow.

    ``launched_experiment_id`` is the experiment of a run ``mlflow run`` created
    (the settings read it); the training run then logs into it. ``lead_months``: months
    of the lead-time backtest (:func:`lead_time`; 0 skips it). ``candidates``: which
    candidates compete (all by default); ``compare_unconstrained``: also fit the logistic
    and LightGBM candidates without the declared directions, to report what they cost.
    ``calibrate_by``: what each candidate is calibrated by (sex within cohort; ``None``,
    one map for everyone); with it, the chosen model is also compared with one map for
    everyone, with sex alone and with sex as an input (:mod:`training.by_sex`).
    ``case_control``: above how many training rows those not involved are sampled
    (:class:`training.snapshots.CaseControl`; default its own default size).

    The snapshots are built a few as-of dates at a time into a working folder and each
    fold reads back only its own slices (:class:`training.snapshots.SnapshotStore`).
    """
    unknown = [c for c in candidates if c not in CANDIDATES]
    if unknown or "rules" not in candidates:
        raise ValueError(f"candidates must be among {CANDIDATES} and include rules: {unknown}")
    compared = tuple(
        UNCONSTRAINED.format(name=n)
        for n in UNCONSTRAINED_OF
        if compare_unconstrained and n in candidates
    )
    say = progress or (lambda message: None)
    capacity = as_capacity(capacity)
    sampling = case_control if case_control is not None else CaseControl()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vru-train-") as work:
        data = load_tables(data_dir)
        dates, test_dates = default_dates(data.end, first_year)
        folds = make_folds(dates, test_dates)
        say(f"building features for {len(dates)} as-of dates")
        store = SnapshotStore.build(data, dates, Path(work), seed=sampling.seed, progress=say)
        return _train(
            data,
            store,
            folds,
            outcome,
            capacity=capacity,
            tracking_uri=tracking_uri,
            experiment=experiment,
            artifact_dir=artifact_dir,
            project_dir=project_dir,
            n_boot=n_boot,
            say=say,
            mitigate_by=mitigate_by,
            launched_experiment_id=launched_experiment_id,
            lead_months=lead_months,
            candidates=candidates,
            compared=compared,
            calibrate_by=calibrate_by,
            sampling=sampling,
            began=began,
            data_dir=data_dir,
        )


def _train(
    data: Tables,
    store: SnapshotStore,
    folds: Sequence[Fold],
    outcome: str,
    *,
    capacity: PanelCapacity,
    tracking_uri: str,
    experiment: str,
    artifact_dir: Path,
    project_dir: Path,
    n_boot: int,
    say: Callable[[str], None],
    mitigate_by: str | None,
    launched_experiment_id: str | None,
    lead_months: int,
    candidates: Sequence[str],
    compared: Sequence[str],
    calibrate_by: tuple[str, ...] | None,
    sampling: CaseControl,
    began: float,
    data_dir: Path,
) -> TrainResult:
    """:func:`train_outcome` once the snapshots are built."""
    from training.model_card import model_card

    end = data.end
    dates = store.dates
    label = OUTCOMES[outcome].label
    features = model_inputs()
    experiment_id = configure_tracking(
        tracking_uri, experiment, artifact_dir, launched_experiment_id=launched_experiment_id
    )
    describe_experiment(experiment_id)
    fingerprint = data.fingerprint
    commit = git_commit(project_dir)
    results: list[CandidateResult] = []
    list_tables: list[pd.DataFrame] = []
    with mlflow.start_run(run_name=f"train-{outcome}") as parent:
        mlflow.set_tags(
            {
                "outcome": outcome,
                "data_fingerprint": fingerprint,
                "git_commit": commit,
                "vru.stage": "train",
                "note": "synthetic data only; a prompt for professional review",
            }
        )
        mlflow.log_params(
            {
                "outcome": outcome,
                "label": OUTCOMES[outcome].label,
                "as_of_dates": ",".join(d.isoformat() for d in dates),
                "folds": len(folds),
                "n_features": len(features),
                "bootstrap_samples": n_boot,
                "panel_capacity": json.dumps(capacity.as_dict()),
                "data_end": end.isoformat(),
                "data_dir": str(data_dir),
                "mitigation": f"threshold by {mitigate_by}" if mitigate_by else "none",
                "calibrate_by": " within ".join(calibrate_by or ("none",)),
                "case_control": sampling.describe(),
                "case_control_above": sampling.above or 0,
                **{f"lightgbm_{k}": v for k, v in LightGBMCandidate().params().items()},
            }
        )
        slices: Slices | None = None
        for fold in folds:
            # the last fold's slices go before this fold's are read: one fold in memory
            slices = None
            slices = fold_slices(store, fold, label, sampling)
            sampled = (
                f" on {len(slices.train):,} rows (every young person involved, "
                f"{slices.share:.0%} of the others, weighted)"
                if slices.share < 1
                else f" on {len(slices.train):,} rows"
            )
            say(f"fold {fold.name}: training {', '.join((*candidates, *compared))}{sampled}")
            mlflow.log_metrics(
                {
                    f"{fold.name}_training_rows": float(len(slices.train)),
                    f"{fold.name}_negative_share": slices.share,
                }
            )
            fold_results, fold_lists = run_fold(
                fold,
                slices,
                outcome,
                features,
                capacity,
                n_boot,
                data_dir,
                mitigate_by,
                candidates=candidates,
                compared=compared,
                calibrate_by=calibrate_by,
            )
            results.extend(fold_results)
            list_tables.append(fold_lists)
            log_fold(fold, fold_results)
        assert slices is not None  # make_folds never returns no fold
        comparison = comparison_table(results)
        chosen = choose(results, folds[-1].name)
        with_interval(chosen, slices.calib, features, label)
        by_sex = None
        if calibrate_by == CALIBRATE_BY:
            say("calibration by sex: compared with one map for everyone and sex as an input")
            by_sex = compare_by_sex(
                chosen, slices, folds[-1], features, outcome, capacity, data_dir
            )
            mlflow.log_metrics(sex_metrics(by_sex))
        lists = pd.concat(list_tables, ignore_index=True)
        for m, interval in chosen.metrics.items():
            mlflow.log_metric(m, interval.value)
        mlflow.log_metrics(headline_metrics(chosen))
        mlflow.log_metrics(list_metrics(lists, folds[-1].name, chosen.candidate))
        mlflow.set_tag("early_list_ranked_by", chosen.candidate)
        leads = None
        if lead_months > 0:
            say(f"lead time: the early list month by month over {lead_months} months")
            leads = lead_time(
                data, outcome, folds, results, chosen.candidate, capacity, lead_months
            )
            if leads is not None:
                mlflow.log_metrics(lead_metrics(leads))
        for m, v in chosen.truth.items():
            mlflow.log_metric(m, v)
        mlflow.set_tag("chosen_candidate", chosen.candidate)
        say(f"chosen: {chosen.candidate}; logging plots, model card and model")
        test_rows = slices.test
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            latest = [r for r in results if r.fold == folds[-1].name and r.candidate in CANDIDATES]
            by_area = write_review(tmp, latest, chosen, comparison, test_rows, capacity)
            lists.to_csv(tmp / "lists.csv", index=False)
            if leads is not None:
                leads.table().to_csv(tmp / "lead_time.csv", index=False)
            if by_sex is not None:
                by_sex.to_csv(tmp / "calibration_by_sex.csv", index=False)
            card = model_card(
                outcome,
                chosen,
                comparison,
                folds,
                by_area,
                fingerprint,
                commit,
                lists=lists,
                lead_time=lead_text(leads) if leads is not None else None,
                results=results,
                by_sex=by_sex,
                sample=(len(slices.train), slices.share),
            )
            (tmp / "model_card.md").write_text(card)
            mlflow.log_artifacts(str(tmp))
            inputs = test_rows[RiskModel(chosen.bundle).required_columns()]
            info = log_model(outcome, chosen, inputs, tmp)
        version = str(info.registered_model_version)
        registry = Registry(tracking_uri)
        registry.register(
            outcome,
            version,
            {"candidate_name": chosen.candidate, "data_fingerprint": fingerprint},
        )
        registry.describe(
            outcome,
            version,
            model=model_description(outcome),
            version_text=version_description(
                outcome, chosen, folds, fingerprint, end, parent.info.run_id
            ),
        )
        mlflow.set_tag(NOTE_TAG, run_note(outcome, chosen, folds, fingerprint, end, version))
        mlflow.log_metric("training_seconds", time.perf_counter() - began)
    return TrainResult(
        outcome,
        parent.info.run_id,
        info.model_uri,
        version,
        chosen.candidate,
        comparison,
        list(folds),
        results,
        lists,
        leads,
        by_sex,
    )
