"""Calibration by sex: what the released model does, beside the two other ways to do it.

Boys' true rate of serious violence is several times girls'. A model that does not read
sex, calibrated with one map for everyone, therefore over-states girls' risk relative to
boys' (recorded and true): "about 8 in 100 young people with similar records" is true of
boys and not of girls. Policy 2026.12-4 enforces calibration by sex, and training fixes
it by **calibrating by sex within each cohort** (:class:`models.calibration.Calibrator`
with ``by=("sex", "cohort")``): sex is used only to say what an estimate means, never to
move a young person past another of the same sex on the same list. The other fix would
be **sex as a model input**, which lets sex change the order within a sex too (DESIGN
keeps protected characteristics out of the inputs).

:func:`sex_comparison` measures four ways on the latest fold's test snapshot: the
released model; the same ranking calibrated by sex alone (one shift per sex) and with one
map for everyone; and the same candidate refitted with sex as an input. Training logs the
table beside the model (``calibration_by_sex.csv``, the model card's "Calibration by sex"
section).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from features.registry import SEX_AS_INPUT
from features.vocabulary import ALREADY_INVOLVED, NOT_YET_INVOLVED, cohort_of
from models.calibration import Calibrator, choose_method, group_keys
from models.panels import PanelCapacity, within_capacity
from models.risk_model import RiskModel

if TYPE_CHECKING:
    from models.risk_model import ModelBundle

__all__ = [
    "SEX_VARIANTS",
    "SexVariant",
    "sex_comparison",
    "sex_markdown",
]

#: the attribute, the group each ratio compares and the policy's reference group
SEX, FEMALE, MALE = "sex", "female", "male"


@dataclass(frozen=True)
class SexVariant:
    key: str
    title: str


#: the three ways compared, the released one first
SEX_VARIANTS = (
    SexVariant("by_sex", "calibrated by sex within cohort (released)"),
    SexVariant("sex_alone", "calibrated by sex alone"),
    SexVariant("one_map", "one calibration for everyone"),
    SexVariant("sex_input", "sex as a model input"),
)


def _ratio(p: np.ndarray, expected: np.ndarray, female: np.ndarray, where: np.ndarray) -> float:
    """Girls' (mean estimate ÷ mean expected) divided by boys', among ``where``."""

    def calibration(mask: np.ndarray) -> float:
        observed = float(expected[mask].mean()) if mask.any() else 0.0
        return float(p[mask].mean() / observed) if observed > 0 else float("nan")

    girls, boys = calibration(where & female), calibration(where & ~female)
    return girls / boys if boys > 0 else float("nan")


def _row(
    variant: SexVariant,
    p: np.ndarray,
    test: pd.DataFrame,
    y: np.ndarray,
    truth: np.ndarray | None,
    capacity: PanelCapacity,
) -> dict[str, object]:
    female = (test[SEX].astype(str) == FEMALE).to_numpy()
    cohort = cohort_of(test)
    everyone = np.ones(len(test), dtype=bool)
    chosen = within_capacity(
        test["person_id"].to_numpy(dtype=object),
        test["local_authority"].to_numpy(dtype=object),
        p,
        capacity,
        cohort,
    )
    known = chosen & (cohort == ALREADY_INVOLVED)
    early = chosen & (cohort == NOT_YET_INVOLVED)
    row: dict[str, object] = {
        "variant": variant.key,
        "how": variant.title,
        "pr_auc": float(average_precision_score(y, p)) if 0 < y.sum() < len(y) else float("nan"),
        "precision_at_capacity": float(y[chosen].mean()) if chosen.any() else float("nan"),
        "girls_named_known": int((known & female).sum()),
        "named_known": int(known.sum()),
        "girls_named_early": int((early & female).sum()),
        "named_early": int(early.sum()),
        "girls_calibration_recorded": _ratio(p, y.astype(float), female, everyone),
        "girls_calibration_recorded_known": _ratio(
            p, y.astype(float), female, cohort == ALREADY_INVOLVED
        ),
        "girls_calibration_recorded_early": _ratio(
            p, y.astype(float), female, cohort == NOT_YET_INVOLVED
        ),
    }
    if truth is not None:
        row["girls_calibration_truth"] = _ratio(p, truth, female, everyone)
        row["girls_calibration_truth_known"] = _ratio(p, truth, female, cohort == ALREADY_INVOLVED)
        row["girls_calibration_truth_early"] = _ratio(p, truth, female, cohort == NOT_YET_INVOLVED)
    return row


def _with_sex(frame: pd.DataFrame) -> pd.DataFrame:
    # ``assign`` shares the other columns (copy-on-write); a deep copy of four full
    # snapshots cost 4.5 GB at 2 million people
    return frame.assign(**{SEX_AS_INPUT.name: (frame[SEX].astype(str) == FEMALE).astype(int)})


def sex_comparison(
    *,
    chosen_candidate: str,
    bundle: ModelBundle,
    fit_candidate: Callable[[str, pd.DataFrame, pd.DataFrame, list[str], str], Any],
    train: pd.DataFrame,
    valid: pd.DataFrame,
    calib: pd.DataFrame,
    test: pd.DataFrame,
    features: list[str],
    label: str,
    capacity: PanelCapacity,
    truth: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per :data:`SEX_VARIANTS`: PR AUC, precision at capacity, girls named on each
    list, and girls' calibration relative to boys' (recorded; against ``truth`` — each
    young person's expected outcome — when given), over everyone and within each cohort.

    ``bundle`` is the released :class:`models.risk_model.ModelBundle`; ``fit_candidate``
    fits ``chosen_candidate`` on given features (``training.train._fit_candidate``).
    """
    y_calib = calib[label].to_numpy(dtype=int)
    y_test = test[label].to_numpy(dtype=int)
    rows = []
    released = RiskModel(bundle).predict(None, test)["probability"].to_numpy(dtype=float)
    rows.append(_row(SEX_VARIANTS[0], released, test, y_test, truth, capacity))
    # the same ranking: one shift per sex, then one map for everyone
    calib_score = bundle.estimator.score(calib[features])
    test_score = bundle.estimator.score(test[features])
    for variant, by in ((SEX_VARIANTS[1], (SEX,)), (SEX_VARIANTS[2], None)):
        calibrator = Calibrator(bundle.calibrator.method, by=by)
        calibrator.fit(calib_score, y_calib, groups=group_keys(calib, by) if by else None)
        p = calibrator.predict(test_score, group_keys(test, by) if by else None)
        rows.append(_row(variant, p, test, y_test, truth, capacity))
    # sex as an input: the same candidate refitted, its method chosen and fitted as usual
    with_sex = [*features, SEX_AS_INPUT.name]
    train_x, valid_x, calib_x, test_x = (_with_sex(f) for f in (train, valid, calib, test))
    estimator = fit_candidate(chosen_candidate, train_x, valid_x, with_sex, label)
    method = choose_method(
        estimator.score(valid_x[with_sex]),
        valid_x[label].to_numpy(dtype=int),
        valid_x["person_id"].to_numpy(dtype=object),
    )
    calibrator = Calibrator(method).fit(estimator.score(calib_x[with_sex]), y_calib)
    p = calibrator.predict(estimator.score(test_x[with_sex]))
    rows.append(_row(SEX_VARIANTS[3], p, test, y_test, truth, capacity))
    return pd.DataFrame(rows)


def _fmt(value: object, digits: int = 2) -> str:
    if isinstance(value, float):
        return "—" if value != value else f"{value:.{digits}f}"
    return str(value)


def sex_markdown(table: pd.DataFrame, limits: Mapping[str, float] | None = None) -> str:
    """The comparison as a markdown table with one line on how to read it."""
    truth = "girls_calibration_truth" in table.columns
    head = [
        "how",
        "PR AUC",
        "precision at capacity",
        "girls ÷ boys, recorded (known / early)",
        *(["girls ÷ boys, truth (known / early)"] if truth else []),
        "girls named: known list",
        "girls named: early list",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():

        def three(prefix: str, r: pd.Series = r) -> str:
            return (
                f"{_fmt(r[prefix])} ({_fmt(r[prefix + '_known'])} / {_fmt(r[prefix + '_early'])})"
            )

        cells = [
            str(r["how"]),
            _fmt(r["pr_auc"], 3),
            _fmt(r["precision_at_capacity"], 3),
            three("girls_calibration_recorded"),
            *([three("girls_calibration_truth")] if truth else []),
            f"{r['girls_named_known']} of {r['named_known']}",
            f"{r['girls_named_early']} of {r['named_early']}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    bounds = ""
    if limits:
        bounds = f" The policy's bounds are {limits['low']:g} to {limits['high']:g}."
    lines.append("")
    lines.append(
        "Girls ÷ boys is girls' mean estimate over their observed (or, against the truth, "
        "expected) rate, divided by boys': 1.00 means an estimate means the same for both; "
        f"above 1, girls' risk is over-stated.{bounds} Calibrating by sex moves no young "
        "person past another of the same sex; sex as an input can."
    )
    return "\n".join(lines)
