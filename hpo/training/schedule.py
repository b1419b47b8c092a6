"""A Trainer callback that evaluates at fixed numbers of training samples and stops pruned runs.

The step reported is the sample count, not ``global_step``: with batch size and epochs searched,
global steps of two trials compare different amounts of training. Evaluations happen when the
samples seen cross a multiple of ``every_samples``, identical across trials.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from hpo.training.result import Reporter

logger = logging.getLogger(__name__)


class SampleCounter:
    """The training samples the loss was actually given: the last batch of an epoch may be short,
    and a batch sampler that avoids duplicates may make other batches short too."""

    def __init__(self) -> None:
        self.seen = 0

    def add(self, inputs: Mapping[str, Any]) -> None:
        """Count one batch of collated inputs: the first dimension of its first array."""
        for value in inputs.values():
            shape = getattr(value, "shape", None)
            if shape:
                self.seen += int(shape[0])
                return


class SampleScheduleCallback(TrainerCallback):
    """Evaluate every ``every_samples`` samples, report to ``reporter``, stop when it says prune.

    With ``skip_last_step``, the step that ends training is left to the caller, which scores it
    through :meth:`score` once training has stopped.
    """

    def __init__(
        self,
        evaluate: Callable[[Any], dict[str, float]],
        select: Callable[[dict[str, float]], float],
        reporter: Reporter,
        every_samples: int,
        counter: SampleCounter,
        total_samples: int,
        skip_last_step: bool = False,
    ) -> None:
        self.evaluate = evaluate
        self.select = select
        self.last: tuple[int, dict[str, float]] | None = None
        self.reporter = reporter
        self.every_samples = every_samples
        self.counter = counter
        self.total_samples = total_samples
        self.next_eval = every_samples
        self.skip_last_step = skip_last_step
        self.pruned_at: tuple[int, float] | None = None
        self.intermediate: dict[int, float] = {}
        self.eval_seconds = 0.0
        self.report_seconds = 0.0  # reporting and asking the pruner: storage calls
        self.nonfinite_loss: tuple[int, float] | None = None

    def samples_seen(self, state: TrainerState) -> int:
        return self.counter.seen

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        self.reporter.progress(self.samples_seen(state), max(self.total_samples, self.samples_seen(state)))
        if self.skip_last_step and state.global_step >= state.max_steps:
            return control  # the caller scores the step that ends training
        self.score(kwargs["model"], self.samples_seen(state))
        if self.pruned_at is not None:
            control.should_training_stop = True
        return control

    def score(self, model: Any, samples: int) -> None:
        """At a schedule point: evaluate, report, and ask the pruner (``pruned_at`` is set if it says so)."""
        if samples < self.next_eval:
            return
        # Report at the schedule point, so every trial's curve has the same x values.
        point = (samples // self.every_samples) * self.every_samples
        self.next_eval = point + self.every_samples
        started = time.perf_counter()
        metrics = self.evaluate(model)
        self.eval_seconds += time.perf_counter() - started
        value = self.select(metrics)
        self.last = (samples, metrics)
        self.intermediate[point] = value
        started = time.perf_counter()
        self.reporter.report(value, point)
        logger.debug("samples %d: metric %.4f", point, value)
        if self.reporter.should_prune():
            self.pruned_at = (point, value)
        self.report_seconds += time.perf_counter() - started

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> TrainerControl:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.nonfinite_loss = (self.samples_seen(state), loss)
            control.should_training_stop = True
        return control
