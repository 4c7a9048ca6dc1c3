"""Release a trained version the way ``make demo`` does: the real fairness gate, then
promotion — after a pass, or through an override that records who and why.

:func:`release_population` is the one recipe for "a synthetic population with both
outcomes' champions released", used by the batch and serving tests and by their
benchmarks. Nothing here stamps a verdict: every released version carries the
gate's own tags and report, and an override names its approver and reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

from features.vocabulary import LOCAL_AUTHORITIES, OUTCOMES

__all__ = ["DEFAULT_APPROVER", "DEFAULT_REASON", "release_population", "release_version"]

DEFAULT_APPROVER = "vru.release (tests and benchmarks)"
DEFAULT_REASON = (
    "synthetic test population: released so that panel lists and the service can be "
    "exercised; not for use with real people"
)


def release_version(
    tracking_uri: str,
    data_dir: Path,
    outcome: str,
    version: str,
    *,
    capacity: Mapping[str, int],
    report_dir: Path,
    approver: str = DEFAULT_APPROVER,
    reason: str = DEFAULT_REASON,
) -> str:
    """Gate ``version`` against the recorded outcomes and make it champion.

    Returns the verdict that released it: ``pass``, or ``override`` when the gate
    failed and ``approver`` took responsibility for ``reason``.
    """
    from fairness.policy import load_policy
    from fairness.recording import gate_and_record, note_override
    from models.registry import Registry

    registry = Registry(tracking_uri)
    released = registry.load(outcome, version=version)
    policy, policy_hash = load_policy(None)
    result, _ = gate_and_record(
        registry,
        released,
        data_dir=data_dir,
        policy=policy,
        policy_hash=policy_hash,
        capacity=capacity,
        out_dir=report_dir / f"{outcome}-v{released.version}-recorded",
    )
    if result.verdict == "pass":
        return registry.promote(outcome, released.version)
    verdict = registry.promote(outcome, released.version, approver=approver, reason=reason)
    note_override(registry, outcome, released.version)
    return verdict


def release_population(
    root: Path,
    *,
    people: int = 30_000,
    seed: int = 11,
    capacity: Mapping[str, int] | None = None,
    experiment: str = "train",
    first_year: int | None = None,
    n_boot: int = 10,
    lead_months: int = 0,
    candidates: Sequence[str] | None = None,
    compare_unconstrained: bool = True,
    end: dt.date | None = None,
    trained_until: dt.date | None = None,
    intervention_effect: float = 0.0,
) -> tuple[Path, str, dict[str, str]]:
    """Generate a population under ``root``, train both outcomes and release them.

    ``end`` is the world's last month (the generator's default without it). With
    ``trained_until`` (a first day of a month), the models are trained and gated on the
    records as they stood at the end of that month (``root/pop``,
    :func:`synthetic.generate.as_extracted`) and the whole world is written to
    ``root/world``: the months after it are what monitoring sees arrive.

    Returns the data folder, the tracking URI (SQLite under ``root``) and the
    released version of each outcome. The lead-time backtest is skipped unless
    ``lead_months`` asks for it (it measures, it changes no model). ``candidates`` and
    ``compare_unconstrained`` are :func:`training.train.train_outcome`'s (all, and yes,
    by default). The historic panels' help does nothing unless ``intervention_effect``
    says otherwise: the tests and benchmarks built on this world measure other things
    (monitoring's known answers among them), on the world they were designed with.
    """
    from synthetic.config import GeneratorSettings, PanelHistory
    from synthetic.generate import as_extracted, generate, write_dataset
    from training.train import CANDIDATES, train_outcome

    capacity = dict(capacity or dict.fromkeys(LOCAL_AUTHORITIES, 25))
    root.mkdir(parents=True, exist_ok=True)
    settings = GeneratorSettings(
        people=people,
        seed=seed,
        panels=PanelHistory(intervention_effect=intervention_effect),
        **({"end": end} if end else {}),
    )
    world = generate(settings)
    if trained_until is not None:
        write_dataset(world, root / "world")
        world = as_extracted(world, trained_until)
    data_dir = write_dataset(world, root / "pop")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    versions = {}
    for outcome in OUTCOMES:
        result = train_outcome(
            data_dir,
            outcome,
            capacity=capacity,
            tracking_uri=uri,
            experiment=experiment,
            artifact_dir=root / "mlartifacts",
            project_dir=root,
            n_boot=n_boot,
            first_year=first_year,
            lead_months=lead_months,
            compare_unconstrained=compare_unconstrained,
            candidates=CANDIDATES if candidates is None else tuple(candidates),
        )
        version = str(result.registered_version)
        release_version(
            uri, data_dir, outcome, version, capacity=capacity, report_dir=root / "reports"
        )
        versions[outcome] = version
    return data_dir, uri, versions
