from __future__ import annotations

from typing import Any

import pytest
from transformers import TrainerControl, TrainerState

from hpo.errors import TrialError
from hpo.training.result import NullReporter, Pruned
from hpo.training.schedule import SampleCounter, SampleScheduleCallback


class PruneFrom(NullReporter):
    """Asks to prune once ``samples`` have been reported."""

    def __init__(self, samples: int) -> None:
        super().__init__()
        self.samples = samples

    def should_prune(self) -> bool:
        return max(self.values) >= self.samples


def _schedule(reporter: NullReporter, counter: SampleCounter, skip_last_step: bool = False) -> SampleScheduleCallback:
    return SampleScheduleCallback(
        evaluate=lambda model: {"score": float(model)},
        select=lambda metrics: metrics["score"],
        reporter=reporter,
        every_samples=32,
        counter=counter,
        total_samples=96,
        skip_last_step=skip_last_step,
    )


def _step(schedule: SampleScheduleCallback, counter: SampleCounter, samples: int, step: int, last: int = 10) -> bool:
    """One training step of ``samples`` samples (the model's score is the samples seen); whether training stops."""
    counter.seen += samples
    state = TrainerState(global_step=step, max_steps=last)
    control = schedule.on_step_end(_ARGS, state, TrainerControl(), model=counter.seen)
    return bool(control.should_training_stop)


_ARGS: Any = None  # the callback never reads the trainer's arguments


def test_evaluations_fall_on_the_schedule_points_whatever_the_batches() -> None:
    reporter, counter = NullReporter(), SampleCounter()
    schedule = _schedule(reporter, counter)
    stops = [_step(schedule, counter, 20, step) for step in range(1, 6)]  # 20, 40, 60, 80, 100 samples
    assert stops == [False] * 5
    assert reporter.values == {32: 40.0, 64: 80.0, 96: 100.0}  # reported at the point, scored on the model seen
    assert schedule.intermediate() == reporter.values
    assert schedule.metrics_at(100) == {"score": 100.0} and schedule.metrics_at(80) is None
    assert set(schedule.seconds()) == {"evaluate_intermediate", "report"}
    schedule.check_pruned("capped", {}, {})  # nothing to raise
    schedule.check_loss()


def test_a_prune_stops_training_and_the_run_raises_it() -> None:
    counter = SampleCounter()
    schedule = _schedule(PruneFrom(64), counter)
    assert [_step(schedule, counter, 32, step) for step in (1, 2)] == [False, True]
    with pytest.raises(Pruned, match=r"^pruned after 64 training samples \(metric 64.0000\)$") as info:
        schedule.check_pruned("capped (10 of 20)", {"train": 1.0}, {"mined": 1})
    assert (info.value.eval_corpus, info.value.seconds, info.value.attrs) == (
        "capped (10 of 20)",
        {"train": 1.0},
        {"mined": 1},
    )


def test_the_last_step_is_left_to_the_run_when_asked() -> None:
    reporter, counter = NullReporter(), SampleCounter()
    schedule = _schedule(reporter, counter, skip_last_step=True)
    _step(schedule, counter, 32, 1, last=3)
    _step(schedule, counter, 32, 2, last=3)
    _step(schedule, counter, 32, 3, last=3)
    assert list(reporter.values) == [32, 64]
    assert schedule.score_end(counter.seen, counter.seen)
    assert list(reporter.values) == [32, 64, 96]


def test_the_end_is_not_scored_after_a_prune() -> None:
    reporter, counter = PruneFrom(32), SampleCounter()
    schedule = _schedule(reporter, counter, skip_last_step=True)
    assert _step(schedule, counter, 32, 1, last=3)
    assert not schedule.score_end(counter.seen, counter.seen)
    assert list(reporter.values) == [32]


def test_a_non_finite_loss_stops_training_and_fails_the_run() -> None:
    counter = SampleCounter()
    schedule = _schedule(NullReporter(), counter)
    counter.seen = 16
    control = schedule.on_log(_ARGS, TrainerState(), TrainerControl(), logs={"loss": float("nan")})
    assert control.should_training_stop
    with pytest.raises(TrialError, match=r"^training loss became nan after 16 samples$"):
        schedule.check_loss()
