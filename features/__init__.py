"""Data contracts and point-in-time features (the bottom layer: imports nothing above it).

Public entry points:

- :mod:`features.vocabulary` — the contract's code lists and the outcome table
- :mod:`features.schemas` — contracts of the raw tables and the feature table
- :mod:`features.snapshot` — ``build_snapshot``: data folder → features at an as-of date
- :mod:`features.registry` — metadata of every feature column

The builders (``school``, ``contacts``, ``incidents``, ``labels``, ``spine``, ``build``)
and the engine (``_engine``, ``_declare``) sit behind them. Importing the package
imports none of them.
"""
