"""Plots an analyst would rather look at than read (matplotlib, PNG)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from models.panels import PanelCapacity
from training.evaluate import calibration_curve, capacity_by_area

if TYPE_CHECKING:
    from training.results import CandidateResult

SHAP_SAMPLE = 2000


def _save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_plots(
    results: Sequence[CandidateResult],
    chosen: CandidateResult,
    test_rows: pd.DataFrame,
    capacity: PanelCapacity | Mapping[str, int],
    out: Path,
) -> list[Path]:
    """ROC, PR, calibration (all candidates), capacity by area (chosen), SHAP (LightGBM)."""
    paths = []
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for r in results:
        fpr, tpr, _ = roc_curve(r.y, r.probability)
        ax.plot(fpr, tpr, label=f"{r.candidate} (AUC {r.metrics['roc_auc'].value:.3f})")
    ax.plot([0, 1], [0, 1], ls=":", c="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test as-of")
    ax.legend(loc="lower right")
    _save(fig, out / "roc.png")
    paths.append(out / "roc.png")

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for r in results:
        precision, recall, _ = precision_recall_curve(r.y, r.probability)
        ax.plot(recall, precision, label=f"{r.candidate} (AP {r.metrics['pr_auc'].value:.3f})")
    ax.axhline(results[0].y.mean(), ls=":", c="grey", label="base rate")
    ax.set(xlabel="recall", ylabel="precision", title="Precision–recall, test as-of")
    ax.legend(loc="upper right")
    _save(fig, out / "pr.png")
    paths.append(out / "pr.png")

    fig, ax = plt.subplots(figsize=(5.5, 5))
    top = 0.0
    for r in results:
        curve = calibration_curve(r.y, r.probability)
        ax.plot(curve["predicted"], curve["observed"], marker="o", label=r.candidate)
        top = max(top, curve["predicted"].max(), curve["observed"].max())
    ax.plot([0, top], [0, top], ls=":", c="grey", label="perfect")
    ax.set(
        xlabel="mean predicted probability",
        ylabel="observed rate",
        title="Calibration (10 equal-count bins)",
    )
    ax.legend()
    _save(fig, out / "calibration.png")
    paths.append(out / "calibration.png")

    by_area = capacity_by_area(chosen.y, chosen.probability, chosen.area, chosen.chosen, capacity)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.barh(by_area["local_authority"], by_area["precision_at_capacity"], color="#4c72b0")
    for i, row in enumerate(by_area.to_dict("records")):
        ax.text(
            row["precision_at_capacity"],
            i,
            f"  {row['precision_at_capacity']:.0%} of {row['capacity']} named",
            va="center",
        )
    ax.set(
        xlabel="precision in the panel's list (top k of the area)",
        title=f"Precision at panel capacity by area — {chosen.candidate}",
    )
    ax.set_xlim(0, max(0.05, by_area["precision_at_capacity"].max() * 1.5))
    _save(fig, out / "precision_at_capacity.png")
    paths.append(out / "precision_at_capacity.png")

    # domain-level importance of the chosen model: mean |contribution| per domain
    from models.explain import contributions

    sample = test_rows.sample(n=min(SHAP_SAMPLE, len(test_rows)), random_state=0)
    contrib = contributions(chosen.bundle.estimator, sample[chosen.bundle.features])
    domains = {
        f: str(chosen.bundle.registry.get(f, {}).get("domain", "other"))
        for f in contrib.values.columns
    }
    importance = contrib.by_domain(domains).abs().mean().sort_values()
    importance.rename("mean_abs_log_odds").to_csv(out / "domain_importance.csv")
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    ax.barh(importance.index, importance.to_numpy(), color="#55a868")
    ax.set(
        xlabel="mean |contribution| (log-odds), test as-of sample",
        title=f"What drives the estimates, by domain — {chosen.candidate}",
    )
    _save(fig, out / "domain_importance.png")
    paths.append(out / "domain_importance.png")

    tree = next((r for r in results if r.candidate == "lightgbm"), None)
    if tree is not None:  # the tree candidate's global view, whichever candidate was chosen
        import shap

        features = tree.bundle.features
        sample = test_rows[features].sample(n=min(SHAP_SAMPLE, len(test_rows)), random_state=0)
        # what the trees read: "never" filled in at the low-risk end
        X = tree.bundle.estimator.prepare(sample)
        model = tree.bundle.estimator.model_
        with warnings.catch_warnings():
            # shap notes that its LightGBM output format changed; we use the log-odds array
            warnings.filterwarnings(
                "ignore", message="LightGBM binary classifier", category=UserWarning
            )
            values = shap.TreeExplainer(model.booster_).shap_values(X)
        shap.summary_plot(
            values,
            X,
            feature_names=features,
            show=False,
            max_display=15,
            rng=np.random.default_rng(0),
        )
        fig = plt.gcf()
        fig.suptitle("LightGBM SHAP summary (log-odds), test as-of sample")
        _save(fig, out / "shap_summary.png")
        paths.append(out / "shap_summary.png")
    return paths
