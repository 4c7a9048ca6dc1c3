"""The three candidate estimators, scikit-learn style (``fit`` returns self; state ends in ``_``).

- :class:`RulesBaseline` — the list a panel builds by hand today: points for a
  permanent exclusion, serious-violence involvement or a youth-justice order in
  the last year, and for recent missing episodes. Transparent, no fitting.
- :func:`logistic_regression` — signed-log transform, median imputation with
  missing indicators, standardisation, L2 logistic regression.
- :class:`LightGBMCandidate` — shallow boosted trees (depth 4, so TreeSHAP stays
  cheap) with early stopping on a time-later validation slice and monotone
  constraints on serious-violence history.

All expose ``score(X)``: a raw risk score where higher means riskier (the
calibrator turns it into a probability).
"""

from __future__ import annotations

from collections.abc import Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

#: features where more recent serious-violence involvement may never lower risk
MONOTONE_UP = (
    "incidents_365d_sv_suspect_count",
    "incidents_365d_sv_victim_count",
    "incidents_all_sv_suspect_count",
    "incidents_all_sv_victim_count",
    "incidents_365d_weapon_count",
)

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


def logistic_regression(C: float = 0.05) -> Pipeline:
    """The regularised logistic-regression candidate as a pipeline."""
    return make_pipeline(
        FunctionTransformer(_signed_log, feature_names_out="one-to-one"),
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=C, max_iter=2000),
    )


class LogisticCandidate:
    """Logistic regression; ``score`` is the linear predictor (log-odds)."""

    name = "logistic"

    def __init__(self, C: float = 0.05) -> None:
        self.C = C

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> LogisticCandidate:
        self.pipeline_ = logistic_regression(self.C).fit(_as_float(X), y)
        self.features_ = list(X.columns)
        return self

    def score(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Margin (log-odds); ``X`` a frame, or a float matrix in ``features_`` order."""
        return np.asarray(self.pipeline_.decision_function(_matrix(X, self.features_)))


#: below this many rows, one thread: starting OpenMP's team costs more than the trees
SMALL_BATCH = 2_000


def threads_for(rows: int) -> int:
    """LightGBM ``num_threads`` for a prediction of ``rows`` rows (0 = its default)."""
    return 1 if rows < SMALL_BATCH else 0


class LightGBMCandidate:
    """Gradient-boosted trees with early stopping on a later validation slice."""

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
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.early_stopping_rounds = early_stopping_rounds
        self.seed = seed

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
        self, X: pd.DataFrame, y: np.ndarray, X_valid: pd.DataFrame, y_valid: np.ndarray
    ) -> LightGBMCandidate:
        self.features_ = list(X.columns)
        constraints = [1 if f in MONOTONE_UP else 0 for f in self.features_]
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
            monotone_constraints=constraints,
            random_state=self.seed,
            n_jobs=2,
            verbose=-1,
        )
        self.model_.fit(
            _as_float(X),
            y,
            eval_X=(_as_float(X_valid[self.features_]),),
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
                _matrix(X, self.features_),
                raw_score=True,
                num_iteration=self.best_iteration_,
                num_threads=threads_for(len(X)),
            )
        )
