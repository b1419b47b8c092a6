"""Seconds spent per named phase of a run, for the trial's record and the profile benchmark."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator


class Stopwatch:
    """Accumulates wall seconds per phase: ``with clock("train"): ...``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - started


def rounded(seconds: dict[str, float]) -> dict[str, float]:
    """Phase timings as stored on a trial: milliseconds are enough."""
    return {phase: round(value, 3) for phase, value in seconds.items()}
