"""The worker loop: take a trial from the study's queue, fine-tune, record, repeat.

A worker needs only the study name and the storage URL: the config comes from the study, and the
data it loads must match the fingerprint stored there. A trial that raises ends FAIL with its
reason in ``fail_reason`` and a fresh trial takes its place in the queue; the worker goes on.

On a GPU shared with other workers (``--per-gpu``), a trial trains only once the GPU's free
memory covers its estimate (:mod:`hpo.training.gpu_memory`); a trial that runs out of memory
while neighbours hold memory is re-queued with the same parameters (recorded as FAIL with the
reason, ``neighbour_oom_mb`` set) and charged neither to the budget nor to the failure streak.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

from hpo import attrs
from hpo.config import StudyConfig
from hpo.cost import price_per_hour, study_spend, trial_cost
from hpo.data.fingerprint import fingerprint as data_fingerprint
from hpo.errors import HpoError, StudyError
from hpo.notes import update_study_note
from hpo.progress import LogProgress, ProgressListener
from hpo.storage import Storage, StorageUrl, open_worker_storage, use_fault_tolerance
from hpo.study import build_pruner, build_sampler, load_stored_study
from hpo.training.stopwatch import Stopwatch, rounded
from hpo.trial_queue import Heartbeat, fail_stale_trials, pop_waiting_trial, running_worker_trials
from objectives.registry import get_task

if TYPE_CHECKING:
    import optuna

    from hpo.training.gpu_memory import GpuSharing
    from hpo.training.result import RunResult
    from objectives.task import Task

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
    loop_seconds: float = 0.0

    @property
    def trials_per_hour(self) -> float:
        """Trials that ended (a re-queued one did not) per hour of the trial loop."""
        ended = self.trials - self.states.get("REQUEUED", 0)
        return ended * 3600 / self.loop_seconds if self.loop_seconds > 0 else 0.0

    def count(self, state: str) -> None:
        self.states[state] = self.states.get(state, 0) + 1

    @property
    def trials(self) -> int:
        return sum(self.states.values())

    def describe(self) -> str:
        """The worker's result line."""
        states = ", ".join(f"{n} {s.lower()}" for s, n in self.states.items()) or "no trials"
        rate = f"; {self.trials_per_hour:.0f} trials/hour" if self.trials else ""
        return (
            f"{self.study_name}: this worker ran {self.trials} trials ({states}); stopped: {self.stopped_because}{rate}"
        )


class TrialReporter:
    """Forwards intermediate values to the Optuna trial (step = training samples seen) and progress.

    A confirmation run (``prunable=False``) reports its values but is never pruned: it exists to
    measure a configuration fully, with another seed.
    """

    def __init__(
        self,
        trial: optuna.Trial,
        listener: ProgressListener,
        prunable: bool = True,
        first_step: Callable[[], None] | None = None,
    ) -> None:
        self.trial = trial
        self.listener = listener
        self.prunable = prunable
        self.first_step = first_step  # called once, when the first training step has ended

    def report(self, value: float, samples: int) -> None:
        self.trial.report(value, samples)
        self.listener.evaluated(self.trial.number, samples, value)

    def should_prune(self) -> bool:
        return self.prunable and self.trial.should_prune()

    def progress(self, samples: int, total: int) -> None:
        first_step = self.first_step
        if first_step is not None:
            self.first_step = None
            first_step()
        self.listener.step(self.trial.number, samples, total)


def run_worker(
    storage_url: StorageUrl,
    study_name: str,
    n_trials: int | None = None,
    timeout: float | None = None,
    stop: StopSignals | None = None,
    progress: Callable[[str], ProgressListener] = LogProgress,
    train: TrainFunction | None = None,
    trust_remote_code: bool = False,
    gpu: GpuSharing | None = None,
    device_share: float = 1.0,
) -> WorkerSummary:
    """Run trials of ``study_name`` until its queue is empty, ``n_trials`` ran, ``timeout`` passed, or
    the study's spend reached ``budget.max_cost``.

    ``train`` replaces the fine-tuning run (benchmarks of the storage path use a trivial one).
    Model code from the Hub runs only when the study asks for it and ``trust_remote_code`` allows it.
    ``gpu`` admits trials by free GPU memory; by default, this process's CUDA GPU when it has one.
    ``device_share`` is the share of the device this worker has (1/N with N workers per GPU): its
    trials pay that share of the device's price.
    """
    import optuna

    stop = stop or StopSignals()
    clock = Stopwatch()
    with clock("storage"):
        storage = open_worker_storage(storage_url)
        stored = load_stored_study(storage, study_name)
        config = stored.config
        config.check_remote_code(trust_remote_code)
        use_fault_tolerance(storage, config.fault_tolerance)
        study = optuna.load_study(
            study_name=study_name,
            storage=storage.backend,
            sampler=build_sampler(config, trial_number=0),
            pruner=build_pruner(config),
        )
    task = get_task(config.objective)
    with clock("data"):
        data = task.load_data(config)
        found = data_fingerprint(data)
    if found != stored.fingerprint:
        raise StudyError(
            f"data differs from the data study '{study_name}' was created with "
            f"(study {stored.fingerprint[:19]}..., here {found[:19]}...); "
            "point this worker at the same files, or create a new study"
        )
    if train is None:
        from hpo.training.disk_cache import DiskCache
        from hpo.training.run import run_training
        from hpo.training.run_cache import RunCache

        # One cache per process: base weights, datasets, evaluators and tokens are built once; what
        # every worker of the study needs (tokens, the capped corpus) once per machine, on disk.
        disk = DiskCache.from_environment()
        logger.debug("shared disk cache: %s", disk.root if disk is not None else "off ($HPO_CACHE)")
        cache = RunCache(task, data, config, disk, fingerprint=found)
        train = functools.partial(run_training, cache=cache)
        if gpu is None:
            from hpo.training.gpu_memory import GpuSharing

            gpu = GpuSharing.for_this_process(config.precision)
    device, kind = _priced_device(config, study_name)
    listener = progress(config.metric_name)
    ctx = WorkerContext(study, storage, config, data, task, listener, train, gpu, device, kind, device_share)
    started = time.perf_counter()
    try:
        summary = _run_loop(ctx, n_trials, timeout, stop)
    finally:
        ctx.listener.close()
    summary.loop_seconds = time.perf_counter() - started
    summary.startup_seconds = rounded(clock.seconds)
    return summary


@dataclass(frozen=True)
class WorkerContext:
    """What every trial of one worker process shares: loaded once, passed explicitly."""

    study: optuna.Study
    storage: Storage
    config: StudyConfig
    data: Any
    task: Task[Any]
    listener: ProgressListener
    train: TrainFunction
    gpu: GpuSharing | None = None
    device: str = "cpu"
    device_type: str = "cpu"
    device_share: float = 1.0


def _priced_device(config: StudyConfig, study_name: str) -> tuple[str, str]:
    """This worker's device and device type; an error when the study caps its spend and has no price for it."""
    from hpo.training.models import best_device, device_type

    where = best_device()
    device = device_type(where)
    if config.cost and price_per_hour(config.cost, device) is None:
        if config.budget.max_cost is not None:
            raise StudyError(
                f"study '{study_name}' caps its spend (budget.max_cost) but its cost table has no price for "
                f"this worker's device '{device}' (prices: {', '.join(config.cost)}); add one"
            )
        logger.warning("no price for device '%s' in the study's cost table: its trials record no dollars", device)
    return where, device


def _run_loop(ctx: WorkerContext, n_trials: int | None, timeout: float | None, stop: StopSignals) -> WorkerSummary:

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
        fail_stale_trials(study, ctx.storage.backend)
        if config.budget.max_cost is not None:
            spent = study_spend(study.get_trials(deepcopy=False)).dollars
            if spent >= config.budget.max_cost:
                summary.stopped_because = f"budget.max_cost reached (${spent:.2f} of ${config.budget.max_cost:g})"
                break
        trial_id = pop_waiting_trial(study, ctx.storage.backend)
        if trial_id is None:
            if running_worker_trials(study):
                # Another worker's trial may still go stale and be re-queued: wait for it.
                time.sleep(min(5, config.fault_tolerance.heartbeat_interval))
                continue
            summary.stopped_because = "study budget done"
            break
        state = run_trial(ctx, trial_id)
        summary.count(state)
        if state != "REQUEUED":  # crowded out by a neighbour: not this config's failure
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

    from hpo.training.result import Pruned

    study, config, listener = ctx.study, ctx.config, ctx.listener
    # Set before the Trial exists: its constructor already asks the sampler for relative params.
    study.sampler = build_sampler(config, ctx.storage.backend.get_trial_number_from_id(trial_id))
    trial = optuna.Trial(study, trial_id)
    confirmation = attrs.CONFIRMS in trial.user_attrs
    seed = int(trial.user_attrs.get(attrs.SEED, config.seed))
    started = time.perf_counter()
    crowded: str | None = None
    heartbeat = Heartbeat(ctx.storage.backend, trial_id, config.fault_tolerance.heartbeat_interval)
    with heartbeat, contextlib.ExitStack() as turn:
        try:
            params = config.search_space.suggest(trial)
            trial.set_user_attr(attrs.TRAINING, params.to_dict())
            trial.set_user_attr(attrs.SEED, seed)
            listener.trial_started(trial.number, trial.params)
            if ctx.gpu is not None:
                turn.enter_context(ctx.gpu.admission.turn())  # until the first step holds its memory
                _admit(ctx.gpu, trial, params)
            reporter = TrialReporter(trial, listener, prunable=not confirmation, first_step=turn.close)
            result, _ = ctx.train(ctx.task, params, ctx.data, config, reporter, seed=seed)
        except Pruned as pruned:
            pruned_attrs = {
                **pruned.attrs,
                attrs.PRUNED_AT_SAMPLES: pruned.samples,
                attrs.INTERMEDIATE_CORPUS: pruned.eval_corpus,
                attrs.SECONDS: rounded(pruned.seconds),
            }
            cost = {**_cost(ctx, started), **_memory(ctx)}
            _set_attrs(trial, {**pruned_attrs, **cost, attrs.WALL_SECONDS: _since(started)})
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            update_study_note(study, config)  # the note shows the spend so far
            detail = f"at {pruned.samples} samples ({config.metric_name} {pruned.value:.4f})"
            listener.trial_finished(trial.number, "PRUNED", detail)
            return "PRUNED"
        except Interrupted as exc:
            _set_attrs(trial, {**_cost(ctx, started), **_memory(ctx)})
            _fail(study, trial, f"abandoned: {exc}", rerun=ctx.storage.backend.get_trial(trial_id))
            raise
        except Exception as exc:
            url = ctx.storage.url
            reason = url.scrub(f"{type(exc).__name__}: {exc}".splitlines()[0])
            logger.debug("%s", url.scrub(traceback.format_exc()))
            _set_attrs(trial, {**_cost(ctx, started), **_memory(ctx)})
            if ctx.gpu is None or not _out_of_memory(exc):
                # A confirmation run stands for its params and seed: its replacement runs them again.
                rerun = ctx.storage.backend.get_trial(trial_id) if confirmation else None
                _fail(study, trial, reason, rerun=rerun)
                listener.trial_finished(trial.number, "FAIL", reason)
                return "FAIL"
            crowded = reason  # judged below, once the exception (and the run's tensors) are gone
        finally:
            turn.close()
        if crowded is not None and ctx.gpu is not None:
            return _out_of_memory_verdict(ctx, ctx.gpu, trial, trial_id, crowded)
    _set_attrs(trial, {**result.user_attrs(), **_cost(ctx, started), attrs.WALL_SECONDS: _since(started)})
    study.tell(trial, result.value)
    update_study_note(study, config)  # the best so far, its verdicts and the spend
    detail = f"{config.metric_name} {result.value:.4f} ({result.samples_seen} samples, {_since(started):.0f} s)"
    listener.trial_finished(trial.number, "COMPLETE", detail)
    return "COMPLETE"


def _admit(gpu: GpuSharing, trial: optuna.Trial, params: Any) -> None:
    """Wait until the GPU has room for this trial; record the estimate and the wait."""
    import optuna

    complete = trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    need = gpu.estimate(params.model, params.batch_size, params.max_seq_length, complete)
    admitted = gpu.admission.wait(need)
    record: dict[str, Any] = {"estimate_mb": round(need / 2**20), "waited_seconds": round(admitted.waited, 1)}
    if admitted.free is not None:
        record["free_mb"] = round(admitted.free / 2**20)
    trial.set_user_attr(attrs.GPU_ADMISSION, record)


def _out_of_memory(error: BaseException) -> bool:
    from hpo.training.gpu_memory import is_out_of_memory

    return is_out_of_memory(error)


def _out_of_memory_verdict(ctx: WorkerContext, gpu: GpuSharing, trial: optuna.Trial, trial_id: int, reason: str) -> str:
    """A trial out of GPU memory: re-queued (same params) when neighbours crowded it out, else FAIL."""
    from hpo.training.gpu_memory import MAX_OOM_REQUEUES

    frozen = ctx.storage.backend.get_trial(trial_id)
    requeues = int(frozen.user_attrs.get(attrs.OOM_REQUEUES, 0))
    held = gpu.crowded_out()
    if held is None or requeues >= MAX_OOM_REQUEUES:
        why = "" if held is None else f" (crowded out {requeues} times already)"
        _fail(ctx.study, trial, reason + why)
        ctx.listener.trial_finished(trial.number, "FAIL", reason + why)
        return "FAIL"
    trial.set_user_attr(attrs.NEIGHBOUR_OOM, round(held / 2**20))
    detail = f"crowded out: {reason} while other processes held {held / 2**30:.1f} GiB; re-queued"
    _fail(ctx.study, trial, detail, rerun=frozen, marks={attrs.OOM_REQUEUES: requeues + 1})
    ctx.listener.trial_finished(trial.number, "REQUEUED", detail)
    return "REQUEUED"


def _fail(
    study: optuna.Study,
    trial: optuna.Trial,
    reason: str,
    rerun: optuna.trial.FrozenTrial | None = None,
    marks: dict[str, Any] | None = None,
) -> None:
    """Record the trial as FAIL and queue one in its place, keeping the study's budget.

    The replacement of an abandoned trial (``rerun``, the trial as it was) is the same trial: its
    params, fixed (a warm-start recipe) or drawn, and its warm-start mark. A trial that failed by
    itself is replaced by a fresh draw.
    """
    import optuna

    trial.set_user_attr(attrs.FAIL_REASON, reason)
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    params: dict[str, Any] = {}
    marks = {attrs.REPLACES_TRIAL: trial.number, **(marks or {})}
    if rerun is not None:
        # "fixed_params" is where Optuna's enqueue_trial keeps the params it was given.
        params = {**rerun.system_attrs.get("fixed_params", {}), **rerun.params}
        if rerun.user_attrs.get(attrs.WARM_START):
            marks[attrs.WARM_START] = True
        for mark in (attrs.CONFIRMS, attrs.SEED):
            if mark in rerun.user_attrs and attrs.CONFIRMS in rerun.user_attrs:
                marks[mark] = rerun.user_attrs[mark]
    study.enqueue_trial(params, user_attrs=marks)


def _cost(ctx: WorkerContext, started: float) -> dict[str, Any]:
    """The device time (and, priced, the dollars) of a trial that started at ``started``."""
    return trial_cost(ctx.config.cost, ctx.device_type, time.perf_counter() - started, ctx.device_share)


def _memory(ctx: WorkerContext) -> dict[str, Any]:
    """The peak memory of a trial that ended without a result (pruned, failed); complete ones record it."""
    from hpo.training.models import peak_memory

    memory, kind = peak_memory(ctx.device)
    return {attrs.PEAK_MEMORY_MB: round(memory, 1), attrs.MEMORY_KIND: kind}


def _set_attrs(trial: optuna.Trial, values: dict[str, Any]) -> None:
    for key, value in values.items():
        trial.set_user_attr(key, value)


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)
