"""What the batch refuses before it starts: its one error type and the release rule."""

from __future__ import annotations

from collections.abc import Mapping

from models.registry import Released, Suspension

__all__ = [
    "MSG_ALL_SWITCHED_OFF",
    "MSG_NOT_LISTED",
    "MSG_REFUSED",
    "MSG_SWITCHED_OFF",
    "BatchError",
    "check_releasable",
]

MSG_REFUSED = (
    "{name} version {version} has fairness verdict '{verdict}': scores are refused until it "
    "passes the fairness gate or a named approver overrides a failure"
)

#: a version switched off after release: no list is written from it (its sentence follows)
MSG_SWITCHED_OFF = "{name} version {version} is switched off, so no list is written: {words}"
#: every outcome asked for is switched off: the run is refused (each sentence follows)
MSG_ALL_SWITCHED_OFF = "every model asked for is switched off, so no list is written. {each}"
#: one outcome of several is switched off: the others are listed, this line says why not it
MSG_NOT_LISTED = "{outcome}: no list this month, because its model is switched off. {words}"


class BatchError(ValueError):
    """Input the batch cannot use; the message is one line naming the problem."""


def check_releasable(models: Mapping[str, Released]) -> dict[str, Suspension]:
    """The suspensions of the versions switched off after release, once every other version
    is known to have a releasable fairness verdict and at least one is in use.

    A switched-off version gets no list (its outcome is left out of the run and the pack
    says why); the run goes on with the others. When every version asked for is switched
    off there is nothing to list, and the run is refused.

    Returns
    -------
    dict
        :class:`models.registry.Suspension` by outcome, of each switched-off version
        (empty when none is).

    Raises
    ------
    BatchError
        Naming the first version in use whose fairness verdict does not allow release;
        or, when every version is switched off, each suspension's sentence (one line).
    """
    suspended = {o: m.suspension for o, m in models.items() if m.suspension is not None}
    for outcome, released in models.items():
        if outcome not in suspended and not released.releasable:
            raise BatchError(
                MSG_REFUSED.format(
                    name=released.name, version=released.version, verdict=released.verdict
                )
            )
    if models and len(suspended) == len(models):
        if len(models) == 1:
            ((outcome, suspension),) = suspended.items()
            released = models[outcome]
            raise BatchError(
                MSG_SWITCHED_OFF.format(
                    name=released.name, version=released.version, words=suspension.words()
                )
            )
        raise BatchError(
            MSG_ALL_SWITCHED_OFF.format(
                each=" ".join(
                    f"{models[o].name} version {models[o].version}: {s.words()}"
                    for o, s in suspended.items()
                )
            )
        )
    return suspended
