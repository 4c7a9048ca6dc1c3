"""What identifies the code a model was trained from (the data's fingerprint is
:func:`features.snapshot.data_fingerprint`; where runs go is
:func:`models.registry.configure_tracking`)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_commit(cwd: Path) -> str:
    """The current commit (with ``-dirty`` when the tree has changes), or ``unknown``."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return commit + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
