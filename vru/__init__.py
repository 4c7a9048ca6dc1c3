"""The only glue: the ``vru`` command line and the typed settings.

- :mod:`vru.cli` — the Typer app (commands in ``vru/cli_*.py``)
- :mod:`vru.config` — ``Settings``, the only place environment variables are read
- :mod:`vru.release` — train, gate and promote: the recipe tests and benchmarks use
- :mod:`vru.bento` — the BentoML worker's entry; :mod:`vru.serving_stack` — a local stack
"""
