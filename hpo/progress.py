"""What a worker shows a person while it runs: live bars on a terminal, plain log lines elsewhere."""

from __future__ import annotations

import logging
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class ProgressListener(Protocol):
    """Receives a worker's trial events."""

    def trial_started(self, number: int, params: dict[str, Any]) -> None: ...

    def step(self, number: int, samples: int, total: int) -> None: ...

    def evaluated(self, number: int, samples: int, value: float) -> None: ...

    def trial_finished(self, number: int, state: str, detail: str) -> None: ...

    def close(self) -> None: ...


def describe_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


class LogProgress:
    """Plain log lines, for files, CI logs and anything that is not a terminal."""

    def __init__(self, metric: str) -> None:
        self.metric = metric

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        logger.info("trial %d started: %s", number, describe_params(params))

    def step(self, number: int, samples: int, total: int) -> None:
        pass

    def evaluated(self, number: int, samples: int, value: float) -> None:
        logger.info("trial %d: %d samples, %s %.4f", number, samples, self.metric, value)

    def trial_finished(self, number: int, state: str, detail: str) -> None:
        level = logging.ERROR if state == "FAIL" else logging.INFO
        logger.log(level, "trial %d %s: %s", number, "failed" if state == "FAIL" else state.lower(), detail)

    def close(self) -> None:
        pass


class RichProgress:
    """A live bar per trial: samples seen of the trial's total, latest metric, ETA."""

    def __init__(self, metric: str, console: Any = None) -> None:
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
