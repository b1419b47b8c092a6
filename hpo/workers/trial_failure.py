"""A failed trial: recorded as FAIL with its reason, and a trial queued in its place.

A trial out of GPU memory while neighbours held memory was crowded out, not broken: it is re-queued
with the same parameters, at most :data:`~hpo.training.gpu_memory.MAX_OOM_REQUEUES` times.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpo import attrs
from hpo.workers.context import WorkerContext

if TYPE_CHECKING:
    import optuna

    from hpo.training.gpu_memory import GpuSharing


def is_out_of_memory(error: BaseException) -> bool:
    from hpo.training.gpu_memory import is_out_of_memory as out_of_memory

    return out_of_memory(error)


def out_of_memory_verdict(ctx: WorkerContext, gpu: GpuSharing, trial: optuna.Trial, trial_id: int, reason: str) -> str:
    """A trial out of GPU memory: re-queued (same params) when neighbours crowded it out, else FAIL."""
    from hpo.training.gpu_memory import MAX_OOM_REQUEUES

    frozen = ctx.storage.backend.get_trial(trial_id)
    requeues = int(frozen.user_attrs.get(attrs.OOM_REQUEUES, 0))
    held = gpu.crowded_out()
    if held is None or requeues >= MAX_OOM_REQUEUES:
        why = "" if held is None else f" (crowded out {requeues} times already)"
        fail_and_replace(ctx.study, trial, reason + why)
        ctx.listener.trial_finished(trial.number, "FAIL", reason + why)
        return "FAIL"
    trial.set_user_attr(attrs.NEIGHBOUR_OOM, round(held / 2**20))
    detail = f"crowded out: {reason} while other processes held {held / 2**30:.1f} GiB; re-queued"
    fail_and_replace(ctx.study, trial, detail, rerun=frozen, marks={attrs.OOM_REQUEUES: requeues + 1})
    ctx.listener.trial_finished(trial.number, "REQUEUED", detail)
    return "REQUEUED"


def fail_and_replace(
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
        for flag in (attrs.WARM_START, attrs.DEFAULT_RECIPE):
            if rerun.user_attrs.get(flag):
                marks[flag] = True
        for mark in (attrs.CONFIRMS, attrs.SEED):
            if mark in rerun.user_attrs and attrs.CONFIRMS in rerun.user_attrs:
                marks[mark] = rerun.user_attrs[mark]
    study.enqueue_trial(params, user_attrs=marks)
