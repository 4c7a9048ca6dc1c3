"""The packaged model and the decisions made with it.

- :mod:`models.risk_model` — ``RiskModel``: the one scoring path (``predict``) and its explanations
- :mod:`models.panels` — ``select_panel``: the one function every panel list comes from
- :mod:`models.registry` — the one gateway to the MLflow registry and the release status
- :mod:`models.candidates`, :mod:`models.calibration`, :mod:`models.explain`,
  :mod:`models.reasons` — what a ``RiskModel`` is made of

Importing the package imports none of them.
"""
