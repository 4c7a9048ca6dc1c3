"""The ``vru`` command line: one command per stage, the only glue between packages.

Every command loads :class:`vru.config.Settings` once, validates its arguments
before doing any work, and on bad input prints one line beginning ``error:`` and
exits with code 2 without writing anything. The commands live in ``vru/cli_*.py``
(data, model, fairness, release, score, monitor, drivers, evaluate, serve); this module
makes the app and registers them.
"""

from __future__ import annotations

import typer

from vru import (
    cli_data,
    cli_drivers,
    cli_evaluate,
    cli_fairness,
    cli_model,
    cli_monitor,
    cli_release,
    cli_score,
    cli_serve,
)

app = typer.Typer(
    name="vru",
    help="vru-risk: calibrated, explained and fairness-gated serious-violence risk "
    "identification for Violence Reduction Units. Synthetic data only; every output is a "
    "prompt for professional review, never a decision.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for _commands in (
    cli_data,
    cli_model,
    cli_fairness,
    cli_release,
    cli_score,
    cli_monitor,
    cli_drivers,
    cli_evaluate,
    cli_serve,
):
    _commands.register(app)
