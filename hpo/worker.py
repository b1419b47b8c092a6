"""The worker loop: take a trial from the study's queue, fine-tune, record, repeat.

A worker needs only the study name and the storage URL: the config comes from the study, and the
data it loads must match the fingerprint stored there. A trial that raises ends FAIL with its
reason in ``fail_reason`` and a fresh trial takes its place in the queue; the worker goes on.
"""

from __future__ import annotations

import functools
import logging
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

from hpo.config import StudyConfig
from hpo.data import StudyData, load_data
from hpo.data.model import fingerprint as data_fingerprint
from hpo.errors import HpoError, StudyError
from hpo.notes import update_study_note
from hpo.progress import LogProgress, ProgressListener
from hpo.storage import open_storage, open_worker_storage, scrub
from hpo.study import build_pruner, build_sampler, load_stored_study
from hpo.trial_queue import Heartbeat, fail_stale_trials, pop_waiting_trial
from objectives.stopwatch import Stopwatch, rounded

if TYPE_CHECKING:
    import optuna

    from hpo.retrying_storage import RetryingRDBStorage, RetryingStorage
    from objectives.base import Objective, RunResult

logger = logging.getLogger(__name__)
TrainFunction = Callable[..., tuple["RunResult", Any]]


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


@dataclass
class WorkerSummary:
    """What one worker process did."""

    study_name: str
    states: dict[str, int] = field(default_factory=dict)
    stopped_because: str = ""
    startup_seconds: dict[str, float] = field(default_factory=dict)

    def count(self, state: str) -> None:
        self.states[state] = self.states.get(state, 0) + 1

    @property
    def trials(self) -> int:
        return sum(self.states.values())


class TrialReporter:
    """Forwards intermediate values to the Optuna trial (step = training samples seen) and progress."""

    def __init__(self, trial: optuna.Trial, listener: ProgressListener) -> None:
        self.trial = trial
        self.listener = listener

    def report(self, value: float, samples: int) -> None:
        self.trial.report(value, samples)
        self.listener.evaluated(self.trial.number, samples, value)

    def should_prune(self) -> bool:
        return self.trial.should_prune()

    def progress(self, samples: int, total: int) -> None:
        self.listener.step(self.trial.number, samples, total)


def run_worker(
    storage_url: str,
    study_name: str,
    n_trials: int | None = None,
    timeout: float | None = None,
    stop: StopSignals | None = None,
    progress: Callable[[str], ProgressListener] = LogProgress,
    train: TrainFunction | None = None,
) -> WorkerSummary:
    """Run trials of ``study_name`` until its queue is empty, ``n_trials`` ran, or ``timeout`` passed.

    ``train`` replaces the fine-tuning run (benchmarks of the storage path use a trivial one).
    """
    import optuna

    from objectives import load_objective

    stop = stop or StopSignals()
    clock = Stopwatch()
    with clock("storage"):
        stored = load_stored_study(open_storage(storage_url), storage_url, study_name)
        config = stored.config
        storage = open_worker_storage(storage_url, config.fault_tolerance)
        study = optuna.load_study(
            study_name=study_name,
            storage=storage,
            sampler=build_sampler(config, trial_number=0),
            pruner=build_pruner(config),
        )
    with clock("data"):
        data = load_data(config)
        found = data_fingerprint(data)
    if found != stored.fingerprint:
        raise StudyError(
            f"data differs from the data study '{study_name}' was created with "
            f"(study {stored.fingerprint[:19]}..., here {found[:19]}...); "
            "point this worker at the same files, or create a new study"
        )
    objective = load_objective(config.objective)
    if train is None:
        from objectives.run_cache import RunCache
        from objectives.training import run_training

        # One cache per process: base weights, datasets, evaluators and tokens are built once.
        train = functools.partial(run_training, cache=RunCache(objective, data, config))
    listener = progress(config.metric_name)
    ctx = WorkerContext(study, storage, storage_url, config, data, objective, listener, train)
    try:
        summary = _run_loop(ctx, n_trials, timeout, stop)
    finally:
        ctx.listener.close()
    summary.startup_seconds = rounded(clock.seconds)
    return summary


@dataclass(frozen=True)
class WorkerContext:
    """What every trial of one worker process shares: loaded once, passed explicitly."""

    study: optuna.Study
    storage: RetryingRDBStorage | RetryingStorage
    storage_url: str
    config: StudyConfig
    data: StudyData
    objective: Objective
    listener: ProgressListener
    train: TrainFunction


def _run_loop(ctx: WorkerContext, n_trials: int | None, timeout: float | None, stop: StopSignals) -> WorkerSummary:
    import optuna

    study, config = ctx.study, ctx.config
    limit = timeout if timeout is not None else config.budget.timeout
    deadline = time.monotonic() + limit if limit else None
    summary = WorkerSummary(study.study_name)
    failures = 0
    while True:
        if stop.requested:
            summary.stopped_because = "stop signal"
            break
        if n_trials is not None and summary.trials >= n_trials:
            summary.stopped_because = f"ran --n-trials {n_trials}"
            break
        if deadline is not None and time.monotonic() >= deadline:
            summary.stopped_because = f"timeout of {limit:g} s"
            break
        fail_stale_trials(study, ctx.storage)
        trial_id = pop_waiting_trial(study, ctx.storage)
        if trial_id is None:
            if study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
                # Another worker's trial may still go stale and be re-queued: wait for it.
                time.sleep(min(5, config.fault_tolerance.heartbeat_interval))
                continue
            summary.stopped_because = "study budget done"
            break
        state = run_trial(ctx, trial_id)
        summary.count(state)
        failures = failures + 1 if state == "FAIL" else 0
        if failures >= config.fault_tolerance.max_consecutive_failures:
            raise HpoError(
                f"stopping after {failures} consecutive failed trials; the config is probably broken "
                f"(see fail_reason in: hpo status --study {study.study_name})"
            )
    logger.info("worker done (%s): %s", summary.stopped_because, summary.states)
    return summary


def run_trial(ctx: WorkerContext, trial_id: int) -> str:
    """Run one claimed trial to an end state and record it; returns the state's name."""
    import optuna

    from objectives.base import Pruned

    study, config, listener = ctx.study, ctx.config, ctx.listener
    # Set before the Trial exists: its constructor already asks the sampler for relative params.
    study.sampler = build_sampler(config, ctx.storage.get_trial_number_from_id(trial_id))
    trial = optuna.Trial(study, trial_id)
    started = time.perf_counter()
    with Heartbeat(ctx.storage, trial_id, config.fault_tolerance.heartbeat_interval):
        try:
            params = config.search_space.suggest(trial)
            trial.set_user_attr("training", params.to_dict())
            listener.trial_started(trial.number, trial.params)
            result, _ = ctx.train(ctx.objective, params, ctx.data, config, TrialReporter(trial, listener))
        except Pruned as pruned:
            attrs = {
                "pruned_at_samples": pruned.samples,
                "intermediate_corpus": pruned.eval_corpus,
                "seconds": rounded(pruned.seconds),
            }
            _set_attrs(trial, {**attrs, "wall_seconds": _since(started)})
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            detail = f"at {pruned.samples} samples ({config.metric_name} {pruned.value:.4f})"
            listener.trial_finished(trial.number, "PRUNED", detail)
            return "PRUNED"
        except Interrupted as exc:
            _fail(study, trial, f"abandoned: {exc}", retry=True)
            raise
        except Exception as exc:
            reason = scrub(f"{type(exc).__name__}: {exc}".splitlines()[0], ctx.storage_url)
            logger.debug("%s", scrub(traceback.format_exc(), ctx.storage_url))
            _fail(study, trial, reason, retry=True)
            listener.trial_finished(trial.number, "FAIL", reason)
            return "FAIL"
    _set_attrs(trial, {**result.user_attrs(), "wall_seconds": _since(started)})
    study.tell(trial, result.value)
    if study.best_trial.number == trial.number:  # the note shows the best so far
        update_study_note(study, config)
    detail = f"{config.metric_name} {result.value:.4f} ({result.samples_seen} samples, {_since(started):.0f} s)"
    listener.trial_finished(trial.number, "COMPLETE", detail)
    return "COMPLETE"


def _fail(study: optuna.Study, trial: optuna.Trial, reason: str, retry: bool) -> None:
    import optuna

    trial.set_user_attr("fail_reason", reason)
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    if retry:  # keep the study's budget: a fresh trial takes the failed one's place
        study.enqueue_trial({}, user_attrs={"replaces_trial": trial.number})


def _set_attrs(trial: optuna.Trial, attrs: dict[str, Any]) -> None:
    for key, value in attrs.items():
        trial.set_user_attr(key, value)


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)
