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

from hpo.errors import TrialError
from hpo.training.result import Pruned, Reporter

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

    It keeps the schedule's record (the values reported, what evaluating and reporting cost, why
    training stopped); the run asks for it through methods. With ``skip_last_step``, the step that
    ends training is left to the run, which scores it through :meth:`score_end` once training has
    stopped.
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
        self._evaluate = evaluate
        self._select = select
        self._reporter = reporter
        self._every_samples = every_samples
        self._counter = counter
        self._total_samples = total_samples
        self._skip_last_step = skip_last_step
        self._next_eval = every_samples
        self._last: tuple[int, dict[str, float]] | None = None  # the samples and metrics of the last evaluation
        self._intermediate: dict[int, float] = {}
        self._pruned_at: tuple[int, float] | None = None
        self._nonfinite_loss: tuple[int, float] | None = None
        self._eval_seconds = 0.0
        self._report_seconds = 0.0  # reporting and asking the pruner: storage calls

    def samples_seen(self) -> int:
        """The training samples the loss has been given so far."""
        return self._counter.seen

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        samples = self.samples_seen()
        self._reporter.progress(samples, max(self._total_samples, samples))
        if self._skip_last_step and state.global_step >= state.max_steps:
            return control  # the run scores the step that ends training
        self._score(kwargs["model"], samples)
        if self._pruned_at is not None:
            control.should_training_stop = True
        return control

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
            self._nonfinite_loss = (self.samples_seen(), loss)
            control.should_training_stop = True
        return control

    def score_end(self, model: Any, samples: int) -> bool:
        """Score the step that ended training when it was left to the run (``skip_last_step``) and
        the run was not pruned before it; whether it was left to the run."""
        if not self._skip_last_step or self._pruned_at is not None:
            return False
        self._score(model, samples)
        return True

    def check_loss(self) -> None:
        """Raise :class:`~hpo.errors.TrialError` when the training loss stopped being finite."""
        if self._nonfinite_loss is not None:
            at, loss = self._nonfinite_loss
            raise TrialError(f"training loss became {loss} after {at} samples")

    def check_pruned(self, eval_corpus: str, seconds: dict[str, float], attrs: dict[str, Any]) -> None:
        """Raise :class:`Pruned` when the reporter stopped the run: at which point, with what value,
        and the run's ``eval_corpus``, phase ``seconds`` and trial ``attrs``."""
        if self._pruned_at is not None:
            raise Pruned(*self._pruned_at, eval_corpus, seconds, attrs)

    def metrics_at(self, samples: int) -> dict[str, float] | None:
        """The metrics of the last evaluation when it scored the model at ``samples``, else None."""
        if self._last is None or self._last[0] != samples:
            return None
        return self._last[1]

    def intermediate(self) -> dict[int, float]:
        """The value reported at each schedule point so far."""
        return dict(self._intermediate)

    def seconds(self) -> dict[str, float]:
        """What the schedule's evaluations and its reports (storage calls, the pruner) cost so far."""
        return {"evaluate_intermediate": self._eval_seconds, "report": self._report_seconds}

    def _score(self, model: Any, samples: int) -> None:
        """At a schedule point: evaluate, report, and ask the pruner."""
        if samples < self._next_eval:
            return
        # Report at the schedule point, so every trial's curve has the same x values.
        point = (samples // self._every_samples) * self._every_samples
        self._next_eval = point + self._every_samples
        started = time.perf_counter()
        metrics = self._evaluate(model)
        self._eval_seconds += time.perf_counter() - started
        value = self._select(metrics)
        self._last = (samples, metrics)
        self._intermediate[point] = value
        started = time.perf_counter()
        self._reporter.report(value, point)
        logger.debug("samples %d: metric %.4f", point, value)
        if self._reporter.should_prune():
            self._pruned_at = (point, value)
        self._report_seconds += time.perf_counter() - started
