"""Stopping a worker: the first SIGINT/SIGTERM finishes the running trial, the second abandons it."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)


class Interrupted(BaseException):
    """A second SIGINT/SIGTERM: abandon the running trial now."""


class StopSignals:
    """First SIGINT/SIGTERM: finish the current trial, then stop. Second: abandon it now.

    With ``grace`` seconds, a trial still running that long after the first signal is abandoned
    too (a preempted machine rarely waits for a long trial); an abandoned trial is re-queued.
    """

    def __init__(self, grace: float | None = None) -> None:
        self.requested = False
        self.grace = grace
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        signal.alarm(0)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if signum == signal.SIGALRM:
            raise Interrupted(f"the stop grace of {self.grace:g} s passed")
        if self.requested:
            raise Interrupted(f"{name} received twice")
        self.requested = True
        if self.grace:
            signal.setitimer(signal.ITIMER_REAL, self.grace)
        logger.warning(
            "%s received: finishing the current trial, then stopping (send again to abandon it%s)",
            name,
            f"; abandoned after {self.grace:g} s" if self.grace else "",
        )
