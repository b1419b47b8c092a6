"""Supervised children end when their parent dies, however it dies (SIGKILL included).

The parent keeps the write end of a pipe whose read end each child inherits. A child asks the
kernel for SIGKILL when its parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``) and, on any system,
watches the pipe: end of file means no parent is left to hold it. A killed child's running trial
goes stale and is re-queued, as any killed worker's is.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping

logger = logging.getLogger(__name__)

PARENT_PIPE_ENV = "HPO_PARENT_PIPE"  # the inherited read end, as a file descriptor number
PARENT_PID_ENV = "HPO_PARENT_PID"
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class ParentLink:
    """The parent's side: a pipe held open for as long as the parent lives."""

    def __init__(self) -> None:
        self.read_fd, self._write_fd = os.pipe()  # both close on exec; the read end is passed explicitly

    def env(self) -> dict[str, str]:
        """What a child's environment adds to find its parent."""
        return {PARENT_PIPE_ENV: str(self.read_fd), PARENT_PID_ENV: str(os.getpid())}

    def close(self) -> None:
        for fd in (self.read_fd, self._write_fd):
            os.close(fd)


def follow_parent(environ: Mapping[str, str], death_signal: bool = True) -> None:
    """In a supervised child: die with the parent. No-op when this process was not started by one."""
    if PARENT_PIPE_ENV not in environ:
        return
    parent = int(environ.get(PARENT_PID_ENV, "0"))
    if death_signal:
        _ask_kernel_for_death_signal()
    if parent and os.getppid() != parent:  # the parent died before the death signal was set
        _die(parent)
    fd = int(environ[PARENT_PIPE_ENV])
    threading.Thread(target=_watch, args=(fd, parent), name="parent-watch", daemon=True).start()
    logger.debug("following parent pid %d (pipe %d, death signal %s)", parent, fd, death_signal)


def _ask_kernel_for_death_signal() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            logger.debug(
                "prctl(PR_SET_PDEATHSIG) failed (errno %d): the pipe alone follows the parent", ctypes.get_errno()
            )
    except (OSError, AttributeError) as exc:
        logger.debug("no prctl (%s): the pipe alone follows the parent", exc)


def _watch(fd: int, parent: int) -> None:
    try:
        while os.read(fd, 1):  # the parent never writes: this returns only at end of file
            pass
    except OSError:
        pass
    _die(parent)


def _die(parent: int) -> None:
    logger.warning("the supervising parent (pid %d) is gone: this worker stops now", parent)
    os.kill(os.getpid(), signal.SIGKILL)
