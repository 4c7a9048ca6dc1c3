"""What the batch refuses before it starts: its one error type and the release rule."""

from __future__ import annotations

from collections.abc import Mapping

from models.registry import Released

__all__ = ["MSG_REFUSED", "MSG_SWITCHED_OFF", "BatchError", "check_releasable"]

MSG_REFUSED = (
    "{name} version {version} has fairness verdict '{verdict}': scores are refused until it "
    "passes the fairness gate or a named approver overrides a failure"
)

#: a version switched off after release: no list is written from it (its sentence follows)
MSG_SWITCHED_OFF = "{name} version {version} is switched off, so no list is written: {words}"


class BatchError(ValueError):
    """Input the batch cannot use; the message is one line naming the problem."""


def check_releasable(models: Mapping[str, Released]) -> None:
    """Refuse any model version whose fairness verdict does not allow release, or that is
    switched off after release (suspended).

    Raises
    ------
    BatchError
        Naming the first version that may not be used, and its verdict or the
        suspension's sentence.
    """
    for released in models.values():
        if released.suspension is not None:
            raise BatchError(
                MSG_SWITCHED_OFF.format(
                    name=released.name,
                    version=released.version,
                    words=released.suspension.words(),
                )
            )
        if not released.releasable:
            raise BatchError(
                MSG_REFUSED.format(
                    name=released.name, version=released.version, verdict=released.verdict
                )
            )
