"""One trial of a worker: claim its parameters, wait for room on the GPU, train, record its end state.

A trial that raises ends FAIL with its reason in ``fail_reason`` and a fresh trial takes its place
in the queue (:mod:`hpo.workers.trial_failure`); a confirmation run is never pruned.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hpo import attrs
from hpo.progress import ProgressListener
from hpo.stats.cost import trial_cost
from hpo.store.study import build_sampler
from hpo.store.trial_queue import Heartbeat
from hpo.training.stopwatch import rounded
from hpo.verdicts.notes import update_study_note
from hpo.workers.context import WorkerContext
from hpo.workers.remote_code import check_remote_code
from hpo.workers.signals import Interrupted
from hpo.workers.trial_failure import fail_and_replace, is_out_of_memory, out_of_memory_verdict

if TYPE_CHECKING:
    import optuna

    from hpo.training.gpu_memory import GpuSharing

logger = logging.getLogger(__name__)


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


def run_trial(ctx: WorkerContext, trial_id: int) -> str:
    """Run one claimed trial to an end state and record it; returns the state's name."""
    import optuna

    from hpo.training.result import Pruned

    study, config, listener = ctx.study, ctx.config, ctx.listener
    # Set before the Trial exists: its constructor already asks the sampler for relative params.
    study.sampler = build_sampler(config, ctx.storage.backend.get_trial_number_from_id(trial_id))
    trial = optuna.Trial(study, trial_id)
    # Confirmation runs and the default recipe are measured whole: the pruner never stops them.
    prunable = attrs.CONFIRMS not in trial.user_attrs and not trial.user_attrs.get(attrs.DEFAULT_RECIPE)
    seed = int(trial.user_attrs.get(attrs.SEED, config.seed))
    started = time.perf_counter()
    crowded: str | None = None
    heartbeat = Heartbeat(ctx.storage.backend, trial_id, config.fault_tolerance.heartbeat_interval)
    with heartbeat, contextlib.ExitStack() as turn:
        try:
            params = config.search_space.suggest(trial)
            check_remote_code(ctx, trial.number, params)
            trial.set_user_attr(attrs.TRAINING, params.to_dict())
            trial.set_user_attr(attrs.SEED, seed)
            listener.trial_started(trial.number, trial.params)
            if ctx.gpu is not None:
                turn.enter_context(ctx.gpu.admission.turn())  # until the first step holds its memory
                _admit(ctx.gpu, trial, params)
            reporter = TrialReporter(trial, listener, prunable=prunable, first_step=turn.close)
            result = ctx.train(ctx.task, params, ctx.data, config, reporter, seed=seed)
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
            fail_and_replace(study, trial, f"abandoned: {exc}", rerun=ctx.storage.backend.get_trial(trial_id))
            raise
        except Exception as exc:
            url = ctx.storage.url
            reason = url.scrub(f"{type(exc).__name__}: {exc}".splitlines()[0])
            logger.debug("%s", url.scrub(traceback.format_exc()))
            _set_attrs(trial, {**_cost(ctx, started), **_memory(ctx)})
            if ctx.gpu is None or not is_out_of_memory(exc):
                # A confirmation run (or the default recipe) stands for its params and seed: its
                # replacement runs them again.
                rerun = ctx.storage.backend.get_trial(trial_id) if not prunable else None
                fail_and_replace(study, trial, reason, rerun=rerun)
                listener.trial_finished(trial.number, "FAIL", reason)
                return "FAIL"
            crowded = reason  # judged below, once the exception (and the run's tensors) are gone
        finally:
            turn.close()
        if crowded is not None and ctx.gpu is not None:
            return out_of_memory_verdict(ctx, ctx.gpu, trial, trial_id, crowded)
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
