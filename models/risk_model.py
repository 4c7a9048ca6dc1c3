"""The packaged model: one MLflow pyfunc, :class:`RiskModel`.

It holds the chosen candidate, its calibrator, the feature list with registry
metadata and the absolute-risk bands. Given feature rows it returns a calibrated
probability and a band per row — never a 0/1 decision. Training, batch scoring
and the service all go through it: there is no second scoring path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel, PythonModelContext

from models.bands import BAND_ORDER, Band
from models.calibration import Calibrator, group_keys, row_columns
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
        self._registry: dict[str, dict[str, object]] | None = None

    def load_context(self, context: PythonModelContext) -> None:
        self.bundle = joblib.load(context.artifacts["bundle"])
        self._registry = None

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
        missing = [f for f in self._bundle().features if f not in frame.columns]
        if missing:
            raise KeyError(f"feature rows lack {len(missing)} model feature(s): {missing[:5]}")
        uncalibrated = [c for c in self.calibration_columns() if c not in frame.columns]
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
        return contributions(bundle.estimator, self._inputs(rows), method, index=rows.index)

    def _against(self, inputs: pd.DataFrame | np.ndarray, contrib: Contributions) -> np.ndarray:
        """Which of ``contrib`` run against their input's declared direction (rows × inputs,
        :func:`models.reasons.against_direction`), read from the prepared ``inputs``."""
        names = list(contrib.values.columns)
        records = (
            inputs[names].to_numpy(dtype=float, na_value=np.nan)
            if isinstance(inputs, pd.DataFrame)
            else inputs
        )
        return against_direction(
            contrib.values.to_numpy(), records, registry_directions(self.registry(), names)
        )

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
        bundle = self._bundle()
        # the inputs are prepared once; the decision is exactly the one predict makes
        inputs = self._inputs(rows)
        groups = self._groups(rows)
        probability, bands, margin = self._decide(inputs, groups)
        try:
            # the contributions must add up to the very score that gave the probability
            contrib = contributions(bundle.estimator, inputs, method, rows.index, margin)
        except AdditivityError as exc:
            raise ExplanationMismatchError(
                f"explanation margin disagrees with the model's probability: {exc}"
            ) from None
        meanings = {b.name: b.meaning(bundle.outcome) for b in bundle.bands}
        registry = self.registry()
        names = list(contrib.values.columns)
        values = contrib.values.to_numpy()
        # which contributions run against their declared direction: folded, never reasons
        against = self._against(inputs, contrib)
        intervals = bundle.calibrator.interval(margin, groups=groups)
        ranges = {b.name: bundle.band_range(b.name) for b in bundle.bands}
        # row by row from one object matrix: to_dict("records") copies column by column
        names_in = [str(c) for c in rows.columns]
        records: list[dict[str, object]] = [
            dict(zip(names_in, values, strict=True))
            for values in rows.to_numpy(dtype=object).tolist()
        ]
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
