"""A generated model card (Markdown) for each registered model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from features.vocabulary import OUTCOMES
from models.candidates import UNCONSTRAINED
from models.risk_model import RiskModel
from training.by_sex import sex_markdown

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
    results: Sequence[CandidateResult] = (),
    by_sex: pd.DataFrame | None = None,
    sample: tuple[int, float] | None = None,
) -> str:
    """The card: intended use and non-use, data, metrics with intervals, the two lists,
    lead time, caveats. ``sample``: the training rows of the latest fold and the share of
    those not involved they kept, when a case-control sample was drawn."""
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
        *(
            [
                f"- Trained on a case-control sample of {sample[0]:,} rows: every young person "
                f"involved in the outcome and {sample[1]:.0%} of the others, drawn at random "
                f"and each weighted by {1 / sample[1]:.2f}, so the model learns the "
                "population's own rate. Calibration, bands and every figure below come from "
                "later snapshots read in full."
            ]
            if sample is not None and sample[1] < 1
            else []
        ),
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
    top = m.get("top_band_ratio")
    if top is not None:
        lines.append(
            f"- Top band ('{chosen.bundle.bands[-1].name}') calibration: mean estimate / "
            "observed rate "
            f"{top.text(2)} (1.00 is exact; a calibrator over-stating the top band by more than "
            "25% on the validation slice is not chosen)."
        )
    if chosen.directions:
        d = chosen.directions
        lines.append(
            f"- Explanations: {d['against_share']:.1%} of all contribution mass runs against "
            "an input's declared direction and is folded into 'other factors' (never shown "
            f"as a reason); {d['against_people']:.1%} of young people have such a "
            "contribution of 0.05 log-odds or more."
        )
    if chosen.truth:
        t = chosen.truth
        lines.append(
            f"- Against the *true* outcome: AUC {t['true_roc_auc']:.3f}, vs "
            f"{t['ceiling_roc_auc']:.3f} from the honest ceiling — each young person's true "
            f"hazard at the as-of date, which knows nothing of the next 12 months (ratio "
            f"{t['ratio_to_ceiling_auc']:.2f})."
        )
    if results:
        lines += directions_section(results)
    if lists is not None and not lists.empty:
        lines += _lists_section(lists, chosen.candidate, fold.name)
    if lead_time:
        lines += ["", "## Lead time: how early the early list finds young people", "", lead_time]
    if by_sex is not None:
        shifts = chosen.bundle.calibrator.shifts()
        lines += [
            "",
            "## Calibration by sex",
            "",
            "Estimates are calibrated separately for girls and boys: after the shared "
            "calibration, each sex's estimates are shifted so that they add up to its "
            "observed outcomes on the calibration slice (log-odds shift: "
            + ", ".join(f"{g} {v:+.2f}" for g, v in sorted(shifts.items()))
            + "). Sex never changes the order of two young people of the same sex, and it "
            "is not a model input. Below, on the latest fold's test snapshot, the released "
            "model beside one calibration for everyone and beside sex as a model input:",
            "",
            sex_markdown(by_sex, {"low": 0.8, "high": 1.25}),
        ]
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
        f"Edges from the band policy, version "
        f"{chosen.bundle.trained_on.get('band_policy', 'unknown')} (`models/bands.yaml`). "
        "Each band's observed rate has its 95% Wilson interval; a band of the policy whose "
        "interval overlapped the band below, or with too few young people, is merged into "
        "it (column *merged*), so every band here means something different from its "
        "neighbours.",
        "",
        frame_to_markdown(
            bands[
                [
                    "name",
                    "lower",
                    "observed_rate",
                    "rate_low",
                    "rate_high",
                    "people",
                    "involved",
                    "merged",
                    "meaning",
                ]
            ].round(4)
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


def directions_section(results: Sequence[CandidateResult]) -> list[str]:
    """What the declared directions cost: each constrained model beside the same model
    fitted without them, fold by fold (95% intervals), with the share of explanation mass
    that still runs against a direction."""
    by_key = {(r.fold, r.candidate): r for r in results}
    rows = []
    for r in results:
        free = by_key.get((r.fold, UNCONSTRAINED.format(name=r.candidate)))
        if free is None:
            continue
        for model, label in ((r, "with directions"), (free, "without")):
            rows.append(
                f"| {r.fold} | {r.candidate} | {label} | {model.metrics['pr_auc'].text()} | "
                f"{model.metrics['precision_at_capacity'].text()} | "
                f"{model.metrics['top_band_ratio'].text(2)} | "
                f"{model.directions.get('against_share', float('nan')):.1%} |"
            )
    if not rows:
        return []
    return [
        "",
        "## Declared directions and what they cost",
        "",
        "Every input has a declared direction in the feature registry (a count of risk records "
        "never lowers the estimate; the longer since the last record, the lower it). Every "
        "candidate respects it, so an explanation never shows a risk record as protective. "
        "Each constrained model beside the same model fitted without the directions (never "
        "chosen); the last column is the share of contribution mass that runs against a "
        "declared direction (folded into 'other factors' in explanations):",
        "",
        "| fold | model | directions | PR AUC | precision at capacity | top band: estimate / "
        "observed | against its direction |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
    ]


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
