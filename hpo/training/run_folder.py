"""The trainer's scratch folder of one run, and the removal of those left by killed processes.

A run's folder is ``hpo-run-*`` in the temporary folder, removed when the run ends. A process
killed with SIGKILL cannot remove it, so each folder holds a lock file its process keeps locked
(``flock``) while the folder is in use: the lock goes with the process, however it dies. Before
making its own, a run removes every ``hpo-run-*`` folder whose lock it can take. A folder whose
lock file is missing or was made moments ago (its owner may be about to lock it) is left alone.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

PREFIX = "hpo-run-"
OWNER = ".owner.lock"
SETTLE_SECONDS = 10.0  # an owner locks its file microseconds after making it: older unlocked ones are orphans


@contextmanager
def run_folder(parent: Path | None = None) -> Iterator[str]:
    """A fresh ``hpo-run-*`` folder under ``parent`` (the temporary folder), locked while in use, then removed."""
    import fcntl

    where = Path(parent or tempfile.gettempdir())
    remove_orphans(where)
    folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=where))
    handle = os.open(folder / OWNER, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield str(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(handle)


def remove_orphans(parent: Path) -> list[Path]:
    """Remove the ``hpo-run-*`` folders under ``parent`` that no live process holds; those removed."""
    removed = []
    for folder in parent.glob(f"{PREFIX}*"):
        try:
            if _orphaned(folder):
                removed.append(folder)
        except OSError as exc:  # another process's folder, gone or not ours to touch: leave it
            logger.debug("left %s (%s)", folder, exc)
    if removed:
        logger.info("removed %d run folder(s) left by killed processes in %s", len(removed), parent)
    return removed


def _orphaned(folder: Path) -> bool:
    """Remove ``folder`` if its owner is gone (its lock can be taken); whether it was removed."""
    import fcntl

    lock = folder / OWNER
    if not folder.is_dir() or folder.is_symlink() or time.time() - lock.stat().st_mtime < SETTLE_SECONDS:
        return False
    handle = os.open(lock, os.O_RDWR)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its process is alive
        shutil.rmtree(folder)
        return True
    finally:
        os.close(handle)
