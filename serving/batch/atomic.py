"""Outputs that appear whole or not at all: staging beside ``out_dir``, one swap, recovery.

A run builds everything in ``.<out>.partial-<pid>`` beside the output folder and
swaps it into place in one step, so an interrupted run leaves the previous
outputs intact; the next run tidies what a dead one left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from serving.batch.checks import BatchError

__all__ = [
    "MANIFEST",
    "MSG_NOT_PANEL_FOLDER",
    "check_out_dir",
    "make_private",
    "recover",
    "staging",
    "swap_into_place",
]

#: written last into every run: the mark of a folder that holds a panel run
MANIFEST = "manifest.json"
MSG_NOT_PANEL_FOLDER = (
    "--out {path} holds files that are not a panel run (no {manifest} from vru score); "
    "choose an empty or new folder"
)


def check_out_dir(out_dir: Path) -> None:
    """Refuse an output folder that holds something other than a previous panel run."""
    if out_dir.exists() and not out_dir.is_dir():
        raise BatchError(f"--out {out_dir} is a file, not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MANIFEST).is_file():
        raise BatchError(MSG_NOT_PANEL_FOLDER.format(path=out_dir, manifest=MANIFEST))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return bool(result == 0)


def make_private(folder: Path) -> None:
    """Every file under ``folder`` readable by its owner alone (0600; folders 0700): the
    lists name young people, whatever the umask of whoever runs the batch."""
    os.chmod(folder, 0o700)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(Path(root) / name, 0o700)
        for name in files:
            os.chmod(Path(root) / name, 0o600)


def swap_into_place(staged: Path, out_dir: Path) -> None:
    """Put the staged folder at ``out_dir``; the previous outputs survive any interruption.

    Where the kernel can exchange two folders atomically it does; otherwise the
    old folder is renamed aside first (and restored by the next run if the
    process dies between the two renames).
    """
    if not out_dir.exists():
        staged.rename(out_dir)
        return
    if _exchange(staged, out_dir):
        shutil.rmtree(staged)
        return
    aside = out_dir.with_name(f".{out_dir.name}.previous-{os.getpid()}")
    out_dir.rename(aside)
    staged.rename(out_dir)
    shutil.rmtree(aside)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(out_dir: Path) -> None:
    """Tidy what an interrupted run left beside ``out_dir`` (never the outputs themselves)."""
    parent = out_dir.parent
    if not parent.is_dir():
        return
    for leftover in parent.glob(f".{out_dir.name}.*-*"):
        kind, _, pid = leftover.name.rpartition("-")
        if not pid.isdigit() or _pid_alive(int(pid)):
            continue
        if kind.endswith(".previous") and not out_dir.exists():
            leftover.rename(out_dir)  # died between the two renames: put the old run back
        elif kind.endswith((".partial", ".previous")):
            shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def staging(out_dir: Path) -> Iterator[Path]:
    """A fresh folder beside ``out_dir``, removed unless it was swapped into place."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staged = out_dir.with_name(f".{out_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(mode=0o700)
    try:
        yield staged
    finally:
        shutil.rmtree(staged, ignore_errors=True)
