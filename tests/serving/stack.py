"""The serving tests' stack: a 30k population, both outcomes released, a snapshot, tokens.

Both outcomes are trained (``n_boot=10``) and released through the fairness gate by
:func:`vru.release.release_population`; :func:`vru.serving_stack.prepare_stack` writes
the 2025-01-01 snapshot and issues one token per role. The serving benchmark uses the
same two recipes; the server itself is :func:`vru.cli_serve.serving_process`.
"""

from __future__ import annotations

from pathlib import Path

from tests.released import CANDIDATES
from vru.serving_stack import ServingStack, load_stack, prepare_stack


def build_stack(root: Path, people: int = 30_000, seed: int = 11) -> ServingStack:
    """Generate, train and release both outcomes, write the snapshot and issue tokens."""
    from vru.release import release_population

    data_dir, uri, versions = release_population(
        root,
        people=people,
        seed=seed,
        experiment="serving-test",
        first_year=2020,
        candidates=CANDIDATES,
        compare_unconstrained=False,
    )
    return prepare_stack(root, data_dir, uri, versions)


def load_or_build_stack(root: Path) -> ServingStack:
    """A stack prepared earlier in ``root`` (its ``stack.json``), or a new one there."""
    return load_stack(root) or build_stack(root)
