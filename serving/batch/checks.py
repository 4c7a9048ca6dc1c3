"""What the batch refuses before it starts: its one error type and the release rule."""

from __future__ import annotations

from collections.abc import Mapping

from models.registry import Released

__all__ = ["MSG_REFUSED", "BatchError", "check_releasable"]

MSG_REFUSED = (
    "{name} version {version} has fairness verdict '{verdict}': scores are refused until it "
    "passes the fairness gate or a named approver overrides a failure"
)


class BatchError(ValueError):
    """Input the batch cannot use; the message is one line naming the problem."""


def check_releasable(models: Mapping[str, Released]) -> None:
    """Refuse any model version whose fairness verdict does not allow release.

    Raises
    ------
    BatchError
        Naming the first version that may not be used, and its verdict.
    """
    for released in models.values():
        if not released.releasable:
            raise BatchError(
                MSG_REFUSED.format(
                    name=released.name, version=released.version, verdict=released.verdict
                )
            )
