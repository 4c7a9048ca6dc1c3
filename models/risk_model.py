"""The packaged model: one MLflow pyfunc, :class:`RiskModel`.

It holds the chosen candidate, its calibrator, the feature list with registry
metadata and the absolute-risk bands. Given feature rows it returns a calibrated
probability and a band per row — never a 0/1 decision. Training, batch scoring
and the service all go through it: there is no second scoring path.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel, PythonModelContext
from scipy.special import expit, logit

from models.bands import BAND_ORDER, Band
from models.calibration import (
    _EDGE,
    COHORT,
    INTERVAL_LEVEL,
    KEY_SEPARATOR,
    Calibrator,
    group_keys,
    row_columns,
)
from models.candidates import RulesBaseline
from models.explain import AdditivityError, Contributions, contributions
from models.reasons import (
    Explanation,
    against_direction,
    build_explanation,
    registry_directions,
)


@dataclass
class ModelBundle:
    """Everything the pyfunc needs, serialised with joblib."""

    outcome: str
    candidate_name: str
    estimator: Any
    calibrator: Calibrator
    features: list[str]
    bands: list[Band]
    registry: dict[str, dict[str, object]] = field(default_factory=dict)
    trained_on: dict[str, object] = field(default_factory=dict)

    def band_range(self, name: str) -> tuple[float, float | None]:
        """The estimates band ``name`` holds: its lower edge and the next band's (or None)."""
        lowers = [b.lower for b in self.bands]
        i = [b.name for b in self.bands].index(name)
        return (float(lowers[i]), float(lowers[i + 1]) if i + 1 < len(lowers) else None)

    def band_of(self, probability: np.ndarray) -> np.ndarray:
        names = np.full(len(probability), BAND_ORDER[0], dtype=object)
        for band in self.bands[1:]:
            names[probability >= band.lower] = band.name
        return names

    def save(self, path: Path) -> Path:
        joblib.dump(self, path)
        return path


#: while one request is answered (:func:`one_request`), the margins and contributions of
#: the rows already worked out, by model and row; ``None`` outside a request
_REQUEST_MEMO: ContextVar[dict[tuple[object, ...], Any] | None] = ContextVar(
    "risk_model_request", default=None
)


@contextmanager
def one_request() -> Iterator[None]:
    """Within this block, a row a model has scored (or explained) is not scored again.

    One request of the service reads the same row several times: its explanation, then
    what changed since the previous snapshot (:func:`models.changes.changes_since`
    scores and explains both rows again). Only single rows are remembered, and nothing
    outlives the block: there is no cache across requests.
    """
    token = _REQUEST_MEMO.set({})
    try:
        yield
    finally:
        _REQUEST_MEMO.reset(token)


def _number(value: object) -> float:
    """A cell as the float ``DataFrame.to_numpy(dtype=float, na_value=nan)`` makes of it."""
    if value is None or value is pd.NA:
        return np.nan
    return float(value)  # type: ignore[arg-type]


def _linear_points(calibrator: Calibrator) -> tuple[np.ndarray, np.ndarray] | None:
    """The points of an isotonic calibrator's linear ``interp1d`` (``None``: another map)."""
    from scipy.interpolate import interp1d

    f = getattr(getattr(calibrator, "model_", None), "f_", None)
    if isinstance(f, interp1d) and getattr(f, "_call", None) is interp1d._call_linear_np:
        return np.asarray(f.x), np.asarray(f.y)
    return None


class _CalibrationMaps:
    """A fitted :class:`~models.calibration.Calibrator` and its bootstrap refits read as
    arrays, for a few rows at a time: the very numbers of ``Calibrator.predict`` and
    ``Calibrator.interval`` (the same operations on the same fitted parameters), without
    scikit-learn's input checks on each of the 41 maps, which were most of the time of
    explaining one young person.

    A map this class does not know (a calibrator of another kind) leaves ``usable`` false
    and the caller takes the calibrator's own methods.
    """

    def __init__(self, calibrator: Calibrator) -> None:
        self.by = getattr(calibrator, "by", None)
        fitted = [calibrator, *getattr(calibrator, "resampled_", [])]
        self.refits = len(fitted) - 1
        self.shifts = [dict(getattr(c, "shifts_", {})) for c in fitted]
        self.usable = all(self._known(c) for c in fitted)
        self.platt = self.usable and all(c.method == "platt" for c in fitted)
        if self.platt:
            # one (1, maps) matrix: ``score @ coef.T + intercept`` of every map at once
            self.coef = np.hstack([np.asarray(c.model_.coef_, dtype=float).T for c in fitted])
            self.intercept = np.hstack(
                [np.asarray(c.model_.intercept_, dtype=float) for c in fitted]
            )
        self.fitted = fitted
        # scipy's linear interp1d is np.interp on its points (what IsotonicRegression calls
        # on scores clipped into its thresholds, never outside them): called directly
        self.points = [_linear_points(c) for c in fitted]
        self.isotonic = (
            self.usable
            and all(c.method == "isotonic" for c in fitted)
            and all(p is not None for p in self.points)
            and all(c.model_.X_thresholds_.dtype == np.float64 for c in fitted)
        )
        if self.isotonic:
            self.low = np.array([c.model_.X_min_ for c in fitted], dtype=float)[:, None]
            self.high = np.array([c.model_.X_max_ for c in fitted], dtype=float)[:, None]

    @staticmethod
    def _known(calibrator: Calibrator) -> bool:
        model = getattr(calibrator, "model_", None)
        if calibrator.method == "platt":
            coef = getattr(model, "coef_", None)
            return coef is not None and np.shape(coef) == (1, 1) and len(model.classes_) == 2  # type: ignore[union-attr]
        if calibrator.method == "isotonic":
            return (
                getattr(model, "out_of_bounds", None) == "clip"
                and getattr(model, "X_thresholds_", None) is not None
            )
        return False

    def _shared(self, score: np.ndarray, maps: int) -> np.ndarray:
        """The first ``maps`` maps' shared probability of each score: (maps, rows)."""
        if self.platt:
            # LogisticRegression.predict_proba(...)[:, 1]: expit(X @ coef.T + intercept)
            decision = score.reshape(-1, 1) @ self.coef[:, :maps] + self.intercept[:maps]
            return np.asarray(expit(decision)).T
        if self.isotonic:
            # every map's scores clipped into its thresholds at once, then interpolated
            clipped = np.clip(score.reshape(1, -1), self.low[:maps], self.high[:maps])
            mapped = [np.interp(clipped[k], *self.points[k]) for k in range(maps)]  # type: ignore[misc]
            return np.clip(np.vstack(mapped), 0.0, 1.0)
        rows = []
        for calibrator in self.fitted[:maps]:
            model = calibrator.model_
            if calibrator.method == "platt":
                decision = score.reshape(-1, 1) @ model.coef_.T + model.intercept_
                rows.append(expit(decision.reshape(-1)))
                continue
            # IsotonicRegression.predict: clipped into the thresholds, interpolated, cast
            dtype = model.X_thresholds_.dtype
            clipped = np.clip(score.astype(dtype).reshape(-1), model.X_min_, model.X_max_)
            points = self.points[len(rows)]
            mapped = model.f_(clipped) if points is None else np.interp(clipped, *points)
            rows.append(np.clip(mapped.astype(clipped.dtype), 0.0, 1.0))
        return np.vstack(rows)

    def predict(
        self, score: np.ndarray, groups: np.ndarray | None, *, refits: bool = True
    ) -> np.ndarray:
        """Each map's probability of each score, (maps, rows): row 0 is
        ``Calibrator.predict``'s, the others its refits' (none unless ``refits``)."""
        maps = len(self.fitted) if refits else 1
        shared = self._shared(np.asarray(score, dtype=float), maps)
        if self.by is None:
            return shared
        if groups is None or len(groups) != shared.shape[1]:
            self.fitted[0].predict(score, groups)  # the calibrator's own refusal
        keys = np.asarray(groups).astype(str).tolist()
        for calibrator, shifts in zip(self.fitted[:maps], self.shifts[:maps], strict=True):
            if any(k not in shifts for k in keys):
                calibrator.predict(score, groups)  # a group it never saw: its own refusal
        shift = np.array([[s[k] for k in keys] for s in self.shifts[:maps]], dtype=float)
        return np.asarray(expit(logit(np.clip(shared, _EDGE, 1 - _EDGE)) + shift))

    def interval(self, estimates: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """``Calibrator.interval`` from :meth:`predict`'s estimates (``None`` without refits)."""
        if self.refits < 2:
            return None
        tail = (1 - INTERVAL_LEVEL) / 2 * 100
        low, high = np.percentile(estimates[1:], [tail, 100 - tail], axis=0)
        point = estimates[0]
        return np.minimum(low, point), np.maximum(high, point)


#: the index of a row explained on its own
_ONE = pd.RangeIndex(1)


@dataclass(frozen=True)
class RecordScore:
    """One row's probability and band, and each input's value (NaN: missing) and
    contribution, in the order of ``names``."""

    probability: float
    band: str
    names: list[str]
    contributions: np.ndarray
    values: np.ndarray


class ExplanationMismatchError(RuntimeError):
    """The contributions do not add up to the score the probability came from."""


def model_signature(
    features: list[str], *, nullable: list[str], calibrate_by: Sequence[str] = ()
) -> ModelSignature:
    """The pyfunc's signature, with the feature table's real types.

    Counts and flags are integers (``long``); "days since" and "first age" are
    integers that may be missing, which pandas holds as ``Int64`` or as floats
    with ``NaN`` — declared ``Any`` so that both pass. ``calibrate_by`` (``sex``) are
    text columns, read only to calibrate. Extra columns (keys, labels, audit columns) are
    ignored by MLflow.
    """
    from mlflow.types.schema import AnyType, ColSpec, Schema, TensorSpec

    missing_ok = set(nullable)
    columns: list[ColSpec | TensorSpec] = [
        ColSpec(AnyType() if f in missing_ok else "long", f) for f in features
    ]
    columns += [ColSpec("string", name) for name in calibrate_by]
    inputs = Schema(columns)
    outputs = Schema([ColSpec("double", "probability"), ColSpec("string", "band")])
    return ModelSignature(inputs=inputs, outputs=outputs)


class RiskModel(PythonModel):
    """Calibrated probability and absolute-risk band for each row of features."""

    def __init__(self, bundle: ModelBundle | None = None) -> None:
        self.bundle = bundle
        self._forget()

    def load_context(self, context: PythonModelContext) -> None:
        self.bundle = joblib.load(context.artifacts["bundle"])
        self._forget()

    def _forget(self) -> None:
        """Drop what is derived from the bundle (read again on first use)."""
        self._registry: dict[str, dict[str, object]] | None = None
        self._calibration_maps: _CalibrationMaps | None = None
        self._explain_statics: dict[str, Any] | None = None

    def _bundle(self) -> ModelBundle:
        if self.bundle is None:
            raise RuntimeError("RiskModel has no bundle loaded")
        return self.bundle

    @property
    def calibrate_by(self) -> tuple[str, ...] | None:
        """What the probability is calibrated by (sex within cohort), or ``None``: sex is
        read only to calibrate, never a model input (:mod:`models.calibration`)."""
        return getattr(self._bundle().calibrator, "by", None)

    def calibration_columns(self) -> list[str]:
        """The columns besides the features a row must hold to be calibrated (``sex``)."""
        return row_columns(self.calibrate_by)

    def required_columns(self) -> list[str]:
        """Every column a row must hold: the model features, then the calibration's."""
        return [*self._bundle().features, *self.calibration_columns()]

    def check_columns(self, frame: pd.DataFrame) -> None:
        """Refuse rows that lack any model feature, or the sex the estimate is calibrated by
        (one message naming them)."""
        self._check_names(frame.columns)

    def _check_names(self, columns: Collection[object]) -> None:
        """:meth:`check_columns` of a frame's (or a record's) column names."""
        missing = [f for f in self._bundle().features if f not in columns]
        if missing:
            raise KeyError(f"feature rows lack {len(missing)} model feature(s): {missing[:5]}")
        uncalibrated = [c for c in self.calibration_columns() if c not in columns]
        if uncalibrated:
            raise KeyError(
                f"feature rows lack {' and '.join(uncalibrated)}, which the estimate is "
                "calibrated by (only to calibrate; never a model input)"
            )

    def _groups(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Each row's calibration group (``None`` when the model calibrates everyone
        alike; :func:`models.calibration.group_keys`)."""
        by = self.calibrate_by
        return None if by is None else group_keys(frame, by)

    def _maps(self) -> _CalibrationMaps:
        """The calibrator read as arrays (built on first use; the bundle never changes)."""
        maps = getattr(self, "_calibration_maps", None)
        if maps is None:
            maps = _CalibrationMaps(self._bundle().calibrator)
            self._calibration_maps = maps
        return maps

    def _record_inputs(self, record: Mapping[str, object]) -> np.ndarray | None:
        """One record's inputs as a (1, features) float matrix — what :meth:`_inputs` gives
        for a one-row frame of it — or ``None`` when the single-row path does not apply
        (the rules baseline, a calibrator of another kind, a cell only pandas converts)."""
        bundle = self._bundle()
        if isinstance(bundle.estimator, RulesBaseline) or not self._maps().usable:
            return None
        self._check_names(record.keys())
        try:
            return np.array([[_number(record[f]) for f in bundle.features]], dtype=float)
        except (TypeError, ValueError):
            return None

    def _one_row(self, frame: pd.DataFrame) -> tuple[dict[str, object], np.ndarray] | None:
        """A one-row frame's cells by column and its inputs (:meth:`_record_inputs`), or
        ``None`` when the single-row path does not apply (several rows, …)."""
        if len(frame) != 1:
            return None
        self.check_columns(frame)
        cells = frame.to_numpy(dtype=object)[0].tolist()
        record = dict(zip([str(c) for c in frame.columns], cells, strict=True))
        inputs = self._record_inputs(record)
        return None if inputs is None else (record, inputs)

    def _margin_one(self, inputs: np.ndarray) -> np.ndarray:
        """The estimator's margin of one prepared row (remembered within a request)."""
        memo = _REQUEST_MEMO.get()
        key = (id(self), "margin", inputs.tobytes())
        if memo is not None and key in memo:
            return memo[key]
        margin = np.asarray(self._bundle().estimator.score(inputs), dtype=float)
        if memo is not None:
            memo[key] = margin
        return margin

    def _contributions_one(self, inputs: np.ndarray, method: str, index: pd.Index) -> Contributions:
        """:func:`models.explain.contributions` of one prepared row, checked against its
        margin (remembered within a request)."""
        memo = _REQUEST_MEMO.get()
        key = (id(self), "contributions", method, inputs.tobytes())
        found = None if memo is None else memo.get(key)
        if found is None:
            margin = self._margin_one(inputs)
            found = contributions(self._bundle().estimator, inputs, method, index, margin)
            if memo is not None:
                memo[key] = found
        if not found.values.index.equals(index):
            found = Contributions(found.base, found.values.set_axis(index), found.margin)
        return found

    def _group_of(
        self, frame: pd.DataFrame | None, record: Mapping[str, object]
    ) -> np.ndarray | None:
        """:func:`~models.calibration.group_keys` of a one-row frame (``None``: the frame
        of ``record``), read from its ``record``."""
        from features.vocabulary import ALREADY_INVOLVED, INVOLVEMENT_FEATURES, NOT_YET_INVOLVED

        by = self.calibrate_by
        if by is None:
            return None
        parts = []
        for name in by:
            if name == COHORT:
                counts = [record.get(c) for c in INVOLVEMENT_FEATURES]
                if all(isinstance(v, (int, float)) for v in counts):
                    # already_involved: any count above zero (a missing count is zero)
                    involved = any(not math.isnan(float(v)) and float(v) > 0 for v in counts)  # type: ignore[arg-type]
                    parts.append(ALREADY_INVOLVED if involved else NOT_YET_INVOLVED)
                    continue
            else:
                value = record.get(name)
                if isinstance(value, str):
                    parts.append(value)
                    continue
            # a cell the frame reads its own way (missing, not text): group_keys decides
            return group_keys(pd.DataFrame([dict(record)]) if frame is None else frame, by)
        return np.asarray([KEY_SEPARATOR.join(parts)], dtype=str)

    def _names(self, contrib: Contributions) -> list[str]:
        """The inputs ``contrib`` holds, in order (read once per column index: the index of
        text is slow to walk one row at a time)."""
        columns = contrib.values.columns
        known = self._statics()["names"]
        found = known.get(id(columns))
        if found is None or found[0] is not columns:
            found = known[id(columns)] = (columns, [str(c) for c in columns])
        return list(found[1])

    def _statics(self) -> dict[str, Any]:
        """What every explanation of this model shares: each band's meaning and range, and
        the declared direction of each input (built on first use)."""
        statics = getattr(self, "_explain_statics", None)
        if statics is None:
            bundle = self._bundle()
            statics = {
                "meanings": {b.name: b.meaning(bundle.outcome) for b in bundle.bands},
                "ranges": {b.name: bundle.band_range(b.name) for b in bundle.bands},
                "directions": {},
                "names": {},
            }
            self._explain_statics = statics
        return statics

    def _inputs(self, frame: pd.DataFrame) -> pd.DataFrame | np.ndarray:
        """What the estimator reads: its features as one float matrix (missing → NaN, so
        an integer column MLflow hands over as objects holding ``pd.NA`` reads as NaN);
        the rules baseline reads the frame. Extra columns are ignored."""
        bundle = self._bundle()
        self.check_columns(frame)
        if isinstance(bundle.estimator, RulesBaseline):
            return frame
        selected = frame[bundle.features]
        try:
            return selected.to_numpy(dtype=float, na_value=np.nan)
        except TypeError:  # object columns holding pd.NA convert column by column
            return np.column_stack(
                [selected[c].to_numpy(dtype=float, na_value=np.nan) for c in selected.columns]
            )

    def _decide(
        self, inputs: pd.DataFrame | np.ndarray, groups: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probability, band and the margin they come from, for prepared inputs (and each
        row's calibration group): the body of :meth:`predict`, which :meth:`explain`
        shares."""
        bundle = self._bundle()
        margin = np.asarray(bundle.estimator.score(inputs), dtype=float)
        probability = bundle.calibrator.predict(margin, groups)
        return probability, bundle.band_of(probability), margin

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """``probability`` (calibrated, 12-month horizon) and ``band`` for every row.

        The one scoring path: training, the fairness gate, the batch, the service
        and explanations all take their probability from here.
        """
        one = self._one_row(model_input)
        inputs: pd.DataFrame | np.ndarray
        if one is not None:  # one row: the same numbers without pandas and sklearn checks
            record, inputs = one
            margin = self._margin_one(inputs)
            groups = self._group_of(model_input, record)
            probability = self._maps().predict(margin, groups, refits=False)[0]
            band = self._bundle().band_of(probability)
        else:
            inputs = self._inputs(model_input)
            probability, band, _ = self._decide(inputs, self._groups(model_input))
        return pd.DataFrame({"probability": probability, "band": band}, index=model_input.index)

    def registry(self) -> dict[str, dict[str, object]]:
        """Registry entries of the model's features (live entries fill gaps in old bundles)."""
        from features.registry import REGISTRY

        cached = getattr(self, "_registry", None)
        if cached is not None:
            return cached
        bundle = self._bundle()
        merged: dict[str, dict[str, object]] = {}
        for name in bundle.features:
            entry = dict(bundle.registry.get(name, {}))
            live = REGISTRY.get(name)
            if live is not None:
                for key in (
                    "domain",
                    "template",
                    "source",
                    "latest_from",
                    "absent",
                    "direction",
                    "direction_reason",
                    "what",
                    "window",
                ):
                    entry.setdefault(key, getattr(live, key))
            merged[name] = entry
        self._registry = merged
        return merged

    def contributions(self, rows: pd.DataFrame, method: str = "native") -> Contributions:
        """Additive log-odds contributions of every model input (checked)."""
        bundle = self._bundle()
        one = self._one_row(rows)
        if one is not None:  # the same numbers: its margin is the one the booster gives
            return self._contributions_one(one[1], method, rows.index)
        return contributions(bundle.estimator, self._inputs(rows), method, index=rows.index)

    def _against(self, inputs: pd.DataFrame | np.ndarray, contrib: Contributions) -> np.ndarray:
        """Which of ``contrib`` run against their input's declared direction (rows × inputs,
        :func:`models.reasons.against_direction`), read from the prepared ``inputs``."""
        names = self._names(contrib)
        records = (
            inputs[names].to_numpy(dtype=float, na_value=np.nan)
            if isinstance(inputs, pd.DataFrame)
            else inputs
        )
        known = self._statics()["directions"]
        directions = known.get(tuple(names))
        if directions is None:
            directions = known[tuple(names)] = registry_directions(self.registry(), names)
        return against_direction(contrib.values.to_numpy(), records, directions)

    def direction_check(self, rows: pd.DataFrame, method: str = "native") -> dict[str, float]:
        """How much of the explanation of ``rows`` runs against the declared directions:
        ``against_share`` — folded contribution mass over all absolute contribution mass;
        ``against_people`` — share of rows with a folded contribution of 0.05 log-odds or
        more (one that would otherwise have been a visible reason)."""
        inputs = self._inputs(rows)
        contrib = contributions(self._bundle().estimator, inputs, method, index=rows.index)
        values = contrib.values.to_numpy()
        mask = self._against(inputs, contrib)
        total = float(np.abs(values).sum())
        folded = np.abs(np.where(mask, values, 0.0))
        return {
            "against_share": float(folded.sum() / total) if total > 0 else 0.0,
            "against_people": float((folded >= 0.05).any(axis=1).mean()) if len(values) else 0.0,
        }

    def explain(
        self,
        rows: pd.DataFrame,
        top_k: int = 5,
        data_as_of: Mapping[str, dt.date] | None = None,
        method: str = "native",
    ) -> list[Explanation]:
        """Probability, band, reasons and protective factors for each row.

        ``rows`` holds the model inputs and, when available, ``person_id``,
        ``as_of`` and the support columns that date each reason.
        """
        one = self._one_row(rows)
        if one is not None:
            # one row (the service): the same numbers, read from one object row and the
            # calibrator's arrays rather than through pandas and scikit-learn's checks
            return [self._explain_one(*one, rows, top_k, data_as_of, method)]
        bundle = self._bundle()
        # the inputs are prepared once; the decision is exactly the one predict makes
        inputs = self._inputs(rows)
        groups = self._groups(rows)
        probability, bands, margin = self._decide(inputs, groups)
        intervals = bundle.calibrator.interval(margin, groups=groups)
        try:
            # the contributions must add up to the very score that gave the probability
            contrib = contributions(bundle.estimator, inputs, method, rows.index, margin)
        except AdditivityError as exc:
            raise ExplanationMismatchError(
                f"explanation margin disagrees with the model's probability: {exc}"
            ) from None
        # row by row from one object matrix: to_dict("records") copies column by column
        names_in = [str(c) for c in rows.columns]
        records = [
            dict(zip(names_in, cells, strict=True))
            for cells in rows.to_numpy(dtype=object).tolist()
        ]
        return self._explanations(
            records, inputs, contrib, probability, bands, intervals, top_k, data_as_of
        )

    def explain_record(
        self,
        record: Mapping[str, object],
        top_k: int = 5,
        data_as_of: Mapping[str, dt.date] | None = None,
        method: str = "native",
    ) -> Explanation:
        """:meth:`explain` of one row given as a mapping of column to value (the same
        explanation as for a one-row frame of it; what the service explains)."""
        inputs = self._record_inputs(record)
        if inputs is None:
            (explanation,) = self.explain(pd.DataFrame([dict(record)]), top_k, data_as_of, method)
            return explanation
        return self._explain_one(dict(record), inputs, None, top_k, data_as_of, method)

    def _explain_one(
        self,
        record: dict[str, object],
        inputs: np.ndarray,
        frame: pd.DataFrame | None,
        top_k: int,
        data_as_of: Mapping[str, dt.date] | None,
        method: str,
    ) -> Explanation:
        """The explanation of one row from its record and prepared inputs."""
        bundle = self._bundle()
        groups = self._group_of(frame, record)
        margin = self._margin_one(inputs)
        estimates = self._maps().predict(margin, groups)
        probability = estimates[0]
        bands = bundle.band_of(probability)
        intervals = self._maps().interval(estimates)
        index = _ONE if frame is None else frame.index
        try:
            contrib = self._contributions_one(inputs, method, index)
        except AdditivityError as exc:
            raise ExplanationMismatchError(
                f"explanation margin disagrees with the model's probability: {exc}"
            ) from None
        (explanation,) = self._explanations(
            [record], inputs, contrib, probability, bands, intervals, top_k, data_as_of
        )
        return explanation

    def _explanations(
        self,
        records: list[dict[str, object]],
        inputs: pd.DataFrame | np.ndarray,
        contrib: Contributions,
        probability: np.ndarray,
        bands: np.ndarray,
        intervals: tuple[np.ndarray, np.ndarray] | None,
        top_k: int,
        data_as_of: Mapping[str, dt.date] | None,
    ) -> list[Explanation]:
        """Each row's :class:`~models.reasons.Explanation` from its decision and
        contributions (shared by the batch and the single-row paths)."""
        bundle = self._bundle()
        meanings = self._statics()["meanings"]
        ranges = self._statics()["ranges"]
        registry = self.registry()
        names = self._names(contrib)
        values = contrib.values.to_numpy()
        # which contributions run against their declared direction: folded, never reasons
        against = self._against(inputs, contrib)
        return [
            build_explanation(
                outcome=bundle.outcome,
                row=record,
                contributions=dict(zip(names, values[i].tolist(), strict=True)),
                registry=registry,
                probability=float(probability[i]),
                band=str(bands[i]),
                band_meaning=meanings[str(bands[i])],
                top_k=top_k,
                data_as_of=data_as_of,
                against=[n for n, m in zip(names, against[i], strict=True) if m],
                interval=None if intervals is None else (intervals[0][i], intervals[1][i]),
                band_range=ranges[str(bands[i])],
            )
            for i, record in enumerate(records)
        ]

    def score_record(self, record: Mapping[str, object], method: str = "native") -> RecordScore:
        """Probability, band, inputs and contributions of one row given as a mapping of
        column to value: the numbers :meth:`predict` and :meth:`contributions` give for a
        one-row frame of it (what :func:`models.changes.changes_of_record` reads)."""
        inputs = self._record_inputs(record)
        if inputs is None:
            frame = pd.DataFrame([dict(record)])
            predicted = self.predict(None, frame)
            probability = predicted["probability"].to_numpy(dtype=float)
            band = predicted["band"].to_numpy(dtype=object)
            contrib = self.contributions(frame, method)
            names = [str(c) for c in contrib.values.columns]
            values = frame[names].to_numpy(dtype=float, na_value=np.nan)[0]
        else:
            # the numbers predict's frame would hold
            margin = self._margin_one(inputs)
            groups = self._group_of(None, record)
            probability = self._maps().predict(margin, groups, refits=False)[0]
            band = self._bundle().band_of(probability)
            contrib = self._contributions_one(inputs, method, _ONE)
            names = self._names(contrib)
            values = np.array([_number(record[n]) for n in names], dtype=float)
        return RecordScore(
            probability=float(probability[0]),
            band=str(band[0]),
            names=names,
            contributions=contrib.values.to_numpy(dtype=float)[0],
            values=values,
        )

    def band_table(self) -> pd.DataFrame:
        """The bands with their lower edges, observed rates (with 95% intervals), the
        policy's bands merged into each and plain meaning."""
        bundle = self._bundle()
        rows = []
        for b in bundle.bands:
            low, high = b.interval()
            merged = ", ".join(getattr(b, "merged", ()))
            rows.append(
                {
                    **{k: v for k, v in asdict(b).items() if k != "merged"},
                    "rate_low": low,
                    "rate_high": high,
                    "merged": merged,
                    "meaning": b.meaning(bundle.outcome),
                }
            )
        return pd.DataFrame(rows)
