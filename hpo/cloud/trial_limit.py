"""A container's per-trial time limit: a hung or slow trial ends FAIL instead of holding a paid GPU.

Wraps the worker's progress listener: a timer starts when a trial starts and stops when it ends.
When it runs out, SIGUSR2 is sent to the main thread (SIGUSR1 is Modal's, to cancel an input),
whose handler raises :class:`TrialTimeLimitError` inside the trial: the worker records it FAIL
with that reason and queues a fresh trial in its place. A trial stuck where Python cannot interrupt it (inside a C
call) is ended with the process after :data:`HARD_STOP_SECONDS` more: its heartbeat stops, the
next worker re-queues it, and Modal counts the container as failed.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from hpo.progress import ProgressListener

logger = logging.getLogger(__name__)

HARD_STOP_SECONDS = 60.0
HARD_STOP_EXIT_CODE = 3


class TrialTimeLimitError(Exception):
    """A trial ran past the container's per-trial time limit."""


class TrialTimeLimit:
    """A progress listener that forwards every event and ends a trial that runs past ``limit`` seconds.

    Use it as a context manager around the worker: it installs the SIGUSR2 handler and removes it,
    with any timer left, on exit. ``exit_process`` ends the process when the trial does not stop.
    """

    def __init__(
        self,
        limit: float,
        hard_stop: float = HARD_STOP_SECONDS,
        exit_process: Callable[[int], Any] = os._exit,
    ) -> None:
        self.limit = limit
        self.hard_stop = hard_stop
        self.exit_process = exit_process
        self.inner: ProgressListener | None = None
        self._running: int | None = None
        self._timers: list[threading.Timer] = []
        self._lock = threading.Lock()
        self._previous: Any = None
        self._main = threading.main_thread().ident

    def __enter__(self) -> TrialTimeLimit:
        self._previous = signal.signal(signal.SIGUSR2, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop_timers()
        signal.signal(signal.SIGUSR2, self._previous)

    def listener(self, factory: Callable[[str], ProgressListener]) -> Callable[[str], ProgressListener]:
        """A listener factory for the worker: ``factory``'s listener, watched by this limit."""

        def build(metric: str) -> ProgressListener:
            self.inner = factory(metric)
            return self

        return build

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        self._stop_timers()
        with self._lock:
            self._running = number
            self._timers = [
                threading.Timer(self.limit, self._interrupt, (number,)),
                threading.Timer(self.limit + self.hard_stop, self._exit, (number,)),
            ]
            for timer in self._timers:
                timer.daemon = True
                timer.start()
        self._inner().trial_started(number, params)

    def step(self, number: int, samples: int, total: int) -> None:
        self._inner().step(number, samples, total)

    def evaluated(self, number: int, samples: int, value: float) -> None:
        self._inner().evaluated(number, samples, value)

    def trial_finished(self, number: int, state: str, detail: str) -> None:
        self._stop_timers()
        self._inner().trial_finished(number, state, detail)

    def close(self) -> None:
        self._stop_timers()
        self._inner().close()

    def _inner(self) -> ProgressListener:
        if self.inner is None:
            raise RuntimeError("TrialTimeLimit.listener() builds the listener it forwards to")
        return self.inner

    def _stop_timers(self) -> None:
        with self._lock:
            self._running = None
            for timer in self._timers:
                timer.cancel()
            self._timers = []

    def _interrupt(self, number: int) -> None:
        if self._running == number and self._main is not None:
            signal.pthread_kill(self._main, signal.SIGUSR2)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        number = self._running
        if number is not None:  # the trial may have ended between the timer and this handler
            raise TrialTimeLimitError(
                f"trial {number} ran past the per-trial time limit of {self.limit:g} s (--trial-timeout)"
            )

    def _exit(self, number: int) -> None:
        if self._running == number:
            logger.error(
                "trial %d did not stop %g s after its time limit; ending this container (the trial is re-queued "
                "once its heartbeat is stale)",
                number,
                self.hard_stop,
            )
            for handler in logging.getLogger().handlers:
                handler.flush()
            self.exit_process(HARD_STOP_EXIT_CODE)
