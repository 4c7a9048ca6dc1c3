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
from matplotlib.collections import PathCollection
from sklearn.metrics import precision_recall_curve, roc_curve

from models.panels import PanelCapacity
from training.evaluate import (
    MIN_BIN_PEOPLE,
    calibration_bins,
    calibration_curve,
    capacity_by_area,
)

if TYPE_CHECKING:
    from training.results import CandidateResult

SHAP_SAMPLE = 2000


def _save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def calibration_plot(
    results: Sequence[CandidateResult], chosen: CandidateResult, path: Path
) -> pd.DataFrame:
    """Two views of calibration, saved to ``path``; returns the chosen model's fixed bins.

    Left: the chosen model in fixed-width bins of the estimate
    (:data:`training.evaluate.CALIBRATION_EDGES`), so the upper range where panels work
    keeps its own bins; each point is sized by and labelled with its number of young
    people, with the 95% Wilson interval of the observed rate; bins of fewer than
    :data:`training.evaluate.MIN_BIN_PEOPLE` are hollow. Right: every candidate in ten
    equal-count bins (most of them near zero for a rare outcome). Linear axes on both.
    """
    bins = calibration_bins(chosen.y, chosen.probability)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5))
    top = max(float(bins["upper"].max()), 0.1) if len(bins) else 1.0
    left.plot([0, top], [0, top], ls=":", c="grey", label="estimate = observed rate")
    biggest = max(int(bins["n"].max()), 1) if len(bins) else 1
    for enough, part in bins.groupby("enough"):
        colour = "#4c72b0" if enough else "#999999"
        left.errorbar(
            part["predicted"],
            part["observed"],
            yerr=np.vstack(
                [part["observed"] - part["observed_low"], part["observed_high"] - part["observed"]]
            ),
            fmt="none",
            ecolor=colour,
            capsize=3,
        )
        left.scatter(
            part["predicted"],
            part["observed"],
            s=30 + 270 * np.sqrt(part["n"].to_numpy() / biggest),
            facecolors=colour if enough else "white",
            edgecolors=colour,
            zorder=3,
            label="observed rate (95% interval)"
            if enough
            else f"fewer than {MIN_BIN_PEOPLE} young people: read with care",
        )
    for row in bins.to_dict("records"):
        left.annotate(
            f"{row['n']:,}",
            (row["predicted"], row["observed"]),
            xytext=(6, 6),
            textcoords="offset points",
            fontsize=8,
        )
    left.set(
        xlim=(0, top),
        ylim=(0, max(top, float(bins["observed_high"].max()) if len(bins) else 0.0)),
        xlabel="estimated chance (mean in bin)",
        ylabel="observed rate",
        title=f"{chosen.candidate}: fixed bins, labelled with how many young people",
    )
    legend = left.legend(loc="upper left", fontsize=8)
    for handle in legend.legend_handles:
        if isinstance(handle, PathCollection):  # one modest marker, whatever the bin's size
            handle.set_sizes([40])

    high = 0.0
    for r in results:
        curve = calibration_curve(r.y, r.probability)
        right.plot(curve["predicted"], curve["observed"], marker="o", label=r.candidate)
        high = max(high, curve["predicted"].max(), curve["observed"].max())
    right.plot([0, high], [0, high], ls=":", c="grey", label="estimate = observed rate")
    right.set(
        xlim=(0, high * 1.05),
        ylim=(0, high * 1.05),
        xlabel="estimated chance (mean in bin)",
        ylabel="observed rate",
        title="All candidates: ten bins of equal size",
    )
    right.legend(fontsize=8)
    fig.suptitle("Calibration on the held-out test date")
    _save(fig, path)
    return bins


def save_plots(
    results: Sequence[CandidateResult],
    chosen: CandidateResult,
    test_rows: pd.DataFrame,
    capacity: PanelCapacity | Mapping[str, int],
    out: Path,
) -> list[Path]:
    """ROC, PR (all candidates), calibration (:func:`calibration_plot`), capacity by area
    (chosen), importance by domain (chosen), SHAP (LightGBM)."""
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

    calibration_plot(results, chosen, out / "calibration.png")
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
