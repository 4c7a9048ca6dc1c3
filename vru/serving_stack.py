"""A complete local serving stack in one folder: released champions, a snapshot, tokens.

What the serving tests and the serving benchmark run the service against. The
caller releases both outcomes' champions into a tracking store first (the
benchmark with :func:`vru.release.release_population`); :func:`prepare_stack`
then writes the feature snapshot the service explains and the previous month's
(what changed since), and issues one token per role, and
:meth:`ServingStack.variables` gives what :func:`vru.cli_serve.serving_process` needs
to serve it. ``stack.json`` records the stack, so a later run can reuse it
(:func:`load_stack`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vru.config import Settings, load_settings

__all__ = [
    "PREVIOUS_AS_OF",
    "SNAPSHOT_AS_OF",
    "USERS",
    "ServingStack",
    "load_stack",
    "prepare_stack",
]

SNAPSHOT_AS_OF = dt.date(2025, 1, 1)
#: the previous snapshot's date: the service says what changed since
PREVIOUS_AS_OF = dt.date(2024, 12, 1)
#: one token per user: name, role and local authority (``None``: every area)
USERS: tuple[tuple[str, str, str | None], ...] = (
    ("pat", "practitioner", "Bristol"),
    ("sam", "practitioner", "Somerset"),
    ("pia", "panel", "Bristol"),
    ("ann", "analyst", None),
    ("ada", "admin", None),
)
RECORD = "stack.json"
PREVIOUS = "features-previous.parquet"


@dataclass
class ServingStack:
    """Where a stack's parts are, the released version of each outcome, and its tokens."""

    root: Path
    tracking_uri: str
    snapshot: Path
    tokens_path: Path
    access_log: Path
    versions: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)
    #: the previous month's snapshot (``None``: the service says nothing of changes)
    previous_snapshot: Path | None = None

    def settings(self) -> Settings:
        """The settings that serve this stack."""
        return load_settings(
            project_dir=self.root,
            mlflow_tracking_uri=self.tracking_uri,
            snapshot_path=self.snapshot,
            previous_snapshot_path=self.previous_snapshot,
            tokens_path=self.tokens_path,
            access_log_path=self.access_log,
        )

    def variables(self) -> dict[str, str]:
        """Environment of a server of this stack (its own BentoML home; no progress bars)."""
        from vru.cli_serve import server_variables

        return {
            **server_variables(self.settings()),
            # the stack's store, whatever MLFLOW_TRACKING_URI this process has
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "BENTOML_HOME": str(self.root / "bentoml"),
            "BENTOML_DO_NOT_TRACK": "true",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        }

    def save(self) -> Path:
        """Record the stack in ``root/stack.json``."""
        path = self.root / RECORD
        record = {
            "tracking_uri": self.tracking_uri,
            "versions": self.versions,
            "tokens": self.tokens,
        }
        path.write_text(json.dumps(record), encoding="utf-8")
        return path


def prepare_stack(
    root: Path,
    data_dir: Path,
    tracking_uri: str,
    versions: Mapping[str, str],
    *,
    as_of: dt.date = SNAPSHOT_AS_OF,
    previous: dt.date | None = PREVIOUS_AS_OF,
) -> ServingStack:
    """Write the ``as_of`` feature snapshot (and the ``previous`` one) and one token per
    user of :data:`USERS`.

    Parameters
    ----------
    root
        The stack's folder (snapshot, tokens, access log and ``stack.json`` go here).
    data_dir, tracking_uri, versions
        The data folder and the tracking store whose champions were released, and
        the released version of each outcome.
    as_of
        Date of the snapshot the service explains.
    previous
        Date of the earlier snapshot it says what changed since (``None``: none).
    """
    from features.build import write_feature_table
    from features.snapshot import build_snapshot
    from serving.auth import TokenStore

    snapshot = build_snapshot(data_dir, [as_of], labels=True)
    stack = ServingStack(
        root=root,
        tracking_uri=tracking_uri,
        snapshot=write_feature_table(snapshot.table, root / "features.parquet"),
        tokens_path=root / "tokens.json",
        access_log=root / "access-log.sqlite",
        versions=dict(versions),
    )
    if previous is not None:
        before = build_snapshot(data_dir, [previous])
        stack.previous_snapshot = write_feature_table(before.table, root / PREVIOUS)
    store = TokenStore(stack.tokens_path)
    for user, role, la in USERS:
        stack.tokens[user] = store.add(user, role, la)
    stack.save()
    return stack


def load_stack(root: Path) -> ServingStack | None:
    """The stack prepared earlier in ``root``, or ``None`` if there is none."""
    path = root / RECORD
    if not path.exists():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    return ServingStack(
        root=root,
        tracking_uri=record.get("tracking_uri", f"sqlite:///{root / 'mlflow.db'}"),
        snapshot=root / "features.parquet",
        tokens_path=root / "tokens.json",
        access_log=root / "access-log.sqlite",
        versions=record["versions"],
        tokens=record["tokens"],
        previous_snapshot=root / PREVIOUS if (root / PREVIOUS).exists() else None,
    )
