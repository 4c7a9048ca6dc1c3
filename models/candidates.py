"""The candidate estimators, scikit-learn style (``fit`` returns self; state ends in ``_``).

Every fitted candidate respects the direction the feature registry declares for each
input (:attr:`features.registry.FeatureInfo.direction`): a count of risk records never
lowers the estimate, a longer time since the last record never raises it. "Never
recorded" (a missing "days since" or "first age") is read as the registry's ``never``
value, the low-risk end, so the constraint holds across it.

- :class:`RulesBaseline` — the list a panel builds by hand today: points for a
  permanent exclusion, serious-violence involvement or a youth-justice order in
  the last year, and for recent missing episodes. Transparent, no fitting.
- :class:`LogisticCandidate` — signed-log transform, standardisation, then an
  L2-penalised logistic GLM (glum) whose coefficients are bounded to the declared
  signs.
- :class:`LightGBMCandidate` — shallow boosted trees (depth 4, so TreeSHAP stays
  cheap) with early stopping on a time-later validation slice and monotone
  constraints from the declared directions.
- :class:`EBMCandidate` — interpret's Explainable Boosting Machine without
  interactions: one shape function per input, monotone by the declared direction,
  so the explanation *is* the model (exactly additive).

``constrained=False`` gives the same model without the directions, reported in
training beside the others as what the constraints cost; it is never chosen.

All expose ``score(X)``: a raw risk score where higher means riskier (the
calibrator turns it into a probability).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from features.registry import REGISTRY, SEX_AS_INPUT, input_info

#: the name of a candidate fitted without the declared directions (reported, never chosen)
UNCONSTRAINED = "{name} (unconstrained)"

#: (points, feature, threshold): a rule fires when feature >= threshold
BASELINE_RULES: tuple[tuple[int, str, int], ...] = (
    (3, "incidents_365d_sv_suspect_count", 1),
    (3, "incidents_365d_sv_victim_count", 1),
    (2, "school_365d_permanent_exclusion_count", 1),
    (2, "contacts_365d_yot_order_count", 1),
    (1, "contacts_365d_missing_count", 2),
    (1, "incidents_365d_weapon_count", 1),
)


def _as_float(X: pd.DataFrame) -> np.ndarray:
    return X.to_numpy(dtype=float, na_value=np.nan)


def _matrix(X: pd.DataFrame | np.ndarray, features: Sequence[str]) -> np.ndarray:
    """``X``'s ``features`` as floats (missing → NaN); a matrix is taken as already so."""
    if isinstance(X, np.ndarray):
        return X
    return _as_float(X[list(features)])


def directions(features: Sequence[str]) -> np.ndarray:
    """The declared direction of each feature (+1 raises, −1 lowers, 0 either)."""
    known = {f: input_info(f) for f in features if f in REGISTRY or f == SEX_AS_INPUT.name}
    unknown = [f for f in features if f not in known or known[f].direction is None]
    if unknown:
        raise KeyError(f"no declared direction for {unknown[:5]}")
    return np.array([int(known[f].direction or 0) for f in features], dtype=int)


def never_values(features: Sequence[str]) -> np.ndarray:
    """What each feature reads for "never recorded" (NaN where a value is never missing)."""
    nevers = [input_info(f).never for f in features]
    return np.array([np.nan if v is None else float(v) for v in nevers])


class _Directed:
    """What the fitted candidates share: the feature list, each feature's declared direction
    and "never" value, and the matrix the model reads (never → the low-risk end).

    A value missing from a row is read as: the registry's ``never`` ("days since", "first
    age"); no record (0) for a raises-risk count or flag, whose contract says 0 when none is
    recorded; the training median for anything else (age, in a row sent without it)."""

    features_: list[str]
    never_: np.ndarray
    constrained: bool

    def _learn_inputs(self, X: pd.DataFrame) -> None:
        self.features_ = list(X.columns)
        self.directions_ = directions(self.features_)
        never = never_values(self.features_)
        absent = np.where(self.directions_ > 0, 0.0, np.nan)
        with np.errstate(all="ignore"):
            median = np.nan_to_num(np.nanmedian(_as_float(X), axis=0)) if len(X) else 0.0
        self.never_ = np.where(np.isnan(never), np.where(np.isnan(absent), median, absent), never)

    def constraints(self) -> list[int]:
        """The monotone constraint of each feature (all 0 when unconstrained)."""
        if not self.constrained:
            return [0] * len(self.features_)
        return [int(d) for d in self.directions_]

    def prepare(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The float matrix the model reads: missing "never" features filled in."""
        data = _matrix(X, self.features_)
        holes = np.isnan(data)
        if not holes.any():
            return data
        filled = np.where(holes, self.never_[None, :], data)
        return filled


class RulesBaseline:
    """Points for each hand-written rule met; no parameters are learned."""

    name = "rules"

    def __init__(self, rules: Sequence[tuple[int, str, int]] = BASELINE_RULES) -> None:
        self.rules = tuple(rules)

    def fit(self, X: pd.DataFrame, y: np.ndarray | None = None) -> RulesBaseline:
        missing = [f for _, f, _ in self.rules if f not in X.columns]
        if missing:
            raise KeyError(f"rules need features {missing}")
        self.n_features_in_ = X.shape[1]
        return self

    def score(self, X: pd.DataFrame) -> np.ndarray:
        points = np.zeros(len(X))
        for weight, feature, threshold in self.rules:
            points += weight * (X[feature].fillna(0).to_numpy() >= threshold)
        return points

    def flags(self, X: pd.DataFrame) -> np.ndarray:
        """The panel's yes/no list: any rule worth 2+ points met."""
        return self.score(X) >= 2


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


#: knots of the spline a "raises or lowers" input (age) gets in the logistic candidate
SHAPE_KNOTS = 5


class LogisticCandidate(_Directed):
    """Logistic GLM on signed-log, standardised inputs, each coefficient bounded to its
    feature's declared sign (glum); ``score`` is the linear predictor (log-odds).

    The signed log and the standardisation are increasing maps, so a coefficient's sign
    on the standardised input is its sign on the record itself. Two kinds of column are
    added after the features, each credited to its feature (:attr:`credit_`):

    - a "never recorded" indicator for each feature with a "never" value, bounded to
      lower the estimate, so that "never" is not only the far end of a line;
    - a spline of each input whose direction is "either" (age), unbounded: risk rises
      through the teens and falls in the twenties, which no single slope can say, and a
      model that cannot say it over-states the risk of the youngest and the oldest.
    """

    name = "logistic"

    def __init__(self, alpha: float = 1e-4, constrained: bool = True) -> None:
        self.alpha = alpha
        self.constrained = constrained

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        X_recent: pd.DataFrame | None = None,
        y_recent: np.ndarray | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> LogisticCandidate:
        """Fit on the training years; with ``X_recent`` (a later labelled slice, the
        validation year), then re-estimate the shape columns and the intercept on it,
        every other coefficient held (:meth:`reanchor`). ``sample_weight``: each training
        row's weight (a case-control sample's; ``None``, all 1)."""
        from sklearn.preprocessing import SplineTransformer

        self._learn_inputs(X)
        self.never_columns_ = [
            j for j, f in enumerate(self.features_) if input_info(f).never is not None
        ]
        self.shape_columns_ = [j for j, d in enumerate(self.directions_) if d == 0]
        raw = _matrix(X, self.features_)
        self.splines_ = [
            SplineTransformer(n_knots=SHAPE_KNOTS, degree=3, extrapolation="constant").fit(
                self.prepare(raw)[:, [j]]
            )
            for j in self.shape_columns_
        ]
        z = self._standardise(raw, fit=True)
        n_shape = z.shape[1] - len(self.features_) - len(self.never_columns_)
        self.credit_ = np.array(
            [
                *range(len(self.features_)),
                *self.never_columns_,
                *(
                    j
                    for j, spline in zip(self.shape_columns_, self.splines_, strict=True)
                    for _ in range(spline.n_features_out_)
                ),
            ],
            dtype=int,
        )
        signs = np.zeros(z.shape[1])
        if self.constrained:  # "never recorded" may only lower the estimate; shapes are free
            signs = np.concatenate(
                [self.constraints(), -np.ones(len(self.never_columns_)), np.zeros(n_shape)]
            )
        model = self._glm(signs).fit(z, np.asarray(y, dtype=float), sample_weight=sample_weight)
        self.coef_ = np.asarray(model.coef_, dtype=float)
        self.intercept_ = float(model.intercept_)
        self.reanchored_ = False
        if X_recent is not None and y_recent is not None and len(X_recent):
            self.reanchor(X_recent, y_recent)
        return self

    def _glm(self, signs: np.ndarray) -> Any:
        from glum import GeneralizedLinearRegressor

        return GeneralizedLinearRegressor(
            family="binomial",
            alpha=self.alpha,
            l1_ratio=0.0,
            lower_bounds=np.where(signs > 0, 0.0, -np.inf),
            upper_bounds=np.where(signs < 0, 0.0, np.inf),
            scale_predictors=False,
            max_iter=200,
        )

    def reanchor(self, X: pd.DataFrame, y: np.ndarray) -> LogisticCandidate:
        """Re-estimate the shape columns (age) and the intercept on a later slice, every
        record's coefficient held as it is.

        An extract holds records from a fixed start, so in early training years the
        oldest young people's "on record" counts cover only part of their history; each
        later year they cover more. Counts may only raise the estimate, so a model that
        learned the age shape on the early years over-states 18–24 year olds on today's
        fuller records (1.26× 14–17 year olds' against the truth, in the unbiased known-
        answer world). The most recent labelled year's records are as full as today's.
        No coefficient's sign can change: the shape columns' direction is "either".
        """
        z = self.standardised(X)
        free = np.zeros(z.shape[1], dtype=bool)
        free[len(self.features_) + len(self.never_columns_) :] = True
        if not free.any():
            return self
        held = z[:, ~free] @ self.coef_[~free]
        model = self._glm(np.zeros(int(free.sum()))).fit(
            z[:, free], np.asarray(y, dtype=float), offset=held
        )
        self.coef_ = self.coef_.copy()
        self.coef_[free] = np.asarray(model.coef_, dtype=float)
        self.intercept_ = float(model.intercept_)
        self.reanchored_ = True
        return self

    def _standardise(self, raw: np.ndarray, fit: bool = False) -> np.ndarray:
        filled = self.prepare(raw)
        never = np.isnan(raw[:, self.never_columns_]).astype(float)
        shapes = [
            spline.transform(filled[:, [j]])
            for j, spline in zip(self.shape_columns_, self.splines_, strict=True)
        ]
        logged = np.hstack([_signed_log(filled), never, *shapes])
        if fit:
            self.scaler_ = StandardScaler().fit(logged)
        return np.asarray(self.scaler_.transform(logged))

    def standardised(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The columns the GLM reads, standardised: the features (never filled, signed log),
        then the "never recorded" indicators, then the shape splines (:attr:`credit_` names
        each column's feature)."""
        return self._standardise(_matrix(X, self.features_))

    def score(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Margin (log-odds); ``X`` a frame, or a float matrix in ``features_`` order."""
        return self.standardised(X) @ self.coef_ + self.intercept_


#: below this many rows, one thread: starting OpenMP's team costs more than the trees
SMALL_BATCH = 2_000


def threads_for(rows: int) -> int:
    """LightGBM ``num_threads`` for a prediction of ``rows`` rows (0 = its default)."""
    return 1 if rows < SMALL_BATCH else 0


class LightGBMCandidate(_Directed):
    """Gradient-boosted trees with early stopping on a later validation slice, monotone in
    every input with a declared direction."""

    name = "lightgbm"

    def __init__(
        self,
        n_estimators: int = 600,
        learning_rate: float = 0.05,
        max_depth: int = 4,
        num_leaves: int = 15,
        min_child_samples: int = 80,
        early_stopping_rounds: int = 50,
        seed: int = 0,
        constrained: bool = True,
        monotone_method: str = "basic",
    ) -> None:
        self.monotone_method = monotone_method
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.early_stopping_rounds = early_stopping_rounds
        self.seed = seed
        self.constrained = constrained

    def params(self) -> dict[str, object]:
        return {
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "max_depth": self.max_depth,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "early_stopping_rounds": self.early_stopping_rounds,
        }

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        X_valid: pd.DataFrame,
        y_valid: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> LightGBMCandidate:
        """Fit, stopping early on the validation slice; ``sample_weight``: each training
        row's weight (a case-control sample's; ``None``, all 1)."""
        self._learn_inputs(X)
        self.model_ = lgb.LGBMClassifier(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            reg_lambda=1.0,
            monotone_constraints=self.constraints(),
            # every right leaf of a split at least every left one, so an exact TreeSHAP
            # value of a risk record is rarely against its direction
            monotone_constraints_method=self.monotone_method,
            random_state=self.seed,
            n_jobs=2,
            verbose=-1,
        )
        self.model_.fit(
            self.prepare(X),
            y,
            sample_weight=sample_weight,
            eval_X=(self.prepare(X_valid[self.features_]),),
            eval_y=(y_valid,),
            eval_metric="average_precision",
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        self.best_iteration_ = int(self.model_.best_iteration_ or self.n_estimators)
        return self

    def score(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Margin (log-odds) of the booster at the best iteration; ``X`` a frame, or a
        float matrix in ``features_`` order."""
        # straight from the booster: the same numbers as the scikit-learn wrapper's
        # ``predict(raw_score=True)``, without its input checks (they dominate one row)
        return np.asarray(
            self.model_.booster_.predict(
                self.prepare(X),
                raw_score=True,
                num_iteration=self.best_iteration_,
                num_threads=threads_for(len(X)),
            )
        )


class EBMCandidate(_Directed):
    """interpret's Explainable Boosting Machine, main effects only (no interactions), each
    shape function monotone by the declared direction; ``score`` is its log-odds."""

    name = "ebm"

    def __init__(
        self,
        outer_bags: int = 2,
        max_rounds: int = 2_000,
        learning_rate: float = 0.04,
        seed: int = 0,
        constrained: bool = True,
    ) -> None:
        self.outer_bags = outer_bags
        self.max_rounds = max_rounds
        self.learning_rate = learning_rate
        self.seed = seed
        self.constrained = constrained

    def fit(
        self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> EBMCandidate:
        """Fit; ``sample_weight``: each row's weight (a case-control sample's; ``None``,
        all 1)."""
        from interpret.glassbox import ExplainableBoostingClassifier

        self._learn_inputs(X)
        self.model_ = ExplainableBoostingClassifier(
            feature_names=self.features_,
            feature_types=["continuous"] * len(self.features_),
            interactions=0,
            outer_bags=self.outer_bags,
            max_rounds=self.max_rounds,
            learning_rate=self.learning_rate,
            monotone_constraints=self.constraints(),
            n_jobs=2,
            random_state=self.seed,
        ).fit(self.prepare(X), np.asarray(y, dtype=int), sample_weight=sample_weight)
        return self

    def terms(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Each input's term score per row (the explanation: they add up to the margin)."""
        return np.asarray(self.model_.eval_terms(self.prepare(X)), dtype=float)

    def score(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Margin (log-odds): the intercept plus every term."""
        return np.asarray(self.model_.decision_function(self.prepare(X)), dtype=float)
