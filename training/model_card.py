"""A generated model card (Markdown) for each registered model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from features.vocabulary import OUTCOMES
from models.risk_model import RiskModel

if TYPE_CHECKING:
    from training.results import CandidateResult
    from training.splits import Fold


def frame_to_markdown(frame: pd.DataFrame) -> str:
    """A plain Markdown table (no extra dependency)."""
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def model_card(
    outcome: str,
    chosen: CandidateResult,
    comparison: pd.DataFrame,
    folds: Sequence[Fold],
    by_area: pd.DataFrame,
    fingerprint: str,
    commit: str,
    *,
    lists: pd.DataFrame | None = None,
    lead_time: str | None = None,
) -> str:
    """The card: intended use and non-use, data, metrics with intervals, the two lists,
    lead time, caveats."""
    m = chosen.metrics
    bands = RiskModel(chosen.bundle).band_table()
    fold = folds[-1]
    lines = [
        f"# Model card — {OUTCOMES[outcome].registry_name}",
        "",
        f"**Outcome:** {OUTCOMES[outcome].definition} within 12 months of the assessment date.",
        f"**Chosen candidate:** {chosen.candidate} (best precision–recall AUC on the latest "
        f"fold), calibrated with {chosen.calibration} on {fold.calib}.",
        "",
        "## Intended use",
        "",
        "- A **prompt for professional review** by practitioners and referral panels of a "
        "Violence Reduction Unit: who might benefit from a second look, and why.",
        "- Read every score with its reasons, its band's observed rate and the data's as-of dates.",
        "",
        "## Not for",
        "",
        "- Any decision about a young person without professional judgement; eligibility, "
        "enforcement, sanctions, or sharing a score as a label.",
        "- Individual prediction: most young people in every band will not be involved in "
        "serious violence.",
        "- Populations or periods unlike the training data.",
        "",
        "## Data",
        "",
        "- **Synthetic** linked multi-agency records (school, social care, police, health, "
        "youth justice) — no real person is described.",
        f"- Training as-of dates {', '.join(d.isoformat() for d in fold.train)}; early "
        f"stopping and calibration-method choice on {fold.valid}; calibration and bands on "
        f"{fold.calib}; test on {fold.test}. Every label window closes before the next slice.",
        f"- Data fingerprint (SHA-256 of raw tables): `{fingerprint}`; code: `{commit}`.",
        "- Labels are *recorded* involvement: victims under-report and some groups are "
        "recorded more than others. The synthetic truth lets us measure that gap (below).",
        "",
        "## Performance on the held-out test as-of (95% bootstrap intervals)",
        "",
        f"- ROC AUC {m['roc_auc'].text()}; PR AUC {m['pr_auc'].text()} against a base rate "
        f"of {chosen.y.mean():.4f}.",
        f"- Brier {m['brier'].text(4)}; expected calibration error {m['ece'].text(4)}.",
        f"- Over both lists each panel is named: precision {m['precision_at_capacity'].text()}, "
        f"recall "
        f"{m['recall_at_capacity'].text()}, lift {m['lift_at_capacity'].text(1)}× the base "
        "rate.",
    ]
    if chosen.truth:
        t = chosen.truth
        lines.append(
            f"- Against the *true* outcome: AUC {t['true_roc_auc']:.3f}, vs "
            f"{t['ceiling_roc_auc']:.3f} from the honest ceiling — each young person's true "
            f"hazard at the as-of date, which knows nothing of the next 12 months (ratio "
            f"{t['ratio_to_ceiling_auc']:.2f})."
        )
    if lists is not None and not lists.empty:
        lines += _lists_section(lists, chosen.candidate, fold.name)
    if lead_time:
        lines += ["", "## Lead time: how early the early list finds young people", "", lead_time]
    lines += [
        "",
        "### All candidates, all folds",
        "",
        frame_to_markdown(comparison),
        "",
        "### Precision at panel capacity by area",
        "",
        frame_to_markdown(by_area.round(3)),
        "",
        "## Risk bands (absolute; fitted on the calibration slice)",
        "",
        frame_to_markdown(
            bands[["name", "lower", "observed_rate", "people", "involved", "meaning"]].round(4)
        ),
        "",
        "## Fairness",
        "",
        "_Not yet audited: the fairness gate (`vru fairness gate`) must pass, or a named "
        "person must override it with a reason, before this model can become `champion`._",
        "",
        "## Caveats",
        "",
        "- Sex, ethnicity, SEN, deprivation and free-school-meal status are not model inputs; "
        "their proxies still can be (e.g. police stops, which carry recording bias).",
        "- Calibration holds for the calibration period; recheck it when practice changes.",
        "- Serious violence is rare: small changes in counts move precision a lot — read the "
        "intervals.",
        "",
    ]
    return "\n".join(lines)


def _lists_section(lists: pd.DataFrame, candidate: str, fold: str) -> list[str]:
    """The two lists: what each is for, and each ranked by every option, per fold."""
    from features.vocabulary import LISTS
    from training.lists import COHORT_ONLY, lists_markdown

    def precision(list_key: str, ranked_by: str) -> float:
        row = lists[
            (lists["fold"] == fold)
            & (lists["list"] == list_key)
            & (lists["ranked_by"] == ranked_by)
        ]
        return float(row["precision"].iloc[0]) if len(row) else float("nan")

    def pooled(ranked_by: str) -> float:
        rows = lists[(lists["list"] == "early") & (lists["ranked_by"] == ranked_by)]
        return float(rows["involved"].sum() / max(rows["named"].sum(), 1))

    early, rules = precision("early", candidate), precision("early", "rules")
    ceiling = precision("early", "ceiling")
    lines = [
        "",
        "## The two lists",
        "",
        f"- **{LISTS['known'].list_title}** (`known`): {LISTS['known'].purpose}",
        f"- **{LISTS['early'].list_title}** (`early`): {LISTS['early'].purpose}",
        "",
        f"Each list is ranked by this model ({candidate}) within its own cohort, up to its own "
        "capacity per local authority. On the latest fold the early list's precision at "
        f"capacity is {early:.3f} against {rules:.3f} for the hand rules on the same cohort"
        + (f" and {ceiling:.3f} for the honest ceiling" if ceiling == ceiling else "")
        + ".",
    ]
    if (lists["ranked_by"] == COHORT_ONLY).any():
        mine, alone = pooled(candidate), pooled(COHORT_ONLY)
        verdict = (
            "so the model trained on everyone ranks the early list (one model, one explanation)"
            if mine >= alone
            else "better than this model: consider shipping a model for the early list"
        )
        lines.append(
            f"Pooled over the test folds, a LightGBM trained on the not-yet-involved alone "
            f"reaches {alone:.3f} against this model's {mine:.3f} — {verdict}."
        )
    lines += [
        "",
        "Precision at capacity per list (95% Wilson intervals). *÷ ceiling*: the option's "
        "precision over that of a ranking by each young person's true hazard at the as-of "
        "date (synthetic data only).",
        "",
        lists_markdown(lists),
    ]
    return lines
