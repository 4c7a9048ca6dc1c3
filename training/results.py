"""What training produces: one candidate on one fold, and a whole training run.

Kept apart from :mod:`training.train` so that the model card and the plots read
results without importing the training loop (no import circle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.risk_model import ModelBundle
from training.evaluate import Interval
from training.splits import Fold

__all__ = ["CandidateResult", "TrainResult"]


@dataclass
class CandidateResult:
    """One candidate on one fold's test snapshot."""

    fold: str
    candidate: str
    calibration: str
    metrics: dict[str, Interval]
    truth: dict[str, float]
    y: np.ndarray
    probability: np.ndarray
    area: np.ndarray
    #: who the panels are named: both lists within capacity (:func:`models.panels.select_lists`)
    chosen: np.ndarray
    bundle: ModelBundle
    #: fairness gaps at capacity (filled when a mitigation is compared)
    fairness: dict[str, float] = field(default_factory=dict)
    #: how much of the explanation runs against the declared directions
    #: (:meth:`models.risk_model.RiskModel.direction_check`: ``against_share``, ``against_people``)
    directions: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainResult:
    """What a training run produced."""

    outcome: str
    run_id: str
    model_uri: str
    registered_version: str
    chosen: str
    comparison: pd.DataFrame
    folds: list[Fold]
    results: list[CandidateResult] = field(default_factory=list)
    #: each list ranked by each option on each fold (:func:`training.lists.list_table`)
    lists: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: the lead-time backtest (:mod:`training.leadtime`), when it ran
    lead_time: Any = None
    #: calibration by sex beside one map for everyone and sex as an input
    #: (:func:`training.by_sex.sex_comparison`), when the model is calibrated by sex
    by_sex: pd.DataFrame | None = None
