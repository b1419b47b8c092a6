"""What a worker shows a person while it runs: live bars on a terminal, plain log lines elsewhere."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

logger = logging.getLogger(__name__)
TRIAL_RATE_WINDOW = 24 * 3600.0  # seconds of a bar's history its ETA is estimated from


class ProgressListener(Protocol):
    """Receives a worker's trial events."""

    def trial_started(self, number: int, params: dict[str, Any]) -> None: ...

    def step(self, number: int, samples: int, total: int) -> None: ...

    def evaluated(self, number: int, samples: int, value: float) -> None: ...

    def trial_finished(self, number: int, state: str, detail: str) -> None: ...

    def close(self) -> None: ...


def duration(seconds: float) -> str:
    """A time span as people read it: '45 s', '12 min', '1 h 05 min'."""
    if seconds < 100:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 100 else f"{minutes // 60} h {minutes % 60:02d} min"


def describe_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


class LogProgress:
    """Plain log lines, for files, CI logs and anything that is not a terminal: a trial's start, its
    training progress every ``every`` seconds (samples seen of its total, time left), its
    evaluations and its end."""

    def __init__(self, metric: str, every: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.metric = metric
        self.every = every
        self.clock = clock
        self.started: dict[int, float] = {}
        self.logged: dict[int, float] = {}

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        self.started[number] = self.logged[number] = self.clock()
        logger.info("trial %d started: %s", number, describe_params(params))

    def step(self, number: int, samples: int, total: int) -> None:
        now = self.clock()
        started = self.started.setdefault(number, now)
        if samples <= 0 or samples >= total or now - self.logged.get(number, started) < self.every:
            return
        self.logged[number] = now
        left = (now - started) * (total - samples) / samples
        logger.info("trial %d: training, %d of %d samples, about %s left", number, samples, total, duration(left))

    def evaluated(self, number: int, samples: int, value: float) -> None:
        logger.info("trial %d: %d samples, %s %.4f", number, samples, self.metric, value)

    def trial_finished(self, number: int, state: str, detail: str) -> None:
        self.started.pop(number, None)
        self.logged.pop(number, None)
        level = logging.ERROR if state == "FAIL" else logging.INFO
        logger.log(level, "trial %d %s: %s", number, "failed" if state == "FAIL" else state.lower(), detail)

    def close(self) -> None:
        pass


class RichProgress:
    """A live bar per trial: samples seen of the trial's total, latest metric, ETA."""

    def __init__(self, metric: str, console: Any = None, get_time: Callable[[], float] | None = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.metric = metric
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("samples  {task.fields[latest]}"),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            transient=False,
            # The rate over the whole trial, as the log lines use: rich's default 30 s window makes
            # the ETA swing with every evaluation pause and every burst of load on a shared machine.
            speed_estimate_period=TRIAL_RATE_WINDOW,
            get_time=get_time,
        )
        self.tasks: dict[int, Any] = {}
        self.progress.start()

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        description = f"trial {number} [dim]{describe_params(params)}[/dim]"
        self.tasks[number] = self.progress.add_task(description, total=None, latest="")

    def step(self, number: int, samples: int, total: int) -> None:
        self.progress.update(self.tasks[number], completed=samples, total=total)

    def evaluated(self, number: int, samples: int, value: float) -> None:
        self.progress.update(self.tasks[number], latest=f"{self.metric} {value:.4f}")
        self.progress.refresh()  # an evaluation is rare and worth showing at once

    def trial_finished(self, number: int, state: str, detail: str) -> None:
        task = self.tasks.pop(number, None)
        if task is not None:
            self.progress.update(task, description=f"trial {number} [bold]{state.lower()}[/bold]", latest=detail)
            self.progress.stop_task(task)

    def close(self) -> None:
        self.progress.stop()
