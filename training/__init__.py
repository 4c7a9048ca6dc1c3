"""Temporal backtest, honest metrics for a rare outcome, and registration.

- :mod:`training.train` — ``train_outcome``: folds, candidates, calibration, the chosen model
- :mod:`training.evaluate` — metrics with intervals; the truth on synthetic data
- :mod:`training.splits` — temporal folds (never random)
- :mod:`training.results` — result types
- :mod:`training.tracking`, :mod:`training.model_card`, :mod:`training.plots` — what MLflow keeps
- :mod:`training.mitigate` — fairlearn's ThresholdOptimizer, reported, never registered

Importing the package imports none of them.
"""
