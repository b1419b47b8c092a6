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

import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hpo.data.fingerprint import fingerprint as data_fingerprint
from hpo.errors import HpoError, StudyError, UsageError
from hpo.progress import LogProgress, ProgressListener
from hpo.settings.config import StudyConfig
from hpo.settings.remote_code import RemoteCodeConsent
from hpo.stats.cost import price_per_hour, study_spend
from hpo.store.storage import StorageUrl, open_worker_storage, use_fault_tolerance
from hpo.store.study import build_pruner, build_sampler, load_stored_study
from hpo.store.trial_queue import fail_stale_trials, pop_waiting_trial, running_worker_trials
from hpo.training.stopwatch import Stopwatch, rounded
from hpo.workers.context import TrainFunction, WorkerContext
from hpo.workers.signals import StopSignals
from hpo.workers.supervisor import DEVICE_SHARE_ENV
from hpo.workers.trial import run_trial
from objectives.registry import get_task

if TYPE_CHECKING:
    from hpo.training.gpu_memory import GpuSharing

logger = logging.getLogger(__name__)


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
        ran = f"{self.trials} trial{'' if self.trials == 1 else 's'}"
        return f"{self.study_name}: this worker ran {ran} ({states}); stopped: {self.stopped_because}{rate}"


def run_worker(
    storage_url: StorageUrl,
    study_name: str,
    n_trials: int | None = None,
    timeout: float | None = None,
    stop: StopSignals | None = None,
    progress: Callable[[str], ProgressListener] = LogProgress,
    train: TrainFunction | None = None,
    trust_remote_code: RemoteCodeConsent | None = None,
    gpu: GpuSharing | None = None,
    device_share: float = 1.0,
    priced_as: str | None = None,
    idle_timeout: float | None = None,
) -> WorkerSummary:
    """Run trials of ``study_name`` until its queue is empty, ``n_trials`` ran, ``timeout`` passed, or
    the study's spend reached ``budget.max_cost``.

    ``train`` replaces the fine-tuning run (benchmarks of the storage path use a trivial one).
    Model code from the Hub runs only when the study asks for it and ``trust_remote_code`` names the model.
    ``gpu`` admits trials by free GPU memory; by default, this process's CUDA GPU when it has one.
    ``device_share`` is the share of the device this worker has (1/N with N workers per GPU): its
    trials pay that share of the device's price. ``priced_as`` prices trials as that device type
    instead of the one this process sees (a cloud container bills the GPU type it asked for).
    ``idle_timeout`` ends the worker once it has waited that long on other workers' trials.
    """
    import optuna

    stop = stop or StopSignals()
    clock = Stopwatch()
    with clock("storage"):
        storage = open_worker_storage(storage_url)
        stored = load_stored_study(storage, study_name)
        config = stored.config
        consent = trust_remote_code or RemoteCodeConsent()
        config.check_remote_code(consent)
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
        from hpo.training.run import train_trial
        from hpo.training.run_cache import RunCache

        # One cache per process: base weights, datasets, evaluators and tokens are built once; what
        # every worker of the study needs (tokens, the capped corpus) once per machine, on disk.
        disk = DiskCache.from_environment()
        logger.debug("shared disk cache: %s", disk.root if disk is not None else "off ($HPO_CACHE)")
        cache = RunCache(task, data, config, disk, fingerprint=found)
        train = functools.partial(train_trial, cache=cache)
        if gpu is None:
            from hpo.training.gpu_memory import GpuSharing

            gpu = GpuSharing.for_this_process(config.precision)
    device, kind = _priced_device(config, study_name, priced_as)
    listener = progress(config.metric_name)
    ctx = WorkerContext(study, storage, config, data, task, listener, train, gpu, device, kind, device_share, consent)
    started = time.perf_counter()
    try:
        summary = _run_loop(ctx, n_trials, timeout, stop, idle_timeout)
    finally:
        ctx.listener.close()
    summary.loop_seconds = time.perf_counter() - started
    summary.startup_seconds = rounded(clock.seconds)
    return summary


def _priced_device(config: StudyConfig, study_name: str, priced_as: str | None = None) -> tuple[str, str]:
    """This worker's device and device type; an error when the study caps its spend and has no price for it."""
    from hpo.training.models import best_device, device_type

    where = best_device()
    device = priced_as or device_type(where)
    if config.cost and price_per_hour(config.cost, device) is None:
        if config.budget.max_cost is not None:
            raise StudyError(
                f"study '{study_name}' caps its spend (budget.max_cost) but its cost table has no price for "
                f"this worker's device '{device}' (prices: {', '.join(config.cost)}); add one"
            )
        logger.warning("no price for device '%s' in the study's cost table: its trials record no dollars", device)
    return where, device


def _run_loop(
    ctx: WorkerContext,
    n_trials: int | None,
    timeout: float | None,
    stop: StopSignals,
    idle_timeout: float | None = None,
) -> WorkerSummary:

    study, config = ctx.study, ctx.config
    limit = timeout if timeout is not None else config.budget.timeout
    deadline = time.monotonic() + limit if limit else None
    summary = WorkerSummary(study.study_name)
    failures = 0
    idle_since: float | None = None
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
                idle_since = idle_since if idle_since is not None else time.monotonic()
                if idle_timeout is not None and time.monotonic() - idle_since >= idle_timeout:
                    summary.stopped_because = f"idle for {idle_timeout:g} s waiting on other workers' trials"
                    break
                # Another worker's trial may still go stale and be re-queued: wait for it.
                time.sleep(min(5, config.fault_tolerance.heartbeat_interval))
                continue
            summary.stopped_because = "study budget done"
            break
        idle_since = None
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


def device_share_from(environ: Mapping[str, str]) -> float:
    """The share of its device this worker has: set by a --gpus/--workers parent, else the whole device."""
    value = environ.get(DEVICE_SHARE_ENV, "1")
    try:
        share = float(value)
    except ValueError:
        share = 0.0
    if not 0 < share <= 1:
        raise UsageError(f"{DEVICE_SHARE_ENV}={value!r}: expected a number in (0, 1]")
    return share
